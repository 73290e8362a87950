"""Service-mailbox tickets: a message for a préfecture service, with a reference and a due date.

The due date is `commitments.email_working_days` working days after the message (or
`commitments.paper_working_days` for a paper letter), working days being Monday to Friday except
French public holidays (the `holidays` package). The ticket and its e-mails (to the service's
functional mailbox; an acknowledgement to the user when an e-mail address was given) are written
in one transaction; delivery happens after, by bot/services/mailer.py, with retries.

For the agent console: mark_answered, delivery_failures, and for one ticket: reply (an agent's e-mail
through the outbox), reassign, reopen. Re-exported here: the working days (ticket_dates.py), the
history, voicemail and lock keys (ticket_history.py), the list a page at a time (ticket_list.py), what
the e-mails say (ticket_mail.py: the service's copy, the acknowledgement, an agent's reply), the purge
(ticket_purge.py).
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import UTC, date, datetime

from bot.core import texts
from bot.core.clock import PARIS, naive, paris_now
from bot.core.config import Prefecture
from bot.core.masking import clean, drop_controls
from bot.services import mailer, ticket_dates
from bot.services.pan import BookingError, new_reference, validate_email
from bot.services.ticket_dates import add_working_days, due_date, say_date, working_days_between  # noqa: F401 - re-exported
from bot.services.ticket_history import (  # noqa: F401 - re-exported
    EVENT_KINDS,
    add_event,
    answers_since,
    creation_lock,
    history,
    last_answer,
    replayed,
    ticket_lock,
    voicemail,
)
from bot.services.ticket_list import tickets_by_service, tickets_page  # noqa: F401 - re-exported
from bot.services.ticket_mail import ack_lines, queue_ack, queue_reply, queue_service_copy  # noqa: F401 - ack_lines re-exported
from bot.services.ticket_purge import purge  # noqa: F401 - re-exported


class TicketError(Exception):
    """A refused message: `code` names the text under tickets.errors in tree.yml."""

    def __init__(self, code: str, pref: Prefecture, **extra):
        self.code = code
        self.message = texts.say(f"tickets.errors.{code}", pref, **extra)
        super().__init__(self.message)


def mailbox(pref: Prefecture, mailbox_id: str) -> dict:
    boxes = pref.get("mailboxes")
    if not isinstance(mailbox_id, str) or mailbox_id not in boxes:
        raise TicketError("unknown_service", pref)
    return boxes[mailbox_id]


def get_ticket(store, reference: str) -> dict | None:
    return next(store.db.query("select * from tickets where reference = ?", [(reference or "").strip().upper()]), None)


def validate(pref: Prefecture, mailbox_id: str, subject: str, body: str, email: str | None) -> tuple[str, str, str | None]:
    """The message as stored and sent, or TicketError: control and invisible characters removed as
    the chat removes them (bot.core.masking), the subject on one line, the body with its lines and
    tabs; a message left empty by that is refused as an empty one."""
    mailbox(pref, mailbox_id)
    subject = clean(subject or "")
    lines = drop_controls((body or "").replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    body = "\n".join(line.rstrip(" ") for line in lines).strip()
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


def create_ticket(
    store,
    pref: Prefecture,
    mailbox_id: str,
    subject: str,
    body: str,
    email: str | None = None,
    *,
    origin: str = "email",
    channel: str = "web",
    idempotency_key: str | None = None,
    now: datetime | None = None,
    callback: str | None = None,
) -> dict:
    """Store a ticket and queue its e-mails. Returns the row plus `created` (False for a replay).

    `callback`: the number a voicemail was left from, kept in its own column (shown only in the
    console, never e-mailed, erased by the purge). Raises TicketError (French message) on a bad
    input; nothing is written then.
    """
    subject, body, email = validate(pref, mailbox_id, subject, body, email)
    box = mailbox(pref, mailbox_id)
    received = naive(now or paris_now())
    due = due_date(pref, received.date(), origin)
    # Stored in UTC; a given `now` (a letter received by post, the time of a call) is when it was received.
    ts = mailer.utcnow() if now is None else received.replace(tzinfo=PARIS).astimezone(UTC).isoformat(timespec="milliseconds")
    # One transaction (a savepoint inside a caller's: the console's audit line, a voicemail's row).
    # Only the key is read before the insert (the reference is drawn again on a collision): tickets of
    # other keys are written in parallel on PostgreSQL (docs/store.md).
    with store.transaction(creation_lock(idempotency_key or secrets.token_hex(8))) as conn:
        if idempotency_key:
            existing = next(store.db.query("select * from tickets where idempotency_key = ?", [idempotency_key]), None)
            if existing:
                return existing | {"created": False}
        row = {
            "prefecture": pref.id,
            "mailbox": mailbox_id,
            "service": box["service"],
            "service_email": box["email"],
            "origin": origin,
            "channel": channel,
            "subject": subject,
            "body": body,
            "contact_email": email,
            "callback": callback or None,
            "created_at": ts,
            "due_date": due.isoformat(),
            "status": "open",
            "delivery_status": "pending",
            "delivery_attempts": 0,
            "idempotency_key": idempotency_key,
        }
        ticket = _insert_ticket(store, row)
        add_event(conn, ticket["id"], "created", ts=ts, detail={"mailbox": mailbox_id})
        queue_service_copy(conn, pref, ticket, box, [])
        if email:
            queue_ack(conn, pref, ticket)
    return ticket | {"created": True}


def _insert_ticket(store, row: dict) -> dict:
    """Insert the ticket under a fresh reference (drawn again on the rare collision), inside the
    caller's transaction; the row as stored."""
    for _ in range(5):
        values = row | {"reference": new_reference("MSG")}
        try:
            cur = store.db.conn.execute(
                f"insert into tickets ({', '.join(values)}) values ({', '.join('?' * len(values))})", list(values.values())
            )
            break
        except sqlite3.IntegrityError as exc:
            if "reference" not in str(exc):
                raise
    else:  # pragma: no cover
        raise RuntimeError("could not draw a ticket reference")
    return next(store.db.query("select * from tickets where id = ?", [cur.lastrowid]))


def register_paper(
    store,
    pref: Prefecture,
    mailbox_id: str,
    subject: str,
    body: str,
    email: str | None = None,
    received: date | None = None,
    today: date | None = None,
    idempotency_key: str | None = None,
) -> dict:
    """Register a letter received by post (console form, `python -m bot tickets paper`): a ticket of
    origin `paper`, due `commitments.paper_working_days` working days after the day of receipt.
    A receipt date in the future is refused (TicketError), like any bad input; nothing is written then.
    `idempotency_key`: the console's, whose key (creation_lock) its transaction already holds."""
    today = today or paris_now().date()
    received = received or today
    if received > today:
        raise TicketError("received_in_future", pref)
    at = None if received == paris_now().date() else datetime.combine(received, datetime.min.time()).replace(hour=9)
    return create_ticket(
        store,
        pref,
        mailbox_id,
        subject,
        body,
        email or None,
        origin="paper",
        channel="courrier",
        now=at,
        idempotency_key=idempotency_key,
    )


# ---- for the agent console -----------------------------------------------------------------


def mark_answered(
    store,
    reference: str,
    now: datetime | None = None,
    agent: str | None = None,
    answer: str | None = None,
    via: str = "console",
    pref: Prefecture | None = None,
) -> dict | None:
    """Mark a ticket answered and keep the time to answer (seconds and working days: `pref`'s closure
    days not counted, the ticket's préfecture by default), and the answer given (`answer`, by `agent`)."""
    ticket = get_ticket(store, reference)
    if not ticket or ticket["status"] == "answered":
        return ticket
    with store.transaction(ticket_lock(ticket["reference"])) as conn:  # a savepoint inside the console's (its audit line)
        _answer(conn, ticket, now, agent, answer, via, pref)
    return get_ticket(store, reference)


def _answer(
    conn, ticket: dict, now: datetime | None, agent: str | None, answer: str | None, via: str, pref: Prefecture | None = None
) -> bool:
    """Inside a transaction: the ticket answered now (unless it already is), with its event."""
    when = now.astimezone(UTC) if now and now.tzinfo else datetime.now(UTC)
    created = datetime.fromisoformat(ticket["created_at"])
    days = working_days_between(naive(created).date(), naive(when).date(), pref or ticket_dates.prefecture_of(ticket))
    seconds = int((when - created).total_seconds())
    stamp = when.isoformat(timespec="milliseconds")
    done = conn.execute(
        "update tickets set status = 'answered', answered_at = ?, answer_seconds = ?,"
        " answer_working_days = ? where id = ? and status = 'open'",
        [stamp, max(seconds, 0), days, ticket["id"]],
    ).rowcount
    if done:
        add_event(conn, ticket["id"], "answered", agent=agent, body=answer or None, ts=stamp, detail={"via": via})
    return bool(done)


def set_callback(store, ticket_id: int, callback: str | None) -> bool:
    """Keep the call-back number of a voicemail ticket made before it was known (Twilio's recording
    callback, which carries no `From`, can come first); never on a purged ticket, never replaced."""
    if not callback:
        return False
    # One statement: atomic alone (no transaction, so none nested in the caller's keyed one).
    done = store.db.execute(
        "update tickets set callback = ? where id = ? and callback is null and purged_at is null", [callback, ticket_id]
    ).rowcount
    return bool(done)


class ActionRefused(Exception):
    """A refused action: `code` is no_email, purged, answered, answered_since, open, same_service."""

    def __init__(self, code: str):
        self.code = code
        super().__init__(code)


def _read_under_key(store, reference: str) -> dict:
    """The ticket read again inside the transaction that holds its key: the purge (which takes the same
    key) may have erased it since it was first read, and nothing may then go to the address read before.
    Raises ActionRefused("purged")."""
    ticket = get_ticket(store, reference)
    if ticket is None or ticket["purged_at"]:
        raise ActionRefused("purged")
    return ticket


def reply(
    store,
    pref: Prefecture,
    reference: str,
    agent: str,
    text: str,
    now: datetime | None = None,
    *,
    key: str | None = None,
    seen: int | None = None,
) -> dict | None:
    """Queue an agent's reply to the person's e-mail address (subject with the reference, Reply-To the
    service mailbox), keep it in the history and mark the ticket answered. Returns the ticket, None when
    unknown; raises ActionRefused("no_email" | "purged"). `text` is validated by the caller. The same
    `key` and text again (a double submission) send nothing and return the ticket with `replayed`;
    any answer after `seen` (last_answer when the agent's page was drawn) raises "answered_since"."""
    ticket = get_ticket(store, reference)
    if ticket is None:
        return None
    if ticket["purged_at"]:
        raise ActionRefused("purged")
    if not ticket["contact_email"]:
        raise ActionRefused("no_email")
    with store.transaction(ticket_lock(ticket["reference"])) as conn:  # a savepoint inside the console's (its audit line)
        ticket = _read_under_key(store, reference)
        if key and replayed(store, ticket["id"], key, text):
            return get_ticket(store, reference) | {"replayed": True}
        if seen is not None and answers_since(store, ticket["id"], seen):
            raise ActionRefused("answered_since")
        outbox_id = queue_reply(conn, pref, ticket, text)
        detail = {"mailbox": ticket["mailbox"]} | ({"idem": key} if key else {})
        add_event(conn, ticket["id"], "reply", agent=agent, body=text, outbox_id=outbox_id, detail=detail)
        _answer(conn, ticket, now, agent, None, "email", pref)
    return get_ticket(store, reference)


def reassign(store, pref: Prefecture, reference: str, agent: str, mailbox_id: str) -> dict | None:
    """Move a ticket to another service mailbox (its due date stays) and send that service its copy.
    Raises TicketError("unknown_service") or ActionRefused("same_service" | "purged" | "answered")."""
    ticket = get_ticket(store, reference)
    if ticket is None:
        return None
    box = mailbox(pref, mailbox_id)
    if mailbox_id == ticket["mailbox"]:
        raise ActionRefused("same_service")
    if ticket["purged_at"]:
        raise ActionRefused("purged")
    if ticket["status"] == "answered":  # reopen it first
        raise ActionRefused("answered")
    with store.transaction(ticket_lock(ticket["reference"])) as conn:  # a savepoint inside the console's (its audit line)
        ticket = _read_under_key(store, reference)
        conn.execute(
            "update tickets set mailbox = ?, service = ?, service_email = ?, delivery_status = 'pending',"
            " delivery_attempts = 0, last_error = null, delivered_at = null where id = ?",
            [mailbox_id, box["service"], box["email"], ticket["id"]],
        )
        add_event(conn, ticket["id"], "reassigned", agent=agent, detail={"from": ticket["mailbox"], "to": mailbox_id})
        preface = [texts.say("tickets.service_reassigned", pref, service=ticket["service"])]
        queue_service_copy(conn, pref, ticket, box, preface)
    return get_ticket(store, reference)


def reopen(store, reference: str, agent: str) -> dict | None:
    """An answered ticket back to open (its answer stays in the history; the time to answer is reset
    until it is answered again). Raises ActionRefused("open") when it is not answered."""
    ticket = get_ticket(store, reference)
    if ticket is None:
        return None
    if ticket["status"] != "answered":
        raise ActionRefused("open")
    with store.transaction(ticket_lock(ticket["reference"])) as conn:  # a savepoint inside the console's (its audit line)
        conn.execute(
            "update tickets set status = 'open', answered_at = null, answer_seconds = null,"
            " answer_working_days = null where id = ?",
            [ticket["id"]],
        )
        add_event(conn, ticket["id"], "reopened", agent=agent)
    return get_ticket(store, reference)


def delivery_failures(store) -> list[dict]:
    """E-mails not delivered yet (failed or waiting), for the console."""
    return mailer.failures(store)
