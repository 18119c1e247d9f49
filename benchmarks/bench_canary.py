"""Benchmark: the canary judge's verdict quality on the dev demo stack, through the real router.

Starts the dev demo stack (``rollout.enabled``), then runs ``--runs`` canaries of each kind with shortened
steps (5, 25, 50, 100 %; ``--step-s`` each, at most ``--max-step-s``): a good release (the candidate of
``rollout.candidate``), one with +5 % errors (router fault ``error_ratio: 0.05``) and one with +100 ms
latency (router fault ``latency_ms: 100``). The real metric source (``rollout.canary.metrics``) and the
real judge decide; no post-deploy window.

Prints, per kind, how many were promoted or rolled back, at which step and after how long (from the
candidate's first traffic to the decision), then the false rollbacks (good releases not promoted), the
misses (bad releases promoted) and the detection-time distribution; the last line is
``false_rollbacks=<n> misses=<n> detect_p95_s=<v>``. Targets: 0, 0, and +5 % errors detected at the 5 %
step within 15 s. Bounded: every canary ends by ``max_step_s`` per step, and the stack is always removed.

    .venv/bin/python benchmarks/bench_canary.py [--runs 20] [--step-s 4] [--max-step-s 10]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections import Counter
from pathlib import Path

from pytest_athalia.canary._canary import Canary
from pytest_athalia.canary._judge import judge
from pytest_athalia.canary._sources import metric_source
from pytest_athalia.config._environment import load_environment
from pytest_athalia.config._secrets import Redactor
from pytest_athalia.release._faults import Fault
from pytest_athalia.release._haproxy import HAProxyRouter
from pytest_athalia.release._release import Candidate, Plan
from pytest_athalia.report._progress import Progress
from pytest_athalia.report._slo import percentile
from pytest_athalia.stack._stack import ComposeStack

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="canaries of each kind")
    parser.add_argument("--step-s", type=float, default=4.0)
    parser.add_argument("--max-step-s", type=float, default=10.0)
    parser.add_argument("--kinds", default="good,errors+5%,latency+100ms", help="comma-separated kinds to run")
    args = parser.parse_args()

    environment = load_environment("dev", ROOT / "demo" / "environments")
    spec = environment.spec.rollout.canary.model_copy(
        update={"steps": (5, 25, 50, 100), "step_s": args.step_s, "max_step_s": args.max_step_s}
    )
    good = Candidate.from_spec("rollout.candidate", environment.spec.rollout.candidate)
    kinds = {
        "good": good,
        "errors+5%": Candidate("errors+5%", good.image, good.env, Fault(error_ratio=0.05)),
        "latency+100ms": Candidate("latency+100ms", good.image, good.env, Fault(latency_ms=100)),
    }
    wanted = set(args.kinds.split(","))
    kinds = {name: candidate for name, candidate in kinds.items() if name in wanted}
    progress = Progress(lambda text: print(text, file=sys.stderr, flush=True))
    project = f"athalia-benchcanary-main-p{os.getpid()}-{secrets.token_hex(3)}"
    detections: dict[str, list[float]] = {name: [] for name in kinds}
    steps: dict[str, Counter[str]] = {name: Counter() for name in kinds}
    promoted: Counter[str] = Counter()
    with ComposeStack(environment, project=project, redactor=Redactor(), progress=progress) as stack:
        router = HAProxyRouter.for_stack(stack)
        source = metric_source(environment, stack, router)
        canary = Canary(router, stack, Plan.from_environment(environment), spec, source, judge=judge)
        for run in range(args.runs):
            for name, candidate in kinds.items():
                canary.reset()
                report = canary.release(candidate, drill=name != "good")
                if report.promoted:
                    promoted[name] += 1
                    steps[name]["promoted"] += 1
                elif report.rollback is not None:
                    steps[name][f"{report.rollback.step} %"] += 1
                    detections[name].append(report.rollback.detected_s)
                else:
                    steps[name]["stopped: " + report.decision[:60]] += 1
                print(f"run {run + 1} {name}: {report.decision}", flush=True)
                if name == "good" and not report.promoted:  # a false rollback: say why, step by step
                    print(report.describe(), flush=True)
        canary.reset()

    false_rollbacks = args.runs - promoted["good"] if "good" in kinds else 0
    misses = promoted["errors+5%"] + promoted["latency+100ms"]
    bad_detections = detections.get("errors+5%", []) + detections.get("latency+100ms", [])
    for name in kinds:
        times = detections[name]
        if times:
            p50, p95_kind = percentile(times, 50) or 0.0, percentile(times, 95) or 0.0
            spread = f"detected after p50 {p50:.1f} s, p95 {p95_kind:.1f} s, max {max(times):.1f} s"
        else:
            spread = "never rolled back"
        print(f"{name}: {dict(steps[name])}; {spread}")
    errors_at_5 = sum(1 for t in detections.get("errors+5%", []) if t <= 15.0)
    at_5 = steps["errors+5%"]["5 %"]
    print(f"+5 % errors rolled back within 15 s: {errors_at_5}/{args.runs} (at the 5 % step: {at_5})")
    p95 = (percentile(bad_detections, 95) or 0.0) if bad_detections else float("nan")
    print(f"false_rollbacks={false_rollbacks} misses={misses} detect_p95_s={p95:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
