"""Benchmark: the per-turn floor (issue 16, section 4), side by side in one run.

Three real servers (`python -m bot serve`, the same model, each its own SQLite file), started one after
the other: `in_process` (endpoints.yml as shipped: the custom action runs in the Rasa process,
bot/nlu/in_process.py), `http` (the same file without `in_process`: Rasa posts each action call to
/webhooks/actions/webhook of its own process) and `no_tf_experiment` (as `in_process`, with an inert
stand-in for TensorFlow, TF_STUB: an experiment, to measure what not loading TensorFlow would save).
For each: start-up to the first answer, RSS after it and after the turns, whether TensorFlow's library
is loaded. Then, alternately (A B C, then C B A: one round each, the servers started again each
round), chat turns over
HTTP: 1 user sending `--turns` messages one after the other, then 8 users at once sending
`--turns` / 8 each; the wall time of each turn (p50, p95) and the server's CPU time per turn
(/proc/PID/stat, user + system). Writes docs/floor.json; docs/floor.md quotes it.

    .venv/bin/python bench/floor_bench.py [--turns 160] [--rounds 2] [--compare DIR --out FILE]

With `--compare DIR`, two servers instead of the three variants: this checkout and DIR's (a worktree
of main with its .venv and models/, for a before/after in one run).

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
from bench.pipeline_bench import env_for, free_port  # noqa: E402
from bench.servers import post, rss_mb  # noqa: E402
from bench.tracker_bench import MESSAGES  # noqa: E402

USERS = 8
TICK = os.sysconf("SC_CLK_TCK")


# The `no_tf_experiment` server: a stand-in for TensorFlow put first on sys.path as sitecustomize, to
# measure what a server that never loads TensorFlow would save (docs/floor.md). Not product code, and
# not a way to run the product: it answers every attribute and call with an inert class.
TF_STUB = """
import importlib.abc, importlib.machinery, sys, types

STUBBED = ("tensorflow", "tensorflow_addons", "tensorflow_hub", "tensorflow_text", "keras", "tensorboard")


class _Meta(type):
    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Meta(cls.__name__ + "." + name, (object,), {})

    def __call__(cls, *args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return _Meta(cls.__name__, (object,), {})

    def __getitem__(cls, item):
        return cls

    def __or__(cls, other):
        return cls

    __ror__ = __or__


class _Module(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        value = _Meta(self.__name__ + "." + name, (object,), {})
        setattr(self, name, value)
        return value


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in STUBBED:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _Module(spec.name)
        module.__path__ = []
        module.__version__ = "2.12.0"
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Finder())
"""


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
    def __init__(self, name: str, endpoints: Path, workdir: Path, extra_env: dict, root: Path = ROOT):
        """A server of the checkout `root` (its own bot/, models/ and .venv: `--compare`)."""
        self.name = name
        self.port = free_port()
        model = root / "models" / "aiguillage.tar.gz"
        env = env_for(self.port, workdir / f"{name}-{uuid.uuid4().hex[:6]}.db", model) | extra_env
        env["PREFECTURE"] = "cantal"
        env["AIGUILLAGE_PURGE_FIRST_S"] = "1e9"
        python = root / ".venv" / "bin" / "python"
        cmd = [str(python if python.exists() else sys.executable), "-m", "bot", "serve", "--model", str(model)]
        cmd += ["--port", str(self.port)]
        cmd += ["--credentials", "credentials.yml", "--endpoints", str(endpoints)]
        self.log = open(workdir / f"{name}-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
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


def start_all(variants: dict, workdir: Path, reverse: bool) -> dict:
    servers = {}
    for name in list(variants)[:: -1 if reverse else 1]:
        endpoints, env, root = variants[name]
        servers[name] = Server(name, endpoints, workdir, env, root=root)
        s = servers[name]
        print(name, f"start-up {s.startup_s:.1f} s, RSS {s.rss_mb:.0f} MB, TensorFlow {s.tensorflow}", flush=True)
    return servers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=160, help="turns per phase (8 users: turns / 8 each)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds: servers started, then phases A B C / C B A")
    parser.add_argument("--out", default=str(ROOT / "docs" / "floor.json"))
    parser.add_argument(
        "--compare",
        metavar="DIR",
        help="instead of the three variants: this checkout (`this`) against another one (`compare`: its own "
        "bot/, endpoints.yml, models/ and .venv), e.g. a worktree of main",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="floor-bench-"))
    stub = workdir / "tf_stub"
    stub.mkdir()
    (stub / "sitecustomize.py").write_text(TF_STUB, encoding="utf-8")
    if args.compare:
        other = Path(args.compare).resolve()
        variants = {"this": (ROOT / "endpoints.yml", {}, ROOT), "compare": (other / "endpoints.yml", {}, other)}
    else:
        variants = {
            "in_process": (ROOT / "endpoints.yml", {}, ROOT),
            "http": (endpoints_without_in_process(workdir), {}, ROOT),
            "no_tf_experiment": (ROOT / "endpoints.yml", {"PYTHONPATH": str(stub)}, ROOT),
        }
    result: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
        "load_before": os.getloadavg(),
        "turns_per_phase": args.turns,
        "compare": str(Path(args.compare).resolve()) if args.compare else None,
        "starts": [],
        "rounds": [],
    }
    for r in range(args.rounds):
        servers = start_all(variants, workdir, reverse=r % 2 == 1)
        starts = {
            name: {
                "round": r + 1,
                "variant": name,
                "load": os.getloadavg()[0],
                "startup_to_first_answer_s": round(s.startup_s, 1),
                "rss_mb": round(s.rss_mb),
                "tensorflow_loaded": s.tensorflow,
            }
            for name, s in servers.items()
        }
        try:
            for name in list(variants)[:: -1 if r % 2 else 1]:
                for users in (1, USERS):
                    row = {"round": r + 1, "variant": name, "users": users, "load": os.getloadavg()[0]}
                    row.update(phase(servers[name], users, args.turns))
                    result["rounds"].append(row)
                    print(row, flush=True)
            for name, s in servers.items():
                starts[name]["rss_after_turns_mb"] = round(rss_mb(s.proc.pid))
        finally:
            for s in servers.values():
                s.stop()
        result["starts"].extend(starts.values())
    result["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
