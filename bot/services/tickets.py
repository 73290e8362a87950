"""Service-mailbox tickets: a message for a préfecture service, with a reference and a due date.

The due date is `commitments.email_working_days` working days after the message (or
`commitments.paper_working_days` for a paper letter), working days being Monday to Friday except
French public holidays (the `holidays` package). The ticket and its e-mails (to the service's
functional mailbox; an acknowledgement to the user when an e-mail address was given) are written
in one transaction; delivery happens after, by bot/services/mailer.py, with retries.

Functions for the agent console: tickets_by_service, mark_answered, delivery_failures, and for one
ticket: history (table `ticket_events`, migration 006), reply (an agent's e-mail through the outbox),
reassign, reopen, voicemail; and the retention purge: purge.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta

from bot.core import texts
from bot.core.clock import PARIS, french_date, is_working_day, naive, paris_now
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
    with store.transaction() as conn:
        if idempotency_key:
            existing = fetch_dict(conn, "select * from tickets where idempotency_key = ?", [idempotency_key])
            if existing:
                return existing | {"created": False}
        for _ in range(5):
            reference = new_reference("MSG")
            try:
                cur = conn.execute(
                    "insert into tickets (reference, prefecture, mailbox, service, service_email, origin, channel,"
                    " subject, body, contact_email, callback, created_at, due_date, status, delivery_status,"
                    " delivery_attempts, idempotency_key) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open',"
                    " 'pending', 0, ?)",
                    [
                        reference,
                        pref.id,
                        mailbox_id,
                        box["service"],
                        box["email"],
                        origin,
                        channel,
                        subject,
                        body,
                        email,
                        callback or None,
                        ts,
                        due.isoformat(),
                        idempotency_key,
                    ],
                )
                break
            except sqlite3.IntegrityError as exc:
                if "reference" not in str(exc):
                    raise
        else:  # pragma: no cover
            raise RuntimeError("could not draw a ticket reference")
        ticket = fetch_dict(conn, "select * from tickets where id = ?", [cur.lastrowid])
        add_event(conn, ticket["id"], "created", ts=ts, detail={"mailbox": mailbox_id})
        lines = [
            texts.say("tickets.service_intro", pref, created=received.strftime("%d/%m/%Y %H:%M"), due=say_date(due)),
            texts.say("tickets.service_reply_to", pref, email=email) if email else texts.say("tickets.service_no_email", pref),
            "—",
            body,
        ]
        mailer.queue(
            conn,
            "ticket",
            box["email"],
            texts.say("tickets.service_subject", pref, reference=reference, subject=subject),
            "\n\n".join(lines) + "\n",
            ticket_id=ticket["id"],
            reply_to=email,
        )
        if email:
            mailer.queue(
                conn,
                "ticket_ack",
                email,
                texts.say("tickets.ack_subject", pref, reference=reference),
                "\n\n".join(ack_lines(pref, ticket)) + "\n",
                ticket_id=ticket["id"],
            )
    return ticket | {"created": True}


def register_paper(
    store,
    pref: Prefecture,
    mailbox_id: str,
    subject: str,
    body: str,
    email: str | None = None,
    received: date | None = None,
    today: date | None = None,
) -> dict:
    """Register a letter received by post (console form, `python -m bot tickets paper`): a ticket of
    origin `paper`, due `commitments.paper_working_days` working days after the day of receipt.
    A receipt date in the future is refused (TicketError), like any bad input; nothing is written then."""
    today = today or paris_now().date()
    received = received or today
    if received > today:
        raise TicketError("received_in_future", pref)
    at = None if received == paris_now().date() else datetime.combine(received, datetime.min.time()).replace(hour=9)
    return create_ticket(store, pref, mailbox_id, subject, body, email or None, origin="paper", channel="courrier", now=at)


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
        " order by due_date, id",
        [],
    )
    out: dict[str, list[dict]] = {}
    for row in rows:
        row["overdue"] = row["status"] == "open" and row["due_date"] < today.isoformat()
        out.setdefault(row["mailbox"], []).append(row)
    for rows in out.values():
        rows.sort(key=lambda t: (not t["overdue"], t["due_date"], t["id"]))
    return out


def mark_answered(
    store, reference: str, now: datetime | None = None, agent: str | None = None, answer: str | None = None, via: str = "console"
) -> dict | None:
    """Mark a ticket answered and keep the time to answer (seconds and working days), and the answer
    given (`answer`, by `agent`) in its history."""
    ticket = get_ticket(store, reference)
    if not ticket or ticket["status"] == "answered":
        return ticket
    with store.transaction() as conn:  # a savepoint inside the console's transaction (with its audit line)
        _answer(conn, ticket, now, agent, answer, via)
    return get_ticket(store, reference)


def _answer(conn, ticket: dict, now: datetime | None, agent: str | None, answer: str | None, via: str) -> bool:
    """Inside a transaction: the ticket answered now (unless it already is), with its event."""
    when = now.astimezone(UTC) if now and now.tzinfo else datetime.now(UTC)
    created = datetime.fromisoformat(ticket["created_at"])
    paris_created = naive(created).date()
    seconds = int((when - created).total_seconds())
    stamp = when.isoformat(timespec="milliseconds")
    done = conn.execute(
        "update tickets set status = 'answered', answered_at = ?, answer_seconds = ?,"
        " answer_working_days = ? where id = ? and status = 'open'",
        [stamp, max(seconds, 0), working_days_between(paris_created, naive(when).date()), ticket["id"]],
    ).rowcount
    if done:
        add_event(conn, ticket["id"], "answered", agent=agent, body=answer or None, ts=stamp, detail={"via": via})
    return bool(done)


# ---- one ticket in the console: its history, a reply, reassignment, reopening ---------------

EVENT_KINDS = ("created", "reply", "reassigned", "answered", "reopened")


def add_event(
    conn,
    ticket_id: int,
    kind: str,
    *,
    agent: str | None = None,
    body: str | None = None,
    detail: dict | None = None,
    outbox_id: int | None = None,
    ts: str | None = None,
) -> int:
    """Append one event to a ticket's history (inside the caller's transaction)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown ticket event: {kind}")
    cur = conn.execute(
        "insert into ticket_events (ticket_id, ts, kind, agent, body, detail, outbox_id) values (?, ?, ?, ?, ?, ?, ?)",
        [ticket_id, ts or mailer.utcnow(), kind, agent, body, json.dumps(detail or {}, ensure_ascii=False), outbox_id],
    )
    return cur.lastrowid


def history(store, ticket_id: int) -> list[dict]:
    """The ticket's events, oldest first; a reply carries the state of its e-mail (`delivery`)."""
    rows = fetch_dicts(
        store.db.conn,
        "select e.id, e.ts, e.kind, e.agent, e.body, e.detail, e.outbox_id, o.status as delivery,"
        " o.last_error from ticket_events e left join outbox o on o.id = e.outbox_id"
        " where e.ticket_id = ? order by e.id",
        [ticket_id],
    )
    for row in rows:
        try:
            row["detail"] = json.loads(row["detail"] or "{}")
        except json.JSONDecodeError:
            row["detail"] = {}
    return rows


def voicemail(store, ticket: dict) -> dict | None:
    """The voicemail a phone ticket was made from (recording link, Twilio's transcription), if any."""
    key = ticket.get("idempotency_key") or ""
    if not key.startswith("voicemail:") or "voicemails" not in store.db.table_names():
        return None
    return fetch_dict(
        store.db.conn,
        "select recording_url, duration_s, transcription, transcription_status from voicemails where recording_sid = ?",
        [key.split(":", 1)[1]],
    )


def set_callback(store, ticket_id: int, callback: str | None) -> bool:
    """Keep the call-back number of a voicemail ticket made before it was known (Twilio's recording
    callback, which carries no `From`, can come first); never on a purged ticket, never replaced."""
    if not callback:
        return False
    with store.transaction() as conn:
        done = conn.execute(
            "update tickets set callback = ? where id = ? and callback is null and purged_at is null", [callback, ticket_id]
        ).rowcount
    return bool(done)


class ActionRefused(Exception):
    """An action the ticket's state does not allow: `code` is no_email, purged, answered, open, same_service."""

    def __init__(self, code: str):
        self.code = code
        super().__init__(code)


def reply(store, pref: Prefecture, reference: str, agent: str, text: str, now: datetime | None = None) -> dict | None:
    """Queue an agent's reply to the person's e-mail address (subject with the reference, Reply-To the
    service mailbox), keep it in the history and mark the ticket answered. Returns the ticket, None when
    unknown; raises ActionRefused("no_email" | "purged"). `text` is validated by the caller."""
    ticket = get_ticket(store, reference)
    if ticket is None:
        return None
    if ticket["purged_at"]:
        raise ActionRefused("purged")
    if not ticket["contact_email"]:
        raise ActionRefused("no_email")
    body = (
        "\n\n".join(
            [text, "—", texts.say("tickets.reply_footer", pref, reference=ticket["reference"], service=ticket["service"])]
        )
        + "\n"
    )
    subject = texts.say("tickets.reply_subject", pref, reference=ticket["reference"], subject=ticket["subject"] or "")
    with store.transaction() as conn:  # a savepoint inside the console's transaction (with its audit line)
        outbox_id = mailer.queue(
            conn, "ticket_reply", ticket["contact_email"], subject, body, ticket_id=ticket["id"], reply_to=ticket["service_email"]
        )
        add_event(conn, ticket["id"], "reply", agent=agent, body=text, outbox_id=outbox_id, detail={"mailbox": ticket["mailbox"]})
        _answer(conn, ticket, now, agent, None, "email")
    return get_ticket(store, reference)


def reassign(store, pref: Prefecture, reference: str, agent: str, mailbox_id: str) -> dict | None:
    """Move a ticket to another service mailbox (its due date stays) and send that service its copy.
    Raises TicketError("unknown_service") or ActionRefused("same_service" | "purged")."""
    ticket = get_ticket(store, reference)
    if ticket is None:
        return None
    box = mailbox(pref, mailbox_id)
    if mailbox_id == ticket["mailbox"]:
        raise ActionRefused("same_service")
    if ticket["purged_at"]:
        raise ActionRefused("purged")
    created = naive(datetime.fromisoformat(ticket["created_at"]))
    lines = [
        texts.say("tickets.service_reassigned", pref, service=ticket["service"]),
        texts.say(
            "tickets.service_intro",
            pref,
            created=created.strftime("%d/%m/%Y %H:%M"),
            due=say_date(date.fromisoformat(ticket["due_date"])),
        ),
        texts.say("tickets.service_reply_to", pref, email=ticket["contact_email"])
        if ticket["contact_email"]
        else texts.say("tickets.service_no_email", pref),
        "—",
        ticket["body"] or "",
    ]
    with store.transaction() as conn:  # a savepoint inside the console's transaction (with its audit line)
        conn.execute(
            "update tickets set mailbox = ?, service = ?, service_email = ?, delivery_status = 'pending',"
            " delivery_attempts = 0, last_error = null, delivered_at = null where id = ?",
            [mailbox_id, box["service"], box["email"], ticket["id"]],
        )
        add_event(conn, ticket["id"], "reassigned", agent=agent, detail={"from": ticket["mailbox"], "to": mailbox_id})
        mailer.queue(
            conn,
            "ticket",
            box["email"],
            texts.say("tickets.service_subject", pref, reference=ticket["reference"], subject=ticket["subject"]),
            "\n\n".join(lines) + "\n",
            ticket_id=ticket["id"],
            reply_to=ticket["contact_email"],
        )
    return get_ticket(store, reference)


def reopen(store, reference: str, agent: str) -> dict | None:
    """An answered ticket back to open (its answer stays in the history; the time to answer is reset
    until it is answered again). Raises ActionRefused("open") when it is not answered."""
    ticket = get_ticket(store, reference)
    if ticket is None:
        return None
    if ticket["status"] != "answered":
        raise ActionRefused("open")
    with store.transaction() as conn:  # a savepoint inside the console's transaction (with its audit line)
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


def purge(store, pref: Prefecture, now: datetime | None = None) -> dict:
    """Erase personal data older than the retention periods (tickets, bookings, outbox copies)."""
    now_utc = now.astimezone(UTC) if now and now.tzinfo else datetime.now(UTC)
    ticket_cut = (now_utc - timedelta(days=int(pref.get("tickets.retention_days")))).isoformat(timespec="milliseconds")
    booking_cut = (naive(now_utc) - timedelta(days=int(pref.get("pan.retention_days")))).strftime("%Y-%m-%dT%H:%M")
    ts = mailer.utcnow()
    with store.transaction() as conn:
        t = conn.execute(
            "update tickets set subject = null, body = null, contact_email = null, callback = null, purged_at = ?"
            " where created_at < ? and purged_at is null",
            [ts, ticket_cut],
        ).rowcount
        b = conn.execute(
            "update pan_bookings set contact = null, contact_key = null, purged_at = ? where slot_start < ? and purged_at is null",
            [ts, booking_cut],
        ).rowcount
        conn.execute(
            "update ticket_events set body = null where body is not null and ticket_id in"
            " (select id from tickets where purged_at is not null)"
        )
        o = conn.execute(
            "delete from outbox where ticket_id in (select id from tickets where purged_at is not null)"
            " or booking_id in (select id from pan_bookings where purged_at is not null)"
        ).rowcount
    return {"tickets": t, "bookings": b, "outbox": o}
