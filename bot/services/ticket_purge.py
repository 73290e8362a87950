"""The purge of tickets' and bookings' personal data past their retention periods (issue 13 §7, issue
16): a ticket with its history's texts and its e-mails, a booking's contact with its e-mails (the
outbox's rows, sent, waiting or failed: an e-mail is kept as long as its record). Part of
bot/services/tickets.py, which re-exports `purge`; bot/services/retention.py runs it with the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.core.clock import naive
from bot.core.config import Prefecture
from bot.services import mailer
from bot.services.pan import booking_lock
from bot.services.ticket_history import ticket_lock

PURGE_BATCH = 100  # tickets (bookings) per transaction, each under its key


def purge(store, pref: Prefecture, now: datetime | None = None) -> dict:
    """Erase personal data older than the retention periods (tickets, bookings, outbox copies): a
    ticket with its history's texts and its e-mails, a booking with its e-mails, PURGE_BATCH per
    transaction under their keys (an agent's action on one of them waits, or is waited for: never
    half of each), never the whole store (docs/store.md); then any e-mail left on a record already
    erased (LEFT_BEHIND). Every e-mail, delivered or not, is kept as long as its ticket or booking."""
    now_utc = now.astimezone(UTC) if now and now.tzinfo else datetime.now(UTC)
    ticket_cut = (now_utc - timedelta(days=int(pref.get("tickets.retention_days")))).isoformat(timespec="milliseconds")
    booking_cut = (naive(now_utc) - timedelta(days=int(pref.get("pan.retention_days")))).strftime("%Y-%m-%dT%H:%M")
    ts = mailer.utcnow()
    t, o1 = _purge_batches(
        store,
        "select id, reference from tickets where created_at < ? and purged_at is null order by id",
        ticket_cut,
        ticket_lock,
        [
            "update tickets set subject = null, body = null, contact_email = null, callback = null, purged_at = ?"
            " where id in ({ids}) and purged_at is null",
            "update ticket_events set body = null where body is not null and ticket_id in ({ids})",
            "delete from outbox where ticket_id in ({ids})",
        ],
        ts,
    )
    b, o2 = _purge_batches(
        store,
        "select id, reference from pan_bookings where slot_start < ? and purged_at is null order by id",
        booking_cut,
        booking_lock,
        [
            "update pan_bookings set contact = null, contact_key = null, purged_at = ? where id in ({ids}) and purged_at is null",
            "delete from outbox where booking_id in ({ids})",
        ],
        ts,
    )
    return {"tickets": t, "bookings": b, "outbox": o1 + o2 + _purge_left_behind(store)}


# The e-mails of a ticket or a booking already erased (or gone): one queued after its record's erasure
# (an agent's reply or reassignment that read the ticket before the purge erased it), or left by an
# older purge. Its record's retention is past: it goes too, whatever its status (waiting, failed, sent).
LEFT_BEHIND = (
    "(o.ticket_id is not null and not exists (select 1 from tickets t where t.id = o.ticket_id and t.purged_at is null))"
    " or (o.booking_id is not null and not exists"
    " (select 1 from pan_bookings b where b.id = o.booking_id and b.purged_at is null))"
)


def _purge_left_behind(store) -> int:
    """Delete the e-mails left on erased records (LEFT_BEHIND), PURGE_BATCH a statement, each atomic
    alone (an e-mail being sent meanwhile finds its row gone: nothing is written back)."""
    conn, total = store.db.conn, 0
    while True:
        sql = f"delete from outbox where id in (select o.id from outbox o where {LEFT_BEHIND} limit ?)"
        done = conn.execute(sql, [PURGE_BATCH]).rowcount
        total += done
        if done < PURGE_BATCH:
            return total


def _purge_batches(store, select: str, cut: str, key: Callable[[str], str], statements: list[str], ts: str) -> tuple[int, int]:
    """purge()'s batches of one kind: the rows `select` finds older than `cut`, each batch in one
    transaction under its rows' keys; the first statement (the erasure, given `ts`, which checks
    `purged_at` again under the keys) counts the records, the last (the outbox's delete) the e-mails."""
    conn = store.db.conn
    records = mails = 0
    found = conn.execute(select, [cut]).fetchall()  # read once, then PURGE_BATCH at a time
    for start in range(0, len(found), PURGE_BATCH):
        rows = found[start : start + PURGE_BATCH]
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        with store.transaction(*(key(r[1]) for r in rows)):
            records += conn.execute(statements[0].format(ids=marks), [ts, *ids]).rowcount
            for sql in statements[1:-1]:
                conn.execute(sql.format(ids=marks), ids)
            mails += conn.execute(statements[-1].format(ids=marks), ids).rowcount
    return records, mails
