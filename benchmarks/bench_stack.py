"""Benchmark: the demo stack's `compose up --wait` + `down`, raw and through `athalia_stack`.

Alternates the two in one process (this machine is noisy, so each is compared with
a baseline measured right beside it) and prints the ratio of medians as its last
line: ``ratio=<athalia/raw>``. Target: <= 1.10.

    .venv/bin/python benchmarks/bench_stack.py [--cycles 5]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "demo" / "docker-compose.yml"
ENV_YAML = """\
provider: compose
stack:
  compose_files: [{compose}]
  service: app
  port: 8000
  build: false
  env:
    BASE_IMAGE: athalia/base:bookworm
    POSTGRES_PASSWORD: ${{env:ATHALIA_BENCH_DB_PASSWORD}}
slo:
  startup:
    max_seconds: 180
"""
TEST = """\
def test_stack_is_up(athalia_stack):
    assert athalia_stack.url().startswith("http://")
"""


def compose(*args: str, project: str) -> None:
    subprocess.run(
        ["docker", "compose", "--ansi", "never", "-p", project, "-f", str(COMPOSE), *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "BASE_IMAGE": "athalia/base:bookworm"},
    )


def raw_cycle(i: int) -> float:
    project = f"benchraw-{os.getpid()}-{i}"
    start = time.perf_counter()
    try:
        compose("up", "--detach", "--no-build", "--wait", project=project)
    finally:
        compose("down", "--volumes", "--remove-orphans", "--timeout", "10", project=project)
    return time.perf_counter() - start


def athalia_cycle(workdir: Path) -> float:
    start = time.perf_counter()
    code = pytest.main(
        [str(workdir / "test_bench.py"), "--athalia-env", str(workdir / "bench.yml"), "-q", "-p", "no:cacheprovider"],
    )
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"the athalia run failed with exit code {code}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=5, help="cycles of each kind (default 5)")
    args = parser.parse_args()
    os.environ["ATHALIA_BENCH_DB_PASSWORD"] = os.environ["POSTGRES_PASSWORD"] = secrets.token_hex(12)
    with tempfile.TemporaryDirectory(prefix="athalia-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "bench.yml").write_text(ENV_YAML.format(compose=COMPOSE))
        (workdir / "test_bench.py").write_text(TEST)
        print("building the demo images once (not timed) ...", flush=True)
        compose("build", project="benchbuild")
        raw: list[float] = []
        ours: list[float] = []
        for i in range(args.cycles):
            # Alternate which goes first, so a drift in machine load hits both alike.
            order = (("raw", raw), ("athalia", ours)) if i % 2 == 0 else (("athalia", ours), ("raw", raw))
            for kind, bucket in order:
                bucket.append(raw_cycle(i) if kind == "raw" else athalia_cycle(workdir))
                print(f"cycle {i + 1}/{args.cycles} {kind:8} {bucket[-1]:6.2f}s", flush=True)
    raw_median, ours_median = statistics.median(raw), statistics.median(ours)
    print(f"raw compose up --wait + down: median {raw_median:.2f}s over {len(raw)} cycles {sorted(raw)}")
    print(f"through athalia_stack:        median {ours_median:.2f}s over {len(ours)} cycles {sorted(ours)}")
    print(f"ratio={ours_median / raw_median:.3f}")


if __name__ == "__main__":
    sys.exit(main())
