"""Signing in and out of the console (/console/connexion, /console/deconnexion).

Logins are throttled (bot/services/throttle.py): 429 + Retry-After while a name or an address must
wait, 403 while a name is locked (an admin lifts it on /console/admin). The login form carries its
own double-submit CSRF token (a cookie and a hidden field), since there is no session yet, and the
page to go on to once signed in (`suite`, a hidden field), checked again when posted (pages.safe_suite).
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core import clock, texts
from bot.services import runtime, throttle
from bot.services.accounts import Accounts, Session, csrf_ok
from bot.web.client import client_address
from bot.web.console.pages import COOKIE, LOGIN_COOKIE, PREFIX, Console, agent_only, safe_suite, set_cookie

logger = logging.getLogger(__name__)


def login_page(console: Console, request: Request, status: int = 200, message: str = "", name: str = "") -> HTTPResponse:
    token = secrets.token_urlsafe(24)
    suite = request.args.get("suite") or (request.form.get("suite") if request.method == "POST" and request.form else "") or ""
    resp = console.page("login.html", status=status, login_csrf=token, message=message, name=name, suite=safe_suite(suite))
    set_cookie(resp, LOGIN_COOKIE, token, max_age=3600)
    return resp


async def login_form(request: Request, console: Console) -> HTTPResponse:
    if console.current(request):  # signed in meanwhile (in another tab): on to the page asked
        return response.redirect(safe_suite(request.args.get("suite")), status=303)
    return login_page(console, request)


async def login(request: Request, console: Console) -> HTTPResponse:
    form = request.form or {}
    if not csrf_ok(request.cookies.get(LOGIN_COOKIE), form.get("csrf")):  # its link: a new form, same page asked
        return console.refuse(403, None, "csrf", suite=form.get("suite") or "")
    name = (form.get("identifiant") or "").strip()[:40]
    password = (form.get("mot_de_passe") or "")[:1000]
    pref, address = runtime.prefecture(), client_address(request)
    # Throttling first (bot/services/throttle.py): a locked name, or a wait, is refused before
    # the password is even checked; otherwise this attempt is counted until it succeeds.
    gate = await asyncio.to_thread(lambda: throttle.login_gate(runtime.thread_store(), pref, name, address))
    if gate.locked or gate.wait_s:
        return login_refused(console, request, name, address, gate.wait_s if not gate.locked else None)
    # argon2 costs tens of milliseconds of CPU: in a worker thread, on its own connection
    agent = await asyncio.to_thread(lambda: Accounts(runtime.thread_store()).verify(name, password))
    if agent is None:
        return await login_failed(console, request, name, address)
    await asyncio.to_thread(lambda: throttle.login_succeeded(runtime.thread_store(), name, gate.attempt))
    # the session and its audit line: both or neither (one transaction)
    token = console.accounts.open_session(agent, audit=lambda: console.audit(agent["name"], "login"))
    resp = response.redirect(safe_suite(form.get("suite") or ""), status=303)
    set_cookie(resp, COOKIE, token)
    set_cookie(resp, LOGIN_COOKIE, "", max_age=0)
    return resp


def login_refused(console: Console, request: Request, name: str, address: str, wait_s: int | None) -> HTTPResponse:
    """A name locked (wait_s None: 403) or that must wait (429 + Retry-After), before any password check."""
    store, pref = console.store, runtime.prefecture()
    logger.warning(
        "console: login refused for name #%s from %s (%s)",
        throttle.log_id(store, name),
        address,
        "locked" if wait_s is None else f"retry in {wait_s} s",
    )
    if wait_s is None:
        return login_page(console, request, status=403, name=name, message=texts.say("requests.login_locked", pref))
    message = texts.say("requests.login_wait", pref, wait=clock.say_duration(wait_s))
    resp = login_page(console, request, status=429, name=name, message=message)
    resp.headers["Retry-After"] = str(wait_s)
    return resp


async def login_failed(console: Console, request: Request, name: str, address: str) -> HTTPResponse:
    """A wrong name or password: counted, and the name locked after too many (audit-logged)."""
    store, pref = console.store, runtime.prefecture()
    locked_now = await asyncio.to_thread(lambda: throttle.login_failed(runtime.thread_store(), pref, name))
    # The typed name may be a person's (or a password typed in the wrong field): never in clear,
    # only 12 characters of its keyed hash (the same name, the same id).
    logger.warning("console: failed login for name #%s from %s", throttle.log_id(store, name), address)
    if locked_now:
        known = console.accounts.get(name)
        console.audit(
            "—",
            "account_locked",
            "agent",
            known["name"] if known else None,
            detail={"name_id": throttle.log_id(store, name), "address": address},
        )
        return login_page(console, request, status=403, name=name, message=texts.say("requests.login_locked", pref))
    return login_page(console, request, status=401, name=name, message=texts.console_say("messages.bad_login"))


@agent_only
async def logout(request: Request, console: Console, session: Session) -> HTTPResponse:
    console.accounts.close_session(request.cookies.get(COOKIE), audit=lambda: console.audit(session.name, "logout"))
    resp = response.redirect(f"{PREFIX}/connexion", status=303)
    set_cookie(resp, COOKIE, "", max_age=0)
    return resp


ROUTES = [
    ("/connexion", ("GET",), login_form),
    ("/connexion", ("POST",), login),
    ("/deconnexion", ("POST",), logout),
]
