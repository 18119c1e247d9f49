"""pytest-athalia: rehearse a release on its real compose stack and gate it on SLOs.

The public surface is what ``__all__`` lists; modules prefixed by nothing but
not re-exported here are internal and may change.
"""

from __future__ import annotations

from .config import Environment, EnvironmentSpec, load_environment
from .errors import (
    AthaliaError,
    CleanupError,
    ConfigError,
    DockerUnavailable,
    ImageError,
    SecretError,
    StackError,
    StackTimeout,
)
from .gate import Gate
from .probe import HttpSample, HttpSamples, sample_http
from .runtime import AthaliaRuntime, runtime_of
from .secrets import Redactor
from .slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge, percentile
from .stack import ComposeStack, Endpoint, ExecResult, ServiceState, Stack, StartupReport

__all__ = [
    "AthaliaError",
    "AthaliaRuntime",
    "CleanupError",
    "Comparison",
    "ComposeStack",
    "ConfigError",
    "DockerUnavailable",
    "Endpoint",
    "Environment",
    "EnvironmentSpec",
    "ExecResult",
    "Gate",
    "HttpSample",
    "HttpSamples",
    "ImageError",
    "Measurement",
    "Outcome",
    "Redactor",
    "SecretError",
    "ServiceState",
    "Stack",
    "StackError",
    "StackTimeout",
    "StartupReport",
    "Threshold",
    "Verdict",
    "judge",
    "load_environment",
    "percentile",
    "runtime_of",
    "sample_http",
]

__version__ = "0.1.0"
