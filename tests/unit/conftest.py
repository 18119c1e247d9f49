"""Fixtures shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def envdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a compose file and an empty `environments` folder; cwd is the project."""
    (tmp_path / "docker-compose.yml").write_text("services: {}\n", encoding="utf-8")
    folder = tmp_path / "environments"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    return folder
