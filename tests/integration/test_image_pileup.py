"""Images do not pile up: repeated runs on a service without `image:` keep one image per environment.

Without the plugin's stable tag, compose tags each build ``<project>-<service>``, and every run has a
new project name: N runs left N image tags. Here three runs of ``fixtures/tinybuild`` (one service
built from ./web) must leave one image, under the stable tag, and ``athalia cleanup`` removes it once
no run uses it. Each test has its own environment name, so it counts and removes only its own images.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pytest_athalia.stack._override import build_tag

from .test_lifecycle import (
    HERE,
    Tiny,
    _clean_up,
    _docker,
    leftovers,
    tiny_fixture,  # noqa: F401 (registers the `tiny` fixture here)
)

pytestmark = pytest.mark.docker

TINYBUILD = HERE / "fixtures" / "tinybuild"
RUNS = int(os.environ.get("ATHALIA_TEST_IMAGE_RUNS", "3"))  # 3 in CI; the figure is for 10


def images_of(env: str) -> list[str]:
    """``<id> <repository>:<tag>`` of every image labelled for environment `env`, untagged ones included."""
    out = _docker(
        "images", "--all", "--filter", f"label=dev.athalia.env={env}", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"
    )
    return sorted(set(out.splitlines()))


def remove_images_of(env: str) -> None:
    for line in images_of(env):
        subprocess.run(["docker", "rmi", "--force", line.split()[0]], capture_output=True, timeout=60, check=False)


@pytest.fixture
def tinybuild(tiny: Tiny, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An environment file of the tinybuild stack under a name of its own; its projects and images go afterwards."""
    env = f"tinyb{secrets.token_hex(3)}"
    spec = yaml.safe_load((TINYBUILD / "tinybuild.yml").read_text())
    spec["stack"]["compose_files"] = [str(TINYBUILD / name) for name in spec["stack"]["compose_files"]]
    env_file = tmp_path / f"{env}.yml"
    env_file.write_text(yaml.safe_dump(spec))
    try:
        yield env_file, env
    finally:
        _clean_up(tiny.runs, [f"athalia-{env}-"])
        remove_images_of(env)


def test_repeated_runs_keep_one_image_and_cleanup_removes_it(tiny: Tiny, tinybuild: tuple[Path, str]) -> None:
    """Repeated runs leave exactly one image (the stable tag); `athalia cleanup --env` then removes it."""
    env_file, env = tinybuild
    tag = build_tag(TINYBUILD, "web", env)
    for index in range(RUNS):
        run, code = tiny.run("test_inner.py::test_ok", env_file=env_file)
        assert code == 0, run.details()
        project = run.project_of("test_ok")
        images = images_of(env)
        assert [line.split()[1] for line in images] == [tag], f"after run {index + 1}: {images}\n{run.details()}"
        assert _docker("images", "--quiet", f"{project}-web") == "", "compose's per-run tag must not exist"
        assert leftovers(f"athalia-{env}-") == [], run.details()

    def cleanup(*args: str) -> str:
        argv = [sys.executable, "-m", "pytest_athalia._cli", "cleanup", "--env", env, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True).stdout

    listed = cleanup("--dry-run")
    assert f"would remove image {tag} (" in listed, listed
    assert images_of(env) != []
    removed = cleanup()
    assert "0 project(s) and 1 image(s) removed" in removed, removed
    assert images_of(env) == []
