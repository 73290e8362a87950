"""Where a chat turn's and a keypad step's time goes on PostgreSQL (issue 16 §1): the round trips and
statements each sends to PostgreSQL, their time in the server, and the CPU of the server process and
of the PostgreSQL backends per request.

A throwaway PostgreSQL 15 (tools/cluster.py's Postgres) logs every message it gets with its duration
(`log_min_duration_statement=0`: one log line per round trip of psycopg2's simple query protocol; a
line may hold several statements, `begin; set local ...; select pg_advisory_xact_lock(...)`). One
server (`python -m bot serve`, both stores on that PostgreSQL) of `--checkout` (default this one)
answers, after a warm-up, `--turns` chat turns one at a time (conversations of five turns), then
`--calls` calls walking the menu (bench/ivr_bench.py's keys). Each request's lines are read from the
log after it (and after the chat's deferred turn record: a short pause), sorted into Rasa's tracker
store (the `events` table) and the product's store.

    .venv/bin/python -m bench.pg_trips [--checkout /tmp/pgfast-base] [--turns 20] [--calls 4]

Prints a Markdown table (per request: trips, statements, server ms in statements, CPU ms of the
server process and of the PostgreSQL processes) and the load average. Not imported by the product.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from bench import load, servers  # noqa: E402
from tools import cluster as cl  # noqa: E402

LINE = re.compile(r"duration: ([0-9.]+) ms\s+statement: (.*)")
TICKS = os.sysconf("SC_CLK_TCK")
KEYS = ("1", "1", "*", "0")
SQLALCHEMY = {"SELECT 1", "BEGIN", "COMMIT", "ROLLBACK"}  # its ping and transactions


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def children(pid: int) -> list[int]:
    """`pid` and every process below it (the server's, PostgreSQL's backends)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parents.get(p, [])
    return out


class Probe:
    """Reads the PostgreSQL log from where the last request left it, and the processes' CPU."""

    def __init__(self, log: Path, pg_pid: int, server_pid: int):
        self.log, self.pg_pid, self.server_pid = log, pg_pid, server_pid
        self.offset = log.stat().st_size
        self.cpu = self._cpu()

    def _cpu(self) -> tuple[float, float]:
        return cpu_s(children(self.server_pid)), cpu_s(children(self.pg_pid))

    def take(self) -> dict:
        with open(self.log, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode("utf-8", "replace")
            self.offset = f.tell()
        cpu = self._cpu()
        used = (cpu[0] - self.cpu[0], cpu[1] - self.cpu[1])
        self.cpu = cpu
        out = {"trips": Counter(), "statements": Counter(), "ms": Counter(), "server_cpu": used[0], "pg_cpu": used[1]}
        out["lines"] = []
        for m in LINE.finditer(text):
            ms, sql = float(m.group(1)), m.group(2)
            out["lines"].append(f"{ms:7.3f} ms  {sql[:160]}")
            # Rasa's tracker store (SQLAlchemy: upper case, its `events` table) or the product's (lower case).
            part = "tracker" if re.search(r"\bevents\b", sql) or sql.strip() in SQLALCHEMY else "store"
            out["trips"][part] += 1
            out["statements"][part] += max(1, len([s for s in sql.split(";") if s.strip()]))
            out["ms"][part] += ms
        return out


def add(total: dict, one: dict) -> None:
    for k in ("trips", "statements", "ms"):
        total.setdefault(k, Counter()).update(one[k])
    for k in ("server_cpu", "pg_cpu"):
        total[k] = total.get(k, 0.0) + one[k]
    total["n"] = total.get("n", 0) + 1
    total["last"] = one["lines"]


def row(label: str, t: dict) -> str:
    n = t["n"]
    f = lambda c, k: f"{c.get(k, 0) / n:.1f}"  # noqa: E731
    return (
        f"| {label} | {n} | {f(t['trips'], 'tracker')} + {f(t['trips'], 'store')} | "
        f"{f(t['statements'], 'tracker')} + {f(t['statements'], 'store')} | "
        f"{t['ms'].get('tracker', 0) / n:.2f} + {t['ms'].get('store', 0) / n:.2f} | "
        f"{1000 * t['server_cpu'] / n:.1f} | {1000 * t['pg_cpu'] / n:.1f} |"
    )


def measure(checkout: Path, turns: int, calls: int, pause: float, show: bool = False) -> list[str]:
    from ivr.signature import LOCAL_DEV_TOKEN
    from tools.ivr.simulate import Call

    work = Path(tempfile.mkdtemp(prefix="aiguillage-trips-"))
    work.chmod(0o755)
    pg = cl.Postgres(work / "pg" / "data", servers.free_port(), {"log_min_duration_statement": "0"})
    url = pg.start()
    server = None
    try:
        port = servers.free_port()
        env = cl.server_env(port, work / "unused.db", url, None, base=servers.base_env(port, work / "unused.db", servers.MODEL))
        env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
        server = servers.Launched(
            servers.ours_cmd(port, servers.MODEL, root=checkout), env, work / "server.log", port, root=checkout
        )
        server.wait_answer(600)
        import asyncio

        asyncio.run(load.chat_load(server.url, 2, "warm", turns=10))
        pg_pid = int((pg.data / "postmaster.pid").read_text().split()[0])
        probe = Probe(pg.log, pg_pid, server.proc.pid)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        chat: dict = {}
        for i in range(turns):
            servers.post(conn, f"trips-c{i // 5}", load.QUESTIONS[i % len(load.QUESTIONS)])
            time.sleep(pause)
            add(chat, probe.take())
        kinds: dict[str, dict] = {}
        for _ in range(calls):
            call = Call(server.url, LOCAL_DEV_TOKEN)
            call.start()
            time.sleep(pause)
            add(kinds.setdefault("incoming call", {}), probe.take())
            for key in KEYS:
                call.press(key)
                time.sleep(pause)
                add(kinds.setdefault("keypad step", {}), probe.take())
            call.hangup()
            time.sleep(pause)
            add(kinds.setdefault("status callback", {}), probe.take())
        conn.close()
    finally:
        if server is not None:
            server.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    head = [
        "| request | n | round trips (tracker + store) | statements (tracker + store) | ms in PostgreSQL (tracker + store) "
        "| server process CPU ms | PostgreSQL CPU ms |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = head + [row("chat turn", chat)] + [row(k, v) for k, v in kinds.items()]
    if show:
        for label, t in [("chat turn", chat), *kinds.items()]:
            rows += ["", f"The trips of the last {label}:", *t["last"]]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkout", type=Path, action="append", help="checkout(s) to measure (default: this one)")
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--calls", type=int, default=4)
    ap.add_argument("--show", action="store_true", help="also print the trips of the last request of each kind")
    ap.add_argument("--pause", type=float, default=0.4, help="seconds after each request (deferred writes)")
    args = ap.parse_args(argv)
    for checkout in args.checkout or [ROOT]:
        began = " ".join(f"{x:.2f}" for x in os.getloadavg())
        lines = measure(checkout.resolve(), args.turns, args.calls, args.pause, args.show)
        ended = " ".join(f"{x:.2f}" for x in os.getloadavg())
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(f"\n{checkout} ({stamp}, load average {began} at the start, {ended} at the end)")
        print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
