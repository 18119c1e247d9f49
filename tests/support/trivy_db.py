"""A tiny Trivy vulnerability DB for tests, so the real binary runs its vulnerability path offline.

Trivy looks for `<cache-dir>/db/trivy.db` (bbolt) and `<cache-dir>/db/metadata.json`; with `--skip-db-update`
it only checks that the metadata's `Version` equals its schema version (2 for trivy 0.76, trivy-db
`pkg/db.SchemaVersion`). The buckets follow aquasecurity/trivy-db `pkg/db`:

    "<platform>" (e.g. "debian 12") / "<source package>" / "<vulnerability id>" -> {"FixedVersion": ...}
    "data-source" / "<platform>"                                                -> {"ID", "Name", "URL"}
    "vulnerability" / "<vulnerability id>"                                      -> {"Title", "VendorSeverity", ...}

For Debian, Trivy looks advisories up by the *source* package name and compares the *source* version (without
binNMU suffix) with `FixedVersion`; an empty `FixedVersion` means unfixed and is always reported (unless
`--ignore-unfixed`). The reported severity comes from `VendorSeverity[<data source id>]`.

Use it from a test::

    from tests.support.trivy_db import Advisory, write_vulnerability_db

    write_vulnerability_db(tmp_path, [Advisory("CVE-2099-0001", "gzip", fixed_version="1.12-2", severity="HIGH")])
    # trivy image --cache-dir <tmp_path> --skip-db-update --skip-java-db-update --offline-scan ...
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import io
import json
import tarfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_athalia._errors import ScanError
from pytest_athalia.security._trivy import find_trivy

from .bbolt import write_bbolt

__all__ = [
    "DATA_SOURCES",
    "SCHEMA_VERSION",
    "Advisory",
    "DataSource",
    "DebianPackage",
    "SampleDb",
    "Severity",
    "choose_package",
    "db_tree",
    "dpkg_status_of_image",
    "earlier_version",
    "later_version",
    "parse_dpkg_status",
    "trivy_executable",
    "write_sample_db",
    "write_sample_db_for_image",
    "write_vulnerability_db",
]

SCHEMA_VERSION = 2  # trivy-db pkg/db.SchemaVersion; trivy refuses --skip-db-update with any other


class Severity(enum.IntEnum):
    """trivy-db's types.Severity: stored as these integers, reported by name."""

    UNKNOWN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


@dataclass(frozen=True)
class DataSource:
    """Where the advisories of a platform come from; Trivy copies it into each finding's `DataSource`."""

    id: str
    name: str
    url: str

    def as_json(self) -> dict[str, str]:
        return {"ID": self.id, "Name": self.name, "URL": self.url}


# The data sources of the real DB, by the platform's first word (trivy-db pkg/vulnsrc/*).
DATA_SOURCES: dict[str, DataSource] = {
    "debian": DataSource(
        "debian", "Debian Security Tracker", "https://salsa.debian.org/security-tracker-team/security-tracker"
    ),
    "ubuntu": DataSource("ubuntu", "Ubuntu CVE Tracker", "https://git.launchpad.net/ubuntu-cve-tracker"),
    "alpine": DataSource("alpine", "Alpine Secdb", "https://secdb.alpinelinux.org/"),
}


@dataclass(frozen=True)
class Advisory:
    """One vulnerability of one package on one platform, as the test DB will hold it.

    `package` is the source package for Debian and Ubuntu (`Source:` in dpkg's status, else the package name).
    `fixed_version` None means unfixed. `platform` is Trivy's bucket name: "<os family> <major version>".
    """

    vulnerability_id: str
    package: str
    fixed_version: str | None = None
    severity: Severity | str = Severity.HIGH
    title: str = ""
    description: str = ""
    platform: str = "debian 12"
    data_source: DataSource | None = None  # None: DATA_SOURCES by the platform's first word

    def __post_init__(self) -> None:
        for name in ("vulnerability_id", "package", "platform"):
            if not getattr(self, name).strip():
                raise ValueError(f"Advisory.{name} must not be empty")
        try:
            self.level  # noqa: B018 - validates a severity given by name
        except KeyError:
            valid = ", ".join(s.name for s in Severity)
            raise ValueError(f"Advisory.severity {self.severity!r} is not one of {valid}") from None
        if self.fixed_version == "":
            raise ValueError("Advisory.fixed_version: use None for an unfixed vulnerability, not an empty string")
        if self.data_source is None and self.family not in DATA_SOURCES:
            known = ", ".join(sorted(DATA_SOURCES))
            raise ValueError(
                f"Advisory.platform {self.platform!r}: no known data source for {self.family!r} "
                f"(known: {known}); pass data_source=DataSource(...)"
            )

    @property
    def family(self) -> str:
        return self.platform.split()[0]

    @property
    def source(self) -> DataSource:
        return self.data_source or DATA_SOURCES[self.family]

    @property
    def level(self) -> Severity:
        return self.severity if isinstance(self.severity, Severity) else Severity[self.severity.upper()]

    def advisory_json(self) -> dict[str, Any]:
        return {"FixedVersion": self.fixed_version} if self.fixed_version else {}

    def vulnerability_json(self) -> dict[str, Any]:
        details: dict[str, Any] = {"Title": self.title, "Description": self.description}
        details = {key: value for key, value in details.items() if value}  # Go's omitempty
        details["Severity"] = self.level.name
        details["VendorSeverity"] = {self.source.id: int(self.level)}
        return details


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def db_tree(advisories: Iterable[Advisory]) -> dict[bytes, Any]:
    """The bucket tree of trivy.db for these advisories (see the module docstring)."""
    tree: dict[bytes, Any] = {b"data-source": {}, b"vulnerability": {}}
    details: dict[str, Advisory] = {}
    for advisory in advisories:
        vid = advisory.vulnerability_id
        if vid in details and details[vid].vulnerability_json() != advisory.vulnerability_json():
            raise ValueError(f"{vid} appears twice with different severity, title or description")
        details[vid] = advisory
        if advisory.platform.encode() in (b"data-source", b"vulnerability"):
            raise ValueError(f"Advisory.platform {advisory.platform!r} is a reserved bucket name")
        packages = tree.setdefault(advisory.platform.encode(), {})
        packages.setdefault(advisory.package.encode(), {})[vid.encode()] = _json(advisory.advisory_json())
        tree[b"data-source"][advisory.platform.encode()] = _json(advisory.source.as_json())
        tree[b"vulnerability"][vid.encode()] = _json(advisory.vulnerability_json())
    return tree


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_vulnerability_db(
    cache_dir: Path, advisories: Sequence[Advisory], *, updated_at: dt.datetime | None = None
) -> Path:
    """Writes `<cache_dir>/db/trivy.db` and `metadata.json` for Trivy's `--cache-dir`; returns the trivy.db path.

    `NextUpdate` lies ten years ahead and `DownloadedAt` is set, so Trivy treats the DB as fresh even without
    `--skip-db-update` and never tries to download one.
    """
    updated = updated_at or dt.datetime.now(dt.UTC)
    db_dir = cache_dir / "db"
    path = write_bbolt(db_dir / "trivy.db", db_tree(advisories))
    metadata = {
        "Version": SCHEMA_VERSION,
        "NextUpdate": _rfc3339(updated + dt.timedelta(days=3650)),
        "UpdatedAt": _rfc3339(updated),
        "DownloadedAt": _rfc3339(updated),
    }
    (db_dir / "metadata.json").write_text(json.dumps(metadata) + "\n")
    return path


# -- Debian packages: pick real installed versions to put advisories against --


@dataclass(frozen=True)
class DebianPackage:
    """An installed dpkg package; Trivy matches advisories on `source` at `source_version`."""

    name: str
    version: str
    source: str
    source_version: str


def parse_dpkg_status(text: str) -> tuple[DebianPackage, ...]:
    """The installed packages in a /var/lib/dpkg/status file, in file order."""
    packages = []
    for paragraph in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" not in fields or "Version" not in fields:
            continue
        if not fields.get("Status", "").endswith(" installed"):
            continue
        source, _, rest = fields.get("Source", fields["Package"]).partition(" ")
        source_version = rest.strip("()") or fields["Version"]
        packages.append(DebianPackage(fields["Package"], fields["Version"], source, source_version))
    return tuple(packages)


def choose_package(
    packages: Iterable[DebianPackage], preferred: Sequence[str] = ("gzip", "sed", "dash", "hostname")
) -> DebianPackage:
    """An installed package built from its own source at the same version (no binNMU), preferring `preferred`."""
    plain = {p.name: p for p in packages if p.name == p.source and p.version == p.source_version}
    for name in preferred:
        if name in plain:
            return plain[name]
    if not plain:
        raise ValueError("no installed package has source == name and source version == version")
    return plain[sorted(plain)[0]]


def later_version(version: str) -> str:
    """A Debian version just above `version` (a '+' suffix sorts after the end of the string)."""
    return version + "+athalia1"


def earlier_version(version: str) -> str:
    """A Debian version just below `version` (a '~' suffix sorts before the end of the string)."""
    return version + "~athalia0"


def dpkg_status_of_image(image: str) -> str:
    """/var/lib/dpkg/status of a local image, read through a created (never started) container."""
    import docker

    client = docker.from_env()
    container = client.containers.create(image, name=f"athalia-test-trivydb-{uuid.uuid4().hex[:8]}")
    try:
        chunks, _ = container.get_archive("/var/lib/dpkg/status")
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            member = archive.extractfile("status")
            assert member is not None, f"{image}: /var/lib/dpkg/status is not a regular file"
            return member.read().decode()
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
        client.close()


# -- a ready-made DB: one reported, one already fixed, one unfixed advisory for one installed package --


@dataclass(frozen=True)
class SampleDb:
    """A test DB written into `cache_dir`, and what Trivy must report for `package` with it."""

    cache_dir: Path
    db_path: Path
    package: DebianPackage
    fixed: Advisory  # fixed above the installed version: reported
    already_fixed: Advisory  # fixed below the installed version: never reported
    unfixed: Advisory  # no fix: reported, except with --ignore-unfixed

    @property
    def advisories(self) -> tuple[Advisory, ...]:
        return (self.fixed, self.already_fixed, self.unfixed)

    def expected_ids(self, *, ignore_unfixed: bool = False) -> set[str]:
        ids = {self.fixed.vulnerability_id, self.unfixed.vulnerability_id}
        return ids - {self.unfixed.vulnerability_id} if ignore_unfixed else ids


def write_sample_db(cache_dir: Path, package: DebianPackage, *, platform: str = "debian 12") -> SampleDb:
    """Writes a DB with three advisories against `package` (see SampleDb); IDs are in the fictional year 2099."""
    fixed = Advisory(
        "CVE-2099-0001",
        package.source,
        later_version(package.source_version),
        Severity.HIGH,
        f"athalia test: {package.source} fixed above the installed version",
        platform=platform,
    )
    already_fixed = Advisory(
        "CVE-2099-0002",
        package.source,
        earlier_version(package.source_version),
        Severity.CRITICAL,
        f"athalia test: {package.source} fixed below the installed version",
        platform=platform,
    )
    unfixed = Advisory(
        "CVE-2099-0003",
        package.source,
        None,
        Severity.MEDIUM,
        f"athalia test: {package.source} not fixed yet",
        platform=platform,
    )
    db_path = write_vulnerability_db(cache_dir, (fixed, already_fixed, unfixed))
    return SampleDb(cache_dir, db_path, package, fixed, already_fixed, unfixed)


def write_sample_db_for_image(cache_dir: Path, image: str, *, platform: str = "debian 12") -> SampleDb:
    """write_sample_db for a package really installed in a local Debian `image` (needs Docker)."""
    return write_sample_db(cache_dir, choose_package(parse_dpkg_status(dpkg_status_of_image(image))), platform=platform)


def trivy_executable() -> str | None:
    """The binary the plugin would run (:func:`find_trivy`), or None when there is none."""
    try:
        return str(find_trivy())
    except ScanError:
        return None
