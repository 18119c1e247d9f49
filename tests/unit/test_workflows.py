"""The GitHub Actions workflows: actionlint (with shellcheck on the `run:` scripts) finds nothing, and deploy.yml
gates staging then production with the suites."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from pytest_athalia.testing import unavailable

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def actionlint() -> str:
    """The actionlint binary: the dev extra's wheel puts it beside this Python, else one on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.is_file() else shutil.which("actionlint")
    if found is None:
        unavailable("actionlint is not installed (pip install -e '.[dev]' brings it)")
    return found


def lint(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-no-color", *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )


def workflow(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    return data


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    """Every workflow passes actionlint: syntax, expressions, action versions, and shellcheck where installed."""
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [p.name for p in files] == ["deploy.yml", "main.yml", "quality.yml"]
    proc = lint(ROOT, *map(str, files))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_and_shellcheck_catch_a_broken_workflow(tmp_path: Path) -> None:
    """The check can fail: a bad expression and an unquoted variable in a script are both reported."""
    if shutil.which("shellcheck") is None:
        unavailable("shellcheck is not installed (Debian: apt-get install shellcheck; .ci/run installs it)")
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "bad.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.no_such_thing }}\n"
        "      - run: pytest $SUITES\n",
        encoding="utf-8",
    )
    proc = lint(tmp_path, str(folder / "bad.yml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no_such_thing" in proc.stdout
    assert "SC2086" in proc.stdout


def test_deploy_gates_staging_then_production_with_the_suites() -> None:
    """Each job runs the suites with --athalia-env and --junitxml, then uploads reports/ even after a failure."""
    jobs = workflow("deploy.yml")["jobs"]
    assert list(jobs) == ["staging", "production"]
    assert jobs["production"]["needs"] == "staging"
    for env, job in jobs.items():
        assert job["environment"]["name"] == env
        runs = [step.get("run", "") for step in job["steps"]]
        gate = next(r for r in runs if "pytest" in r)
        assert f"--athalia-env={env}" in gate
        assert "--junitxml=reports/junit.xml" in gate
        assert "athalia report" in " ".join(runs)
        upload = next(step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact"))
        assert upload["with"]["path"] == "reports/"
        assert upload["if"] == "${{ !cancelled() }}"


def test_main_runs_make_test_with_coverage_and_quality_runs_each_linter() -> None:
    """main.yml: `make test` with pytest-cov; quality.yml: ruff, mypy and Bandit jobs."""
    steps = workflow("main.yml")["jobs"]["test"]["steps"]
    command = next(step["run"] for step in steps if "run" in step)
    assert command.startswith("make test")
    assert "--cov=pytest_athalia" in command
    runs = {
        name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in workflow("quality.yml")["jobs"].items()
    }
    assert "ruff check" in runs["ruff"]
    assert "ruff format --check" in runs["ruff"]
    assert "mypy" in runs["mypy"]
    assert "bandit -q -r pytest_athalia -ll" in runs["bandit"]


def _doc_yaml(start: str) -> Any:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    return yaml.safe_load(next(b for b in blocks if b.startswith(start)))


def test_docs_ci_shows_the_deploy_workflow_as_it_is() -> None:
    """docs/ci.md's GitHub example is deploy.yml itself (comments aside), so it passes the same actionlint."""
    assert _doc_yaml("name: deploy") == workflow("deploy.yml")


def test_docs_ci_gitlab_example_uploads_the_junit_report_and_gates_production_after_staging() -> None:
    """The .gitlab-ci.yml example: artifacts:reports:junit and reports/ kept always; production needs staging."""
    gitlab = _doc_yaml("stages:")
    assert gitlab["stages"] == ["staging", "production"]
    gates = gitlab[".gates"]
    assert gates["artifacts"]["reports"]["junit"] == "reports/junit.xml"
    assert gates["artifacts"]["when"] == "always"
    assert "reports/" in gates["artifacts"]["paths"]
    assert '--athalia-env="$ATHALIA_ENV" --junitxml=reports/junit.xml' in gates["script"][0]
    assert gitlab["production"]["needs"] == ["staging"]
    assert gitlab["production"]["when"] == "manual"
    for env in ("staging", "production"):
        assert gitlab[env]["extends"] == ".gates"
        assert gitlab[env]["environment"]["name"] == env
