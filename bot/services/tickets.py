"""Service-mailbox tickets: a message for a préfecture service, with a reference and a due date.

The due date is `commitments.email_working_days` working days after the message (or
`commitments.paper_working_days` for a paper letter), working days being Monday to Friday except
French public holidays (the `holidays` package). The ticket and its e-mails (to the service's
functional mailbox; an acknowledgement to the user when an e-mail address was given) are written
in one transaction; delivery happens after, by bot/services/mailer.py, with retries.

Functions for the agent console: tickets_by_service, mark_answered, delivery_failures; and the
retention purge: purge.
"""
from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

from bot.core import texts
from bot.core.clock import french_date, is_working_day, naive, paris_now
from bot.core.config import Prefecture
from bot.services import mailer
from bot.services.pan import BookingError, new_reference, validate_email
from bot.store.database import fetch_dict, fetch_dicts


class TicketError(Exception):
    """A refused message: `code` names the text under tickets.errors in tree.yml."""

    def __init__(self, code: str, pref: Prefecture, **extra):
        self.code = code
        self.message = texts.say(f"tickets.errors.{code}", pref, **extra)
        super().__init__(self.message)


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after `start` (the day of receipt itself does not count)."""
    day, count = start, 0
    while count < n:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when answered the same day)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


def due_date(pref: Prefecture, received: date, origin: str = "email") -> date:
    key = "commitments.paper_working_days" if origin == "paper" else "commitments.email_working_days"
    return add_working_days(received, int(pref.get(key)))


def say_date(day: date) -> str:
    return french_date(day)


def mailbox(pref: Prefecture, mailbox_id: str) -> dict:
    boxes = pref.get("mailboxes")
    if not isinstance(mailbox_id, str) or mailbox_id not in boxes:
        raise TicketError("unknown_service", pref)
    return boxes[mailbox_id]


def get_ticket(store, reference: str) -> dict | None:
    return fetch_dict(store.db.conn, "select * from tickets where reference = ?", [(reference or "").strip().upper()])


def validate(pref: Prefecture, mailbox_id: str, subject: str, body: str, email: str | None) -> tuple[str, str, str | None]:
    mailbox(pref, mailbox_id)
    subject = " ".join((subject or "").split())
    body = (body or "").replace("\r\n", "\n").strip()
    if not subject:
        raise TicketError("subject_missing", pref)
    max_subject = int(pref.get("tickets.subject_max_chars"))
    if len(subject) > max_subject:
        raise TicketError("subject_too_long", pref, max=max_subject)
    if not body:
        raise TicketError("body_missing", pref)
    max_body = int(pref.get("tickets.max_chars"))
    if len(body) > max_body:
        raise TicketError("body_too_long", pref, max=max_body, length=len(body))
    email = (email or "").strip() or None
    if email:
        try:
            email = validate_email(email, pref)
        except BookingError:
            raise TicketError("bad_email", pref) from None
    return subject, body, email


def create_ticket(store, pref: Prefecture, mailbox_id: str, subject: str, body: str, email: str | None = None, *,
                  origin: str = "email", channel: str = "web", idempotency_key: str | None = None,
                  now: datetime | None = None) -> dict:
    """Store a ticket and queue its e-mails. Returns the row plus `created` (False for a replay).

    Raises TicketError (French message) on a bad input; nothing is written then.
    """
    subject, body, email = validate(pref, mailbox_id, subject, body, email)
    box = mailbox(pref, mailbox_id)
    received = naive(now or paris_now())
    due = due_date(pref, received.date(), origin)
    conn, ts = store.db.conn, mailer.utcnow()
    conn.execute("begin immediate")
    try:
        if idempotency_key:
            existing = fetch_dict(conn, "select * from tickets where idempotency_key = ?", [idempotency_key])
            if existing:
                conn.execute("commit")
                return existing | {"created": False}
        for _ in range(5):
            reference = new_reference("MSG")
            try:
                cur = conn.execute(
                    "insert into tickets (reference, prefecture, mailbox, service, service_email, origin, channel,"
                    " subject, body, contact_email, created_at, due_date, status, delivery_status,"
                    " delivery_attempts, idempotency_key) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open',"
                    " 'pending', 0, ?)",
                    [reference, pref.id, mailbox_id, box["service"], box["email"], origin, channel, subject, body,
                     email, ts, due.isoformat(), idempotency_key])
                break
            except sqlite3.IntegrityError as exc:
                if "reference" not in str(exc):
                    raise
        else:  # pragma: no cover
            raise RuntimeError("could not draw a ticket reference")
        ticket = fetch_dict(conn, "select * from tickets where id = ?", [cur.lastrowid])
        lines = [
            texts.say("tickets.service_intro", pref, created=received.strftime("%d/%m/%Y %H:%M"), due=say_date(due)),
            texts.say("tickets.service_reply_to", pref, email=email) if email else texts.say("tickets.service_no_email", pref),
            "—",
            body,
        ]
        mailer.queue(conn, "ticket", box["email"], texts.say("tickets.service_subject", pref, reference=reference,
                                                              subject=subject),
                     "\n\n".join(lines) + "\n", ticket_id=ticket["id"], reply_to=email)
        if email:
            mailer.queue(conn, "ticket_ack", email, texts.say("tickets.ack_subject", pref, reference=reference),
                         "\n\n".join(ack_lines(pref, ticket)) + "\n", ticket_id=ticket["id"])
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return ticket | {"created": True}


def register_paper(store, pref: Prefecture, mailbox_id: str, subject: str, body: str, email: str | None = None,
                   received: date | None = None, today: date | None = None) -> dict:
    """Register a letter received by post (console form, `python -m bot tickets paper`): a ticket of
    origin `paper`, due `commitments.paper_working_days` working days after the day of receipt.
    A receipt date in the future is refused (TicketError), like any bad input; nothing is written then."""
    today = today or paris_now().date()
    received = received or today
    if received > today:
        raise TicketError("received_in_future", pref)
    at = None if received == paris_now().date() else datetime.combine(received, datetime.min.time()).replace(hour=9)
    return create_ticket(store, pref, mailbox_id, subject, body, email or None, origin="paper", channel="courrier",
                         now=at)


def ack_lines(pref: Prefecture, ticket: dict) -> list[str]:
    due = date.fromisoformat(ticket["due_date"])
    lines = [texts.say("tickets.ack", pref, reference=ticket["reference"], service=ticket["service"], due=say_date(due))]
    if not ticket["contact_email"]:
        lines.append(texts.say("tickets.ack_no_email", pref, reference=ticket["reference"]))
    lines.append(texts.say("tickets.france_services", pref) + " " + str(pref.get("france_services.url")))
    return lines


# ---- for the agent console -----------------------------------------------------------------

def tickets_by_service(store, today: date | None = None, include_answered: bool = False) -> dict[str, list[dict]]:
    """Tickets per mailbox, overdue first then by due date; each with `overdue` (bool)."""
    today = today or paris_now().date()
    where = "" if include_answered else "where status = 'open'"
    rows = fetch_dicts(
        store.db.conn,
        "select id, reference, mailbox, service, origin, channel, subject, contact_email, created_at, due_date,"
        f" status, delivery_status, delivery_attempts, last_error, answered_at, answer_working_days from tickets {where}"
        " order by due_date, id", [])
    out: dict[str, list[dict]] = {}
    for row in rows:
        row["overdue"] = row["status"] == "open" and row["due_date"] < today.isoformat()
        out.setdefault(row["mailbox"], []).append(row)
    for rows in out.values():
        rows.sort(key=lambda t: (not t["overdue"], t["due_date"], t["id"]))
    return out


def mark_answered(store, reference: str, now: datetime | None = None) -> dict | None:
    """Mark a ticket answered and keep the time to answer (seconds and working days)."""
    ticket = get_ticket(store, reference)
    if not ticket or ticket["status"] == "answered":
        return ticket
    when = now.astimezone(UTC) if now and now.tzinfo else datetime.now(UTC)
    created = datetime.fromisoformat(ticket["created_at"])
    paris_created = naive(created).date()
    seconds = int((when - created).total_seconds())
    conn = store.db.conn
    with conn:
        conn.execute("begin immediate")
        conn.execute("update tickets set status = 'answered', answered_at = ?, answer_seconds = ?,"
                     " answer_working_days = ? where id = ? and status = 'open'",
                     [when.isoformat(timespec="milliseconds"), max(seconds, 0),
                      working_days_between(paris_created, naive(when).date()), ticket["id"]])
    return get_ticket(store, reference)


def delivery_failures(store) -> list[dict]:
    """E-mails not delivered yet (failed or waiting), for the console."""
    return mailer.failures(store)


def purge(store, pref: Prefecture, now: datetime | None = None) -> dict:
    """Erase personal data older than the retention periods (tickets, bookings, outbox copies)."""
    now_utc = now.astimezone(UTC) if now and now.tzinfo else datetime.now(UTC)
    ticket_cut = (now_utc - timedelta(days=int(pref.get("tickets.retention_days")))).isoformat(timespec="milliseconds")
    booking_cut = (naive(now_utc) - timedelta(days=int(pref.get("pan.retention_days")))).strftime("%Y-%m-%dT%H:%M")
    ts = mailer.utcnow()
    conn = store.db.conn
    with conn:
        conn.execute("begin immediate")
        t = conn.execute("update tickets set subject = null, body = null, contact_email = null, purged_at = ?"
                         " where created_at < ? and purged_at is null", [ts, ticket_cut]).rowcount
        b = conn.execute("update pan_bookings set contact = null, purged_at = ? where slot_start < ?"
                         " and purged_at is null", [ts, booking_cut]).rowcount
        o = conn.execute("delete from outbox where ticket_id in (select id from tickets where purged_at is not null)"
                         " or booking_id in (select id from pan_bookings where purged_at is not null)").rowcount
    return {"tickets": t, "bookings": b, "outbox": o}
