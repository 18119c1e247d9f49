"""`athalia history`: the runs and rates per environment, from the store the plugin writes (a real SQLite file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_athalia._cli import main
from pytest_athalia.history import open_history
from tests.support.reports import check, v2_report


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Function: reports/history.sqlite in a project folder (the cwd) with runs on dev, staging and none.

    dev: a drill (passed, rolled back on purpose: not counted), a release a gate rolled back, an interrupted run.
    """
    monkeypatch.chdir(tmp_path)
    for name in ("ATHALIA_HISTORY", "ATHALIA_REPORT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    path = tmp_path / "reports" / "history.sqlite"
    with open_history(str(path)) as history:
        history.append(v2_report(run_id="a" * 32, started_at="2026-12-01T00:00:00Z", rollback="automatic"))
        history.append(
            v2_report(
                run_id="b" * 32,
                started_at="2026-12-02T00:00:00Z",
                status="failed",
                rollback="automatic",
                extra_checks=[check("error_rate", 3.0, "%", threshold=1, verdict="fail")],
            )
        )
        history.append(v2_report(run_id="c" * 32, started_at="2026-12-03T00:00:00Z", status="interrupted"))
        history.append(v2_report(run_id="d" * 32, environment="staging", deploy_s=None))
        history.append(v2_report(run_id="e" * 32, environment=None))
    return path


def test_lists_runs_and_rates_per_environment(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default store beside the report; per environment its rates, then its runs oldest first."""
    assert main(["history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"history {store}"
    assert "dev: 3 run(s), success 50% (1/2), rollback 50% (1/2), 1 interrupted:" in lines
    assert "staging: 1 run(s), success 100% (1/1), rollback 0% (0/1):" in lines
    assert "(no environment): 1 run(s), success 100% (1/1), rollback 0% (0/1):" in lines
    dev = lines[lines.index("dev: 3 run(s), success 50% (1/2), rollback 50% (1/2), 1 interrupted:") + 1 :][:4]
    assert dev[0].split() == ["started", "(UTC)", "run", "version", "status", "deploy", "switch", "rollback", "gates"]
    assert dev[1].split()[:11] == [
        *("2026-12-01", "00:00:00", "aaaaaaaa", "1.1.0", "passed"),
        *("8.4", "s", "1.4", "ms", "3.2", "ms"),  # the drill's rollback is timed, though not counted
    ]
    assert "3.2 ms" in dev[2]
    assert "5 passed, 1 failed" in dev[2]
    assert "interrupted" in dev[3]
    assert any("8.1 s (startup)" in line for line in lines)


def test_env_limit_and_json(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--env dev --limit 2 --json: the last two runs of dev, oldest first, and dev's rates."""
    assert main(["history", "--env", "dev", "--limit", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["store"] == str(store)
    [dev] = data["environments"]
    assert [r["run_id"][0] for r in dev["runs"]] == ["b", "c"]
    assert (dev["completed"], dev["rolled_back"]) == (2, 1)  # the drill (run a) is not a rollback
    assert (dev["environment"], dev["runs"][0]["rollback_ms"], dev["runs"][0]["rolled_back"]) == ("dev", 3.2, True)
    assert dev["runs"][0]["started_at"] == "2026-12-02T00:00:00.000Z"
    assert (dev["success_rate"], dev["rollback_rate"], dev["interrupted"]) == (0.5, 0.5, 1)


def test_the_variable_names_the_store(store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ATHALIA_HISTORY moves it: an SQLite file that does not exist is an error, and is not created."""
    monkeypatch.setenv("ATHALIA_HISTORY", "elsewhere.sqlite")
    assert main(["history"]) == 2
    assert not (tmp_path / "elsewhere.sqlite").exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--env", "prod"], "has no run of environment 'prod' (environments: dev, staging, (none)); check --env"),
        (["--limit", "0"], "--limit is 0; give a number of runs of 1 or more"),
        (["--history", "nothere.sqlite"], "there is no history at"),
        (["--history", "off"], "history is off (from athalia history --history)"),
    ],
)
def test_errors_are_one_paragraph_and_status_2(
    store: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    """A wrong --env, --limit or store: exit status 2, one paragraph on stderr, no traceback."""
    assert main(["history", *args]) == 2
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err


def test_an_empty_store_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store with no run yet: no runs recorded, status 0."""
    path = tmp_path / "h.sqlite"
    open_history(str(path)).close()
    assert main(["history", "--history", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"history {path}", "no runs recorded"]
