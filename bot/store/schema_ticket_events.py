"""Migration 006 (applied by bot/store.py): the history of a service-mailbox ticket.

One row per event of a ticket, oldest first: `created`, `reply` (an e-mail written by an agent in
the console, sent through the outbox), `reassigned` (to another service mailbox), `answered` (with
the answer given, by e-mail, phone or post) and `reopened`. Times are UTC, like every other stored
time; pages show them in Paris time.

`body` (the text of a reply or of the answer noted by the agent) is personal data like the ticket's
own text: it is not masked (the person needs the real answer), lives only here, and is erased by
`bot.tickets.purge` together with the ticket. `detail` (JSON) holds no personal data: mailboxes,
the outbox row of a reply.
Tickets that existed before this migration get their `created` (and `answered`) events back-filled.
"""

from __future__ import annotations

import sqlite_utils


def m006_ticket_events(db: sqlite_utils.Database) -> None:
    db.execute("""
        create table ticket_events (
            id integer primary key,
            ticket_id integer not null references tickets(id),
            ts text not null,                 -- UTC, ISO 8601
            kind text not null,               -- created | reply | reassigned | answered | reopened
            agent text,                       -- console account; null for the public or the phone
            body text,                        -- personal: reply / answer text, erased by the purge
            detail text not null default '{}',  -- JSON, no personal data
            outbox_id integer                 -- the e-mail of a reply (its delivery state)
        )""")
    db.execute("create index ticket_events_ticket on ticket_events(ticket_id, id)")
    db.execute(
        "insert into ticket_events (ticket_id, ts, kind, detail) select id, created_at, 'created',"
        " json_object('mailbox', mailbox) from tickets order by id"
    )
    db.execute(
        "insert into ticket_events (ticket_id, ts, kind, detail) select id, answered_at, 'answered', '{}'"
        " from tickets where status = 'answered' and answered_at is not null order by id"
    )
