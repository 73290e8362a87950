"""Paris time for the console: times are stored in UTC (ISO 8601, "+00:00") and shown in Europe/Paris
local time, summer time included (through bot.pan.naive, the project's one conversion to Paris)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from bot.pan import PARIS, naive


def paris(stamp: str | None) -> datetime | None:
    """A stored UTC timestamp as a naive Paris datetime; None for an empty or unreadable value.
    A stamp without an offset is UTC, like every stored time."""
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return naive(when if when.tzinfo else when.replace(tzinfo=timezone.utc))


def paris_datetime(stamp: str | None, seconds: bool = False) -> str:
    """'15/01/2026 00:30' (Paris time) for a stored UTC stamp, '—' when there is none."""
    when = paris(stamp)
    return when.strftime("%d/%m/%Y %H:%M:%S" if seconds else "%d/%m/%Y %H:%M") if when else "—"


def paris_date(stamp: str | None) -> str:
    when = paris(stamp)
    return when.strftime("%d/%m/%Y") if when else "—"


def utc_iso(stamp: str | None) -> str:
    """The machine-readable value of a <time> element (UTC, with its Z)."""
    if not stamp:
        return ""
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return ""
    when = when.astimezone(timezone.utc) if when.tzinfo else when
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def day_start_utc(day: date) -> str:
    """Midnight of a Paris day, in UTC, as a prefix comparable with stored stamps ('2026-01-14T23:00:00')."""
    return datetime.combine(day, time(0), tzinfo=PARIS).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def day_range_utc(first: date | None, last: date | None) -> tuple[str | None, str | None]:
    """[from, to) in stored UTC stamps for the Paris days first..last (both included); None = open."""
    return (day_start_utc(first) if first else None, day_start_utc(last + timedelta(days=1)) if last else None)
