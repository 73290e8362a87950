"""Benchmark: Rasa's stock SQLTrackerStore against ours (bot.nlu.tracker_store), one run, same model.

For each store, one real server (`python -m bot serve`, its own SQLite file) and one conversation of `--turns`
chat turns over HTTP, sequential; its last 30 turns are interleaved with turns 6-15 of three short
conversations, so both see the same load: the median latency of each ("turn 10", "turn 500") and
their ratio (issue 16 §4 asks turn 500 <= 1.5 x turn 10). Then, still on
that long conversation, a write lock held on the SQLite file by another connection for `--lock`
seconds while three chat turns are sent: how long each waits for its answer (issue 11 asks < 2 s).
Writes docs/tracker.json; docs/tracker.md quotes the figures.

    .venv/bin/python bench/tracker_bench.py [--turns 500] [--lock 14] [--only ours|stock]

This is a benchmark, not a test: nothing here asserts a timing. The machine is shared and noisy:
compare the two columns of one run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import load, servers  # noqa: E402
from bench.servers import free_port, post  # noqa: E402

MODEL = ROOT / "models" / "aiguillage.tar.gz"
STORES = {
    "stock": {"type": "SQL", "dialect": "sqlite", "db": "${AIGUILLAGE_DB}"},
    "ours": None,  # endpoints.yml as shipped
}
# A conversation that keeps going: routed answers, small talk, a clarifying question now and then.
MESSAGES = [
    "bonjour",
    "j'ai vendu ma voiture que dois-je faire pour la carte grise",
    "merci",
    "renouvellement permis de conduire perdu",
    "ma carte d'identité expire bientôt",
    "le papier",
    "mon titre de sejour arrive a expiration",
    "quels sont les horaires de la préfecture",
    "je n'ai pas d'ordinateur pour faire ma démarche",
    "merci beaucoup",
]


def endpoints(name: str, workdir: Path) -> Path:
    conf = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    if STORES[name] is not None:
        conf["tracker_store"] = STORES[name]
    path = workdir / f"endpoints-{name}.yml"
    path.write_text(yaml.safe_dump(conf))
    return path


def hold_lock(db: Path, seconds: float, held: threading.Event) -> None:
    conn = sqlite3.connect(str(db), timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def measure(name: str, turns: int, lock_s: float, workdir: Path) -> dict:
    port = free_port()
    db = workdir / f"{name}.db"
    # `python -m bot serve`: `rasa run` with the action endpoint's key in its environment.
    cmd = servers.ours_cmd(port, MODEL, endpoints=str(endpoints(name, workdir)))
    server = servers.Launched(cmd, servers.base_env(port, db, MODEL), workdir / f"{name}.log", port)
    try:
        server.wait_answer(300)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for i in range(20):
            post(conn, f"warm{i % 4}", MESSAGES[i % len(MESSAGES)])

        def send(sender: str, text: str) -> float:
            t0 = time.perf_counter()
            post(conn, sender, text)
            return (time.perf_counter() - t0) * 1000

        # The long conversation up to 30 turns before the end, three short ones up to turn 5; then
        # turns 6-15 of the short ones and the last 30 of the long one, side by side.
        grow, near10, near_last = load.long_and_short(send, turns, MESSAGES)
        latencies = grow + near_last
        turn10 = statistics.median(near10)
        turn_last = statistics.median(near_last)
        rows = sqlite3.connect(str(db)).execute("select count(*) from events where sender_id = 'long'").fetchone()[0]
        held = threading.Event()
        locker = threading.Thread(target=hold_lock, args=(db, lock_s, held))
        locker.start()
        held.wait(10)
        locked = []
        for i in range(3):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=lock_s + 60)
            t0 = time.perf_counter()
            try:
                post(c, "long", MESSAGES[i])
                locked.append(round(time.perf_counter() - t0, 2))
            except Exception as exc:  # noqa: BLE001 - a benchmark reports what happened
                locked.append(f"{type(exc).__name__} after {time.perf_counter() - t0:.1f} s")
        locker.join()
        return {
            "turns": turns,
            "events_stored": rows,
            "turn10_ms": round(turn10, 1),
            "turn_last_ms": round(turn_last, 1),
            "ratio": round(turn_last / turn10, 2),
            "p50_all_ms": round(statistics.median(latencies), 1),
            "answers_during_lock_s": locked,
        }
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--lock", type=float, default=14.0)
    parser.add_argument("--only", choices=sorted(STORES))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "tracker.json")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in [args.only] if args.only else ["stock", "ours"]:
            results[name] = measure(name, args.turns, args.lock, Path(tmp))
            print(name, json.dumps(results[name]), flush=True)
    results["_meta"] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {platform.python_version()}, shared by other jobs",
    }
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
