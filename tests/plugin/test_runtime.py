"""The run's state object is registered as a plugin; it must not break pytest's own machinery."""

from __future__ import annotations

import pytest

from .helpers import Project
from .helpers import project_fixture as project_fixture  # the `project` fixture


def test_conftest_in_a_subfolder_does_not_break_the_run(project: Project) -> None:
    """A conftest.py in one folder and tests in another run normally (a very common layout)."""
    project.pytester.mkpydir("api")
    (project.path / "api" / "conftest.py").write_text("", encoding="utf-8")
    (project.path / "api" / "test_api.py").write_text("def test_api(): pass\n", encoding="utf-8")
    project.pytester.mkpydir("web")
    (project.path / "web" / "test_web.py").write_text("def test_web(): pass\n", encoding="utf-8")
    result = project.pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=2)


def test_stack_is_started_once_and_stopped_once_per_session(project: Project) -> None:
    """Several tests share one session stack, which the plugin stops once at the end of the run."""
    project.pytester.makepyfile(
        """
        def test_one(athalia_stack):
            assert athalia_stack.calls == ["start"]

        def test_two(athalia_stack, athalia_stack_startup):
            assert athalia_stack.calls == ["start"]
            assert athalia_stack_startup.started
        """
    )
    project.pytester.runpytest().assert_outcomes(passed=2)
    assert len(project.stopped()) == 1
    assert project.stopped()[0].startswith("athalia-dev-main-p")
