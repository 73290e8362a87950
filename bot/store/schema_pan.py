"""Migration 004 (applied by bot/store/database.py): PAN bookings, service-mailbox tickets, the e-mail outbox.

Personal data (a contact the user chose to give for the answer, a message's text) lives ONLY in
these rows, never in conversation logs; `bot.services.tickets.purge` erases it after the retention period.
"""

from __future__ import annotations

import sqlite_utils


def m004_pan_and_tickets(db: sqlite_utils.Database) -> None:
    db.execute("""
        create table pan_bookings (
            id integer primary key,
            reference text not null unique,
            token text not null,              -- secret of the confirmation links (.ics)
            prefecture text not null,
            site text not null,
            slot_start text not null,         -- Paris local time, 'YYYY-MM-DDTHH:MM'
            slot_end text not null,
            seat integer not null,            -- 1..capacity of the slot
            reason text not null,
            channel text not null,            -- web | phone
            contact_kind text,                -- email | mobile | caller (phone: masked caller number)
            contact text,                     -- personal: erased by the purge
            status text not null,             -- booked | cancelled | no_show
            idempotency_key text,
            created_at text not null,
            updated_at text not null,
            cancelled_at text,
            no_show_at text,
            purged_at text
        )""")
    # No double booking: one active booking per (site, slot, seat); a cancelled one frees its seat.
    db.execute("create unique index pan_bookings_seat on pan_bookings(site, slot_start, seat) where status != 'cancelled'")
    db.execute("create unique index pan_bookings_idem on pan_bookings(idempotency_key) where idempotency_key is not null")
    db.execute("create index pan_bookings_day on pan_bookings(site, slot_start)")
    db.execute("""
        create table tickets (
            id integer primary key,
            reference text not null unique,
            prefecture text not null,
            mailbox text not null,            -- key of the préfecture's `mailboxes`
            service text not null,
            service_email text not null,
            origin text not null,             -- email | paper (the due date depends on it)
            channel text not null,            -- web | phone
            subject text,                     -- personal: erased by the purge
            body text,                        -- personal: erased by the purge
            contact_email text,               -- personal: erased by the purge
            created_at text not null,
            due_date text not null,           -- 'YYYY-MM-DD'
            status text not null,             -- open | answered
            delivery_status text not null,    -- pending | sent | failed (to the service mailbox)
            delivery_attempts integer not null default 0,
            last_error text,
            delivered_at text,
            answered_at text,
            answer_seconds integer,           -- time to answer, kept for the indicators
            answer_working_days integer,
            idempotency_key text,
            purged_at text
        )""")
    db.execute("create unique index tickets_idem on tickets(idempotency_key) where idempotency_key is not null")
    db.execute("create index tickets_service_due on tickets(mailbox, status, due_date)")
    # The SQL's comments are those of this migration as applied; what the code writes now
    # (bot/services/mailer.py): outbox.status is pending (not tried yet) | sending (claimed by a process:
    # `_claim`) | sent | failed (tried again) | rejected (refused for good, never tried again), and
    # tickets.delivery_status the last outcome of its e-mail: pending | sent | failed | rejected.
    # outbox.kind is also ticket_reply (an agent's reply from the console: bot/services/ticket_mail.py).
    db.execute("""
        create table outbox (
            id integer primary key,
            kind text not null,               -- ticket | ticket_ack | booking_confirmation | booking_cancelled
            ticket_id integer,
            booking_id integer,
            to_addr text,                     -- personal when it is the user's address
            reply_to text,
            subject text,
            body text,
            ics text,
            status text not null,             -- pending | sent | failed
            attempts integer not null default 0,
            last_error text,
            created_at text not null,
            updated_at text not null,
            sent_at text
        )""")
    db.execute("create index outbox_status on outbox(status, id)")
