"""Trivy ignore files: parsed as Trivy parses them, with expiry dates checked and explained."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pytest_athalia._errors import ConfigError
from pytest_athalia.security._trivy_ignore import read_ignore_file

TODAY = dt.date(2026, 11, 25)


def _file(tmp_path: Path, text: str, name: str = ".trivyignore") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_entries_with_and_without_expiry(tmp_path: Path) -> None:
    """IDs one a line, comments and blank lines skipped, exp:YYYY-MM-DD anywhere after the ID."""
    ignore = read_ignore_file(_file(tmp_path, "# why\nCVE-2026-1\n\nDS-0026 exp:2026-12-01 # until the fix\n"))
    assert [(e.id, e.expires, e.line) for e in ignore.entries] == [
        ("CVE-2026-1", None, 2),
        ("DS-0026", dt.date(2026, 12, 1), 4),
    ]


def test_an_entry_expires_at_the_start_of_its_date(tmp_path: Path) -> None:
    """As in Trivy (midnight UTC): exp:2026-11-25 no longer suppresses on 2026-11-25, still did the day before."""
    ignore = read_ignore_file(_file(tmp_path, "DS-0002 exp:2026-11-25\n"))
    assert ignore.active(dt.date(2026, 11, 24))
    assert not ignore.active(TODAY)
    assert ignore.expired(TODAY)[0].id == "DS-0002"


def test_expiry_note_names_expired_entries_of_the_found_ids(tmp_path: Path) -> None:
    """The failure message says which expired entry no longer suppresses a finding that is there."""
    ignore = read_ignore_file(_file(tmp_path, "DS-0002 exp:2020-01-01\nCVE-1 exp:2020-01-01\nDS-0026\n"))
    note = ignore.expiry_note(TODAY, {"DS-0002"})
    assert "DS-0002 (line 1, exp:2020-01-01)" in note
    assert "CVE-1" not in note
    assert ignore.expiry_note(TODAY, {"DS-0026"}) == ""


def test_cache_key_changes_when_an_entry_expires(tmp_path: Path) -> None:
    """Same file, a day later, one entry fewer is active: the cached scan must not be reused."""
    ignore = read_ignore_file(_file(tmp_path, "DS-0002 exp:2026-11-26\n"))
    assert ignore.cache_key(TODAY) != ignore.cache_key(TODAY + dt.timedelta(days=1))
    assert ignore.cache_key(TODAY) == ignore.cache_key(TODAY - dt.timedelta(days=3))


def test_a_malformed_date_is_a_config_error_naming_the_line(tmp_path: Path) -> None:
    """Trivy would drop the line with a warning; we stop with the file, line and date."""
    with pytest.raises(ConfigError, match=r"\.trivyignore, line 2: expected an expiry date exp:YYYY-MM-DD"):
        read_ignore_file(_file(tmp_path, "CVE-1\nCVE-2 exp:2026-13-01\n"))


def test_a_malformed_yaml_date_names_the_entry(tmp_path: Path) -> None:
    """In .trivyignore.yaml a bad expired_at names its section and index, not a line number it does not know."""
    path = _file(
        tmp_path, "vulnerabilities:\n  - id: CVE-1\n  - id: CVE-2\n    expired_at: soon\n", ".trivyignore.yaml"
    )
    with pytest.raises(
        ConfigError, match=r"yaml, vulnerabilities\[1\]: expected an expiry date expired_at: YYYY-MM-DD"
    ):
        read_ignore_file(path)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """security.trivy.ignore_file naming no file says so."""
    with pytest.raises(ConfigError, match="does not exist"):
        read_ignore_file(tmp_path / "nope")


def test_yaml_format_with_expired_at(tmp_path: Path) -> None:
    """.trivyignore.yaml: per-kind lists with id, paths and expired_at."""
    path = _file(
        tmp_path,
        "misconfigurations:\n  - id: DS-0026\n    paths: [Dockerfile]\n    expired_at: 2020-01-01\n"
        "vulnerabilities:\n  - id: CVE-1\n",
        ".trivyignore.yaml",
    )
    ignore = read_ignore_file(path)
    # Sections in Trivy's order: vulnerabilities first.
    assert [(e.id, e.expires, e.paths) for e in ignore.entries] == [
        ("CVE-1", None, ()),
        ("DS-0026", dt.date(2020, 1, 1), ("Dockerfile",)),
    ]
    assert [e.id for e in ignore.expired(TODAY)] == ["DS-0026"]
