"""Who ran what, where: the ``run`` section of the JSON report, pure over the environment variables.

Every value is read from a mapping of environment variables (CI systems say which commit and job
run), the facts the runtime hands over (environment, candidate, times, exit status) and, for a local
run, a :class:`GitLookup` (``git rev-parse`` in the rootdir; :class:`FakeGit` in tests). What is not
known is ``None``: a missing ``git`` or a folder that is no checkout is never an error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "STATUSES",
    "CandidateFacts",
    "FakeGit",
    "GitCLI",
    "GitLookup",
    "StartupFacts",
    "candidate_info",
    "ci_info",
    "exit_code",
    "git_info",
    "rfc3339",
    "run_identity",
    "run_status",
    "version_of",
]

_GIT_TIMEOUT_S = 5.0


class GitLookup(Protocol):
    """The commit and branch of a checkout; None when unknown (no git, no checkout, detached HEAD)."""

    def commit(self) -> str | None: ...

    def branch(self) -> str | None: ...


@dataclass(frozen=True)
class FakeGit:
    """A :class:`GitLookup` with fixed answers."""

    commit_sha: str | None = None
    branch_name: str | None = None

    def commit(self) -> str | None:
        return self.commit_sha

    def branch(self) -> str | None:
        return self.branch_name


@dataclass(frozen=True)
class GitCLI:
    """``git rev-parse`` in `root`; every failure (no git, no checkout, a timeout) is None."""

    root: Path
    git: str | None = None  # default: `git` on PATH

    def _ask(self, *args: str) -> str | None:
        exe = self.git or shutil.which("git")
        if exe is None or not self.root.is_dir():
            return None
        try:
            done = subprocess.run(  # fixed arguments, no shell
                [exe, "-C", str(self.root), "rev-parse", *args],
                capture_output=True,
                text=True,
                timeout=_GIT_TIMEOUT_S,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        out = done.stdout.strip()
        return out if done.returncode == 0 and out else None

    def commit(self) -> str | None:
        return self._ask("HEAD")

    def branch(self) -> str | None:
        name = self._ask("--abbrev-ref", "HEAD")
        return None if name == "HEAD" else name  # "HEAD": detached, no branch


@dataclass(frozen=True)
class CandidateFacts:
    """What the environment says of the release: the candidate's image and variables, and the live stack's."""

    image: str | None = None
    env: Mapping[str, str] | None = None
    live_env: Mapping[str, str] | None = None  # stack.env: compose's interpolation variables of the live version


@dataclass(frozen=True)
class StartupFacts:
    project: str
    build_s: float | None
    startup_s: float | None
    deadline_s: float
    error: str | None


# Variables that name a version, best first; then any other *_VERSION.
_VERSION_KEYS = ("APP_VERSION", "VERSION", "IMAGE_TAG", "TAG")


def version_of(env: Mapping[str, str] | None, image: str | None = None) -> str | None:
    """The version a set of variables or an image names: ``APP_VERSION``, ``VERSION``, ``*_VERSION``, else the tag.

    A value that is still a reference (``${env:X}``, ``${file:...}``) names nothing we may show.
    """
    plain = {k: v for k, v in (env or {}).items() if isinstance(v, str) and v and "${" not in v}
    for key in _VERSION_KEYS:
        if key in plain:
            return plain[key]
    others = sorted(k for k in plain if k.endswith("_VERSION"))
    if others:
        return plain[others[0]]
    return _tag(image) if image else None


def _tag(image: str) -> str | None:
    # registry:5000/app:1.1.0@sha256:... -> 1.1.0; a port is not a tag (no slash after the colon).
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def candidate_info(facts: CandidateFacts | None) -> dict[str, Any]:
    if facts is None:
        return {"version": None, "image": None, "previous": None}
    return {
        "version": version_of(facts.env, facts.image),
        "image": facts.image,
        "previous": version_of(facts.live_env),
    }


def git_info(environ: Mapping[str, str], git: GitLookup) -> dict[str, Any]:
    """GitHub Actions' and GitLab CI's variables first; else ask `git` (a local run)."""
    commit = environ.get("GITHUB_SHA") or environ.get("CI_COMMIT_SHA") or None
    branch = environ.get("GITHUB_REF_NAME") or environ.get("CI_COMMIT_REF_NAME") or None
    if commit is None:
        commit = git.commit()
    if branch is None:
        branch = git.branch()
    return {"commit": commit, "branch": branch}


def ci_info(environ: Mapping[str, str]) -> dict[str, Any]:
    """The CI provider, job and the URL of its run: GitHub Actions, GitLab CI, or all None (a local run)."""
    if environ.get("GITHUB_ACTIONS") == "true":
        workflow, job = environ.get("GITHUB_WORKFLOW", ""), environ.get("GITHUB_JOB", "")
        server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        repo, run_id = environ.get("GITHUB_REPOSITORY", ""), environ.get("GITHUB_RUN_ID", "")
        return {
            "provider": "github-actions",
            "job": "/".join(p for p in (workflow, job) if p) or None,
            "url": f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else None,
        }
    if environ.get("GITLAB_CI") == "true":
        return {
            "provider": "gitlab-ci",
            "job": environ.get("CI_JOB_NAME") or None,
            "url": environ.get("CI_JOB_URL") or None,
        }
    return {"provider": None, "job": None, "url": None}


STATUSES = ("passed", "failed", "interrupted", "error")  # a run's status, as run_status gives it


def run_status(exit_status: int) -> str:
    """pytest's exit status in a word: 0 passed, 1 failed (tests failed), 2 interrupted, else error."""
    return {0: "passed", 1: "failed", 2: "interrupted"}.get(exit_status, "error")


def rfc3339(ts: float) -> str:
    """Unix seconds as RFC 3339 in UTC with milliseconds: ``2026-12-05T06:11:12.123Z``."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_identity(
    *,
    environ: Mapping[str, str],
    git: GitLookup,
    environment: str | None,
    environment_file: str | None,
    candidate: CandidateFacts | None,
    host: str,
    started: float,
    finished: float,
    exit_status: int,
    startup: StartupFacts | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The report's ``run`` section, in the schema's order (docs/reports.md)."""
    return {
        "id": run_id or uuid.uuid4().hex,
        "environment": environment,
        "environment_file": environment_file,
        "candidate": candidate_info(candidate),
        "git": git_info(environ, git),
        "ci": ci_info(environ),
        "host": host,
        "started_at": rfc3339(started),
        "finished_at": rfc3339(finished),
        "duration_s": round(max(0.0, finished - started), 3),
        "exit_status": exit_status,
        "status": run_status(exit_status),
        "startup": None
        if startup is None
        else {
            "project": startup.project,
            "build_s": startup.build_s,
            "startup_s": startup.startup_s,
            "deadline_s": startup.deadline_s,
            "error": startup.error or None,
        },
    }


def exit_code(exitstatus: int | str) -> int:
    """pytest hands an ExitCode (an int) or, from some plugins, text: an int either way (unknown: 3, error)."""
    if isinstance(exitstatus, int):
        return int(exitstatus)
    match = re.fullmatch(r"\s*(\d+)\s*", str(exitstatus))
    return int(match.group(1)) if match else 3
