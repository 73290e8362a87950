"""Messages to the service mailboxes (/console/messages): the list per service with the e-mail
delivery failures, and one message (/console/messages/<reference>): read it, reply by e-mail,
reassign it to another service, mark it answered (with the answer given), reopen it. Each change
and its audit line are written together (Console.act); each view of the person's address or of a
voicemail's call-back number is audit-logged."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from urllib.parse import urlencode

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core import texts
from bot.core.masking import drop_controls
from bot.services import runtime, tickets
from bot.services.accounts import Session
from bot.web.console.pages import PREFIX, REFERENCE_RE, Console, agent_only, asked_page, console_word, page_links

MAX_REPLY = 10000  # characters of a reply or of the answer noted by an agent
IDEM_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")  # a reply form's idempotency key (drawn with the page)
SEEN_RE = re.compile(r"^\d{1,12}$")  # the latest answer a page showed (tickets.last_answer)


@agent_only
async def tickets_list(request: Request, console: Console, session: Session) -> HTTPResponse:
    """A page of the messages (`console.messages_per_page`), of every service or of one (`service`),
    the waiting ones or all (`repondus=1`)."""
    pref = runtime.prefecture()
    boxes = pref.get("mailboxes") or {}
    answered = request.args.get("repondus") == "1"
    service = request.args.get("service") or ""
    service = service if service in boxes else ""
    listed = tickets.tickets_page(
        console.store,
        include_answered=answered,
        mailbox=service,
        page=asked_page(request.args.get("page")),
        per_page=int(pref.get("console.messages_per_page")),
    )
    name = {s["mailbox"]: (boxes.get(s["mailbox"]) or {}).get("service") or s["service"] for s in listed["services"]}
    groups = [(mid, name.get(mid) or rows[0]["service"], rows) for mid, rows in listed["groups"]]

    def link(**changes) -> str:
        args = {"repondus": "1" if answered else "", "service": service} | changes
        query = urlencode({k: v for k, v in args.items() if v and v != 1})  # page 1: no page=
        return f"{PREFIX}/messages" + (f"?{query}" if query else "")

    ok = request.args.get("ok") or ""
    message = texts.console_say("messages.answered_ok", reference=ok) if REFERENCE_RE.match(ok) else ""
    return console.page(
        "messages.html",
        session=session,
        groups=groups,
        listed=listed | {"links": page_links(listed["page"], listed["pages"])},
        names=name,
        chosen_service=service,
        link=link,
        failures=tickets.delivery_failures(console.store),
        today=tickets.paris_now().date().isoformat(),
        message=message,
        answered=answered,
    )


@agent_only
async def ticket_answered(request: Request, console: Console, session: Session) -> HTTPResponse:
    """The list's former one-click button: now the same confirmation step as the message's page."""
    reference = (request.form.get("reference") or "").strip().upper()
    if not REFERENCE_RE.match(reference):
        return console.refuse(400, session, "bad_form")
    return await mark_answered(request, console, session, reference)


def ticket_page(console: Console, session: Session, reference: str, status: int = 200, **shown) -> HTTPResponse:
    """The message's page; `shown`: message, error, confirm ("reply", "answered"), values (the
    typed text), show_contact, show_callback, answered_since (the answer a refused reply missed), and
    the reply form's idem and seen (by default drawn now: a new key, the latest answer shown)."""
    ticket = tickets.get_ticket(console.store, reference)
    if ticket is None:
        return console.not_found(session)
    boxes = runtime.prefecture().get("mailboxes") or {}
    today = tickets.paris_now().date().isoformat()
    shown = {
        "message": "",
        "error": "",
        "confirm": "",
        "values": {},
        "show_contact": False,
        "show_callback": False,
        "answered_since": None,
        "idem": secrets.token_urlsafe(16),
        "seen": tickets.last_answer(console.store, ticket["id"]),
    } | shown
    return console.page(
        "ticket.html",
        status=status,
        session=session,
        t=ticket,
        services={mid: box["service"] for mid, box in boxes.items()},
        history=tickets.history(console.store, ticket["id"]),
        voicemail=tickets.voicemail(console.store, ticket),
        overdue=ticket["status"] == "open" and ticket["due_date"] < today,
        max_text=MAX_REPLY,
        **shown,
    )


def message_reference(reference: str) -> str | None:
    """The reference of a message (MSG-...) in the URL, upper-cased; None when it is not one."""
    reference = (reference or "").upper()
    return reference if REFERENCE_RE.match(reference) and reference.startswith("MSG-") else None


def typed_text(request: Request, name: str) -> str | None:
    """A text typed by the agent (reply, answer given): stripped, None when missing or too long."""
    text = drop_controls((request.form.get(name) or "").replace("\r\n", "\n")).strip()  # invisible characters: none
    return text if text and len(text) <= MAX_REPLY else None


def done_url(reference: str, ok: str) -> str:
    return f"{PREFIX}/messages/{reference}?" + urlencode({"ok": ok})


async def ticket_action(
    console: Console,
    session: Session,
    reference: str,
    change: Callable[[], dict | None],
    action: str,
    detail: Callable[[dict], dict],
    ok: str,
    deliver: bool = False,
    refused: Callable[[tickets.ActionRefused], HTTPResponse | None] = lambda exc: None,
) -> HTTPResponse:
    """A change to one message and its audit line (Console.act; none for a replayed reply), then back
    to its page saying `ok`; a change its state refuses (tickets.ActionRefused) shows the page again
    with the reason (409), unless `refused(exc)` answers otherwise."""
    try:
        return await console.act(
            session,
            change,
            lambda ticket: None if ticket.get("replayed") else (action, "ticket", reference, detail(ticket)),
            lambda ticket: done_url(reference, ok),
            deliver=deliver,
            keys=(tickets.ticket_lock(reference),),
        )
    except tickets.ActionRefused as exc:
        return refused(exc) or ticket_page(
            console, session, reference, 409, error=texts.console_say(f"ticket_refused.{exc.code}")
        )


@agent_only
async def ticket_view(request: Request, console: Console, session: Session, reference: str) -> HTTPResponse:
    reference = message_reference(reference)
    ticket = tickets.get_ticket(console.store, reference) if reference else None
    if ticket is None:
        return console.not_found(session)
    show_contact = request.args.get("contact") == "1" and bool(ticket["contact_email"])
    if show_contact:  # each view of the person's address is logged
        console.audit(session.name, "contact_viewed", "ticket", reference, detail={"mailbox": ticket["mailbox"]})
    show_callback = request.args.get("rappel") == "1" and bool(ticket.get("callback"))
    if show_callback:  # each view of a voicemail's call-back number is logged (the number is not)
        console.audit(session.name, "callback_viewed", "ticket", reference, detail={"mailbox": ticket["mailbox"]})
    message = console_word("ticket_done", request.args.get("ok") or "")
    return ticket_page(console, session, reference, message=message, show_contact=show_contact, show_callback=show_callback)


def reply_keys(request: Request) -> dict:
    """The reply form's hidden fields as posted, those that are valid: its idempotency key (`idem`,
    drawn with the page) and the latest answer the page showed (`vu`, as `seen`)."""
    idem, seen = request.form.get("idem") or "", request.form.get("vu") or ""
    return ({"idem": idem} if IDEM_RE.match(idem) else {}) | ({"seen": int(seen)} if SEEN_RE.match(seen) else {})


def answered_meanwhile(console: Console, session: Session, reference: str, seen: int, text: str) -> HTTPResponse:
    """A reply refused because the message was answered after the agent's page was drawn: the page
    again (409), saying who answered, showing that answer, the agent's text kept in the reply form (a
    new key and the answer now seen: sending it again is a complement, on purpose)."""
    ticket = tickets.get_ticket(console.store, reference)
    answers = tickets.answers_since(console.store, ticket["id"], seen)
    shown = next((e for e in reversed(answers) if e["body"]), answers[-1] if answers else None)
    agent = (shown or {}).get("agent")
    error = texts.console_say("messages.answered_since_by" if agent else "messages.answered_since", agent=agent)
    return ticket_page(console, session, reference, 409, error=error, answered_since=shown, values={"reponse": text})


@agent_only
async def ticket_reply(request: Request, console: Console, session: Session, reference: str) -> HTTPResponse:
    reference = message_reference(reference)
    if reference is None:
        return console.not_found(session)
    keys = reply_keys(request)
    text = typed_text(request, "reponse")
    if text is None:
        error = texts.console_say("messages.reply_missing", max=MAX_REPLY)
        typed = (request.form.get("reponse") or "")[:MAX_REPLY]
        return ticket_page(console, session, reference, 400, error=error, values={"reponse": typed}, **keys)
    step = request.form.get("confirme")
    if step != "1":  # first the preview, then the sending
        return ticket_page(console, session, reference, confirm="" if step == "0" else "reply", values={"reponse": text}, **keys)
    if len(keys) != 2:  # a form without its key or what it showed: the preview again, as the page is now
        error = texts.console_say("messages.reply_check_again")
        return ticket_page(console, session, reference, 400, error=error, confirm="reply", values={"reponse": text})
    return await ticket_action(  # the reply (its e-mail queued) and its audit line: both or neither
        console,
        session,
        reference,
        lambda: tickets.reply(
            console.store, runtime.prefecture(), reference, session.name, text, key=keys["idem"], seen=keys["seen"]
        ),
        "ticket_reply",
        lambda ticket: {"mailbox": ticket["mailbox"], "characters": len(text)},
        "reply",
        deliver=True,
        refused=lambda exc: (
            answered_meanwhile(console, session, reference, keys["seen"], text) if exc.code == "answered_since" else None
        ),
    )


async def mark_answered(request: Request, console: Console, session: Session, reference: str) -> HTTPResponse:
    """Mark a message answered, with the answer given (by phone, at the desk...), after a preview."""
    before = tickets.get_ticket(console.store, reference)
    if before is None:
        return console.not_found(session)
    if before["status"] == "answered":
        return response.redirect(done_url(reference, "answered"), status=303)
    text = typed_text(request, "reponse")
    step = request.form.get("confirme")
    if text is None:
        status = 200 if step is None and "reponse" not in request.form else 400
        error = texts.console_say("messages.answer_missing", max=MAX_REPLY)
        typed = (request.form.get("reponse") or "")[:MAX_REPLY]
        return ticket_page(console, session, reference, status, error=error, values={"note": typed})
    if step != "1":
        return ticket_page(console, session, reference, confirm="" if step == "0" else "answered", values={"note": text})
    return await ticket_action(
        console,
        session,
        reference,
        lambda: tickets.mark_answered(console.store, reference, agent=session.name, answer=text),
        "ticket_answered",
        lambda ticket: {"mailbox": ticket["mailbox"], "working_days": ticket["answer_working_days"]},
        "answered",
    )


@agent_only
async def ticket_answered_page(request: Request, console: Console, session: Session, reference: str) -> HTTPResponse:
    reference = message_reference(reference)
    if reference is None:
        return console.not_found(session)
    return await mark_answered(request, console, session, reference)


@agent_only
async def ticket_reassign(request: Request, console: Console, session: Session, reference: str) -> HTTPResponse:
    reference = message_reference(reference)
    if reference is None:
        return console.not_found(session)
    target = request.form.get("service") or ""
    if target not in (runtime.prefecture().get("mailboxes") or {}):
        return ticket_page(console, session, reference, 400, error=texts.console_say("messages.choose_service"))
    before = tickets.get_ticket(console.store, reference)
    return await ticket_action(  # the new service (its copy queued) and the audit line: both or neither
        console,
        session,
        reference,
        lambda: tickets.reassign(console.store, runtime.prefecture(), reference, session.name, target),
        "ticket_reassigned",
        lambda ticket: {"from": before["mailbox"], "to": ticket["mailbox"]},
        "reassigned",
        deliver=True,
    )


@agent_only
async def ticket_reopen(request: Request, console: Console, session: Session, reference: str) -> HTTPResponse:
    reference = message_reference(reference)
    if reference is None:
        return console.not_found(session)
    return await ticket_action(
        console,
        session,
        reference,
        lambda: tickets.reopen(console.store, reference, session.name),
        "ticket_reopened",
        lambda ticket: {"mailbox": ticket["mailbox"]},
        "reopened",
    )


ROUTES = [
    ("/messages", ("GET",), tickets_list),
    ("/messages/repondu", ("POST",), ticket_answered),
    ("/messages/<reference>", ("GET",), ticket_view),
    ("/messages/<reference>/repondre", ("POST",), ticket_reply),
    ("/messages/<reference>/repondu", ("POST",), ticket_answered_page),
    ("/messages/<reference>/reaffecter", ("POST",), ticket_reassign),
    ("/messages/<reference>/rouvrir", ("POST",), ticket_reopen),
]
