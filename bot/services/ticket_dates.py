"""A message's dates: its due date in working days (Monday to Friday except French public holidays,
the `holidays` package, and the préfecture's closure days, `prefecture.phone_hours.closures`: its
services do not work then either), the working days it took to answer, a day said in French.
Part of bot/services/tickets.py, which re-exports them: import from there.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.core import config
from bot.core.clock import french_date, is_working_day
from bot.core.closures import closed_on
from bot.core.config import Prefecture


def _works(day: date, pref: Prefecture | None) -> bool:
    """A working day: Monday to Friday, no public holiday, and (given the préfecture) no closure day."""
    return is_working_day(day) and not (pref is not None and closed_on(pref, day))


def add_working_days(start: date, n: int, pref: Prefecture | None = None) -> date:
    """The n-th working day after `start` (the day of receipt itself does not count); with `pref`, its
    closure days are not working days."""
    day, count = start, 0
    while count < n:
        day += timedelta(days=1)
        if _works(day, pref):
            count += 1
    return day


def working_days_between(start: date, end: date, pref: Prefecture | None = None) -> int:
    """Working days after `start` up to and including `end` (0 when answered the same day); with `pref`,
    its closure days are not working days."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if _works(day, pref):
            count += 1
    return count


def prefecture_of(ticket: dict) -> Prefecture | None:
    """The préfecture a ticket was written to (its closure days); None when its file cannot be read."""
    try:
        return config.current(ticket["prefecture"])
    except config.ConfigError:
        return None


def due_date(pref: Prefecture, received: date, origin: str = "email") -> date:
    key = "commitments.paper_working_days" if origin == "paper" else "commitments.email_working_days"
    return add_working_days(received, int(pref.get(key)), pref)


def say_date(day: date) -> str:
    return french_date(day)
