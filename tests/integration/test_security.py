"""The security gates against the real Trivy, Bandit and Docker: each fails where it must, naming the finding.

One inner pytest run of ``suites/security`` covers three negative proofs at once (a private key
planted in an image, a Dockerfile that runs as root, Python code with a Bandit HIGH finding), so
the image is built and scanned once. The image is tagged ``athalia-test/planted-<hex6>`` and
removed afterwards. Scans run with ``ATHALIA_SCAN_CACHE=off``: the proofs must come from Trivy.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import json
import os
import secrets
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_athalia._errors import ScanError
from pytest_athalia.config._environment import load_environment
from pytest_athalia.report._gate import Gate
from pytest_athalia.report._progress import Progress
from pytest_athalia.report._slo import Outcome, Verdict
from pytest_athalia.security._bandit import FakeBandit
from pytest_athalia.security._cache import ScanCache
from pytest_athalia.security._cases import ImageCase
from pytest_athalia.security._session import SecurityScans
from pytest_athalia.security._targets import ImageTarget, LocalDockerImages
from pytest_athalia.security._trivy import Trivy, TrivyOptions, VulnerabilityDbMissing, find_trivy
from pytest_athalia.security._trivy_ignore import read_ignore_file
from pytest_athalia.security._trivy_report import parse_report
from pytest_athalia.testing import unavailable
from tests.support.trivy_db import Advisory, later_version, write_sample_db_for_image, write_vulnerability_db

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
    """Trivy honours exp: as we model it: an entry dated today has expired (00:00 UTC), tomorrow's still hides."""
    trivy = _trivy()
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nUSER root\n", encoding="utf-8")
    today = dt.datetime.now(dt.UTC).date()
    tomorrow = today + dt.timedelta(days=1)
    ignore = tmp_path / ".trivyignore"
    ignore.write_text(f"DS-0002 exp:{today.isoformat()}\nDS-0026 exp:{tomorrow.isoformat()}\n", encoding="utf-8")
    options = TrivyOptions(cache_dir=tmp_path / "cache", ignore_file=ignore)
    text = trivy.scan_file(tmp_path / "Dockerfile", ["misconfig"], options)
    ids = {f.id for f in parse_report(text, target="Dockerfile", kinds=["misconfig"])["misconfig"].findings}
    assert "DS-0002" in ids
    assert "DS-0026" not in ids
    # Our reading agrees with Trivy's (the expiry note and the cache key depend on it).
    assert [entry.id for entry in read_ignore_file(ignore).expired(today)] == ["DS-0002"]
    ignore.write_text(f"DS-0002 exp:{tomorrow.isoformat()}\nDS-0026\n", encoding="utf-8")
    text = trivy.scan_file(tmp_path / "Dockerfile", ["misconfig"], options)
    assert not parse_report(text, target="Dockerfile", kinds=["misconfig"])["misconfig"].findings


def test_vulnerability_scan_without_db_is_reported_as_db_missing(tmp_path: Path) -> None:
    """The real binary with an empty cache dir stops at once; the driver turns that into the how-to."""
    trivy = _trivy()
    with pytest.raises(VulnerabilityDbMissing, match="--db-repository"):
        trivy.scan_image(BASE_IMAGE, ["vuln"], TrivyOptions(cache_dir=tmp_path / "empty"))


def _vuln_environment(root: Path, security: str) -> Path:
    """A project whose environment scans the base image for vulnerabilities with ``security`` (trivy keys)."""
    (root / "compose.yml").write_text("services: {}\n", encoding="utf-8")
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    environment = root / "environments" / "vuln.yml"
    environment.parent.mkdir(exist_ok=True)
    environment.write_text(
        "stack:\n  compose_files: [../compose.yml]\n  service: app\n  port: 8000\n"
        f"security:\n  trivy:\n    image_scanners: [vuln]\n    images: ['{BASE_IMAGE}']\n"
        + textwrap.indent(textwrap.dedent(security), "    "),
        encoding="utf-8",
    )
    return environment


def _run_images_suite(root: Path, environment: Path) -> str:
    """The image tests of suites/security in a child pytest, scan cache off; its output."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITE / "test_security_images.py"), f"--athalia-env={environment}", "-rs",
         "-p", "no:cacheprovider", "--rootdir", str(root), "-c", str(root / "pytest.ini")],
        cwd=root, env={**os.environ, "ATHALIA_SCAN_CACHE": "off"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return proc.stdout + proc.stderr


@pytest.mark.parametrize(("required", "outcome"), [(False, "skipped"), (True, "failed")])
def test_vulnerability_gate_without_db_skips_or_fails(tmp_path: Path, required: bool, outcome: str) -> None:
    """No DB: the vuln test is skipped when not required, failed with the how-to when required; never passed."""
    _trivy()
    environment = _vuln_environment(
        tmp_path, f"cache_dir: ../empty-cache\nrequire_vulnerability_db: {str(required).lower()}\n"
    )
    output = _run_images_suite(tmp_path, environment)
    assert f"1 {outcome}" in output, output
    assert "empty-cache/db" in output
    assert "security.trivy.db_repository" in output
    assert "passed" not in output.splitlines()[-1]


def test_vulnerability_gate_end_to_end_with_a_test_db(tmp_path: Path) -> None:
    """With a DB in cache_dir the real Trivy reports a fixable HIGH: the vuln test fails naming package and fix."""
    _trivy()
    sample = write_sample_db_for_image(tmp_path / "trivy-cache", BASE_IMAGE)
    environment = _vuln_environment(
        tmp_path, "cache_dir: ../trivy-cache\nfail_on: [HIGH, CRITICAL]\nrequire_vulnerability_db: true\n"
    )
    output = _run_images_suite(tmp_path, environment)
    assert "1 failed" in output, output
    package = sample.package
    expected = (
        f"CVE-2099-0001 HIGH {BASE_IMAGE} {package.name} {package.version} (fixed in {sample.fixed.fixed_version})"
    )
    assert expected in output, output
    assert "measured 1 findings" in output  # the unfixed MEDIUM is reported, not blocking
    assert "CVE-2099-0002" not in output  # fixed below the installed version: not a finding


@dataclass
class _CountingTrivy:
    """The real driver, counting image scans (to tell a cached result from a new scan)."""

    real: Trivy
    scans: int = 0

    @property
    def version(self) -> str:
        return self.real.version

    def scan_image(self, image: str, scanners: Sequence[str], options: TrivyOptions) -> str:
        self.scans += 1
        return self.real.scan_image(image, scanners, options)

    def scan_file(self, path: Path, scanners: Sequence[str], options: TrivyOptions) -> str:
        return self.real.scan_file(path, scanners, options)


def _vuln_gate(root: Path, name: str, security: str, trivy: _CountingTrivy) -> tuple[Verdict | None, str, set[str]]:
    """Our gate on the base image's vuln scan, in this process: verdict (None: failed), failure text, artifact IDs."""
    environment = _vuln_environment(root, security)
    environment.rename(environment.with_name(f"{name}.yml"))
    lines: list[str] = []
    scans = SecurityScans(
        load_environment(name, environment.parent),
        trivy=trivy,
        bandit=FakeBandit(""),
        images=LocalDockerImages(progress=Progress(lines.append), add_secrets=lambda *s: None, redact=str),
        cache=ScanCache(root / "scan-cache"),
        progress=Progress(lines.append),
        redact=str,
        artifact_dir=root / name,
    )
    gate = Gate(lambda key, value: None)
    case = ImageCase(BASE_IMAGE, "vuln", ImageTarget(BASE_IMAGE))
    try:
        verdict: Verdict | None = scans.check_image(case, gate)
        text = ""
    except pytest.fail.Exception as exc:
        verdict, text = None, str(exc)
    (artifact,) = (root / name).glob("*.json")
    ids = {finding["id"] for finding in json.loads(artifact.read_text(encoding="utf-8"))["findings"]}
    return verdict, text, ids


def test_vulnerability_gate_per_environment_with_a_test_db(tmp_path: Path) -> None:
    """Real Trivy and a tiny DB through our gate: staging passes, production fails, unfixed dropped, new DB rescans."""
    trivy = _CountingTrivy(_trivy())
    sample = write_sample_db_for_image(tmp_path / "trivy-cache", BASE_IMAGE)
    fixed, unfixed = sample.fixed.vulnerability_id, sample.unfixed.vulnerability_id
    staging = "cache_dir: ../trivy-cache\nfail_on: [CRITICAL]\nignore_unfixed: true\n"
    production = "cache_dir: ../trivy-cache\nfail_on: [HIGH, CRITICAL]\n"

    verdict, _, ids = _vuln_gate(tmp_path, "staging", staging, trivy)
    assert verdict is not None
    assert verdict.outcome is Outcome.PASS  # a HIGH is allowed in staging
    assert verdict.measurement.samples > 50  # the base image's Debian packages, each checked
    assert ids == sample.expected_ids(ignore_unfixed=True) == {fixed}  # the unfixed MEDIUM dropped
    verdict, text, ids = _vuln_gate(tmp_path, "production", production, trivy)
    assert verdict is None
    assert f"{fixed} HIGH {BASE_IMAGE}" in text, text
    assert "measured 1 findings" in text
    assert ids == sample.expected_ids() == {fixed, unfixed}
    assert trivy.scans == 2

    _vuln_gate(tmp_path, "staging", staging, trivy)
    assert trivy.scans == 2  # unchanged image, DB and policy: the cached result
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    critical = Advisory(
        "CVE-2099-0009", sample.package.source, later_version(sample.package.source_version), "CRITICAL"
    )
    write_vulnerability_db(tmp_path / "trivy-cache", [critical], updated_at=later)
    verdict, text, ids = _vuln_gate(tmp_path, "staging", staging, trivy)
    assert trivy.scans == 3  # a new DB invalidates the cached result
    assert verdict is None
    assert "CVE-2099-0009 CRITICAL" in text, text
    assert ids == {"CVE-2099-0009"}


def test_a_concurrent_trivy_holding_the_layer_cache_does_not_block_a_scan(tmp_path: Path) -> None:
    """Another Trivy (an xdist worker) holding <cache>/fanal/fanal.db: our scan still runs, without waiting it out."""
    trivy = _trivy()
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nUSER root\n", encoding="utf-8")
    fanal = tmp_path / "cache" / "fanal" / "fanal.db"
    fanal.parent.mkdir(parents=True)
    with fanal.open("wb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what bbolt does for a writer
        text = trivy.scan_file(tmp_path / "Dockerfile", ["misconfig"], TrivyOptions(cache_dir=tmp_path / "cache"))
    assert "DS-0002" in {
        f.id for f in parse_report(text, target="Dockerfile", kinds=["misconfig"])["misconfig"].findings
    }
