"""docs/benchmarks.md and docs/benchmarks.json from one run of the suite (bench/suite.py), one function
per section. `python -m bench --render DIR` rewrites DIR/benchmarks.md from DIR/benchmarks.json.
Not imported by the product.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from bench import scaling_doc  # noqa: E402
from bench.targets import mark, ratio  # noqa: E402

STOCK_NAME = "stock (Rasa 3.6 as deployed)"


def head(res: dict) -> list[str]:
    m = res["meta"]
    L = [
        "# Benchmarks",
        "",
        f"`python -m bench{'' if m['mode'] == 'full' else ' --' + m['mode']}` on {m['date']}, {m['machine']}; "
        f"mode **{m['mode']}**; {m['load_note']} (load average {m['load_avg_at_start'][0]:.2f} at the start, "
        f"{m.get('load_avg_at_end', [float('nan')])[0]:.2f} at the end; another process's work may have shared the machine).",
        "Raw figures: `benchmarks.json` next to this file. A benchmark, not a test: the test suite never asserts a timing.",
        "",
        "The stock anchor is stock Rasa 3.6 as people deploy it (issue 16, `bench/stock/`, `bench/stock_anchor.py`): "
        "`rasa init`'s configuration (Rasa's default pipeline and policies) trained on our domain, data and rules; plain "
        "`rasa run` with the REST channel and Rasa's SQL tracker store on a SQLite file; our action served by a separate "
        "`rasa run actions` (rasa-sdk). None of our patches, components or channels. Its memory is that of both processes.",
        "",
    ]
    epochs = (res.get("stock") or {}).get("epochs", 100)
    if epochs != 100:
        L += [
            f"**This run's stock model was trained with {epochs} epochs instead of Rasa's default 100** (`--stock-epochs "
            f"{epochs}`: the shared machine could not train 100 epochs before the run). The number of epochs changes the "
            "weights, not the size of DIET and TED nor the work of a turn, so latency, throughput and memory are those of "
            "the real anchor; its training time is not, and its answers may differ (every intent goes to our action "
            "either way). `make bench-stock` trains the real one (~30 min on a quiet machine), used by the next run.",
            "",
        ]
    L += [
        "## Targets (issue 7)",
        "",
        "| target | value | goal | |",
        "|---|---|---|---|",
    ]
    for t in res["targets"]:
        L.append(f"| {t['target']} | {t['value'] if t['value'] is not None else '–'} | {t['goal']} | {mark(t['met'])} |")
    return L


def chat(ours: dict, stock: dict | None) -> list[str]:
    L = [
        "",
        "## Chat (conversations of five turns, after a warm-up; ours: POST /chat/webhook, stock: the REST channel)",
        "",
        "| pipeline | users | turns | p50 ms | p95 ms | p99 ms | turns/s | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in (("ours", ours), (STOCK_NAME, stock)):
        for u, c in (r or {}).get("chat", {}).items():
            L.append(
                f"| {name} | {u} | {c['n']} | {c['p50_ms']} | {c['p95_ms']} | {c['p99_ms']} | {c['turns_per_s']} | {c['errors']} |"
            )
    if stock:
        L += ["", "| users | p50 ours/stock | p95 ours/stock | p99 ours/stock |", "|---|---|---|---|"]
        for u in ours["chat"]:
            a, b = ours["chat"][u], stock["chat"][u]
            L.append(
                f"| {u} | {ratio(a['p50_ms'], b['p50_ms'])} | {ratio(a['p95_ms'], b['p95_ms'])} | {ratio(a['p99_ms'], b['p99_ms'])} |"
            )
    return L


def phone(ph: dict) -> list[str]:
    L = [
        "",
        "## Phone webhooks (signed requests, bench/ivr_bench.py)",
        "",
        "| step | callers | samples | p50 ms | p95 ms | p99 ms | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for callers in ("1", "16"):
        for kind, goal in (("keypad", 20), ("speech", 80)):
            s = ph[callers][kind]
            tgt = f"p95 <= {goal} ms: {mark(s['p95_ms'] <= goal)}" if callers == "16" else ""
            L.append(f"| {kind} | {callers} | {s['n']} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {tgt} |")
    L.append(
        f"\n16 callers: {ph['16']['requests_per_s']} webhook requests/s, {ph['16']['requests']} requests, {ph['16']['errors']} errors."
    )
    return L


def nlu_and_costs(res: dict) -> list[str]:
    ours, stock = res["ours"], res.get("stock")
    n = ours["nlu"]
    L = [
        "",
        "## NLU alone (`python -m bot route --jsonl`)",
        "",
        "| questions | model load + first answer (s) | questions/s after load | questions/s including load |",
        "|---|---|---|---|",
        f"| {n['questions']} | {n['load_s']} | {n['questions_per_s']} | {n['questions_per_s_with_load']} |",
        "",
        "## Training, start-up, memory",
        "",
        "| figure | ours | stock | ours/stock | target |",
        "|---|---|---|---|---|",
    ]
    for label, key, goal in (
        ("training time (s)", "train_s", None),
        ("start-up to first answer (s)", "startup_s", 0.4),
        ("resident memory after the load (MB; stock: rasa run + action server)", "rss_mb", 0.6),
    ):
        s = stock[key] if stock else None
        rt = ratio(ours[key], s)
        tgt = f"<= {goal} × stock: {mark(rt <= goal)}" if goal and rt is not None else ""
        L.append(f"| {label} | {ours[key]} | {s if s is not None else '–'} | {rt if rt is not None else '–'} | {tgt} |")
    if stock and stock.get("train_reused"):
        L.append(
            "\nStock training time: measured when the cached model in `models/bench/` was trained by an earlier run "
            "(same data and configuration; `--retrain-stock` to measure again)."
        )
    if ours.get("train_reused"):
        L.append("\nOur training time: from the cached model of an earlier run (quick mode).")
    if not stock:
        L.append("\nStock anchor: not measured in this run (" + res.get("stock_note", "") + ").")
    return L


def store_and_length(ours: dict, mode: str) -> list[str]:
    st, ln = ours["store"], ours["length"]
    L = [
        "",
        "## Latency against the size of the store (new conversations, one user)",
        "",
        "| stored conversations | events rows | turns | p50 ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for size in ("small", "large"):
        lat = st[f"{size}_lat"]
        L.append(f"| {st[size]} | {st[f'{size}_events']} | {lat['n']} | {lat['p50_ms']} | {lat['p95_ms']} |")
    L += [
        f"\nRatio p95 large/small: {st['ratio_p95']} (target <= 1.2: {mark(st['ratio_p95'] <= 1.2)}). The store is "
        "pre-filled with copies (new ids, spread timestamps) of a real conversation written by the warm-up: its "
        "`conversations` and `turns` rows and its Rasa tracker `events`. One server on each store, their turns sent in "
        "turn (one to each), so that both sizes see the same load of the shared machine.",
        "",
        "## Latency against the length of one conversation",
        "",
        "| turns | p50 ms | p95 ms |",
        "|---|---|---|",
        f"| 6–15 of three short conversations | {ln['first']['p50_ms']} | {ln['first']['p95_ms']} |",
        f"| {ln['long_turn'] - 29}–{ln['long_turn']} of one conversation | {ln['last']['p50_ms']} | {ln['last']['p95_ms']} |",
        f"\nRatio p50 long/short: {ln['ratio']} (target <= 1.5: {mark(ln['ratio'] <= 1.5)}). The two rows' turns are sent "
        "in turn, one of each (the long conversation's first turns before them), so that both see the same load of "
        "the shared machine.",
        "",
    ]
    if mode != "full":
        L.append(
            f"Mode {mode}: smaller counts; store sizes {st['small']} vs {st['large']} instead of 1 000 vs "
            f"100 000; conversation length {ln['long_turn']} instead of 500.\n"
        )
    return L


def scaling(res: dict) -> list[str]:
    sc = res.get("scaling")
    if not sc:
        return []
    L = ["## Scaling (issue 16)", "", scaling_doc.table(sc), ""]
    for t in sc.get("targets", []):
        L.append(f"- {t['target']}: {t['value']} (goal {t['goal']}): {mark(t['met'])}")
    where = "`docs/scaling.md`" if res["meta"]["mode"] == "full" else "`docs/scaling.md` (full mode only)"
    L += ["", f"Per process, the stock anchor and a national peak on paper: {where}.", ""]
    return L


def closing(res: dict) -> list[str]:
    missed = [t["target"] for t in res["targets"] + res.get("scaling", {}).get("targets", []) if t["met"] is False]
    L = [
        "## Closing note",
        "",
        ("Missed: " + "; ".join(missed) + ". See the notes below.") if missed else "All measured targets met.",
        "",
    ]
    return L + res.get("notes", [])


def write_report(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    ours = res["ours"]
    L = head(res) + chat(ours, res.get("stock")) + phone(ours["phone"]) + nlu_and_costs(res)
    L += store_and_length(ours, res["meta"]["mode"])
    if res.get("report"):
        import report_bench

        L.append(report_bench.section(res["report"]))
    L += scaling(res) + closing(res)
    (out / "benchmarks.md").write_text("\n".join(L) + "\n", encoding="utf-8")
