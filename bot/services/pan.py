"""PAN appointments: slots from the préfecture config, booking without double booking, cancel.

Slots: each site's `days` (and `foreigners_days`, offered only for a titre de séjour), cut in
`pan.slot_minutes`, `capacity` people per slot (site value, else `pan.capacity`), never on a French
public holiday (the `holidays` package), never in the past or within `pan.min_notice_hours`, at
most `pan.booking_days_ahead` days ahead. Times are Paris local times, naive.

Booking runs in one `BEGIN IMMEDIATE` transaction (one writer at a time in SQLite; on PostgreSQL,
under the locks of its slot, its person and its idempotency key: docs/store.md), and a partial
UNIQUE index on (site, slot_start, seat) of active bookings makes a double booking impossible even
from several processes. An idempotency key books once: the same key returns the same booking.

Functions for the agent console: bookings_for_day, mark_no_show.

The sites and slots are in bot/services/pan_slots.py, the confirmation and the iCalendar file in
bot/services/pan_calendar.py; both are re-exported here (`pan.free_slots`, `pan.ics`...).
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import string
from datetime import UTC, date, datetime, timedelta

import phonenumbers

from bot.core import texts
from bot.core.clock import PARIS, naive, paris_now  # noqa: F401 - pan.PARIS, used by the channels
from bot.core.config import Prefecture
from bot.core.text import EMAIL
from bot.services import identity, mailer
from bot.services.pan_calendar import confirmation_lines, confirmation_text, ics, paris_vtimezone  # noqa: F401 - re-exported
from bot.services.pan_slots import (  # noqa: F401 - re-exported: import from bot.services.pan
    FOREIGNERS_REASON,
    STAMP,
    BookingError,
    Slot,
    capacity,
    earliest,
    free_slots,
    generate_slots,
    last_day,
    offer_others,
    reasons,
    say_when,
    say_when_voice,
    site,
    sites,
)
from bot.store.database import lock_key


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
    return next(store.db.query("select * from pan_bookings where reference = ?", [identity.written_reference(reference)]), None)


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
    call: str | None = None,
) -> dict:
    """Book a slot. Returns the booking row plus `created` (False for a replayed idempotency key).

    Raises BookingError (French message) for a bad input or a taken slot (with `next_slots`:
    `offer_others`); `too_many_bookings` when the same person (the keyed hash of the e-mail or mobile,
    or of the caller's own number by phone) already holds `pan.max_future_bookings` future
    appointments. A hidden number has no hash: by phone its `call` is the person (`person_caps`), and
    hidden numbers together are capped (`hidden_numbers_full`). Nothing is written when it raises.
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
    slot = _bookable_slot(pref, site_id, slot_start, reason, now)
    row = {
        "prefecture": pref.id,
        "site": site_id,
        "slot_start": slot.key,
        "slot_end": slot.end.strftime(STAMP),
        "reason": reason,
        "channel": channel,
        "contact_kind": contact_kind,
        "contact": contact,
        "contact_key": contact_key,
        "idempotency_key": idempotency_key,
    }
    conn = store.db.conn
    # What the checks below read: the key, the person's bookings, the slot's seats (on PostgreSQL,
    # bookings of other slots and people run in parallel: docs/store.md).
    keys = [lock_key("booking", idempotency_key)] if idempotency_key else []
    keys += [lock_key("slot", site_id, slot.key)] + ([lock_key("contact", contact_key)] if contact_key else [])
    hidden = caller is not None and not contact_key
    keys += [lock_key("hidden_numbers")] if hidden else []
    store.begin(*keys)
    try:
        if idempotency_key:
            existing = next(store.db.query("select * from pan_bookings where idempotency_key = ?", [idempotency_key]), None)
            if existing:
                conn.execute("commit")
                return existing | {"created": False}
        person_caps(conn, pref, contact_key, (call or "") if hidden else None, now)
        booking = _insert_booking(store, pref, row, capacity(pref, site_id))
        if contact_kind == "email":
            _queue_confirmation(conn, pref, contact, slot, booking)
        conn.execute("commit")
    except BaseException as exc:
        if conn.in_transaction:  # SQLite ends it itself when its COMMIT fails on a full disk: that error is said
            conn.execute("rollback")
        if isinstance(exc, BookingError) and exc.code == "slot_taken":
            offer_others(exc, store, pref, site_id, now, reason, slot.start)
        raise
    return booking | {"created": True}


def _queue_confirmation(conn, pref: Prefecture, email: str, slot: Slot, booking: dict) -> None:
    """The confirmation e-mail of a booking made with an e-mail address, queued in its transaction."""
    mailer.queue(
        conn,
        "booking_confirmation",
        email,
        texts.say("pan.email_subject", pref, when=say_when(slot.start), reference=booking["reference"]),
        confirmation_text(pref, booking),
        booking_id=booking["id"],
        ics=ics(pref, booking),
    )


def person_caps(conn, pref: Prefecture, contact_key: str | None, call_sid: str | None, now: datetime) -> None:
    """One person's limits before a booking (book; the phone's key 4): `pan.max_future_bookings` appointments
    to come per keyed hash of a contact, or per call from a hidden number (`call_sid`, no hash):
    `too_many_bookings`; hidden numbers together at most `pan.hidden_numbers.max_bookings` in `window_hours`
    (by `created_at`, cancelled aside: `hidden_numbers_full`), so that a robocaller cannot empty the agenda."""
    if contact_key or call_sid is None:
        if contact_key and future_bookings(conn, contact_key, now) >= int(pref.get("pan.max_future_bookings")):
            raise BookingError("too_many_bookings", pref)
        return
    prefix = f"call:{call_sid}:"  # book_by_phone's idempotency keys
    held = conn.execute(
        "select count(*) from pan_bookings where substr(idempotency_key, 1, ?) = ? and status = 'booked' and slot_start >= ?",
        [len(prefix), prefix, naive(now).strftime(STAMP)],
    ).fetchone()[0]
    if held >= int(pref.get("pan.max_future_bookings")):
        raise BookingError("too_many_bookings", pref)
    since = datetime.now(UTC) - timedelta(hours=float(pref.get("pan.hidden_numbers.window_hours")))
    recent = conn.execute(
        "select count(*) from pan_bookings where channel = 'phone' and contact_kind = 'caller' and contact_key is null"
        " and status != 'cancelled' and created_at >= ?",
        [since.isoformat(timespec="milliseconds")],
    ).fetchone()[0]
    if recent >= int(pref.get("pan.hidden_numbers.max_bookings")):
        raise BookingError("hidden_numbers_full", pref)


def _bookable_slot(pref: Prefecture, site_id: str, slot_start: str, reason: str, now: datetime) -> Slot:
    """The slot starting at `slot_start` ('2026-07-13T09:30') if the site offers it for this reason,
    it is not too soon and not past the booking window (the days free_slots offers); BookingError
    `bad_slot` / `past_slot` / `too_far` otherwise."""
    try:
        start = datetime.strptime(slot_start or "", STAMP)
    except ValueError:
        raise BookingError("bad_slot", pref) from None
    if start.date() > last_day(pref, now):
        raise BookingError("too_far", pref)
    if start.date() < now.date():
        raise BookingError("past_slot", pref)
    slot = next((s for s in generate_slots(pref, site_id, start.date(), 1, reason) if s.start == start), None)
    if slot is None:
        raise BookingError("bad_slot", pref)
    if slot.start < earliest(pref, now):
        raise BookingError("past_slot", pref)
    return slot


def _insert_booking(store, pref: Prefecture, row: dict, cap: int) -> dict:
    """Insert the booking on the first free seat of its slot, under a fresh reference, inside the
    caller's transaction; BookingError `slot_taken` when every seat is taken (also when another
    process took the last one first: the UNIQUE index on the seat refuses the second)."""
    conn = store.db.conn
    taken = {
        r[0]
        for r in conn.execute(
            "select seat from pan_bookings where site = ? and slot_start = ? and status != 'cancelled'",
            [row["site"], row["slot_start"]],
        )
    }
    free = [seat for seat in range(1, cap + 1) if seat not in taken]
    if not free:
        raise BookingError("slot_taken", pref)
    ts = mailer.utcnow()
    for _ in range(5):
        values = row | {"reference": new_reference("PAN"), "token": secrets.token_urlsafe(16), "seat": free[0]}
        values |= {"status": "booked", "created_at": ts, "updated_at": ts}
        try:
            cur = conn.execute(
                f"insert into pan_bookings ({', '.join(values)}) values ({', '.join('?' * len(values))})", list(values.values())
            )
            break
        except sqlite3.IntegrityError as exc:
            if "reference" not in str(exc):
                raise BookingError("slot_taken", pref) from None
    else:  # pragma: no cover - 5 collisions of 8 random digits
        raise RuntimeError("could not draw a booking reference")
    return next(store.db.query("select * from pan_bookings where id = ?", [cur.lastrowid]))


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


def booking_lock(reference: str) -> str:
    """The lock key of one booking's changes after it is made (a cancellation, a no-show, the purge of
    its contact): on PostgreSQL they wait only for the same booking's (docs/store.md)."""
    return lock_key("booking_ref", identity.written_reference(reference))


def cancel(store, pref: Prefecture, reference: str, contact: str, now: datetime | None = None) -> dict:
    """Cancel with the reference and the contact given at booking (e-mail, mobile, or the number
    called from for a booking by phone). The status is read again under the booking's key (and its
    slot's: the seat it frees), so two cancellations, or a cancellation and a no-show, of one booking
    take turns: one e-mail at most, never for a booking that is not cancelled."""
    booking = find_own(store, pref, reference, contact)
    if not booking:
        raise BookingError("not_found", pref)
    start = datetime.strptime(booking["slot_start"], STAMP)
    ts = mailer.utcnow()
    with store.transaction(booking_lock(booking["reference"]), lock_key("slot", booking["site"], booking["slot_start"])) as conn:
        status = conn.execute("select status from pan_bookings where id = ?", [booking["id"]]).fetchone()[0]
        if status == "cancelled":
            raise BookingError("already_cancelled", pref)
        if status != "booked" or start < naive(now or paris_now()):
            raise BookingError("past_slot", pref)
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


# ---- for the agent console -----------------------------------------------------------------


def bookings_for_day(store, site_id: str, day: date | str) -> list[dict]:
    """A site's bookings of one day (cancelled ones included, last), in time order."""
    day = day.isoformat() if isinstance(day, date) else str(day)
    return list(
        store.db.query(
            "select id, reference, site, slot_start, slot_end, seat, reason, channel, contact_kind, contact, status,"
            " created_at, cancelled_at, no_show_at from pan_bookings where site = ? and substr(slot_start, 1, 10) = ?"
            " order by status = 'cancelled', slot_start, seat",
            [site_id, day],
        )
    )


def mark_no_show(store, reference: str, no_show: bool = True) -> dict | None:
    """Mark (or unmark) a booking as a no-show. Returns the booking, None if unknown or cancelled."""
    ts = mailer.utcnow()
    # Under the booking's key: a savepoint inside the console's transaction (with its audit line).
    with store.transaction(booking_lock(reference)) as conn:
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
        call=call_sid,
    )


def reference_digits(reference: str, number_words: list[str]) -> str:
    """'PAN-1234-5678' -> 'un, deux, trois, quatre, cinq, six, sept, huit' (digit by digit)."""
    return ", ".join(number_words[int(d)] for d in reference if d.isdigit())
