"""pytest-athalia: rehearse a release on its real compose stack and gate it on SLOs.

The public surface is what ``__all__`` lists; modules prefixed by nothing but
not re-exported here are internal and may change.
"""

from __future__ import annotations

from ._errors import (
    AthaliaError,
    CleanupError,
    ConfigError,
    DockerUnavailable,
    ImageError,
    LoadError,
    RolloutError,
    RouterError,
    ScanError,
    SecretError,
    StackError,
    StackTimeout,
)
from ._runtime import AthaliaRuntime, runtime_of
from .config._environment import Environment, EnvironmentSpec, load_environment
from .config._secrets import Redactor
from .load._results import LoadResults
from .release._bluegreen import BlueGreen
from .release._release import Candidate, Phase, ReleaseReport
from .release._router import COLOR_HEADER, ColorStack, Router, ServerStats
from .report._gate import Gate
from .report._slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge, percentile
from .security._scan import Finding, ScanResult
from .stack._probe import HttpSample, HttpSamples, sample_http
from .stack._stack import ComposeStack, Endpoint, ExecResult, ServiceState, Stack, StartupReport

__all__ = [
    "COLOR_HEADER",
    "AthaliaError",
    "AthaliaRuntime",
    "BlueGreen",
    "Candidate",
    "CleanupError",
    "ColorStack",
    "Comparison",
    "ComposeStack",
    "ConfigError",
    "DockerUnavailable",
    "Endpoint",
    "Environment",
    "EnvironmentSpec",
    "ExecResult",
    "Finding",
    "Gate",
    "HttpSample",
    "HttpSamples",
    "ImageError",
    "LoadError",
    "LoadResults",
    "Measurement",
    "Outcome",
    "Phase",
    "Redactor",
    "ReleaseReport",
    "RolloutError",
    "Router",
    "RouterError",
    "ScanError",
    "ScanResult",
    "SecretError",
    "ServerStats",
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
