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
    LoadError,
    RolloutError,
    RouterError,
    ScanError,
    SecretError,
    StackError,
    StackTimeout,
)
from .gate import Gate
from .load_results import LoadResults
from .probe import HttpSample, HttpSamples, sample_http
from .release import Candidate, Phase, ReleaseReport
from .rollout import BlueGreen
from .router import COLOR_HEADER, ColorStack, Router, ServerStats
from .runtime import AthaliaRuntime, runtime_of
from .scan import Finding, ScanResult
from .secrets import Redactor
from .slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge, percentile
from .stack import ComposeStack, Endpoint, ExecResult, ServiceState, Stack, StartupReport

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
