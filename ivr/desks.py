"""What the call state machine may do in the store for one request: book, find and cancel a PAN
appointment (bot/services/pan.py), record the caller's rating (bot/services/feedback.py), or keep it
for the spool when a full disk refuses it (`kept_rating`).

Used on the phone's store threads (ivr/phone.py), with that thread's connection.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from bot.store.disk import disk_full

if TYPE_CHECKING:  # pragma: no cover
    from ivr.calls import Calls
    from ivr.phone import Phone


REFUSALS = ("too_many_bookings", "hidden_numbers_full")  # bookings refused to this caller, whatever the slot


class PanDesk:
    """PAN slots, bookings and cancellations for one phone request (bot/services/pan.py), at the
    call's clock. `caller` is Twilio's `From` of this request: never stored as such, only its keyed
    hash on a booking (bot.services.identity), to find the caller's own bookings again."""

    def __init__(self, phone: "Phone", store, call_sid: str, now, caller: str = ""):
        self.phone, self.store, self.call_sid, self.now, self.caller = phone, store, call_sid, now, caller

    def slots(self) -> list[dict]:
        from bot.services import pan

        found = pan.next_slots_any_site(self.store, self.phone.pref, pan.naive(self.now))
        return [{"site": s.site, "start": s.key} for s in found]

    def book(self, choice: dict) -> tuple[bool, object]:
        """(True, the booking), (False, the next free slots) when the slot was taken meanwhile, or
        (False, "too_many_bookings") when the caller's number (a hidden number: this call) already holds
        pan.max_future_bookings appointments to come, or (False, "hidden_numbers_full") when hidden
        numbers together booked pan.hidden_numbers.max_bookings lately (bot.services.pan.book)."""
        from datetime import datetime, timedelta

        from bot.services import pan

        store, pref = self.store, self.phone.pref
        start = datetime.strptime(choice["start"], pan.STAMP)
        slot = pan.Slot(choice["site"], start, start + timedelta(minutes=int(pref.get("pan.slot_minutes"))))
        try:
            booking = pan.book_by_phone(store, pref, slot, self.caller, self.call_sid, now=pan.naive(self.now))
        except pan.BookingError as exc:
            return False, exc.code if exc.code in REFUSALS else self.slots()
        return True, booking

    def refusal(self) -> str | None:
        """Why this caller may book nothing now, before any slot is offered (`pan.person_caps`, the
        checks `book` makes, read only): "too_many_bookings", "hidden_numbers_full", or None."""
        from bot.services import identity, pan

        key = identity.contact_key(self.store, identity.phone_number(self.caller))
        try:
            pan.person_caps(self.store.db.conn, self.phone.pref, key, self.call_sid, pan.naive(self.now))
        except pan.BookingError as exc:
            return exc.code
        return None

    def identified(self) -> bool:
        """Whether the caller's number is known (not hidden): their bookings can be found."""
        from bot.services import identity

        return identity.phone_number(self.caller) is not None

    def find(self, reference: str) -> dict | None:
        """The booking with this reference made from the caller's number, with `past` (its time has
        come); None when there is none (another number's booking is never found)."""
        from datetime import datetime

        from bot.services import pan

        booking = pan.find_own(self.store, self.phone.pref, reference, self.caller)
        if booking is None:
            return None
        return booking | {"past": datetime.strptime(booking["slot_start"], pan.STAMP) < pan.naive(self.now)}

    def cancel(self, reference: str) -> str | None:
        """Cancel the caller's booking: None when done, else the refusal's code (not_found, already_cancelled, past_slot)."""
        from bot.services import pan

        try:
            pan.cancel(self.store, self.phone.pref, reference, self.caller, now=pan.naive(self.now))
        except pan.BookingError as exc:
            return exc.code
        return None


class FeedbackDesk:
    """The caller's "cette réponse m'a aidé" or not (bot/feedback.py): one rating per call, a replay rewrites the same row.
    `waiting` (the step's, ivr/call_hooks.py `Step.rating`): where a rating the store refuses for a full
    disk is put, [node id, useful], for the spool to write once space is freed (`kept_rating`): the
    caller is thanked as with a free disk."""

    def __init__(self, phone: "Phone", store, call_sid: str, waiting: list | None = None):
        self.phone, self.store, self.call_sid, self.waiting = phone, store, call_sid, waiting

    def record(self, node_id: str, useful: bool = True) -> None:
        try:
            rate(self.store, self.phone.pref.id, self.phone.tree, self.call_sid, node_id, useful)
        except sqlite3.Error as exc:
            if self.waiting is None or not disk_full(exc):
                raise
            self.waiting[:] = [node_id, useful]


def rate(store, prefecture: str, tree, call_sid: str, node_id: str, useful: bool) -> None:
    """The call's rating of the answer at `node_id`, with what was rated (its topic and destination)."""
    from bot.services import feedback

    node = tree.node(node_id)
    feedback.record(store, "phone", call_sid, prefecture, useful, topic=node.topic, destination=node.destination)


def kept_rating(calls: "Calls", call_sid: str, node_id: str, useful: bool) -> None:
    """A rating a full disk refused (`FeedbackDesk.waiting`), written from the spool (ivr/phone.py `Phone.keep`)."""
    rate(calls.store, calls.pref.id, calls.tree, call_sid, node_id, useful)
