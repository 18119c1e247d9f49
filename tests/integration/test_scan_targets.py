"""What the security suite scans, found through `docker compose config` and `docker image inspect` (the CLI)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_athalia._errors import ScanError
from pytest_athalia.config._environment import load_environment
from pytest_athalia.report._progress import Progress
from pytest_athalia.security._targets import LocalDockerImages, discover_targets
from pytest_athalia.testing import RecordingGroups, unavailable

REPO = Path(__file__).parents[2]
DEMO = REPO / "demo"


@pytest.fixture
def docker_cli() -> None:
    if shutil.which("docker") is None:
        unavailable("the docker CLI (with compose v2) is not installed")


@pytest.mark.usefixtures("docker_cli")
def test_demo_targets_are_its_three_images_dockerfiles_and_compose_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Images by service, the built services' Dockerfiles and the compose file; stack.env secrets go to the redactor."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("ATHALIA_PROD_DB_PASSWORD", "prod-secret-for-listing")
    environment = load_environment("production", DEMO / "environments")
    added: list[str] = []
    targets = discover_targets(environment, add_secrets=lambda *s: added.extend(s), redact=lambda s: s)
    assert [(t.service, t.image, t.built) for t in targets.images] == [
        ("app", "athalia-demo/app:1.0.0", True),
        ("postgres", "athalia-demo/postgres:15", True),
        ("redis", "athalia-demo/redis:7", True),
    ]
    assert [(f.shown, f.kind) for f in targets.config_files] == [
        ("demo/docker-compose.yml", "compose"),
        ("demo/Dockerfile", "dockerfile"),
        ("demo/images/postgres/Dockerfile", "dockerfile"),
        ("demo/images/redis/Dockerfile", "dockerfile"),
    ]
    assert added == ["prod-secret-for-listing"]


@pytest.mark.usefixtures("docker_cli")
def test_a_compose_error_is_a_scan_error_naming_the_way_out(tmp_path: Path) -> None:
    """A compose file compose rejects: the message says to list images and files by hand instead."""
    (tmp_path / "compose.yml").write_text("services:\n  app: {image: [1]}\n", encoding="utf-8")
    folder = tmp_path / "environments"
    folder.mkdir()
    (folder / "t.yml").write_text("stack:\n  compose_files: [../compose.yml]\n  service: app\n  port: 1\n")
    with pytest.raises(ScanError, match=r"security\.trivy\.images"):
        discover_targets(load_environment("t", folder), add_secrets=lambda *s: None, redact=lambda s: s)


@pytest.mark.usefixtures("docker_cli")
def test_an_unreachable_docker_daemon_is_not_a_missing_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker image inspect` failing for another reason than "no such image" says so, not "build it first"."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/athalia-test.sock")
    images = LocalDockerImages(progress=Progress(lambda line: None), add_secrets=lambda *s: None, redact=str)
    with pytest.raises(ScanError, match="docker image inspect athalia/base:bookworm` failed") as info:
        images.image_id("athalia/base:bookworm")
    assert "Is Docker running" in str(info.value)


@pytest.mark.usefixtures("docker_cli")
def test_a_build_is_watched_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`compose build` of images to scan runs under the watchdog (a killed pytest kills it) and shows its phase."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/athalia-test.sock")  # fails at once, builds nothing
    (tmp_path / "compose.yml").write_text("services:\n  app:\n    build: .\n    image: x/app:1\n", encoding="utf-8")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (tmp_path / "dev.yml").write_text(
        "stack:\n  compose_files: [compose.yml]\n  service: app\n  port: 8000\n", encoding="utf-8"
    )
    groups, lines = RecordingGroups(), []
    images = LocalDockerImages(progress=Progress(lines.append), add_secrets=lambda *s: None, redact=str, groups=groups)
    with pytest.raises(ScanError):
        images.build(load_environment(str(tmp_path / "dev.yml"), None), "athalia-test-build", ("app",))
    assert [event for event, _ in groups.events] == ["watch", "forget"]
    assert lines[0].startswith("athalia: building images to scan (app)")
