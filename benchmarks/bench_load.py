"""Benchmark: the load generator's capacity (Locust FastHttpUser, 1 and N processes) next to wrk.

All three drive the same static endpoint: a Debian nginx started here on a loopback port
(``apt-get install -y nginx-light wrk``), answering ``200 ok`` from memory. Locust runs the
way pytest-athalia runs it (:func:`pytest_athalia.load._run.run_load`: a subprocess with our
listener); its capacity is the mean requests/s over the seconds with every user running.
Every run is bounded in time. The last line is ``ratio=<best locust req/s / wrk req/s>``.

    .venv/bin/python benchmarks/bench_load.py [--seconds 8] [--processes N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_athalia.config._environment import load_environment
from pytest_athalia.load._locust import free_port
from pytest_athalia.load._run import run_load
from pytest_athalia.load._verdicts import steady_seconds
from pytest_athalia.report._progress import Progress

NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok"; }}
    }}
}}
"""

LOCUSTFILE = """\
from locust import FastHttpUser, task


class Static(FastHttpUser):
    @task
    def static(self):
        self.client.get("/", name="/")
"""

ENVIRONMENT = """\
stack:
  compose_files: [compose.yml]
  service: static
  port: 80
load:
  locustfile: locustfile.py
  users: {users}
  spawn_rate: 1000
  duration: {seconds}
  workers: {workers}
"""


def start_nginx(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        sys.exit("bench_load: nginx is missing; install it with `apt-get install -y nginx-light`")
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, port=port), encoding="utf-8")
    process = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(root)], start_new_session=True, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    sys.exit(f"bench_load: nginx did not listen on port {port} within 10 s; see {root}/error.log")


def wrk_rps(url: str, seconds: int, connections: int) -> float:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("bench_load: wrk is missing; install it with `apt-get install -y wrk`")
    threads = max(1, min(os.cpu_count() or 1, connections))
    proc = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", url + "/"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", proc.stdout)
    if match is None:
        sys.exit(f"bench_load: cannot read wrk's output:\n{proc.stdout}")
    return float(match.group(1))


def locust_rps(url: str, root: Path, *, seconds: int, users: int, workers: int) -> tuple[float, float | None]:
    """Mean req/s over the seconds with every user running, and the generator's sustained CPU."""
    folder = root / f"locust-{workers}"
    folder.mkdir()
    (folder / "compose.yml").write_text("services: {}\n", encoding="utf-8")
    (folder / "locustfile.py").write_text(LOCUSTFILE, encoding="utf-8")
    env_file = folder / "bench.yml"
    env_file.write_text(ENVIRONMENT.format(users=users, seconds=seconds, workers=workers), encoding="utf-8")
    environment = load_environment(str(env_file), None)
    results = run_load(environment, url, folder / "out", progress=Progress(lambda _: None))
    steady = steady_seconds(results.series, users)
    if not steady:
        sys.exit(f"bench_load: no steady second in the Locust run ({workers} workers); raise --seconds")
    return sum(s.total().requests for s in steady) / len(steady), results.generator.sustained_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of each run (default 8)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2, help="Locust workers for the N run")
    parser.add_argument("--users", type=int, default=50, help="Locust users, also wrk's connections (default 50)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="athalia-bench-load-") as tmp:
        root = Path(tmp)
        nginx, url = start_nginx(root)
        try:
            wrk = wrk_rps(url, args.seconds, args.users)
            one, one_cpu = locust_rps(url, root, seconds=args.seconds, users=args.users, workers=0)
            many, many_cpu = locust_rps(url, root, seconds=args.seconds, users=args.users, workers=args.processes)
        finally:
            os.killpg(nginx.pid, signal.SIGTERM)
            nginx.wait(timeout=10)
    cpus = os.cpu_count()
    print(f"static endpoint: nginx on loopback; {cpus} CPUs; {args.seconds} s per run; {args.users} users/connections")
    print(f"wrk                     {wrk:10.0f} req/s")
    runs = [("1 process", one, one_cpu), (f"{args.processes} processes", many, many_cpu)]
    for label, rps, cpu in runs:
        print(
            f"locust, {label:<15} {rps:10.0f} req/s  (generator CPU demand held {cpu or 0:.0f}%)  ratio {rps / wrk:.4f}"
        )
    print(f"ratio={max(one, many) / wrk:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
