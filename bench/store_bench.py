"""The store-size benchmark's data: a store pre-filled with copies of a real conversation (its
`conversations` and `turns` rows and its Rasa tracker `events`, written by the warm-up), new ids and
spread timestamps, with executemany. Used by bench/suite.py. Not imported by the product.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pipeline_bench import QUESTIONS  # noqa: E402


def templates(db: Path) -> dict:
    """Real rows written by the warm-up (one conversation, its turns and its tracker events)."""
    conn = sqlite3.connect(str(db))
    conn.row_factory = sqlite3.Row
    try:
        conv = dict(conn.execute("select * from conversations where id like 'warm%' order by turns desc limit 1").fetchone())
        turns = [dict(r) for r in conn.execute("select * from turns where conversation_id = ? order by id", [conv["id"]])]
        sender = conn.execute(
            "select sender_id from events where sender_id like 'warm%' group by sender_id order by count(*) desc limit 1"
        ).fetchone()[0]
        events = [dict(r) for r in conn.execute("select * from events where sender_id = ? order by id", [sender])]
        schema = [
            r[0]
            for r in conn.execute(
                "select sql from sqlite_master where sql is not null and "
                "tbl_name in ('events', 'conversations', 'turns', 'migrations') "
                "and name not like 'sqlite_%'"
            )
        ]
        migrations = [dict(r) for r in conn.execute("select * from migrations")]
    finally:
        conn.close()
    return {"conversation": conv, "turns": turns, "events": events, "schema": schema, "migrations": migrations}


def fill(db: Path, tpl: dict, start: int, stop: int, bar=None) -> int:
    """Add conversations start..stop-1 (copies of the template with new ids) with executemany."""
    from bot.store.database import Store

    Store(db).close()  # every table of the product, by its own migrations
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    for sql in tpl["schema"]:  # Rasa's events table and its index, as Rasa created them
        conn.execute(
            sql.replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)
            .replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
            .replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX IF NOT EXISTS ", 1)
        )
    c, t, e = tpl["conversation"], tpl["turns"], tpl["events"]
    ccols = [k for k in c]
    tcols = [k for k in (t[0] if t else {}) if k != "id"]
    ecols = [k for k in (e[0] if e else {}) if k != "id"]
    day = 86400.0
    base = time.time() - 180 * day
    step = 5000
    for lo in range(start, stop, step):
        hi = min(stop, lo + step)
        conv_rows, turn_rows, event_rows = [], [], []
        for i in range(lo, hi):
            cid = f"fill-{i:07d}"
            shift = (i % 180) * day
            conv_rows.append([cid if k == "id" else c[k] for k in ccols])
            turn_rows += [[cid if k == "conversation_id" else r[k] for k in tcols] for r in t]
            event_rows += [
                [cid if k == "sender_id" else (base + shift + j if k == "timestamp" else r[k]) for k in ecols]
                for j, r in enumerate(e)
            ]
        conn.execute("BEGIN")
        conn.executemany(f"insert into conversations ({','.join(ccols)}) values ({','.join('?' * len(ccols))})", conv_rows)
        if tcols:
            conn.executemany(f"insert into turns ({','.join(tcols)}) values ({','.join('?' * len(tcols))})", turn_rows)
        if ecols:
            conn.executemany(f"insert into events ({','.join(ecols)}) values ({','.join('?' * len(ecols))})", event_rows)
        conn.execute("COMMIT")
        if bar is not None:
            bar.update(hi - lo)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return stop - start


def side_by_side(small, large, n: int, bar=None) -> tuple[list[float], list[float]]:
    """`n` turns on each server, two per new conversation, sent in turn (one to each): the latencies
    (ms) on the small store and on the large one."""
    lat_small, lat_large = [], []
    for i in range(n):
        text = QUESTIONS[i % len(QUESTIONS)]
        lat_small.append(small.say(f"small-{i // 2}", text))
        lat_large.append(large.say(f"large-{i // 2}", text))
        if bar is not None:
            bar.update(2)
    return lat_small, lat_large
