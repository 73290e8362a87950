"""The administration page (/console/admin), for admins only: the agents' accounts (create one, set
a password, lift a lockout after too many failed logins), the audit log (filtered and paged, in
French words: journal.py), and the export of the labelled examples for training. Each change is audit-logged with it (both or neither)."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlencode

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core import texts
from bot.services import runtime, throttle
from bot.services.accounts import Accounts, AuthError, Session
from bot.services.queue import Queue
from bot.store.disk import free_if_full, log_refusal
from bot.web.console import journal
from bot.web.console.pages import PREFIX, Console, admin_only

logger = logging.getLogger(__name__)
# The admin page's `ok=` after a change, and the message it shows.
DONE = {"cree": "account_created", "mot-de-passe": "password_changed", "deverrouille": "account_unlocked"}


def training_count(console: Console) -> int:
    return console.store.db.execute("select count(*) from reviews where as_training = 1").fetchone()[0]


def admin_view(
    console: Console,
    session: Session,
    status: int = 200,
    message: str = "",
    error_msg: str = "",
    values: dict | None = None,
    shown: journal.Filter | None = None,
    result: dict | None = None,
    found: list[str] | None = None,
) -> HTTPResponse:
    """The page: accounts, training, the audit log (`shown`: its filter and page), an export's `result`
    and the references `found` for a contact."""
    agents = console.accounts.list()
    shown = shown or journal.Filter()
    return console.page(
        "admin.html",
        status=status,
        session=session,
        agents=agents,
        locked=throttle.locked(console.store, [a["name"] for a in agents]),
        log=journal.lines(console.store, shown),
        shown=shown,
        training=training_count(console),
        measure_every=int(runtime.prefecture().get("console.measure_every")),
        result=result,
        found=found,
        message=message,
        error=error_msg,
        values=values or {},
    )


def done(ok: str, name: str) -> HTTPResponse:
    return response.redirect(f"{PREFIX}/admin?" + urlencode({"ok": ok, "compte": name}), status=303)


@admin_only
async def admin_page(request: Request, console: Console, session: Session) -> HTTPResponse:
    name = (request.args.get("compte") or "")[:40]
    key = DONE.get(request.args.get("ok") or "")
    message = texts.console_say(f"messages.{key}", name=name) if key and console.accounts.get(name) else ""
    return admin_view(console, session, message=message, shown=journal.Filter.from_args(request.args.get))


@admin_only
async def admin_export(request: Request, console: Console, session: Session) -> HTTPResponse:
    from bot.nlu.review import default_out, export

    try:
        result = export(console.store)
    except OSError as exc:
        log_refusal(logger, exc, "console: export failed")
        if free_if_full(exc, default_out().parent) is not None:  # reloading cannot help: someone must free space
            return console.refuse(503, session, "export_full")
        return console.refuse(503, session, "export_failed", reason=exc.strerror)
    console.audit(session.name, "export", detail=result)
    return admin_view(console, session, result=result)


@admin_only
async def admin_contact(request: Request, console: Console, session: Session) -> HTTPResponse:
    """The references of a person known by their e-mail or phone number (a request "who saw my
    data?"), each a link to the log filtered by it. Posted, so that the contact is in no URL nor
    access log; the search is audit-logged with the number found, never the contact."""
    value = (request.form.get("contact") or "")[:254]
    found = journal.references_of_contact(console.store, value)
    if found is None:
        error = texts.console_say("messages.contact_invalid")
        return admin_view(console, session, 400, error_msg=error, values={"contact": value})
    console.audit(session.name, "contact_search", detail={"found": len(found)})
    return admin_view(console, session, values={"contact": value}, found=found)


def passwords(form) -> tuple[str, str | None]:
    """(password, French error or None): both fields must match."""
    password = (form.get("mot_de_passe") or "")[:1000]
    if password != (form.get("confirmation") or "")[:1000]:
        return password, texts.console_say("messages.passwords_differ")
    return password, None


async def in_own_thread(change) -> str | None:
    """Run an account change in a worker thread, on that thread's own connection (argon2 takes a
    while); change(accounts, audit) writes the account and its audit line together. The refusal's
    French reason (AuthError), or None when done."""

    def run() -> None:
        own = runtime.thread_store()
        change(Accounts(own), Queue(own, runtime.tree()).audit)

    try:
        await asyncio.to_thread(run)
    except AuthError as exc:
        return str(exc)
    return None


@admin_only
async def admin_add_account(request: Request, console: Console, session: Session) -> HTTPResponse:
    form = request.form
    # 200: past any name (accounts.NAME_RE, 40), so a longer one is refused, never cut into another name
    name, role = (form.get("identifiant") or "").strip()[:200], form.get("role") or ""
    password, problem = passwords(form)
    if problem is None:
        problem = await in_own_thread(
            lambda accounts, audit: accounts.add(
                name, role, password, audit=lambda: audit(session.name, "agent_created", "agent", name, detail={"role": role})
            )
        )
    if problem:
        error = texts.console_say("messages.account_not_created", reason=problem)
        return admin_view(console, session, 400, error_msg=error, values={"name": name, "role": role})
    return done("cree", name)


@admin_only
async def admin_reset_password(request: Request, console: Console, session: Session) -> HTTPResponse:
    form = request.form
    name = (form.get("identifiant") or "").strip()[:200]
    if console.accounts.get(name) is None:
        return admin_view(console, session, 400, error_msg=texts.console_say("messages.choose_account"))
    password, problem = passwords(form)
    if problem is None:
        problem = await in_own_thread(
            lambda accounts, audit: accounts.set_password(
                name, password, audit=lambda: audit(session.name, "password_reset", "agent", name)
            )
        )
    if problem:
        error = texts.console_say("messages.password_not_changed", reason=problem)
        return admin_view(console, session, 400, error_msg=error, values={"reset": name})
    return done("mot-de-passe", name)


@admin_only
async def admin_unlock(request: Request, console: Console, session: Session) -> HTTPResponse:
    """Lift the lockout of an account after too many failed logins (audit-logged)."""
    name = (request.form.get("identifiant") or "").strip()[:200]
    if console.accounts.get(name) is None:
        return admin_view(console, session, 400, error_msg=texts.console_say("messages.choose_account"))
    return await console.act(
        session,
        lambda: throttle.unlock(console.store, name),
        lambda unlocked: ("account_unlocked", "agent", name, None),
        lambda unlocked: f"{PREFIX}/admin?" + urlencode({"ok": "deverrouille", "compte": name}),
        missing=lambda: admin_view(console, session, 409, error_msg=texts.console_say("messages.not_locked", name=name)),
        keys=(throttle.account_lock(console.store, name),),
    )


ROUTES = [
    ("/admin", ("GET",), admin_page),
    ("/admin/export", ("POST",), admin_export),
    ("/admin/comptes", ("POST",), admin_add_account),
    ("/admin/mot-de-passe", ("POST",), admin_reset_password),
    ("/admin/deverrouiller", ("POST",), admin_unlock),
    ("/admin/contact", ("POST",), admin_contact),
]
