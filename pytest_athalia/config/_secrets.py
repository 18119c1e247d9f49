"""Secret references in environment files, their resolution, and redaction.

An environment file never holds a secret itself, only a reference inside a string value:

* ``${env:NAME}`` -- the value of environment variable ``NAME`` (``[A-Za-z_][A-Za-z0-9_]*``);
* ``${file:PATH}`` -- the content of ``PATH`` (relative to the environment file's directory, or
  absolute), without its trailing newlines, like the shell's ``$(cat PATH)``.

A string may mix text and references (``postgres://u:${env:PW}@db/x``). ``$${`` is a literal ``${``.
Any other ``${...}`` form is an error at load, so a typo never reaches compose as literal text.

References are checked when the file is loaded (:func:`reference_problems`, :func:`find_references`)
and resolved only when the stack starts (:func:`resolve`, :func:`resolve_mapping`), so a run that
never starts a stack does not need the secrets. Every resolved value is handed to a
:class:`Redactor`; no message of this module ever contains a secret's value.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import AnyStr, Final, Literal, final

from pytest_athalia._errors import ConfigError, SecretError

__all__ = [
    "ENV_NAME",
    "MASK",
    "VALID_FORMS",
    "Redactor",
    "Resolved",
    "SecretRef",
    "find_references",
    "reference_problems",
    "resolve",
    "resolve_mapping",
]

VALID_FORMS: Final = "${env:NAME} (NAME matching [A-Za-z_][A-Za-z0-9_]*), ${file:PATH}, or $${ for a literal ${"

MASK: Final = "***"
ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# One alternation, scanned left to right: the escape must win over a reference starting at
# the same "$", and an unterminated "${" is matched last so it is reported, not skipped.
_TOKEN = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)\}|\$\{")
_SNIPPET = 40

Scheme = Literal["env", "file"]


@final
@dataclass(frozen=True)
class SecretRef:
    """One well-formed reference: ``scheme`` and ``target`` (variable name or path), and its span."""

    scheme: Scheme
    target: str
    start: int
    end: int

    @property
    def text(self) -> str:
        """The reference as written, e.g. ``${env:PW}``."""
        return f"${{{self.scheme}:{self.target}}}"


@final
@dataclass(frozen=True)
class Resolved:
    """A string with its references substituted, and the secret values that went into it."""

    value: str
    secrets: frozenset[str]


@dataclass(frozen=True)
class _Literal:
    text: str


@dataclass(frozen=True)
class _Problem:
    description: str


_Token = _Literal | SecretRef | _Problem


def _shorten(fragment: str) -> str:
    return fragment if len(fragment) <= _SNIPPET else fragment[: _SNIPPET - 3] + "..."


def _classify(body: str, start: int, end: int) -> SecretRef | _Problem:
    scheme, colon, target = body.partition(":")
    if scheme == "env" and ENV_NAME.fullmatch(target):
        return SecretRef("env", target, start, end)
    if scheme == "file" and target.strip():
        return SecretRef("file", target, start, end)
    if not colon:
        reason = "no scheme"
    elif scheme == "env":
        reason = "empty variable name" if not target else "invalid variable name"
    elif scheme == "file":
        reason = "empty path"
    else:
        reason = f"unknown scheme {scheme!r}"
    return _Problem(f"'{_shorten('${' + body + '}')}' at character {start + 1} ({reason})")


def _scan(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() > position:
            tokens.append(_Literal(text[position : match.start()]))
        position = match.end()
        if match.group(0) == "$${":
            tokens.append(_Literal("${"))
        elif match.group("body") is None:
            # The rest of the string is not echoed: it may be a literal the author meant to keep private.
            tokens.append(_Problem(f"an unterminated '${{' at character {match.start() + 1}"))
        else:
            tokens.append(_classify(match.group("body"), match.start(), match.end()))
    if position < len(text):
        tokens.append(_Literal(text[position:]))
    return tokens


def reference_problems(text: str) -> tuple[str, ...]:
    """Describe every malformed ``${...}`` in ``text`` (empty when all references are valid)."""
    return tuple(token.description for token in _scan(text) if isinstance(token, _Problem))


def _where(where: str | None) -> str:
    return f"{where}: " if where else ""


def _invalid(problems: Iterable[str], where: str | None) -> ConfigError:
    listed = "; ".join(problems)
    return ConfigError(
        f"athalia: {_where(where)}expected secret references of the form {VALID_FORMS}, found {listed}. "
        "Fix the reference, or write $${ where a literal ${ is meant."
    )


def find_references(text: str, *, where: str | None = None) -> tuple[SecretRef, ...]:
    """Return the references in ``text``; raise :class:`ConfigError` if any ``${...}`` is malformed.

    ``where`` (e.g. ``"dev.yml, line 9, key stack.env.PW"``) is put in front of the message.
    """
    tokens = _scan(text)
    problems = [token.description for token in tokens if isinstance(token, _Problem)]
    if problems:
        raise _invalid(problems, where)
    return tuple(token for token in tokens if isinstance(token, SecretRef))


def _lookup(ref: SecretRef, *, base_dir: Path, environ: Mapping[str, str], where: str | None) -> str:
    prefix = f"athalia: {_where(where)}secret reference {ref.text}"
    if ref.scheme == "env":
        try:
            return environ[ref.target]
        except KeyError:
            raise SecretError(
                f"{prefix} needs environment variable {ref.target}, which is not set. "
                f"Export it before running pytest (export {ref.target}=...), "
                "or use a ${file:PATH} reference."
            ) from None
    path = Path(os.path.abspath(base_dir / ref.target))
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problem, fix = "does not exist", "Create the file with the secret as its only content"
    except IsADirectoryError:
        problem, fix = "is a directory", "Point the reference at a file"
    except PermissionError:
        problem, fix = "is not readable", "Make the file readable by the user running pytest"
    except UnicodeDecodeError:
        # The decoder's own message quotes the offending byte: a piece of the secret.
        problem, fix = "is not UTF-8 text", "Store the secret as UTF-8 text"
    except OSError as exc:
        problem, fix = f"cannot be read ({exc.strerror or type(exc).__name__})", "Check the file"
    except ValueError:  # e.g. a NUL character in PATH
        problem, fix = "is not a valid path", "Fix PATH"
    else:
        return content.rstrip("\r\n")
    raise SecretError(
        f"{prefix} reads {path}, which {problem} (PATH is relative to {base_dir}). {fix}, or change the reference."
    )


def resolve(text: str, *, base_dir: Path, environ: Mapping[str, str], where: str | None = None) -> Resolved:
    """Substitute every reference in ``text``.

    Raises :class:`ConfigError` for a malformed reference and :class:`SecretError` for a variable
    that is not set or a file that cannot be read; messages name the reference, never its value.
    """
    tokens = _scan(text)
    problems = [token.description for token in tokens if isinstance(token, _Problem)]
    if problems:
        raise _invalid(problems, where)
    parts: list[str] = []
    secrets: set[str] = set()
    for token in tokens:
        if isinstance(token, SecretRef):
            value = _lookup(token, base_dir=base_dir, environ=environ, where=where)
            parts.append(value)
            if value:
                secrets.add(value)
        elif isinstance(token, _Literal):
            parts.append(token.text)
    return Resolved("".join(parts), frozenset(secrets))


def resolve_mapping(
    values: Mapping[str, str], *, base_dir: Path, environ: Mapping[str, str], where_prefix: str
) -> tuple[dict[str, str], frozenset[str]]:
    """Resolve every value of ``values`` (e.g. ``stack.env``); return the values and all secrets.

    The context of each value is ``f"{where_prefix}.{name}"``. Every unresolvable reference is
    reported in one :class:`SecretError`, so a fresh checkout learns all missing secrets at once.
    """
    resolved: dict[str, str] = {}
    secrets: set[str] = set()
    failures: list[str] = []
    for name, text in values.items():
        try:
            result = resolve(text, base_dir=base_dir, environ=environ, where=f"{where_prefix}.{name}")
        except SecretError as exc:
            failures.append(str(exc).removeprefix("athalia: "))
            continue
        resolved[name] = result.value
        secrets |= result.secrets
    if len(failures) == 1:
        raise SecretError(f"athalia: {failures[0]}")
    if failures:
        raise SecretError(f"athalia: {len(failures)} secrets cannot be resolved. " + " ".join(failures))
    return resolved, frozenset(secrets)


def _spans(haystack: AnyStr, needles: Iterable[AnyStr]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for needle in needles:
        start = haystack.find(needle)
        while start != -1:
            spans.append((start, start + len(needle)))
            # Step by one, not by len(needle): occurrences of one secret may overlap.
            start = haystack.find(needle, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _mask(haystack: AnyStr, needles: Iterable[AnyStr], mask: AnyStr) -> AnyStr:
    parts: list[AnyStr] = []
    position = 0
    for start, end in _spans(haystack, needles):
        parts.extend((haystack[position:start], mask))
        position = end
    parts.append(haystack[position:])
    return haystack[:0].join(parts)


@final
class Redactor:
    """Replaces every known secret in text with ``***``.

    Every character covered by any occurrence of any secret is masked, and touching or
    overlapping occurrences become one ``***``: masking the longest secret first is not enough
    when two secrets overlap (``abcd`` and ``cdef`` in ``abcdef``), so the spans are merged instead.

    Secrets of any length are masked, even one or two characters: skipping short ones would
    print them verbatim, while over-masking only makes some output harder to read. A leak
    cannot be taken back; ugly output can be fixed by choosing a longer secret.

    Thread-safe: fixtures and reporters on other threads may add secrets while output is redacted.
    """

    def __init__(self, *secrets: str) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Remember ``secrets``; empty strings are ignored (they occur everywhere)."""
        with self._lock:
            self._secrets = self._secrets | {secret for secret in secrets if secret}

    @property
    def known(self) -> int:
        """How many distinct secrets are known."""
        return len(self._secrets)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:
        return f"Redactor(known={self.known})"

    def redact(self, text: str, *, also_escaped: Callable[[str], str] | None = None) -> str:
        """Return ``text`` with every known secret replaced by ``***``.

        ``also_escaped`` masks each secret's escaped form too (e.g. XML-escaped, in a file
        that was encoded before it could be redacted).
        """
        secrets = self._secrets  # one immutable snapshot; add() swaps it under the lock
        if secrets and also_escaped is not None:
            secrets = secrets | {also_escaped(secret) for secret in secrets}
        return _mask(text, secrets, MASK) if secrets else text

    def redact_bytes(self, data: bytes) -> bytes:
        """Like :meth:`redact`, for raw output such as a subprocess's (secrets encoded as UTF-8)."""
        secrets = self._secrets
        if not secrets:
            return data
        return _mask(data, [secret.encode("utf-8") for secret in secrets], MASK.encode("ascii"))
