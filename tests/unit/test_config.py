"""Environment files: loading, selection, and errors that name file, line, key and fix."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pytest_athalia._errors import ConfigError
from pytest_athalia.config._environment import (
    Environment,
    EnvironmentSpec,
    SLOs,
    list_environments,
    load_environment,
)

VALID = """\
description: Local stack for developers
provider: compose
stack:
  compose_files: [../docker-compose.yml]
  service: app
  port: 8000
  health_path: /health
  ready_path: /ready
  build: true
  env:
    BASE_IMAGE: athalia/base:bookworm
    POSTGRES_PASSWORD: ${file:../secrets/dev-db-password}
    WORKERS: 4
    DEBUG: false
slo:
  startup:
    max_seconds: 180
  health:
    samples: 20
    max_p95_ms: 500
    min_success_ratio: 1.0
"""

MINIMAL = """\
stack:
  compose_files: [../docker-compose.yml]
  service: app
  port: 8000
"""


@pytest.fixture
def write(envdir: Path) -> Callable[[str, str], Path]:
    """Write `<envdir>/<filename>` with the given text."""

    def write(filename: str, text: str) -> Path:
        path = envdir / filename
        path.write_text(text, encoding="utf-8")
        return path

    return write


def config_error(selector: str, environments_dir: Path | None, *, origin: str = "--athalia-env") -> str:
    """Load, expect a ConfigError, check the message's general shape, and return it."""
    with pytest.raises(ConfigError) as info:
        load_environment(selector, environments_dir, origin=origin)
    message = str(info.value)
    assert message.startswith("athalia: ")
    assert "\n" not in message
    assert "Traceback" not in message
    assert "pydantic" not in message.lower()
    assert "http" not in message
    return message


def with_line(text: str, old: str, new: str) -> str:
    """`text` with the first line containing `old` replaced by `new` (indentation kept)."""
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if old in line)
    lines[index] = lines[index][: len(lines[index]) - len(lines[index].lstrip())] + new
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- happy paths


def test_load_by_name_parses_the_file_and_resolves_paths(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """A name finds `<dir>/<name>.yml`; paths come back absolute, relative to the file."""
    path = write("dev.yml", VALID)
    env = load_environment("dev", Path("environments"))
    assert env.name == "dev"
    assert env.path == path
    assert env.path.is_absolute()
    assert env.base_dir == envdir
    assert env.compose_files == (envdir.parent / "docker-compose.yml",)
    assert env.project_directory == envdir.parent
    stack = env.spec.stack
    assert (stack.service, stack.port, stack.health_path, stack.ready_path, stack.version_path) == (
        "app",
        8000,
        "/health",
        "/ready",
        None,
    )
    assert env.spec.slo.health.max_p95_ms == 500.0


def test_environment_values_become_strings_and_references_stay_unresolved(
    envdir: Path, write: Callable[[str, str], Path]
) -> None:
    """Numbers and booleans in stack.env become compose-style strings; secrets wait until start."""
    write("dev.yml", VALID)
    env = load_environment("dev", envdir)
    assert dict(env.spec.stack.env) == {
        "BASE_IMAGE": "athalia/base:bookworm",
        "POSTGRES_PASSWORD": "${file:../secrets/dev-db-password}",
        "WORKERS": "4",
        "DEBUG": "false",
    }


@pytest.mark.parametrize("value", ["private", "as_published"])
def test_stack_ports_takes_either_mode(envdir: Path, write: Callable[[str, str], Path], value: str) -> None:
    """stack.ports chooses between private ports (the default) and the compose files' own."""
    write("dev.yml", MINIMAL + f"  ports: {value}\n")
    assert load_environment("dev", envdir).spec.stack.ports == value


def test_omitted_keys_take_their_defaults(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """Only compose_files, service and port are required."""
    write("dev.yml", MINIMAL)
    spec = load_environment("dev", envdir).spec
    assert spec.provider == "compose"
    assert spec.stack.health_path == "/health"
    assert spec.stack.build is True
    assert spec.stack.ports == "private"
    assert dict(spec.stack.env) == {}
    assert spec.slo.startup.max_seconds == 180
    assert (spec.slo.health.samples, spec.slo.health.max_p95_ms, spec.slo.health.min_success_ratio) == (
        20,
        500,
        1.0,
    )


def test_project_directory_is_relative_to_the_file(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """An explicit project_directory is resolved against the environment file's folder."""
    (envdir.parent / "app").mkdir()
    write("dev.yml", MINIMAL + "  project_directory: ../app\n")
    assert load_environment("dev", envdir).project_directory == envdir.parent / "app"


def test_multiple_compose_files_keep_their_order(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """Compose files are returned absolute, in the order written."""
    (envdir / "override.yml").write_text("services: {}\n", encoding="utf-8")
    write("dev.yml", with_line(MINIMAL, "compose_files", "compose_files: [../docker-compose.yml, override.yml]"))
    env = load_environment("dev", envdir)
    assert env.compose_files == (envdir.parent / "docker-compose.yml", envdir / "override.yml")


def test_resolve_joins_to_the_files_folder_without_following_links(
    envdir: Path, write: Callable[[str, str], Path]
) -> None:
    """Relative paths are normalised against the file's folder, absolute ones kept, symlinks not resolved."""
    write("dev.yml", MINIMAL)
    env = load_environment("dev", envdir)
    (envdir.parent / "real").mkdir()
    (envdir.parent / "link").symlink_to(envdir.parent / "real")
    assert env.resolve("../link/./a.py") == envdir.parent / "link" / "a.py"
    assert env.resolve("/opt/x/../y") == Path("/opt/y")


def test_yaml_suffix_is_found_and_yml_wins_over_it(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """A name is looked up as .yml first, then .yaml."""
    write("staging.yaml", MINIMAL)
    assert load_environment("staging", envdir).path == envdir / "staging.yaml"
    write("staging.yml", MINIMAL)
    assert load_environment("staging", envdir).path == envdir / "staging.yml"


@pytest.mark.parametrize("selector", ["environments/dev.yml", "./environments/dev.yml"])
def test_load_by_path_is_relative_to_cwd_and_named_after_the_stem(
    envdir: Path, write: Callable[[str, str], Path], selector: str
) -> None:
    """A selector with a separator is a path; the environment is named after the file."""
    write("dev.yml", VALID)
    env = load_environment(selector, None)
    assert env.name == "dev"
    assert env.path == envdir / "dev.yml"


def test_selector_ending_in_yml_is_a_path(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """`dev.yml` without a folder is a file in the current directory, not a name."""
    (envdir.parent / "dev.yml").write_text(MINIMAL.replace("../", ""), encoding="utf-8")
    env = load_environment("dev.yml", envdir)
    assert env.path == envdir.parent / "dev.yml"
    assert env.compose_files == (envdir.parent / "docker-compose.yml",)


def test_loaded_values_are_frozen(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """Neither the Environment nor its spec can be changed after loading."""
    write("dev.yml", VALID)
    env = load_environment("dev", envdir)
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        env.spec.stack.port = 1


def test_resolved_env_resolves_secrets_relative_to_the_file(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """stack.env is resolved at start, with file references relative to the environment file."""
    (envdir.parent / "secrets").mkdir()
    (envdir.parent / "secrets" / "dev-db-password").write_text("pw-from-file\n", encoding="utf-8")
    write("dev.yml", VALID)
    values, found = load_environment("dev", envdir).resolved_env({})
    assert values["POSTGRES_PASSWORD"] == "pw-from-file"
    assert found == frozenset({"pw-from-file"})


def test_list_environments_returns_sorted_unique_names(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """Names are the stems of .yml and .yaml files; other files and folders are ignored."""
    for filename in ("staging.yml", "dev.yaml", "production.yml", "dev.yml", "notes.txt", ".hidden.yml"):
        write(filename, MINIMAL)
    (envdir / "folder.yml").mkdir()
    assert list_environments(envdir) == ("dev", "production", "staging")


def test_the_demo_environments_load() -> None:
    """The environments shipped in demo/ are valid."""
    folder = Path(__file__).resolve().parents[2] / "demo" / "environments"
    assert list_environments(folder) == ("dev", "production", "staging")
    for name in list_environments(folder):
        assert isinstance(load_environment(name, folder), Environment)


# --------------------------------------------------------------------------- selection errors


def test_list_environments_needs_an_existing_folder(envdir: Path) -> None:
    """A missing folder is a ConfigError naming it and the ini key."""
    with pytest.raises(ConfigError, match=r"environments folder .*missing.* does not exist.*athalia_environments"):
        list_environments(envdir / "missing")


def test_missing_path_names_the_file_and_the_known_environments(
    envdir: Path, write: Callable[[str, str], Path]
) -> None:
    """A path that does not exist names the path, its origin and the environments that do exist."""
    write("dev.yml", MINIMAL)
    message = config_error("environments/prod.yml", envdir, origin="ATHALIA_ENV")
    assert "environments/prod.yml" in message
    assert "ATHALIA_ENV" in message
    assert "does not exist" in message
    assert "dev" in message


def test_unknown_name_lists_the_valid_names_and_how_to_select(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """An unknown name lists what is there, suggests the closest, and names every way to select."""
    for filename in ("dev.yml", "staging.yml", "production.yaml"):
        write(filename, MINIMAL)
    message = config_error("prod", envdir, origin="default")
    assert "unknown environment 'prod' (from default)" in message
    assert "dev, production, staging" in message
    assert "Did you mean 'production'?" in message
    for way in ("--athalia-env NAME|PATH", "ATHALIA_ENV", "athalia_environments"):
        assert way in message


def test_unknown_name_in_an_empty_folder_says_it_is_empty(envdir: Path) -> None:
    """With no environment files the message says so instead of listing nothing."""
    assert "no .yml/.yaml files" in config_error("dev", envdir)


def test_name_without_an_environments_folder_explains_the_ini_key() -> None:
    """A name needs ini athalia_environments (or a path instead)."""
    message = config_error("dev", None)
    assert "athalia_environments" in message
    assert "--athalia-env path/to/dev.yml" in message


@pytest.mark.parametrize(("make", "state"), [(False, "does not exist"), (True, "is not a directory")])
def test_bad_environments_folder_is_named(envdir: Path, make: bool, state: str) -> None:
    """A missing folder, or a file where the folder should be, is named with the ini key."""
    folder = envdir.parent / "envs"
    if make:
        folder.write_text("", encoding="utf-8")
    message = config_error("dev", folder)
    assert f"environments folder envs (from ini athalia_environments) {state}" in message


def test_empty_selector_is_rejected(envdir: Path) -> None:
    """A blank selector names its origin."""
    assert "ATHALIA_ENV is empty" in config_error("  ", envdir, origin="ATHALIA_ENV")


# --------------------------------------------------------------------------- file errors


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_file_is_named(envdir: Path, write: Callable[[str, str], Path], text: str) -> None:
    """An empty file says what it should contain."""
    write("dev.yml", text)
    message = config_error("dev", envdir)
    assert "environments/dev.yml is empty" in message
    assert "stack" in message


def test_unparsable_yaml_names_line_and_column(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """A syntax error points at the line and column PyYAML reports."""
    write("dev.yml", "stack:\n  service: app\n   port: 80\n")
    message = config_error("dev", envdir)
    assert "environments/dev.yml, line 3, column 8: expected valid YAML" in message
    assert "mapping values are not allowed here" in message
    assert "Fix the syntax" in message


def test_multiple_documents_are_rejected(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """A file is one document; a second `---` is a syntax error with its line."""
    write("dev.yml", MINIMAL + "---\nother: 1\n")
    assert "line 5" in config_error("dev", envdir)


@pytest.mark.parametrize(("text", "found"), [("- a\n- b\n", "found a list"), ("just text\n", "found 'just text'")])
def test_top_level_must_be_a_mapping(envdir: Path, write: Callable[[str, str], Path], text: str, found: str) -> None:
    """A list or scalar at the top level lists the expected keys."""
    write("dev.yml", text)
    message = config_error("dev", envdir)
    assert "environments/dev.yml, line 1, top level: expected a mapping with keys: description, provider" in message
    assert found in message


def test_invalid_utf8_names_the_line(envdir: Path) -> None:
    """Bytes that are not UTF-8 are located by line."""
    (envdir / "dev.yml").write_bytes(b"stack:\n  service: \xff\n")
    assert "environments/dev.yml, line 2: expected UTF-8 text, found byte 0xff" in config_error("dev", envdir)


def test_control_characters_are_located(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """Unprintable characters are reported with line and column."""
    write("dev.yml", "stack:\n  service: a\x07\n")
    assert "line 2, column 13" in config_error("dev", envdir)


def test_values_yaml_cannot_convert_are_config_errors(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """An impossible date is a ConfigError, not PyYAML's ValueError."""
    write("dev.yml", MINIMAL + "description: 2024-13-45\n")
    assert "Quote the value" in config_error("dev", envdir)


def test_wrong_type_message_names_file_line_key_expected_found_and_fix(
    envdir: Path, write: Callable[[str, str], Path]
) -> None:
    """The canonical message: file, line, key, expectation, found value, fix."""
    write("dev.yml", with_line(VALID, "port:", "port: eighty"))
    assert config_error("dev", envdir) == (
        "athalia: environments/dev.yml, line 6, key stack.port: expected an integer from 1 to 65535, "
        "found 'eighty'. Fix the value in that file."
    )


@pytest.mark.parametrize(
    ("old", "new", "key", "expected"),
    [
        ("port:", "port: 0", "stack.port", "an integer from 1 to 65535"),
        ("port:", "port: 70000", "stack.port", "an integer from 1 to 65535"),
        ("port:", "port: 80.5", "stack.port", "an integer from 1 to 65535"),
        ("port:", "port: true", "stack.port", "an integer from 1 to 65535"),
        ("service:", "service: ''", "stack.service", "a compose service name"),
        ("service:", "service: [a]", "stack.service", "a compose service name"),
        ("health_path:", "health_path: health", "stack.health_path", "a URL path starting with '/'"),
        ("ready_path:", "ready_path: 5", "stack.ready_path", "a URL path starting with '/'"),
        ("build:", "build: 'yes please'", "stack.build", "true or false"),
        ("compose_files:", "compose_files: []", "stack.compose_files", "a non-empty list"),
        ("compose_files:", "compose_files: docker-compose.yml", "stack.compose_files", "a non-empty list"),
        ("compose_files:", "compose_files: [5]", "stack.compose_files[0]", "a file path (non-empty text)"),
        ("compose_files:", "compose_files: ['']", "stack.compose_files[0]", "a file path (non-empty text)"),
        ("compose_files:", "compose_files: !!set {a}", "stack.compose_files", "a list (compose file order"),
        ("max_seconds:", "max_seconds: 0", "slo.startup.max_seconds", "a number of seconds greater than 0"),
        (
            "max_seconds:",
            "max_seconds: .inf",
            "slo.startup.max_seconds",
            "a number of seconds greater than 0",
        ),
        (
            "max_seconds:",
            "max_seconds: '180'",
            "slo.startup.max_seconds",
            "a number of seconds greater than 0",
        ),
        ("samples:", "samples: 0", "slo.health.samples", "a whole number of samples, at least 1"),
        ("samples:", "samples: 2.5", "slo.health.samples", "a whole number of samples, at least 1"),
        ("max_p95_ms:", "max_p95_ms: -1", "slo.health.max_p95_ms", "a number of milliseconds greater than 0"),
        (
            "min_success_ratio:",
            "min_success_ratio: 0",
            "slo.health.min_success_ratio",
            "a number greater than 0",
        ),
        (
            "min_success_ratio:",
            "min_success_ratio: 1.5",
            "slo.health.min_success_ratio",
            "a number greater than 0",
        ),
        ("provider:", "provider: kubernetes", "provider", "one of: compose"),
        ("build:", "ports: public", "stack.ports", "one of: private, as_published"),
        ("build:", "ports: true", "stack.ports", "one of: private, as_published"),
        ("description:", "description: [a, b]", "description", "a line of text"),
        ("WORKERS:", "WORKERS: [1, 2]", "stack.env.WORKERS", "a string, number or true/false"),
        ("WORKERS:", "WORKERS:", "stack.env.WORKERS", "a string, number or true/false"),
        ("WORKERS:", "1WORKERS: 4", "stack.env.1WORKERS", "a variable name matching"),
    ],
)
def test_bad_values_name_line_key_expectation_and_fix(
    envdir: Path, write: Callable[[str, str], Path], old: str, new: str, key: str, expected: str
) -> None:
    """Wrong types and out-of-range values are reported at their line with the rule they break."""
    text = with_line(VALID, old, new)
    write("dev.yml", text)
    message = config_error("dev", envdir)
    line = next(number for number, content in enumerate(text.splitlines(), 1) if new in content)
    assert f"environments/dev.yml, line {line}, key {key}: expected {expected}" in message
    assert ", found " in message
    assert message.endswith("Fix the value in that file.")


@pytest.mark.parametrize(
    ("tail", "key", "expected"),
    [
        ("slo:\n  health: 5\n", "slo.health", "a mapping with keys: samples, max_p95_ms, min_success_ratio"),
        ("slo: []\n", "slo", "a mapping with keys: " + ", ".join(SLOs.model_fields)),
        ("slo:\n", "slo", "a mapping with keys: " + ", ".join(SLOs.model_fields)),
    ],
)
def test_sections_must_be_mappings(
    envdir: Path, write: Callable[[str, str], Path], tail: str, key: str, expected: str
) -> None:
    """A section given as a scalar, list or nothing lists the keys it should hold."""
    write("dev.yml", MINIMAL + tail)
    message = config_error("dev", envdir)
    assert f"key {key}: expected {expected}, found " in message


@pytest.mark.parametrize(
    ("old", "new", "key", "level", "suggestion"),
    [
        ("port:", "prot: 8000", "stack.prot", "under stack", "'port'"),
        ("health:", "healthy: {}", "slo.healthy", "under slo", "'health'"),
        ("samples:", "sample_count: 3", "slo.health.sample_count", "under slo.health", None),
        ("description:", "descripton: typo", "descripton", "at the top level", "'description'"),
    ],
)
def test_unknown_keys_list_the_allowed_keys_and_suggest_the_closest(
    envdir: Path,
    write: Callable[[str, str], Path],
    old: str,
    new: str,
    key: str,
    level: str,
    suggestion: str | None,
) -> None:
    """An unknown key names the allowed keys at its level and the closest one when there is one."""
    lines = VALID.splitlines()
    index = next(i for i, line in enumerate(lines) if old in line)
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines.insert(index, indent + new)
    write("dev.yml", "\n".join(lines) + "\n")
    message = config_error("dev", envdir)
    assert f"environments/dev.yml, line {index + 1}, key {key}: unknown key" in message
    assert f"allowed {level}: " in message
    if suggestion is not None:
        assert f"Rename it to {suggestion} or remove it" in message


def test_unknown_key_lists_every_allowed_key(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """The full list of keys at that level is in the message."""
    write("dev.yml", MINIMAL + "  extra: 1\n")
    message = config_error("dev", envdir)
    assert (
        "compose_files, project_directory, service, port, health_path, ready_path, version_path, build, ports, env"
        in message
    )


def test_missing_required_key_points_at_the_parent(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """A missing key is located at the mapping it belongs in and says where to add it."""
    write("dev.yml", MINIMAL.replace("  port: 8000\n", ""))
    assert config_error("dev", envdir) == (
        "athalia: environments/dev.yml, line 2, key stack.port: required but missing; "
        "expected an integer from 1 to 65535. Add it under stack in that file."
    )


def test_missing_stack_is_reported_at_the_top_level(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """Without a stack section the message asks for it at the top level."""
    write("dev.yml", "description: nothing else\n")
    message = config_error("dev", envdir)
    assert "key stack: required but missing; expected a mapping with keys: compose_files" in message
    assert "Add it at the top level" in message


def test_all_problems_are_reported_together_in_line_order(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """Several mistakes give one message with one sentence each, sorted by line."""
    text = with_line(
        with_line(with_line(VALID, "port:", "port: eighty"), "samples:", "samples: 0"),
        "provider:",
        "provider: k8s",
    )
    write("dev.yml", text)
    message = config_error("dev", envdir)
    assert message.startswith("athalia: environments/dev.yml has 3 problems. ")
    positions = [message.index(f"key {key}:") for key in ("provider", "stack.port", "slo.health.samples")]
    assert positions == sorted(positions)
    assert re.search(r"Line 2, key provider: .* Line 6, key stack.port: .* Line 19, key slo.health.samples:", message)


def test_duplicate_keys_are_reported(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """YAML would silently keep the last of two equal keys; we say so."""
    write("dev.yml", MINIMAL + "  port: 9000\n")
    assert config_error("dev", envdir) == (
        "athalia: environments/dev.yml, line 5, key stack.port: appears twice (first on line 4); "
        "YAML keeps only the last. Remove one of them in that file."
    )


def test_missing_compose_file_names_key_and_resolved_path(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """Each compose file must exist; the message shows what it resolved to."""
    write("dev.yml", with_line(MINIMAL, "compose_files", "compose_files: [../docker-compose.yml, ../nope.yml]"))
    message = config_error("dev", envdir)
    assert "environments/dev.yml, line 2, key stack.compose_files[1]: expected an existing compose file" in message
    assert f"resolves to {envdir.parent / 'nope.yml'} and does not exist" in message
    assert "Create it or fix the path" in message


def test_missing_compose_file_is_reported_with_schema_problems(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """A missing file is not hidden behind an unrelated schema error."""
    write(
        "dev.yml",
        with_line(with_line(MINIMAL, "compose_files", "compose_files: [nope.yml]"), "port:", "port: x"),
    )
    message = config_error("dev", envdir)
    assert "has 2 problems" in message
    assert "key stack.compose_files[0]" in message
    assert "key stack.port" in message


def test_missing_project_directory_is_reported(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """An explicit project_directory must be an existing folder."""
    write("dev.yml", MINIMAL + "  project_directory: ../app\n")
    message = config_error("dev", envdir)
    assert "line 5, key stack.project_directory: expected an existing directory, found '../app'" in message


def test_invalid_secret_reference_is_a_load_error(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """Malformed references fail at load with file, line, key and the valid forms."""
    write("dev.yml", with_line(VALID, "POSTGRES_PASSWORD", "POSTGRES_PASSWORD: ${vault:db/pw}"))
    message = config_error("dev", envdir)
    assert "environments/dev.yml, line 12, key stack.env.POSTGRES_PASSWORD: expected secret references" in message
    assert "unknown scheme 'vault'" in message
    assert "${env:NAME}" in message
    assert "${file:PATH}" in message
    assert "$${" in message


def test_escaped_references_load(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """`$${` is a literal and passes the reference check."""
    write("dev.yml", with_line(VALID, "WORKERS", "WORKERS: cost $${x}"))
    assert load_environment("dev", envdir).spec.stack.env["WORKERS"] == "cost $${x}"


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("a: &x [*x]\n", "key a: unknown key 'a'"),
        ("&m {stack: *m}\n", "key stack.stack: unknown key"),
        # Too deep for PyYAML's recursive parser on most interpreters; either way a ConfigError.
        ("[" * 800 + "]" * 800 + "\n", "athalia: environments/dev.yml"),
        (
            "!!python/object:os.system {}\n",
            "line 1, column 1: expected valid YAML, found a value YAML cannot build",
        ),
        ("description: !custom x\n", "Use plain keys and values without tags"),
        ("? [a]\n: b\n", "unhashable key"),
        ("1: a\nnull: b\n", "Line 2, key null: unknown key 'null'"),
        (
            "description: !!binary aGVsbG8=\n",
            "key description: expected a line of text, found b'hello' (bytes)",
        ),
        ("description: 2020-01-01\n", "found 2020-01-01 (date)"),
        ("stack:\n\tport: 80\n", "line 2, column 1: expected valid YAML, found a syntax error"),
    ],
)
def test_odd_yaml_is_reported_as_config_error(
    envdir: Path, write: Callable[[str, str], Path], text: str, part: str
) -> None:
    """Aliases, deep nesting, tags, odd keys and non-text scalars all end as readable ConfigErrors."""
    write("dev.yml", text)
    assert part in config_error("dev", envdir)


def test_windows_line_endings_and_bom_load(envdir: Path) -> None:
    """A file saved with CRLF line endings and a UTF-8 BOM is still valid."""
    (envdir / "dev.yml").write_bytes(b"\xef\xbb\xbf" + MINIMAL.replace("\n", "\r\n").encode())
    assert load_environment("dev", envdir).spec.stack.port == 8000


# --------------------------------------------------------------------------- properties


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a compose file, where fuzzed environment files are written."""
    root = tmp_path_factory.mktemp("arena")
    (root / "docker-compose.yml").write_text("services: {}\n", encoding="utf-8")
    (root / "environments").mkdir()
    return root / "environments" / "fuzz.yml"


def loads_or_config_error(path: Path, content: str | bytes) -> None:
    """Write `content` to `path` and load it: anything but success or ConfigError fails the test."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    try:
        env = load_environment(str(path), None)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("athalia: ")
        assert "Traceback" not in message
        assert "errors.pydantic.dev" not in message
    else:
        assert isinstance(env.spec, EnvironmentSpec)


_TEXT = st.characters(codec="utf-8")
_KEYS = st.sampled_from(
    [
        "description",
        "provider",
        "stack",
        "slo",
        "compose_files",
        "service",
        "port",
        "env",
        "startup",
        "health",
        "samples",
        "max_p95_ms",
        "min_success_ratio",
        "max_seconds",
        "health_path",
        "build",
        "project_directory",
    ]
) | st.text(_TEXT, max_size=8)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(_TEXT, max_size=12)
    | st.sampled_from(["../docker-compose.yml", "/health", "compose", "${env:X}", "${bad}", "app", "$${"])
)
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=5),
    max_leaves=25,
)


@st.composite
def _mutations(draw: st.DrawFn) -> str:
    """VALID with a few random edits: deletions, insertions, replacements, duplicated or swapped lines."""
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "swap"]))
        at = draw(st.integers(0, len(text)))
        if kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 10)) :]
        elif kind == "insert":
            text = (
                text[:at]
                + draw(st.text(st.sampled_from(" :-[]{}'\"#&*!|>\n\t,?%@`$x0") | _TEXT, max_size=5))
                + text[at:]
            )
        elif kind == "replace":
            text = text[:at] + draw(_TEXT) + text[at + 1 :]
        else:
            lines = text.splitlines(keepends=True) or [""]
            first, second = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if kind == "duplicate":
                lines.insert(second, lines[first])
            else:
                lines[first], lines[second] = lines[second], lines[first]
            text = "".join(lines)
    return text


_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(content=st.text(_TEXT, max_size=200) | st.binary(max_size=100))
def test_random_text_loads_or_raises_config_error(arena: Path, content: str | bytes) -> None:
    """Arbitrary text or bytes never escape as anything but ConfigError."""
    loads_or_config_error(arena, content)


@_FUZZ
@given(document=_DOCUMENTS | st.dictionaries(_KEYS, _DOCUMENTS, max_size=4))
def test_random_yaml_documents_load_or_raise_config_error(arena: Path, document: object) -> None:
    """Arbitrary YAML structures never escape as anything but ConfigError."""
    loads_or_config_error(arena, yaml.safe_dump(document, allow_unicode=True))


@_FUZZ
@given(text=_mutations())
def test_mutated_valid_files_load_or_raise_config_error(arena: Path, text: str) -> None:
    """Small edits of a valid file never escape as anything but ConfigError."""
    loads_or_config_error(arena, text)


def test_missing_locustfile_is_reported_at_start(envdir: Path, write: Callable[[str, str], Path]) -> None:
    """load.locustfile must exist when pytest starts, not only when the load test runs."""
    write("dev.yml", MINIMAL + "load:\n  locustfile: ../nope_locustfile.py\n")
    message = config_error("dev", envdir)
    assert "key load.locustfile: expected an existing file, found '../nope_locustfile.py'" in message
