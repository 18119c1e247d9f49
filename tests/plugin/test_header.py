"""The report header: which environment, from where, which file, compose and engine, and the SLOs."""

from __future__ import annotations

import shutil

import pytest

from .helpers import ENVIRONMENT_YML, Project
from .helpers import project_fixture as project_fixture  # the `project` fixture


def test_header_names_environment_origin_file_and_slo(project: Project) -> None:
    """The header shows the environment, its origin and file, and the SLO line; it runs no docker command."""
    project.environment("staging")
    result = project.pytester.runpytest("--athalia-env", "staging", "--athalia-report", "out/run.json")
    result.stdout.fnmatch_lines(
        [
            f"athalia: environment staging (from --athalia-env), file {project.path / 'environments/staging.yml'}",
            "athalia: provider compose, service app:8000, startup SLO 5s, keep=False, report out/run.json",
        ]
    )
    result.stdout.no_fnmatch_line("*docker engine*")


def test_header_says_where_the_environment_came_from(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment chosen by ATHALIA_ENV and kept by ini athalia_keep is shown with those origins' effects."""
    project.environment("qa")
    project.ini("athalia_keep = true")
    monkeypatch.setenv("ATHALIA_ENV", "qa")
    result = project.pytester.runpytest()
    result.stdout.fnmatch_lines(
        ["athalia: environment qa (from ATHALIA_ENV), file */environments/qa.yml", "*keep=True*"]
    )


def test_header_without_an_environment_says_not_loaded(project: Project) -> None:
    """Without an environments folder the header says no file is loaded and shows no SLO line."""
    project.ini(environments=None)  # a configured folder that is missing would be a usage error
    shutil.rmtree(project.path / "environments")
    result = project.pytester.runpytest()
    result.stdout.fnmatch_lines(["athalia: environment dev (from default), file not loaded"])
    result.stdout.no_fnmatch_line("athalia: provider *")


def test_header_shows_the_environment_name_for_a_path_selection(project: Project) -> None:
    """--athalia-env PATH shows the environment's name (the file's stem), as the JSON artifact does."""
    project.environment("custom", folder="elsewhere")
    result = project.pytester.runpytest("--athalia-env", "elsewhere/custom.yml")
    result.stdout.fnmatch_lines(["athalia: environment custom (from --athalia-env), file */elsewhere/custom.yml"])


def test_header_shows_rollout_load_and_security_settings(project: Project) -> None:
    """An environment with rollout, load and security sections gets one header line for each."""
    (project.path / "locustfile.py").write_text("", encoding="utf-8")
    body = ENVIRONMENT_YML + (
        "rollout: {enabled: true}\n"
        "load: {locustfile: ../locustfile.py, users: 5, duration: 10s, workers: 2, thresholds: ['p95 < 300ms']}\n"
        "security: {trivy: {fail_on: [CRITICAL], require_vulnerability_db: true}}\n"
    )
    project.environment("staging", body)
    result = project.pytester.runpytest("--athalia-env", "staging")
    result.stdout.fnmatch_lines(
        [
            "athalia: rollout blue-green via router athalia/router:2.6, probe * req/s, rollback SLO * ms",
            "athalia: load 5 users for 10s on 2 workers, 1 thresholds + 0 endpoints",
            "athalia: security trivy fail_on [[]CRITICAL[]], vulnerability DB required",
        ]
    )
