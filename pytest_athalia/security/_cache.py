"""A directory of scan results keyed by everything that can change them.

An image's key is its ID (``docker image inspect``), the scanners, Trivy's version, the ignore
file's content and which of its entries are still active today, ``ignore_unfixed`` and, for
vulnerability scans, the DB's version and date. A config file's key is its content instead
of an image ID. So a second run on unchanged images reads a small JSON file instead of
running Trivy, and any change that could change a finding scans again.

Entries are our own findings (see :mod:`pytest_athalia.security._scan`), not Trivy's report, and
are written atomically. Sessions sharing the directory (xdist workers) scan a target once: the
first holds :meth:`ScanCache.locked` while it scans, the others wait for it and read its entry.
The default directory is ``.athalia-cache/security`` under pytest's rootdir; deleting it is
always safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from ..report._artifact import write_atomically
from ._scan import Finding, Kind, ScanResult

__all__ = ["ScanCache", "cache_key"]

VERSION: Final = "athalia-scan-cache/2"  # 2: vulnerability scans count packages


def cache_key(*parts: object) -> str:
    """A stable hex digest of ``parts`` (and of this cache format's version)."""
    text = json.dumps([VERSION, *[str(part) for part in parts]], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ScanCache:
    """Results by key in ``directory``; ``None`` turns the cache off."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Held while one process scans for ``key``: another (an xdist worker) waits, then finds the result.

        One of 256 lock files by the key's first byte, so that they do not pile up; two keys rarely share one.
        """
        if self.directory is None:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / f".lock-{key[:2]}", "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def get(self, key: str) -> dict[Kind, ScanResult] | None:
        if self.directory is None:
            return None
        try:
            data = json.loads((self.directory / f"{key}.json").read_text(encoding="utf-8"))
            return {result["kind"]: _result(result) for result in data["results"]}
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or unreadable: scan again

    def put(self, key: str, results: Mapping[Kind, ScanResult], *, about: str = "") -> None:
        if self.directory is None:
            return
        data = {"schema": VERSION, "about": about, "results": [_dump(result) for result in results.values()]}
        write_atomically(self.directory / f"{key}.json", json.dumps(data))


def _dump(result: ScanResult) -> dict[str, Any]:
    return {
        "target": result.target,
        "kind": result.kind,
        "findings": [finding.as_dict() for finding in result.findings],
        "examined": result.examined,
        "examined_unit": result.examined_unit,
        "must_examine": result.must_examine,
        "notes": list(result.notes),
        "errors": list(result.errors),
    }


def _result(data: dict[str, Any]) -> ScanResult:
    return ScanResult(
        target=str(data["target"]),
        kind=data["kind"],
        findings=tuple(Finding.from_dict(item) for item in data["findings"]),
        examined=data.get("examined"),
        examined_unit=str(data.get("examined_unit", "")),
        must_examine=bool(data.get("must_examine", False)),
        notes=tuple(data.get("notes", ())),
        errors=tuple(data.get("errors", ())),
    )
