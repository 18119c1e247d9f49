"""The run's identity: environment, candidate, git, CI job and URL, times and status, from the environment variables."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_athalia.report._identity import (
    CandidateFacts,
    FakeGit,
    GitCLI,
    StartupFacts,
    ci_info,
    exit_code,
    git_info,
    rfc3339,
    run_identity,
    run_status,
    version_of,
)
from pytest_athalia.testing import unavailable

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_WORKFLOW": "deploy",
    "GITHUB_JOB": "staging",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "o/r",
    "GITHUB_RUN_ID": "1",
    "GITHUB_SHA": "08a51f1c0ffee",
    "GITHUB_REF_NAME": "main",
}
GITLAB = {
    "GITLAB_CI": "true",
    "CI_JOB_NAME": "deploy:staging",
    "CI_JOB_URL": "https://gitlab.com/o/r/-/jobs/7",
    "CI_COMMIT_SHA": "abc123",
    "CI_COMMIT_REF_NAME": "release/1.1",
}
NO_GIT = FakeGit(None, None)


def test_github_actions_gives_provider_job_url_commit_and_branch() -> None:
    """GitHub Actions: job is workflow/job, the URL is the run's page, commit and branch from GITHUB_SHA/REF_NAME."""
    assert ci_info(GITHUB) == {
        "provider": "github-actions",
        "job": "deploy/staging",
        "url": "https://github.com/o/r/actions/runs/1",
    }
    assert git_info(GITHUB, FakeGit("local", "local-branch")) == {"commit": "08a51f1c0ffee", "branch": "main"}


def test_gitlab_ci_gives_provider_job_url_commit_and_branch() -> None:
    """GitLab CI: CI_JOB_NAME, CI_JOB_URL, CI_COMMIT_SHA and CI_COMMIT_REF_NAME."""
    assert ci_info(GITLAB) == {
        "provider": "gitlab-ci",
        "job": "deploy:staging",
        "url": "https://gitlab.com/o/r/-/jobs/7",
    }
    assert git_info(GITLAB, NO_GIT) == {"commit": "abc123", "branch": "release/1.1"}


def test_a_local_run_has_no_ci_and_asks_git() -> None:
    """No CI variables: provider, job and url are null; commit and branch come from the git lookup."""
    assert ci_info({}) == {"provider": None, "job": None, "url": None}
    assert git_info({}, FakeGit("deadbeef", "feature")) == {"commit": "deadbeef", "branch": "feature"}
    assert git_info({}, NO_GIT) == {"commit": None, "branch": None}


def test_github_without_repository_or_run_id_has_no_url() -> None:
    """A URL is only built from a repository and a run id; otherwise it is null, never half an address."""
    assert ci_info({"GITHUB_ACTIONS": "true"}) == {"provider": "github-actions", "job": None, "url": None}


@pytest.mark.parametrize(
    ("env", "image", "version"),
    [
        ({"APP_VERSION": "1.1.0"}, None, "1.1.0"),
        ({"VERSION": "2", "APP_VERSION": "1.1.0"}, None, "1.1.0"),
        ({"API_VERSION": "3"}, "app:9", "3"),
        ({}, "registry:5000/team/app:1.2.0", "1.2.0"),
        ({}, "app:1.2.0@sha256:abc", "1.2.0"),
        ({}, "registry:5000/app", None),
        ({"APP_VERSION": "${env:SECRET}"}, None, None),
        (None, None, None),
    ],
)
def test_version_of_reads_version_variables_then_the_image_tag(
    env: dict[str, str] | None, image: str | None, version: str | None
) -> None:
    """APP_VERSION, VERSION, any *_VERSION, else the image's tag (never a registry port); references name nothing."""
    assert version_of(env, image) == version


@pytest.mark.parametrize(
    ("code", "status"), [(0, "passed"), (1, "failed"), (2, "interrupted"), (3, "error"), (4, "error"), (5, "error")]
)
def test_run_status_from_the_exit_code(code: int, status: str) -> None:
    """0 passed, 1 failed, 2 interrupted; internal, usage errors and no tests are errors."""
    assert run_status(code) == status


@pytest.mark.parametrize(("value", "code"), [(0, 0), (pytest.ExitCode.INTERRUPTED, 2), ("1", 1), ("odd", 3)])
def test_exit_code_is_always_an_int(value: int | str, code: int) -> None:
    """pytest's ExitCode or a plugin's text become an int; text that is no number is an internal error."""
    assert exit_code(value) == code
    assert type(exit_code(value)) is int


def test_rfc3339_is_utc_with_milliseconds_and_z() -> None:
    """Timestamps are RFC 3339 in UTC, ending in Z."""
    assert rfc3339(1_800_000_000.1234) == "2027-01-15T08:00:00.123Z"


def test_run_identity_has_every_field_in_order() -> None:
    """The run section: id, environment, candidate (version, image, previous), git, ci, times, status, startup."""
    run = run_identity(
        environ=GITHUB,
        git=NO_GIT,
        environment="staging",
        environment_file="demo/environments/staging.yml",
        candidate=CandidateFacts("athalia-demo/app:1.1.0", {}, {"APP_VERSION": "1.0.0"}),
        host="runner-1",
        started=1_800_000_000.0,
        finished=1_800_000_230.25,
        exit_status=1,
        startup=StartupFacts("athalia-staging-main-p1-abc123", 12.5, 8.1, 120, ""),
        run_id="f" * 32,
    )
    assert run == {
        "id": "f" * 32,
        "environment": "staging",
        "environment_file": "demo/environments/staging.yml",
        "candidate": {"version": "1.1.0", "image": "athalia-demo/app:1.1.0", "previous": "1.0.0"},
        "git": {"commit": "08a51f1c0ffee", "branch": "main"},
        "ci": {"provider": "github-actions", "job": "deploy/staging", "url": "https://github.com/o/r/actions/runs/1"},
        "host": "runner-1",
        "started_at": "2027-01-15T08:00:00.000Z",
        "finished_at": "2027-01-15T08:03:50.250Z",
        "duration_s": 230.25,
        "exit_status": 1,
        "status": "failed",
        "startup": {
            "project": "athalia-staging-main-p1-abc123",
            "build_s": 12.5,
            "startup_s": 8.1,
            "deadline_s": 120,
            "error": None,
        },
    }


def test_run_ids_are_unique() -> None:
    """Without an id given, every run gets a new uuid4 hex."""
    kwargs = dict(environ={}, git=NO_GIT, environment=None, environment_file=None, candidate=None, host="h",
                  started=0.0, finished=1.0, exit_status=0)  # fmt: skip
    first, second = run_identity(**kwargs)["id"], run_identity(**kwargs)["id"]  # type: ignore[arg-type]
    assert first != second
    assert len(first) == 32


def test_git_cli_is_none_outside_a_checkout_and_without_git(tmp_path: Path) -> None:
    """A folder that is no checkout, or a git that does not exist, gives None: never an error."""
    assert GitCLI(tmp_path / "missing").commit() is None
    assert GitCLI(tmp_path, git=str(tmp_path / "no-git")).commit() is None
    if shutil.which("git") is None:
        unavailable("git is not installed")
    assert GitCLI(tmp_path).commit() is None
    assert GitCLI(tmp_path).branch() is None


def test_git_cli_reads_commit_and_branch_of_a_real_checkout(tmp_path: Path) -> None:
    """In a real repository the commit is HEAD's sha and the branch its name; detached HEAD has no branch."""
    git = shutil.which("git")
    if git is None:
        unavailable("git is not installed")
    env = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]

    def run(*args: str) -> str:
        return subprocess.run(
            [git, "-C", str(tmp_path), *env, *args], capture_output=True, text=True, check=True
        ).stdout

    run("init", "-q", "-b", "trunk")
    run("commit", "-q", "--allow-empty", "-m", "first")
    sha = run("rev-parse", "HEAD").strip()
    assert (GitCLI(tmp_path).commit(), GitCLI(tmp_path).branch()) == (sha, "trunk")
    run("checkout", "-q", "--detach")
    assert (GitCLI(tmp_path).commit(), GitCLI(tmp_path).branch()) == (sha, None)
