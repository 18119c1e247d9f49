"""Two runs on one Docker daemon in two PID namespaces (CI jobs in containers sharing the host's socket).

Run A holds its stack in one namespace; run B starts in another. Each namespace is made with
``unshare --pid --fork --mount-proc``, so pids restart at 1 in each: A's pytest is pid 2, B's is
pid 3, and pid 2 does not exist in B's namespace. A sweep that judged A by the pid in its project
name (``...-p2-...``) would find it dead and remove A's live stack; the owner labels say it lives
elsewhere, so B must leave it alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from pytest_athalia.testing import unavailable

from .test_lifecycle import (
    SWEEP_LINE,
    Tiny,
    _docker,
    leftovers,
    tiny_fixture,  # noqa: F401 (registers the `tiny` fixture here)
)

pytestmark = pytest.mark.docker

# A new PID namespace each; --kill-child: killing unshare (the test's cleanup) kills the whole namespace.
UNSHARE = ("unshare", "--pid", "--fork", "--mount-proc", "--kill-child")
AS_PID_2 = (*UNSHARE, "sh", "-c", '"$@"; exit $?', "sh")  # sh is pid 1, pytest pid 2
AS_PID_3 = (*UNSHARE, "sh", "-c", '/bin/true; "$@"; exit $?', "sh")  # /bin/true takes pid 2, pytest gets 3


def _owners(project: str) -> list[dict[str, str]]:
    """The owner labels of each container, network and volume of `project`."""
    found = []
    for kind, listing, template in (
        ("container", ("ps", "--all", "--quiet"), "{{json .Config.Labels}}"),
        ("network", ("network", "ls", "--quiet"), "{{json .Labels}}"),
        ("volume", ("volume", "ls", "--quiet"), "{{json .Labels}}"),
    ):
        refs = _docker(*listing, "--filter", f"label=com.docker.compose.project={project}").split()
        assert refs, f"no {kind} of {project}"
        inspect = ("inspect",) if kind == "container" else (kind, "inspect")
        for line in _docker(*inspect, "--format", template, *refs).splitlines():
            labels = json.loads(line)
            found.append({k: v for k, v in labels.items() if k.startswith("dev.athalia.owner.")})
    return found


def _containers(project: str) -> list[str]:
    """Ids of the running containers of `project`."""
    out = _docker("ps", "--filter", f"label=com.docker.compose.project={project}", "--format", "{{.ID}}")
    return sorted(out.split())


@pytest.fixture
def unshare() -> None:
    """Skip (fail under CI=true) where no PID namespace can be made."""
    if shutil.which("unshare") is None:
        unavailable("the two-namespace test needs util-linux's `unshare`")
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        unavailable(f"cannot make a PID namespace here (needs root or CAP_SYS_ADMIN): {probe.stderr.strip()}")


@pytest.mark.usefixtures("unshare")
def test_a_run_in_another_pid_namespace_leaves_a_live_stack_alone(tiny: Tiny) -> None:
    """B's start-up sweep in its own PID namespace never touches A's live stack; A then passes."""
    a = tiny.start("test_inner.py::test_waits_for_go", wrap=AS_PID_2)
    a.wait_for(lambda: (a.out / "waiting").exists(), "run A holding its stack")
    project_a = a.project_of("test_waits_for_go")
    assert "-main-p2-" in project_a, f"A should be pid 2 in its namespace: {project_a}"
    before = _containers(project_a)
    assert len(before) == 2, f"A's web and worker should run: {before}\n{a.details()}"
    owners = _owners(project_a)  # 2 containers, the network, the volume: one owner, A's pid 2 in its namespace
    assert len(owners) == 4, owners
    assert all(owner == owners[0] for owner in owners), owners
    assert owners[0]["dev.athalia.owner.pid"] == "2", owners[0]
    assert owners[0]["dev.athalia.owner.pidns"] != str(os.stat("/proc/self/ns/pid").st_ino), owners[0]

    b, code_b = tiny.run("test_inner.py::test_ok", wrap=AS_PID_3)

    assert code_b == 0, b.details()
    assert "-main-p3-" in b.project_of("test_ok"), "B should be pid 3, where pid 2 does not exist"
    assert f"{SWEEP_LINE}: {project_a}" not in b.output(), b.details()
    assert _containers(project_a) == before, f"B's start-up touched A's stack.\n{b.details()}"
    # Seen from a third namespace (this one), A is owned elsewhere too: listed as left, not removed.
    dry_run = subprocess.run(
        [sys.executable, "-m", "pytest_athalia._cli", "cleanup", "--dry-run", "--env", tiny.env_file.stem],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"left {project_a}: owned by another host or PID namespace" in dry_run.stdout, dry_run.stdout

    (a.out / "go").write_text("")
    code_a = a.wait()

    assert code_a == 0, a.details()
    assert leftovers(tiny.prefix) == [], a.details()
