"""Paper letters registered by an agent (/console/courrier): a ticket of origin "paper" for the
service's mailbox, its copy and the acknowledgement (when the letter gives an e-mail) sent."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core import texts
from bot.services import runtime, tickets
from bot.services.accounts import Session
from bot.web.console.pages import DATE_RE, PREFIX, REFERENCE_RE, Console, agent_only

# The longest value kept of each field of the form (longer input is cut, then validated).
FIELDS = (("service", 64), ("received", 10), ("subject", 1000), ("body", 20000), ("email", 254), ("idem", 64))
# The form's idempotency key, drawn when the form is shown (as the booking form's, bot/web/rdv/): the
# same form posted twice (a double click) registers one letter.
IDEM_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def paper_page(
    console: Console, session: Session, status: int = 200, error_msg: str = "", values: dict | None = None, done=None
) -> HTTPResponse:
    pref = runtime.prefecture()
    today = tickets.paris_now().date().isoformat()
    boxes = [(mid, box["service"]) for mid, box in (pref.get("mailboxes") or {}).items()]
    values = values or {"received": today}
    if not IDEM_RE.match(values.get("idem") or ""):  # a new form: a new key (kept while it is refused)
        values = values | {"idem": secrets.token_urlsafe(16)}
    return console.page(
        "paper.html",
        status=status,
        session=session,
        mailboxes=boxes,
        today=today,
        values=values,
        error=error_msg,
        done=done,
        subject_max=pref.get("tickets.subject_max_chars"),
        body_max=pref.get("tickets.max_chars"),
    )


@agent_only
async def paper_form(request: Request, console: Console, session: Session) -> HTTPResponse:
    ok = request.args.get("ok") or ""
    done = tickets.get_ticket(console.store, ok) if REFERENCE_RE.match(ok) else None
    return paper_page(console, session, done=done if done and done["origin"] == "paper" else None)


FRENCH_DATE_RE = re.compile(r"^\d{2}/\d{2}/\d{4}$")  # beside pages.DATE_RE (ISO)


def received_date(value: str) -> date | None:
    """The date of receipt: as a date field sends it (2026-07-10), or as typed where a browser has no
    date picker, the form the refusal's example shows (10/07/2026)."""
    value = (value or "").strip()
    try:
        if DATE_RE.match(value):
            return date.fromisoformat(value)
        return datetime.strptime(value, "%d/%m/%Y").date() if FRENCH_DATE_RE.match(value) else None
    except ValueError:
        return None


def received_refusal(received: date, today: date, retention_days: int) -> str | None:
    """Why a letter's date of receipt is refused (a console text), or None: not in the future, and
    not older than the tickets' retention (its ticket would be purged at once: the oldest day kept
    is the one whose ticket reaches its retention after the next purge)."""
    if received > today:
        return texts.console_say("messages.received_in_future")
    oldest = today - timedelta(days=retention_days - 1)
    if received < oldest:
        return texts.console_say("messages.received_too_old", oldest=oldest.strftime("%d/%m/%Y"), days=retention_days)
    return None


@agent_only
async def paper_register(request: Request, console: Console, session: Session) -> HTTPResponse:
    values = {k: (request.form.get(k) or "")[:limit] for k, limit in FIELDS}
    if not IDEM_RE.match(values["idem"]):  # a form without its key: shown again, with a new one
        return paper_page(console, session, 400, texts.console_say("messages.paper_check_again"), values)
    received = received_date(values["received"])
    if received is None:
        return paper_page(console, session, 400, texts.console_say("messages.bad_received_date"), values)
    retention = int(runtime.prefecture().get("tickets.retention_days"))
    refusal = received_refusal(received, tickets.paris_now().date(), retention)
    if refusal:
        return paper_page(console, session, 400, refusal, values)

    # The form's key, drawn when it was shown: the same form posted again finds its ticket (no second
    # one, no second audit line); its transaction (with the audit line) waits for no other writer on
    # PostgreSQL.
    key = f"paper:{values['idem']}"

    def register() -> dict:
        return tickets.register_paper(
            console.store,
            runtime.prefecture(),
            values["service"],
            values["subject"],
            values["body"],
            values["email"] or None,
            received,
            idempotency_key=key,
        )

    try:  # the letter's ticket (its e-mails queued) and the audit line: both or neither
        return await console.act(
            session,
            register,
            lambda ticket: (
                (
                    "paper_letter",
                    "ticket",
                    ticket["reference"],
                    {"mailbox": ticket["mailbox"], "received": received.isoformat(), "due_date": ticket["due_date"]},
                )
                if ticket["created"]
                else None
            ),
            lambda ticket: f"{PREFIX}/courrier?" + urlencode({"ok": ticket["reference"]}),
            deliver=True,  # the service's copy (and the acknowledgement when an e-mail was given)
            keys=(tickets.creation_lock(key),),
        )
    except tickets.TicketError as exc:
        return paper_page(console, session, 400, exc.message, values)


ROUTES = [
    ("/courrier", ("GET",), paper_form),
    ("/courrier", ("POST",), paper_register),
]
