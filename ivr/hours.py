"""Is the préfecture's standard open now? Europe/Paris time, closed on French public holidays.

The clock can be fixed for tests and the simulator:
- `IVR_NOW=2026-07-14T10:00` (environment) fixes "now" for the whole process;
- the request header `X-Ivr-Now: 2026-07-14T10:00` fixes it for one request, honoured ONLY when
  the server runs with `IVR_LOCAL_DEV=1` or `IVR_TEST_CLOCK=1` (never in production).
Naive times are Paris local times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot import settings
from bot.core import clock
from bot.core.clock import DAYS, PARIS
from bot.services import runtime

CLOCK_HEADER = clock.TEST_CLOCK_HEADER
DAY_KEYS = DAYS


parse_time = clock.parse_paris


def clock_override_allowed() -> bool:
    return settings.phone_test_clock()


def now(header: str | None = None) -> datetime:
    """Paris time now: the header (when allowed), else IVR_NOW, else the real clock."""
    return runtime.opening_now(header)


def is_holiday(when: datetime) -> bool:
    return clock.is_holiday(when.date())


@dataclass(frozen=True)
class OpenAt:
    """Opening hours at one moment: truthy when the préfecture's standard is open (what the flow
    passes around as `open_now`), and `contact_open(days)` for another line (the CCC) with its own
    published hours; a line without published hours follows the standard's."""

    when: datetime
    days: dict
    closures: tuple = ()  # the préfecture's exceptional closure days (ponts...), ISO dates

    def __bool__(self) -> bool:
        return is_open(self.days, self.when, self.closures)

    def contact_open(self, days: dict | None) -> bool:
        return is_open(days, self.when) if days else bool(self)


def is_open(days: dict[str, list[str]], when: datetime, closures=()) -> bool:
    """True when `when` falls in one of the day's 'HH:MM-HH:MM' ranges and is neither a public holiday
    nor one of `closures` (dates, e.g. a pont: `prefecture.phone_hours.closures` in the préfecture file)."""
    when = when.astimezone(PARIS)
    if is_holiday(when) or when.date().isoformat() in {str(day) for day in closures or ()}:
        return False
    hm = when.strftime("%H:%M")
    for span in days.get(DAY_KEYS[when.weekday()]) or []:
        start, end = span.split("-")
        if start <= hm < end:
            return True
    return False
