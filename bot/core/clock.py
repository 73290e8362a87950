"""Paris time and the French calendar: the one home for the time zone, day and month names,
public holidays and working days. Pure: nothing here reads the environment. The French words
(day and month names, the patterns of a date, a time, a wait) are the `calendar` section of
bot/tree.yml, read once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

from bot.core import yaml_text

PARIS = ZoneInfo("Europe/Paris")
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]  # the keys of opening hours in the préfecture files
TREE_FILE = Path(__file__).resolve().parents[1] / "tree.yml"


@lru_cache(maxsize=1)
def words() -> dict:
    """The `calendar` section of bot/tree.yml: names and patterns of dates, times and waits in French."""
    section = yaml_text.safe_load(TREE_FILE.read_text(encoding="utf-8"))["calendar"]
    if len(section["days"]) != 7 or len(section["months"]) != 12:
        raise ValueError("bot/tree.yml: key 'calendar': 7 day names and 12 month names expected")
    return section


def weekdays() -> list[str]:
    """The days' names, Monday first ('lundi'...)."""
    return list(words()["days"])


def day_name(key: str) -> str:
    """The name of a day key of the préfecture files ('mon' -> 'lundi')."""
    return words()["days"][DAYS.index(key)]


def month_name(month: int) -> str:
    return words()["months"][month - 1]


def day_of_month(day: int) -> str:
    """'1er', '2', … '31' (the tree's `calendar.days_of_month`, else the number)."""
    return str((words().get("days_of_month") or {}).get(day, day))


def say_time(hour: int, minute: int) -> str:
    """'9 h 30', '9 h' (the tree's `calendar.time` patterns)."""
    if minute:
        return words()["time"].format(hour=hour, minutes=f"{minute:02d}")
    return words()["time_on_the_hour"].format(hour=hour)


# A test server's clock (IVR_TEST_CLOCK=1 or IVR_LOCAL_DEV=1): a request's "now", for the phone's
# webhooks and the chat's webhook alike (bot.services.runtime.opening_now).
TEST_CLOCK_HEADER = "X-Ivr-Now"


def parse_paris(value: str) -> datetime:
    """An ISO time as an aware Paris time; a naive one is a Paris local time. ValueError if unreadable."""
    when = datetime.fromisoformat(value.strip())
    return when.replace(tzinfo=PARIS) if when.tzinfo is None else when.astimezone(PARIS)


def paris_now() -> datetime:
    """Now in Paris, naive, to the minute (the store's and the slots' clock)."""
    return datetime.now(PARIS).replace(tzinfo=None, second=0, microsecond=0)


def paris_today() -> date:
    return datetime.now(PARIS).date()


def naive(when: datetime) -> datetime:
    """An aware datetime as naive Paris time; a naive one is taken as Paris time already."""
    return when.astimezone(PARIS).replace(tzinfo=None) if when.tzinfo else when


def paris_date(when: datetime) -> date:
    return naive(when).date()


@lru_cache(maxsize=16)
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.France(years=year)


def is_holiday(day: date) -> bool:
    """A French public holiday (metropolitan France)."""
    return day in _holidays(day.year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and not is_holiday(day)


def say_duration(seconds: float) -> str:
    """A wait in words, rounded up: '1 seconde', '45 secondes', '2 minutes', '1 heure'."""
    seconds = max(1, int(-(-seconds // 1)))
    units = words()["units"]
    for size, unit in ((3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size:
            n = -(-seconds // size)
            return f"{n} {units[unit][1 if n > 1 else 0]}"
    raise AssertionError("unreachable: seconds >= 1")


def french_date(day: date) -> str:
    """'lundi 13 juillet 2026'."""
    return words()["date"].format(
        weekday=weekdays()[day.weekday()], day=day_of_month(day.day), month=month_name(day.month), year=day.year
    )


def french_date_voice(day: date) -> str:
    """'lundi 13 juillet', as the phone says a day (the tree's `calendar.date_voice`)."""
    return words()["date_voice"].format(weekday=weekdays()[day.weekday()], day=day_of_month(day.day), month=month_name(day.month))


# Stored timestamps (UTC, ISO 8601) shown and filtered in Paris time, summer time included.


def stamp_paris(stamp: str | None) -> datetime | None:
    """A stored UTC timestamp as a naive Paris datetime; None for an empty or unreadable value.
    A stamp without an offset is UTC, like every stored time."""
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return naive(when if when.tzinfo else when.replace(tzinfo=UTC))


def stamp_datetime(stamp: str | None, seconds: bool = False) -> str:
    """'15/01/2026 00:30' (Paris time) for a stored UTC stamp, '—' when there is none."""
    when = stamp_paris(stamp)
    return when.strftime("%d/%m/%Y %H:%M:%S" if seconds else "%d/%m/%Y %H:%M") if when else "—"


def stamp_date(stamp: str | None) -> str:
    """'15/01/2026' (the Paris day) for a stored UTC stamp, '—' when there is none."""
    when = stamp_paris(stamp)
    return when.strftime("%d/%m/%Y") if when else "—"


def stamp_utc_iso(stamp: str | None) -> str:
    """The machine-readable value of a <time> element (UTC, with its Z)."""
    if not stamp:
        return ""
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return ""
    when = when.astimezone(UTC) if when.tzinfo else when
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def day_start_utc(day: date) -> str:
    """Midnight of a Paris day, in UTC, as a prefix comparable with stored stamps ('2026-01-14T23:00:00')."""
    return datetime.combine(day, time(0), tzinfo=PARIS).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def day_range_utc(first: date | None, last: date | None) -> tuple[str | None, str | None]:
    """[from, to) in stored UTC stamps for the Paris days first..last (both included); None = open.
    The calendar's own ends (1 January of year 1, 31 December 9999: valid dates a filter may be
    given) are open too, as no stamp lies beyond them and their UTC bounds are out of range."""
    lo = day_start_utc(first) if first and first > date.min else None
    hi = day_start_utc(last + timedelta(days=1)) if last and last < date.max else None
    return lo, hi
