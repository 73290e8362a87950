"""Quality indicators (Qual-e-pref, CLU report) computed from the store — issue 6.

Pure functions over a `Store` for a period [start, end] (dates, both included) and a préfecture.
`compute(store, pref, start, end, today=None, *, include_demo=False)` returns a list of dicts, in a
stable order, each of this shape:

    {"id":        stable identifier, e.g. "phone_reached",
     "group":     section: one of GROUPS ("volumes", "routing", "phone", "tickets", "pan", "satisfaction"),
     "label":     French text for the committee,
     "channel":   "chat" | "téléphone" | "courriel" | "PAN" | "tous",
     "value":     a number, or None when the source has no row for the period (never a made-up figure),
     "count":     the base of the value (the denominator of a rate, the rows it was computed on),
     "target":    the Qual-e-pref target (a fraction for a rate) or None when there is none,
     "met":       True / False against the target, None without a target or without a value,
     "unit":      COUNT | PERCENT | WORKING_DAYS | DAYS | SECONDS | STEPS: "nombre", "%", "jours ouvrés",
                  "jours", "secondes", "étapes" (`quality.unit_names` of bot/console_texts.yml),
     "note":      None, or a French remark (`report.no_data` of bot/console_texts.yml when value is None),
     "breakdown": optional {French key: number}: an ordered table the report draws as a bar chart.
                  Weekday ("lundi"…"dimanche") and hour ("0 h"…"23 h", `quality.hour`) breakdowns always carry
                  every key, zeros included, so charts stay comparable between periods.}

Rates are fractions (0.75 = 75 %); a target is met when the value is above it (strictly).

The period is made of Paris days, read by range on the stored ISO timestamps (`>= midnight of the
first day` and `< midnight after the last`), so the (prefecture, time) indexes of migration 005 are
used: conversations, calls, tickets and ratings are stored in UTC, so the bounds are Paris midnights
written in UTC (summer time included); PAN slots are stored in Paris time and compared as such.
Weekdays and hours are Paris local time. Everything is aggregated in SQL (GROUP BY);
Python only folds the grouped rows. Rows marked `demo = 1` (python -m tools.demo_data) are left out
unless `include_demo`.

The labels are in the `quality` section of bot/console_texts.yml. The building blocks (period, rates,
breakdowns) are in bot/quality/indicator_common.py, the chat and phone indicators in
bot/quality/indicators_chat_phone.py, the tickets, PAN and satisfaction ones in
bot/quality/indicators_services.py; all re-exported here.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.core.clock import PARIS, paris_now
from bot.core.numbers import fr_decimal, fr_int, fr_number, fr_percent
from bot.quality.indicator_common import (  # noqa: F401 - re-exported: import from bot.quality.indicators
    CALLS_REACHED_TARGET,
    COUNT,
    DAYS,
    GROUPS,
    HOURS,
    PAN_WITHIN_TARGET,
    PERCENT,
    SATISFACTION_TARGET,
    SECONDS,
    STEPS,
    TICKETS_ON_TIME_TARGET,
    WORKING_DAYS,
    Period,
    PeriodError,
    group_title,
    indicator,
    label,
    local_buckets,
    median_of_counts,
    no_data,
    parse_period,
    percentile,
    say,
    time_indicators,
    utc_hour,
)
from bot.quality.indicators_chat_phone import chat_indicators, phone_indicators
from bot.quality.indicators_services import pan_indicators, satisfaction_indicators, ticket_indicators

# A unit's text in `quality.units` of bot/console_texts.yml ({value} and its unit); a percentage and a
# count have none (bot/core/numbers.py writes them whole).
UNIT_TEXTS = {WORKING_DAYS: "working_days", DAYS: "days", SECONDS: "seconds", STEPS: "steps"}


def compute(
    store,
    pref,
    start: date,
    end: date,
    today: date | None = None,
    *,
    include_demo: bool = False,
    tree=None,
    now: datetime | None = None,
) -> list[dict]:
    """Every indicator of `pref` (a config.Prefecture) for [start, end]. `today` decides what is
    overdue and which PAN slots are past (the days before it); by default it is the Paris date (never
    the machine's), and the PAN slots past are those before the Paris time `now` (a 9:00 appointment
    marked absent in the afternoon counts the same day)."""
    from bot.core import tree as tree_mod

    if today is None:
        now = now or paris_now()
        today = now.date()
    past_before = now.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M") if now is not None else today.isoformat()
    tree = tree or tree_mod.current()
    period = Period(pref.id, start, end, include_demo)
    phone, (heard, rated, useful) = phone_indicators(store, period, tree)
    result = (
        chat_indicators(store, period)
        + phone
        + ticket_indicators(store, pref, period, today)
        + pan_indicators(store, period, past_before, int(pref.get("commitments.pan_appointment_days")))
        + satisfaction_indicators(store, period, heard, rated, useful)
    )
    order = list(GROUPS)
    return sorted(result, key=lambda ind: order.index(ind["group"]))  # stable: chat, then phone, in a group


def format_value(ind: dict) -> str:
    """The value as people read it, in its unit and the French way (bot/core/numbers.py): "3 194",
    "97,3 %", "6,0 j ouvrés"."""
    value = ind["value"]
    if value is None:
        return (ind["note"] or no_data()).split(" :")[0]
    unit = ind["unit"]
    if unit == PERCENT:
        return fr_percent(value)
    if unit in UNIT_TEXTS:
        return say(f"units.{UNIT_TEXTS[unit]}", value=fr_decimal(value, 0 if unit == SECONDS else 1))
    return fr_number(value)


def format_table(indicators: list[dict], pref_name: str, start: date, end: date) -> str:
    """The indicators as a plain-text table (`python -m bot indicators`), section by section."""
    t = {key: say(f"cli_table.{key}") for key in ("channel", "indicator", "value", "count", "target", "met")}
    title = say("cli_table.title", prefecture=pref_name, start=start.strftime("%d/%m/%Y"), end=end.strftime("%d/%m/%Y"))
    header = f"{t['channel']:<10} {t['indicator']:<72} {t['value']:>22} {t['count']:>6} {t['target']:>7} {t['met']:>8}"
    met_words = {True: say("met.yes"), False: say("met.no"), None: "—"}
    lines, group, empty = [title], None, no_data()
    for ind in indicators:
        if ind.get("group") != group:
            group = ind.get("group")
            lines += ["", f"## {group_title(group) if group in GROUPS else group or ''}", header]
        target = "" if ind["target"] is None else "> " + fr_percent(ind["target"], 0)
        lines.append(
            f"{ind['channel']:<10} {ind['label'][:72]:<72} {format_value(ind):>22} {fr_int(ind['count']):>6} {target:>7}"
            f" {met_words[ind['met']]:>8}"
        )
        if ind["value"] is not None:
            for key, count in (ind.get("breakdown") or {}).items():
                lines.append(f"{'':<10}   · {key:<68} {fr_number(count):>22}")
        if ind["note"] and ind["note"] != empty:
            lines.append(f"{'':<10}   ({ind['note']})")
    return "\n".join(lines)
