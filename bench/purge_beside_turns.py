"""Chat turns written while the retention purge runs, on PostgreSQL (issue 16 §1): a fresh schema
of a PostgreSQL 15 started for the run (tools/cluster.py's Postgres, fsync on) is filled with OLD
conversations past their period (two turns each), then N threads record turns of their own live
conversations (`Store.record_turn`, as the chat's turn writer) while `retention.purge` runs in
another thread. Each checkout given is measured in turn, in the same run, in a process of its own
(its own `bot` package): this one (the purge per batch under its records' keys) and a baseline (the
purge in one transaction under the store's exclusive lock).

    .venv/bin/python -m bench.purge_beside_turns --baseline /work/main --old 20000 --rounds 2

Prints one line per (checkout, round): the purge's wall time, the turns written during it, the
longest wait of one turn during it, the turns refused ("database is locked" after the store's 10 s),
the rows purged, and the load average. Not imported by the product.
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

RUN = """
import json, sqlite3, sys, threading, time
from datetime import UTC, datetime
from bot.core import config
from bot.services import retention
from bot.store.database import Store
url, old, writers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = Store(url)
stamp = "2020-01-01T00:00:00.000+00:00"
store.db.execute(
    "insert into conversations (id, channel, prefecture, started_at, updated_at, turns, misses, status)"
    " select 'old-' || g, 'web', 'cantal', ?, ?, 2, 0, 'open' from generate_series(1, ?) g", [stamp, stamp, old])
store.db.execute(
    "insert into turns (conversation_id, ts, channel, text) select 'old-' || (g % ?) + 1, ?, 'web', 'texte'"
    " from generate_series(1, ?) g", [old, stamp, 2 * old])
store.db.execute("analyze conversations")  # as autovacuum would have: the planner's statistics (index scans)
store.db.execute("analyze turns")
pref = config.load_prefecture("cantal")
done, waits, refused, counts = threading.Event(), [], [0], {}
def write(n):
    own = Store(url)
    while not done.is_set():
        began = time.monotonic()
        try:
            own.record_turn(f"live{n}", "web", "carte grise", "carte_grise", 0.9, "ants", "cg", "answer", True, 0, "cantal")
        except sqlite3.OperationalError:
            refused[0] += 1
        if purging.is_set():
            waits.append(time.monotonic() - began)
purging = threading.Event()
threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
[t.start() for t in threads]
time.sleep(1.0)
purging.set()
began = time.monotonic()
counts = retention.purge(Store(url), pref, now=datetime(2021, 1, 1, tzinfo=UTC))
wall = time.monotonic() - began
purging.clear()
done.set()
[t.join() for t in threads]
print(json.dumps({"purge_s": wall, "turns": len(waits), "longest_wait_s": max(waits, default=0.0),
                  "refused": refused[0], "turns_purged": counts.get("turns"), "conversations_purged": counts.get("conversations")}))
"""


def measure(checkout: Path, url: str, old: int, writers: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout), PREFECTURE="cantal")
    env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", RUN, url, str(old), str(writers)], cwd=checkout, env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"{checkout}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout (the store-wide purge)")
    parser.add_argument("--old", type=int, default=20000, help="old conversations to purge (two turns each)")
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="aiguillage-purge-bench-"))
    home.chmod(0o755)
    pg = Postgres(home / "data", free_port())
    base = pg.start()
    import psycopg2

    try:
        n = 0
        for round_ in range(1, args.rounds + 1):
            for name, checkout in (("this", ROOT), ("baseline", args.baseline.resolve())):
                n += 1
                conn = psycopg2.connect(base)
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"create schema b{n}")
                conn.close()
                row = measure(checkout, f"{base}?options=-csearch_path%3Db{n}", args.old, args.writers)
                load = os.getloadavg()[0]
                print(json.dumps({"checkout": name, "round": round_, **row, "load": round(load, 2)}), flush=True)
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
