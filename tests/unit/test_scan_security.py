"""SecurityScans with fake drivers: one scan per image, cached by image ID, judged per scanner, fail closed."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_athalia.config._environment import Environment, load_environment
from pytest_athalia.report._gate import Gate
from pytest_athalia.report._progress import Progress
from pytest_athalia.report._slo import Outcome
from pytest_athalia.security._bandit import FakeBandit
from pytest_athalia.security._cache import ScanCache
from pytest_athalia.security._cases import ImageCase
from pytest_athalia.security._session import SecurityScans
from pytest_athalia.security._targets import ImageTarget
from pytest_athalia.security._trivy import FakeTrivy, TrivyOptions, VulnerabilityDbMissing

FIXTURES = Path(__file__).parent / "fixtures" / "trivy"
POSTGRES = "athalia-demo/postgres:15"
APP = "athalia-demo/app:1.0.0"


@dataclass
class FakeImages:
    """Image IDs by reference; `build` makes the missing ones appear."""

    ids: dict[str, str]
    buildable: dict[str, str] = field(default_factory=dict)
    builds: list[tuple[str, ...]] = field(default_factory=list)

    def image_id(self, image: str) -> str | None:
        return self.ids.get(image)

    def build(self, environment: Environment, project: str, services: tuple[str, ...]) -> None:
        self.builds.append(services)
        self.ids.update(self.buildable)


def _environment(tmp_path: Path, security: str) -> Environment:
    (tmp_path / "docker-compose.yml").write_text("services: {}\n", encoding="utf-8")
    folder = tmp_path / "environments"
    folder.mkdir(exist_ok=True)
    text = "stack:\n  compose_files: [../docker-compose.yml]\n  service: app\n  port: 8000\n" + security
    (folder / "t.yml").write_text(text, encoding="utf-8")
    return load_environment("t", folder)


def _scans(
    tmp_path: Path, security: str, trivy: FakeTrivy, images: FakeImages, bandit: FakeBandit | None = None
) -> SecurityScans:
    lines: list[str] = []
    return SecurityScans(
        _environment(tmp_path, security),
        trivy=trivy,
        bandit=bandit or FakeBandit(AssertionError("bandit is not expected to run")),
        images=images,
        cache=ScanCache(tmp_path / "cache"),
        progress=Progress(lines.append),
        redact=lambda s: s,
        artifact_dir=tmp_path / "reports" / "security",
    )


def _gate() -> tuple[Gate, list[tuple[str, object]]]:
    recorded: list[tuple[str, object]] = []
    return Gate(lambda name, value: recorded.append((name, value))), recorded


def _report(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


SECURITY = """\
security:
  trivy:
    image_scanners: [secret, misconfig]
    fail_on: [HIGH, CRITICAL]
    cache_dir: ../trivy-cache
"""


def test_a_key_in_an_image_fails_naming_id_severity_target_file_and_line(tmp_path: Path) -> None:
    """The snakeoil key fails the secret gate; the misconfig gate of the same scan passes."""
    trivy = FakeTrivy(images={POSTGRES: _report("image-postgres-snakeoil-key.json")})
    scans = _scans(tmp_path, SECURITY, trivy, FakeImages({POSTGRES: "sha256:" + "1" * 64}))
    gate, _ = _gate()
    with pytest.raises(pytest.fail.Exception) as info:
        scans.check_image(ImageCase(POSTGRES, "secret", ImageTarget(POSTGRES)), gate)
    message = str(info.value)
    assert "trivy-secret[athalia-demo/postgres:15]: measured 1 findings, threshold <= 0 findings" in message
    assert "private-key HIGH athalia-demo/postgres:15 /etc/ssl/private/ssl-cert-snakeoil.key:2" in message
    verdict = scans.check_image(ImageCase(POSTGRES, "misconfig", ImageTarget(POSTGRES)), gate)
    assert verdict.passed
    assert verdict.measurement.samples == 27
    assert len(trivy.calls) == 1  # one trivy run per image, whatever the number of scanners
    artifact = json.loads((tmp_path / "reports/security/trivy-secret-athalia-demo-postgres-15.json").read_text())
    assert artifact["verdict"] == "fail"
    assert artifact["findings"][0]["id"] == "private-key"


def test_a_second_session_reuses_the_cached_scan_of_an_unchanged_image(tmp_path: Path) -> None:
    """Same image ID, same policy: no trivy run; a new image ID scans again."""
    trivy = FakeTrivy(images={APP: _report("image-app-clean.json")})
    images = FakeImages({APP: "sha256:" + "a" * 64})
    case = ImageCase(APP, "misconfig", ImageTarget(APP))
    _scans(tmp_path, SECURITY, trivy, images).check_image(case, _gate()[0])
    _scans(tmp_path, SECURITY, trivy, images).check_image(case, _gate()[0])
    assert len(trivy.calls) == 1
    images.ids[APP] = "sha256:" + "b" * 64
    _scans(tmp_path, SECURITY, trivy, images).check_image(case, _gate()[0])
    assert len(trivy.calls) == 2


@dataclass
class SlowTrivy(FakeTrivy):
    """FakeTrivy whose image scans take a moment, so that two sessions overlap."""

    def scan_image(self, image: str, scanners: Sequence[str], options: TrivyOptions) -> str:
        time.sleep(0.3)
        return super().scan_image(image, scanners, options)


def test_sessions_sharing_the_cache_scan_an_image_once(tmp_path: Path) -> None:
    """Two xdist workers (here threads) that need the same image: one scans, the other waits and reuses it."""
    trivy = SlowTrivy(images={APP: _report("image-app-clean.json")})
    images = FakeImages({APP: "sha256:" + "a" * 64})
    sessions = [_scans(tmp_path, SECURITY, trivy, images) for _ in range(2)]
    case = ImageCase(APP, "misconfig", ImageTarget(APP))
    with ThreadPoolExecutor(2) as pool:
        verdicts = list(pool.map(lambda scans: scans.check_image(case, _gate()[0]), sessions))
    assert [v.passed for v in verdicts] == [True, True]
    assert len(trivy.calls) == 1


def test_missing_vulnerability_db_skips_when_not_required(tmp_path: Path) -> None:
    """No DB, not required: the vuln test is skipped with the how-to, never passed; trivy is not asked."""
    trivy = FakeTrivy(images={APP: _report("image-app-clean.json")})
    scans = _scans(
        tmp_path, SECURITY.replace("[secret, misconfig]", "[vuln, secret]"), trivy, FakeImages({APP: "sha256:1"})
    )
    with pytest.raises(pytest.skip.Exception, match=r"security\.trivy\.db_repository"):
        scans.check_image(ImageCase(APP, "vuln", ImageTarget(APP)), _gate()[0])
    assert trivy.calls == [("image", APP, ("secret",))]


def test_missing_vulnerability_db_fails_when_required(tmp_path: Path) -> None:
    """require_vulnerability_db: the test fails, inconclusive, saying where the DB goes and the mirror option."""
    security = SECURITY.replace("[secret, misconfig]", "[vuln]") + "    require_vulnerability_db: true\n"
    scans = _scans(tmp_path, security, FakeTrivy(), FakeImages({APP: "sha256:1"}))
    gate, recorded = _gate()
    with pytest.raises(pytest.fail.Exception) as info:
        scans.check_image(ImageCase(APP, "vuln", ImageTarget(APP)), gate)
    assert f"{tmp_path / 'trivy-cache'}/db" in str(info.value)
    assert "--db-repository" in str(info.value)
    assert ("athalia.trivy-vuln[athalia-demo/app:1.0.0].verdict", "inconclusive") in recorded


def _with_db(tmp_path: Path) -> None:
    db = tmp_path / "trivy-cache" / "db"
    db.mkdir(parents=True)
    (db / "trivy.db").write_bytes(b"")
    (db / "metadata.json").write_text('{"Version": 2, "UpdatedAt": "2026-11-24T00:00:00Z"}', encoding="utf-8")


def test_vulnerabilities_fail_the_gate_and_ignore_unfixed_counts_only_fixable_ones(tmp_path: Path) -> None:
    """With a DB: CRITICAL and HIGH fail production; ignore_unfixed drops the HIGH that has no fix."""
    _with_db(tmp_path)
    trivy = FakeTrivy(images={APP: _report("image-app-vulnerabilities.json")})
    security = SECURITY.replace("[secret, misconfig]", "[vuln]")
    case = ImageCase(APP, "vuln", ImageTarget(APP))
    with pytest.raises(pytest.fail.Exception) as info:
        _scans(tmp_path, security, trivy, FakeImages({APP: "sha256:1"})).check_image(case, _gate()[0])
    assert "measured 2 findings" in str(info.value)
    expected = "CVE-2026-0001 CRITICAL athalia-demo/app:1.0.0 libssl3 3.0.15-1~deb12u1 (fixed in 3.0.16-1~deb12u1)"
    assert expected in str(info.value)
    unfixed = security + "    ignore_unfixed: true\n"
    with pytest.raises(pytest.fail.Exception) as info:
        _scans(tmp_path, unfixed, trivy, FakeImages({APP: "sha256:1"})).check_image(case, _gate()[0])
    assert "measured 1 findings" in str(info.value)
    assert "CVE-2026-0002" not in str(info.value)


def test_db_missing_reported_by_trivy_itself_is_handled_like_a_missing_db(tmp_path: Path) -> None:
    """A DB that Trivy cannot use (e.g. mirror unreachable) skips vuln and still runs the other scanners."""
    trivy = FakeTrivy(images={APP: VulnerabilityDbMissing("athalia: no DB")})
    security = SECURITY.replace("[secret, misconfig]", "[vuln]") + "    db_repository: mirror.local/trivy-db:2\n"
    scans = _scans(tmp_path, security, trivy, FakeImages({APP: "sha256:1"}))
    with pytest.raises(pytest.skip.Exception, match="no DB"):
        scans.check_image(ImageCase(APP, "vuln", ImageTarget(APP)), _gate()[0])


def test_a_missing_image_is_built_once_for_all_missing_services(tmp_path: Path) -> None:
    """build_missing: the first scan builds every missing image of the stack in one compose build."""
    images = FakeImages({}, buildable={APP: "sha256:1", POSTGRES: "sha256:2"})
    trivy = FakeTrivy(images={APP: _report("image-app-clean.json")})
    scans = _scans(tmp_path, SECURITY, trivy, images)
    targets = (ImageTarget(APP, "app", True), ImageTarget(POSTGRES, "postgres", True))
    scans.know_targets(targets)
    assert scans.check_image(ImageCase(APP, "misconfig", targets[0]), _gate()[0]).passed
    assert images.builds == [("app", "postgres")]


def test_a_missing_image_that_cannot_be_built_fails_with_the_build_command(tmp_path: Path) -> None:
    """No image and build_missing false: the test fails, saying how to build it."""
    scans = _scans(tmp_path, SECURITY + "    build_missing: false\n", FakeTrivy(), FakeImages({}))
    with pytest.raises(pytest.fail.Exception, match="does not exist locally"):
        scans.check_image(ImageCase(APP, "secret", ImageTarget(APP, "app", True)), _gate()[0])


def test_an_expired_ignore_entry_is_named_in_the_failure(tmp_path: Path) -> None:
    """The failure says the expired .trivyignore entry no longer suppresses the finding."""
    (tmp_path / ".trivyignore").write_text("private-key exp:2020-01-01\n", encoding="utf-8")
    trivy = FakeTrivy(images={POSTGRES: _report("image-postgres-snakeoil-key.json")})
    security = SECURITY + "    ignore_file: ../.trivyignore\n"
    scans = _scans(tmp_path, security, trivy, FakeImages({POSTGRES: "sha256:1"}))
    with pytest.raises(pytest.fail.Exception, match=r"private-key \(line 1, exp:2020-01-01\)"):
        scans.check_image(ImageCase(POSTGRES, "secret", ImageTarget(POSTGRES)), _gate()[0])


def test_a_bad_ignore_file_fails_every_scan_not_only_the_first(tmp_path: Path) -> None:
    """A malformed expiry date fails each test that reads the ignore file; none runs Trivy without it."""
    (tmp_path / ".trivyignore").write_text("CVE-1 exp:2026-13-45\n", encoding="utf-8")
    trivy = FakeTrivy(images={POSTGRES: _report("image-postgres-snakeoil-key.json")})
    security = SECURITY + "    ignore_file: ../.trivyignore\n"
    scans = _scans(tmp_path, security, trivy, FakeImages({POSTGRES: "sha256:1"}))
    for scanner in ("secret", "misconfig"):
        with pytest.raises(pytest.fail.Exception, match=r"2026-13-45"):
            scans.check_image(ImageCase(POSTGRES, scanner, ImageTarget(POSTGRES)), _gate()[0])
    assert trivy.calls == []


def test_unknown_images_fail_each_case_with_the_reason(tmp_path: Path) -> None:
    """When compose could not list the images, the single case fails with compose's reason."""
    scans = _scans(tmp_path, SECURITY, FakeTrivy(), FakeImages({}))
    gate, recorded = _gate()
    with pytest.raises(pytest.fail.Exception, match="compose said: boom"):
        scans.check_image(ImageCase("", "", problem="compose said: boom"), gate)
    assert ("athalia.trivy-image.verdict", Outcome.INCONCLUSIVE.value) in recorded


def _bandit_report(*lines: int) -> str:
    """Bandit's JSON with one shell=True finding in src/run.py per line."""
    item = {
        "filename": "../src/run.py",
        "issue_confidence": "HIGH",
        "issue_severity": "HIGH",
        "issue_text": "subprocess call with shell=True identified, security issue.",
        "test_id": "B602",
        "test_name": "subprocess_popen_with_shell_equals_true",
    }
    results = [{**item, "line_number": line} for line in lines]
    return json.dumps({"errors": [], "metrics": {"_totals": {"loc": 9}}, "results": results})


def test_with_a_bandit_baseline_only_new_findings_fail(tmp_path: Path) -> None:
    """The baselined finding is not counted, a new copy of it is, and the failure says what the baseline hid."""
    (tmp_path / "bandit-baseline.json").write_text(_bandit_report(3), encoding="utf-8")
    security = "security:\n  bandit:\n    paths: [../src]\n    baseline: ../bandit-baseline.json\n"
    known = _scans(tmp_path, security, FakeTrivy(), FakeImages({}), FakeBandit(_bandit_report(7)))
    assert known.check_bandit(_gate()[0]).passed  # moved, not new
    new = _scans(tmp_path, security, FakeTrivy(), FakeImages({}), FakeBandit(_bandit_report(3, 4)))
    with pytest.raises(pytest.fail.Exception) as info:
        new.check_bandit(_gate()[0])
    assert "measured 1 findings" in str(info.value)
    assert "B602 HIGH (confidence HIGH) ../src ../src/run.py:4" in str(info.value)
    assert "1 finding(s) of the baseline ../bandit-baseline.json are not counted" in str(info.value)
