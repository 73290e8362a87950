"""Migration 009: what a caller needs to find their own booking and message again.

- `pan_bookings.contact_key` (added by migration 008_throttle): the keyed hash
  (bot.services.identity.contact_key) of the contact a booking was made with: the caller's number
  (Twilio's `From`) for a booking by phone, the e-mail address or mobile number typed online
  otherwise. A cancellation (online or by phone) matches the contact given on it, so the caller
  cancels with their own number and nobody cancels with the masked placeholder a phone booking used
  to keep in `contact`. Those placeholders are cleared here.
- `tickets.callback`: the number a voicemail was left from, kept apart from the message so that it
  is shown only in the agents' console (each view audit-logged), never e-mailed, and erased with
  the ticket by the retention purge (bot.services.tickets.purge).
"""

from __future__ import annotations

import sqlite_utils


def m009_phone_contacts(db: sqlite_utils.Database) -> None:
    db.execute("update pan_bookings set contact = null where contact_kind = 'caller'")  # the masked '[téléphone]'
    db.execute("alter table tickets add column callback text")  # personal: erased by the purge
