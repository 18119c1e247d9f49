"""What the security suite scans: file kinds by name (the Docker-CLI tests are in tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_athalia.security._targets import file_kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [("Dockerfile", "dockerfile"), ("Dockerfile.prod", "dockerfile"), ("api.dockerfile", "dockerfile"),
     ("docker-compose.override.yml", "compose"), ("compose.yaml", "compose"), ("deploy.yaml", "other")],
)  # fmt: skip
def test_file_kind_by_name(name: str, kind: str) -> None:
    """Dockerfiles and compose files are told apart by name (compose files get the secret scanner only)."""
    assert file_kind(Path("/x") / name) == kind
