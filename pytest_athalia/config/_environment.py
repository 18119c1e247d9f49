"""Environment files: their schema, how they are found, and errors that point at the line to fix.

One YAML file per environment (``dev.yml``, ``staging.yml``...) lives in the folder named by the ini
key ``athalia_environments``. Everything is checked when pytest starts: the schema, that the compose
files exist, and that secret references are well formed. Secrets themselves are resolved only
when a stack starts (:meth:`Environment.resolved_env`).

Every problem is a :class:`~pytest_athalia._errors.ConfigError` whose message is one paragraph
naming the file, the line, the key, what was expected, what was found and the fix; all problems of
a file are reported at once so one edit-run cycle fixes them all.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Final, Literal, Union, final, get_args, get_origin

import yaml
from pydantic import BaseModel, BeforeValidator, Field, ValidationError
from pydantic.fields import FieldInfo

from pytest_athalia._errors import ConfigError
from pytest_athalia.config import _secrets as secrets
from pytest_athalia.config._load import LoadSpec
from pytest_athalia.config._rollout import RollbackSLO, RolloutSpec
from pytest_athalia.config._schema import EnvName, EnvValue, Model, PositiveNumber, URLPath, list_only, path_text
from pytest_athalia.config._security import SecuritySpec

__all__ = [
    "Environment",
    "EnvironmentSpec",
    "HealthSLO",
    "PortsMode",
    "SLOs",
    "StackSpec",
    "StartupSLO",
    "display_path",
    "list_environments",
    "load_environment",
]

SUFFIXES: Final = (".yml", ".yaml")
_FOLDER_ORIGIN = "ini athalia_environments"
_HOW_TO_SELECT: Final = (
    "Select an environment with --athalia-env NAME|PATH or ATHALIA_ENV=NAME|PATH; "
    "a NAME is looked up as NAME.yml in the folder set by ini athalia_environments"
)
_FOUND_LIMIT: Final = 60


# --------------------------------------------------------------------------- schema
# Each field's ``description`` completes "expected ...": the loader's messages are built from it,
# so a new key documents its own error message.


Provider = Literal["compose"]
# How a local stack publishes the compose files' ports: on 127.0.0.1 with free host ports, or as written.
PortsMode = Literal["private", "as_published"]


class StartupSLO(Model):
    """How fast the stack must become healthy."""

    max_seconds: PositiveNumber = Field(
        default=180.0,
        description="a number of seconds greater than 0",
    )


class HealthSLO(Model):
    """What the health endpoint must deliver once the stack is up."""

    samples: int = Field(default=20, strict=True, ge=1, description="a whole number of samples, at least 1")
    max_p95_ms: PositiveNumber = Field(
        default=500.0,
        description="a number of milliseconds greater than 0",
    )
    min_success_ratio: PositiveNumber = Field(
        default=1.0,
        le=1,
        description="a number greater than 0 and at most 1 (1.0: every sample must succeed)",
    )


class SLOs(Model):
    """The deployment SLOs of an environment; each section has defaults."""

    startup: StartupSLO = StartupSLO()  # frozen, so one shared default is safe
    health: HealthSLO = HealthSLO()
    rollback: RollbackSLO = RollbackSLO()


class StackSpec(Model):
    """The compose stack and the service under deployment. Paths are relative to the file's folder."""

    compose_files: Annotated[tuple[Annotated[str, BeforeValidator(path_text)], ...], BeforeValidator(list_only)] = (
        Field(min_length=1, description="a non-empty list of compose file paths, e.g. [../docker-compose.yml]")
    )
    project_directory: str | None = Field(
        default=None,
        strict=True,
        min_length=1,
        description="a directory path (default: the first compose file's)",
    )
    service: str = Field(
        strict=True,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="a compose service name (letters, digits, '_', '.', '-')",
    )
    port: int = Field(strict=True, ge=1, le=65535, description="an integer from 1 to 65535")
    health_path: URLPath = Field(default="/health", description="a URL path starting with '/'")
    ready_path: URLPath | None = Field(default=None, description="a URL path starting with '/'")
    version_path: URLPath | None = Field(default=None, description="a URL path starting with '/'")
    build: bool = Field(default=True, strict=True, description="true or false")
    ports: PortsMode = Field(
        default="private",
        description="one of: " + ", ".join(get_args(PortsMode)),
    )
    env: Mapping[EnvName, EnvValue] = Field(
        default_factory=dict, description="a mapping of variable names to string, number or true/false values"
    )


class EnvironmentSpec(Model):
    """The content of one environment file."""

    description: str = Field(default="", strict=True, description="a line of text")
    provider: Provider = Field(default="compose", description="one of: " + ", ".join(get_args(Provider)))
    stack: StackSpec
    slo: SLOs = SLOs()
    rollout: RolloutSpec = RolloutSpec()
    load: LoadSpec = LoadSpec()
    security: SecuritySpec = SecuritySpec()


# --------------------------------------------------------------------------- the loaded value


@final
@dataclass(frozen=True)
class Environment:
    """A loaded environment: its ``name`` (file stem or the name asked for), file and content."""

    name: str
    path: Path
    spec: EnvironmentSpec

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the file are resolved against."""
        return self.path.parent

    def resolve(self, written: str | Path) -> Path:
        """A path written in the file, relative to its folder (an absolute one stays as it is)."""
        return _join(self.base_dir, written)

    @property
    def compose_files(self) -> tuple[Path, ...]:
        """The compose files, absolute, in the order given."""
        return tuple(self.resolve(name) for name in self.spec.stack.compose_files)

    @property
    def project_directory(self) -> Path:
        """Compose's project directory: as given, else the first compose file's folder."""
        given = self.spec.stack.project_directory
        return self.resolve(given) if given else self.compose_files[0].parent

    def resolved_env(self, environ: Mapping[str, str]) -> tuple[dict[str, str], frozenset[str]]:
        """Resolve ``stack.env``; return the variables and the secret values to redact.

        Raises :class:`~pytest_athalia._errors.SecretError` naming every reference that cannot be resolved.
        """
        return secrets.resolve_mapping(
            self.spec.stack.env,
            base_dir=self.base_dir,
            environ=environ,
            where_prefix=f"{display_path(self.path)}, key stack.env",
        )


def _join(base: Path, name: str | Path) -> Path:
    # normpath, not resolve(): paths stay as the author wrote them, even through symlinked folders.
    return Path(os.path.normpath(base / name))


def display_path(path: Path) -> str:
    """`path` relative to the working directory when under it (shorter in messages), else as it is."""
    try:
        return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


# --------------------------------------------------------------------------- finding files


def list_environments(environments_dir: Path, *, folder_origin: str = _FOLDER_ORIGIN) -> tuple[str, ...]:
    """The environment names in ``environments_dir`` (stems of its ``*.yml``/``*.yaml`` files), sorted.

    ``folder_origin`` names the setting the folder came from, for the message when it is missing.
    """
    folder = _absolute(environments_dir)
    _check_folder(folder, folder_origin)
    return tuple(
        sorted(
            {
                entry.stem
                for entry in folder.iterdir()
                if entry.suffix in SUFFIXES and not entry.name.startswith(".") and entry.is_file()
            }
        )
    )


def load_environment(
    selector: str,
    environments_dir: Path | None,
    *,
    origin: str = "--athalia-env",
    folder_origin: str = _FOLDER_ORIGIN,
) -> Environment:
    """Find, parse and check one environment file.

    ``selector`` is a NAME (``<environments_dir>/<NAME>.yml``, then ``.yaml``) or a PATH (it holds a
    path separator or ends in ``.yml``/``.yaml``; relative to the current directory). ``origin``
    says where the selector came from (``--athalia-env``, ``ATHALIA_ENV``, ``default``) in messages.
    """
    chosen = selector.strip()
    if not chosen:
        raise ConfigError(f"athalia: {origin} is empty; expected an environment NAME or PATH. {_HOW_TO_SELECT}.")
    if _is_path(chosen):
        path = _absolute(Path(chosen))
        if not path.is_file():
            state = "is a directory" if path.is_dir() else "does not exist"
            raise ConfigError(
                f"athalia: environment file {display_path(path)} (from {origin}: {chosen!r}) {state}; "
                f"expected a YAML file.{_known_names(environments_dir)} Fix the path, or select by name."
            )
        return _load(path, path.stem)
    if environments_dir is None:
        raise ConfigError(
            f"athalia: environment {chosen!r} (from {origin}) is a name, but no environments folder is set. "
            f"Set ini athalia_environments to the folder holding {chosen}.yml, "
            f"or pass a path: --athalia-env path/to/{chosen}.yml."
        )
    folder = _absolute(environments_dir)
    _check_folder(folder, folder_origin)
    for suffix in SUFFIXES:
        candidate = folder / f"{chosen}{suffix}"
        if candidate.is_file():
            return _load(candidate, chosen)
    names = list_environments(folder)
    # "prod" for "production" is too short for difflib's ratio, but clearly meant.
    close = [name for name in names if name.startswith(chosen)] or difflib.get_close_matches(chosen, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    found = f"one of: {', '.join(names)}" if names else "an environment, but the folder has no .yml/.yaml files"
    raise ConfigError(
        f"athalia: unknown environment {chosen!r} (from {origin}); expected {found} "
        f"(in {display_path(folder)}).{hint} {_HOW_TO_SELECT}."
    )


def _is_path(selector: str) -> bool:
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(sep in selector for sep in separators) or selector.endswith(SUFFIXES)


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _check_folder(folder: Path, origin: str) -> None:
    if not folder.is_dir():
        state = "is not a directory" if folder.exists() else "does not exist"
        raise ConfigError(
            f"athalia: environments folder {display_path(folder)} (from {origin}) {state}; "
            f"expected a folder of NAME.yml files. Create it, or point {origin} at the right folder."
        )


def _known_names(environments_dir: Path | None) -> str:
    if environments_dir is None or not _absolute(environments_dir).is_dir():
        return ""
    names = list_environments(environments_dir)
    return f" Environments in {display_path(_absolute(environments_dir))}: {', '.join(names)}." if names else ""


# --------------------------------------------------------------------------- parsing and checking

_Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class _Problem:
    line: int | None
    key: str  # "" for the top level
    text: str  # "expected X, found Y"
    fix: str  # imperative, no trailing period


@dataclass
class _Lines:
    """Where each key path sits in the file, from ``yaml.compose`` node marks (1-based)."""

    keys: dict[_Loc, int] = field(default_factory=dict)
    values: dict[_Loc, int] = field(default_factory=dict)
    duplicates: list[tuple[_Loc, int, int]] = field(default_factory=list)

    def of_value(self, loc: _Loc) -> int | None:
        # The nearest enclosing value that has a line: a missing key points at its parent mapping.
        for end in range(len(loc), -1, -1):
            line = self.values.get(loc[:end])
            if line is not None:
                return line
        return None

    def of_key(self, loc: _Loc) -> int | None:
        return self.keys.get(loc) or self.of_value(loc)


def _index(root: yaml.Node) -> _Lines:
    lines = _Lines()
    seen: set[int] = set()  # aliases may make the node graph cyclic
    todo: list[tuple[_Loc, yaml.Node]] = [((), root)]
    while todo:
        loc, node = todo.pop()
        lines.values.setdefault(loc, node.start_mark.line + 1)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                child = (*loc, key_node.value)
                line = key_node.start_mark.line + 1
                if child in lines.keys:
                    lines.duplicates.append((child, lines.keys[child], line))
                lines.keys[child] = line
                lines.values.pop(child, None)  # the last duplicate wins, as in safe_load
                todo.append((child, value_node))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(((*loc, index), item) for index, item in enumerate(node.value))
    return lines


def _load(path: Path, name: str) -> Environment:
    shown = display_path(path)
    text = _read(path, shown)
    node, data = _parse(text, shown)
    if node is None:
        raise ConfigError(
            f"athalia: {shown} is empty; expected a mapping with keys: {_keys(EnvironmentSpec)}. "
            "Write at least a stack section (compose_files, service, port) into it, "
            "or select another environment."
        )
    lines = _index(node)
    if not isinstance(data, dict):
        raise ConfigError(
            _render(
                shown,
                [
                    _Problem(
                        lines.of_value(()),
                        "",
                        _expected_found(f"a mapping with keys: {_keys(EnvironmentSpec)}", data),
                        "Make the top level a mapping",
                    )
                ],
            )
        )
    problems = [
        _Problem(
            line,
            _key(loc),
            f"appears twice (first on line {first}); YAML keeps only the last",
            "Remove one of them",
        )
        for loc, first, line in lines.duplicates
    ]
    spec: EnvironmentSpec | None = None
    try:
        spec = EnvironmentSpec.model_validate(data)
    except ValidationError as exc:
        problems.extend(_from_pydantic(error, _as_written(data, error["loc"]), lines) for error in _relevant(exc))
    problems.extend(_reference_problems(data, lines))
    problems.extend(_missing_paths(data, path.parent, lines))
    if problems or spec is None:  # spec is None only when pydantic reported problems
        raise ConfigError(_render(shown, problems))
    return Environment(name=name, path=path, spec=spec)


def _read(path: Path, shown: str) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"athalia: {shown} cannot be read ({exc.strerror or type(exc).__name__}); expected a readable "
            "YAML file. Check its permissions."
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"athalia: {shown}, line {line}: expected UTF-8 text, found byte 0x{raw[exc.start]:02x}. "
            "Save the file as UTF-8."
        ) from None


def _parse(text: str, shown: str) -> tuple[yaml.Node | None, object]:
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        return node, (None if node is None else loader.construct_document(node))
    except yaml.MarkedYAMLError as exc:
        where = f", line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}" if exc.problem_mark else ""
        what = ", ".join(part for part in (exc.context, exc.problem) if part) or "invalid syntax"
        if isinstance(exc, yaml.constructor.ConstructorError):
            found, fix = "a value YAML cannot build", "Use plain keys and values without tags"
        else:
            found = "a syntax error"
            fix = "Fix the syntax there; check indentation, a missing space after ':', and unbalanced quotes"
        message = f"athalia: {shown}{where}: expected valid YAML, found {found} ({what}). {fix}."
    except yaml.reader.ReaderError as exc:
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        message = (
            f"athalia: {shown}, line {line}, column {column}: expected printable text, "
            f"found the control character #x{code:04x}. Remove it."
        )
    except yaml.YAMLError as exc:
        message = f"athalia: {shown}: expected valid YAML, found {type(exc).__name__}. Fix the file's syntax."
    except RecursionError:
        message = f"athalia: {shown}: expected an environment file, found YAML nested too deeply. Flatten it."
    except (ValueError, TypeError, OverflowError) as exc:
        # SafeConstructor lets these escape for e.g. `2024-13-01` (a date with month 13) or `!!int x`.
        message = (
            f"athalia: {shown}: expected valid YAML values, found one YAML cannot convert ({exc}). "
            "Quote the value to keep it as text."
        )
    finally:
        if loader is not None:
            loader.dispose()
    raise ConfigError(message)


def _keys(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


def _key(loc: Sequence[object]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) else f"{'.' if out else ''}{part}"
    return out


def _found(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "a list" if value else "an empty list"
    shown = repr(value) if isinstance(value, (str, int, float)) else f"{value} ({type(value).__name__})"
    return shown if len(shown) <= _FOUND_LIMIT else shown[: _FOUND_LIMIT - 3] + "..."


def _expected_found(expected: str, value: object) -> str:
    return f"expected {expected}, found {_found(value)}"


def _model_of(info: FieldInfo) -> type[BaseModel] | None:
    return _model_in(info.annotation)


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    # An optional section (`FaultSpec | None`) is that section.
    if get_origin(annotation) in (Union, UnionType):
        models = {model for arg in get_args(annotation) if (model := _model_in(arg)) is not None}
        return models.pop() if len(models) == 1 else None
    return None


def _entries_of(info: FieldInfo) -> FieldInfo | None:
    """For a mapping of sections (rollout.drills: name -> CandidateSpec), a field standing for one entry."""
    args = get_args(info.annotation) if get_origin(info.annotation) in (Mapping, dict) else ()
    model = _model_in(args[1]) if len(args) == 2 else None
    return FieldInfo(annotation=model, description=info.description) if model is not None else None


def _walk(loc: Sequence[object]) -> Iterator[tuple[type[BaseModel], FieldInfo]]:
    """The (model, field) pairs along ``loc``, as far as it follows model fields (and entries of their mappings)."""
    model: type[BaseModel] | None = EnvironmentSpec
    parent: type[BaseModel] = EnvironmentSpec
    entry: FieldInfo | None = None
    for part in loc:
        if entry is not None:  # `part` is a key of a mapping of sections: its value is one
            yield parent, entry
            model, entry = _model_of(entry), None
            continue
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return
        info = model.model_fields[part]
        yield model, info
        parent = model
        model, entry = _model_of(info), _entries_of(info)


def _model_at(loc: Sequence[object]) -> type[BaseModel] | None:
    fields = list(_walk(loc))
    if len(fields) != len(loc):
        return None
    return _model_of(fields[-1][1]) if fields else EnvironmentSpec


def _expectation(loc: Sequence[object]) -> str:
    model = _model_at(loc)
    if model is not None:
        return f"a mapping with keys: {_keys(model)}"
    fields = list(_walk(loc))
    return (fields[-1][1].description if fields else None) or "a valid value"


def _scalar_text(key: object) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _as_written(data: object, loc: Sequence[object]) -> _Loc:
    """``loc`` with mapping keys as text (``1`` -> ``"1"``) and only list positions as ints."""
    written: list[str | int] = []
    for part in loc:
        if isinstance(data, list) and isinstance(part, int):
            written.append(part)
            data = data[part] if 0 <= part < len(data) else None
        else:
            written.append(part if isinstance(part, str) else _scalar_text(part))
            data = data.get(part) if isinstance(data, dict) else None
    return tuple(written)


def _from_pydantic(error: Any, loc: _Loc, lines: _Lines) -> _Problem:
    """One problem from one pydantic error; ``loc`` is the error's location as written in the file."""
    kind: str = error["type"]
    if kind in {"extra_forbidden", "invalid_key"}:
        if kind == "invalid_key":  # pydantic's loc holds str(key); the input is the key as loaded
            loc = (*loc[:-1], _scalar_text(error["input"]))
        parent = loc[:-1]
        allowed = list((_model_at(parent) or EnvironmentSpec).model_fields)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        level = f"under {_key(parent)}" if parent else "at the top level"
        return _Problem(
            lines.of_key(loc),
            _key(loc),
            f"unknown key {loc[-1]!r}; expected one of the keys allowed {level}: {', '.join(allowed)}",
            f"Rename it to {close[0]!r} or remove it" if close else "Rename or remove the key",
        )
    if kind == "missing":
        parent = loc[:-1]
        level = f"under {_key(parent)}" if parent else "at the top level"
        return _Problem(
            lines.of_value(parent),
            _key(loc),
            f"required but missing; expected {_expectation(loc)}",
            f"Add it {level}",
        )
    # A validator's ValueError carries a more precise expectation than the field's description.
    expected = str(error["ctx"]["error"]) if kind == "value_error" else _expectation(loc)
    line = lines.of_key(loc[:-1]) if loc and loc[-1] == "[key]" else lines.of_value(loc)
    return _Problem(line, _key(loc), _expected_found(expected, error["input"]), "Fix the value")


def _relevant(exc: ValidationError) -> list[Any]:
    errors = exc.errors(include_url=False)
    # pydantic adds "too short" to a list whose only items failed; the item errors say it all.
    return [
        error
        for error in errors
        if error["type"] != "too_short"
        or not any(other["loc"][: len(error["loc"])] == error["loc"] and other is not error for other in errors)
    ]


def _strings(value: object, loc: _Loc, seen: set[int]) -> Iterator[tuple[_Loc, str]]:
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, (dict, list)) and id(value) not in seen:
        seen.add(id(value))  # aliases may make the data cyclic
        if isinstance(value, dict):
            for key, item in value.items():
                yield from _strings(item, (*loc, _scalar_text(key)), seen)
        else:
            for index, item in enumerate(value):
                yield from _strings(item, (*loc, index), seen)


def _reference_problems(data: object, lines: _Lines) -> list[_Problem]:
    # Every string is checked, not only stack.env: the `${` rule is the same everywhere in the file.
    problems = []
    for loc, text in _strings(data, (), set()):
        found = secrets.reference_problems(text)
        if found:
            problems.append(
                _Problem(
                    lines.of_value(loc),
                    _key(loc),
                    f"expected secret references of the form {secrets.VALID_FORMS}, found {'; '.join(found)}",
                    "Fix the reference, or write $${ where a literal ${ is meant",
                )
            )
    return problems


def _missing_paths(data: Mapping[object, object], base_dir: Path, lines: _Lines) -> list[_Problem]:
    # Read from the raw data, so a missing file is reported together with any schema problems.
    wanted: list[tuple[_Loc, str, str]] = []
    load = data.get("load")
    if isinstance(load, dict) and isinstance(load.get("locustfile"), str) and load["locustfile"]:
        wanted.append((("load", "locustfile"), load["locustfile"], "file"))
    stack = data.get("stack")
    if not isinstance(stack, dict):
        stack = {}
    files = stack.get("compose_files")
    if isinstance(files, list):
        wanted.extend(
            (("stack", "compose_files", index), written, "compose file")
            for index, written in enumerate(files)
            if isinstance(written, str) and written
        )
    directory = stack.get("project_directory")
    if isinstance(directory, str) and directory:
        wanted.append((("stack", "project_directory"), directory, "directory"))
    problems = []
    for loc, written, kind in wanted:
        path = _join(base_dir, written)
        if path.is_dir() if kind == "directory" else path.is_file():
            continue
        state = "does not exist" if not path.exists() else f"is not a {kind}"
        problems.append(
            _Problem(
                lines.of_value(loc),
                _key(loc),
                f"expected an existing {kind}, found {written!r}, which resolves to {path} and {state}",
                f"Create it or fix the path (relative to {base_dir})",
            )
        )
    return problems


def _render(shown: str, problems: list[_Problem]) -> str:
    def place(problem: _Problem) -> str:
        line = f"line {problem.line}, " if problem.line is not None else ""
        return f"{line}{f'key {problem.key}' if problem.key else 'top level'}"

    problems = sorted(problems, key=lambda problem: problem.line if problem.line is not None else 1 << 30)
    if len(problems) == 1:
        only = problems[0]
        return f"athalia: {shown}, {place(only)}: {only.text}. {only.fix} in that file."
    sentences = " ".join(f"{place(p)[0].upper()}{place(p)[1:]}: {p.text}. {p.fix}." for p in problems)
    return f"athalia: {shown} has {len(problems)} problems. {sentences} Edit that file and run again."
