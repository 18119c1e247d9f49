"""Benchmark: what the installed plugin costs a pytest run that uses none of its fixtures.

Runs ``pytest test_math.py`` in a fresh folder, alternating with and without ``-p no:athalia``
in one process (this machine is noisy, so each run is compared with a baseline run right beside
it), and prints the medians, their ratio and, as its last line, ``overhead_ms=<median difference>``.
Target: <= 50.

    .venv/bin/python benchmarks/bench_overhead.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST = "def test_add():\n    assert 1 + 1 == 2\n"


def _time(folder: Path, *extra: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHALIA_", "PYTEST_"))}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, "test_math.py"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="pairs of runs (default 15)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="athalia-bench-overhead-") as tmp:
        folder = Path(tmp)
        (folder / "test_math.py").write_text(TEST, encoding="utf-8")
        _time(folder)  # warm the file cache and byte-code
        _time(folder, "-p", "no:athalia")
        with_plugin: list[float] = []
        without: list[float] = []
        diffs: list[float] = []
        for _ in range(args.runs):
            a = _time(folder)
            b = _time(folder, "-p", "no:athalia")
            with_plugin.append(a)
            without.append(b)
            diffs.append(a - b)
        left = sorted(p.name for p in folder.iterdir())
    med_with, med_without = statistics.median(with_plugin), statistics.median(without)
    print(f"runs={args.runs} with_plugin_ms={med_with:.1f} without_ms={med_without:.1f}")
    print(f"ratio={med_with / med_without:.3f} files_left={left}")
    print(f"overhead_ms={statistics.median(diffs):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
