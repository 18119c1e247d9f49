"""The security fixtures in a pytester project: one test per image and scanner, verdicts in JUnit and JSON."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from .helpers import ENVIRONMENT_YML, Project, output
from .helpers import project_fixture as project_fixture  # the `project` fixture

REPO = Path(__file__).parents[2]
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "trivy"

SECURITY = """\
security:
  trivy:
    image_scanners: [secret, misconfig]
    config_scanners: [misconfig]
    fail_on: [HIGH, CRITICAL]
    images: ["athalia-demo/postgres:15", "athalia-demo/app:1.0.0"]
    config_files: [../Dockerfile]
    cache_dir: ../trivy-cache
"""

CONFTEST_FAKES = """

import pytest
from pathlib import Path as _Path
from pytest_athalia.security._trivy import FakeTrivy


class _Images:
    def image_id(self, image):
        return "sha256:" + format(abs(hash(image)), "x").rjust(64, "0")

    def build(self, environment, project, services):
        raise AssertionError("nothing to build")


_REPORTS = _Path(__file__).parent / "reports-in"


@pytest.fixture(scope="session")
def athalia_trivy():
    return FakeTrivy(
        images={
            "athalia-demo/postgres:15": (_REPORTS / "image-postgres-snakeoil-key.json").read_text(),
            "athalia-demo/app:1.0.0": (_REPORTS / "image-app-clean.json").read_text(),
        },
        files={str(_Path(__file__).parent / "Dockerfile"): (_REPORTS / "config-dockerfile-root.json").read_text()},
    )


@pytest.fixture(scope="session")
def athalia_docker_images():
    return _Images()
"""


@pytest.fixture
def security_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """Function: a project whose environment names two images and a Dockerfile, with FakeTrivy answering."""
    monkeypatch.setenv("ATHALIA_SCAN_CACHE", "off")
    shutil.copytree(FIXTURES, project.path / "reports-in")
    (project.path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    project.environment("dev", ENVIRONMENT_YML.replace("slo:\n", SECURITY + "slo:\n"))
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text(encoding="utf-8") + CONFTEST_FAKES, encoding="utf-8")
    for name in ("test_security_images.py", "test_security_config_files.py"):
        shutil.copy(REPO / "suites" / "security" / name, project.path / name)
    return project


def test_one_test_per_image_and_scanner_and_per_file_and_scanner(security_project: Project) -> None:
    """Cases are parametrized at collection time from the environment, with readable ids."""
    result = security_project.pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "test_security_config_files.py::test_config_file[Dockerfile-misconfig]",
            "test_security_images.py::test_image[athalia-demo/postgres:15-secret]",
            "test_security_images.py::test_image[athalia-demo/postgres:15-misconfig]",
            "test_security_images.py::test_image[athalia-demo/app:1.0.0-secret]",
            "test_security_images.py::test_image[athalia-demo/app:1.0.0-misconfig]",
        ]
    )


def test_findings_fail_their_tests_and_every_verdict_is_recorded(security_project: Project) -> None:
    """The key and the root Dockerfile fail with named findings; clean scans pass; JUnit and JSON agree."""
    result = security_project.pytester.runpytest("--junitxml=junit.xml")
    result.assert_outcomes(passed=3, failed=2)
    text = output(result)
    assert "private-key HIGH athalia-demo/postgres:15 /etc/ssl/private/ssl-cert-snakeoil.key:2" in text
    assert "DS-0031 CRITICAL Dockerfile Dockerfile:2" in text
    props = security_project.measured()["test_image[athalia-demo/postgres:15-secret]"]
    # The name stays the same across releases; the image is the subject, inside [...].
    assert props["athalia.trivy-secret[athalia-demo/postgres:15].verdict"] == "fail"
    assert props["athalia.trivy-secret[athalia-demo/postgres:15].measured"] == "1"
    assert props["athalia.trivy-secret[athalia-demo/postgres:15].threshold"] == "0"
    checks = security_project.checks()
    misconfig = checks["trivy-misconfig[athalia-demo/app:1.0.0]"]
    assert (misconfig["name"], misconfig["subject"], misconfig["samples"]) == (
        "trivy-misconfig",
        "athalia-demo/app:1.0.0",
        27,
    )
    assert checks["trivy-misconfig[Dockerfile]"]["measured"] == 4
    artifact = json.loads((security_project.path / "reports/security/trivy-misconfig-Dockerfile.json").read_text())
    assert {f["id"] for f in artifact["findings"]} == {"DS-0002", "DS-0026", "DS-0029", "DS-0031"}
    gates = result.stdout.str().partition("athalia gates")[2]
    assert "\nFAIL  trivy-secret[athalia-demo/postgres:15]: measured 1 findings, " in gates


def test_report_only_environment_passes_and_still_records_findings(security_project: Project) -> None:
    """fail_on: [] (dev): every test passes, the artifact still lists what was found."""
    security_project.environment(
        "dev", ENVIRONMENT_YML.replace("slo:\n", SECURITY.replace("[HIGH, CRITICAL]", "[]") + "slo:\n")
    )
    security_project.pytester.runpytest().assert_outcomes(passed=5)
    artifact = json.loads(
        (security_project.path / "reports/security/trivy-secret-athalia-demo-postgres-15.json").read_text()
    )
    assert artifact["verdict"] == "pass"
    assert artifact["findings"][0]["id"] == "private-key"


def test_disabled_trivy_skips_with_the_reason(security_project: Project) -> None:
    """security.trivy.enabled: false skips the Trivy tests, naming the key."""
    security_project.environment("dev", ENVIRONMENT_YML.replace("slo:\n", SECURITY + "    enabled: false\nslo:\n"))
    result = security_project.pytester.runpytest("-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*security.trivy.enabled is false*"])


def test_images_that_compose_cannot_list_fail_with_compose_s_reason(project: Project) -> None:
    """Without explicit images, a compose error becomes one failing case instead of a collection error."""
    project.environment(
        "dev", ENVIRONMENT_YML.replace("slo:\n", "security:\n  trivy:\n    image_scanners: [secret]\nslo:\n")
    )
    shutil.copy(REPO / "suites" / "security" / "test_security_images.py", project.path / "test_security_images.py")
    (project.path / "compose.yml").write_text(textwrap.dedent("services:\n  app: {image: [not, a, string]}\n"))
    result = project.pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_image?no-images?*", "*the images to scan are unknown*"])
