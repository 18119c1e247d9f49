"""`athalia cleanup` against the in-memory fake daemon: what it removes, what it leaves, and why."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from pytest_athalia._cli import main
from pytest_athalia.stack import _cleanup as cleanup
from pytest_athalia.stack._cleanup import FakeDockerResources
from pytest_athalia.stack._ownership import Place, RunOwner, this_place, this_run

TAG = "athalia/shop-1a2b3c-web:dev"
DEAD_PROJECT = "athalia-dev-main-p4194305-aaaaaa"
LIVE_PROJECT = "athalia-dev-main-p1-bbbbbb"
FAR_PROJECT = "athalia-dev-gw0-p7-cccccc"
QA_PROJECT = "athalia-qa-main-p4194305-dddddd"


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeDockerResources:
    """A fake daemon with a dead, a live and another namespace's project, and images of each."""
    place = this_place()
    me = this_run()
    assert place is not None
    assert me is not None
    dead = RunOwner(place, 2**22 + 1, 1)  # above pid_max: never alive
    far = RunOwner(Place(place.machine, place.boot, place.pidns + 1), me.pid, me.start, "ci-runner-3")
    api = FakeDockerResources()
    api.add_project(DEAD_PROJECT, owner=dead, image="sha256:dead")
    api.add_project(QA_PROJECT, owner=dead)
    api.add_project(LIVE_PROJECT, owner=me, image="sha256:live")
    api.add_project(FAR_PROJECT, owner=far)
    api.add_image("sha256:dead", TAG, env="dev", owner=dead)
    api.add_image("sha256:old", TAG, tagged=False, env="dev", owner=dead)
    api.add_image("sha256:live", "athalia/shop-1a2b3c-web:ci", env="ci", owner=me)
    api.add_image("sha256:far", "athalia/shop-1a2b3c-web:qa2", env="qa2", owner=far)
    monkeypatch.setattr(cleanup.DockerResources, "from_env", classmethod(lambda cls: api))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # generated files: none here
    return api


def test_dry_run_lists_what_would_go_and_why_the_rest_stays(
    daemon: FakeDockerResources, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is removed; dead projects and images are listed, the others with their reason."""
    assert main(["cleanup", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would remove {DEAD_PROJECT}: 1 container" in out
    assert f"would remove {QA_PROJECT}:" in out
    assert f"would remove image {TAG} (dead" in out
    assert f"would remove image old (an older build of {TAG}) (an older build, untagged)" in out
    assert f"left {LIVE_PROJECT}: its run (pid " in out
    assert f"left {FAR_PROJECT}: owned by another host or PID namespace: pid " in out
    assert "on host ci-runner-3" in out
    assert "left image athalia/shop-1a2b3c-web:qa2 (far): built by another host or PID namespace" in out
    assert "2 project(s) and 2 image(s) would be removed" in out
    assert len(daemon.image_refs) == 4
    assert daemon.calls == []


def test_cleanup_removes_dead_runs_and_their_images_and_leaves_the_rest(
    daemon: FakeDockerResources, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dead run's containers go first, so its image can go too; live and foreign ones stay."""
    assert main(["cleanup"]) == 0
    out = capsys.readouterr().out
    assert "2 project(s) and 2 image(s) removed" in out
    assert {f.project for f in cleanup.find_leftovers(daemon)} == {LIVE_PROJECT, FAR_PROJECT}
    assert sorted(daemon.image_refs) == ["sha256:far", "sha256:live"]


def test_cleanup_of_one_environment(daemon: FakeDockerResources, capsys: pytest.CaptureFixture[str]) -> None:
    """`--env qa` removes only qa's dead projects (and no image of another environment)."""
    assert main(["cleanup", "--env", "qa"]) == 0
    assert "1 project(s) and 0 image(s) removed" in capsys.readouterr().out
    assert QA_PROJECT not in {f.project for f in cleanup.find_leftovers(daemon)}
    assert len(daemon.image_refs) == 4


def test_cleanup_all_removes_everything_of_ours(
    daemon: FakeDockerResources, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--all` removes live and foreign projects and every image athalia built."""
    assert main(["cleanup", "--all"]) == 0
    assert "4 project(s) and 4 image(s) removed" in capsys.readouterr().out
    assert cleanup.find_leftovers(daemon) == ()
    assert daemon.image_refs == ()
