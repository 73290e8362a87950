"""Benchmark: chat turns per second through nginx with 1 and 2 server processes, Rasa's tracker store
on the SQLite file (the default) or on PostgreSQL with the lock store on Redis (issue 16).

For each backend, two real servers (`python -m bot serve`, tools/cluster.py) on one fresh SQLite file
(and, for the second backend, one PostgreSQL and one Redis on 127.0.0.1); nginx with deploy/nginx.conf
in front of the first server only, then of both. `--clients` threads each hold one conversation and
send chat turns through nginx without pause for `--seconds`: answered turns per second and the median
and 95th-percentile latency. Writes docs/scaling.json; docs/scaling.md quotes the figures.

    .venv/bin/python bench/cluster_bench.py [--seconds 20] [--clients 8]

A benchmark, not a test: nothing asserts a figure. The machine is shared: compare columns of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import cluster as cl  # noqa: E402

QUESTIONS = ["changement d'adresse sur ma carte grise", "je veux refaire mon passeport", "titre de séjour étudiant"]


def turn(port: int, sender: str, text: str) -> int:
    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/chat/webhook", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()
            return resp.status
    except OSError:
        return 0


def load(port: int, clients: int, seconds: float) -> dict:
    """`clients` conversations sending turns through nginx for `seconds`."""
    latencies: list[float] = []
    failed = [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client(n: int) -> None:
        sender, i = "b" + uuid.uuid4().hex[:16], n
        while time.monotonic() < end:
            start = time.monotonic()
            status = turn(port, sender, QUESTIONS[i % len(QUESTIONS)])
            i += 1
            with lock:
                if status == 200:
                    latencies.append(time.monotonic() - start)
                else:
                    failed[0] += 1

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "answered": len(latencies),
        "failed": failed[0],
        "seconds": round(elapsed, 1),
        "turns_per_s": round(len(latencies) / elapsed, 2),
        "median_ms": round(statistics.median(latencies) * 1000) if latencies else None,
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000) if latencies else None,
    }


def run_backend(tmp: Path, name: str, database_url: str | None, lock_url: str | None, args) -> list[dict]:
    work = tmp / name
    work.mkdir()
    db = work / "aiguillage.db"
    ports = [cl.free_port(), cl.free_port()]
    procs = [cl.start_server(p, cl.server_env(p, db, database_url, lock_url), work / f"server-{p}.log") for p in ports]
    rows = []
    try:
        for p, proc in zip(ports, procs):
            cl.wait_server(p, 300, proc)
            turn(p, "warm-" + uuid.uuid4().hex[:8], QUESTIONS[0])
        for n in (1, 2):
            proxy = cl.Nginx(work / f"nginx{n}", cl.free_port(), ports[:n])
            proxy.start()
            try:
                result = load(proxy.port, args.clients, args.seconds)
            finally:
                proxy.stop()
            rows.append({"tracker": name, "processes": n, **result})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a server that does not stop is killed
                proc.kill()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--out", default=str(ROOT / "docs" / "scaling.json"))
    args = parser.parse_args()
    absent = cl.missing()
    if absent:
        print(f"not installed: {', '.join(absent)}", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="aiguillage-scaling-"))
    os.chmod(tmp, 0o755)  # PostgreSQL runs as `postgres` when this runs as root
    pg = cl.Postgres(tmp / "postgres", cl.free_port())
    redis = cl.Redis(tmp / "redis", cl.free_port())
    rows = []
    try:
        rows += run_backend(tmp, "sqlite", None, None, args)
        database_url, lock_url = pg.start(), redis.start()
        rows += run_backend(tmp, "postgresql+redis", database_url, lock_url, args)
    finally:
        redis.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load_avg = os.getloadavg()
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {load_avg[0]:.1f} at the end",
        "clients": args.clients,
        "seconds": args.seconds,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
