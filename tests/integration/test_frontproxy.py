"""An app as it is: an nginx front proxy (Debian's) that calls the API by its compose name.

``fixtures/frontproxy`` knows nothing of the plugin: fixed host ports, ``restart: always``, nginx
resolving ``api`` once at start-up. With the router in the API's place, traffic that enters through
the front follows the router's weights: after a switch every answer comes from green, after the
rollback from blue, and no request fails. The deployment suite runs on it in test_deployment.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_athalia.config._environment import load_environment
from pytest_athalia.config._secrets import Redactor
from pytest_athalia.release._haproxy import HAProxyRouter
from pytest_athalia.release._router import apply_weights, wait_until_serving
from pytest_athalia.release._timing import cutover, failed_between, stray_after
from pytest_athalia.release._traffic import ProbeSample, TrafficProbe
from pytest_athalia.report._progress import Progress
from pytest_athalia.stack._cleanup import make_project_name
from pytest_athalia.stack._stack import ComposeStack

pytestmark = pytest.mark.docker

FRONTPROXY = Path(__file__).parent / "fixtures" / "frontproxy" / "frontproxy.yml"
RATE = 250.0  # requests/s through the front; the issue asks for at least 200
HOLD_S = 1.5  # traffic on each side of a weight change


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    environment = load_environment(str(FRONTPROXY), None)
    stack = ComposeStack(
        environment,
        project=make_project_name("frontproxy", "main", os.getpid()),
        redactor=Redactor(),
        progress=Progress(print),
        files_root=tmp_path_factory.mktemp("generated"),
    )
    try:
        report = stack.start()
        if not report.started:
            pytest.fail(f"the front-proxy stack did not start: {report.error}\n{stack.failure_logs(30)}", pytrace=False)
        yield stack
    finally:
        stack.stop()


def _after(samples: tuple[ProbeSample, ...], ns: int) -> tuple[ProbeSample, ...]:
    return tuple(s for s in samples if s.start_ns > ns)


def test_switch_and_rollback_are_seen_through_the_front_proxy(
    stack: ComposeStack, record_property: pytest.RecordProperty
) -> None:
    """Through nginx (which calls `api` by name): green after the switch, blue after the rollback, 0 failed."""
    router = HAProxyRouter.for_stack(stack)
    stack.deploy_color("green", image=None, env={"APP_VERSION": "2.0.0"}, timeout=90)
    wait_until_serving(router, "green", timeout=15)
    front = stack.url("front", "/version", port=80)
    with TrafficProbe(front, rate=RATE, clients=5, timeout_s=2.0, max_seconds=30) as probe:
        time.sleep(HOLD_S)
        switch_start = time.monotonic_ns()
        apply_weights(router, (("green", 100), ("blue", 0)))
        switch_done = time.monotonic_ns()
        time.sleep(HOLD_S)
        rollback_start = time.monotonic_ns()
        apply_weights(router, (("blue", 100), ("green", 0)))
        rollback_done = time.monotonic_ns()
        time.sleep(HOLD_S)
    log = probe.log()
    samples = log.samples
    before = tuple(s for s in samples if s.end_ns < switch_start)
    between = tuple(s for s in _after(samples, switch_done) if s.end_ns < rollback_start)
    failed = failed_between(samples, samples[0].start_ns, samples[-1].start_ns)
    upto = tuple(s for s in samples if s.end_ns < rollback_start)  # later answers are the rollback's
    switched = cutover(upto, from_color="blue", since_ns=switch_start, weights_ns=switch_done, min_after=20)
    later = _after(samples, switch_done)
    back = cutover(later, from_color="green", since_ns=rollback_start, weights_ns=rollback_done, min_after=20)
    rate = log.rate or 0.0
    record_property("front_rate_rps", f"{rate:.1f}")
    record_property("front_switch_ms", f"{switched.ms}")
    record_property("front_rollback_ms", f"{back.ms}")
    print(
        f"through the front: {log.count} requests at {rate:.0f} req/s, {len(failed)} failed; "
        f"switch {switched.ms} ms, rollback {back.ms} ms"
    )
    assert {s.color for s in before} == {"blue"}, {s.describe() for s in before}
    assert between, "no answer between the switch and the rollback"
    assert not stray_after(between, to_color="green", after_ns=switch_done), "answers not from green"
    assert not stray_after(samples, to_color="blue", after_ns=back.at_ns), "answers not from blue after the rollback"
    assert not failed, [s.describe() for s in failed[:5]]
    assert rate >= 200, f"{rate:.0f} req/s through the front, 200 needed"
    assert switched.ms is not None, switched.reason
    assert back.ms is not None, back.reason
