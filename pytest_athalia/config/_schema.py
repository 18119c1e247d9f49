"""Building blocks of the environment-file schema, shared by every section's models.

Each field's ``description`` completes "expected ...": :mod:`pytest_athalia.config._environment` builds its
error messages from it, so a new key documents its own error message.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pytest_athalia.config import _secrets as secrets

__all__ = ["EnvName", "EnvValue", "Model", "Number", "PositiveNumber", "URLPath", "env_value", "list_only", "path_text"]

ENV_NAME_PATTERN: Final = r"[A-Za-z_][A-Za-z0-9_]*"


class Model(BaseModel):
    """Base of every section: frozen, and unknown keys are errors."""

    # A typo silently falling back to a default would hide an SLO.
    model_config = ConfigDict(frozen=True, extra="forbid")


def list_only(value: object) -> object:
    # Lax tuples accept YAML sets (!!set), whose order is arbitrary; compose file order matters.
    if isinstance(value, (set, frozenset)):
        raise ValueError("a list (compose file order matters), not a set")
    return value


def path_text(value: object) -> object:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a file path (non-empty text)")
    return value


def env_name(value: object) -> object:
    if not isinstance(value, str) or not secrets.ENV_NAME.fullmatch(value):
        raise ValueError(f"a variable name matching {ENV_NAME_PATTERN}")
    return value


def env_value(value: object) -> object:
    # Compose interpolates strings only; YAML's `true` becomes "true", not Python's "True".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError("a string, number or true/false (quote the value to keep it as text)")


EnvName = Annotated[str, BeforeValidator(env_name)]
EnvValue = Annotated[str, BeforeValidator(env_value)]
URLPath = Annotated[str, Field(strict=True, pattern=r"^/\S*$")]
# Finite numbers (YAML's `.inf` and `.nan` refused), not strings; fields add their bounds and description.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
PositiveNumber = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
