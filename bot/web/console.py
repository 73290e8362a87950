"""The agent console, served by `rasa run` under /console (registered in credentials.yml).

Every page needs a session (else: redirect to the login page, or 401 for a POST); admin pages
answer 403 to agents; every POST carries the session's CSRF token (else 403); unknown ids get a
404 page and malformed forms a 400 page, never a 500. Logins are throttled (bot/services/throttle.py):
429 + Retry-After while a name or an address must wait, 403 while a name is locked (an admin lifts it
on /console/admin). Pages are Jinja2 templates with autoescape,
served with a Content-Security-Policy that allows no inline script or style.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from datetime import date
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import settings
from bot.core import clock, texts
from bot.core.config import ROOT
from bot.core.tree import TOPICS
from bot.quality.report import DESTINATIONS
from bot.services import throttle
from bot.services.accounts import Accounts, Session, csrf_ok
from bot.services.queue import KINDS, Filters, NotFound, Queue
from bot.store.database import Store
from bot.web.chat import _security_headers, read_body, refused_page, say, too_large
from bot.web.client import client_address

logger = logging.getLogger(__name__)
_INDICATORS_LOCK = threading.Lock()  # see indicators_data in ConsoleInput.blueprint

PREFIX = "/console"
COOKIE = "aiguillage_console"
LOGIN_COOKIE = "aiguillage_console_login"  # double-submit CSRF token of the login form
ITEM_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_NOTE = 2000
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REFERENCE_RE = re.compile(r"^(PAN|MSG)-\d{4}-\d{4}$")
MAX_REPLY = 10000  # characters of a reply or of the answer noted by an agent
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


# The console's words (bot/console_texts.yml): an action's outcome, a refusal, the names of codes.
def console_word(section: str, key: str, default: str = "") -> str:
    return texts.console_section(section).get(key, default)


def say_confidence(value: float | None) -> str:
    """'sûr (91 %)' at or above the routing threshold (bot/tree.yml settings.confidence_threshold),
    'hésitant (42 %)' below it, '—' without a value."""
    from bot.services import runtime

    if value is None:
        return texts.console_say("confidence.none")
    threshold = float(runtime.tree().settings["confidence_threshold"])
    return texts.console_say(f"confidence.{'sure' if value >= threshold else 'unsure'}", percent=round(value * 100))


@lru_cache(maxsize=1)
def _env() -> Environment:
    # The console's own templates first, then the shared page layout (web/templates/layout.html).
    templates = ROOT / "web" / "templates"
    env = Environment(loader=FileSystemLoader([str(templates / "console"), str(templates)]), autoescape=True)
    env.globals.update(
        PREFIX=PREFIX,
        STATUSES=texts.console_section("statuses"),
        CHANNELS=texts.console_section("channels"),
        DESTINATIONS=DESTINATIONS,
    )
    env.filters.update(
        paris_datetime=clock.stamp_datetime, paris_date=clock.stamp_date, utc_iso=clock.stamp_utc_iso, confidence=say_confidence
    )
    env.globals.update(
        SPOKEN=texts.console_section("spoken_inputs"),
        TURN_ACTIONS=texts.console_section("turn_actions"),
        AUDIT_ACTIONS=texts.console_section("audit_actions"),
        CALL_OUTCOMES=texts.console_section("call_outcomes"),
        c=texts.html_section("pages"),  # the pages' texts, bot/console_texts.yml
        csay=texts.html_say,
    )
    return env


def _secure() -> bool:
    return (settings.public_base_url() or "").startswith("https://")


def _set_cookie(resp: HTTPResponse, name: str, value: str, max_age: int | None = None) -> None:
    resp.cookies[name] = value
    cookie = resp.cookies[name]
    cookie["path"] = PREFIX
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    if _secure():
        cookie["secure"] = True
    if max_age is not None:
        cookie["max-age"] = max_age


class ConsoleInput(InputChannel):
    """Pages: /console/connexion, /console/file, /console/element/<canal>/<id>, /console/rdv,
    /console/messages, /console/courrier, /console/admin."""

    @classmethod
    def name(cls) -> str:
        return "console"

    def url_prefix(self) -> str:
        return PREFIX

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        from bot.services import runtime

        store = runtime.store()  # applies pending migrations (003_console) at start
        accounts = Accounts(store)
        bp = Blueprint("aiguillage_console", __name__)

        def topics() -> list[tuple[str, str]]:
            tree = runtime.tree()
            return [(t, (tree.topic_node(t).title if tree.topic_node(t) else t)) for t in TOPICS]

        def page(template: str, status: int = 200, session: Session | None = None, **ctx) -> HTTPResponse:
            tree = runtime.tree()
            labels = {t: (tree.topic_node(t).title if tree.topic_node(t) else t) for t in TOPICS + ["human_handoff"]}
            html = (
                _env()
                .get_template(template)
                .render(
                    session=session,
                    topic_labels=labels,
                    topics=topics(),
                    prefecture=runtime.prefecture().get("prefecture.name"),
                    **ctx,
                )
            )
            resp = response.html(html, status=status)
            resp.headers["Cache-Control"] = "no-store"
            return _security_headers(resp)

        def error(status: int, session: Session | None, title: str, message: str) -> HTTPResponse:
            return page("error.html", status=status, session=session, title=title, message=message, code=status)

        def refuse(status: int, session: Session | None, key: str, **values) -> HTTPResponse:
            """The error page `errors.<key>` of bot/console_texts.yml."""
            title, message = (texts.console_say(f"errors.{key}.{part}", **values) for part in ("title", "message"))
            return error(status, session, title, message)

        def current(request: Request) -> Session | None:
            return accounts.session(request.cookies.get(COOKIE))

        def guard(request: Request, admin: bool = False) -> tuple[Session | None, HTTPResponse | None]:
            """The session, or the response to send instead (login redirect, 401, 403)."""
            session = current(request)
            if session is None:
                if request.method == "GET":
                    target = request.path if request.path.startswith(PREFIX + "/") else PREFIX + "/file"
                    return None, response.redirect(f"{PREFIX}/connexion?{urlencode({'suite': target})}", status=303)
                return None, refuse(401, None, "session_expired")
            if request.method == "POST" and not csrf_ok(session.csrf, request.form.get("csrf") if request.form else None):
                return session, refuse(403, session, "csrf")
            if admin and not session.is_admin:
                return session, refuse(403, session, "admin_only")
            return session, None

        @bp.middleware("request")
        async def form_limit(request: Request) -> HTTPResponse | None:
            """Every POST route is declared `stream=True`: its form is read here, up to its limit,
            before the handler runs (request.form is then the usual parsed form); a larger body is
            refused with a 413 and a French page, unread."""
            if request.method != "POST" or request.stream is None:
                return None
            name = (request.route.name if request.route else "").rsplit(".", 1)[-1]
            if await read_body(request, FORM_LIMITS.get(name, FORM_LIMIT)) is None:
                too_large(request)  # logs it
                return refused_page(request, 413, say("too_large_title"), say("too_large"))
            return None

        @bp.exception(sqlite3.Error)
        async def store_failed(request: Request, exception: Exception) -> HTTPResponse:
            """The store refused a write (locked too long, disk full...): the action's transaction was
            rolled back with its audit line, so the agent is told that nothing was saved."""
            logger.error("console: store error on %s %s: %r", request.method, request.path, exception)
            return error(503, None, say("store_failed_title"), say("store_failed"))

        @bp.route("/", methods=["GET"])
        async def home(request: Request) -> HTTPResponse:
            return response.redirect(f"{PREFIX}/file", status=303)

        def login_page(request: Request, status: int = 200, message: str = "", name: str = "") -> HTTPResponse:
            token = secrets.token_urlsafe(24)
            suite = (
                request.args.get("suite")
                or (request.form.get("suite") if request.method == "POST" and request.form else "")
                or ""
            )
            if not suite.startswith(PREFIX + "/") or "//" in suite or "\\" in suite:
                suite = PREFIX + "/file"
            resp = page("login.html", status=status, login_csrf=token, message=message, name=name, suite=suite)
            _set_cookie(resp, LOGIN_COOKIE, token, max_age=3600)
            return resp

        @bp.route("/connexion", methods=["GET"])
        async def login_form(request: Request) -> HTTPResponse:
            if current(request):
                return response.redirect(f"{PREFIX}/file", status=303)
            return login_page(request)

        @bp.route("/connexion", methods=["POST"], stream=True)
        async def login(request: Request) -> HTTPResponse:
            form = request.form or {}
            if not csrf_ok(request.cookies.get(LOGIN_COOKIE), form.get("csrf")):
                return refuse(403, None, "csrf")
            name = (form.get("identifiant") or "").strip()[:40]
            password = (form.get("mot_de_passe") or "")[:1000]
            pref, address = runtime.prefecture(), client_address(request)
            # Throttling first (bot/services/throttle.py): a locked name, or a wait, is refused before
            # the password is even checked; otherwise this attempt is counted until it succeeds.
            gate = await asyncio.to_thread(lambda: throttle.login_gate(runtime.thread_store(), pref, name, address))
            if gate.locked or gate.wait_s:
                logger.warning(
                    "console: login refused for name #%s from %s (%s)",
                    throttle.log_id(store, name),
                    address,
                    "locked" if gate.locked else f"retry in {gate.wait_s} s",
                )
                if gate.locked:
                    return login_page(request, status=403, name=name, message=texts.say("requests.login_locked", pref))
                resp = login_page(
                    request,
                    status=429,
                    name=name,
                    message=texts.say("requests.login_wait", pref, wait=clock.say_duration(gate.wait_s)),
                )
                resp.headers["Retry-After"] = str(gate.wait_s)
                return resp
            # argon2 costs tens of milliseconds of CPU: in a worker thread, on its own connection
            agent = await asyncio.to_thread(lambda: Accounts(runtime.thread_store()).verify(name, password))
            if agent is None:
                locked_now = await asyncio.to_thread(lambda: throttle.login_failed(runtime.thread_store(), pref, name))
                # The typed name may be a person's (or a password typed in the wrong field): never in clear,
                # only 12 characters of its keyed hash (the same name, the same id).
                logger.warning("console: failed login for name #%s from %s", throttle.log_id(store, name), address)
                if locked_now:
                    known = accounts.get(name)
                    Queue(store, runtime.tree()).audit(
                        "—",
                        "account_locked",
                        "agent",
                        known["name"] if known else None,
                        detail={"name_id": throttle.log_id(store, name), "address": address},
                    )
                    return login_page(request, status=403, name=name, message=texts.say("requests.login_locked", pref))
                return login_page(request, status=401, name=name, message=texts.console_say("messages.bad_login"))
            await asyncio.to_thread(lambda: throttle.login_succeeded(runtime.thread_store(), name, gate.attempt))
            # the session and its audit line: both or neither (one transaction)
            token = accounts.open_session(agent, audit=lambda: Queue(store, runtime.tree()).audit(agent["name"], "login"))
            suite = form.get("suite") or ""
            if not suite.startswith(PREFIX + "/") or "//" in suite or "\\" in suite:
                suite = PREFIX + "/file"
            resp = response.redirect(suite, status=303)
            _set_cookie(resp, COOKIE, token)
            _set_cookie(resp, LOGIN_COOKIE, "", max_age=0)
            return resp

        @bp.route("/deconnexion", methods=["POST"], stream=True)
        async def logout(request: Request) -> HTTPResponse:
            session, refused = guard(request)
            if refused:
                return refused
            accounts.close_session(
                request.cookies.get(COOKIE), audit=lambda: Queue(store, runtime.tree()).audit(session.name, "logout")
            )
            resp = response.redirect(f"{PREFIX}/connexion", status=303)
            _set_cookie(resp, COOKIE, "", max_age=0)
            return resp

        @bp.route("/file", methods=["GET"])
        async def queue_page(request: Request) -> HTTPResponse:
            session, refused = guard(request)
            if refused:
                return refused
            f = Filters.from_args(request.args.get)
            result = Queue(store, runtime.tree()).page(f)
            base = {
                k: v
                for k, v in {"canal": f.channel, "theme": f.topic, "statut": f.status, "du": f.date_from, "au": f.date_to}.items()
                if v
            }

            def link(**changes) -> str:
                args = {**base, **changes}
                return f"{PREFIX}/file?" + urlencode({k: v for k, v in args.items() if v})

            return page("queue.html", session=session, f=f, result=result, link=link)

        def item_response(
            request: Request, session: Session, kind: str, item_id: str, status: int = 200, message: str = ""
        ) -> HTTPResponse:
            try:
                item = Queue(store, runtime.tree(), runtime.prefecture()).item(kind, item_id)
            except NotFound:
                return not_found(session)
            return page("item.html", status=status, session=session, item=item, message=message)

        def not_found(session: Session | None) -> HTTPResponse:
            return refuse(404, session, "not_found")

        @bp.route("/element/<kind>/<item_id>", methods=["GET"])
        async def item_page(request: Request, kind: str, item_id: str) -> HTTPResponse:
            session, refused = guard(request)
            if refused:
                return refused
            if kind not in KINDS or not ITEM_ID_RE.match(item_id):
                return not_found(session)
            return item_response(
                request, session, kind, item_id, message=request.args.get("ok") and texts.console_say("messages.labelled") or ""
            )

        @bp.route("/element/<kind>/<item_id>", methods=["POST"], stream=True)
        async def item_label(request: Request, kind: str, item_id: str) -> HTTPResponse:
            session, refused = guard(request)
            if refused:
                return refused
            if kind not in KINDS or not ITEM_ID_RE.match(item_id):
                return not_found(session)
            form = request.form
            topic = form.get("theme") or ""
            status = form.get("statut") or ""
            note = (form.get("note") or "").strip()
            example = (form.get("phrase") or "").strip()
            if (
                topic not in TOPICS + [""]
                or status not in ("in_review", "done")
                or len(note) > MAX_NOTE
                or form.get("exemple") not in (None, "1")
            ):
                return refuse(400, session, "bad_form")
            try:
                Queue(store, runtime.tree()).label(
                    kind, item_id, session.name, topic, status, note, form.get("exemple") == "1", example
                )
            except NotFound:
                return not_found(session)
            except ValueError:
                return refuse(400, session, "bad_turn")
            return response.redirect(f"{PREFIX}/element/{kind}/{item_id}?ok=1", status=303)

        # ---- PAN appointments of the day, per site (mark no-shows) ----------------------------------

        def pan_sites() -> list[dict]:
            from bot.services import pan

            return pan.sites(runtime.prefecture())

        def rdv_page(
            request: Request, session: Session, day_s: str | None, site_s: str | None, message: str = "", status: int = 200
        ) -> HTTPResponse:
            from bot.services import pan

            today = pan.paris_now().date()
            try:
                day = date.fromisoformat(day_s) if day_s and DATE_RE.match(day_s) else today
            except ValueError:
                day = today
            all_sites = pan_sites()
            ids = [s["id"] for s in all_sites]
            chosen = [site_s] if site_s in ids else ids
            groups = [(s, pan.bookings_for_day(store, s["id"], day)) for s in all_sites if s["id"] in chosen]
            shown = [b["reference"] for _, rows in groups for b in rows if b.get("contact")]
            if shown:  # every view of the contacts people gave is logged
                Queue(store, runtime.tree()).audit(
                    session.name,
                    "contact_viewed",
                    "pan",
                    day.isoformat(),
                    detail={"site": site_s if site_s in ids else "", "bookings": shown},
                )
            return page(
                "rdv.html",
                status=status,
                session=session,
                day=day.isoformat(),
                today=today.isoformat(),
                site=site_s if site_s in ids else "",
                sites=all_sites,
                groups=groups,
                reasons=pan.reasons(runtime.prefecture()),
                message=message,
                now=pan.paris_now().strftime("%Y-%m-%dT%H:%M"),
            )

        @bp.route("/rdv", methods=["GET"])
        async def rdv_list(request: Request) -> HTTPResponse:
            session, refused = guard(request)
            if refused:
                return refused
            done = {"absent": "messages.no_show", "present": "messages.no_show_undone"}.get(request.args.get("ok") or "")
            done = texts.console_say(done) if done else ""
            return rdv_page(request, session, request.args.get("jour"), request.args.get("site"), message=done)

        def no_show_too_early(session: Session, reference: str, value: str) -> HTTPResponse | None:
            """A person cannot be absent from an appointment that has not started yet (409)."""
            from bot.services import pan

            booking = pan.get_booking(store, reference)
            if booking is None or value != "1" or booking["slot_start"] <= pan.paris_now().strftime("%Y-%m-%dT%H:%M"):
                return None
            start = booking["slot_start"]
            return refuse(409, session, "too_early", day=f"{start[8:10]}/{start[5:7]}/{start[:4]}", time=start[11:16])

        @bp.route("/rdv/absence", methods=["POST"], stream=True)
        async def rdv_no_show(request: Request) -> HTTPResponse:
            from bot.services import pan

            session, refused = guard(request)
            if refused:
                return refused
            form = request.form
            reference = (form.get("reference") or "").strip().upper()
            value = form.get("absent")
            day_s, site_s = form.get("jour") or "", form.get("site") or ""
            if (
                not REFERENCE_RE.match(reference)
                or value not in ("1", "0")
                or (day_s and not DATE_RE.match(day_s))
                or (site_s and site_s not in [s["id"] for s in pan_sites()])
            ):
                return refuse(400, session, "bad_form")
            early = no_show_too_early(session, reference, value)
            if early:
                return early
            with store.transaction():  # the mark and its audit line: both or neither
                booking = pan.mark_no_show(store, reference, value == "1")
                if booking is not None:
                    Queue(store, runtime.tree()).audit(
                        session.name,
                        "no_show" if value == "1" else "no_show_undo",
                        "pan",
                        reference,
                        detail={"site": booking["site"], "slot": booking["slot_start"]},
                    )
            if booking is None:
                return not_found(session)
            back = {"jour": day_s or booking["slot_start"][:10], "site": site_s, "ok": "absent" if value == "1" else "present"}
            return response.redirect(f"{PREFIX}/rdv?" + urlencode({k: v for k, v in back.items() if v}), status=303)

        # ---- service-mailbox tickets (mark answered) and e-mail delivery failures ------------------

        @bp.route("/messages", methods=["GET"])
        async def tickets_list(request: Request) -> HTTPResponse:
            from bot.services import tickets

            session, refused = guard(request)
            if refused:
                return refused
            pref = runtime.prefecture()
            boxes = pref.get("mailboxes") or {}
            answered = request.args.get("repondus") == "1"
            by_service = tickets.tickets_by_service(store, include_answered=answered)
            groups = [
                (mid, (boxes.get(mid) or {}).get("service") or rows[0]["service"], rows)
                for mid, rows in sorted(by_service.items(), key=lambda kv: (not any(t["overdue"] for t in kv[1]), kv[0]))
            ]
            ok = request.args.get("ok") or ""
            message = texts.console_say("messages.answered_ok", reference=ok) if REFERENCE_RE.match(ok) else ""
            return page(
                "messages.html",
                session=session,
                groups=groups,
                failures=tickets.delivery_failures(store),
                today=tickets.paris_now().date().isoformat(),
                message=message,
                answered=answered,
            )

        @bp.route("/messages/repondu", methods=["POST"], stream=True)
        async def ticket_answered(request: Request) -> HTTPResponse:
            """The list's former one-click button: now the same confirmation step as the message's page."""

            session, refused = guard(request)
            if refused:
                return refused
            reference = (request.form.get("reference") or "").strip().upper()
            if not REFERENCE_RE.match(reference):
                return refuse(400, session, "bad_form")
            return ticket_mark_answered(request, session, reference)

        # ---- one message: read it, reply by e-mail, reassign, mark answered, reopen ------------------

        def ticket_page(
            session: Session,
            reference: str,
            status: int = 200,
            message: str = "",
            error_msg: str = "",
            confirm: str = "",
            values: dict | None = None,
            show_contact: bool = False,
            show_callback: bool = False,
        ) -> HTTPResponse:
            from bot.services import tickets

            ticket = tickets.get_ticket(store, reference)
            if ticket is None:
                return not_found(session)
            boxes = runtime.prefecture().get("mailboxes") or {}
            services = {mid: box["service"] for mid, box in boxes.items()}
            today = tickets.paris_now().date().isoformat()
            return page(
                "ticket.html",
                status=status,
                session=session,
                t=ticket,
                message=message,
                error=error_msg,
                confirm=confirm,
                values=values or {},
                show_contact=show_contact,
                show_callback=show_callback,
                services=services,
                history=tickets.history(store, ticket["id"]),
                voicemail=tickets.voicemail(store, ticket),
                overdue=ticket["status"] == "open" and ticket["due_date"] < today,
                max_text=MAX_REPLY,
            )

        def ticket_reference(session: Session, reference: str) -> tuple[str, HTTPResponse | None]:
            reference = (reference or "").upper()
            return reference, (None if REFERENCE_RE.match(reference) and reference.startswith("MSG-") else not_found(session))

        def ticket_text(request: Request, name: str) -> str | None:
            """A text typed by the agent (reply, answer given): stripped, None when missing or too long."""
            text = (request.form.get(name) or "").replace("\r\n", "\n").strip()
            return text if text and len(text) <= MAX_REPLY else None

        def ticket_done(reference: str, ok: str) -> HTTPResponse:
            return response.redirect(f"{PREFIX}/messages/{reference}?" + urlencode({"ok": ok}), status=303)

        @bp.route("/messages/<reference>", methods=["GET"])
        async def ticket_view(request: Request, reference: str) -> HTTPResponse:
            from bot.services import tickets

            session, refused = guard(request)
            if refused:
                return refused
            reference, bad = ticket_reference(session, reference)
            if bad:
                return bad
            ticket = tickets.get_ticket(store, reference)
            if ticket is None:
                return not_found(session)
            show_contact = request.args.get("contact") == "1" and bool(ticket["contact_email"])
            if show_contact:  # each view of the person's address is logged
                Queue(store, runtime.tree()).audit(
                    session.name, "contact_viewed", "ticket", reference, detail={"mailbox": ticket["mailbox"]}
                )
            show_callback = request.args.get("rappel") == "1" and bool(ticket.get("callback"))
            if show_callback:  # each view of a voicemail's call-back number is logged (the number is not)
                Queue(store, runtime.tree()).audit(
                    session.name, "callback_viewed", "ticket", reference, detail={"mailbox": ticket["mailbox"]}
                )
            return ticket_page(
                session,
                reference,
                message=console_word("ticket_done", request.args.get("ok") or ""),
                show_contact=show_contact,
                show_callback=show_callback,
            )

        @bp.route("/messages/<reference>/repondre", methods=["POST"], stream=True)
        async def ticket_reply(request: Request, reference: str) -> HTTPResponse:
            from bot.services import tickets
            from bot.services.mailer import deliver

            session, refused = guard(request)
            if refused:
                return refused
            reference, bad = ticket_reference(session, reference)
            if bad:
                return bad
            text = ticket_text(request, "reponse")
            if text is None:
                return ticket_page(
                    session,
                    reference,
                    400,
                    error_msg=texts.console_say("messages.reply_missing", max=MAX_REPLY),
                    values={"reponse": (request.form.get("reponse") or "")[:MAX_REPLY]},
                )
            step = request.form.get("confirme")
            if step != "1":  # first the preview, then the sending
                return ticket_page(session, reference, confirm="" if step == "0" else "reply", values={"reponse": text})
            try:
                with store.transaction():  # the reply (its e-mail queued) and its audit line: both or neither
                    ticket = tickets.reply(store, runtime.prefecture(), reference, session.name, text)
                    if ticket is not None:
                        Queue(store, runtime.tree()).audit(
                            session.name,
                            "ticket_reply",
                            "ticket",
                            reference,
                            detail={"mailbox": ticket["mailbox"], "characters": len(text)},
                        )
            except tickets.ActionRefused as exc:
                return ticket_page(session, reference, 409, error_msg=texts.console_say(f"ticket_refused.{exc.code}"))
            if ticket is None:
                return not_found(session)
            await deliver(store)
            return ticket_done(reference, "reply")

        def ticket_mark_answered(request: Request, session: Session, reference: str) -> HTTPResponse:
            from bot.services import tickets

            before = tickets.get_ticket(store, reference)
            if before is None:
                return not_found(session)
            if before["status"] == "answered":
                return ticket_done(reference, "answered")
            text = ticket_text(request, "reponse")
            step = request.form.get("confirme")
            if text is None:
                return ticket_page(
                    session,
                    reference,
                    200 if step is None and "reponse" not in request.form else 400,
                    error_msg=texts.console_say("messages.answer_missing", max=MAX_REPLY),
                    values={"note": (request.form.get("reponse") or "")[:MAX_REPLY]},
                )
            if step != "1":
                return ticket_page(session, reference, confirm="" if step == "0" else "answered", values={"note": text})
            with store.transaction():  # the answer and its audit line: both or neither
                ticket = tickets.mark_answered(store, reference, agent=session.name, answer=text)
                Queue(store, runtime.tree()).audit(
                    session.name,
                    "ticket_answered",
                    "ticket",
                    reference,
                    detail={"mailbox": ticket["mailbox"], "working_days": ticket["answer_working_days"]},
                )
            return ticket_done(reference, "answered")

        @bp.route("/messages/<reference>/repondu", methods=["POST"], stream=True)
        async def ticket_answered_page(request: Request, reference: str) -> HTTPResponse:
            session, refused = guard(request)
            if refused:
                return refused
            reference, bad = ticket_reference(session, reference)
            if bad:
                return bad
            return ticket_mark_answered(request, session, reference)

        @bp.route("/messages/<reference>/reaffecter", methods=["POST"], stream=True)
        async def ticket_reassign(request: Request, reference: str) -> HTTPResponse:
            from bot.services import tickets
            from bot.services.mailer import deliver

            session, refused = guard(request)
            if refused:
                return refused
            reference, bad = ticket_reference(session, reference)
            if bad:
                return bad
            target = request.form.get("service") or ""
            if target not in (runtime.prefecture().get("mailboxes") or {}):
                return ticket_page(session, reference, 400, error_msg=texts.console_say("messages.choose_service"))
            before = tickets.get_ticket(store, reference)
            try:
                with store.transaction():  # the new service (its copy queued) and the audit line: both or neither
                    ticket = tickets.reassign(store, runtime.prefecture(), reference, session.name, target)
                    if ticket is not None:
                        Queue(store, runtime.tree()).audit(
                            session.name,
                            "ticket_reassigned",
                            "ticket",
                            reference,
                            detail={"from": before["mailbox"], "to": ticket["mailbox"]},
                        )
            except tickets.ActionRefused as exc:
                return ticket_page(session, reference, 409, error_msg=texts.console_say(f"ticket_refused.{exc.code}"))
            if ticket is None:
                return not_found(session)
            await deliver(store)  # the new service's copy
            return ticket_done(reference, "reassigned")

        @bp.route("/messages/<reference>/rouvrir", methods=["POST"], stream=True)
        async def ticket_reopen(request: Request, reference: str) -> HTTPResponse:
            from bot.services import tickets

            session, refused = guard(request)
            if refused:
                return refused
            reference, bad = ticket_reference(session, reference)
            if bad:
                return bad
            try:
                with store.transaction():  # reopened and its audit line: both or neither
                    ticket = tickets.reopen(store, reference, session.name)
                    if ticket is not None:
                        Queue(store, runtime.tree()).audit(
                            session.name, "ticket_reopened", "ticket", reference, detail={"mailbox": ticket["mailbox"]}
                        )
            except tickets.ActionRefused as exc:
                return ticket_page(session, reference, 409, error_msg=texts.console_say(f"ticket_refused.{exc.code}"))
            if ticket is None:
                return not_found(session)
            return ticket_done(reference, "reopened")

        # ---- quality indicators: page with charts, CSV of every table, the committee report ---------

        def indicators_period(request: Request):
            """(start, end, include_demo, form values) of the request, or raises PeriodError (French)."""
            from bot.quality import report

            start, end = report.console_period(request.args.get("from"), request.args.get("to"))
            return start, end, request.args.get("demo") == "1"

        async def indicators_data(start, end, include_demo: bool, with_charts: bool = True) -> dict:
            """The indicators of a period, computed in a worker thread on its own SQLite connection: a year
            of traffic takes seconds, during which the chat and the phone must keep answering."""
            from bot.quality import report

            pref = runtime.prefecture()

            def compute() -> dict:
                with _INDICATORS_LOCK:  # one at a time: matplotlib's rc settings are process-wide
                    reader = Store(store.path)
                    try:
                        return report.collect(reader, pref, start, end, include_demo=include_demo, with_charts=with_charts)
                    finally:
                        reader.close()

            return await asyncio.get_running_loop().run_in_executor(None, compute)

        @bp.route("/indicateurs", methods=["GET"])
        async def indicators_page(request: Request) -> HTTPResponse:
            from bot.quality import indicators, report

            session, refused = guard(request)
            if refused:
                return refused
            today = report.paris_today()
            quick = report.quick_periods(today)
            try:
                start, end, demo = indicators_period(request)
            except indicators.PeriodError as exc:
                return page(
                    "indicators.html",
                    status=400,
                    session=session,
                    error=str(exc),
                    data=None,
                    quick=quick,
                    start_s=(request.args.get("from") or "")[:20],
                    end_s=(request.args.get("to") or "")[:20],
                    demo=request.args.get("demo") == "1",
                )
            data = await indicators_data(start, end, demo)

            def link(path: str, **extra) -> str:
                args = {"from": start.isoformat(), "to": end.isoformat(), **({"demo": "1"} if demo else {}), **extra}
                return f"{PREFIX}/{path}?" + urlencode(args)

            return page(
                "indicators.html",
                session=session,
                error="",
                data=data,
                tables=report.tables(data),
                quick=quick,
                start_s=start.isoformat(),
                end_s=end.isoformat(),
                demo=demo,
                link=link,
            )

        def download_period(request: Request):
            """(session, (start, end, include_demo), None) for a download of the indicators, or
            (session, None, the response: login redirect or 400 with the French reason)."""
            from bot.quality import indicators

            session, refused = guard(request)
            if refused:
                return session, None, refused
            try:
                return session, indicators_period(request), None
            except indicators.PeriodError as exc:
                return session, None, refuse(400, session, "bad_period", reason=exc)

        @bp.route("/indicateurs.csv", methods=["GET"])
        async def indicators_csv(request: Request) -> HTTPResponse:
            from bot.quality import report

            session, period, refused = download_period(request)
            if refused:
                return refused
            start, end, demo = period
            wanted = request.args.get("table") or ""
            data = await indicators_data(start, end, demo, with_charts=False)
            table = next((t for t in report.tables(data) if t.id == wanted), None)
            if table is None:
                return refuse(404, session, "no_table")
            Queue(store, runtime.tree()).audit(
                session.name, "indicators_csv", "indicators", table.id, detail={"from": start.isoformat(), "to": end.isoformat()}
            )
            name = f"indicateurs-{table.id}-{start.isoformat()}-{end.isoformat()}.csv"
            resp = response.raw(
                table.csv().encode("utf-8"),
                content_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
            )
            return _security_headers(resp)

        @bp.route("/indicateurs/rapport.html", methods=["GET"])
        async def indicators_report(request: Request) -> HTTPResponse:
            from bot.quality import report

            session, period, refused = download_period(request)
            if refused:
                return refused
            start, end, demo = period
            html = report.render_html(await indicators_data(start, end, demo))
            Queue(store, runtime.tree()).audit(
                session.name, "committee_report", "indicators", None, detail={"from": start.isoformat(), "to": end.isoformat()}
            )
            name = report.report_name(runtime.prefecture().id, start, end) + ".html"
            resp = response.html(
                html, headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
            )
            # A standalone file with its own inline CSS: nothing else may load or run if it is opened here.
            resp.headers["Content-Security-Policy"] = (
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
            )
            resp.headers["X-Content-Type-Options"] = "nosniff"
            resp.headers["Referrer-Policy"] = "no-referrer"
            return resp

        # ---- paper letters registered by an agent (a ticket of origin "paper") ---------------------

        def paper_page(
            session: Session, status: int = 200, error_msg: str = "", values: dict | None = None, done: dict | None = None
        ) -> HTTPResponse:
            from bot.services import tickets

            pref = runtime.prefecture()
            today = tickets.paris_now().date().isoformat()
            boxes = [(mid, box["service"]) for mid, box in (pref.get("mailboxes") or {}).items()]
            return page(
                "paper.html",
                status=status,
                session=session,
                mailboxes=boxes,
                today=today,
                values=values or {"received": today},
                error=error_msg,
                done=done,
                subject_max=pref.get("tickets.subject_max_chars"),
                body_max=pref.get("tickets.max_chars"),
            )

        @bp.route("/courrier", methods=["GET"])
        async def paper_form(request: Request) -> HTTPResponse:
            from bot.services import tickets

            session, refused = guard(request)
            if refused:
                return refused
            ok = request.args.get("ok") or ""
            done = tickets.get_ticket(store, ok) if REFERENCE_RE.match(ok) else None
            return paper_page(session, done=done if done and done["origin"] == "paper" else None)

        @bp.route("/courrier", methods=["POST"], stream=True)
        async def paper_register(request: Request) -> HTTPResponse:
            from bot.services import tickets
            from bot.services.mailer import deliver

            session, refused = guard(request)
            if refused:
                return refused
            form = request.form
            values = {
                k: (form.get(k) or "")[:limit]
                for k, limit in (("service", 64), ("received", 10), ("subject", 1000), ("body", 20000), ("email", 254))
            }
            try:
                received = date.fromisoformat(values["received"]) if DATE_RE.match(values["received"]) else None
            except ValueError:
                received = None
            if received is None:
                return paper_page(session, 400, texts.console_say("messages.bad_received_date"), values)
            try:
                with store.transaction():  # the letter's ticket (its e-mails queued) and the audit line: both or neither
                    ticket = tickets.register_paper(
                        store,
                        runtime.prefecture(),
                        values["service"],
                        values["subject"],
                        values["body"],
                        values["email"] or None,
                        received,
                    )
                    Queue(store, runtime.tree()).audit(
                        session.name,
                        "paper_letter",
                        "ticket",
                        ticket["reference"],
                        detail={"mailbox": ticket["mailbox"], "received": received.isoformat(), "due_date": ticket["due_date"]},
                    )
            except tickets.TicketError as exc:
                return paper_page(session, 400, exc.message, values)
            await deliver(store)  # the service's copy (and the acknowledgement when an e-mail was given)
            return response.redirect(f"{PREFIX}/courrier?" + urlencode({"ok": ticket["reference"]}), status=303)

        @bp.route("/admin", methods=["GET"])
        async def admin_page(request: Request) -> HTTPResponse:
            session, refused = guard(request, admin=True)
            if refused:
                return refused
            name = (request.args.get("compte") or "")[:40]
            done = {"cree": "account_created", "mot-de-passe": "password_changed", "deverrouille": "account_unlocked"}.get(
                request.args.get("ok") or ""
            )
            message = texts.console_say(f"messages.{done}", name=name) if done and accounts.get(name) else ""
            return admin_view(session, message=message)

        @bp.route("/admin/export", methods=["POST"], stream=True)
        async def admin_export(request: Request) -> HTTPResponse:
            session, refused = guard(request, admin=True)
            if refused:
                return refused
            from bot.nlu.review import export

            q = Queue(store, runtime.tree())
            try:
                result = export(store)
            except OSError as exc:
                logger.exception("console: export failed")
                return refuse(503, session, "export_failed", reason=exc.strerror)
            q.audit(session.name, "export", detail=result)
            training = store.db.execute("select count(*) from reviews where as_training = 1").fetchone()[0]
            return page(
                "admin.html", session=session, agents=accounts.list(), audit=q.audit_log(), training=training, result=result
            )

        # ---- accounts, from the Administration page (the CLI stays for the first admin) -------------

        def admin_view(
            session: Session, status: int = 200, message: str = "", error_msg: str = "", values: dict | None = None
        ) -> HTTPResponse:
            q = Queue(store, runtime.tree())
            training = store.db.execute("select count(*) from reviews where as_training = 1").fetchone()[0]
            agents = accounts.list()
            return page(
                "admin.html",
                status=status,
                session=session,
                agents=agents,
                locked=throttle.locked(store, [a["name"] for a in agents]),
                audit=q.audit_log(),
                training=training,
                result=None,
                message=message,
                error=error_msg,
                values=values or {},
            )

        def admin_passwords(form) -> tuple[str, str | None]:
            """(password, French error or None): both fields must match."""
            password = (form.get("mot_de_passe") or "")[:1000]
            if password != (form.get("confirmation") or "")[:1000]:
                return password, texts.console_say("messages.passwords_differ")
            return password, None

        @bp.route("/admin/comptes", methods=["POST"], stream=True)
        async def admin_add_account(request: Request) -> HTTPResponse:
            from bot.services.accounts import AuthError

            session, refused = guard(request, admin=True)
            if refused:
                return refused
            form = request.form
            name, role = (form.get("identifiant") or "").strip()[:40], form.get("role") or ""
            password, problem = admin_passwords(form)
            if problem is None:

                def create() -> None:  # argon2 takes a while: in a worker thread, on its own connection
                    own = runtime.thread_store()
                    audit = Queue(own, runtime.tree()).audit  # the account and its audit line: both or neither
                    Accounts(own).add(
                        name,
                        role,
                        password,
                        audit=lambda: audit(session.name, "agent_created", "agent", name, detail={"role": role}),
                    )

                try:
                    await asyncio.to_thread(create)
                except AuthError as exc:
                    problem = str(exc)
            if problem:
                return admin_view(
                    session,
                    400,
                    error_msg=texts.console_say("messages.account_not_created", reason=problem),
                    values={"name": name, "role": role},
                )
            return response.redirect(f"{PREFIX}/admin?" + urlencode({"ok": "cree", "compte": name}), status=303)

        @bp.route("/admin/mot-de-passe", methods=["POST"], stream=True)
        async def admin_reset_password(request: Request) -> HTTPResponse:
            from bot.services.accounts import AuthError

            session, refused = guard(request, admin=True)
            if refused:
                return refused
            form = request.form
            name = (form.get("identifiant") or "").strip()[:40]
            if accounts.get(name) is None:
                return admin_view(session, 400, error_msg=texts.console_say("messages.choose_account"))
            password, problem = admin_passwords(form)
            if problem is None:

                def reset() -> None:  # argon2 in a worker thread, on its own connection
                    own = runtime.thread_store()
                    audit = Queue(own, runtime.tree()).audit  # the password and its audit line: both or neither
                    Accounts(own).set_password(name, password, audit=lambda: audit(session.name, "password_reset", "agent", name))

                try:
                    await asyncio.to_thread(reset)
                except AuthError as exc:
                    problem = str(exc)
            if problem:
                return admin_view(
                    session,
                    400,
                    error_msg=texts.console_say("messages.password_not_changed", reason=problem),
                    values={"reset": name},
                )
            return response.redirect(f"{PREFIX}/admin?" + urlencode({"ok": "mot-de-passe", "compte": name}), status=303)

        @bp.route("/admin/deverrouiller", methods=["POST"], stream=True)
        async def admin_unlock(request: Request) -> HTTPResponse:
            """Lift the lockout of an account after too many failed logins (audit-logged)."""
            session, refused = guard(request, admin=True)
            if refused:
                return refused
            name = (request.form.get("identifiant") or "").strip()[:40]
            if accounts.get(name) is None:
                return admin_view(session, 400, error_msg=texts.console_say("messages.choose_account"))
            with store.transaction():  # the unlock and its audit line: both or neither
                unlocked = throttle.unlock(store, name)
                if unlocked:
                    Queue(store, runtime.tree()).audit(session.name, "account_unlocked", "agent", name)
            if not unlocked:
                return admin_view(session, 409, error_msg=texts.console_say("messages.not_locked", name=name))
            return response.redirect(f"{PREFIX}/admin?" + urlencode({"ok": "deverrouille", "compte": name}), status=303)

        @bp.route("/<rest:path>", methods=["GET", "POST"], stream=True)
        async def unknown(request: Request, rest: str) -> HTTPResponse:
            if request.method == "GET" and not rest.strip("/"):  # "/console/", the URL `make run` prints
                return response.redirect(f"{PREFIX}/file", status=303)
            session, refused = guard(request)
            if refused:
                return refused
            return not_found(session)

        return bp
