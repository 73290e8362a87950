"""Migration 008: throttling (issue 13, part 8) and the person's key on bookings.

- `throttle_events`: one row per counted event (a failed login, a booking, a cancellation, a message,
  a wrong cancellation guess) with its scope, the keyed hash of who did it (client address or typed
  account name, never in clear) and when (epoch seconds). Sliding windows count these rows; the
  retention purge deletes them after `retention.throttle_days`.
- `login_lockouts`: an account name locked after too many failed logins, until an admin lifts it.
- `pan_bookings.contact_key`: the keyed hash of the person's contact (bot.services.identity), to
  count one person's future appointments whatever the spelling of their e-mail or phone number.
"""

from __future__ import annotations

import sqlite_utils


def m008_throttle(db: sqlite_utils.Database) -> None:
    db.execute("""
        create table throttle_events (
            id integer primary key,
            scope text not null,              -- login_address | login_account | book | cancel | message | cancel_guess
            key text not null,                -- keyed hash of the client address or of the typed name
            ts real not null                  -- epoch seconds
        )""")
    db.execute("create index throttle_events_key on throttle_events(scope, key, ts)")
    db.execute("create index throttle_events_ts on throttle_events(ts)")
    db.execute("""
        create table login_lockouts (
            key text primary key,             -- keyed hash of the account name (bot.services.throttle)
            locked_at text not null,          -- UTC ISO stamp
            failures integer not null
        )""")
    db.execute("alter table pan_bookings add column contact_key text")
    db.execute("create index pan_bookings_person on pan_bookings(contact_key, status, slot_start)")
