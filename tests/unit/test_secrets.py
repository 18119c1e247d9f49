"""Secret references: finding, resolving, and redacting them."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_athalia._errors import ConfigError, SecretError
from pytest_athalia.config._secrets import (
    VALID_FORMS,
    Redactor,
    Resolved,
    SecretRef,
    find_references,
    reference_problems,
    resolve,
    resolve_mapping,
)

SECRET = "s3cr3t-Value!"


def test_find_references_returns_env_and_file_references_with_spans() -> None:
    """Both schemes are found, in order, with the span they occupy."""
    text = "u:${env:PW}@${file:../secrets/db}"
    refs = find_references(text)
    assert refs == (SecretRef("env", "PW", 2, 11), SecretRef("file", "../secrets/db", 12, 33))
    assert [text[ref.start : ref.end] for ref in refs] == [ref.text for ref in refs]


def test_find_references_ignores_plain_text_dollars_and_escapes() -> None:
    """Text without `${`, a lone `$`, and `$${` escapes hold no references."""
    assert find_references("plain $HOME $ 5$ $${env:X} $$") == ()
    assert reference_problems("plain $${not a reference}") == ()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("${vault:x}", "unknown scheme 'vault'"),
        ("${env:}", "empty variable name"),
        ("${env:1ABC}", "invalid variable name"),
        ("${env:A-B}", "invalid variable name"),
        ("${file:}", "empty path"),
        ("${file:   }", "empty path"),
        ("${NAME}", "no scheme"),
        ("${}", "no scheme"),
        ("prefix ${env:X", "unterminated"),
    ],
)
def test_invalid_forms_are_config_errors_that_list_the_valid_forms(text: str, reason: str) -> None:
    """Every malformed `${...}` raises ConfigError naming the place, the problem and the valid forms."""
    with pytest.raises(ConfigError) as info:
        find_references(text, where="dev.yml, key stack.env.X")
    message = str(info.value)
    assert not isinstance(info.value, SecretError)
    assert message.startswith("athalia: dev.yml, key stack.env.X: ")
    assert reason in message
    assert VALID_FORMS in message
    assert "$${" in message


def test_reference_problems_reports_each_malformed_reference() -> None:
    """All problems of one string are listed, with their positions."""
    problems = reference_problems("${env:OK} ${vault:a} ${b}")
    assert len(problems) == 2
    assert "at character 11" in problems[0]
    assert "at character 22" in problems[1]


def test_unterminated_reference_does_not_echo_the_rest_of_the_string() -> None:
    """An unterminated `${` may precede a literal the author meant to keep private."""
    (problem,) = reference_problems("${" + SECRET)
    assert SECRET not in problem


def test_resolve_substitutes_env_references_and_reports_the_secret() -> None:
    """`${env:NAME}` is replaced by the variable; the value is returned as a secret."""
    result = resolve("${env:PW}", base_dir=Path("/nowhere"), environ={"PW": SECRET})
    assert result == Resolved(SECRET, frozenset({SECRET}))


def test_resolve_mixes_text_and_references() -> None:
    """Text around references is kept verbatim."""
    result = resolve(
        "postgres://${env:USER}:${env:PW}@db/x",
        base_dir=Path("/nowhere"),
        environ={"USER": "u", "PW": SECRET},
    )
    assert result.value == f"postgres://u:{SECRET}@db/x"
    assert result.secrets == frozenset({"u", SECRET})


def test_resolve_reads_files_relative_to_base_dir_and_strips_trailing_newlines(tmp_path: Path) -> None:
    """`${file:PATH}` is relative to the environment file's folder; trailing newlines are dropped."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "db").write_text(SECRET + "\r\n", encoding="utf-8")
    envs = tmp_path / "environments"
    envs.mkdir()
    result = resolve("[${file:../secrets/db}]", base_dir=envs, environ={})
    assert result == Resolved(f"[{SECRET}]", frozenset({SECRET}))


def test_resolve_reads_absolute_file_paths(tmp_path: Path) -> None:
    """An absolute PATH ignores base_dir."""
    secret_file = tmp_path / "pw"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    assert resolve(f"${{file:{secret_file}}}", base_dir=Path("/elsewhere"), environ={}).value == SECRET


def test_resolve_turns_escapes_into_literal_dollar_braces() -> None:
    """`$${` becomes `${` and what follows is not resolved."""
    result = resolve("cost: $${env:PW} ${env:PW}", base_dir=Path("/nowhere"), environ={"PW": "x1"})
    assert result.value == "cost: ${env:PW} x1"
    assert result.secrets == frozenset({"x1"})


def test_resolve_keeps_empty_values_out_of_the_secrets() -> None:
    """A variable set to '' resolves to '', and '' is never a secret to redact."""
    result = resolve("a${env:EMPTY}b", base_dir=Path("/nowhere"), environ={"EMPTY": ""})
    assert result == Resolved("ab", frozenset())


def test_missing_variable_is_a_secret_error_naming_reference_place_and_fix() -> None:
    """An unset variable names the reference and `export`, and never a secret value."""
    with pytest.raises(SecretError) as info:
        resolve(
            "${env:SET}${env:UNSET_VAR}",
            base_dir=Path("/nowhere"),
            environ={"SET": SECRET},
            where="prod.yml, key stack.env.DB",
        )
    message = str(info.value)
    assert message.startswith("athalia: prod.yml, key stack.env.DB: ")
    assert "${env:UNSET_VAR}" in message
    assert "export UNSET_VAR=" in message
    assert SECRET not in message


def test_missing_file_is_a_secret_error_naming_the_resolved_path(tmp_path: Path) -> None:
    """A missing file names the reference, the absolute path and how to fix it."""
    with pytest.raises(SecretError) as info:
        resolve("${file:../secrets/nope}", base_dir=tmp_path / "environments", environ={"X": SECRET})
    message = str(info.value)
    assert "${file:../secrets/nope}" in message
    assert str(tmp_path / "secrets" / "nope") in message
    assert "does not exist" in message
    assert "Create the file" in message
    assert SECRET not in message


def test_directory_instead_of_file_is_a_secret_error(tmp_path: Path) -> None:
    """A reference to a folder says so."""
    with pytest.raises(SecretError, match="is a directory"):
        resolve("${file:.}", base_dir=tmp_path, environ={})


def test_undecodable_file_error_does_not_quote_its_bytes(tmp_path: Path) -> None:
    """The decoder's message would quote a byte of the secret; ours does not."""
    (tmp_path / "pw").write_bytes(b"abc\xff\xfe")
    with pytest.raises(SecretError) as info:
        resolve("${file:pw}", base_dir=tmp_path, environ={})
    message = str(info.value)
    assert "UTF-8" in message
    assert "0xff" not in message
    assert "abc" not in message


def test_resolve_rejects_malformed_references_before_resolving() -> None:
    """A malformed reference is a ConfigError, not a silent literal."""
    with pytest.raises(ConfigError, match="unknown scheme"):
        resolve("${vault:x} ${env:PW}", base_dir=Path("/nowhere"), environ={"PW": SECRET})


def test_resolve_mapping_resolves_every_value_and_collects_secrets(tmp_path: Path) -> None:
    """Each value is resolved; the secrets of all values are returned together."""
    (tmp_path / "pw").write_text("from-file\n", encoding="utf-8")
    values, found = resolve_mapping(
        {"A": "${env:A}", "B": "${file:pw}", "C": "plain"},
        base_dir=tmp_path,
        environ={"A": "from-env"},
        where_prefix="dev.yml, key stack.env",
    )
    assert values == {"A": "from-env", "B": "from-file", "C": "plain"}
    assert found == frozenset({"from-env", "from-file"})


def test_resolve_mapping_reports_every_failure_at_once(tmp_path: Path) -> None:
    """All unresolvable values are named in one SecretError, each with its key."""
    with pytest.raises(SecretError) as info:
        resolve_mapping(
            {"OK": "${env:OK}", "ONE": "${env:MISSING_ONE}", "TWO": "${file:missing}"},
            base_dir=tmp_path,
            environ={"OK": SECRET},
            where_prefix="dev.yml, key stack.env",
        )
    message = str(info.value)
    assert message.startswith("athalia: 2 secrets cannot be resolved.")
    assert "key stack.env.ONE" in message
    assert "key stack.env.TWO" in message
    assert SECRET not in message
    assert "\n" not in message


def test_redactor_masks_every_occurrence() -> None:
    """Each occurrence of a known secret becomes ***."""
    redactor = Redactor(SECRET)
    assert redactor.redact(f"a {SECRET} b {SECRET}") == "a *** b ***"


def test_redactor_masks_the_longest_secret_fully() -> None:
    """A secret that contains another is masked whole, leaving no tail behind."""
    redactor = Redactor("pass", "password123")
    assert redactor.redact("x password123 y pass z") == "x *** y *** z"


def test_redactor_masks_overlapping_secrets_completely() -> None:
    """Two secrets overlapping in the text are masked as one span, hiding both."""
    redactor = Redactor("abcd", "cdef")
    assert redactor.redact("[abcdef]") == "[***]"


def test_redactor_masks_overlapping_occurrences_of_one_secret() -> None:
    """`aa` in `aaa` overlaps itself; nothing of it remains."""
    assert Redactor("aa").redact("xaaay") == "x***y"


def test_redactor_masks_short_secrets_too() -> None:
    """Secrets shorter than four characters are masked: a leak is worse than ugly output."""
    redactor = Redactor("ab", "7")
    assert redactor.redact("ab-7-ab") == "***-***-***"


def test_redactor_treats_secrets_as_text_not_patterns() -> None:
    """Regex metacharacters in a secret match only themselves."""
    redactor = Redactor("a.b*")
    assert redactor.redact("axbb a.b*") == "axbb ***"


def test_redactor_ignores_empty_strings_and_counts_distinct_secrets() -> None:
    """'' is never added; adding a secret twice counts once; an empty redactor is falsy."""
    redactor = Redactor()
    assert not redactor
    assert redactor.redact("unchanged") == "unchanged"
    redactor.add("", "x1", "x1")
    assert redactor
    assert redactor.known == 1
    assert "x1" not in repr(redactor)


def test_redact_bytes_masks_utf8_encoded_secrets() -> None:
    """Raw output is masked with the secrets' UTF-8 bytes."""
    redactor = Redactor("pässwörd")
    assert redactor.redact_bytes("user pässwörd\n".encode()) == b"user ***\n"
    assert Redactor().redact_bytes(b"raw") == b"raw"


def test_redactor_is_safe_to_feed_from_threads() -> None:
    """Secrets added concurrently are all kept."""
    redactor = Redactor()

    def feed(offset: int) -> None:
        for index in range(200):
            redactor.add(f"secret-{offset}-{index}")

    threads = [threading.Thread(target=feed, args=(offset,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redactor.known == 1600
    assert redactor.redact("secret-7-199") == "***"


_NO_MASK_CHARS = st.characters(codec="utf-8", exclude_characters="*")


@settings(max_examples=200, deadline=None)
@given(
    secrets=st.lists(st.text(_NO_MASK_CHARS, min_size=1, max_size=6), max_size=4),
    pieces=st.lists(st.text(_NO_MASK_CHARS, max_size=6), max_size=6),
)
def test_redacted_text_never_contains_a_known_secret(secrets: list[str], pieces: list[str]) -> None:
    """Whatever the secrets and the text around them, no secret survives redaction."""
    text = "".join(piece + (secrets[index % len(secrets)] if secrets else "") for index, piece in enumerate(pieces))
    redacted = Redactor(*secrets).redact(text)
    for secret in secrets:
        assert secret not in redacted


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from("${}:envfil_A1/.x "), max_size=30) | st.text(max_size=30))
def test_find_references_either_returns_or_raises_config_error(text: str) -> None:
    """Any text yields references or a ConfigError (exactly when problems are found), nothing else."""
    if reference_problems(text):
        with pytest.raises(ConfigError, match=re.escape(VALID_FORMS)):
            find_references(text)
    else:
        refs = find_references(text)
        assert all(text[ref.start : ref.end] == ref.text for ref in refs)
