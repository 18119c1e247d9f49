"""The environment file's load section: defaults, parsed thresholds, and errors naming file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_athalia._errors import ConfigError
from pytest_athalia.config._environment import load_environment
from pytest_athalia.config._load import LoadSpec, is_loopback, parse_seconds
from pytest_athalia.load._thresholds import Metric

STACK = """\
stack:
  compose_files: [../docker-compose.yml]
  service: app
  port: 8000
"""


def write_load(envdir: Path, load: str) -> Path:
    """Write environments/dev.yml with the given `load:` block, and the locustfile it names."""
    (envdir.parent / "locustfile.py").write_text("", encoding="utf-8")
    path = envdir / "dev.yml"
    path.write_text(STACK + load, encoding="utf-8")
    return path


def error_of(envdir: Path, load: str) -> str:
    """Load dev.yml with `load`, expect a ConfigError, and return its message (one paragraph)."""
    write_load(envdir, load)
    with pytest.raises(ConfigError) as caught:
        load_environment("dev", envdir)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("athalia: environments/dev.yml")
    return message


def test_an_environment_without_load_has_it_off_with_defaults(envdir: Path) -> None:
    """No load section: load is off (no locustfile), every other key has its default."""
    write_load(envdir, "")
    spec = load_environment("dev", envdir).spec.load
    assert spec == LoadSpec()
    assert not spec.enabled
    assert (spec.users, spec.duration, spec.workers, spec.window, spec.thresholds) == (10, 30.0, 0, None, ())


def test_a_full_section_is_parsed_into_frozen_values(envdir: Path) -> None:
    """Durations become seconds and every threshold expression a parsed value, per endpoint too."""
    write_load(
        envdir,
        """\
load:
  locustfile: ../locustfile.py
  users: 20
  spawn_rate: 5
  duration: 1m30s
  workers: 2
  window: 5s
  thresholds: ["p95 < 300ms", "error_rate < 1%", "rps > 100"]
  endpoints:
    "GET /items": ["p(99) <= 1s"]
""",
    )
    spec = load_environment("dev", envdir).spec.load
    assert spec.enabled
    assert (spec.users, spec.spawn_rate, spec.duration, spec.workers, spec.window) == (20, 5.0, 90.0, 2, 5.0)
    assert [t.metric for t in spec.thresholds] == [Metric.PERCENTILE, Metric.ERROR_RATE, Metric.RPS]
    (items,) = spec.endpoints["GET /items"]
    assert (items.percentile, items.limit, items.strict) == (99.0, 1000.0, False)
    assert spec.model_dump()["thresholds"] == ("p95 < 300ms", "error_rate < 1%", "rps > 100")


def test_a_bad_threshold_names_file_line_key_found_and_valid_forms(envdir: Path) -> None:
    """A threshold typo fails at load time: file, line, key, what was found and the valid forms."""
    message = error_of(envdir, 'load:\n  thresholds: ["p95 < 300ms", "p95 << 300"]\n')
    assert "line 6" in message
    assert "key load.thresholds[1]" in message
    assert "found 'p95 << 300'" in message
    assert "'error_rate < 1%'" in message
    assert "operators: <, <=, >, >=" in message


def test_a_bad_endpoint_threshold_names_the_endpoint(envdir: Path) -> None:
    """A bad threshold under endpoints names the endpoint's key and the metric that is unknown."""
    message = error_of(envdir, 'load:\n  endpoints:\n    "GET /items": ["latency < 3"]\n')
    assert "key load.endpoints.GET /items[0]" in message
    assert "known metric (not 'latency')" in message


def test_an_endpoint_key_must_be_method_and_name(envdir: Path) -> None:
    """An endpoint key without an upper-case method is refused with the expected form."""
    message = error_of(envdir, 'load:\n  endpoints:\n    "/items": ["p95 < 3"]\n')
    assert "'METHOD NAME'" in message
    assert "found '/items'" in message


@pytest.mark.parametrize(
    ("load", "key", "expected"),
    [
        ("load:\n  duration: soon\n", "load.duration", "a duration like 30s"),
        ("load:\n  duration: 0\n", "load.duration", "greater than 0"),
        ("load:\n  duration: 10s\n  window: 20s\n", "load.window", "no longer than duration (10 s)"),
        ("load:\n  window: 2.5\n", "load.window", "whole seconds"),
        ("load:\n  users: 50\n  spawn_rate: 5\n  duration: 12s\n  window: 5s\n", "load.window", "ramp-up"),
        ('load:\n  thresholds: ["p95 < 300ms", "p(95) < 1s"]\n', "load.thresholds", "at most once per list"),
        ("load:\n  thresholds: [error_rate < 1]\n", "load.thresholds[0]", "ratio below 1"),
        ("load:\n  users: 0\n", "load.users", "a whole number of users from 1"),
        ("load:\n  workers: -1\n", "load.workers", "local worker processes"),
        ("load:\n  remote_workers: 2\n", "load.master_port", "fixed port"),
        ("load:\n  target: http://10.1.2.3:8000\n", "load.target", "'10.1.2.3' is not a loopback address"),
        ("load:\n  target: https://example.com\n", "load.target", "is not a loopback address"),
        ("load:\n  target: 'app port 8000'\n", "load.target", "compose service of the stack"),
        ("load:\n  max_generator_cpu: 120\n", "load.max_generator_cpu", "at most 100"),
        ("load:\n  thresholds: p95 < 3\n", "load.thresholds", "a list of thresholds"),
        ("load:\n  treshold: []\n", "load.treshold", "Rename it to 'thresholds'"),
    ],
)
def test_bad_values_are_config_errors_with_key_and_expectation(
    envdir: Path, load: str, key: str, expected: str
) -> None:
    """Each invalid load value is one paragraph naming its key and what was expected."""
    message = error_of(envdir, load)
    assert f"key {key}" in message
    assert expected in message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(12, 12.0), (2.5, 2.5), ("30s", 30.0), ("2m", 120.0), ("1m30s", 90.0), ("1h", 3600.0), ("45", 45.0)],
)
def test_durations_accept_numbers_and_k6_style_text(value: object, seconds: float) -> None:
    """Durations are seconds, written as numbers or like 30s, 2m, 1m30s."""
    assert parse_seconds(value) == seconds


@pytest.mark.parametrize("value", [True, "", "s", "ten", "5d", -1, 0, 25 * 3600])
def test_durations_refuse_the_rest(value: object) -> None:
    """Booleans, words, zero, negatives and more than a day are refused."""
    with pytest.raises(ValueError, match="duration"):
        parse_seconds(value)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_only_loopback_hosts_count_as_the_stacks_own(host: str, loopback: bool) -> None:
    """Load may go to loopback only: names and other addresses are refused."""
    assert is_loopback(host) is loopback


def test_local_and_demo_environments_validate() -> None:
    """The shipped demo environments carry a valid load section with a locustfile that exists."""
    root = Path(__file__).parents[2]
    for name in ("dev", "staging", "production"):
        environment = load_environment(name, root / "demo" / "environments")
        spec = environment.spec.load
        assert spec.enabled
        assert spec.thresholds
        assert (environment.base_dir / str(spec.locustfile)).resolve().is_file()
    dev = load_environment("dev", root / "demo" / "environments").spec.load
    assert dev.duration <= 30, "dev's load run stays short so the whole gate stays quick"
