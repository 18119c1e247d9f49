"""cleanup: project names, and what a sweep removes (projects, images, files) against the in-memory fake."""

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
    Image,
    Kind,
    Leftovers,
    carry_out,
    find_leftovers,
    make_project_name,
    owner_pid,
    pid_alive,
    plan_cleanup,
    remove_old_builds,
    remove_project,
    sweep,
    sweep_files,
    write_owner_file,
)
from pytest_athalia.stack._ownership import Place, RunOwner, Verdict

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

HERE = Place("machine", "boot", 4026531836)
DEAD = RunOwner(HERE, 101, 5)  # pid 101 now names another process (start 99)
LIVE = RunOwner(HERE, 202, 7)
GONE = RunOwner(HERE, 303, 8)  # no pid 303 here
FOREIGN = RunOwner(Place("machine", "boot", 4026532999), 404, 9)  # another PID namespace, pid 404 free here
STARTS = {101: 99, 202: 7}


def start_of(pid: int) -> int | None:
    return STARTS.get(pid)


def here() -> Place:
    return HERE


def test_sweep_removes_projects_of_provably_dead_owners_only() -> None:
    """Dead (pid gone or reused) go; live, foreign-namespace, unlabelled and non-athalia projects stay."""
    reused, gone, live, foreign = P1, P2, "athalia-dev-main-p202-cccccc", "athalia-dev-main-p404-dddddd"
    unlabelled, kept = "athalia-dev-main-p505-eeeeee", "athalia-dev-main-keep-ffffff"
    api = FakeDockerResources()
    for project, owner in ((reused, DEAD), (gone, GONE), (live, LIVE), (foreign, FOREIGN)):
        api.add_project(project, owner=owner)
    for project in (unlabelled, kept, "someoneelse"):
        api.add_project(project)
    removed = sweep(api, here=here, start_of=start_of)
    assert sorted(r.project for r in removed) == sorted([reused, gone])
    assert [f.project for f in find_leftovers(api)] == sorted([live, foreign, unlabelled, kept])
    assert find_leftovers(api, "someoneelse") != ()


def test_sweep_leaves_another_namespaces_project_whose_pid_is_free_here() -> None:
    """The bug this guards: a pid that is not alive in *our* namespace says nothing about another one."""
    api = FakeDockerResources()
    api.add_project(P1, owner=RunOwner(Place("machine", "boot", 4026532999), 101, 5))
    assert sweep(api, here=here, start_of=lambda pid: None) == ()
    assert [f.project for f in find_leftovers(api)] == [P1]


def test_sweep_judges_nothing_where_our_place_is_unknown() -> None:
    """Without a place of our own (no /proc, or another namespace's /proc) nothing is removed."""
    api = FakeDockerResources()
    api.add_project(P1, owner=GONE)
    assert sweep(api, here=lambda: None, start_of=lambda pid: None) == ()


def test_sweep_leaves_a_project_whose_resources_name_different_owners() -> None:
    """Resources of one project that disagree on their owner are not judged."""
    api = FakeDockerResources()
    api.add_project(P1, owner=GONE)
    api.add(Kind.VOLUME, f"{P1}_other", P1, owner=LIVE)
    plan = plan_cleanup(api, here=here, start_of=start_of)
    assert [(j.project, j.verdict, j.remove) for j in plan.projects] == [(P1, Verdict.UNKNOWN, False)]
    assert plan.projects[0].reason() == "its resources name different owners"


def test_sweep_include_live_removes_every_athalia_project() -> None:
    """include_live (`athalia cleanup --all`) removes all athalia-* projects, but no others."""
    api = FakeDockerResources()
    api.add_project(P1, owner=LIVE)
    api.add_project(P2, owner=FOREIGN)
    for project in (f"{PROJECT_PREFIX}handmade", "someoneelse"):
        api.add_project(project)
    removed = sweep(api, include_live=True, here=here, start_of=start_of)
    assert {r.project for r in removed} == {P1, P2, f"{PROJECT_PREFIX}handmade"}
    assert find_leftovers(api) == ()
    assert find_leftovers(api, "someoneelse") != ()


def test_sweep_tries_every_project_before_raising() -> None:
    """One stuck project does not stop the others; the error names the stuck one."""
    api = FakeDockerResources()
    api.add_project(P1, owner=GONE)
    api.add_project(P2, owner=DEAD)
    api.make_stuck(f"{P1}_data")
    with pytest.raises(CleanupError, match=P1):
        sweep(api, here=here, start_of=start_of, deadline_seconds=0)
    assert [f.project for f in find_leftovers(api)] == [P1]


def test_plan_explains_why_each_project_stays() -> None:
    """`athalia cleanup --dry-run` says why: alive, owned elsewhere (which host), kept, unlabelled."""
    api = FakeDockerResources()
    api.add_project(P1, owner=GONE)
    api.add_project(P2, owner=RunOwner(FOREIGN.place, 404, 9, "ci-runner-3"))
    api.add_project("athalia-dev-main-p202-cccccc", owner=LIVE)
    api.add_project("athalia-dev-main-keep-ffffff")
    api.add_project("athalia-dev-main-p505-eeeeee")
    reasons = {j.project: (j.remove, j.reason()) for j in plan_cleanup(api, here=here, start_of=start_of).projects}
    assert reasons == {
        P1: (True, "its run (pid 303 (boot boot, PID namespace 4026531836)) is gone"),
        P2: (
            False,
            "owned by another host or PID namespace: pid 404 on host ci-runner-3 (boot boot, PID namespace 4026532999)",
        ),
        "athalia-dev-main-p202-cccccc": (False, "its run (pid 202 (boot boot, PID namespace 4026531836)) is alive"),
        "athalia-dev-main-keep-ffffff": (False, "kept with --athalia-keep"),
        "athalia-dev-main-p505-eeeeee": (False, "no owner labels (made by hand or by an older version)"),
    }


def test_plan_for_one_environment_leaves_the_others() -> None:
    """`--env` limits projects by name and images by their environment label."""
    api = FakeDockerResources()
    api.add_project("athalia-dev-main-p303-aaaaaa", owner=GONE)
    api.add_project("athalia-devx-main-p303-bbbbbb", owner=GONE)
    api.add_image("sha256:1", "athalia/app-1a2b3c-web:dev", tagged=False, env="dev")
    api.add_image("sha256:2", "athalia/app-1a2b3c-web:devx", tagged=False, env="devx")
    plan = plan_cleanup(api, env="Dev", here=here, start_of=start_of)
    assert [j.project for j in plan.doomed_projects] == ["athalia-dev-main-p303-aaaaaa"]
    assert [j.image.ref for j in plan.doomed_images] == ["sha256:1"]


# --- images --------------------------------------------------------------------------------

TAG = "athalia/shop-1a2b3c-web:dev"


def test_images_older_builds_go_current_build_goes_only_when_its_builder_is_dead() -> None:
    """Untagged older builds always go; a tagged build goes once its builder is provably dead."""
    api = FakeDockerResources()
    api.add_image("sha256:old1", TAG, tagged=False, env="dev", owner=GONE)
    api.add_image("sha256:old2", TAG, tagged=False, env="dev", owner=LIVE)
    api.add_image("sha256:cur", TAG, env="dev", owner=GONE)
    api.add_image("sha256:live", "athalia/shop-1a2b3c-web:ci", env="ci", owner=LIVE)
    api.add_image("sha256:far", "athalia/shop-1a2b3c-web:qa", env="qa", owner=FOREIGN)
    api.add_image("sha256:kept", "athalia/shop-1a2b3c-web:demo", env="demo")
    plan = plan_cleanup(api, here=here, start_of=start_of)
    assert sorted(j.image.ref for j in plan.doomed_images) == ["sha256:cur", "sha256:old1", "sha256:old2"]
    result = carry_out(api, plan)
    assert sorted(i.ref for i in result.images) == ["sha256:cur", "sha256:old1", "sha256:old2"]
    assert sorted(api.image_refs) == ["sha256:far", "sha256:kept", "sha256:live"]
    assert ("remove_image", TAG) in api.calls  # the tag, not the id: tags others added stay
    assert ("remove_image", "sha256:old1") in api.calls


def test_images_in_use_by_a_container_are_refused_and_reported() -> None:
    """Docker refuses to remove an image a container uses; cleanup reports it and goes on."""
    api = FakeDockerResources()
    api.add_image("sha256:old", TAG, tagged=False, env="dev")
    api.add_project("athalia-dev-main-p202-cccccc", owner=LIVE, image="sha256:old")
    result = carry_out(api, plan_cleanup(api, here=here, start_of=start_of))
    assert result.images == ()
    assert [(i.ref, why) for i, why in result.refused] == [
        (
            "sha256:old",
            "conflict: unable to remove sha256:old: image is being used by container "
            "athalia-dev-main-p202-cccccc-app-1",
        )
    ]
    assert api.image_refs == ("sha256:old",)


def test_containers_go_before_images_so_a_dead_runs_image_is_freed() -> None:
    """A dead run's containers are removed first, so its image can go in the same cleanup."""
    api = FakeDockerResources()
    api.add_image("sha256:cur", TAG, env="dev", owner=GONE)
    api.add_project(P1, owner=GONE, image="sha256:cur")
    result = carry_out(api, plan_cleanup(api, here=here, start_of=start_of))
    assert [r.project for r in result.projects] == [P1]
    assert [i.ref for i in result.images] == ["sha256:cur"]
    assert api.names == ()
    assert api.image_refs == ()


def test_include_live_removes_every_image_of_ours() -> None:
    """`--all` removes live, foreign and unlabelled builds too (none is in use once projects are gone)."""
    api = FakeDockerResources()
    api.add_image("sha256:live", TAG, env="dev", owner=LIVE)
    api.add_image("sha256:far", "athalia/x-1a2b3c-web:qa", env="qa", owner=FOREIGN)
    api.add_image("sha256:kept", "athalia/x-1a2b3c-web:demo", env="demo")
    api.add_project(P1, owner=LIVE, image="sha256:live")
    result = carry_out(api, plan_cleanup(api, include_live=True, here=here, start_of=start_of))
    assert len(result.images) == 3
    assert api.image_refs == ()
    assert api.names == ()


def test_an_image_named_by_the_compose_file_stays_only_its_older_builds_go() -> None:
    """`image: shop/api:1` beside `build:`: the name is the user's; even --all removes only its untagged builds."""
    api = FakeDockerResources()
    api.add_image("sha256:named", "shop/api:1", env="dev", owner=GONE, named=True)
    api.add_image("sha256:older", "shop/api:1", tagged=False, env="dev", owner=GONE, named=True)
    for include_live in (False, True):
        plan = plan_cleanup(api, include_live=include_live, here=here, start_of=start_of)
        assert [j.image.ref for j in plan.doomed_images] == ["sha256:older"]
    kept = next(j for j in plan.images if j.image.ref == "sha256:named")
    assert kept.reason() == "the compose file's own image name: only its older builds are removed"
    carry_out(api, plan)
    assert api.image_refs == ("sha256:named",)


def test_remove_old_builds_removes_only_unused_untagged_builds_of_the_environment() -> None:
    """After a build moved the tag: older builds of that environment go unless a container uses them."""
    api = FakeDockerResources()
    api.add_image("sha256:cur", TAG, env="dev", owner=LIVE)
    api.add_image("sha256:old", TAG, tagged=False, env="dev")
    api.add_image("sha256:used", TAG, tagged=False, env="dev")
    api.add_image("sha256:other", "athalia/x-1a2b3c-web:qa", tagged=False, env="qa")
    api.add(Kind.CONTAINER, "athalia-dev-main-p202-cccccc-web-1", "athalia-dev-main-p202-cccccc", image="sha256:used")
    assert [i.ref for i in remove_old_builds(api, "dev")] == ["sha256:old"]
    assert sorted(api.image_refs) == ["sha256:cur", "sha256:other", "sha256:used"]


def test_image_describe() -> None:
    """An image is named by its tag, an older build by its id and the tag it had."""
    assert Image("sha256:0123456789abcdef", (TAG,), TAG).describe() == f"image {TAG} (0123456789ab)"
    assert Image("sha256:0123456789abcdef", (), TAG).describe() == f"image 0123456789ab (an older build of {TAG})"
    assert Image("sha256:1", ("mine:1", TAG), TAG).removal_ref == TAG
    assert Image("sha256:1", ("mine:1",), TAG).removal_ref == "sha256:1"


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


def _folder(root: Path, name: str, owner: RunOwner | None) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "rollout.yml").write_text("services: {}\n", encoding="utf-8")
    write_owner_file(folder, owner)
    return folder


def test_sweep_files_removes_only_folders_of_provably_dead_owners(tmp_path: Path) -> None:
    """Folders of dead runs go; live, other-namespace, ownerless and foreign folders stay (/tmp is shared)."""
    dead = _folder(tmp_path, "athalia-dev-main-p303-abcdef-x1y2z3", GONE)
    live = _folder(tmp_path, "athalia-dev-main-p202-abcdef-q1w2e3", LIVE)
    far = _folder(tmp_path, "athalia-dev-main-p404-abcdef-r1t2y3", FOREIGN)
    ownerless = _folder(tmp_path, "athalia-dev-main-p111-abcdef-a1b2c3", None)
    foreign = _folder(tmp_path, "something-else", GONE)
    removed = sweep_files(tmp_path, here=here, start_of=start_of, pid_alive=lambda pid: True)
    assert removed == (dead,)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (live, far, ownerless, foreign))


def test_sweep_files_with_a_prefix_leaves_other_environments(tmp_path: Path) -> None:
    """`athalia cleanup --env dev` removes only dev's folders."""
    dev = _folder(tmp_path, "athalia-dev-main-p303-abcdef-x1y2z3", GONE)
    _folder(tmp_path, "athalia-qa-main-p303-abcdef-x1y2z3", GONE)
    assert sweep_files(tmp_path, here=here, start_of=start_of, prefix="athalia-dev-") == (dev,)


def test_sweep_files_dry_run_lists_without_removing(tmp_path: Path) -> None:
    """`athalia cleanup --dry-run` lists a dead run's folder and old log, and both stay."""
    dead, log = _folder(tmp_path, "athalia-dev-main-p303-abcdef-x1y2z3", GONE), tmp_path / "watchdog-111.log"
    log.write_text("gone\n", encoding="utf-8")
    os.utime(log, (0, 0))
    found = sweep_files(
        tmp_path, pid_alive=lambda pid: False, here=here, start_of=start_of, now=10 * 24 * 3600.0, dry_run=True
    )
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


def test_remove_old_builds_by_name_takes_another_environments_older_build_of_a_shared_name() -> None:
    """A compose file's image name is shared by environments: a run removes every unused older build of it."""
    api = FakeDockerResources()
    api.add_image("sha256:cur", "shop/api:1", env="dev", owner=LIVE, named=True)
    api.add_image("sha256:qa-old", "shop/api:1", tagged=False, env="qa", named=True)
    api.add_image("sha256:other", "shop/web:1", tagged=False, env="qa", named=True)
    assert [i.ref for i in remove_old_builds(api, names={"shop/api:1"})] == ["sha256:qa-old"]
    assert sorted(api.image_refs) == ["sha256:cur", "sha256:other"]
