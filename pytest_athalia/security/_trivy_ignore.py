"""Trivy's ignore files, read the way Trivy reads them, to check them early and to explain them.

Trivy itself applies the file (``--ignorefile``); this module exists so that

* a malformed expiry date is a configuration error naming the file and the line (or YAML entry),
  raised before Trivy runs by every scan that uses the file (Trivy itself only logs a warning and
  drops the whole line, so a typo would silently un-ignore that finding);
* a failure message can say which entries have expired and no longer suppress anything;
* the scan cache key changes on the day an entry expires.

Formats (as in Trivy's ``pkg/result/ignore.go``): ``.trivyignore`` has one ID per line, ``#``
comments, and an optional ``exp:YYYY-MM-DD`` field; ``.trivyignore.yaml`` has lists
``vulnerabilities``/``misconfigurations``/``secrets``/``licenses`` of ``{id, paths, expired_at,
statement}``. An entry expires at 00:00 UTC of its date: ``exp:2026-12-01`` still suppresses on
2026-11-30 and no longer on 2026-12-01.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from .._errors import ConfigError

__all__ = ["IgnoreEntry", "IgnoreFile", "read_ignore_file"]

_YAML_SECTIONS = ("vulnerabilities", "misconfigurations", "secrets", "licenses")


@dataclass(frozen=True)
class IgnoreEntry:
    id: str
    expires: dt.date | None
    line: int
    paths: tuple[str, ...] = ()

    def active(self, today: dt.date) -> bool:
        return self.expires is None or today < self.expires

    def describe(self) -> str:
        return f"{self.id} (line {self.line}, exp:{self.expires.isoformat()})" if self.expires else self.id


@dataclass(frozen=True)
class IgnoreFile:
    path: Path
    entries: tuple[IgnoreEntry, ...]
    digest: str

    def active(self, today: dt.date) -> tuple[IgnoreEntry, ...]:
        return tuple(entry for entry in self.entries if entry.active(today))

    def expired(self, today: dt.date) -> tuple[IgnoreEntry, ...]:
        return tuple(entry for entry in self.entries if not entry.active(today))

    def cache_key(self, today: dt.date) -> str:
        """Changes with the file's content and on the day any entry expires."""
        active = ",".join(sorted(f"{e.id}@{e.line}" for e in self.active(today)))
        return f"{self.digest}:{active}"

    def expiry_note(self, today: dt.date, ids: Iterable[str] = ()) -> str:
        """A sentence naming expired entries (those among ``ids`` when given), or ''."""
        wanted = set(ids)
        expired = [e for e in self.expired(today) if not wanted or e.id in wanted]
        if not expired:
            return ""
        listed = ", ".join(e.describe() for e in expired)
        return f"expired entries of {self.path} no longer suppress: {listed}"


def read_ignore_file(path: Path) -> IgnoreFile:
    """Parse ``path`` (text or YAML format); :class:`ConfigError` naming the line (or YAML entry) of a bad entry."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"athalia: security.trivy.ignore_file names {path}, which does not exist; expected a .trivyignore "
            "file. Create it (one finding ID a line) or remove the key."
        ) from None
    except OSError as exc:
        raise ConfigError(f"athalia: {path} cannot be read ({exc.strerror}); check its permissions.") from None
    text = raw.decode("utf-8", errors="replace")
    parse = _parse_yaml if path.suffix in {".yaml", ".yml"} else _parse_text
    return IgnoreFile(path, parse(text, path), hashlib.sha256(raw).hexdigest()[:16])


def _date(text: str, path: Path, where: str, written: str, note: str = "") -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"athalia: {path}, {where}: expected an expiry date {written}YYYY-MM-DD, found {written}{text!r}. "
            f"{note}Fix the date."
        ) from None


def _parse_text(text: str, path: Path) -> tuple[IgnoreEntry, ...]:
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        expires = None
        for field in fields[1:]:
            if field.startswith("exp:"):
                note = "Trivy would drop this whole line with only a warning. "
                expires = _date(field.removeprefix("exp:"), path, f"line {number}", "exp:", note)
                break
        entries.append(IgnoreEntry(fields[0], expires, number))
    return tuple(entries)


def _parse_yaml(text: str, path: Path) -> tuple[IgnoreEntry, ...]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"athalia: {path} is not valid YAML ({exc}); expected Trivy's .trivyignore.yaml.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"athalia: {path}: expected a mapping with keys {', '.join(_YAML_SECTIONS)}.")
    entries = []
    for section in _YAML_SECTIONS:
        for index, item in enumerate(data.get(section) or []):
            where = f"{section}[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise ConfigError(f"athalia: {path}, {where}: expected a mapping with an `id`; add the finding's ID.")
            expires = item.get("expired_at")
            if isinstance(expires, dt.datetime):
                expires = expires.date()
            elif expires is not None and not isinstance(expires, dt.date):
                expires = _date(str(expires), path, where, "expired_at: ")
            paths = tuple(str(p) for p in item.get("paths") or ())
            entries.append(IgnoreEntry(item["id"], expires, index + 1, paths))
    return tuple(entries)
