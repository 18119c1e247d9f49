"""Locust's own pytest plugin and the remedy the README gives for it (`-p no:locust`).

Installing the ``load`` extra installs Locust's ``pytest11`` plugin, which adds ``--host``/``-H`` and
``session``/``fastsession`` fixtures to every run. pytest-athalia cannot keep it out: entry points load
in the order their metadata is found, and an option or fixture a plugin added outlives its
unregistration. These tests pin both halves of what the README says: the plugin is there, and
``-p no:locust`` removes it while pytest-athalia keeps working. If Locust stops shipping the plugin,
the first test fails and the README's paragraph can go.
"""

from __future__ import annotations

import importlib.metadata

import pytest

from pytest_athalia.testing import unavailable


@pytest.fixture
def with_locust_plugin() -> None:
    """Function: Locust's pytest11 entry point is installed here (it comes with the load extra)."""
    names = {ep.name for ep in importlib.metadata.entry_points(group="pytest11")}
    if "locust" not in names:
        unavailable("Locust is not installed (pip install 'pytest-athalia[load]'), so its pytest plugin is not either")


def test_locust_adds_its_option_and_fixtures_to_every_run(pytester: pytest.Pytester, with_locust_plugin: None) -> None:
    """Without the remedy a plain run has Locust's -H option and `session` fixture beside ours."""
    result = pytester.runpytest("--fixtures", "-H", "http://example.invalid")
    assert result.ret == 0, result.stdout.str()
    text = result.stdout.str()
    assert "pytest_locust" in text
    assert "athalia_stack" in text


def test_no_locust_removes_it_and_keeps_athalia(pytester: pytest.Pytester, with_locust_plugin: None) -> None:
    """With `-p no:locust` in addopts, -H is unknown and no Locust fixture is listed; ours still are."""
    pytester.makeini("[pytest]\naddopts = -p no:locust\n")
    listed = pytester.runpytest("--fixtures")
    assert listed.ret == 0, listed.stdout.str()
    assert "pytest_locust" not in listed.stdout.str()
    assert "athalia_stack" in listed.stdout.str()
    refused = pytester.runpytest("-H", "http://example.invalid")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: -H" in refused.stderr.str()
