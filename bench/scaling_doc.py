"""docs/scaling.md and docs/scaling.json from the scaling table (bench/cluster_bench.py): the measured
figures per process count and per process, issue 16's targets met or missed, and on paper what a
national peak (the 34 00 line's volume) would need. The part of docs/scaling.md from KEPT_HEADING to
the end is written by hand and kept as it is.

Not imported by the product.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

KEPT_HEADING = "## What runs where"
# Issue 16's targets.
STOCK_RATIO, TURNS_2P, LENGTH_RATIO, KEYPAD_MS = 0.25, 150, 1.5, 20
# The national peak, on paper. Every figure but the measured ones is an assumption (confirmed: false).
NATIONAL = {
    "calls_per_year": {
        "value": 3_000_000,
        "confirmed": False,
        "source": "ANTS contact centre (34 00): « 3 millions d'appels par an », forumeco.fr, « L'ANTS a créé 300 "
        "emplois » (press, about 2019; not an ANTS publication)",
    },
    "days_per_year": {"value": 250, "confirmed": False, "source": "assumption: calls on working days only"},
    "peak_day_factor": {
        "value": 3,
        "confirmed": False,
        "source": "assumption: a peak day (an ANTS outage, a reform) = 3 x an average day",
    },
    "peak_hour_share": {"value": 0.12, "confirmed": False, "source": "assumption: 12 % of a day's calls in its busiest hour"},
    "requests_per_call": {
        "value": 7,
        "confirmed": True,
        "source": "measured shape of bench/ivr_bench.py's call: incoming call, 4 keypad steps, 1 speech step, status callback",
    },
    "chat_turns_per_conversation": {
        "value": 3,
        "confirmed": False,
        "source": "assumption: greeting, question, thanks (bench/report_bench.py's synthetic year averages ~2.9)",
    },
    "headroom": {"value": 10, "confirmed": False, "source": "assumption: bursts within the hour and the volume's uncertainty"},
}


def mark(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def _row(res: dict, backend: str, n: int, stock: bool = False) -> dict | None:
    return next(
        (r for r in res.get("rows", []) if r["backend"] == backend and r["processes"] == n and bool(r.get("stock")) == stock),
        None,
    )


def targets(res: dict, length: dict | None = None) -> list[dict]:
    """Issue 16's targets on this run: {target, value, goal, met} (met None: not measured)."""
    out = []

    def add(name, value, goal, ok):
        out.append({"target": name, "value": value, "goal": goal, "met": ok})

    for backend, stock_backend in (("sqlite", "sqlite"), ("postgresql+redis", "postgresql")):
        ours, stock = _row(res, backend, 1), _row(res, stock_backend, 1, stock=True)
        if ours and stock:
            r = round(ours["chat"]["p95_ms"] / stock["chat"]["p95_ms"], 3)
            add(
                f"chat p95 at {res['users']} users, ours ({backend}, 1 process) / stock ({stock_backend})",
                r,
                f"<= {STOCK_RATIO}",
                r <= STOCK_RATIO,
            )
        two = _row(res, backend, 2)
        if two:
            v = two["chat"]["turns_per_s"]
            add(f"chat turns/s with 2 processes ({backend}, {res['users']} users)", v, f">= {TURNS_2P}", v >= TURNS_2P)
    if length:
        add(
            f"turn {length['long_turn']} / turn 10 of one conversation (p50)",
            length["ratio"],
            f"<= {LENGTH_RATIO}",
            length["ratio"] <= LENGTH_RATIO,
        )
    for r in res.get("rows", []):
        if "phone" in r:
            name = f"keypad p95 at {res['callers']} callers ({r['backend']}, {r['processes']} process(es), ms)"
            if not r["phone"]["keypad"]["n"]:  # no keypad step answered: see the row's errors
                add(name, None, f"<= {KEYPAD_MS}", None)
                continue
            v = r["phone"]["keypad"]["p95_ms"]
            add(name, v, f"<= {KEYPAD_MS}", v <= KEYPAD_MS)
    if res.get("rows"):
        errors = sum(r["chat"]["errors"] + r.get("phone", {}).get("errors", 0) for r in res["rows"])
        add("errors in the scaling table (chat and phone, every row)", errors, "0", errors == 0)
    return out


def table(res: dict) -> str:
    """The scaling table (Markdown): one row per backend and process count, the stock anchor's last."""
    if not res.get("rows"):
        return f"Scaling table: not measured ({res.get('note', 'no rows')})."
    L = [
        "| setup | tracker store | lock store | processes | chat turns/s | per process | chat p50 ms | chat p95 ms | chat errors "
        "| phone requests/s | keypad p95 ms | phone errors | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        c, p = r["chat"], r.get("phone")
        who = "stock Rasa 3.6 (+ action server)" if r.get("stock") else "ours, nginx"
        phone = f"{p['requests_per_s']} | {p['keypad']['p95_ms']} | {p['errors']}" if p else "– | – | –"
        L.append(
            f"| {who} | {r['backend']} | {r['lock']} | {r['processes']} | {c['turns_per_s']} | "
            f"{round(c['turns_per_s'] / r['processes'], 1)} | {c['p50_ms']} | {c['p95_ms']} | {c['errors']} | {phone} | {r['load_avg']} |"
        )
    return "\n".join(L)


def national_peak(res: dict) -> dict | None:
    """Processes and hosts for the 34 00's peak hour, from this run's 1-process figures (SQLite row)."""
    one = _row(res, "sqlite", 1)
    if not one or "phone" not in one or not one["phone"]["requests_per_s"] or not one["chat"]["turns_per_s"]:
        return None
    a = {k: v["value"] for k, v in NATIONAL.items()}
    calls_per_s = a["calls_per_year"] / a["days_per_year"] * a["peak_day_factor"] * a["peak_hour_share"] / 3600
    phone_rps = calls_per_s * a["requests_per_call"] * a["headroom"]
    chat_tps = calls_per_s * a["chat_turns_per_conversation"] * a["headroom"]
    per_phone, per_chat = one["phone"]["requests_per_s"], one["chat"]["turns_per_s"]
    # Both channels on the same processes: their shares of one process's capacity add up.
    load = phone_rps / per_phone + chat_tps / per_chat
    processes = max(1, math.ceil(load)) + 1  # + 1: one process may be lost (kill -9, a deploy)
    return {
        "tenfold_processes": max(1, math.ceil(10 * load)) + 1,
        "peak_calls_per_s": round(calls_per_s, 2),
        "phone_requests_per_s": round(phone_rps, 1),
        "chat_turns_per_s": round(chat_tps, 1),
        "per_process": {"phone_requests_per_s": per_phone, "chat_turns_per_s": per_chat},
        "process_load": round(load, 2),
        "processes": processes,
        "hosts": max(2, math.ceil(processes / 2)),  # 2 cores a host, as here; 2 hosts at least (one may fail)
    }


def peak_section(res: dict) -> list[str]:
    peak = national_peak(res)
    L = ["## A national peak, on paper (the 34 00 line's volume)", ""]
    if peak is None:
        return L + ["Not computed: this run has no 1-process SQLite row with its phone figures.", ""]
    L += ["| figure | value | confirmed | source |", "|---|---|---|---|"]
    for key, v in NATIONAL.items():
        L.append(f"| {key.replace('_', ' ')} | {v['value']} | {'true' if v['confirmed'] else 'false'} | {v['source']} |")
    pp = peak["per_process"]
    L += [
        "",
        f"Peak hour: {peak['peak_calls_per_s']} calls/s; with the headroom, {peak['phone_requests_per_s']} phone webhook "
        f"requests/s and, were the same people to use the chat instead, {peak['chat_turns_per_s']} chat turns/s. One "
        f"process measured here serves {pp['phone_requests_per_s']} webhook requests/s (at {res['callers']} callers) and "
        f"{pp['chat_turns_per_s']} chat turns/s (at {res['users']} users): both loads at once take {peak['process_load']} "
        f"of one process, so **{peak['processes']} processes** (the load, rounded up, + 1 that may be lost) on "
        f"**{peak['hosts']} hosts** of 2 cores (at least 2, so that one may fail). On several hosts every process reaches "
        "the same PostgreSQL (Rasa's events and the product's store) and Redis (the locks): docs/operations.md \"Several processes\".",
        "",
        "Every `confirmed: false` figure above is an assumption to replace by the 34 00's real traffic (ANTS). Were they "
        f"ten times too low, the same sum gives {peak['tenfold_processes']} processes.",
        "",
    ]
    return L


def render(res: dict, kept: str = "") -> str:
    m = res.get("meta", {})
    start, end = res.get("load_avg_at_start", [math.nan]), res.get("load_avg_at_end", [math.nan])
    L = [
        "# Scaling (issue 16)",
        "",
        f"`{res.get('command', 'python -m bench')}` on {res.get('date', m.get('date', '?'))}, {res.get('machine', m.get('machine', ''))}; "
        f"load average {start[0]:.2f} at the start of the scaling table, {end[0]:.2f} at its end (the machine is shared: "
        "compare the rows of one run). Raw figures: `scaling.json` next to this file. Written by `bench/scaling_doc.py`.",
        "",
        f"Each row: {res['users']} chat users sending turns without pause for {res['seconds']} s (conversations of five "
        f"turns), then {res['callers']} phone callers walking the menu for {res['seconds']} s (signed webhooks), through "
        "nginx (`deploy/nginx.conf`) in front of the first N server processes (`python -m bot serve`). The stock anchor is "
        "stock Rasa 3.6 as people deploy it (`bench/stock/`): `rasa init`'s configuration trained on our data, plain "
        "`rasa run` with the REST channel and Rasa's SQL tracker store, our action in a separate `rasa run actions`; "
        "chat only (it has no phone channel), without nginx. The load generators run in the benchmark's process, on the "
        "same 2 cores as the servers.",
        "",
    ]
    if res.get("stock_epochs", 100) != 100:
        L += [
            f"This run's stock model was trained with {res['stock_epochs']} epochs instead of Rasa's 100 (the shared machine "
            "could not train 100 in time): the same DIET and TED, the same work per turn; its answers may differ.",
            "",
        ]
    L += [
        table(res),
        "",
        "## Targets (issue 16)",
        "",
        "| target | value | goal | |",
        "|---|---|---|---|",
    ]
    for t in res.get("targets", []):
        L.append(f"| {t['target']} | {t['value'] if t['value'] is not None else '–'} | {t['goal']} | {mark(t['met'])} |")
    if res.get("notes"):
        L += ["", "Why a target is missed (bench/targets.py):", ""] + res["notes"]
    L += [""] + peak_section(res)
    if kept:
        L.append(kept.rstrip("\n"))
    return "\n".join(L) + "\n"


def write(res: dict, out: Path, extra: dict | None = None) -> None:
    """out/scaling.json and out/scaling.md (keeping the hand-written part of an existing scaling.md)."""
    out.mkdir(parents=True, exist_ok=True)
    res = res | (extra or {})
    res.setdefault("targets", targets(res, res.get("length")))
    res["national_peak"] = national_peak(res)
    (out / "scaling.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    path = out / "scaling.md"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    kept = old[old.index(KEPT_HEADING) :] if KEPT_HEADING in old else ""
    path.write_text(render(res, kept), encoding="utf-8")
