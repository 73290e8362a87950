"""What the chat's spool costs a turn (issue 16; docs/store.md, "The chat's spool").

In process, on a SQLite store in a temporary directory, the chat's turn writer
(`bot.services.deferred.Writer`) with the spool and without it (memory only, as before), side by
side, alternating in rounds:

- `free`: the store takes the write at once (the normal path: no spool write expected);
- `waiting`: another connection holds the file's write lock (BEGIN IMMEDIATE), the conversation
  already has a write waiting, so `write` queues at once: without the spool that is an append in
  memory, with it one fsynced insert into the spool (what the person's answer now waits for).

    .venv/bin/python -m bench.chat_spool_bench [--rounds 5] [--per-round 40]

Prints one JSON object: the median and p95 of `Writer.write` in ms per case and writer, the load
average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path


def _turn(conversation: str, i: int) -> dict:
    return {
        "conversation_id": conversation,
        "channel": "rest",
        "text": f"je veux refaire mon passeport {i}",
        "topic": "passeport",
        "confidence": 0.9,
        "destination": "mairie",
        "node": "passeport",
        "action": "answer",
        "resolved": True,
        "misses": 0,
        "prefecture": "cantal",
        "ts": f"2026-12-02T02:00:{i % 60:02d}.{i:03d}+00:00",
        "reply": {"texts": ["Réponse"], "buttons": [], "links": []},
    }


async def _write(writer, key: str, turn: dict) -> float:
    started = time.perf_counter()
    await writer.write(key, f"the turn of {key}", lambda store: store.record_turn(**turn), kept=("turn", turn))
    return (time.perf_counter() - started) * 1000


async def _round(writers: dict, case: str, db: Path, n: int, r: int, out: dict) -> None:
    lock = None
    if case == "waiting":
        lock = sqlite3.connect(str(db), isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
    try:
        for name, writer in writers.items():
            key = f"{case}-{name}-{r}"
            if case == "waiting":
                await _write(writer, key, _turn(key, 0))  # waits the busy timeout, then queues
            for i in range(1, n + 1):
                out[case][name].append(await _write(writer, key, _turn(key, i)))
    finally:
        if lock is not None:
            lock.execute("ROLLBACK")
            lock.close()
    for writer in writers.values():
        await writer.drain(60)


def _summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
    }


async def run(rounds: int, per_round: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "aiguillage.db"
        os.environ["AIGUILLAGE_DB"] = str(db)
        from bot.services.deferred import Writer
        from bot.store.database import Store
        from bot.store.spool import Spool, chat_spool_path

        Store(db)  # created and migrated once
        spool = Spool(chat_spool_path())
        writers = {"memory": Writer(db, busy_ms=250), "spool": Writer(db, busy_ms=250, spool=lambda: spool)}
        out = {case: {name: [] for name in writers} for case in ("free", "waiting")}
        for r in range(rounds):  # alternating: each round runs both writers on both cases
            for case in ("free", "waiting"):
                await _round(dict(reversed(writers.items())) if r % 2 else writers, case, db, per_round, r, out)
        left = spool.pending()
    return {case: {name: _summary(v) for name, v in by.items()} for case, by in out.items()} | {"spool_left": left}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=40)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # "store busy: ... in the background", once per queued write
    before = os.getloadavg()
    result = asyncio.run(run(args.rounds, args.per_round))
    result["load_before"] = [round(x, 2) for x in before]
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
