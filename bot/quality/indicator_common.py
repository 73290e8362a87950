"""What every quality indicator is built with: the period (Paris days, read by range on the stored
timestamps, demo rows left out), the indicator's dict, rates, means, percentiles, the weekday and
hour breakdowns, and the labels (the `quality` section of bot/console_texts.yml).
bot/quality/indicators.py re-exports them: import from there.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

from bot.core import texts
from bot.core.clock import PARIS, day_start_utc, weekdays

CALLS_REACHED_TARGET = 0.90  # Qual-e-pref: taux d'appels aboutis > 90 %
TICKETS_ON_TIME_TARGET = 0.80  # Qual-e-pref: courriels traités dans les 5 jours ouvrés > 80 %
SATISFACTION_TARGET = 0.75  # Qual-e-pref: satisfaction 75 %
PAN_WITHIN_TARGET = 0.80  # Qual-e-pref: rendez-vous dans les 10 jours > 80 % (days: commitments.pan_appointment_days)
HANDOFF_DESTINATION = "human"
# Sections of the report, in order; their titles are `quality.groups` in bot/console_texts.yml.
GROUPS = ("volumes", "routing", "phone", "tickets", "pan", "satisfaction")


def say(key: str, **values) -> str:
    """The text `quality.<key>` of bot/console_texts.yml, its {placeholders} filled."""
    return texts.console_say(f"quality.{key}", **values)


def unit_name(key: str) -> str:
    """An indicator's unit as the indicator carries it (`quality.unit_names.<key>`: "secondes"...)."""
    return say(f"unit_names.{key}")


COUNT, PERCENT, WORKING_DAYS, DAYS, SECONDS, STEPS = (
    unit_name(key) for key in ("count", "percent", "working_days", "days", "seconds", "steps")
)
HOURS = [say("hour", hour=h) for h in range(24)]  # the hour breakdowns' keys, "0 h"..."23 h"
HOUR_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}")  # a UTC hour as stored: '2026-03-02T23'


def label(indicator_id: str, **values) -> str:
    """An indicator's French label (`quality.labels.<id>`)."""
    return say(f"labels.{indicator_id}", **values)


def no_data() -> str:
    """The note of an indicator without a figure: « pas encore de données »."""
    return texts.console_say("report.no_data")


def group_title(group: str) -> str:
    return say(f"groups.{group}")


class PeriodError(ValueError):
    """A bad period; the message is in French, for the user."""


def parse_period(start: str, end: str) -> tuple[date, date]:
    try:
        first = date.fromisoformat(start)
    except (TypeError, ValueError):
        raise PeriodError(say("period_errors.bad_start", value=start)) from None
    try:
        last = date.fromisoformat(end)
    except (TypeError, ValueError):
        raise PeriodError(say("period_errors.bad_end", value=end)) from None
    if first > last:
        raise PeriodError(say("period_errors.start_after_end", start=first.isoformat(), end=last.isoformat()))
    return first, last


def indicator(
    id: str,
    label: str,
    channel: str,
    value,
    count: int,
    *,
    unit: str,
    group: str,
    target: float | None = None,
    note: str | None = None,
    breakdown: dict | None = None,
    higher_is_better: bool = True,
) -> dict:
    if value is None:
        met = None
        note = note or no_data()
    elif target is None:
        met = None
    else:
        met = value > target if higher_is_better else value < target
    out = {
        "id": id,
        "group": group,
        "label": label,
        "channel": channel,
        "value": value,
        "count": count,
        "target": target,
        "met": met,
        "unit": unit,
        "note": note,
    }
    if breakdown is not None:
        out["breakdown"] = breakdown
    return out


def rate(num: int, den: int) -> float | None:
    return num / den if den else None


def mean(total: float, n: int) -> float | None:
    return total / n if n else None


class Period:
    """The SQL range of a period on one timestamp column, with the demo filter."""

    PARIS_COLUMNS = ("slot_start",)  # stored in Paris local time; every other time is stored in UTC

    def __init__(self, prefecture: str, start: date, end: date, include_demo: bool):
        self.prefecture, self.start, self.end = prefecture, start, end
        self.lo, self.hi = start.isoformat(), (end + timedelta(days=1)).isoformat()
        self.utc_lo, self.utc_hi = day_start_utc(start), day_start_utc(end + timedelta(days=1))
        self.include_demo = include_demo

    def where(self, column: str, alias: str = "") -> tuple[str, list]:
        a = f"{alias}." if alias else ""
        sql = f"{a}prefecture = ? and {a}{column} >= ? and {a}{column} < ?"
        if not self.include_demo:
            sql += f" and {a}demo = 0"
        lo, hi = (self.lo, self.hi) if column in self.PARIS_COLUMNS else (self.utc_lo, self.utc_hi)
        return sql, [self.prefecture, lo, hi]


def rows(store, sql: str, args: list) -> list[tuple]:
    return store.db.execute(sql, args).fetchall()


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least q of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def median_of_counts(counts: dict) -> float | None:
    """The median of values given as {value: how many times} (the middle two averaged)."""
    n = sum(counts.values())
    if not n:
        return None
    ordered = sorted(counts.items())

    def nth(k: int):  # the k-th value, 0-based
        seen = 0
        for value, c in ordered:
            seen += c
            if k < seen:
                return value
        return ordered[-1][0]

    return nth(n // 2) if n % 2 else (nth(n // 2 - 1) + nth(n // 2)) / 2


def utc_hour(stamp) -> datetime | None:
    """'2026-03-02T23' (a UTC hour: a stored timestamp's first 13 characters) as an aware datetime, or None
    for what `datetime.strptime(stamp, "%Y-%m-%dT%H")` refuses. The stamps as the product writes them are
    read field by field (strptime took half the indicators' time on a year: one call per distinct hour);
    anything else goes through strptime, so that both accept and refuse the same stamps."""
    if isinstance(stamp, str) and HOUR_STAMP.fullmatch(stamp):
        try:
            return datetime(int(stamp[:4]), int(stamp[5:7]), int(stamp[8:10]), int(stamp[11:13]), tzinfo=UTC)
        except ValueError:  # a month 13, a 30 February, an hour 24: refused by strptime too
            return None
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def local_buckets(hour_counts: list[tuple[str, int]]) -> tuple[dict, dict]:
    """Counts by UTC hour ('2026-03-02T23', n) -> ({weekday: n}, {hour: n}) in Paris time, all keys present."""
    names = weekdays()
    by_day = dict.fromkeys(names, 0)
    hours = dict.fromkeys(HOURS, 0)
    for stamp, n in hour_counts:
        utc = utc_hour(stamp)
        if utc is None:
            continue  # a malformed timestamp is not placed rather than placed wrongly
        when = utc.astimezone(PARIS)
        by_day[names[when.weekday()]] += n
        hours[HOURS[when.hour]] += n
    return by_day, hours


def time_indicators(prefix: str, channel: str, what: str, hour_counts: list[tuple[str, int]]) -> list[dict]:
    weekdays, hours = local_buckets(hour_counts)
    total = sum(weekdays.values())
    return [
        indicator(
            f"{prefix}_by_weekday",
            label("by_weekday", what=what),
            channel,
            total or None,
            total,
            unit=COUNT,
            group="volumes",
            breakdown=weekdays,
        ),
        indicator(
            f"{prefix}_by_hour",
            label("by_hour", what=what),
            channel,
            total or None,
            total,
            unit=COUNT,
            group="volumes",
            breakdown=hours,
        ),
    ]
