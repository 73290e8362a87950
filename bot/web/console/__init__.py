"""The agent console, served by `rasa run` under /console (registered in credentials.yml).

Every page needs a session (else: redirect to the login page, or 401 for a POST); admin pages
answer 403 to agents; every POST carries the session's CSRF token (else 403); unknown ids get a
404 page and malformed forms a 400 page, never a 500. Logins are throttled (bot/services/throttle.py):
429 + Retry-After while a name or an address must wait, 403 while a name is locked (an admin lifts it
on /console/admin). Pages are Jinja2 templates with autoescape, served with a Content-Security-Policy
that allows no inline script or style.

One module per area, each a route table of small handlers: auth (sign in and out), review (the queue
and its items), bookings (PAN appointments, no-shows), messages (service mailboxes), indicators (page,
CSV, committee report), paper (letters), admin (accounts, export). Their shared pieces (templates,
the guard decorators, the action helper) are in pages.py.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.services import runtime
from bot.services.accounts import Session
from bot.store.disk import disk_full
from bot.web.console import admin, auth, bookings, indicators, messages, paper, review
from bot.web.console.pages import PREFIX, Console, agent_only
from bot.web.http import (
    add_routes,
    form_readable,
    read_body,
    refused_page,
    retry_after_store_busy,
    say,
    too_large,
    unreadable_form,
)

logger = logging.getLogger(__name__)

# The largest form each console POST reads (bytes; Sanic's own default is 100 MB, issue 13). A form
# is URL-encoded: up to 6 bytes for an accented character. The routes that take a long text (a
# reply: MAX_REPLY characters; a paper letter: 20 000) by their handler's name, the others 16 kB
# (a note: MAX_NOTE characters, a password: 1000). deploy/nginx.conf lets 160 kB through.
FORM_LIMITS = {
    "ticket_reply": 64_000,
    "ticket_answered": 64_000,
    "ticket_answered_page": 64_000,
    "paper_register": 128_000,
}
FORM_LIMIT = 16_000


async def home(request: Request, console: Console) -> HTTPResponse:
    return response.redirect(f"{PREFIX}/file", status=303)


@agent_only
async def not_found_page(request: Request, console: Console, session: Session) -> HTTPResponse:
    return console.not_found(session)


async def unknown(request: Request, console: Console, rest: str) -> HTTPResponse:
    """Any other path under /console: the 404 page (after the guard: the login page first)."""
    if request.method == "GET" and not rest.strip("/"):  # "/console/", the URL `make run` prints
        return response.redirect(f"{PREFIX}/file", status=303)
    return await not_found_page(request, console)


async def form_limit(request: Request) -> HTTPResponse | None:
    """Every POST route is declared `stream=True`: its form is read here, up to its limit,
    before the handler runs (request.form is then the usual parsed form); a larger body is
    refused with a 413 and a French page, unread, and a form that cannot be read with a 400."""
    if request.method != "POST" or request.stream is None:
        return None
    name = (request.route.name if request.route else "").rsplit(".", 1)[-1]
    if await read_body(request, FORM_LIMITS.get(name, FORM_LIMIT)) is None:
        too_large(request)  # logs it
        return refused_page(request, 413, say("too_large_title"), say("too_large"))
    return None if form_readable(request) else unreadable_form(request)


ROUTES = [
    ("/", ("GET",), home),
    *auth.ROUTES,
    *review.ROUTES,
    *bookings.ROUTES,
    *messages.ROUTES,
    *indicators.ROUTES,
    *paper.ROUTES,
    *admin.ROUTES,
    ("/<rest:path>", ("GET", "POST"), unknown),
]


class ConsoleInput(InputChannel):
    """Pages: /console/connexion, /console/file, /console/element/<canal>/<id>, /console/rdv,
    /console/messages, /console/courrier, /console/indicateurs, /console/admin."""

    @classmethod
    def name(cls) -> str:
        return "console"

    def url_prefix(self) -> str:
        return PREFIX

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # The loop's own connection, short busy timeout (runtime.loop_store); runtime.store() under it
        # applies pending migrations (003_console) at start.
        console = Console(runtime.loop_store())
        bp = Blueprint("aiguillage_console", __name__)
        bp.middleware("request")(form_limit)

        @bp.exception(sqlite3.Error)
        async def store_failed(request: Request, exception: Exception) -> HTTPResponse:
            """The store refused a write (locked too long, disk full...): the action's transaction was
            rolled back with its audit line, so the agent is told that nothing was saved."""
            logger.error("console: store error on %s %s: %r", request.method, request.path, exception)
            try:
                session = console.current(request)  # the agent's navigation on the error page
            except sqlite3.Error:
                session = None
            reading = request.method == "GET"  # a page that only reads: nothing was to be saved
            title, message = ("store_busy_read_title", "store_busy_read") if reading else ("store_failed_title", "store_failed")
            if disk_full(exception):  # reloading cannot help: someone must free space
                title, message = "store_full_title", "store_full"
            return retry_after_store_busy(console.error(503, session, say(title), say(message)))

        add_routes(bp, ROUTES, console)
        return bp
