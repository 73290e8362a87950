"""Migration 005 (applied by bot/store/database.py): satisfaction ratings, the demo-data mark, period indexes.

- `feedback`: one rating per conversation (chat) or call (phone): useful / not useful, and an optional
  comment (masked before it is written, at most 500 characters). A second rating of the same item
  replaces the first (the person changed their mind), so the rate counts people, not clicks.
- `demo`: rows written by `python -m tools.demo_data` are marked 1 (after the generator drove the real
  endpoints); indicators and the committee report leave them out unless asked.
- Indexes on (prefecture, time) so that a year of traffic is read by range, not by a full scan.
"""

from __future__ import annotations

import sqlite_utils

DEMO_TABLES = ("conversations", "calls", "tickets", "pan_bookings", "feedback")


def m005_quality(db: sqlite_utils.Database) -> None:
    db.execute("""
        create table feedback (
            id integer primary key,
            kind text not null,               -- chat | phone
            item_id text not null,            -- conversation id | CallSid
            prefecture text not null,
            useful integer not null,          -- 1 useful | 0 not useful
            comment text,                     -- masked, at most 500 characters
            topic text,                       -- what was rated: the last routed topic and destination
            destination text,
            created_at text not null,
            updated_at text not null
        )""")
    db.execute("create unique index feedback_item on feedback(kind, item_id)")
    for table in DEMO_TABLES:
        db.execute(f"alter table {table} add column demo integer not null default 0")
    db.execute("create index feedback_period on feedback(prefecture, created_at)")
    db.execute("create index conversations_period on conversations(prefecture, started_at)")
    db.execute("create index calls_period on calls(prefecture, started_at)")
    db.execute("create index tickets_period on tickets(prefecture, created_at)")
    db.execute("create index pan_bookings_period on pan_bookings(prefecture, slot_start)")
