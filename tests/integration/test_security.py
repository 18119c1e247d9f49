"""The security gates against the real Trivy, Bandit and Docker: each fails where it must, naming the finding.

One inner pytest run of ``suites/security`` covers three negative proofs at once (a private key
planted in an image, a Dockerfile that runs as root, Python code with a Bandit HIGH finding), so
the image is built and scanned once. The image is tagged ``athalia-test/planted-<hex6>`` and
removed afterwards. Scans run with ``ATHALIA_SCAN_CACHE=off``: the proofs must come from Trivy.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_athalia.errors import ScanError
from pytest_athalia.testing import unavailable
from pytest_athalia.trivy import Trivy, TrivyOptions, VulnerabilityDbMissing, find_trivy
from pytest_athalia.trivy_report import parse_report
from tests.support.trivy_db import write_sample_db_for_image

pytestmark = pytest.mark.docker

REPO = Path(__file__).parents[2]
SUITE = REPO / "suites" / "security"
BASE_IMAGE = "athalia/base:bookworm"


def _trivy() -> Trivy:
    try:
        return Trivy(find_trivy())
    except ScanError as exc:
        unavailable(str(exc))


def _pem() -> str:
    """A private key's shape (random bytes, not a key): what Trivy's private-key rule looks for."""
    body = base64.b64encode(secrets.token_bytes(1190)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----\n"


@pytest.fixture(scope="module")
def planted_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Module: an image FROM the base image with a private key at /opt/app/id_rsa, removed afterwards."""
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, check=False).returncode:
        unavailable(f"the base image {BASE_IMAGE} is missing; run `athalia images bootstrap` (make images)")
    context = tmp_path_factory.mktemp("planted")
    (context / "id_rsa").write_text(_pem(), encoding="utf-8")
    (context / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nCOPY id_rsa /opt/app/id_rsa\nUSER nobody\nHEALTHCHECK CMD true\n", encoding="utf-8"
    )
    tag = f"athalia-test/planted-{secrets.token_hex(3)}:1"
    subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], capture_output=True, check=True, timeout=300)
    try:
        yield tag
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False, timeout=120)


def _inner_project(root: Path, image: str) -> Path:
    """A project with an environment naming the planted image, a root Dockerfile and unsafe code."""
    (root / "compose.yml").write_text("services: {}\n", encoding="utf-8")
    (root / "root").mkdir()
    (root / "root" / "Dockerfile").write_text(
        f'FROM {BASE_IMAGE}\nUSER root\nHEALTHCHECK CMD true\nCMD ["true"]\n', encoding="utf-8"
    )
    (root / "src").mkdir()
    (root / "src" / "run.py").write_text("import subprocess\ncmd = input()\nsubprocess.call(cmd, shell=True)\n")
    (root / "environments").mkdir()
    environment = root / "environments" / "negative.yml"
    environment.write_text(
        textwrap.dedent(
            f"""\
            stack:
              compose_files: [../compose.yml]
              service: app
              port: 8000
            security:
              trivy:
                image_scanners: [secret]
                config_scanners: [misconfig]
                fail_on: [HIGH, CRITICAL]
                images: ["{image}"]
                config_files: [../root/Dockerfile]
              bandit:
                paths: [../src]
                severity: HIGH
            """
        ),
        encoding="utf-8",
    )
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return environment


def test_planted_key_root_dockerfile_and_unsafe_code_fail_with_named_findings(
    planted_image: str, tmp_path: Path
) -> None:
    """Secret, misconfig and Bandit gates fail, naming ID, severity, target, file and line of each finding."""
    _trivy()
    environment = _inner_project(tmp_path, planted_image)
    env = {**os.environ, "ATHALIA_SCAN_CACHE": "off"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITE), f"--athalia-env={environment}", "-p", "no:cacheprovider",
         "--junitxml=junit.xml", "--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    failures = {
        case.get("name"): case.find("failure").get("message", "") + (case.find("failure").text or "")  # type: ignore[union-attr]
        for case in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
        if case.find("failure") is not None
    }
    assert set(failures) == {
        f"test_image[{planted_image}-secret]",
        "test_config_file[root/Dockerfile-misconfig]",
        "test_bandit",
    }, output
    secret = failures[f"test_image[{planted_image}-secret]"]
    assert f"private-key HIGH {planted_image} /opt/app/id_rsa:2" in secret, secret
    root = failures["test_config_file[root/Dockerfile-misconfig]"]
    assert "DS-0002 HIGH root/Dockerfile root/Dockerfile:2" in root, root
    bandit = failures["test_bandit"]
    assert "B602 HIGH (confidence HIGH) ../src ../src/run.py:3" in bandit, bandit


def test_expired_trivyignore_entry_no_longer_suppresses(tmp_path: Path) -> None:
    """Trivy honours exp:: an expired entry lets DS-0002 through, an unexpired one still hides DS-0026."""
    trivy = _trivy()
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nUSER root\n", encoding="utf-8")
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    ignore = tmp_path / ".trivyignore"
    ignore.write_text(f"DS-0002 exp:{yesterday.isoformat()}\nDS-0026 exp:2099-12-31\n", encoding="utf-8")
    options = TrivyOptions(cache_dir=tmp_path / "cache", ignore_file=ignore)
    text = trivy.scan_file(tmp_path / "Dockerfile", ["misconfig"], options)
    ids = {f.id for f in parse_report(text, target="Dockerfile", kinds=["misconfig"])["misconfig"].findings}
    assert "DS-0002" in ids
    assert "DS-0026" not in ids
    ignore.write_text("DS-0002 exp:2099-12-31\nDS-0026 exp:2099-12-31\n", encoding="utf-8")
    text = trivy.scan_file(tmp_path / "Dockerfile", ["misconfig"], options)
    assert not parse_report(text, target="Dockerfile", kinds=["misconfig"])["misconfig"].findings


def test_vulnerability_scan_without_db_is_reported_as_db_missing(tmp_path: Path) -> None:
    """The real binary with an empty cache dir stops at once; the driver turns that into the how-to."""
    trivy = _trivy()
    with pytest.raises(VulnerabilityDbMissing, match="--db-repository"):
        trivy.scan_image(BASE_IMAGE, ["vuln"], TrivyOptions(cache_dir=tmp_path / "empty"))


@pytest.mark.parametrize(("required", "outcome"), [(False, "skipped"), (True, "failed")])
def test_vulnerability_gate_without_db_skips_or_fails(tmp_path: Path, required: bool, outcome: str) -> None:
    """No DB: the vuln test is skipped when not required, failed with the how-to when required; never passed."""
    _trivy()
    environment = tmp_path / "environments" / "vuln.yml"
    environment.parent.mkdir()
    (tmp_path / "compose.yml").write_text("services: {}\n", encoding="utf-8")
    environment.write_text(
        "stack:\n  compose_files: [../compose.yml]\n  service: app\n  port: 8000\n"
        f"security:\n  trivy:\n    image_scanners: [vuln]\n    images: ['{BASE_IMAGE}']\n"
        f"    cache_dir: ../empty-cache\n    require_vulnerability_db: {str(required).lower()}\n",
        encoding="utf-8",
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITE / "test_security_images.py"), f"--athalia-env={environment}", "-rs",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini")],
        cwd=tmp_path, env={**os.environ, "ATHALIA_SCAN_CACHE": "off"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert f"1 {outcome}" in output, output
    assert "empty-cache/db" in output
    assert "security.trivy.db_repository" in output
    assert "passed" not in output.splitlines()[-1]


def test_vulnerability_gate_end_to_end_with_a_test_db(tmp_path: Path) -> None:
    """With a DB in cache_dir the real Trivy reports a fixable HIGH: the vuln test fails naming package and fix."""
    _trivy()
    sample = write_sample_db_for_image(tmp_path / "trivy-cache", BASE_IMAGE)
    environment = tmp_path / "environments" / "vuln.yml"
    environment.parent.mkdir()
    (tmp_path / "compose.yml").write_text("services: {}\n", encoding="utf-8")
    environment.write_text(
        "stack:\n  compose_files: [../compose.yml]\n  service: app\n  port: 8000\n"
        f"security:\n  trivy:\n    image_scanners: [vuln]\n    images: ['{BASE_IMAGE}']\n"
        "    cache_dir: ../trivy-cache\n    fail_on: [HIGH, CRITICAL]\n    require_vulnerability_db: true\n",
        encoding="utf-8",
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITE / "test_security_images.py"), f"--athalia-env={environment}",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini")],
        cwd=tmp_path, env={**os.environ, "ATHALIA_SCAN_CACHE": "off"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert "1 failed" in output, output
    package = sample.package
    expected = (
        f"CVE-2099-0001 HIGH {BASE_IMAGE} {package.name} {package.version} (fixed in {sample.fixed.fixed_version})"
    )
    assert expected in output, output
    assert "measured 1 findings" in output  # the unfixed MEDIUM is reported, not blocking
    assert "CVE-2099-0002" not in output  # fixed below the installed version: not a finding
