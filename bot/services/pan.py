"""PAN appointments: slots from the préfecture config, booking without double booking, cancel.

Slots: each site's `days` (and `foreigners_days`, offered only for a titre de séjour), cut in
`pan.slot_minutes`, `capacity` people per slot (site value, else `pan.capacity`), never on a French
public holiday (the `holidays` package), never in the past or within `pan.min_notice_hours`, at
most `pan.booking_days_ahead` days ahead. Times are Paris local times, naive.

Booking runs in one `BEGIN IMMEDIATE` transaction (one writer at a time in SQLite), and a partial
UNIQUE index on (site, slot_start, seat) of active bookings makes a double booking impossible even
from several processes. An idempotency key books once: the same key returns the same booking.

Functions for the agent console: bookings_for_day, mark_no_show.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

from bot.core import texts
from bot.core.clock import DAYS, MONTHS, PARIS, WEEKDAYS, is_holiday, naive, paris_now
from bot.core.config import Prefecture
from bot.core.text import EMAIL
from bot.services import identity, mailer
from bot.store.database import fetch_dict, fetch_dicts

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
    """'lundi 13 juillet 2026 à 9 h 30'."""
    minutes = f"{start.minute:02d}" if start.minute else ""
    hour = f"{start.hour} h {minutes}".strip()
    return f"{WEEKDAYS[start.weekday()]} {start.day} {MONTHS[start.month - 1]} {start.year} à {hour}"


def say_when_voice(start: datetime) -> str:
    minutes = f" {start.minute}" if start.minute else ""
    return f"{WEEKDAYS[start.weekday()]} {start.day} {MONTHS[start.month - 1]}, à {start.hour} heures{minutes}"


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
    """Every slot of a site from `first_day` for `days` days (holidays skipped), in time order."""
    spec = site(pref, site_id)
    step = timedelta(minutes=int(pref.get("pan.slot_minutes")))
    out: list[Slot] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if is_holiday(day):
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


def _earliest(pref: Prefecture, now: datetime) -> datetime:
    return naive(now) + timedelta(hours=int(pref.get("pan.min_notice_hours")))


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
    earliest = max(_earliest(pref, now), after or now)
    candidates = [
        s
        for s in generate_slots(pref, site_id, now.date(), int(pref.get("pan.booking_days_ahead")), reason)
        if s.start >= earliest
    ]
    cap = capacity(pref, site_id)
    used = _used(store.db.conn, site_id, [s.key for s in candidates])
    return [s for s in candidates if used.get(s.key, 0) < cap][:limit]


def validate_email(value: str, pref: Prefecture, code: str = "bad_email") -> str:
    value = (value or "").strip()
    if len(value) > 254 or not EMAIL.match(value) or ".." in value:
        raise BookingError(code, pref)
    return value


def validate_mobile(value: str, pref: Prefecture) -> str:
    """A French mobile number (06/07, or +33 6/7) -> its national format, in groups of two digits."""
    raw = (value or "").strip()
    if not re.fullmatch(r"[0-9 .+()-]{8,20}", raw):
        raise BookingError("bad_mobile", pref)
    try:
        number = phonenumbers.parse(raw, "FR")
    except phonenumbers.NumberParseException:
        raise BookingError("bad_mobile", pref) from None
    if (
        number.country_code != 33
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE
    ):
        raise BookingError("bad_mobile", pref)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def validate_contact(email: str | None, mobile: str | None, pref: Prefecture) -> tuple[str, str]:
    email, mobile = (email or "").strip(), (mobile or "").strip()
    if email:
        return "email", validate_email(email, pref)
    if mobile:
        return "mobile", validate_mobile(mobile, pref)
    raise BookingError("contact_missing", pref)


def new_reference(prefix: str) -> str:
    digits = "".join(secrets.choice(string.digits) for _ in range(8))
    return f"{prefix}-{digits[:4]}-{digits[4:]}"


def get_booking(store, reference: str) -> dict | None:
    return fetch_dict(store.db.conn, "select * from pan_bookings where reference = ?", [(reference or "").strip().upper()])


def future_bookings(conn, person: str, now: datetime) -> int:
    """How many appointments, not cancelled and not yet begun, this person holds."""
    return conn.execute(
        "select count(*) from pan_bookings where contact_key = ? and status = 'booked' and slot_start >= ?",
        [person, naive(now).strftime(STAMP)],
    ).fetchone()[0]


def book(
    store,
    pref: Prefecture,
    site_id: str,
    slot_start: str,
    reason: str,
    *,
    email: str | None = None,
    mobile: str | None = None,
    caller: str | None = None,
    channel: str = "web",
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Book a slot. Returns the booking row plus `created` (False for a replayed idempotency key).

    Raises BookingError (French message) for a bad input or a taken slot; on `slot_taken` the
    error carries `next_slots`; `too_many_bookings` when the same person (the keyed hash of the
    e-mail or mobile, or of the caller's own number by phone; a hidden number is nobody in
    particular and is not counted) already holds `pan.max_future_bookings` future appointments.
    Nothing is written when it raises.
    """
    now = naive(now or paris_now())
    site(pref, site_id)  # raises BookingError for an unknown site
    if reason not in reasons(pref):
        raise BookingError("unknown_reason", pref)
    if caller is not None:  # by phone: only the keyed hash of the caller's own number is kept
        contact_kind, contact = "caller", None
        contact_key = identity.contact_key(store, identity.phone_number(caller))
    else:
        contact_kind, contact = validate_contact(email, mobile, pref)
        contact_key = identity.contact_key(store, contact)
    try:
        start = datetime.strptime(slot_start or "", STAMP)
    except ValueError:
        raise BookingError("bad_slot", pref) from None
    slot = next((s for s in generate_slots(pref, site_id, start.date(), 1, reason) if s.start == start), None)
    if slot is None:
        raise BookingError("bad_slot", pref)
    if slot.start < _earliest(pref, now):
        raise BookingError("past_slot", pref)
    cap = capacity(pref, site_id)
    conn = store.db.conn
    ts = mailer.utcnow()
    conn.execute("begin immediate")
    try:
        if idempotency_key:
            existing = fetch_dict(conn, "select * from pan_bookings where idempotency_key = ?", [idempotency_key])
            if existing:
                conn.execute("commit")
                return existing | {"created": False}
        if contact_key and future_bookings(conn, contact_key, now) >= int(pref.get("pan.max_future_bookings")):
            raise BookingError("too_many_bookings", pref)
        taken = {
            r[0]
            for r in conn.execute(
                "select seat from pan_bookings where site = ? and slot_start = ? and status != 'cancelled'", [site_id, slot.key]
            )
        }
        free = [seat for seat in range(1, cap + 1) if seat not in taken]
        if not free:
            raise BookingError("slot_taken", pref)
        for _ in range(5):
            reference = new_reference("PAN")
            try:
                cur = conn.execute(
                    "insert into pan_bookings (reference, token, prefecture, site, slot_start, slot_end, seat,"
                    " reason, channel, contact_kind, contact, contact_key, status, idempotency_key, created_at,"
                    " updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'booked', ?, ?, ?)",
                    [
                        reference,
                        secrets.token_urlsafe(16),
                        pref.id,
                        site_id,
                        slot.key,
                        slot.end.strftime(STAMP),
                        free[0],
                        reason,
                        channel,
                        contact_kind,
                        contact,
                        contact_key,
                        idempotency_key,
                        ts,
                        ts,
                    ],
                )
                break
            except sqlite3.IntegrityError as exc:
                if "reference" not in str(exc):
                    raise BookingError("slot_taken", pref) from None
        else:  # pragma: no cover - 5 collisions of 8 random digits
            raise RuntimeError("could not draw a booking reference")
        booking = fetch_dict(conn, "select * from pan_bookings where id = ?", [cur.lastrowid])
        if contact_kind == "email":
            mailer.queue(
                conn,
                "booking_confirmation",
                contact,
                texts.say("pan.email_subject", pref, when=say_when(slot.start), reference=reference),
                confirmation_text(pref, booking),
                booking_id=booking["id"],
                ics=ics(pref, booking),
            )
        conn.execute("commit")
    except BookingError as exc:
        conn.execute("rollback")
        if exc.code == "slot_taken":
            exc.next_slots = free_slots(store, pref, site_id, now, reason=reason, after=slot.start)
        raise
    except BaseException:
        conn.execute("rollback")
        raise
    return booking | {"created": True}


def confirmation_lines(pref: Prefecture, booking: dict) -> list[str]:
    spec = site(pref, booking["site"])
    start = datetime.strptime(booking["slot_start"], STAMP)
    return [
        texts.say("pan.confirmed", pref, when=say_when(start), site=spec["name"], address=spec["address"]["text"]),
        texts.say("pan.reference", pref, reference=booking["reference"]),
        texts.say("pan.bring", pref),
        texts.say("pan.cancel_how", pref),
    ]


def confirmation_text(pref: Prefecture, booking: dict) -> str:
    return "\n\n".join(confirmation_lines(pref, booking)) + "\n"


def same_contact(store, pref: Prefecture, booking: dict, contact: str | None) -> bool:
    """Whether `contact` is the one the booking was made with: the e-mail address or mobile typed
    online, or the number a phone booking was made from, compared on their keyed hashes
    (bot.services.identity: a number in pairs is the same number in E.164). A booking made before the hashes
    (migration 009) is compared on its stored e-mail or mobile; a phone booking without a hash (made
    from a hidden number, or before) matches nothing: an agent cancels it."""
    contact = (contact or "").strip()
    if not booking or not contact:
        return False
    if booking.get("contact_key"):
        return identity.same_contact(store, contact, booking["contact_key"])
    if booking["contact_kind"] not in ("email", "mobile") or not booking["contact"]:
        return False
    if booking["contact_kind"] == "mobile":
        try:
            contact = validate_mobile(contact, pref)
        except BookingError:
            return False
    return contact.lower() == booking["contact"].lower()


def find_own(store, pref: Prefecture, reference: str, contact: str | None) -> dict | None:
    """The booking with this reference made with this contact (see same_contact), else None."""
    booking = get_booking(store, reference)
    return booking if booking and same_contact(store, pref, booking, contact) else None


def cancel(store, pref: Prefecture, reference: str, contact: str, now: datetime | None = None) -> dict:
    """Cancel with the reference and the contact given at booking (e-mail, mobile, or the number
    called from for a booking by phone)."""
    booking = find_own(store, pref, reference, contact)
    if not booking:
        raise BookingError("not_found", pref)
    if booking["status"] == "cancelled":
        raise BookingError("already_cancelled", pref)
    start = datetime.strptime(booking["slot_start"], STAMP)
    if start < naive(now or paris_now()):
        raise BookingError("past_slot", pref)
    ts = mailer.utcnow()
    with store.transaction() as conn:
        conn.execute(
            "update pan_bookings set status = 'cancelled', cancelled_at = ?, updated_at = ? where id = ? and status = 'booked'",
            [ts, ts, booking["id"]],
        )
        if booking["contact_kind"] == "email":
            text = texts.say("pan.cancelled", pref, reference=booking["reference"], when=say_when(start))
            mailer.queue(
                conn,
                "booking_cancelled",
                booking["contact"],
                texts.say("pan.email_cancel_subject", pref, reference=booking["reference"]),
                text + "\n",
                booking_id=booking["id"],
            )
    return get_booking(store, reference)


def paris_vtimezone():
    """The VTIMEZONE of Europe/Paris with its RFC 5545 rules (EU summer time since 1996): DAYLIGHT
    from the last Sunday of March at 02:00 (+01:00 -> +02:00), STANDARD from the last Sunday of
    October at 03:00 (+02:00 -> +01:00). DTSTART is the local time of the change in the offset it
    changes from, as RFC 5545 3.6.5 asks."""
    from datetime import timedelta as td

    from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

    tz = Timezone()
    tz.add("tzid", "Europe/Paris")
    daylight = TimezoneDaylight()
    daylight.add("dtstart", datetime(1996, 3, 31, 2, 0))
    daylight.add("rrule", {"freq": "yearly", "bymonth": 3, "byday": "-1su"})
    daylight.add("tzoffsetfrom", td(hours=1))
    daylight.add("tzoffsetto", td(hours=2))
    daylight.add("tzname", "CEST")
    standard = TimezoneStandard()
    standard.add("dtstart", datetime(1996, 10, 27, 3, 0))
    standard.add("rrule", {"freq": "yearly", "bymonth": 10, "byday": "-1su"})
    standard.add("tzoffsetfrom", td(hours=2))
    standard.add("tzoffsetto", td(hours=1))
    standard.add("tzname", "CET")
    tz.add_component(daylight)
    tz.add_component(standard)
    return tz


def ics(pref: Prefecture, booking: dict) -> str:
    """The iCalendar file of a booking (no personal data in it: reference, place and time), with
    the VTIMEZONE its Paris times refer to."""
    from icalendar import Calendar, Event

    spec = site(pref, booking["site"])
    cal = Calendar()
    cal.add("prodid", "-//Aiguillage//PAN//FR")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    cal.add_component(paris_vtimezone())
    event = Event()
    event.add("uid", f"{booking['reference']}@aiguillage")
    event.add("dtstamp", datetime.now(ZoneInfo("UTC")))
    event.add("dtstart", datetime.strptime(booking["slot_start"], STAMP).replace(tzinfo=PARIS))
    event.add("dtend", datetime.strptime(booking["slot_end"], STAMP).replace(tzinfo=PARIS))
    event.add("summary", texts.say("pan.ics_summary", pref, reference=booking["reference"]))
    event.add("location", f"{spec['name']}, {spec['address']['text']}")
    event.add("description", "\n".join(confirmation_lines(pref, booking)))
    if booking["status"] == "cancelled":
        event.add("status", "CANCELLED")
    cal.add_component(event)
    return cal.to_ical().decode("utf-8")


# ---- for the agent console -----------------------------------------------------------------


def bookings_for_day(store, site_id: str, day: date | str) -> list[dict]:
    """A site's bookings of one day (cancelled ones included, last), in time order."""
    day = day.isoformat() if isinstance(day, date) else str(day)
    return fetch_dicts(
        store.db.conn,
        "select id, reference, site, slot_start, slot_end, seat, reason, channel, contact_kind, contact, status,"
        " created_at, cancelled_at, no_show_at from pan_bookings where site = ? and substr(slot_start, 1, 10) = ?"
        " order by status = 'cancelled', slot_start, seat",
        [site_id, day],
    )


def mark_no_show(store, reference: str, no_show: bool = True) -> dict | None:
    """Mark (or unmark) a booking as a no-show. Returns the booking, None if unknown or cancelled."""
    ts = mailer.utcnow()
    with store.transaction() as conn:  # a savepoint inside the console's transaction (with its audit line)
        conn.execute(
            "update pan_bookings set status = ?, no_show_at = ?, updated_at = ? where reference = ?"
            " and status in ('booked', 'no_show')",
            ["no_show" if no_show else "booked", ts if no_show else None, ts, reference],
        )
    booking = get_booking(store, reference)
    return booking if booking and booking["status"] != "cancelled" else None


# ---- building blocks for the phone offer (ivr/channel.py PanDesk) ----------------------------


def next_slots_any_site(store, pref: Prefecture, now: datetime | None = None, n: int = 3) -> list[Slot]:
    """The n earliest free slots over all the préfecture's sites (for 'tapez 1, 2 ou 3')."""
    found: list[Slot] = []
    for spec in sites(pref):
        found += free_slots(store, pref, spec["id"], now, limit=n)
    return sorted(found, key=lambda s: (s.start, s.site))[:n]


def book_by_phone(store, pref: Prefecture, slot: Slot, caller: str, call_sid: str, now: datetime | None = None) -> dict:
    """Book for a caller who accepted a slot: no e-mail; of the caller's number (Twilio's `From`) the
    row keeps only its keyed hash (`contact_key`), to cancel with it later, by phone or online.
    A webhook Twilio sends twice books once (idempotency key = call + slot)."""
    return book(
        store,
        pref,
        slot.site,
        slot.key,
        "autre",
        caller=caller or "",
        channel="phone",
        idempotency_key=f"call:{call_sid}:{slot.site}:{slot.key}",
        now=now,
    )


def reference_digits(reference: str, number_words: list[str]) -> str:
    """'PAN-1234-5678' -> 'un, deux, trois, quatre, cinq, six, sept, huit' (digit by digit)."""
    return ", ".join(number_words[int(d)] for d in reference if d.isdigit())
