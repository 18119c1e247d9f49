"""Secrets resolved from stack.env never reach the terminal, the JUnit XML or the JSON artifact: only ``***``."""

from __future__ import annotations

import secrets

import pytest

from .helpers import ENVIRONMENT_YML, Project, output
from .helpers import project_fixture as project_fixture  # the `project` fixture

WITH_SECRET = ENVIRONMENT_YML.replace(
    "  version_path: /version\n", "  version_path: /version\n  env:\n    SECRET: ${env:ATHALIA_TEST_SECRET}\n"
)


@pytest.fixture
def token(project: Project, monkeypatch: pytest.MonkeyPatch) -> str:
    """Function: a random secret, referenced from dev.yml's stack.env through ATHALIA_TEST_SECRET."""
    value = f"tok{secrets.token_hex(12)}"
    monkeypatch.setenv("ATHALIA_TEST_SECRET", value)
    project.environment("dev", WITH_SECRET)
    return value


def _everything_written(project: Project, result: pytest.RunResult) -> dict[str, str]:
    return {
        "terminal": output(result),
        "junit": (project.path / "junit.xml").read_text(encoding="utf-8"),
        "json": (project.path / "reports" / "athalia.json").read_text(encoding="utf-8"),
    }


def test_secret_in_output_assertion_property_and_logs_is_masked_everywhere(project: Project, token: str) -> None:
    """A failing test that prints, logs, asserts on and records the secret, with it in the logs, shows only ***."""
    project.fake(logs=f"app | starting\napp | connecting with password {token}\napp | ready")
    project.pytester.makepyfile(
        """
        import logging, os

        def test_leaks(athalia_stack, request, athalia_gate):
            token = os.environ["ATHALIA_TEST_SECRET"]
            print(f"printed {token}")
            logging.getLogger("app").warning("logged %s", token)
            request.node.user_properties.append(("leaked", f"property {token}"))
            athalia_gate.check("login", 1.0, limit=2, unit="s", samples=1, window=f"as {token}")
            assert token == "something else"
        """
    )
    result = project.pytester.runpytest("-rA", "--junitxml=junit.xml", "-o", "junit_logging=all")
    result.assert_outcomes(failed=1)
    for where, text in _everything_written(project, result).items():
        assert token not in text, f"the secret leaked into the {where}"
        assert "***" in text, f"nothing was masked in the {where}, so the secret never got there: test is void"
    props = {p.get("name"): p.get("value") for p in project.junit()["test_leaks"].iter("property")}
    assert props["leaked"] == "property ***"
    assert project.measured()["test_leaks"]["athalia.login.window"] == "as ***"
    assert project.checks()["login"]["window"] == "as ***"
    result.stdout.fnmatch_lines(["*athalia: service logs*", "app | connecting with password ***"])


def test_secret_in_a_startup_error_is_masked_everywhere(project: Project, token: str) -> None:
    """A startup error that quotes the secret is masked in the gate failure, the setup errors and the JSON run."""
    project.fake(error=f"compose up failed: bad password {token}", startup_seconds=None)
    project.pytester.makepyfile(
        """
        def test_startup(athalia_stack_startup, athalia_gate):
            athalia_gate.check("startup", None, limit=5, unit="s", samples=0, detail=athalia_stack_startup.error)

        def test_needs_stack(athalia_stack):
            pass
        """
    )
    result = project.pytester.runpytest("--junitxml=junit.xml")
    result.assert_outcomes(failed=1, errors=1)
    for where, text in _everything_written(project, result).items():
        assert token not in text, f"the secret leaked into the {where}"
        assert "***" in text, f"nothing was masked in the {where}, so the secret never got there: test is void"
    assert project.report()["run"]["startup"]["error"] == "compose up failed: bad password ***"


def test_secret_in_a_skip_reason_is_masked_without_breaking_the_run(project: Project, token: str) -> None:
    """A skip whose reason holds the secret is reported as a skip, with the reason masked."""
    project.pytester.makepyfile(
        """
        import os, pytest

        def test_skips(athalia_stack):
            pytest.skip(f"no access with {os.environ['ATHALIA_TEST_SECRET']}")
        """
    )
    result = project.pytester.runpytest("-rs", "--junitxml=junit.xml")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(skipped=1)
    assert token not in output(result)
    result.stdout.fnmatch_lines(["SKIPPED *no access with ****"])


def test_secret_in_a_testsuite_property_is_masked_in_the_junit_xml(project: Project, token: str) -> None:
    """A value given to record_testsuite_property after the stack started is masked in the JUnit XML."""
    project.pytester.makepyfile(
        """
        import os

        def test_records(athalia_stack, record_testsuite_property):
            record_testsuite_property("database", os.environ["ATHALIA_TEST_SECRET"])
        """
    )
    project.pytester.runpytest("--junitxml=junit.xml").assert_outcomes(passed=1)
    assert token not in (project.path / "junit.xml").read_text(encoding="utf-8")
