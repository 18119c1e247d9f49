"""cleanup: project names, and removal of a project's resources against the in-memory fake."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_athalia._errors import CleanupError, ConfigError, DockerUnavailable
from pytest_athalia.stack._cleanup import (
    PROJECT_PREFIX,
    DockerResources,
    FakeDockerResources,
    Kind,
    Leftovers,
    find_leftovers,
    make_project_name,
    owner_pid,
    pid_alive,
    remove_project,
    sweep,
    sweep_files,
)

P1 = "athalia-dev-main-p101-aaaaaa"
P2 = "athalia-dev-gw0-p202-bbbbbb"


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self, on_sleep: Callable[[float], None] | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._on_sleep = on_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
        if self._on_sleep is not None:
            self._on_sleep(self.now)


# --- names -------------------------------------------------------------------------------


def test_project_name_round_trips_its_owner_pid() -> None:
    """The name follows the documented pattern and owner_pid() parses the pid back."""
    name = make_project_name("Dev", "main", 12345, token="1a2b3c")
    assert name == "athalia-dev-main-p12345-1a2b3c"
    assert owner_pid(name) == 12345


def test_project_name_sanitises_env_and_worker() -> None:
    """Env and worker are lowered to [a-z0-9], so compose accepts the name, and it still parses."""
    name = make_project_name("My_Shop Prod.EU", "GW-3", 7, token="abcdef")
    assert name == "athalia-myshopprodeu-gw3-p7-abcdef"
    assert owner_pid(name) == 7


def test_project_name_bounds_the_env_length() -> None:
    """A very long environment name is truncated, keeping the name short and parseable."""
    name = make_project_name("x" * 200, "gw12", 4194304)
    assert len(name) <= 64
    assert owner_pid(name) == 4194304


def test_project_name_tokens_are_random_hex() -> None:
    """Without a token, two names for the same env, worker and pid still differ."""
    first, second = make_project_name("dev", "main", 1), make_project_name("dev", "main", 1)
    assert first != second
    assert owner_pid(first) == owner_pid(second) == 1


def test_project_name_rejects_an_env_without_letters_or_digits() -> None:
    """An environment that sanitises to nothing is a config error naming the environment."""
    with pytest.raises(ConfigError, match="'___'"):
        make_project_name("___", "main", 1)


@pytest.mark.parametrize(
    ("worker", "pid", "token"), [("-", 1, None), ("main", 0, None), ("main", 1, "XYZ123"), ("main", 1, "abc")]
)
def test_project_name_rejects_bad_parts(worker: str, pid: int, token: str | None) -> None:
    """A worker without [a-z0-9], a non-positive pid or a token that is not 6 hex digits is refused."""
    with pytest.raises(ValueError):
        make_project_name("dev", worker, pid, token=token)


@pytest.mark.parametrize(
    "project",
    [
        "myapp",
        "athalia",
        "athalia-dev",
        "athalia-dev-main-1234-abcdef",  # no "p"
        "athalia-dev-main-p0-abcdef",
        "athalia-dev-main-p12-abcdeg",
        "athalia-dev-main-p12-abcdef0",
        "athalia-Dev-main-p12-abcdef",
        "athalia-dev-ma-in-p12-abcdef",
        "xathalia-dev-main-p12-abcdef",
        "athalia-dev-main-p12-abcdef ",
    ],
)
def test_owner_pid_ignores_foreign_names(project: str) -> None:
    """Names that are not exactly ours have no owner, so sweep never removes them."""
    assert owner_pid(project) is None


# --- finding -------------------------------------------------------------------------------


def test_find_leftovers_groups_our_projects_only() -> None:
    """Resources are grouped per project, and other compose projects are ignored."""
    api = FakeDockerResources()
    api.add_project(P2)
    api.add_project(P1, containers=2)
    api.add_project("someoneelse")
    found = find_leftovers(api)
    assert [f.project for f in found] == sorted([P1, P2])
    by_project = {f.project: f for f in found}
    assert by_project[P1] == Leftovers(
        P1,
        containers=(f"{P1}-app-1", f"{P1}-app-2"),
        networks=(f"{P1}_default",),
        volumes=(f"{P1}_data",),
    )
    assert by_project[P1].describe() == (
        f"{P1}: 2 containers ({P1}-app-1, {P1}-app-2), 1 network ({P1}_default), 1 volume ({P1}_data)"
    )
    assert find_leftovers(api, "someoneelse")[0].containers == ("someoneelse-app-1",)
    assert find_leftovers(api, "athalia-none-main-p1-000000") == ()


def test_leftovers_empty_and_describe() -> None:
    """An empty Leftovers says so in one line."""
    assert Leftovers(P1).empty
    assert Leftovers(P1).describe() == f"{P1}: nothing"
    assert not Leftovers(P1, volumes=("v",)).empty


# --- removing ------------------------------------------------------------------------------


def test_remove_project_removes_containers_then_networks_then_volumes() -> None:
    """Containers go first (they hold networks and volumes), so nothing fails as 'in use'."""
    api = FakeDockerResources()
    api.add_project(P1, containers=2)
    api.add_project(P2)
    removed = remove_project(api, P1)
    assert api.calls == [
        ("remove_container", f"{P1}-app-1"),
        ("remove_container", f"{P1}-app-2"),
        ("remove_network", f"{P1}_default"),
        ("remove_volume", f"{P1}_data"),
    ]
    assert removed == Leftovers(
        P1, containers=(f"{P1}-app-1", f"{P1}-app-2"), networks=(f"{P1}_default",), volumes=(f"{P1}_data",)
    )
    assert [f.project for f in find_leftovers(api)] == [P2]


def test_fake_refuses_to_remove_a_volume_in_use() -> None:
    """The fake enforces docker's order, so the order test above means something."""
    api = FakeDockerResources()
    api.add_project(P1)
    assert api.remove_volume(f"{P1}_data") == f"volume {P1}_data is in use by {P1}-app-1"
    assert api.remove_network(f"{P1}_default") is not None


def test_remove_project_is_idempotent() -> None:
    """Removing a project again, or something already gone, is not an error."""
    api = FakeDockerResources()
    api.add_project(P1)
    remove_project(api, P1)
    assert remove_project(api, P1) == Leftovers(P1)
    assert api.remove_container("gone") is None
    assert api.remove_network("gone") is None
    assert api.remove_volume("gone") is None


def test_remove_project_tolerates_items_that_vanish_between_list_and_remove() -> None:
    """Something removed by someone else after we listed it counts as removed, not as a failure."""

    class Racy(FakeDockerResources):
        def remove_container(self, ref: str) -> str | None:
            super().remove_container(ref)  # someone else got there first ...
            return super().remove_container(ref)  # ... so ours finds it gone

    api = Racy()
    api.add_project(P1)
    assert remove_project(api, P1).containers == (f"{P1}-app-1",)
    assert find_leftovers(api) == ()


def test_remove_project_sweeps_again_when_compose_creates_more() -> None:
    """Resources that appear during a sweep are caught by the next one, without settle."""

    class StillCreating(FakeDockerResources):
        late = 2

        def remove_container(self, ref: str) -> str | None:
            if self.late:
                self.add(Kind.CONTAINER, f"{P1}-late-{self.late}", P1)
                self.late -= 1
            return super().remove_container(ref)

    api = StillCreating()
    api.add_project(P1)
    clock = FakeClock()
    removed = remove_project(api, P1, clock=clock, sleep=clock.sleep)
    assert set(removed.containers) == {f"{P1}-app-1", f"{P1}-late-2", f"{P1}-late-1"}
    assert find_leftovers(api) == ()
    assert clock.sleeps == []  # progress each sweep: no waiting


def test_remove_project_settles_and_catches_late_arrivals() -> None:
    """With settle_seconds, things that appear after an empty sweep are still removed."""
    api = FakeDockerResources()
    api.add_project(P1)

    def compose_still_running(now: float) -> None:
        if now == pytest.approx(1.0):
            api.add_project(P1)  # recreated a second after the first clean sweep

    clock = FakeClock(on_sleep=compose_still_running)
    removed = remove_project(api, P1, settle_seconds=3.0, poll_seconds=0.5, clock=clock, sleep=clock.sleep)
    assert find_leftovers(api) == ()
    assert removed.containers == (f"{P1}-app-1",)
    # Quiet at 0, late arrival at 1.0 removed, then 3 s of quiet from 1.0.
    assert clock.now == pytest.approx(4.0)
    assert api.calls.count(("remove_container", f"{P1}-app-1")) == 2


def test_remove_project_without_settle_returns_after_one_empty_sweep() -> None:
    """settle_seconds=0 returns as soon as a sweep finds nothing."""
    api = FakeDockerResources()
    api.add_project(P1)
    clock = FakeClock()
    remove_project(api, P1, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_remove_project_settle_is_bounded_by_the_deadline() -> None:
    """A settle window longer than the deadline ends at the deadline, successfully if nothing is left."""
    api = FakeDockerResources()
    clock = FakeClock()
    assert remove_project(api, P1, settle_seconds=100, deadline_seconds=5, clock=clock, sleep=clock.sleep).empty
    assert clock.now == pytest.approx(5.0)


def test_remove_project_raises_naming_survivors_and_the_fix_after_the_deadline() -> None:
    """A resource that cannot be removed ends in CleanupError with what, why and how to fix it."""
    api = FakeDockerResources()
    api.add_project(P1)
    api.make_stuck(f"{P1}_data", "device or resource busy")
    clock = FakeClock()
    with pytest.raises(CleanupError) as failure:
        remove_project(api, P1, deadline_seconds=10, poll_seconds=1, clock=clock, sleep=clock.sleep)
    message = str(failure.value)
    assert f"{P1}: 1 volume ({P1}_data)" in message
    assert "device or resource busy" in message
    assert "athalia cleanup --all" in message
    assert f"docker volume rm {P1}_data" in message
    assert clock.now == pytest.approx(10.0)
    assert api.names == (f"{P1}_data",)  # everything else went


def test_remove_project_keeps_up_with_a_resource_that_reappears_forever() -> None:
    """A project recreated on every sweep fails at the deadline instead of looping forever."""

    class Respawning(FakeDockerResources):
        def remove_container(self, ref: str) -> str | None:
            result = super().remove_container(ref)
            self.add(Kind.CONTAINER, ref, P1)
            return result

    api = Respawning()
    api.add_project(P1)
    clock = FakeClock()
    with pytest.raises(CleanupError, match=f"docker rm -f -v {P1}-app-1"):
        remove_project(api, P1, deadline_seconds=3, poll_seconds=0.5, clock=clock, sleep=clock.sleep)
    assert clock.now == pytest.approx(3.0)


# --- sweep ---------------------------------------------------------------------------------


def test_sweep_removes_projects_of_dead_owners_only() -> None:
    """Only projects whose owner pid is dead go; live ones, foreign and unparseable names stay."""
    dead, live = P1, P2
    unparseable = f"{PROJECT_PREFIX}handmade"
    api = FakeDockerResources()
    for project in (dead, live, unparseable, "someoneelse"):
        api.add_project(project)
    removed = sweep(api, pid_alive=lambda pid: pid == 202)
    assert [r.project for r in removed] == [dead]
    assert [f.project for f in find_leftovers(api)] == [live, unparseable]
    assert find_leftovers(api, "someoneelse") != ()


def test_sweep_include_live_removes_every_athalia_project() -> None:
    """include_live (`athalia cleanup --all`) removes all athalia-* projects, but no others."""
    api = FakeDockerResources()
    for project in (P1, P2, f"{PROJECT_PREFIX}handmade", "someoneelse"):
        api.add_project(project)
    removed = sweep(api, include_live=True, pid_alive=lambda pid: True)
    assert {r.project for r in removed} == {P1, P2, f"{PROJECT_PREFIX}handmade"}
    assert find_leftovers(api) == ()
    assert find_leftovers(api, "someoneelse") != ()


def test_sweep_tries_every_project_before_raising() -> None:
    """One stuck project does not stop the others; the error names the stuck one."""
    api = FakeDockerResources()
    api.add_project(P1)
    api.add_project(P2)
    api.make_stuck(f"{P1}_data")
    with pytest.raises(CleanupError, match=P1):
        sweep(api, pid_alive=lambda pid: False, deadline_seconds=0)
    assert [f.project for f in find_leftovers(api)] == [P1]


def test_default_pid_alive_sees_this_process_and_not_a_free_pid() -> None:
    """The default liveness check says yes for us and no for a pid that cannot exist."""
    assert pid_alive(os.getpid())
    assert not pid_alive(2**22 + 1)  # above Linux's pid_max limit


def test_unreachable_daemon_is_docker_unavailable_without_a_leaked_socket(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No daemon gives DockerUnavailable with the fix, and no ResourceWarning in a later test."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    with pytest.raises(DockerUnavailable, match="Start the Docker daemon"):
        DockerResources.from_env()
    gc.collect()  # a leaked socket would warn here, an error under filterwarnings=error


def test_sweep_files_removes_only_folders_of_dead_owners(tmp_path: Path) -> None:
    """Generated-file folders of dead runs go; live runs', kept stacks' and foreign folders stay."""
    dead = tmp_path / "athalia-dev-main-p111-abcdef-x1y2z3"
    live = tmp_path / "athalia-dev-main-p222-abcdef-q1w2e3"
    kept = tmp_path / "athalia-dev-main-keep-abcdef-r1t2y3"
    foreign = tmp_path / "something-else"
    for folder in (dead, live, kept, foreign):
        folder.mkdir()
        (folder / "rollout.yml").write_text("services: {}\n", encoding="utf-8")
    removed = sweep_files(tmp_path, pid_alive=lambda pid: pid == 222)
    assert removed == (dead,)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (live, kept, foreign))


def test_sweep_files_dry_run_lists_without_removing(tmp_path: Path) -> None:
    """`athalia cleanup --dry-run` lists a dead run's folder and old log, and both stay."""
    dead, log = tmp_path / "athalia-dev-main-p111-abcdef-x1y2z3", tmp_path / "watchdog-111.log"
    dead.mkdir()
    log.write_text("gone\n", encoding="utf-8")
    os.utime(log, (0, 0))
    found = sweep_files(tmp_path, pid_alive=lambda pid: False, now=10 * 24 * 3600.0, dry_run=True)
    assert sorted(found) == sorted((dead, log))
    assert dead.is_dir()
    assert log.is_file()


def test_sweep_files_without_the_folder_does_nothing(tmp_path: Path) -> None:
    """No generated-files folder yet: nothing to sweep, no error."""
    assert sweep_files(tmp_path / "missing") == ()


def test_sweep_files_removes_week_old_watchdog_logs_of_dead_runs(tmp_path: Path) -> None:
    """A crashed run's watchdog log stays a week for reading, then goes; a live run's log always stays."""
    old_dead, new_dead, old_live = (tmp_path / f"watchdog-{pid}.log" for pid in (111, 222, 333))
    for log in (old_dead, new_dead, old_live):
        log.write_text("sent SIGKILL\n", encoding="utf-8")
    now = 10 * 24 * 3600.0
    for log in (old_dead, old_live):
        os.utime(log, (0, 0))
    os.utime(new_dead, (now - 3600, now - 3600))
    removed = sweep_files(tmp_path, pid_alive=lambda pid: pid == 333, now=now)
    assert removed == (old_dead,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watchdog-222.log", "watchdog-333.log"]
