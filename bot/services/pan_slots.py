"""PAN sites and their slots: each site's `days` (and `foreigners_days`, offered only for a titre de
séjour), cut in `pan.slot_minutes`, `capacity` people per slot, never on a French public holiday nor
on one of the préfecture's closure days (`prefecture.phone_hours.closures`), never within `pan.min_notice_hours`, never past `pan.booking_days_ahead` (last_day); which of them are still free. And BookingError, the refusal
every PAN function raises. Part of bot/services/pan.py, which re-exports it: import from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.core import clock, texts
from bot.core.clock import DAYS, PARIS, french_date, is_holiday, naive, paris_now, say_time
from bot.core.closures import closed_on
from bot.core.config import Prefecture

STAMP = "%Y-%m-%dT%H:%M"
FOREIGNERS_REASON = "titre_sejour"


class BookingError(Exception):
    """A refused booking or cancellation: `code` names the text under pan.errors in tree.yml."""

    def __init__(self, code: str, pref: Prefecture | None = None, **extra):
        self.code = code
        self.message = texts.say(f"pan.errors.{code}", pref, **extra) if pref else code
        self.next_slots: list[Slot] = []
        super().__init__(self.message)


@dataclass(frozen=True)
class Slot:
    site: str
    start: datetime
    end: datetime
    foreigners: bool = False

    @property
    def key(self) -> str:
        return self.start.strftime(STAMP)


def say_when(start: datetime) -> str:
    """'lundi 13 juillet 2026 à 9 h 30' (the tree's `calendar` patterns)."""
    return clock.words()["when"].format(date=french_date(start.date()), time=say_time(start.hour, start.minute))


def say_when_voice(start: datetime) -> str:
    """'lundi 13 juillet, à 9 heures 30', as the phone says it."""
    pattern = clock.words()["when_voice_minutes" if start.minute else "when_voice"]
    weekday, month = clock.weekdays()[start.weekday()], clock.month_name(start.month)
    return pattern.format(weekday=weekday, day=clock.day_of_month(start.day), month=month, hour=start.hour, minutes=start.minute)


def sites(pref: Prefecture) -> list[dict]:
    return list(pref.get("pan.sites"))


def site(pref: Prefecture, site_id: str) -> dict:
    for s in sites(pref):
        if s["id"] == site_id:
            return s
    raise BookingError("unknown_site", pref)


def capacity(pref: Prefecture, site_id: str) -> int:
    return int(site(pref, site_id).get("capacity") or pref.get("pan.capacity"))


def reasons(pref: Prefecture) -> dict[str, str]:
    return {k: str(v) for k, v in texts.raw("pan.reasons").items()}


def generate_slots(pref: Prefecture, site_id: str, first_day: date, days: int, reason: str | None = None) -> list[Slot]:
    """Every slot of a site from `first_day` for `days` days (public holidays and the préfecture's
    closure days skipped), in time order."""
    spec = site(pref, site_id)
    step = timedelta(minutes=int(pref.get("pan.slot_minutes")))
    out: list[Slot] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if is_holiday(day) or closed_on(pref, day):
            continue
        key = DAYS[day.weekday()]
        ranges = [(r, False) for r in (spec.get("days") or {}).get(key) or []]
        if reason == FOREIGNERS_REASON:
            ranges += [(r, True) for r in (spec.get("foreigners_days") or {}).get(key) or []]
        for span, foreigners in ranges:
            start_s, end_s = span.split("-")
            start = datetime.combine(day, datetime.strptime(start_s, "%H:%M").time())
            end = datetime.combine(day, datetime.strptime(end_s, "%H:%M").time())
            while start + step <= end:
                out.append(Slot(site_id, start, start + step, foreigners))
                start += step
    return sorted(out, key=lambda s: s.start)


def earliest(pref: Prefecture, now: datetime) -> datetime:
    """The first start far enough ahead: `pan.min_notice_hours` hours of real time after `now` (a naive
    `now` is Paris time), as a Paris time; counted in UTC, so a notice over the night of a summer-time
    change is neither an hour short nor an hour long."""
    aware = now if now.tzinfo else now.replace(tzinfo=PARIS)
    return naive(aware.astimezone(UTC) + timedelta(hours=int(pref.get("pan.min_notice_hours"))))


def last_day(pref: Prefecture, now: datetime) -> date:
    """The last day of the booking window: `pan.booking_days_ahead` days, today included (the days
    free_slots offers). A slot after it is refused (BookingError `too_far`)."""
    return naive(now).date() + timedelta(days=int(pref.get("pan.booking_days_ahead")) - 1)


def _used(conn, site_id: str, keys: list[str]) -> dict[str, int]:
    if not keys:
        return {}
    marks = ",".join("?" * len(keys))
    rows = conn.execute(
        f"select slot_start, count(*) from pan_bookings where site = ? and status != 'cancelled'"
        f" and slot_start in ({marks}) group by slot_start",
        [site_id, *keys],
    ).fetchall()
    return dict(rows)


def offer_others(exc: BookingError, store, pref: Prefecture, site_id: str, now: datetime, reason: str, after: datetime) -> None:
    """A slot taken meanwhile (`exc`, slot_taken): the free slots after it, else the first free ones, else
    its message says that none is left (pan.errors.slot_taken_none)."""
    exc.next_slots = free_slots(store, pref, site_id, now, reason=reason, after=after)
    exc.next_slots = exc.next_slots or free_slots(store, pref, site_id, now, reason=reason)
    if not exc.next_slots:
        exc.message = texts.say("pan.errors.slot_taken_none", pref)
        exc.args = (exc.message,)


def free_slots(
    store,
    pref: Prefecture,
    site_id: str,
    now: datetime | None = None,
    limit: int = 6,
    reason: str | None = None,
    after: datetime | None = None,
) -> list[Slot]:
    """The next free slots of a site after `now` (+ minimum notice), from `after` if given."""
    now = naive(now or paris_now())
    first = max(earliest(pref, now), after or now)
    days = (last_day(pref, now) - now.date()).days + 1
    candidates = [s for s in generate_slots(pref, site_id, now.date(), days, reason) if s.start >= first]
    cap = capacity(pref, site_id)
    used = _used(store.db.conn, site_id, [s.key for s in candidates])
    return [s for s in candidates if used.get(s.key, 0) < cap][:limit]
