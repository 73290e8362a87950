"""Benchmark: the per-turn floor (issue 16, section 4), side by side in one run.

Two real servers (`python -m bot serve`, the same model, each its own SQLite file), started one after
the other: `in_process` (endpoints.yml as shipped: the custom action runs in the Rasa process,
bot/nlu/in_process.py) and `http` (the same file without `in_process`: Rasa posts each action call to
/webhooks/actions/webhook of its own process). For each: start-up to the first answer, RSS after it,
whether TensorFlow is loaded. Then, alternately (A B, then B A, `--rounds` times), chat turns over
HTTP: 1 user sending `--turns` messages one after the other, then 8 users at once sending
`--turns` / 8 each; the wall time of each turn (p50, p95) and the server's CPU time per turn
(/proc/PID/stat, user + system). Writes docs/floor.json; docs/floor.md quotes it.

    .venv/bin/python bench/floor_bench.py [--turns 160] [--rounds 2]

This is a benchmark, not a test: nothing here asserts a timing. The machine is shared and noisy:
compare the columns of one run, and read the load average written with them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.pipeline_bench import env_for, free_port, post, rss_mb  # noqa: E402
from bench.tracker_bench import MESSAGES  # noqa: E402

MODEL = ROOT / "models" / "aiguillage.tar.gz"
USERS = 8
TICK = os.sysconf("SC_CLK_TCK")


def endpoints_without_in_process(workdir: Path) -> Path:
    conf = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    conf["action_endpoint"].pop("in_process", None)
    path = workdir / "endpoints-http.yml"
    path.write_text(yaml.safe_dump(conf, sort_keys=False), encoding="utf-8")
    return path


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def tf_loaded(pid: int) -> bool:
    """Whether the process has TensorFlow's shared library mapped (it is loaded with the module)."""
    return "_pywrap_tensorflow_internal" in Path(f"/proc/{pid}/maps").read_text()


class Server:
    def __init__(self, name: str, endpoints: Path, workdir: Path):
        self.name = name
        self.port = free_port()
        env = env_for(self.port, workdir / f"{name}.db", MODEL)
        env["PREFECTURE"] = "cantal"
        env["AIGUILLAGE_PURGE_FIRST_S"] = "1e9"
        cmd = [sys.executable, "-m", "bot", "serve", "--model", str(MODEL), "--port", str(self.port)]
        cmd += ["--credentials", "credentials.yml", "--endpoints", str(endpoints)]
        self.log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name}: the server exited ({self.proc.returncode}), see {self.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                post(conn, "warmup" + uuid.uuid4().hex[:8], "bonjour")
                break
            except (ConnectionError, OSError, RuntimeError):
                time.sleep(0.25)
        self.startup_s = time.perf_counter() - started
        self.rss_mb = rss_mb(self.proc.pid)
        self.tensorflow = tf_loaded(self.proc.pid)
        for i in range(10):  # warm up: the first turns load caches
            post(conn, "warmup" + uuid.uuid4().hex[:8], MESSAGES[i % len(MESSAGES)])
        conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def chat(port: int, turns: int, out: list[float]) -> None:
    """One user: `turns` messages, a new conversation every 10 (each a few turns long, as on the page)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    sender = ""
    for i in range(turns):
        if i % 10 == 0:
            sender = "floor" + uuid.uuid4().hex[:12]
        started = time.perf_counter()
        post(conn, sender, MESSAGES[i % len(MESSAGES)])
        out.append(time.perf_counter() - started)
    conn.close()


def phase(server: Server, users: int, turns: int) -> dict:
    per_user = turns // users
    times: list[list[float]] = [[] for _ in range(users)]
    cpu0, wall0 = cpu_s(server.proc.pid), time.perf_counter()
    threads = [threading.Thread(target=chat, args=(server.port, per_user, times[u])) for u in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - wall0, cpu_s(server.proc.pid) - cpu0
    flat = sorted(x for user in times for x in user)
    return {
        "turns": len(flat),
        "p50_ms": round(statistics.median(flat) * 1000, 1),
        "p95_ms": round(flat[int(0.95 * (len(flat) - 1))] * 1000, 1),
        "cpu_ms_per_turn": round(cpu / len(flat) * 1000, 1),
        "turns_per_s": round(len(flat) / wall, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=160, help="turns per phase (8 users: turns / 8 each)")
    parser.add_argument("--rounds", type=int, default=2, help="alternations A B / B A")
    parser.add_argument("--out", default=str(ROOT / "docs" / "floor.json"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="floor-bench-"))
    variants = {"in_process": ROOT / "endpoints.yml", "http": endpoints_without_in_process(workdir)}
    result: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
        "load_before": os.getloadavg(),
        "turns_per_phase": args.turns,
        "servers": {},
        "rounds": [],
    }
    servers = {}
    try:
        for name, endpoints in variants.items():
            servers[name] = Server(name, endpoints, workdir)
            s = servers[name]
            result["servers"][name] = {
                "startup_to_first_answer_s": round(s.startup_s, 1),
                "rss_mb": round(s.rss_mb),
                "tensorflow_loaded": s.tensorflow,
            }
            print(name, result["servers"][name], flush=True)
        order = list(variants)
        for r in range(args.rounds):
            for name in order if r % 2 == 0 else order[::-1]:
                for users in (1, USERS):
                    row = {"round": r + 1, "variant": name, "users": users, "load": os.getloadavg()[0]}
                    row.update(phase(servers[name], users, args.turns))
                    result["rounds"].append(row)
                    print(row, flush=True)
    finally:
        for s in servers.values():
            s.stop()
    result["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
