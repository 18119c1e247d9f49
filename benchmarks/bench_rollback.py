"""Benchmark: 20 switch-and-rollback cycles through the HAProxy router of the dev demo stack, under load.

Starts the dev demo stack with the rollout's router (``rollout.enabled``), deploys green once and
smoke-tests it with :class:`~pytest_athalia.release._bluegreen.BlueGreen`, then runs a single background probe
(``rollout.probe``: 300 req/s from 6 keep-alive clients) while it repeats: switch to green (green
100, then blue 0, in one runtime-API round trip; ``--one-by-one`` for two), hold, roll back (blue
100, then green 0), hold. A hold lasts ``--hold`` seconds and
until 40 requests ended after the router calls (at most 5 s), so every cutover can be shown. These are the router calls
BlueGreen makes. Each time is derived from the probe's request timestamps with
:func:`pytest_athalia.release._timing.cutover` (docs/rollout.md), over that cycle's requests only.

Prints p50 and p95 of the rollback and switch times and the total failed requests; the last line is
``rollback_p95_ms=<value> failed_requests=<n>``. Targets: p95 <= 50 ms, 0 failed. Bounded: the
probe stops after ``--max-seconds`` whatever happens, and the stack is always removed.

    .venv/bin/python benchmarks/bench_rollback.py [--cycles 20] [--hold 0.5] [--one-by-one] [--verbose]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pytest_athalia.config._environment import load_environment
from pytest_athalia.config._secrets import Redactor
from pytest_athalia.release._bluegreen import BlueGreen
from pytest_athalia.release._haproxy import HAProxyRouter
from pytest_athalia.release._release import Candidate, Plan
from pytest_athalia.release._router import apply_weights
from pytest_athalia.release._timing import cutover
from pytest_athalia.release._traffic import TrafficProbe
from pytest_athalia.report._progress import Progress
from pytest_athalia.report._slo import percentile
from pytest_athalia.stack._stack import ComposeStack

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--hold", type=float, default=0.5, help="seconds on each color per cycle")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="hard bound of the probe")
    parser.add_argument("--verbose", action="store_true", help="one line per cycle: router calls and cutovers")
    parser.add_argument(
        "--one-by-one", action="store_true", help="one runtime-API connection per weight change (the old way)"
    )
    args = parser.parse_args()
    weigh = one_by_one if args.one_by_one else apply_weights

    environment = load_environment("dev", ROOT / "demo" / "environments")
    progress = Progress(lambda text: print(text, file=sys.stderr, flush=True))
    project = f"athalia-benchrollback-main-p{os.getpid()}-{secrets.token_hex(3)}"
    with ComposeStack(environment, project=project, redactor=Redactor(), progress=progress) as stack:
        router = HAProxyRouter.for_stack(stack)
        plan = Plan.from_environment(environment)
        rollout = BlueGreen(router, stack, plan, say=progress.line)
        rollout.deploy(Candidate("bench", None, (("APP_VERSION", "bench"),)))
        smoke = rollout.smoke_test()
        if not smoke.passed:
            print(f"smoke test failed: {smoke.describe()}", file=sys.stderr)
            return 2

        clock = time.monotonic_ns
        cycles: list[tuple[int, int, int, int]] = []  # switch start, switch done, rollback asked, rollback done
        spec = plan.probe
        probe = TrafficProbe(
            router.url(plan.probe_path),
            rate=spec.rate,
            clients=spec.clients,
            timeout_s=spec.timeout_ms / 1000,
            max_seconds=args.max_seconds,
        )
        with probe:
            time.sleep(args.hold)
            for _ in range(args.cycles):
                if not probe.running:
                    break
                start = clock()
                weigh(router, (("green", 100), ("blue", 0)))
                switched = clock()
                hold(probe, switched, plan.min_after, args.hold)
                asked = clock()
                weigh(router, (("blue", 100), ("green", 0)))
                done = clock()
                cycles.append((start, switched, asked, done))
                hold(probe, done, plan.min_after, args.hold)
        log = probe.log()

    rollbacks: list[float] = []
    switches: list[float] = []
    unshown = 0
    for i, (start, switched, asked, done) in enumerate(cycles):
        end = cycles[i + 1][0] if i + 1 < len(cycles) else log.stopped_ns
        # A request in flight across the next router call may have been routed by it: only those
        # answered before it show where the previous weights sent traffic.
        on_green = [s for s in log.samples if start <= s.start_ns and s.end_ns < asked]
        back = [s for s in log.samples if asked <= s.start_ns and s.end_ns < end]
        switch = cutover(on_green, from_color="blue", since_ns=start, weights_ns=switched, min_after=plan.min_after)
        rollback = cutover(back, from_color="green", since_ns=asked, weights_ns=done, min_after=plan.min_after)
        if args.verbose:
            print(
                f"cycle {i + 1:2}: switch calls {(switched - start) / 1e6:6.2f} ms, cutover {_ms(switch.ms):>6} ms; "
                f"rollback calls {(done - asked) / 1e6:6.2f} ms, cutover {_ms(rollback.ms):>6} ms "
                f"({rollback.after} requests after it; last green request started "
                f"{_offset(rollback.last_from_start_ns, done)} ms after the calls returned)"
            )
        for cut, out in ((switch, switches), (rollback, rollbacks)):
            if cut.ms is None:
                unshown += 1
            else:
                out.append(cut.ms)
    failed = len(log.failures())
    rate = f"{log.rate:.0f}" if log.rate else "n/a"
    print(f"cycles: {len(cycles)}; probe: {log.count} requests, {rate} req/s over {log.seconds:.1f} s")
    for name, values in (("switch", switches), ("rollback", rollbacks)):
        p50, p95, top = percentile(values, 50), percentile(values, 95), max(values, default=None)
        print(f"{name} ms: p50 {_ms(p50)}  p95 {_ms(p95)}  max {_ms(top)}  (n={len(values)})")
    if unshown:
        print(f"{unshown} switch(es)/rollback(s) not shown: too few requests after the cutover")
    for sample in log.failures()[:5]:
        print(f"failed: {sample.describe()}")
    p95 = percentile(rollbacks, 95)
    print(f"rollback_p95_ms={_ms(p95)} failed_requests={failed}")
    return 0 if p95 is not None and len(cycles) == args.cycles and not unshown else 1


def one_by_one(router: HAProxyRouter, changes: Sequence[tuple[str, int]]) -> None:
    """Each change on its own runtime-API connection, for comparison with the batched set_weights."""
    for server, weight in changes:
        router.set_weight(server, weight)


def hold(probe: TrafficProbe, since_ns: int, min_after: int, seconds: float) -> None:
    """Stay on a color `seconds`, and until twice `min_after` requests ended after `since_ns` (at most 5 s).

    A stalled probe (a busy machine) would otherwise leave too few requests to show the cutover.
    """
    deadline = time.monotonic() + 5.0
    time.sleep(seconds)
    while len(probe.recent(since_ns)) < 2 * min_after and probe.running and time.monotonic() < deadline:
        time.sleep(0.02)


def _offset(at_ns: int | None, since_ns: int) -> str:
    return "nan" if at_ns is None else f"{(at_ns - since_ns) / 1e6:.2f}"


def _ms(value: float | None) -> str:
    return "nan" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
