"""A message's dates: its due date in working days (Monday to Friday except French public holidays,
the `holidays` package), the working days it took to answer, a day said in French.
Part of bot/services/tickets.py, which re-exports them: import from there.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.core.clock import french_date, is_working_day
from bot.core.config import Prefecture


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after `start` (the day of receipt itself does not count)."""
    day, count = start, 0
    while count < n:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when answered the same day)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


def due_date(pref: Prefecture, received: date, origin: str = "email") -> date:
    key = "commitments.paper_working_days" if origin == "paper" else "commitments.email_working_days"
    return add_working_days(received, int(pref.get(key)))


def say_date(day: date) -> str:
    return french_date(day)
