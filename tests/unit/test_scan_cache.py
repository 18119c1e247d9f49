"""The scan cache: results come back equal, any key part changes the key, damage means a rescan."""

from __future__ import annotations

from pathlib import Path

from pytest_athalia.security._cache import ScanCache, cache_key
from pytest_athalia.security._scan import Finding, ScanResult

RESULTS = {
    "secret": ScanResult("img:1", "secret", (Finding("secret", "private-key", "HIGH", "img:1", "/k", 2, "t"),)),
    "misconfig": ScanResult("img:1", "misconfig", (), examined=27, examined_unit="checks", must_examine=True),
}


def test_put_then_get_returns_equal_results(tmp_path: Path) -> None:
    """What was stored is what comes back, frozen values included."""
    cache = ScanCache(tmp_path)
    cache.put("k", RESULTS)  # type: ignore[arg-type]
    assert cache.get("k") == RESULTS


def test_key_depends_on_every_part() -> None:
    """Image ID, scanners, trivy version, ignore state: changing any gives another key."""
    base = ("image", "sha256:1", "misconfig,secret", "0.76.0", "no-ignore-file")
    assert cache_key(*base) == cache_key(*base)
    for index in range(len(base)):
        changed = list(base)
        changed[index] += "x"
        assert cache_key(*changed) != cache_key(*base)


def test_missing_or_damaged_entries_are_misses(tmp_path: Path) -> None:
    """A missing or unreadable file is a miss, never an error."""
    cache = ScanCache(tmp_path)
    assert cache.get("nope") is None
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    assert cache.get("bad") is None


def test_disabled_cache_stores_nothing(tmp_path: Path) -> None:
    """ScanCache(None) never returns anything."""
    cache = ScanCache(None)
    cache.put("k", RESULTS)  # type: ignore[arg-type]
    assert cache.get("k") is None
