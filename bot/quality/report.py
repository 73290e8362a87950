"""The users' committee (CLU) report and the console's indicators page: one set of tables, three outputs.

`collect(...)` computes, for a period and a préfecture, every table the committee reads — the
indicators with their targets (`bot.quality.indicators`, rendered generically), their evolution against the
previous period of the same length, one table and one SVG chart (`bot.quality.charts`) per indicator with a
breakdown, the questions users asked most (masked text, grouped without case nor accents) and the
themes of unresolved conversations and calls. Every cell is already a French string, so the console
page, its CSV export and the HTML report show exactly the same values.

`build(...)` writes one self-contained HTML file (CSS and SVG inlined, no external request; Jinja2
template `web/templates/report/report.html`, autoescaped) and, when Chromium is on the machine, a PDF
printed from it by headless Chromium. `python -m bot report --from D --to D` is its command line.

The tables and their cells are built in bot/quality/report_tables.py (re-exported here); every text
is in the `quality` and `report` sections of bot/console_texts.yml.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from bot import settings
from bot.core import texts
from bot.core.clock import PARIS, paris_today  # noqa: F401 - report.paris_today, used by the console
from bot.core.config import ROOT
from bot.core.masking import clean, mask
from bot.core.text import norm
from bot.core.tree import SOCIAL_INTENTS
from bot.quality import charts, indicators
from bot.quality.indicators import say
from bot.quality.report_tables import (  # noqa: F401 - re-exported: import from bot.quality.report
    COMMITMENTS,
    DASH,
    DESTINATIONS,
    EVOLUTION,
    QUESTIONS,
    SUMMARY,
    THEMES,
    Table,
    breakdown_table,
    commitments_table,
    evolution_table,
    evolution_text,
    fr_date,
    fr_int,
    key_labels,
    met_text,
    note_text,
    questions_table,
    safe_cell,
    summary_table,
    target_text,
    themes_table,
    value_text,
)

TEMPLATES = ROOT / "web" / "templates" / "report"
PDF_TIMEOUT_S = 180
TOP_QUESTIONS = 20
DEFAULT_DAYS = 30  # the console's default period: the last 30 days
MAX_DAYS = 3653
STEPS = ("indicateurs", "période précédente", "questions et thèmes", "graphiques", "HTML", "PDF")


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length that ends the day before `start`."""
    last = start - timedelta(days=1)
    return last - (end - start), last


def check_period(start: date, end: date) -> None:
    """A period the report can compare with its previous one (raises indicators.PeriodError, French)."""
    if (end - start).days + 1 > MAX_DAYS:
        raise indicators.PeriodError(say("period_errors.too_long", max=MAX_DAYS))
    if start.year < 1900 or end.year > 9998:
        raise indicators.PeriodError(say("period_errors.out_of_range"))


def console_period(start_s: str | None, end_s: str | None, today: date | None = None) -> tuple[date, date]:
    """The console's period: both dates given (AAAA-MM-JJ), or by default the last 30 days up to today."""
    today = today or paris_today()
    start_s = (start_s or "").strip() or (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    end_s = (end_s or "").strip() or today.isoformat()
    start, end = indicators.parse_period(start_s[:40], end_s[:40])
    check_period(start, end)
    return start, end


def quick_periods(today: date) -> list[tuple[str, date, date]]:
    """The console's quick choices: (French label, first day, last day)."""
    return [
        (say("quick_periods.last_days", days=DEFAULT_DAYS), today - timedelta(days=DEFAULT_DAYS - 1), today),
        (say("quick_periods.month"), today.replace(day=1), today),
        (say("quick_periods.year"), today.replace(month=1, day=1), today),
    ]


def compute_indicators(store, pref, start: date, end: date, today: date | None, include_demo: bool) -> list[dict]:
    """`indicators.compute`, ordered by section (indicators.GROUPS) like the minutes' themes; stable inside."""
    inds = indicators.compute(store, pref, start, end, today, include_demo=include_demo)
    order = {g: i for i, g in enumerate(indicators.GROUPS)}
    return sorted(inds, key=lambda ind: order.get(ind.get("group"), len(order)))


def _tree():
    from bot.core import tree as tree_mod

    return tree_mod.current()


def _theme_of_topic(tree, topic: str | None) -> str:
    node = tree.topic_node(topic) if topic else None
    return node.title if node else say("no_theme")


def _theme_of_node(tree, node_id: str | None) -> str:
    node = tree.nodes.get(node_id) if node_id else None
    while node is not None and not node.topic and node.parent:
        node = tree.nodes.get(node.parent)
    return _theme_of_topic(tree, node.topic) if node is not None and node.topic else say("no_theme")


def top_questions(
    store,
    prefecture: str,
    start: date,
    end: date,
    *,
    include_demo: bool = False,
    limit: int = TOP_QUESTIONS,
    min_count: int = 1,
) -> list[tuple[str, int]]:
    """What users typed (chat) or said (phone speech) most, masked, grouped without case nor accents;
    a group said fewer than `min_count` times is not cited (the préfecture's report.question_min_count).

    Each group is shown by its most frequent spelling; buttons clicked (payloads "/...") are not questions,
    nor are greetings, thanks and goodbyes (bot.core.tree.SOCIAL_INTENTS: "bonjour", "merci", "au revoir").
    """
    raw: Counter = Counter()
    period = indicators.Period(prefecture, start, end, include_demo)
    where, args = period.where("started_at", "c")
    for text, topic in store.db.execute(
        f"select t.text, t.topic from turns t join conversations c on c.id = t.conversation_id where {where}", args
    ):
        if text and not text.startswith("/") and topic not in SOCIAL_INTENTS:
            raw[text] += 1
    where, args = period.where("started_at", "k")
    for (inputs,) in store.db.execute(f"select k.inputs from calls k where {where} and k.inputs like '%\"speech\"%'", args):
        try:
            steps = json.loads(inputs or "[]")
        except json.JSONDecodeError:
            continue
        for step in steps if isinstance(steps, list) else []:
            speech = step.get("speech") if isinstance(step, dict) else None
            if isinstance(speech, str) and speech.strip() and step.get("topic") not in SOCIAL_INTENTS:
                raw[speech] += 1
    # Texts are stored masked (bot/store/database.py, ivr/calls.py): group them as stored, and mask again only
    # what is shown, as a safety net (masking every distinct text of a year took most of the report's time).
    # A group's key is norm(text), which is norm(clean(text)): clean only turns controls and runs of spaces
    # into one space, which norm does too. So only the groups cited are cleaned, to choose their spelling.
    groups: dict[str, Counter] = defaultdict(Counter)
    for text, n in raw.items():
        key = norm(text)
        if key:
            groups[key][text] += n
    ranked = sorted(
        ((sum(c.values()), key, c) for key, c in groups.items() if sum(c.values()) >= min_count), key=lambda g: (-g[0], g[1])
    )
    return [(mask(_spelling(c)), total) for total, _key, c in ranked[:limit]]


def _spelling(texts: Counter) -> str:
    """A group's most frequent spelling once cleaned (the first in alphabetical order among equals)."""
    shown: Counter = Counter()
    for text, n in texts.items():
        shown[clean(text)] += n
    return min(shown.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def unresolved_themes(
    store, prefecture: str, start: date, end: date, *, include_demo: bool = False
) -> list[tuple[str, int, int]]:
    """(theme, unresolved conversations, unresolved calls), most frequent first."""
    tree = _tree()
    chat, phone = Counter(), Counter()
    period = indicators.Period(prefecture, start, end, include_demo)
    where, args = period.where("started_at", "c")
    for topic, n in store.db.execute(
        f"select c.last_topic, count(*) from conversations c where {where} and c.status = 'unresolved' group by c.last_topic",
        args,
    ):
        chat[_theme_of_topic(tree, topic)] += n
    where, args = period.where("started_at", "k")
    for node, n in store.db.execute(
        f"select k.node, count(*) from calls k where {where} and k.unresolved = 1 group by k.node", args
    ):
        phone[_theme_of_node(tree, node)] += n
    themes = set(chat) | set(phone)
    return sorted(((t, chat[t], phone[t]) for t in themes), key=lambda r: (-(r[1] + r[2]), r[0]))


def _generated(when: datetime) -> str:
    """When the report was made, as its lead says it: « 01/08/2026 à 09:00 »."""
    return say("generated", day=when.strftime("%d/%m/%Y"), time=when.strftime("%H:%M"))


def collect(
    store,
    pref,
    start: date,
    end: date,
    *,
    include_demo: bool = False,
    today: date | None = None,
    progress=None,
    timings: dict | None = None,
    with_charts: bool = True,
    table: str | None = None,
) -> dict:
    """Every table of the period (and its previous period), charts included, as French strings.

    `table`: the id of the one table wanted (the CSV export): what only other tables show is not computed
    (the previous period, the questions, the themes: seconds on a year) and those tables are None."""
    check_period(start, end)
    wants = lambda *ids: table is None or table in ids  # noqa: E731
    timings = timings if timings is not None else {}
    prev_start, prev_end = previous_period(start, end)
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        t = time.perf_counter()
        timings[name] = round(t - clock, 3)
        clock = t
        if progress is not None:
            progress.set_postfix_str(name, refresh=False)
            progress.update(1)

    now_inds = compute_indicators(store, pref, start, end, today, include_demo)
    step("indicateurs")
    before = compute_indicators(store, pref, prev_start, prev_end, today, include_demo) if wants(COMMITMENTS, EVOLUTION) else None
    step("période précédente")
    min_count = int(pref.get("report.question_min_count"))
    questions = (
        top_questions(store, pref.id, start, end, include_demo=include_demo, min_count=min_count) if wants(QUESTIONS) else None
    )
    themes = unresolved_themes(store, pref.id, start, end, include_demo=include_demo) if wants(THEMES) else None
    step("questions et thèmes")
    breakdowns = []
    for ind in now_inds:
        if not any(ind.get("breakdown") or {}) or not any((ind.get("breakdown") or {}).values()):
            continue  # nothing to draw: no key, or only zeros (a period without data)
        table = breakdown_table(ind)
        if with_charts:
            labels = key_labels(ind["id"])
            table.chart = charts.bar_chart(
                f"graphique-{re.sub(r'[^A-Za-z0-9_-]', '-', ind['id'])}", table.title, ind["breakdown"], labels=labels
            )
        breakdowns.append(table)
    step("graphiques")
    return {
        "prefecture": pref.get("prefecture.name"),
        "prefecture_id": pref.id,
        "start": start,
        "end": end,
        "prev_start": prev_start,
        "prev_end": prev_end,
        "include_demo": include_demo,
        "indicators": now_inds,
        "previous": before,
        "commitments": None if before is None else commitments_table(now_inds, before, start, end, prev_start, prev_end),
        "summary": summary_table(now_inds),
        "evolution": None if before is None else evolution_table(now_inds, before, start, end, prev_start, prev_end),
        "breakdowns": breakdowns,
        "questions": None if questions is None else questions_table(questions, min_count),
        "themes": None if themes is None else themes_table(themes),
        "generated": _generated(datetime.now(PARIS)),
    }


def tables(data: dict) -> list[Table]:
    """Every table of `collect`'s result, in page order (the CSV export serves them by id); those `collect`
    was not asked for (its `table`) left out."""
    every = [data["commitments"], data["summary"], data["evolution"], *data["breakdowns"], data["questions"], data["themes"]]
    return [t for t in every if t is not None]


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    # The report's texts: the `report` section of bot/console_texts.yml (issue 12).
    env.globals.update(fr_date=fr_date, r=texts.html_section("report"), rsay=texts.html_say)
    return env


def render_html(data: dict) -> str:
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return _env().get_template("report.html").render(css=css, **data)


def report_name(pref_id: str, start: date, end: date) -> str:
    return f"rapport-clu-{pref_id}-{start.isoformat()}-{end.isoformat()}"


def print_pdf(html_path: Path, pdf_path: Path) -> str | None:
    """Print the HTML file to PDF with headless Chromium; None when done, else why not (French)."""
    exe = Path(settings.chromium())
    if not exe.exists():
        return say("pdf.no_chromium", path=exe)
    pdf_path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="aiguillage-pdf-") as profile:
        cmd = [
            str(exe),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-sync",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            html_path.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=PDF_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return say("pdf.timeout", seconds=PDF_TIMEOUT_S)
    if not pdf_path.exists() or pdf_path.stat().st_size == 0 or pdf_path.read_bytes()[:5] != b"%PDF-":
        return say("pdf.failed", code=done.returncode, error=done.stderr.strip()[-300:])
    return None


def build(
    store,
    pref,
    start: date,
    end: date,
    out: Path,
    *,
    include_demo: bool = False,
    pdf: bool = True,
    progress=None,
    today: date | None = None,
) -> dict:
    """Write the committee report of [start, end] into directory `out`.

    Returns {"html": Path, "pdf": Path | None, "pdf_note": str | None, "timings": {step: seconds}}.
    `progress` is a tqdm-like bar (update, set_postfix_str) advanced once per step of STEPS.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    began = time.perf_counter()
    data = collect(store, pref, start, end, include_demo=include_demo, today=today, progress=progress, timings=timings)
    t = time.perf_counter()
    html_path = out / (report_name(pref.id, start, end) + ".html")
    written = html_path.with_suffix(".tmp")  # never a truncated report under its final name (a full disk)
    try:
        written.write_text(render_html(data), encoding="utf-8")
        written.replace(html_path)
    except BaseException:
        written.unlink(missing_ok=True)
        raise
    timings["HTML"] = round(time.perf_counter() - t, 3)
    if progress is not None:
        progress.set_postfix_str("PDF" if pdf else "fin", refresh=False)
        progress.update(1)
    pdf_path, note = None, None
    if pdf:
        t = time.perf_counter()
        candidate = out / (report_name(pref.id, start, end) + ".pdf")
        note = print_pdf(html_path, candidate)
        pdf_path = None if note else candidate
        timings["PDF"] = round(time.perf_counter() - t, 3)
    else:
        note = say("pdf.not_asked")
    if progress is not None:
        progress.update(1)
    timings["total"] = round(time.perf_counter() - began, 3)
    return {"html": html_path, "pdf": pdf_path, "pdf_note": note, "timings": timings}
