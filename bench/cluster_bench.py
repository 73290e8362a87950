"""The scaling table (issue 16): chat and phone webhooks through nginx with 1, 2 and 4 server processes,
Rasa's tracker store on the SQLite file or on PostgreSQL with the lock store on Redis, next to the stock
anchor (stock Rasa 3.6 as deployed, bench/stock_anchor.py) measured in the same run.

Each cell: `USERS` chat users sending turns without pause for `seconds` (conversations of five turns),
then `CALLERS` phone callers walking the menu for `seconds` (signed webhooks, bench/ivr_bench.py),
both through nginx (deploy/nginx.conf, tools/cluster.py) in front of the first N processes.
- SQLite: N processes on one SQLite file (the product's store and Rasa's events); the lock store in
  memory for the 1-process row (`make run`), on Redis when there are several (quick mode: on Redis
  for every row, one start saved);
- PostgreSQL + Redis: Rasa's events in PostgreSQL, its lock store on Redis, the product's store on the
  one SQLite file (docs/operations.md "Several processes").
The load generators run in this process; the servers are other processes.

    python -m bench (the suite runs this)      .venv/bin/python bench/cluster_bench.py [--quick]

`python bench/cluster_bench.py` alone writes docs/scaling.json and docs/scaling.md (bench/scaling_doc.py).
A benchmark, not a test: nothing asserts a figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from bench import load, servers, stock_anchor  # noqa: E402
from tools import cluster as cl  # noqa: E402

USERS, CALLERS = 8, 16
PLANS = {
    "full": {"processes": (1, 2, 4), "backends": ("sqlite", "postgresql+redis"), "seconds": 20, "memory_lock_row": True},
    "quick": {"processes": (1, 2), "backends": ("sqlite",), "seconds": 4, "memory_lock_row": False},
    "smoke": {"processes": (1,), "backends": ("sqlite",), "seconds": 2, "memory_lock_row": True},
}
WARM_TURNS = 12


def warm(url: str, path: str = servers.CHAT_PATH, turns: int = WARM_TURNS) -> None:
    """A few chat turns and a call through `url`: every process behind nginx has loaded what a turn needs."""
    import asyncio

    asyncio.run(load.chat_load(url, 4, "warm-" + uuid.uuid4().hex[:6], turns=turns, path=path))
    if path == servers.CHAT_PATH:
        load.phone_for(url, 2, 1.0)


def cell(url: str, seconds: float, tag: str, phone: bool = True, path: str = servers.CHAT_PATH) -> dict:
    """One row's figures: chat at USERS users, then the phone at CALLERS callers, for `seconds` each."""
    row = {"chat": load.chat_for(url, USERS, seconds, tag, path)}
    if phone:
        row["phone"] = load.phone_for(url, CALLERS, seconds)
        if row["phone"]["errors"]:  # what one failing call says, for the reader of the table
            row["phone"]["error_sample"] = probe_call(url)
    row["load_avg"] = round(os.getloadavg()[0], 2)
    return row


def probe_call(url: str) -> str:
    """One call (incoming, a key, hang-up) through `url`: "ok", or the error it met."""
    from ivr.signature import LOCAL_DEV_TOKEN
    from tools.ivr.simulate import Call

    try:
        call = Call(url, LOCAL_DEV_TOKEN)
        call.start()
        call.press("1")
        call.hangup()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - a benchmark reports what happened
        return f"{type(exc).__name__}: {exc}"[:300]


def start_group(
    work: Path, n: int, db: Path, database_url: str | None, lock_url: str | None, root: Path = ROOT
) -> list[servers.Launched]:
    """n processes, returned once all answer. The first starts alone: it creates the tables (the product's
    migrations, Rasa's `events`), which several processes starting at once on a new file would race to
    do; then the others together (their models load in parallel). nginx, started later in front of some
    of them, listens on the port of their PUBLIC_BASE_URL (`group[0].proxy_port`)."""
    proxy_port = servers.free_port()

    def launch(i: int) -> servers.Launched:
        s = servers.cluster_server(db, work / f"server-{i}.log", database_url, lock_url, proxy_port, root=root)
        s.proxy_port = proxy_port
        return s

    group = [launch(0)]
    try:
        group[0].wait_ready(600)
        group += [launch(i) for i in range(1, n)]
        for s in group[1:]:
            s.wait_ready(600)
    except Exception:
        stop_all(group)
        raise
    return group


def stop_all(group: list[servers.Launched]) -> None:
    for s in group:
        s.stop()


def sweep(work: Path, backend: str, lock: str, group: list, counts: list[int], seconds: float, bar=None) -> list[dict]:
    """The rows of `counts` processes: nginx in front of the first N of `group`."""
    rows = []
    for n in counts:
        proxy = cl.Nginx(work / f"nginx-{backend}-{n}", group[0].proxy_port, [s.port for s in group[:n]])
        proxy.start()
        try:
            if bar is not None:
                bar.set_postfix_str(f"scaling: {backend}, {n} process(es)")
            warm(proxy.url, turns=WARM_TURNS * n)
            rows.append({"backend": backend, "processes": n, "lock": lock} | cell(proxy.url, seconds, f"{backend[:2]}{n}"))
        finally:
            proxy.stop()
        if bar is not None:
            bar.update(1)
    return rows


def sqlite_rows(work: Path, plan: dict, lock_url: str, bar=None) -> list[dict]:
    work.mkdir(parents=True, exist_ok=True)
    db = work / "aiguillage.db"
    counts, rows = list(plan["processes"]), []
    if plan["memory_lock_row"] and counts[0] == 1:
        (work / "one").mkdir()
        group = start_group(work / "one", 1, db, None, None)
        try:
            rows += sweep(work, "sqlite", "memory", group, [1], plan["seconds"], bar)
        finally:
            stop_all(group)
        counts = counts[1:]
    if counts:
        group = start_group(work, max(counts), db, None, lock_url)
        try:
            rows += sweep(work, "sqlite", "redis", group, counts, plan["seconds"], bar)
        finally:
            stop_all(group)
    return rows


def postgres_rows(work: Path, plan: dict, database_url: str, lock_url: str, bar=None) -> list[dict]:
    work.mkdir(parents=True, exist_ok=True)
    counts = list(plan["processes"])
    group = start_group(work, max(counts), work / "aiguillage.db", database_url, lock_url)
    try:
        return sweep(work, "postgresql+redis", "redis", group, counts, plan["seconds"], bar)
    finally:
        stop_all(group)


def stock_row(model: Path, work: Path, seconds: float, database_url: str | None = None) -> dict:
    """The stock anchor's chat cell (1 `rasa run` + its action server; no phone channel)."""
    anchor = stock_anchor.StockAnchor(model, work, database_url)
    try:
        load.warm_up(anchor, 20)
        return stock_cell(anchor, seconds, "postgresql" if database_url else "sqlite")
    finally:
        anchor.stop()


def stock_cell(anchor, seconds: float, backend: str) -> dict:
    row = cell(anchor.url, seconds, f"stock-{backend}", phone=False, path=stock_anchor.CHAT_PATH)
    return {"backend": backend, "processes": 1, "lock": "memory", "stock": True} | row


def steps(mode: str) -> int:
    """Progress steps of `run` for the suite's progress bar: one per row."""
    plan = PLANS[mode]
    return len(plan["processes"]) * len(plan["backends"])


def run(mode: str, work: Path, stock_model: Path | None = None, stock_rows: list[dict] | None = None, bar=None) -> dict:
    """Every row of the plan; `stock_rows` (measured by the suite on its anchor) are added as they are,
    and with `stock_model` the anchor is also measured on PostgreSQL when that backend is in the plan."""
    plan = PLANS[mode]
    res: dict = {"mode": mode, "users": USERS, "callers": CALLERS, "seconds": plan["seconds"], "rows": []}
    res["load_avg_at_start"] = list(os.getloadavg())
    absent = cl.missing()
    if absent:
        res["note"] = f"not installed: {', '.join(absent)} (make postgres redis nginx)"
        return res
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)  # PostgreSQL runs as `postgres` when this runs as root
    redis = cl.Redis(work / "redis", servers.free_port())
    pg = cl.Postgres(work / "postgres", servers.free_port()) if "postgresql+redis" in plan["backends"] else None
    try:
        lock_url = redis.start()
        res["rows"] += sqlite_rows(work / "sqlite", plan, lock_url, bar)
        if pg is not None:
            database_url = pg.start()
            res["rows"] += postgres_rows(work / "pg", plan, database_url, lock_url, bar)
            if stock_model is not None:
                stock_url = database_url.rsplit("/", 1)[0] + "/stock"
                res["rows"].append(stock_row(stock_model, work / "stock-pg", plan["seconds"], stock_url))
    finally:
        redis.stop()
        if pg is not None:
            pg.stop()
    res["rows"] += stock_rows or []
    res["load_avg_at_end"] = list(os.getloadavg())
    return res


def postgres_compare(checkouts: list[tuple[str, Path]], counts: list[int], seconds: float, rounds: int) -> None:
    """The PostgreSQL + Redis rows only, for each checkout in turn (its own database, same PostgreSQL and
    Redis), `rounds` times alternately: printed, docs/scaling.* left as they are (issue 16 §4)."""
    tmp = Path(tempfile.mkdtemp(prefix="aiguillage-pgrows-"))
    os.chmod(tmp, 0o755)
    redis, pg = cl.Redis(tmp / "redis", servers.free_port()), cl.Postgres(tmp / "postgres", servers.free_port())
    n = 0
    try:
        lock_url, base_url = redis.start(), pg.start()
        for r in range(rounds):
            for label, root in checkouts:
                n += 1
                pg._run(str(cl.PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", cl.PG_USER, f"run{n}")
                work = tmp / f"run{n}"
                work.mkdir()
                group = start_group(
                    work, max(counts), work / "aiguillage.db", base_url.rsplit("/", 1)[0] + f"/run{n}", lock_url, root
                )
                try:
                    for row in sweep(work, "postgresql+redis", "redis", group, counts, seconds):
                        chat, phone = row["chat"], row["phone"]
                        print(
                            f"round {r + 1} {label:8} {row['processes']} process(es): chat {chat['turns_per_s']} turns/s,"
                            f" p50 {chat['p50_ms']} ms, p95 {chat['p95_ms']} ms, errors {chat['errors']}; phone"
                            f" {phone['requests_per_s']} req/s, keypad p95 {phone['keypad']['p95_ms']} ms,"
                            f" errors {phone['errors']}; load {row['load_avg']} ({time.strftime('%H:%M UTC', time.gmtime())})",
                            flush=True,
                        )
                finally:
                    stop_all(group)
    finally:
        redis.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Alone: the scaling table only (the stock anchor too when its model is cached) -> docs/scaling.*"""
    import scaling_doc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 2 processes, SQLite only, 4 s a cell")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="directory of scaling.md and scaling.json")
    parser.add_argument("--postgresql-only", action="store_true", help="the PostgreSQL rows only, printed (not written)")
    parser.add_argument("--baseline", type=Path, help="with --postgresql-only: another checkout, measured alternately")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="with --postgresql-only")
    parser.add_argument("--seconds", type=float, default=20, help="with --postgresql-only: each cell")
    parser.add_argument("--rounds", type=int, default=1, help="with --postgresql-only")
    args = parser.parse_args(argv)
    if args.postgresql_only:
        checkouts = [("this", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
        postgres_compare(checkouts, args.processes, args.seconds, args.rounds)
        return 0
    mode = "quick" if args.quick else "full"
    models = ROOT / "models" / "bench"
    model = models / f"{stock_anchor.model_key()}.tar.gz" if stock_anchor.cached(models) else None
    tmp = Path(tempfile.mkdtemp(prefix="aiguillage-scaling-"))
    try:
        stock = [stock_row(model, tmp / "stock", PLANS[mode]["seconds"])] if model else []
        res = run(mode, tmp, model, stock)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    res["machine"] = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    res["command"] = "python bench/cluster_bench.py" + (" --quick" if args.quick else "")
    scaling_doc.write(res, Path(args.out), extra={})
    print(scaling_doc.table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
