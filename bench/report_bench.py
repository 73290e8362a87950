"""Benchmark: the committee report for one year of a préfecture's traffic (issue 6).

    python bench/report_bench.py [--conversations 150000] [--calls 110000] [--seed 1] [--no-pdf] [--out docs]

Builds a synthetic store of one calendar year (YEAR) written directly with bulk SQL (executemany in one
transaction; load data, not demo sessions, so every row has demo = 0): conversations of ~3 turns with a
topic mix taken from the routing tree, calls walking the tree's menu (keypad and speech, answered,
transferred, voicemail, abandoned), tickets, PAN bookings and ratings in proportion, with a weekday/hour
profile (tools.demo_data's). The store is cached in var/bench/ under a name keyed by size, seed and generator
version, so a rerun only measures.

Then, side by side in the same run, each in a fresh process (its own peak memory):
- the floor: a raw full scan (`select count(*), sum(length(text)) from turns`, the same over calls);
- `bot.quality.indicators.compute` for the year;
- `bot.quality.report.build` for the year (HTML, and PDF when Chromium is there), with its per-step timings;
- the same on a store of 1/10 of the size (how it scales).

Writes OUT/report_bench.json and the "Rapport annuel" section of OUT/benchmarks.md (the rest of that
file is the suite's, bench/suite.py, which also runs this in its full and quick modes). Target: the
year's report in under 60 s. A benchmark, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report_store import PREFECTURE, YEAR, build_store, cached_store  # noqa: E402,F401 - build_store: tests/test_demo.py

PY = ROOT / ".venv" / "bin" / "python"
FULL = {"conversations": 150_000, "calls": 110_000}
TARGET_S = 60.0
SECTION = "## Rapport annuel"


# --- measuring (each phase in a fresh process) -----------------------------------------------------


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def measure(phase: str, db: Path, pdf: bool, out: Path) -> dict:
    """Run inside the child process: one phase on `db`, its wall time and the process's peak memory."""
    from bot.core import config as config_mod
    from bot.store.database import Store

    pref = config_mod.load_prefecture(PREFECTURE)
    start, end = date(YEAR, 1, 1), date(YEAR, 12, 31)
    store = Store(db)
    result: dict = {"phase": phase}
    try:
        t0 = time.perf_counter()
        if phase == "floor":
            t = store.db.execute("select count(*), sum(length(text)) from turns").fetchone()
            c = store.db.execute("select count(*), sum(length(path) + length(inputs)) from calls").fetchone()
            result["rows"] = {"turns": t[0], "calls": c[0]}
        elif phase == "indicators":
            from bot.quality import indicators

            inds = indicators.compute(store, pref, start, end, today=date(YEAR + 1, 1, 15))
            result["rows"] = {i["id"]: i["value"] for i in inds if i["id"] in ("chat_volume", "phone_volume")}
        elif phase == "report":
            from bot.quality import report

            built = report.build(store, pref, start, end, out, pdf=pdf, today=date(YEAR + 1, 1, 15))
            result["timings"] = built["timings"]
            result["pdf"] = bool(built["pdf"])
            result["pdf_note"] = built["pdf_note"]
            result["html_kb"] = round(built["html"].stat().st_size / 1024, 1)
        else:
            raise ValueError(phase)
        result["seconds"] = round(time.perf_counter() - t0, 3)
    finally:
        store.close()
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def run_phase(phase: str, db: Path, pdf: bool, out: Path) -> dict:
    cmd = [
        str(PY if PY.exists() else sys.executable),
        str(Path(__file__).resolve()),
        "--measure",
        phase,
        "--db",
        str(db),
        "--report-out",
        str(out),
    ] + ([] if pdf else ["--no-pdf"])
    done = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    )
    if done.returncode != 0:
        raise RuntimeError(f"{phase} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def have_report() -> bool:
    try:
        from bot.quality import report  # noqa: F401
    except ImportError:
        return False
    return hasattr(report, "build")


def run(
    conversations: int = FULL["conversations"],
    calls: int = FULL["calls"],
    seed: int = 1,
    pdf: bool = True,
    baseline: bool = True,
    progress=None,
) -> dict:
    """Build (or reuse) the stores, measure every phase; returns the JSON-able result."""
    import shutil
    import tempfile

    res: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "calendar_year": YEAR,
        "prefecture": PREFECTURE,
        "seed": seed,
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "target_s": TARGET_S,
        "full_size": conversations == FULL["conversations"] and calls == FULL["calls"],
        "chromium": Path(os.environ.get("AIGUILLAGE_CHROMIUM") or "/usr/bin/chromium").exists(),
    }
    sizes = [("full", conversations, calls)]
    if baseline:
        sizes.append(("tenth", max(1, conversations // 10), max(1, calls // 10)))
    work = Path(tempfile.mkdtemp(prefix="aiguillage-report-bench-"))
    try:
        for name, conv, cl in sizes:
            if progress is not None:
                progress.set_postfix_str(f"store {name}: {conv} conversations, {cl} calls")
            db, counts, built_s = cached_store(conv, cl, seed)
            entry = {
                "conversations": conv,
                "calls": cl,
                "rows": counts,
                "db": str(db.relative_to(ROOT)),
                "db_mb": round(db.stat().st_size / 1e6, 1),
                "build_s": round(built_s, 1) if built_s else None,
                "reused": built_s is None,
            }
            for phase in ("floor", "indicators") + (("report",) if have_report() else ()):
                if progress is not None:
                    progress.set_postfix_str(f"{name}: {phase}")
                entry[phase] = run_phase(phase, db, pdf, work / name)
                if progress is not None:
                    progress.update(1)
            res[name] = entry
    finally:
        shutil.rmtree(work, ignore_errors=True)
    full = res["full"]
    if "report" in full:
        res["report_s"] = full["report"]["seconds"]
        res["met"] = full["report"]["seconds"] < TARGET_S if res["full_size"] else None
    else:
        res["report_s"], res["met"] = None, None
        res["note"] = "bot.quality.report.build is not there yet: only the indicators were measured"
    return res


# --- writing -------------------------------------------------------------------------------------------


def mark(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def section(res: dict) -> str:
    """The 'Rapport annuel' section of docs/benchmarks.md (Markdown, ends with a blank line)."""
    y = res["full"]
    L = [
        SECTION,
        "",
        f"`bench/report_bench.py` (alone, or in `python -m bench`) on {res['date']}, {res['machine']}: the committee report "
        f"(`bot.quality.report.build`) for the year {YEAR} "
        f"of a synthetic store of {y['rows']['conversations']} conversations ({y['rows']['turns']} turns) and "
        f"{y['rows']['calls']} calls, with {y['rows']['tickets']} tickets, {y['rows']['pan_bookings']} PAN bookings "
        f"and {y['rows']['feedback']} ratings (préfecture `{res['prefecture']}`, seed {res['seed']}; SQLite file "
        f"{y['db_mb']} MB, cached in `var/bench/`). Rows written with bulk SQL (load data, `demo = 0`); each phase "
        "runs in a fresh process (peak memory = that process's VmHWM); the page cache is warm.",
        "",
    ]
    if res.get("report_s") is not None:
        goal = f"< {TARGET_S:.0f} s"
        verdict = mark(res["met"]) if res["full_size"] else "– (not the full size: 150 000 / 110 000)"
        L += [f"**Target: the year's report {goal} — {res['report_s']} s: {verdict}.**", ""]
    else:
        L += [f"Target: the year's report < {TARGET_S:.0f} s — not measured: {res.get('note', '')}.", ""]
    L += ["| store | phase | seconds | peak RSS (MB) | detail |", "|---|---|---|---|---|"]
    for name in ("full", "tenth"):
        e = res.get(name)
        if not e:
            continue
        label = f"{'one year' if name == 'full' else '1/10'} ({e['conversations']} conv., {e['calls']} calls)"
        for phase, title in (
            ("floor", "raw full scan (turns + calls)"),
            ("indicators", "bot.quality.indicators.compute"),
            ("report", "bot.quality.report.build"),
        ):
            m = e.get(phase)
            if not m:
                continue
            detail = ""
            if phase == "report":
                tm = m["timings"]
                detail = ", ".join(f"{k} {v} s" for k, v in tm.items() if k != "total")
                detail += f"; HTML {m['html_kb']} kB; PDF: {'yes' if m['pdf'] else (m['pdf_note'] or 'no')}"
            L.append(f"| {label} | {title} | {m['seconds']} | {m['peak_rss_mb']} | {detail} |")
    if res.get("tenth") and res["full"].get("report") and res["tenth"].get("report"):
        ratios = []
        for phase, what in (("report", "the report"), ("indicators", "the indicators"), ("floor", "the raw scan")):
            a, b = res["full"][phase]["seconds"], res["tenth"][phase]["seconds"]
            if b >= 0.01:  # below 10 ms a ratio is noise
                ratios.append(f"{what} {a / b:.1f}×")
        if ratios:
            L += ["", "Ten times the data takes: " + ", ".join(ratios) + " as long."]
    L.append("")
    return "\n".join(L)


def update_markdown(path: Path, text: str) -> None:
    """Replace (or append) the 'Rapport annuel' section of `path`, leaving the rest as it is."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if SECTION in old:
        head, rest = old.split(SECTION, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--conversations", type=int, default=FULL["conversations"])
    p.add_argument("--calls", type=int, default=FULL["calls"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-pdf", action="store_true", help="HTML only")
    p.add_argument("--no-baseline", action="store_true", help="skip the 1/10 store")
    p.add_argument("--out", default=str(ROOT / "docs"), help="directory of report_bench.json and benchmarks.md")
    p.add_argument("--measure", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--report-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, Path(args.db), not args.no_pdf, Path(args.report_out))))
        return 0
    from tqdm import tqdm

    bar = tqdm(total=3 * (1 if args.no_baseline else 2), desc="report bench", unit="phase", file=sys.stderr)
    try:
        res = run(args.conversations, args.calls, args.seed, pdf=not args.no_pdf, baseline=not args.no_baseline, progress=bar)
    finally:
        bar.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report_bench.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    update_markdown(out / "benchmarks.md", section(res))
    print(
        f"report for the year: {res['report_s']} s (target < {TARGET_S:.0f} s: {mark(res['met'])}); "
        f"{out / 'report_bench.json'}, {out / 'benchmarks.md'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
