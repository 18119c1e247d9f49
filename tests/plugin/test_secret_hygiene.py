"""End to end: a secret from the environment never appears in any output of a run with security gates.

The secret is planted where each tool would echo it: Bandit quotes a hard-coded password in its
finding, the compose file and Dockerfile that Trivy scans hold it verbatim, and a failing test's
attached service logs contain it. Then every output is searched: the terminal and every file the
run left in the project (JUnit XML, the JSON artifact, the security artifacts, the scan cache, and
whatever a later change adds). Each must mask it, and the masking must be visible (``***``) where
the secret would otherwise have been, or the test proves nothing.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest

from pytest_athalia._errors import ScanError
from pytest_athalia.security._trivy import find_trivy
from pytest_athalia.testing import unavailable

from .helpers import ENVIRONMENT_YML, Project, output
from .helpers import project_fixture as project_fixture  # the `project` fixture

REPO = Path(__file__).parents[2]

ENVIRONMENT = ENVIRONMENT_YML.replace(
    "  version_path: /version\n", "  version_path: /version\n  env:\n    DB_PASSWORD: ${env:ATHALIA_TEST_SECRET}\n"
).replace(
    "slo:\n",
    """\
security:
  trivy:
    config_scanners: [misconfig, secret]
    images: []
    config_files: [../compose.yml, ../Dockerfile]
  bandit:
    paths: [../src]
    severity: LOW
    confidence: LOW
slo:
""",
)


def test_a_planted_secret_is_masked_in_every_output(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bandit's quote, the scanned files, a failing test's logs: only *** reaches terminal, XML, JSON and caches."""
    try:
        find_trivy()
    except ScanError as exc:
        unavailable(str(exc))
    token = f"Pw{secrets.token_hex(12)}"
    monkeypatch.setenv("ATHALIA_TEST_SECRET", token)
    monkeypatch.setenv("ATHALIA_SCAN_CACHE", str(project.path / "scan-cache"))
    project.environment("dev", ENVIRONMENT)
    (project.path / "compose.yml").write_text(f"services:\n  app:\n    environment:\n      DB_PASSWORD: {token}\n")
    (project.path / "Dockerfile").write_text(f"FROM scratch\nENV DB_PASSWORD={token}\nUSER 1000\n")
    (project.path / "src").mkdir()
    (project.path / "src" / "settings.py").write_text(f'password = "{token}"\n', encoding="utf-8")
    project.fake(logs=f"app | connecting with {token}\napp | refused")
    for name in ("test_security_config_files.py", "test_security_code.py"):
        shutil.copy(REPO / "suites" / "security" / name, project.path / name)
    project.pytester.makepyfile(
        test_stack="def test_needs_the_stack(athalia_stack):\n    assert False, 'see the service logs'\n"
    )

    result = project.pytester.runpytest("-rA", "--junitxml=junit.xml", "-o", "junit_logging=all")

    outputs = {"terminal": output(result)}
    planted = {project.path / name for name in ("compose.yml", "Dockerfile", "src/settings.py", "fake.json")}
    # Every file the run left in the project (JUnit, reports/, the scan cache, logs, pytest's own cache), not
    # only the ones we know of today, and every file in the temporary folder under it.
    for path in sorted(project.path.rglob("*")):
        if path.is_file() and path not in planted:
            outputs[str(path.relative_to(project.path))] = path.read_text(encoding="utf-8", errors="replace")
    # terminal, JUnit, athalia.json, four security artifacts, two scan cache entries
    for expected in ("junit.xml", "reports/athalia.json", "reports/security/bandit-src.json"):
        assert expected in outputs, sorted(outputs)
    assert len([name for name in outputs if name.startswith(("reports/", "scan-cache/"))]) >= 7, sorted(outputs)
    leaked = [where for where, text in outputs.items() if token in text]
    assert not leaked, f"the secret leaked into: {leaked}"
    # Not void: the secret reached these outputs, masked.
    for where in ("terminal", "junit.xml", "reports/security/bandit-src.json"):
        assert "Possible hardcoded password: '***'" in outputs[where], where
    assert "app | connecting with ***" in outputs["terminal"]
    assert "FAILED test_security_code.py::test_bandit" in outputs["terminal"]
