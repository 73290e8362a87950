"""The report's tables: every cell a French string (the same in the console page and the HTML report;
the CSV export writes its figures as a spreadsheet reads them), from the indicators of a period and
of the previous one. Numbers are written by bot/core/numbers.py. The texts are in the
`quality` section of bot/console_texts.yml. bot/quality/report.py re-exports them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date

from bot.core import texts
from bot.core.numbers import for_spreadsheet, fr_decimal, fr_number, fr_percent
from bot.quality import indicators
from bot.quality.indicators import say

DASH = "—"
# The ids of the tables (the CSV export's `table=`; a breakdown's is its indicator's id).
COMMITMENTS, SUMMARY, EVOLUTION, QUESTIONS, THEMES = "engagements", "indicateurs", "evolution", "questions", "non_resolus"
DESTINATIONS = texts.destination_labels()  # bot/tree.yml, section `destinations`


@dataclass
class Table:
    id: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""
    chart: str = ""  # inline SVG, when the table has one

    def csv(self) -> str:
        """The table as CSV for French spreadsheets: UTF-8 with BOM, `;` separator, the cells as shown
        but their figures as a spreadsheet reads numbers ("3194", "75,0 %": numbers.for_spreadsheet)."""
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
        writer.writerow(self.columns)
        writer.writerows([for_spreadsheet(cell) for cell in row] for row in self.rows)
        return "\ufeff" + buf.getvalue()


def fr_date(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def fr_int(n: int | None) -> str:
    """A count in a cell: "3 194" (bot/core/numbers.py), "—" without one."""
    return DASH if n is None else fr_number(n)


def _signed(x: float, unit: str | None) -> str:
    """Worded like the minutes (« en baisse de 2 % »); no leading sign, which a spreadsheet would read
    as the start of a formula. `unit`: the key of its text in `quality.units`, None for a change in %."""
    if fr_decimal(abs(x)) == fr_decimal(0):
        return say("evolution.stable")
    shown = fr_percent(abs(x) / 100) if unit is None else say(f"units.{unit}", value=fr_decimal(abs(x)))
    return say("evolution.up" if x > 0 else "evolution.down", value=shown)


def safe_cell(text: str) -> str:
    """User text that a spreadsheet would take for a formula (=, +, -, @) starts with an apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def value_text(ind: dict) -> str:
    return indicators.no_data() if ind["value"] is None else indicators.format_value(ind)


def target_text(ind: dict) -> str:
    target = ind.get("target")
    if target is None:
        return DASH
    sign = "<" if ind.get("higher_is_better") is False else ">"
    shown = indicators.format_value({**ind, "value": target})
    return f"{sign} {shown}"


def met_text(ind: dict) -> str:
    return {True: say("met.yes"), False: say("met.no")}.get(ind.get("met"), DASH)


def note_text(ind: dict) -> str:
    note = ind.get("note") or ""
    return "" if note == indicators.no_data() else note


def evolution_text(now: dict, before: dict | None) -> str:
    """Rates: difference in points; delays, durations, steps: difference in their unit; counts: change in %."""
    if before is None or now["value"] is None or before["value"] is None:
        return DASH
    a, b = float(now["value"]), float(before["value"])
    if now["unit"] == indicators.PERCENT:
        return _signed((a - b) * 100, "points")
    if now["unit"] in indicators.UNIT_TEXTS:
        return _signed(a - b, indicators.UNIT_TEXTS[now["unit"]])
    if b == 0:
        return DASH
    return _signed((a - b) / b * 100, None)


def channel_name(ind: dict) -> str:
    """The channel as the minutes name it (`quality.channels`)."""
    return texts.console_section("quality")["channels"].get(ind["channel"], ind["channel"])


def theme_text(ind: dict) -> str:
    group = ind.get("group")
    return indicators.group_title(group) if group in indicators.GROUPS else channel_name(ind)


def _tree():
    from bot.core import tree as tree_mod

    return tree_mod.current()


def key_labels(indicator_id: str) -> dict[str, str]:
    """French names of the breakdown keys of one indicator (unknown keys are shown as they are)."""
    tree = _tree()
    labels = {}
    for topic in {node.topic for node in tree.nodes.values() if node.topic}:
        top = tree.topic_node(topic)
        if top is not None:
            labels[topic] = top.title
    labels.update(DESTINATIONS)
    families = texts.console_section("quality")["breakdown_keys"]
    labels.update(families["chat"])
    labels.update(families.get(indicator_id.split("_", 1)[0], {}))
    return labels


def _table(table_id: str, name: str, title: str | None = None, note: bool = False, **columns: dict) -> Table:
    """An empty table `name` with the title, the columns (in order; their {start} {end} filled from
    `columns`) and the note of `quality.tables.<table_id>`."""
    keys = texts.console_section("quality")["tables"][table_id]["columns"]
    return Table(
        name,
        title or say(f"tables.{table_id}.title"),
        [say(f"tables.{table_id}.columns.{key}", **columns.get(key, {})) for key in keys],
        note=say(f"tables.{table_id}.note") if note else "",
    )


def _periods(start, end, prev_start, prev_end) -> dict:
    return {
        "before": {"start": fr_date(prev_start), "end": fr_date(prev_end)},
        "now": {"start": fr_date(start), "end": fr_date(end)},
    }


def summary_table(inds: list[dict]) -> Table:
    table = _table("summary", SUMMARY)
    for ind in inds:
        table.rows.append(
            [
                theme_text(ind),
                channel_name(ind),
                ind["label"],
                value_text(ind),
                fr_int(ind.get("count")),
                target_text(ind),
                met_text(ind),
                note_text(ind),
            ]
        )
    return table


def commitments_table(inds: list[dict], before: list[dict], start, end, prev_start, prev_end) -> Table:
    """The indicators Qual-e-pref sets a target for, first, as the minutes present them: commitment,
    target, the previous period, this period, met or not."""
    by_id = {b["id"]: b for b in before}
    table = _table("commitments", COMMITMENTS, note=True, **_periods(start, end, prev_start, prev_end))
    for ind in inds:
        if ind.get("target") is None:
            continue
        old = by_id.get(ind["id"])
        table.rows.append(
            [
                channel_name(ind),
                ind["label"],
                target_text(ind),
                value_text(old) if old else indicators.no_data(),
                value_text(ind),
                met_text(ind),
            ]
        )
    return table


def evolution_table(inds: list[dict], before: list[dict], start, end, prev_start, prev_end) -> Table:
    by_id = {b["id"]: b for b in before}
    table = _table("evolution", EVOLUTION, note=True, **_periods(start, end, prev_start, prev_end))
    for ind in inds:
        old = by_id.get(ind["id"])
        before_text = value_text(old) if old else indicators.no_data()
        table.rows.append([theme_text(ind), ind["label"], before_text, value_text(ind), evolution_text(ind, old)])
    return table


def breakdown_table(ind: dict) -> Table:
    labels = key_labels(ind["id"])
    data = ind.get("breakdown") or {}
    total = sum(v for v in data.values() if isinstance(v, (int, float)))
    table = _table("breakdown", ind["id"], title=say("tables.breakdown.title", label=ind["label"]))
    for key, n in data.items():
        share = fr_percent(n / total) if total else DASH
        table.rows.append([str(labels.get(key, key)), fr_int(n), share])
    return table


def questions_table(rows: list[tuple[str, int]], min_count: int = 1) -> Table:
    table = _table("questions", QUESTIONS)
    table.note = say("tables.questions.note", min=fr_int(min_count))
    table.rows = [[str(i), safe_cell(text), fr_int(n)] for i, (text, n) in enumerate(rows, 1)]
    return table


def themes_table(rows: list[tuple[str, int, int]]) -> Table:
    table = _table("themes", THEMES, note=True)
    table.rows = [[theme, fr_int(c), fr_int(p), fr_int(c + p)] for theme, c, p in rows]
    return table
