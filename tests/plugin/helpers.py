"""Helpers for the plugin's pytester tests: a pytest-athalia project in a pytester directory.

Every project gets an environments folder, a compose file that exists, a ``pytest.ini`` naming
the folder, and a conftest.py whose ``pytest_athalia_make_stack`` returns a FakeStack configured
by ``fake.json``, so no Docker is needed.

The ``project`` fixture lives here, imported by each test module, rather than in a
``tests/plugin/conftest.py``: a conftest that applies to only part of the suite makes pytest
hash every plugin, and the plugin's ``AthaliaRuntime`` is unhashable (see
``test_runtime.test_conftest_in_a_subfolder_does_not_break_the_run``).
"""

from __future__ import annotations

import json
import os
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

# pytester's in-process runs forget the modules first imported inside them, and hypothesis's pytest
# plugin imports hypothesis in every run: importing it here once spares re-importing (and
# assertion-rewriting) its modules in every in-process run, about 1.5 s each.
import hypothesis  # noqa: F401
import pytest

from pytest_athalia.report._slo import check_label
from tests.support.junit import measured
from tests.support.report_schema import validate_report

ENVIRONMENT_YML = """\
description: a pytester environment
provider: compose
stack:
  compose_files: [../compose.yml]
  service: app
  port: 8000
  health_path: /health
  ready_path: /ready
  version_path: /version
slo:
  startup:
    max_seconds: 5
  health:
    samples: 5
    max_p95_ms: 2000
    min_success_ratio: 1.0
"""

FAKE_CONFTEST = '''\
"""Provides a FakeStack (no Docker), configured by fake.json beside this file."""

import json
import os
from pathlib import Path

from pytest_athalia import ServiceState, runtime_of
from pytest_athalia.testing import FakeStack

HERE = Path(__file__).parent


class RecordingStack(FakeStack):
    """Resolves stack.env as ComposeStack does, and appends its project to stopped.txt when stopped."""

    def __init__(self, config, environment, **options):
        super().__init__(environment, **options)
        self._config = config

    def start(self):
        _, secrets = self.environment.resolved_env(os.environ)
        runtime_of(self._config).redactor.add(*secrets)
        return super().start()

    def stop(self):
        super().stop()
        with (HERE / "stopped.txt").open("a", encoding="utf-8") as fh:
            fh.write(self.project + "\\n")


def pytest_athalia_make_stack(config, environment, project):
    path = HERE / "fake.json"
    options = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    options["services"] = [ServiceState(*row) for row in options.get("services", [])]
    return RecordingStack(config, environment, project=project, **options)
'''

HEALTHY_SERVICES = [["app", "t-app-1", "running", "healthy"], ["db", "t-db-1", "running", "healthy"]]


class Project:
    """A pytester directory laid out as a pytest-athalia project."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path = pytester.path
        (self.path / "compose.yml").write_text("services: {}\n", encoding="utf-8")
        self.environment("dev")
        self.ini()
        self.fake()
        (self.path / "conftest.py").write_text(FAKE_CONFTEST, encoding="utf-8")

    def environment(self, name: str, body: str = ENVIRONMENT_YML, *, folder: str = "environments") -> Path:
        """Write ``<folder>/<name>.yml`` (default: a valid environment) and return its path."""
        path = self.path / folder / f"{name}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body), encoding="utf-8")
        return path

    def ini(self, *lines: str, environments: str | None = "environments") -> Path:
        """(Re)write pytest.ini: ``athalia_environments`` (unless None) and any extra lines."""
        keys = ([f"athalia_environments = {environments}"] if environments is not None else []) + list(lines)
        path = self.path / "pytest.ini"
        path.write_text("[pytest]\n" + "".join(f"{line}\n" for line in keys), encoding="utf-8")
        return path

    def fake(self, **options: Any) -> None:
        """Configure the FakeStack the conftest returns (FakeStack's keyword arguments)."""
        options.setdefault("services", HEALTHY_SERVICES)
        (self.path / "fake.json").write_text(json.dumps(options), encoding="utf-8")

    def report(self, relative: str = "reports/athalia.json") -> dict[str, Any]:
        """The JSON report, parsed, after checking it against the schema the package ships."""
        data: dict[str, Any] = json.loads((self.path / relative).read_text(encoding="utf-8"))
        validate_report(data)
        return data

    def checks(self, relative: str = "reports/athalia.json") -> dict[str, dict[str, Any]]:
        """Every check of the JSON report over all its tests, by ``name`` (``name[subject]`` with a subject)."""
        return {
            check_label(check["name"], check["subject"] or ""): check
            for test in self.report(relative)["tests"]
            for check in test["checks"]
        }

    def stopped(self) -> list[str]:
        """The projects whose FakeStack.stop was called, in order."""
        marker = self.path / "stopped.txt"
        return marker.read_text(encoding="utf-8").split() if marker.exists() else []

    def junit(self, relative: str = "junit.xml") -> dict[str, ET.Element]:
        """The ``testcase`` elements of a JUnit XML file by test name."""
        root = ET.parse(self.path / relative).getroot()
        return {case.get("name", ""): case for case in root.iter("testcase")}

    def measured(self, relative: str = "junit.xml") -> dict[str, dict[str, str]]:
        """The ``athalia.*`` properties of each test of a JUnit XML file, wherever its family put them."""
        return measured(self.path / relative)


def properties(case: ET.Element) -> dict[str, str]:
    """A JUnit testcase's own properties as a mapping."""
    return {prop.get("name", ""): prop.get("value", "") for prop in case.iter("property")}


def output(result: pytest.RunResult) -> str:
    """Everything a run printed, stdout and stderr."""
    return result.stdout.str() + "\n" + result.stderr.str()


@pytest.fixture(name="project")
def project_fixture(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Project:
    """Function: a pytester project with environments/dev.yml, pytest.ini and a FakeStack conftest.

    It also isolates the run: no ATHALIA_* from the caller's shell, no proxy for loopback HTTP, and
    ``DOCKER_HOST`` naming a socket that does not exist, so what the plugin does on the side (the
    header's engine version, the sweep of dead runs) never reaches a real Docker daemon.
    """
    for name in list(os.environ):
        if name.startswith("ATHALIA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/athalia-plugin-tests/docker.sock")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return Project(pytester)
