"""Paris time and the French calendar: the one home for the time zone, day and month names,
public holidays and working days. Pure: nothing here reads the environment."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

PARIS = ZoneInfo("Europe/Paris")
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]  # the keys of opening hours in the préfecture files
WEEKDAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
DAY_NAMES = dict(zip(DAYS, WEEKDAYS, strict=True))
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"]


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


def french_date(day: date) -> str:
    """'lundi 13 juillet 2026'."""
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"
