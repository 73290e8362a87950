"""What every area of the console shares: its templates and cookies, the Console (the store, the
accounts, the pages and refusals every handler answers with, the action helper) and the guard
decorators `agent_only` / `admin_only`.

The guard: without a session, a GET is sent to the login page (303) and anything else gets a 401;
a POST must carry the session's CSRF token (else 403); an admin page answers 403 to an agent. The
guarded handler is then called as handler(request, console, session, **path parameters).

Signing in leads back to the page the agent was on (`suite`, checked by `safe_suite`): the GET page
that asked for the login, or for a form posted after the session expired, the page of that form
(`form_page`: a message's reply form leads back to the message), its 401 page linking to the login
with it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlencode

from jinja2 import Environment, FileSystemLoader
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core import clock, texts
from bot.core.config import ROOT
from bot.core.numbers import fr_percent
from bot.core.ranking import VAGUE_INTENT
from bot.core.tree import REVIEW_LABELS, TOPICS
from bot.quality.report import DESTINATIONS
from bot.services import mailer, runtime
from bot.services.accounts import Accounts, Session, csrf_ok
from bot.services.queue import Queue
from bot.store.database import Store
from bot.web import http
from bot.web.http import security_headers

PREFIX = "/console"
COOKIE = "aiguillage_console"
LOGIN_COOKIE = "aiguillage_console_login"  # double-submit CSRF token of the login form
ITEM_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REFERENCE_RE = re.compile(r"^(PAN|MSG)-\d{4}-\d{4}$")
DEFAULT_PAGE = PREFIX + "/file"  # the queue: where signing in leads when no other page is asked
# The forms posted to their own page's address (a queue item's label, a paper letter); every other
# form posts to an address under its page's (a message's reply: /console/messages/<reference>/repondre).
FORMS_ON_THEIR_PAGE = re.compile(rf"^{PREFIX}/(element/[^/]+/[^/]+|courrier)$")


def safe_suite(suite: str | None) -> str:
    """Where to go after signing in: `suite` when it is a path of this console (with its query), else
    the queue. Never another site, nor a page outside /console: an absolute URL, `//host`, a
    backslash, a scheme, a space or control character, a dot segment (plain or %2e) are refused."""
    suite = suite or ""
    path = unquote(suite.split("?", 1)[0])
    if (
        len(suite) > 2000
        or not suite.startswith(PREFIX + "/")
        or any(not "!" <= char <= "~" for char in suite)
        or any(mark in text for mark in ("//", "\\") for text in (suite, path))
        or {".", ".."} & set(path.split("/"))
    ):
        return DEFAULT_PAGE
    return suite


def login_url(suite: str | None) -> str:
    """The login page, leading on to `suite` once signed in (the queue if it is not a console page)."""
    return f"{PREFIX}/connexion?{urlencode({'suite': safe_suite(suite)})}"


def form_page(path: str) -> str:
    """The page a form posted to `path` is on: where signing in again leads after its session expired."""
    return safe_suite(path if FORMS_ON_THEIR_PAGE.match(path) else path.rsplit("/", 1)[0])


# The console's words (bot/console_texts.yml): an action's outcome, a refusal, the names of codes.
def console_word(section: str, key: str, default: str = "") -> str:
    return texts.console_section(section).get(key, default)


def say_confidence(value: float | None) -> str:
    """'sûr (91 %)' at or above the routing threshold (bot/tree.yml settings.confidence_threshold),
    'hésitant (42 %)' below it, '—' without a value."""
    if value is None:
        return texts.console_say("confidence.none")
    threshold = float(runtime.tree().settings["confidence_threshold"])
    return texts.console_say(f"confidence.{'sure' if value >= threshold else 'unsure'}", percent=whole_percent(value))


def whole_percent(fraction: float) -> str:
    """A fraction as a whole percentage ("42 %"), written as every percentage of the product (bot/core/numbers.py)."""
    return fr_percent(fraction, 0)


def first_words(text: str | None) -> str:
    """A message's first words (`console.label_words`), « … » when it has more: what names its item for a
    screen reader, after its date (two items of the same minute must not read the same)."""
    words = (text or "").split()
    count = int(runtime.prefecture().get("console.label_words"))
    return " ".join(words[:count]) + ("…" if len(words) > count else "")


@lru_cache(maxsize=1)
def templates() -> Environment:
    # The console's own templates first, then the shared page layout (web/templates/layout.html).
    folder = ROOT / "web" / "templates"
    env = Environment(loader=FileSystemLoader([str(folder / "console"), str(folder)]), autoescape=True)
    env.globals.update(
        PREFIX=PREFIX,
        STATUSES=texts.console_section("statuses"),
        CHANNELS=texts.console_section("channels"),
        DESTINATIONS=DESTINATIONS,
    )
    env.filters.update(
        paris_datetime=clock.stamp_datetime,
        paris_date=clock.stamp_date,
        utc_iso=clock.stamp_utc_iso,
        confidence=say_confidence,
        percent=whole_percent,
        first_words=first_words,
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


def set_cookie(resp: HTTPResponse, name: str, value: str, max_age: int | None = None) -> None:
    """A cookie of the console, scoped to it (bot/web/http.py set_cookie)."""
    http.set_cookie(resp, name, value, PREFIX, max_age)


def topic_label(topic: str) -> str:
    """A topic's title in the tree; a request that names no procedure (a review's label) says so."""
    if topic == VAGUE_INTENT:
        return texts.console_say("pages.item.no_procedure")
    node = runtime.tree().topic_node(topic)
    return node.title if node else topic


def page_links(page: int, pages: int) -> list[int | None]:
    """The page numbers a pagination links to: the first, the last, and `console.page_links_around`
    either side of `page`; None where numbers are left out (a gap, shown as such)."""
    around = int(runtime.prefecture().get("console.page_links_around"))
    kept = sorted({1, pages} | set(range(max(1, page - around), min(pages, page + around) + 1)))
    links: list[int | None] = []
    for number in kept:
        if links and number - links[-1] > 1:
            links.append(None)
        links.append(number)
    return links


def asked_page(value: str | None) -> int:
    """The page asked for (`page=N`): 1 for anything that is not a page number."""
    try:
        return max(1, min(int(value or 1), 1_000_000))
    except ValueError:
        return 1


# An audit line: (action, kind, item id, detail), as Queue.audit takes them after the agent.
AuditLine = tuple[str, str | None, str | None, dict | None] | None


class Console:
    """The console's store and accounts, and the answers shared by its areas."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.accounts = Accounts(store)

    def queue(self) -> Queue:
        return Queue(self.store, runtime.tree())

    def audit(self, agent: str, action: str, kind: str | None = None, item_id: str | None = None, detail=None) -> None:
        self.queue().audit(agent, action, kind, item_id, detail=detail)

    def page(self, template: str, status: int = 200, session: Session | None = None, **ctx) -> HTTPResponse:
        html = (
            templates()
            .get_template(template)
            .render(
                session=session,
                topic_labels={t: topic_label(t) for t in REVIEW_LABELS + ["human_handoff"]},
                topics=[(t, topic_label(t)) for t in TOPICS],  # the bot's topics (the queue's filter)
                review_labels=[(t, topic_label(t)) for t in REVIEW_LABELS],  # what an agent may teach
                prefecture=runtime.prefecture().get("prefecture.name"),
                **ctx,
            )
        )
        resp = response.html(html, status=status)
        resp.headers["Cache-Control"] = "no-store"
        return security_headers(resp)

    def error(
        self, status: int, session: Session | None, title: str, message: str, kept: str = "", suite: str = ""
    ) -> HTTPResponse:
        """An error page; without a session, its login link leads on to `suite` (by default the queue)."""
        ctx = {"title": title, "message": message, "code": status, "kept": kept, "login_url": login_url(suite)}
        return self.page("error.html", status=status, session=session, **ctx)

    def refuse(self, status: int, session: Session | None, key: str, kept: str = "", suite: str = "", **values) -> HTTPResponse:
        """The error page `errors.<key>` of bot/console_texts.yml; `kept`: what the agent had typed, given
        back; `suite`: the page its login link leads back to."""
        title, message = (texts.console_say(f"errors.{key}.{part}", **values) for part in ("title", "message"))
        return self.error(status, session, title, message, kept=kept, suite=suite)

    def not_found(self, session: Session | None) -> HTTPResponse:
        return self.refuse(404, session, "not_found")

    def current(self, request: Request) -> Session | None:
        return self.accounts.session(request.cookies.get(COOKIE))

    def guard(self, request: Request, admin: bool = False) -> tuple[Session | None, HTTPResponse | None]:
        """The session, or the response to send instead (login redirect, 401, 403)."""
        session = self.current(request)
        if session is None:
            if request.method == "GET":  # the page asked, with its filters
                target = request.path + (f"?{request.query_string}" if request.query_string else "")
                return None, response.redirect(login_url(target), status=303)
            return None, self.refuse(401, None, "session_expired", kept=typed(request), suite=form_page(request.path))
        if request.method == "POST" and not csrf_ok(session.csrf, request.form.get("csrf") if request.form else None):
            return session, self.refuse(403, session, "csrf")
        if admin and not session.is_admin:
            return session, self.refuse(403, session, "admin_only")
        return session, None

    async def act(
        self,
        session: Session,
        change: Callable[[], Any],
        audit: Callable[[Any], AuditLine],
        done: Callable[[Any], str],
        missing: Callable[[], HTTPResponse] | None = None,
        deliver: bool = False,
        keys: tuple[str, ...] = (),
    ) -> HTTPResponse:
        """An agent's action: `change()` and its audit line `audit(result)` (None: no line) in one
        transaction (both or neither), then the e-mails it queued sent when `deliver`, then a 303 to
        `done(result)`.
        When change() finds nothing to change (None, False): no audit line, and `missing()` answers
        (by default the 404 page). An exception from change() rolls both back; the caller answers it.
        `keys` (bot.store.pg.lock_key): what change() reads to decide what it writes (a ticket); on
        PostgreSQL the action then waits only for those (docs/store.md), else for every other writer."""
        with self.store.transaction(*keys):
            result = change()
            line = audit(result) if result else None
            if line:  # None: nothing done (a double submission's replay), nothing to log
                self.audit(session.name, *line)
        if not result:
            return missing() if missing else self.not_found(session)
        if deliver:
            await mailer.deliver(self.store)
        return response.redirect(done(result), status=303)


Handler = Callable[..., Awaitable[HTTPResponse]]

# The forms' fields an agent writes in (a reply, an answer noted, a review's note, a paper letter):
# given back on the page of an expired session, so that the text is not lost with it.
TYPED_FIELDS = ("subject", "body", "reponse", "note")


def typed(request: Request) -> str:
    """What the agent had typed in the form posted, its fields one after the other."""
    form = request.form or {}
    return "\n\n".join(text for name in TYPED_FIELDS if (text := (form.get(name) or "").strip()))


def _guarded(handler: Handler, admin: bool) -> Handler:
    @functools.wraps(handler)
    async def checked(request: Request, console: Console, **parameters: Any) -> HTTPResponse:
        session, refused = console.guard(request, admin=admin)
        if refused:
            return refused
        return await handler(request, console, session, **parameters)

    return checked


def agent_only(handler: Handler) -> Handler:
    """For any signed-in agent (see the module's docstring)."""
    return _guarded(handler, admin=False)


def admin_only(handler: Handler) -> Handler:
    """For admins only: an agent gets the 403 page."""
    return _guarded(handler, admin=True)
