"""The product's store on PostgreSQL under concurrent writers (issue 16 §2): N threads each recording
the turns of its own conversation (`Store.record_turn`: one transaction, its lock(s), a read, an
upsert, an insert) for a few seconds, on a fresh schema of a PostgreSQL 15 started for the run
(tools/cluster.py's Postgres, fsync on). Each checkout given is measured in turn, in the same run, in
a process of its own (its own `bot` package): this one and a baseline (the store-wide write lock);
`--sqlite` adds this checkout on a SQLite file (WAL, `synchronous = NORMAL`) for comparison.

    .venv/bin/python -m bench.store_writers --baseline /work/main --writers 1 8 --seconds 8

Prints one line per (checkout, writers): turns/s (wall), the client process's CPU ms per turn, and
the load average. Not imported by the product.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.cluster import Postgres, free_port  # noqa: E402

WRITE = """
import json, resource, sys, threading, time
from bot.store.database import Store
url, writers, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
Store(url).close()
counts = [0] * writers
go = threading.Barrier(writers + 1)
def write(n):
    store = Store(url)
    go.wait()
    while time.monotonic() < end:
        store.record_turn(f"w{n}", "web", "carte grise", "carte_grise", 0.9, "ants", "cg", "answer", True, 0, "cantal")
        counts[n] += 1
threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
[t.start() for t in threads]
end = time.monotonic() + seconds
cpu = resource.getrusage(resource.RUSAGE_SELF)
began = time.monotonic()
go.wait()
[t.join() for t in threads]
wall = time.monotonic() - began
after = resource.getrusage(resource.RUSAGE_SELF)
used = (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime)
print(json.dumps({"turns": sum(counts), "wall_s": wall, "cpu_s": used}))
"""


TRACKER = """
import asyncio, json, resource, sys, time
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from bot.nlu.tracker_store import WindowSQLTrackerStore
url, writers, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rest, db = url.split("://", 1)[1].split("/", 1)
host, port = rest.split("@")[-1].split(":")
user = rest.split("@")[0]
name, _, query = db.partition("?")
store = WindowSQLTrackerStore(Domain.load("domain.yml"), dialect="postgresql", host=host, port=int(port), db=name,
                              username=user, query={"options": query.split("=", 1)[1].replace("%3D", "=")}, window=12)
parse = {"intent": {"name": "carte_grise", "confidence": 0.9}, "entities": [], "text": "carte grise"}

async def converse(n, end, counts):
    k = 0
    while time.monotonic() < end:
        sender = f"w{n}-c{k // 5}"
        tracker = await store.retrieve(sender)
        if tracker is None:
            tracker = store.init_tracker(sender)
            for e in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
                tracker.update(e)
        for e in (UserUttered("carte grise", parse), ActionExecuted("action_route"), BotUttered("Voici."),
                  ActionExecuted("action_listen")):
            tracker.update(e)
        await store.save(tracker)
        counts[n] += 1
        k += 1

async def main():
    counts = [0] * writers
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    await asyncio.gather(*(converse(n, began + seconds, counts) for n in range(writers)))
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime)
    print(json.dumps({"turns": sum(counts), "wall_s": wall, "cpu_s": used}))

asyncio.run(main())
"""


def schema(pg: Postgres, name: str) -> str:
    subprocess.run(
        [str(Path(os.environ.get("AIGUILLAGE_PG_BIN", "/usr/lib/postgresql/15/bin")) / "psql"), pg.url, "-qc",
         f"drop schema if exists {name} cascade; create schema {name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return f"{pg.url}?options=-csearch_path%3D{name}"


def measure(checkout: Path, url: str, writers: int, seconds: float, script: str = WRITE) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout), SQLALCHEMY_SILENCE_UBER_WARNING="1", RASA_TELEMETRY_ENABLED="false")
    done = subprocess.run(
        [sys.executable, "-c", script, url, str(writers), str(seconds)],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out | {"turns_per_s": out["turns"] / out["wall_s"], "cpu_ms_per_turn": 1000 * out["cpu_s"] / max(out["turns"], 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", type=Path, help="another checkout to measure in the same run (e.g. /work/main)")
    ap.add_argument("--writers", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=2, help="each measure this many times, interleaved")
    ap.add_argument("--sqlite", action="store_true", help="also this checkout on a SQLite file (WAL), for comparison")
    ap.add_argument(
        "--tracker",
        action="store_true",
        help="Rasa's side instead: each writer a conversation of 5-turn sessions through WindowSQLTrackerStore "
        "(retrieve, 4 events, save), concurrent writers as coroutines of one event loop",
    )
    args = ap.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="aiguillage-pg-bench-"))
    home.chmod(0o755)
    pg = Postgres(home / "data", free_port())
    pg.start()
    checkouts = [("this", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    n = 0
    try:
        for r in range(args.rounds):
            for writers in args.writers:
                runs = [(label, checkout, None) for label, checkout in checkouts]
                runs += [("sqlite", ROOT, home / "sqlite")] if args.sqlite and not args.tracker else []
                for label, checkout, files in runs:
                    n += 1
                    where = str(files / f"b{n}.db") if files else schema(pg, f"b{n}")
                    if files:
                        files.mkdir(exist_ok=True)
                    res = measure(checkout, where, writers, args.seconds, TRACKER if args.tracker else WRITE)
                    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
                    print(
                        f"round {r + 1} {label:8} {writers} writers: {res['turns_per_s']:7.1f} turns/s, "
                        f"{res['cpu_ms_per_turn']:.2f} ms CPU/turn (client), {res['turns']} turns, load {load}",
                        flush=True,
                    )
    finally:
        pg.stop()
        subprocess.run(["rm", "-rf", str(home)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
