"""The benchmark suite (issues 7 and 16): how fast and how big the product is on this machine, how it
scales with 1, 2 and 4 processes, and how it compares, in the same run, with the stock anchor (stock
Rasa 3.6 as people deploy it, bench/stock_anchor.py) trained on the same data.

    python -m bench [--quick | --smoke] [--reuse-stock | --retrain-stock | --no-stock] [--out DIR]
    make bench            (make bench ARGS=--quick, or make bench-quick)

One process tree: the suite starts its own servers on free ports with temporary SQLite files
(bench/servers.py), warms them up and measures chat latency at 1/8/32 concurrent users (aiohttp
client), the phone webhooks at 1 and 16 callers (bench/ivr_bench.py), the NLU alone (`python -m bot
route --jsonl`), training and start-up time, the servers' resident memory, latency against the size of
the store (bench/store_bench.py) and the length of a conversation, the committee report
(bench/report_bench.py), then the scaling table (bench/cluster_bench.py). Writes DIR/benchmarks.md and
DIR/benchmarks.json (bench/render.py; default DIR: docs/), and in full mode DIR/scaling.md and
DIR/scaling.json (bench/scaling_doc.py); prints the scaling table. A benchmark, not a test: nothing
here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import pipeline_bench as pb  # noqa: E402

from bench import cluster_bench, load, render, scaling_doc, servers, stock_anchor, store_bench  # noqa: E402
from bench.load import pct, summary  # noqa: E402
from bench.targets import EXPLAIN, ratio, targets  # noqa: E402

PY = ROOT / ".venv" / "bin" / "python"
DOCS = ROOT / "docs"
MODELS = ROOT / "models" / "bench"
MODES = {
    #          turns/level, store sizes,      conv length, phone seq calls, phone seconds, NLU questions
    #          report: the year's synthetic store for the committee report (bench/report_bench.py)
    "full": dict(
        turns=2000, store=(1000, 100_000), length=500, calls=100, phone_s=20, nlu=5000, store_turns=400, report=(150_000, 110_000)
    ),
    "quick": dict(
        turns=300, store=(1000, 10_000), length=100, calls=20, phone_s=5, nlu=1000, store_turns=150, report=(3000, 2200)
    ),
    "smoke": dict(turns=60, store=(100, 1000), length=30, calls=3, phone_s=2, nlu=100, store_turns=30, report=(600, 440)),
}


def nlu_alone(n: int) -> dict:
    """`python -m bot route --jsonl`: time to the first answer (model load), then questions/s for the rest."""
    texts, dev = [], pb.dev_set()
    if dev is not None:
        texts = [json.loads(line)["text"] for line in dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = texts or pb.QUESTIONS
    lines = [json.dumps({"text": texts[i % len(texts)]}, ensure_ascii=False) + "\n" for i in range(n)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(PY), "-m", "bot", "route", "--jsonl"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", RASA_TELEMETRY_ENABLED="false"),
    )
    proc.stdin.write(lines[0])
    proc.stdin.flush()
    proc.stdout.readline()
    first = time.perf_counter()

    def feed() -> None:
        proc.stdin.writelines(lines[1:])
        proc.stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    answered = 1 + sum(1 for _ in proc.stdout)
    end = time.perf_counter()
    proc.wait(timeout=60)
    return {
        "questions": answered,
        "load_s": round(first - t0, 2),
        "run_s": round(end - first, 2),
        "questions_per_s": round((answered - 1) / max(end - first, 1e-9), 1),
        "questions_per_s_with_load": round(answered / (end - t0), 1),
    }


# --- the run, phase by phase -----------------------------------------------------------------------


def ours_single(model: Path, cfg: dict, tmp: Path, bar) -> tuple[dict, dict]:
    """One server of ours: chat at 1/8/32 users, the phone, its memory; the warm-up's rows as templates."""
    bar.set_postfix_str("chat, ours")
    srv = servers.ours(model, tmp / "ours.db", tmp / "ours.log")
    try:
        out = {"startup_s": round(srv.startup_s, 2)}
        load.warm_up(srv)
        out["chat"] = load.chat_levels(srv, cfg["turns"], "ours", bar)
        bar.set_postfix_str("phone")
        out["phone"] = load.phone(srv, cfg["calls"], cfg["phone_s"], bar)
        out["rss_mb"] = round(srv.rss_mb(), 0)
        tpl = store_bench.templates(tmp / "ours.db")
    finally:
        srv.stop()
    return out, tpl


def conversation_length(srv, turns: int, bar) -> tuple[list[float], list[float]]:
    """Latencies of turns 6-15 of three short conversations and of the last 30 turns of one of
    `turns`, sent in turn (`load.long_and_short`, as bench/tracker_bench.py measures them)."""
    _, near10, near_last = load.long_and_short(
        srv.say, turns, pb.QUESTIONS, long="long-conversation", short="short-conversation-", tick=lambda: bar.update(1)
    )
    return near10, near_last


def store_and_length(model: Path, cfg: dict, tpl: dict, tmp: Path, bar) -> dict:
    """Latency with a small and a large store, side by side, then along one long conversation.

    Two servers, one on each store, their new conversations' turns sent in turn (one to each), so
    that both sizes see the same load of a shared machine: measured minutes apart, the ratio also
    measured the machine's mood (0.991 then 1.275 on the same code, docs/scaling.md)."""
    small, large = cfg["store"]
    bar.set_postfix_str(f"store: {small} and {large} conversations")
    store_bench.fill(tmp / "store-small.db", tpl, 0, small)
    store_bench.fill(tmp / "store.db", tpl, 0, large, bar)
    srv_small = servers.ours(model, tmp / "store-small.db", tmp / "store-small.log")
    try:
        srv = servers.ours(model, tmp / "store.db", tmp / "store.log")
    except BaseException:
        srv_small.stop()
        raise
    try:
        try:
            load.warm_up(srv_small, 10)
            load.warm_up(srv, 10)
            lat_small, lat_large = store_bench.side_by_side(srv_small, srv, cfg["store_turns"], bar)
        finally:
            srv_small.stop()
        bar.set_postfix_str("conversation length")
        near10, near_last = conversation_length(srv, cfg["length"], bar)
    finally:
        srv.stop()
    per_conv = len(tpl["events"])
    first, last = summary(near10), summary(near_last)
    return {
        "store": {
            "small": small,
            "large": large,
            "small_events": small * per_conv,
            "large_events": large * per_conv,
            "small_lat": summary(lat_small),
            "large_lat": summary(lat_large),
            "ratio_p50": ratio(pct(lat_large, 50), pct(lat_small, 50)),
            "ratio_p95": ratio(pct(lat_large, 95), pct(lat_small, 95)),
        },
        "length": {"long_turn": cfg["length"], "first": first, "last": last, "ratio": ratio(last["p50_ms"], first["p50_ms"])},
    }


def stock(cfg: dict, policy: str, tmp: Path, bar) -> tuple[dict, list[dict], Path]:
    """The stock anchor: trained (or cached), then chat at 1/8/32 users and the scaling table's cell."""
    epochs = cfg.get("stock_epochs")
    fresh = policy == "retrain" or not stock_anchor.cached(MODELS, epochs)
    bar.set_postfix_str("stock: training" if fresh else "stock: cached model")
    model, train_s, reused = stock_anchor.train(MODELS, reuse=(policy != "retrain"), epochs=epochs)
    out = {"train_s": round(train_s, 1), "train_reused": reused, "epochs": epochs or 100}
    bar.update(1)
    bar.set_postfix_str("chat, stock")
    anchor = stock_anchor.StockAnchor(model, tmp / "stock")
    try:
        out["startup_s"] = round(anchor.startup_s, 2)
        load.warm_up(anchor)
        out["chat"] = load.chat_levels(anchor, cfg["turns"], "stock", bar, path=stock_anchor.CHAT_PATH)
        out["rss_mb"] = round(anchor.rss_mb(), 0)
        row = cluster_bench.stock_cell(anchor, cluster_bench.PLANS[cfg["mode"]]["seconds"], "sqlite")
    finally:
        anchor.stop()
    return out, [row], model


def plan(mode: str, policy: str, epochs: int | None = None) -> tuple[bool, int]:
    """Whether the stock anchor runs, and the progress bar's total."""
    cfg = MODES[mode]
    do_stock = policy == "retrain" or (policy == "reuse" and (mode == "full" or stock_anchor.cached(MODELS, epochs)))
    if mode == "smoke" and policy != "retrain":
        do_stock = False
    chat_steps = sum(max(1, cfg["turns"] // u) * u for u in load.LEVELS)
    steps = 1 + chat_steps + 3 + cfg["store"][1] + 2 * cfg["store_turns"] + cfg["length"] + 6 + cluster_bench.steps(mode)
    return do_stock, steps + ((1 + chat_steps) if do_stock else 0)


def meta(mode: str) -> dict:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "mode": mode,
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        "load_avg_at_start": list(os.getloadavg()),
        "config": MODES[mode],
        "load_note": "client and servers share the machine's cores",
    }


def run(mode: str, out: Path, stock_policy: str, stock_epochs: int | None = None) -> dict:
    from tqdm import tqdm

    cfg = MODES[mode] | {"mode": mode, "stock_epochs": stock_epochs}
    do_stock, total = plan(mode, stock_policy, stock_epochs)
    res: dict = {"meta": meta(mode)}
    tmp = Path(tempfile.mkdtemp(prefix="aiguillage-bench-"))
    os.chmod(tmp, 0o755)  # PostgreSQL (the scaling table) runs as `postgres` when this runs as root
    bar = tqdm(total=total, desc="bench", unit="step", file=sys.stderr, dynamic_ncols=True)
    try:
        bar.set_postfix_str("training ours")
        model, train_s, reused = pb.train("ours", pb.PIPELINES["ours"], MODELS, reuse=(mode != "full"))
        bar.update(1)
        ours, tpl = ours_single(model, cfg, tmp, bar)
        ours |= {"train_s": round(train_s, 1), "train_reused": reused}
        bar.set_postfix_str("NLU alone")
        ours["nlu"] = nlu_alone(cfg["nlu"])
        bar.update(1)
        res["ours"] = ours | store_and_length(model, cfg, tpl, tmp, bar)
        stock_rows, stock_model = [], None
        if do_stock:
            res["stock"], stock_rows, stock_model = stock(cfg, stock_policy, tmp, bar)
        else:
            res["stock_note"] = {"smoke": "smoke mode", "none": "--no-stock"}.get(
                mode if mode == "smoke" else stock_policy, "no cached stock model; run with --retrain-stock"
            )
        import report_bench

        res["report"] = report_bench.run(*cfg["report"], progress=bar)
        try:
            res["scaling"] = cluster_bench.run(mode, tmp / "scaling", stock_model if mode == "full" else None, stock_rows, bar)
        except Exception as exc:  # noqa: BLE001 - the rest of the run is still written, with what failed
            res["scaling"] = {"rows": stock_rows, "note": f"failed: {type(exc).__name__}: {exc}"}
            res["scaling"] |= {
                "users": cluster_bench.USERS,
                "callers": cluster_bench.CALLERS,
                "seconds": cluster_bench.PLANS[mode]["seconds"],
            }
        bar.set_postfix_str("done")
    finally:
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return finish(res, out)


def notes(res: dict) -> list[str]:
    """Why each missed target is missed (bench/targets.py EXPLAIN), for the closing note."""
    return [
        f"- **{t['target']}** ({t['value']}, goal {t['goal']}): {EXPLAIN[k]}"
        for t in res["targets"] + res.get("scaling", {}).get("targets", [])
        if t["met"] is False
        for k in EXPLAIN
        if t["target"].startswith(k)
    ]


def finish(res: dict, out: Path) -> dict:
    """Targets, notes, and the files: benchmarks.md/json, and scaling.md/json in full mode or another --out."""
    m = res["meta"]
    m["load_avg_at_end"] = list(os.getloadavg())
    res["targets"] = targets(res)
    sc = res["scaling"]
    sc |= {
        "date": m["date"],
        "machine": m["machine"],
        "command": "python -m bench" + ("" if m["mode"] == "full" else " --" + m["mode"]),
    }
    sc["targets"] = scaling_doc.targets(sc, res["ours"]["length"])
    sc["stock_epochs"] = (res.get("stock") or {}).get("epochs", 100)
    res["notes"] = notes(res)
    sc["notes"] = [n for n in res["notes"] if any(n.startswith(f"- **{t['target']}**") for t in sc["targets"])]
    render.write_report(res, out)
    if m["mode"] == "full" or out.resolve() != DOCS.resolve():
        scaling_doc.write(sc, out)
    return res


def add_arguments(p: argparse.ArgumentParser) -> None:
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller counts, under 3 minutes (stock only if cached)")
    size.add_argument("--smoke", action="store_true", help="tiny counts, no stock: checks that the suite runs")
    stock = p.add_mutually_exclusive_group()
    stock.add_argument(
        "--reuse-stock",
        dest="stock",
        action="store_const",
        const="reuse",
        default="reuse",
        help="use the stock model cached in models/bench/ (default; trained if missing in full mode)",
    )
    stock.add_argument(
        "--retrain-stock",
        dest="stock",
        action="store_const",
        const="retrain",
        help="train the stock pipeline again (15-30 min) and measure its training time",
    )
    stock.add_argument("--no-stock", dest="stock", action="store_const", const="none", help="skip the stock pipeline")
    p.add_argument(
        "--stock-epochs",
        type=int,
        default=None,
        help="train the stock anchor with N epochs instead of Rasa's 100 (same per-turn work, minutes instead of ~30 min; "
        "labelled in the report)",
    )
    p.add_argument(
        "--out", default=str(DOCS), help="directory for benchmarks.md/json (default: docs/; scaling.md/json too in full mode)"
    )


def cmd_bench(args: argparse.Namespace) -> int:
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    out = Path(args.out)
    t0 = time.perf_counter()
    res = run(mode, out, args.stock, args.stock_epochs)
    missed = [t["target"] for t in res["targets"] + res.get("scaling", {}).get("targets", []) if t["met"] is False]
    print(f"bench ({mode}) done in {time.perf_counter() - t0:.0f} s: {out / 'benchmarks.md'}, {out / 'benchmarks.json'}")
    print(scaling_doc.table(res["scaling"]) if res.get("scaling") else "scaling table: not measured")
    print("targets missed: " + ("; ".join(missed) if missed else "none"))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python bench/suite.py [...]`; `--render DIR` only rewrites DIR/benchmarks.md from DIR/benchmarks.json."""
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--render"]:  # the notes from today's EXPLAIN, the scaling doc's hand-written part kept
        out = Path(argv[1])
        res = json.loads((out / "benchmarks.json").read_text())
        res["notes"] = notes(res)
        if res.get("scaling"):
            res["scaling"]["stock_epochs"] = (res.get("stock") or {}).get("epochs", 100)
            res["scaling"]["notes"] = [
                n for n in res["notes"] if any(n.startswith(f"- **{t['target']}**") for t in res["scaling"]["targets"])
            ]
        render.write_report(res, out)
        if res.get("scaling", {}).get("rows") and (res["meta"]["mode"] == "full" or out.resolve() != DOCS.resolve()):
            scaling_doc.write(res["scaling"], out)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return cmd_bench(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
