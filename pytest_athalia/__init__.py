"""pytest-athalia: rehearse a release on its real compose stack and gate it on SLOs.

The public surface is what ``__all__`` lists. Everything in a ``_``-prefixed module is internal
and may change. Names are imported on first use (PEP 562), so loading the plugin into a pytest
run that uses none of its fixtures imports neither docker, testcontainers nor pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from .canary._canary import Canary, Promoted
    from .canary._checks import (
        before_traffic_verdicts,
        canary_drill_verdict,
        canary_post_deploy_verdict,
        canary_promoted_verdict,
        canary_rollback_verdicts,
        canary_step_verdicts,
        step_figures,
    )
    from .canary._report import CanaryPhase, CanaryReport, CanaryRollback, StepReport
    from .canary._timeline import canary_timeline
    from .config._environment import Environment, EnvironmentSpec, load_environment
    from .config._rollout import ExternalTrigger
    from .config._secrets import Redactor
    from .load._results import LoadResults
    from .release._bluegreen import BlueGreen
    from .release._checks import (
        baseline_verdict,
        deploy_verdict,
        drill_verdict,
        probe_verdict,
        rollback_verdicts,
        smoke_verdict,
        switch_verdicts,
        trigger_verdicts,
    )
    from .release._faults import Fault, FaultInjector
    from .release._release import Candidate, Phase, ReleaseReport
    from .release._router import COLOR_HEADER, ColorStack, Router, ServerStats
    from .release._timeline import release_timeline
    from .report._gate import Gate
    from .report._series import Series, TimelineEvent
    from .report._slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge, percentile
    from .security._cases import ConfigCase, ImageCase
    from .security._scan import Finding, ScanResult
    from .security._session import SecurityScans
    from .stack._probe import HttpSample, HttpSamples, sample_http
    from .stack._stack import ComposeStack, Endpoint, ExecResult, ServiceState, Stack, StartupReport

__version__ = "0.1.0"

# Public name -> the internal module that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "AthaliaError",
            "CleanupError",
            "ConfigError",
            "DockerUnavailable",
            "ImageError",
            "LoadError",
            "RolloutError",
            "RouterError",
            "ScanError",
            "SecretError",
            "StackError",
            "StackTimeout",
        ),
        "._errors",
    ),
    **dict.fromkeys(("AthaliaRuntime", "runtime_of"), "._runtime"),
    **dict.fromkeys(("Canary", "Promoted"), ".canary._canary"),
    **dict.fromkeys(
        (
            "before_traffic_verdicts",
            "canary_drill_verdict",
            "canary_post_deploy_verdict",
            "canary_promoted_verdict",
            "canary_rollback_verdicts",
            "canary_step_verdicts",
            "canary_timeline",
            "step_figures",
        ),
        ".canary._checks",
    ),
    **dict.fromkeys(("CanaryPhase", "CanaryReport", "CanaryRollback", "StepReport"), ".canary._report"),
    "canary_timeline": ".canary._timeline",
    **dict.fromkeys(("Environment", "EnvironmentSpec", "load_environment"), ".config._environment"),
    "ExternalTrigger": ".config._rollout",
    "Redactor": ".config._secrets",
    "LoadResults": ".load._results",
    "BlueGreen": ".release._bluegreen",
    **dict.fromkeys(
        (
            "baseline_verdict",
            "deploy_verdict",
            "drill_verdict",
            "probe_verdict",
            "rollback_verdicts",
            "smoke_verdict",
            "switch_verdicts",
            "trigger_verdicts",
        ),
        ".release._checks",
    ),
    **dict.fromkeys(("Candidate", "Phase", "ReleaseReport"), ".release._release"),
    **dict.fromkeys(("Fault", "FaultInjector"), ".release._faults"),
    **dict.fromkeys(("COLOR_HEADER", "ColorStack", "Router", "ServerStats"), ".release._router"),
    "release_timeline": ".release._timeline",
    "Gate": ".report._gate",
    **dict.fromkeys(("Series", "TimelineEvent"), ".report._series"),
    **dict.fromkeys(
        ("Comparison", "Measurement", "Outcome", "Threshold", "Verdict", "judge", "percentile"), ".report._slo"
    ),
    **dict.fromkeys(("ConfigCase", "ImageCase"), ".security._cases"),
    **dict.fromkeys(("Finding", "ScanResult"), ".security._scan"),
    "SecurityScans": ".security._session",
    **dict.fromkeys(("HttpSample", "HttpSamples", "sample_http"), ".stack._probe"),
    **dict.fromkeys(
        ("ComposeStack", "Endpoint", "ExecResult", "ServiceState", "Stack", "StartupReport"), ".stack._stack"
    ),
}

__all__ = [
    "COLOR_HEADER",
    "AthaliaError",
    "AthaliaRuntime",
    "BlueGreen",
    "Canary",
    "CanaryPhase",
    "CanaryReport",
    "CanaryRollback",
    "Candidate",
    "CleanupError",
    "ColorStack",
    "Comparison",
    "ComposeStack",
    "ConfigCase",
    "ConfigError",
    "DockerUnavailable",
    "Endpoint",
    "Environment",
    "EnvironmentSpec",
    "ExecResult",
    "ExternalTrigger",
    "Fault",
    "FaultInjector",
    "Finding",
    "Gate",
    "HttpSample",
    "HttpSamples",
    "ImageCase",
    "ImageError",
    "LoadError",
    "LoadResults",
    "Measurement",
    "Outcome",
    "Phase",
    "Promoted",
    "Redactor",
    "ReleaseReport",
    "RolloutError",
    "Router",
    "RouterError",
    "ScanError",
    "ScanResult",
    "SecretError",
    "SecurityScans",
    "Series",
    "ServerStats",
    "ServiceState",
    "Stack",
    "StackError",
    "StackTimeout",
    "StartupReport",
    "StepReport",
    "Threshold",
    "TimelineEvent",
    "Verdict",
    "baseline_verdict",
    "before_traffic_verdicts",
    "canary_drill_verdict",
    "canary_post_deploy_verdict",
    "canary_promoted_verdict",
    "canary_rollback_verdicts",
    "canary_step_verdicts",
    "canary_timeline",
    "deploy_verdict",
    "drill_verdict",
    "judge",
    "load_environment",
    "percentile",
    "probe_verdict",
    "release_timeline",
    "rollback_verdicts",
    "runtime_of",
    "sample_http",
    "smoke_verdict",
    "step_figures",
    "switch_verdicts",
    "trigger_verdicts",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
