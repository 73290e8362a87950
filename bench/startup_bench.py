"""Benchmark: start-up to the first chat answer, and the resident memory then (docs/floor.md, section 4).

This checkout's server (`python -m bot serve`, its own model), another checkout's (`--compare DIR`: a
worktree with its own .venv and models/, for a before/after) and the stock anchor (bench/stock_anchor.py,
its cached model of today's data: `python -m bench.stock_anchor train [--epochs N]` first, then
`--stock-epochs N`), started one after the other,
the order reversed each round. Each on its own temporary SQLite file and a free port; the start-up is the
time from the launch to the answer of a first chat message (bench/servers.py `wait_answer`). Writes
`--out` (default docs/startup.json) and prints the medians and the ratios to the stock anchor.

    .venv/bin/python bench/startup_bench.py [--rounds 3] [--compare DIR] [--stock-epochs N | --no-stock] [--out FILE]

A benchmark, not a test: nothing here asserts a timing; read the load average written with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import servers  # noqa: E402
from bench.stock_anchor import StockAnchor, model_key  # noqa: E402


def start_ours(root: Path, work: Path) -> tuple[float, float]:
    """(start-up s, RSS MB) of the server of checkout `root`, on its own model."""
    model, port = root / "models" / "aiguillage.tar.gz", servers.free_port()
    env = servers.base_env(port, work / "aiguillage.db", model)
    server = servers.Launched(servers.ours_cmd(port, model, root=root), env, work / "server.log", port, root=root)
    try:
        return server.wait_answer(), server.rss_mb()
    finally:
        server.stop()


def commit(root: Path) -> str:
    """The checkout's commit, and whether files differ from it."""
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
    if head.returncode != 0:
        return "not a git checkout"
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def start_stock(model: Path, work: Path) -> tuple[float, float]:
    anchor = StockAnchor(model, work)
    try:
        return anchor.startup_s, anchor.rss_mb()
    finally:
        anchor.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--compare", type=Path, help="another checkout (its .venv and models/), measured as 'before'")
    p.add_argument("--no-stock", action="store_true")
    p.add_argument("--stock-epochs", type=int, help="the stock model trained with N epochs (bench.stock_anchor train --epochs N)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "startup.json")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds: one round or more")
    runs: dict[str, object] = {"this checkout": ROOT}
    if args.compare:
        runs = {"before": args.compare.resolve(), "after": ROOT}
    if not args.no_stock:
        stock = ROOT / "models" / "bench" / f"{model_key(args.stock_epochs)}.tar.gz"
        if not stock.is_file():  # the key holds the data's hash: a model of other data is not this one
            epochs = f" --epochs {args.stock_epochs}" if args.stock_epochs else ""
            print(f"no {stock.name} in models/bench/: python -m bench.stock_anchor train{epochs}", file=sys.stderr)
            return 2
        runs["stock"] = stock
    figures: dict[str, dict[str, list[float]]] = {name: {"startup_s": [], "rss_mb": [], "load": []} for name in runs}
    for r in range(args.rounds):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            with tempfile.TemporaryDirectory() as tmp:
                start = start_stock if name == "stock" else start_ours
                seconds, rss = start(runs[name], Path(tmp))
            load = os.getloadavg()[0]
            for key, value in (("startup_s", seconds), ("rss_mb", rss), ("load", load)):
                figures[name][key].append(round(value, 2))
            print(f"{name}: {seconds:.2f} s, {rss:.0f} MB (load {load:.2f})", flush=True)
    medians = {name: statistics.median(f["startup_s"]) for name, f in figures.items()}
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rounds": args.rounds,
        "runs": {name: str(where) for name, where in runs.items()},
        "commits": {name: commit(where) for name, where in runs.items() if name != "stock"},
        "figures": figures,
        "median_startup_s": medians,
        "ratio_to_stock": {n: round(m / medians["stock"], 3) for n, m in medians.items() if "stock" in medians},
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for name, m in medians.items():
        ratio = result["ratio_to_stock"].get(name)
        print(f"{name}: median {m:.2f} s" + (f", {ratio} x stock" if ratio is not None else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
