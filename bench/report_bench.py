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
import random
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CACHE = ROOT / "var" / "bench"
PY = ROOT / ".venv" / "bin" / "python"
PARIS = ZoneInfo("Europe/Paris")
YEAR = 2025
PREFECTURE = "vienne"  # the préfecture whose 2020 figure (109 016 calls) sets the size
FULL = {"conversations": 150_000, "calls": 110_000}
TARGET_S = 60.0
GENERATOR_VERSION = 3  # change when build_store writes different rows: the cache key changes with it
SECTION = "## Rapport annuel"


# --- the synthetic year ---------------------------------------------------------------------------


def _tree_routes() -> tuple[dict, dict]:
    """topic -> (node, destination) of its first leaf, and node -> path from the root (menu keys)."""
    import yaml

    from bot.core import tree as tree_mod

    raw = yaml.safe_load(tree_mod.TREE_FILE.read_text(encoding="utf-8"))
    nodes = raw["nodes"]
    parent = {}
    for nid, node in nodes.items():
        for child in node.get("children") or []:
            parent[child] = nid
    paths = {}
    for nid in nodes:
        chain, cur = [nid], nid
        while cur in parent:
            cur = parent[cur]
            chain.append(cur)
        paths[nid] = ["root"] + list(reversed(chain))
    topics = {}
    for nid, node in nodes.items():
        if node.get("topic") and node.get("destination") and node["topic"] not in topics:
            topics[node["topic"]] = (nid, node["destination"], node.get("mailbox"))
    return topics, {"paths": paths, "nodes": nodes}


def _moments(rng: random.Random, n: int, year: int, hours: list[float]) -> list[datetime]:
    """n aware UTC moments of `year` following the weekday/hour profile, in time order."""
    from tools.demo_data import WEEKDAY_WEIGHTS

    first = date(year, 1, 1)
    days = [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]
    picked_days = rng.choices(days, [WEEKDAY_WEIGHTS[d.weekday()] for d in days], k=n)
    picked_hours = rng.choices(range(24), hours, k=n)
    out = [
        datetime(d.year, d.month, d.day, h, rng.randrange(60), rng.randrange(60), tzinfo=PARIS).astimezone(UTC)
        for d, h in zip(picked_days, picked_hours)
    ]
    return sorted(out)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def build_store(
    db: Path, conversations: int, calls: int, seed: int = 1, year: int = YEAR, prefecture: str = PREFECTURE, progress=None
) -> dict:
    """Write the synthetic year into a new SQLite file `db`; returns the row count of each table."""
    from bot.core import config as config_mod
    from bot.services import tickets as tickets_mod
    from bot.store.database import Store
    from tools.demo_data import GREETINGS, HOUR_WEIGHTS, NOT_UNDERSTOOD, PHONE_HOURS, PHRASES, SPEECH, THANKS, TOPIC_WEIGHTS, fold

    if db.exists():
        db.unlink()
    Store(db).close()  # every table and index, by the product's own migrations
    pref = config_mod.load_prefecture(prefecture)
    rng = random.Random(f"report-bench:{seed}")
    topics, tree = _tree_routes()
    topic_names, topic_weights = list(TOPIC_WEIGHTS), list(TOPIC_WEIGHTS.values())
    mailboxes = pref.get("mailboxes")
    sites = [s["id"] for s in pref.get("pan.sites")]
    reasons = ["carte_grise", "carte_grise", "carte_grise", "permis_conduire", "permis_conduire", "titre_sejour", "autre"]
    due_cache: dict[tuple[date, str], str] = {}

    def due(day: date, origin: str) -> str:
        key = (day, origin)
        if key not in due_cache:
            due_cache[key] = tickets_mod.due_date(pref, day, origin).isoformat()
        return due_cache[key]

    # People rarely type the same sentence twice: most texts get a few words of their own context, so
    # that the report's grouping of questions works on (nearly) as many distinct texts as turns.
    vocab = sorted({w.strip("?,.'!") for texts in PHRASES.values() for t in texts for w in t.split() if len(w) > 3})

    def spelled(text: str) -> str:
        if rng.random() < 0.7:
            text = f"{text} {' '.join(rng.choices(vocab, k=rng.randrange(2, 5)))}"
        roll = rng.random()
        return fold(text) if roll < 0.2 else (text.lower() if roll < 0.3 else text)

    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    counts = dict.fromkeys(("conversations", "turns", "calls", "tickets", "pan_bookings", "feedback"), 0)
    conv_rows, turn_rows, call_rows, ticket_rows, booking_rows, feedback_rows = [], [], [], [], [], []
    seq = 0

    def ticket(created: datetime, origin: str, channel: str, box: str) -> None:
        nonlocal seq
        seq += 1
        answered = rng.random() < 0.8
        day = created.astimezone(PARIS).date()
        wd = rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8]) if answered else None
        answered_at = None
        if answered:
            a = tickets_mod.add_working_days(day, wd) if wd else day
            answered_at = datetime(a.year, a.month, a.day, rng.randrange(9, 17), rng.randrange(60), tzinfo=PARIS)
        ticket_rows.append(
            [
                f"MSG-{seq:08d}",
                pref.id,
                box,
                mailboxes[box]["service"],
                mailboxes[box]["email"],
                origin,
                channel,
                "Objet du message",
                "Texte du message (masqué).",
                None,
                _iso(created),
                due(day, "paper" if origin == "paper" else "email"),
                "answered" if answered else "open",
                "sent",
                1,
                _iso(created + timedelta(seconds=3)),
                _iso(answered_at) if answered_at else None,
                int((answered_at - created).total_seconds()) if answered_at else None,
                wd,
                0,
            ]
        )

    # Conversations and their turns.
    for i, start in enumerate(_moments(rng, conversations, year, HOUR_WEIGHTS)):
        cid = f"web-bench{i:07d}"
        topic = rng.choices(topic_names, topic_weights)[0]
        node, dest, box = topics[topic]
        turns = []
        if rng.random() < 0.55:
            turns.append((rng.choice(GREETINGS), "greet", None, None, "answer", 1, 0.97))
        unresolved = rng.random() < 0.07
        if unresolved:
            turns.append((rng.choice(NOT_UNDERSTOOD), "hors_perimetre", None, None, "clarify", 0, 0.31))
            turns.append((rng.choice(NOT_UNDERSTOOD), "hors_perimetre", None, None, "fallback", 0, 0.12))
        else:
            turns.append((spelled(rng.choice(PHRASES[topic])), topic, dest, node, "answer", 1, round(rng.uniform(0.6, 1.0), 4)))
            if rng.random() < 0.45:
                t2 = rng.choices(topic_names, topic_weights)[0]
                n2, d2, _ = topics[t2]
                turns.append((spelled(rng.choice(PHRASES[t2])), t2, d2, n2, "answer", 1, round(rng.uniform(0.6, 1), 4)))
        if rng.random() < 0.8:
            turns.append((rng.choice(THANKS), "thanks", None, None, "answer", 1, 0.95))
        t = start
        for text, tp, d, nd, action, resolved, conf in turns:
            turn_rows.append([cid, _iso(t), "web", text, tp, conf, d, nd, action, resolved])
            t += timedelta(seconds=rng.randrange(8, 90))
        last_topic = next((x[1] for x in reversed(turns) if x[2]), turns[-1][1])
        last_dest = next((x[2] for x in reversed(turns) if x[2]), None)
        conv_rows.append(
            [
                cid,
                "web",
                pref.id,
                _iso(start),
                _iso(t),
                len(turns),
                2 if unresolved else 0,
                last_topic,
                last_dest,
                "unresolved" if unresolved else "open",
                0,
            ]
        )
        if rng.random() < 0.12:
            feedback_rows.append(
                ["chat", cid, pref.id, int(rng.random() < 0.78), None, last_topic, last_dest, _iso(t), _iso(t), 0]
            )
        if dest == "mailbox" and rng.random() < 0.3:
            ticket(t + timedelta(minutes=3), "email", "web", box or "courrier")
        if topic == "rdv_pan" or (dest == "ants_3400" and rng.random() < 0.02):
            booked = (t + timedelta(days=rng.randrange(1, 21))).astimezone(PARIS)
            slot = booked.replace(hour=rng.choice([9, 10, 11]), minute=rng.choice([0, 30]), second=0, microsecond=0)
            seq += 1
            status = rng.choices(["booked", "no_show", "cancelled"], [85, 9, 6])[0]
            booking_rows.append(
                [
                    f"PAN-{seq:08d}",
                    "token",
                    pref.id,
                    rng.choice(sites),
                    slot.strftime("%Y-%m-%dT%H:%M"),
                    (slot + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
                    seq,
                    rng.choice(reasons),
                    "web",
                    "mobile",
                    None,
                    status,
                    _iso(t),
                    _iso(t),
                    _iso(slot) if status == "no_show" else None,
                    0,
                ]
            )
        if progress is not None and i % 5000 == 0:
            progress.update(min(5000, conversations - i))

    # Calls walking the menu.
    speech_topics = list(SPEECH)
    twiml = '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="fr-FR">' + "x" * 300 + "</Say></Response>"
    for i, start in enumerate(_moments(rng, calls, year, PHONE_HOURS)):
        sid = f"CA{seed:04d}{i:028d}"
        topic = rng.choices(topic_names, topic_weights)[0]
        node, dest, box = topics[topic]
        path = tree["paths"].get(node, ["root", node])
        outcome = rng.choices(["answered", "transferred", "voicemail", "abandoned"], [58, 13, 8, 21])[0]
        inputs = []
        if rng.random() < 0.3 and outcome != "abandoned":
            t_s = rng.choice(speech_topics)
            inputs.append(
                {"step": 1, "speech": rng.choice(SPEECH[t_s]), "asr": 0.8, "topic": t_s, "confidence": 0.9, "node": node}
            )
            path = ["root", node]
        else:
            inputs += [{"step": k + 1, "digits": str(tree["nodes"][n].get("key", 1))} for k, n in enumerate(path[1:])]
        if outcome == "abandoned":
            cut = rng.randrange(1, max(2, len(path)))
            path, inputs = path[:cut], inputs[: cut - 1]
        duration = rng.randrange(15, 400)
        end = start + timedelta(seconds=duration)
        unresolved = int(outcome == "abandoned" or rng.random() < 0.04)
        call_rows.append(
            [
                sid,
                pref.id,
                "+33 6 •• •• •• ••",
                _iso(start),
                _iso(end),
                _iso(end),
                "ended",
                path[-1],
                len(inputs),
                0,
                0,
                json.dumps(path),
                json.dumps(inputs, ensure_ascii=False),
                0.9 if any("speech" in x for x in inputs) else None,
                outcome,
                "completed",
                duration,
                unresolved,
                "{}",
                twiml,
                0,
            ]
        )
        if outcome == "voicemail":
            ticket(end, "phone", "phone", box or "courrier")
        if rng.random() < 0.06:
            feedback_rows.append(["phone", sid, pref.id, int(rng.random() < 0.72), None, topic, dest, _iso(end), _iso(end), 0])
        if progress is not None and i % 5000 == 0:
            progress.update(min(5000, calls - i))

    conn.execute("BEGIN")
    conn.executemany(
        "insert into conversations (id, channel, prefecture, started_at, updated_at, turns, misses,"
        " last_topic, last_destination, status, demo) values (?,?,?,?,?,?,?,?,?,?,?)",
        conv_rows,
    )
    conn.executemany(
        "insert into turns (conversation_id, ts, channel, text, topic, confidence, destination, node,"
        " action, resolved) values (?,?,?,?,?,?,?,?,?,?)",
        turn_rows,
    )
    conn.executemany(
        "insert into calls (call_sid, prefecture, caller, started_at, updated_at, ended_at, state, node,"
        " step, retries, misses, path, inputs, confidence, outcome, call_status, duration_s, unresolved,"
        " flow, last_twiml, demo) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        call_rows,
    )
    conn.executemany(
        "insert into tickets (reference, prefecture, mailbox, service, service_email, origin, channel,"
        " subject, body, contact_email, created_at, due_date, status, delivery_status,"
        " delivery_attempts, delivered_at, answered_at, answer_seconds, answer_working_days, demo)"
        " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        ticket_rows,
    )
    conn.executemany(
        "insert into pan_bookings (reference, token, prefecture, site, slot_start, slot_end, seat, reason,"
        " channel, contact_kind, contact, status, created_at, updated_at, no_show_at, demo)"
        " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        booking_rows,
    )
    conn.executemany(
        "insert or ignore into feedback (kind, item_id, prefecture, useful, comment, topic, destination,"
        " created_at, updated_at, demo) values (?,?,?,?,?,?,?,?,?,?)",
        feedback_rows,
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for table in counts:
        counts[table] = conn.execute(f"select count(*) from {table}").fetchone()[0]
    conn.close()
    return counts


def cached_store(conversations: int, calls: int, seed: int, progress=None) -> tuple[Path, dict, float | None]:
    """The store of that size and seed, built once: (path, row counts, build seconds or None when reused)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    db = CACHE / f"report-y{YEAR}-{PREFECTURE}-c{conversations}-k{calls}-s{seed}-v{GENERATOR_VERSION}.db"
    meta = db.with_suffix(".json")
    if db.exists() and meta.exists():
        return db, json.loads(meta.read_text())["counts"], None
    tmp = db.with_suffix(".tmp.db")
    t0 = time.perf_counter()
    counts = build_store(tmp, conversations, calls, seed, progress=progress)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.replace(db)
    elapsed = time.perf_counter() - t0
    meta.write_text(json.dumps({"counts": counts, "build_s": round(elapsed, 1)}))
    return db, counts, elapsed


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
