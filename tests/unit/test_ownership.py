"""ownership: the owner labels of a run, and the verdict on resources found on a shared daemon."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_athalia.stack import _ownership as ownership
from pytest_athalia.stack._ownership import (
    OWNER_LABELS,
    UNREADABLE,
    Place,
    RunOwner,
    Verdict,
    judge,
    owner_from_labels,
    process_start,
    this_place,
    this_run,
)

HERE = Place("m1", "boot-1", 4026531836)


def starts(table: dict[int, int]) -> Callable[[int], int | None]:
    """`start_of` for judge(): the start time of each live pid in `table`."""
    return lambda pid: table.get(pid)


OWNER = RunOwner(HERE, 4242, 1000, "ci-7")


def test_owner_round_trips_through_its_labels() -> None:
    """The labels written on resources parse back to the same owner."""
    labels = OWNER.labels()
    assert set(labels) == set(OWNER_LABELS)
    assert owner_from_labels(labels) == OWNER


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"dev.athalia.owner.pid": "x"},
        {"dev.athalia.owner.boot": ""},
        {"dev.athalia.owner.pid": "0"},
        {"dev.athalia.owner.pidns": "-1"},
        {"dev.athalia.owner.start": ""},
    ],
)
def test_incomplete_or_malformed_labels_name_no_owner(broken: dict[str, str]) -> None:
    """A resource whose owner labels are missing or malformed has no owner, so no sweep judges it dead."""
    labels = {**OWNER.labels(), **broken} if broken else {}
    assert owner_from_labels(labels) is None


def test_judge_same_place_same_process_is_alive() -> None:
    """The owner's pid runs here with the recorded start time: alive."""
    assert judge(OWNER, HERE, starts({4242: 1000})) is Verdict.ALIVE


def test_judge_same_place_pid_gone_is_dead() -> None:
    """The owner's pid does not exist in our namespace (or is a zombie): dead."""
    assert judge(OWNER, HERE, starts({})) is Verdict.DEAD


def test_judge_reused_pid_is_dead() -> None:
    """A process with the owner's pid but another start time is someone else: the owner is dead."""
    assert judge(OWNER, HERE, starts({4242: 999_999})) is Verdict.DEAD


def test_judge_a_running_pid_whose_start_time_is_hidden_is_alive() -> None:
    """A pid that runs but whose /proc entry we cannot read (hidepid) is not provably dead."""
    assert judge(OWNER, HERE, starts({4242: UNREADABLE})) is Verdict.ALIVE


def test_process_start_of_a_hidden_process_is_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc/<pid>/stat unreadable while kill(pid, 0) finds the process: UNREADABLE, not gone."""
    monkeypatch.setattr(ownership, "proc_stat", lambda pid: None)
    assert process_start(os.getpid()) == UNREADABLE
    assert process_start(2**22 + 1) is None


@pytest.mark.parametrize(("state", "expected"), [("S", 1234), ("Z", None)])
def test_process_start_reads_field_22_and_a_zombie_is_dead(
    monkeypatch: pytest.MonkeyPatch, state: str, expected: int | None
) -> None:
    """Field 22 of /proc/<pid>/stat is the start time; a zombie pytest counts as gone."""
    fields = [state, *["0"] * 18, "1234", "0"]  # fields 3..23 of /proc/<pid>/stat
    monkeypatch.setattr(ownership, "proc_stat", lambda pid: fields)
    assert process_start(os.getpid()) == expected


@pytest.mark.parametrize(
    "elsewhere",
    [
        Place("m1", "boot-1", 4026532000),  # another PID namespace (a CI job in a container)
        Place("m1", "boot-2", 4026531836),  # another boot
        Place("m2", "boot-1", 4026531836),  # another machine id
        Place("", "boot-1", 4026531836),
    ],
)
def test_judge_another_place_is_never_dead(elsewhere: Place) -> None:
    """Owned in another namespace, boot or machine: left alone even when the pid is free here."""
    owner = RunOwner(elsewhere, 4242, 1000)
    assert judge(owner, HERE, starts({})) is Verdict.ELSEWHERE


def test_judge_without_owner_or_without_a_place_of_our_own() -> None:
    """No owner labels: unknown; no readable place of our own: nothing is judged dead."""
    assert judge(None, HERE, starts({})) is Verdict.UNKNOWN
    assert judge(OWNER, None, starts({})) is Verdict.ELSEWHERE


def test_this_run_describes_this_process() -> None:
    """Here (Linux with /proc) the owner is this process, with its real start time."""
    owner = this_run()
    assert owner is not None
    assert owner.pid == os.getpid()
    assert owner.start == process_start(os.getpid())
    assert owner.place == this_place()
    assert judge(owner, this_place(), process_start) is Verdict.ALIVE


def test_process_start_of_a_free_pid_is_none() -> None:
    """A pid above Linux's pid_max names no process."""
    assert process_start(2**22 + 1) is None


def _fake_proc(root: Path, self_pid: int, boot: str = "b00t") -> Path:
    (root / "sys/kernel/random").mkdir(parents=True)
    (root / "sys/kernel/random/boot_id").write_text(boot + "\n")
    (root / "self/ns").mkdir(parents=True)
    (root / "self/ns/pid").write_text("")
    (root / "self/stat").write_text(f"{self_pid} (python) S 1 1 1 0 -1\n")
    return root


def test_this_place_reads_machine_boot_and_namespace(tmp_path: Path) -> None:
    """The machine id comes from the first non-empty file; boot id and namespace inode from /proc."""
    proc = _fake_proc(tmp_path / "proc", os.getpid())
    empty, machine = tmp_path / "empty-id", tmp_path / "machine-id"
    empty.write_text("\n")
    machine.write_text("abc123\n")
    place = this_place(proc, (str(tmp_path / "missing"), str(empty), str(machine)))
    assert place == Place("abc123", "b00t", os.stat(proc / "self/ns/pid").st_ino)
    assert this_place(proc, ()) == Place("", "b00t", os.stat(proc / "self/ns/pid").st_ino)


def test_this_place_refuses_a_proc_of_another_namespace(tmp_path: Path) -> None:
    """/proc/self naming another pid (unshare --pid without --mount-proc) means liveness cannot be read."""
    assert this_place(_fake_proc(tmp_path / "proc", os.getpid() + 1), ()) is None


def test_this_place_without_proc_is_none(tmp_path: Path) -> None:
    """No /proc (macOS): no place, so sweeps judge nothing dead."""
    assert this_place(tmp_path / "nothing", ()) is None
    assert this_place(_fake_proc(tmp_path / "proc", os.getpid(), boot=""), ()) is None
