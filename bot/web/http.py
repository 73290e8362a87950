"""HTTP helpers shared by the web channels (chat, rdv, console): the body limits and the reading of
a streamed body, JSON bodies, the security headers (Content-Security-Policy), the French answers to
refused requests (JSON for programs, a page for people), and the server-wide hooks (404/405/413).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage, MethodNotSupported, NotFound, PayloadTooLarge, RequestTimeout, ServiceUnavailable
from sanic.headers import parse_content_header
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import settings
from bot.web import degraded

logger = logging.getLogger(__name__)

ACTIONS_PATH = "/webhooks/actions/webhook"
# Where the booking and message pages live (bot/web/rdv/): their blueprint, their cookies, the chat's links to them.
RDV_PREFIX = "/rdv"
# Routes called by programs (the booking's and the chat page's JSON APIs, Twilio's and Rasa's
# webhooks): errors as JSON, `{"error": the French reason}`, which web/static/chat.js shows.
JSON_PREFIXES = (RDV_PREFIX + "/api/", "/webhooks/", "/chat/webhook", "/chat/feedback", "/chat/history", "/chat/config")

# The largest body each route reads (bytes), checked on the declared Content-Length, then on what
# arrives (issue 13: the chat webhook took an 85 MB body). A rating's comment is cut at 500
# characters, a message to a service at 20000 (bot/web/rdv/). The chat webhook's limit follows
# the routing tree's max_message_chars: bot.web.chat.webhook_limit.
BODY_LIMITS = {
    "/chat/feedback": 8_000,
    RDV_PREFIX + "/api/reserver": 8_000,
    RDV_PREFIX + "/api/annuler": 8_000,
    RDV_PREFIX + "/api/message": 64_000,
    RDV_PREFIX + "/reserver": 8_000,
    RDV_PREFIX + "/annuler": 8_000,
    RDV_PREFIX + "/message": 64_000,
    # Rasa's call to the in-process action: the tracker of the current session, every event with
    # its parse data, plus the domain. Measured on 2026-12-01: 19 kB for the first turn, then ~12 kB
    # more per 2000-character message: 501 kB after 40 such turns (tests/test_actions_endpoint.py
    # holds 40). A session ends after session_expiration_time (domain.yml) of silence.
    ACTIONS_PATH: 1_000_000,
}


def json_error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def too_many_requests(message: str, wait_s: int) -> HTTPResponse:
    """A request over a per-address limit (the chat's, the /rdv API's): 429, `Retry-After`, and
    {"error": the French reason, "code": "throttled", "retry_after": seconds} (docs/operations.md "Throttling")."""
    resp = security_headers(response.json({"error": message, "code": "throttled", "retry_after": wait_s}, status=429))
    resp.headers["Retry-After"] = str(wait_s)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def say(key: str) -> str:
    """A text of the `requests` section of bot/tree.yml (answers to refused requests)."""
    from bot.core import texts
    from bot.services import runtime

    return texts.say(f"requests.{key}", runtime.prefecture())


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body of a route declared with `stream=True`, read up to `limit` bytes; None when it is
    longer: refused on the declared Content-Length before anything is read, else on the bytes that
    actually arrive (a chunked body declares no length). Sanic then closes the connection rather
    than draining the rest, and the answer says `Connection: close` (a reverse proxy keeping the
    connection for its next request would get it closed under it: a 502 for that request)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        if request.stream is not None:
            request.stream.request_max_size = limit
            request.stream.keep_alive = False
        return None
    if request.stream is None:  # already read (not a streamed route)
        return None if len(request.body or b"") > limit else (request.body or b"")
    request.stream.request_max_size = limit
    try:
        await request.receive_body()
    except PayloadTooLarge:
        return None
    return request.body or b""


def form_readable(request: Request) -> bool:
    """Whether the form of a body already read (read_body) can be read as the pages' `request.form`:
    False, logged as a warning, for a multipart body without its boundary and for bytes that are not
    UTF-8 (a form in Latin-1). Sanic's own reading of those logs a traceback and hands the page an
    empty form, whose refusal (a 403, a field missing) would not say why."""
    content_type, parameters = parse_content_header(request.headers.get("content-type") or "")
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return True  # no form: request.form is empty, as the page expects of a missing field
    try:
        if content_type == "multipart/form-data" and not parameters.get("boundary"):
            raise ValueError("no boundary")
        (request.body or b"").decode("utf-8")
    except ValueError as exc:  # UnicodeDecodeError is one
        logger.warning("unreadable form on %s: %s", request.path, type(exc).__name__)
        return False
    return True


def unreadable_form(request: Request) -> HTTPResponse:
    """The 400 page for a form that cannot be read (form_readable)."""
    return refused_page(request, 400, say("bad_request_title"), say("bad_request"))


def too_large(request: Request) -> HTTPResponse:
    logger.warning(
        "refused a body over the limit on %s (declared %s)", request.path, request.headers.get("content-length", "none: chunked")
    )
    return security_headers(json_error(413, say("too_large")))


def load_json(body: bytes, not_json: str, path: str = "") -> object:
    """Parse a JSON body; ValueError(not_json) for anything unreadable, logged: invalid syntax,
    nesting deeper than the parser allows, integers longer than Python converts, and strings with
    a lone surrogate (valid JSON, but no text: they cannot be stored or shown)."""
    try:
        payload = json.loads(body.decode("utf-8"))
        json.dumps(payload, ensure_ascii=False).encode("utf-8")  # no lone surrogate anywhere
    except UnicodeDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int digits, surrogates: ValueError
        logger.warning("malformed request on %s: %s", path or "?", type(exc).__name__)
        raise ValueError(not_json) from None
    return payload


def security_headers(resp: HTTPResponse) -> HTTPResponse:
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def set_cookie(resp: HTTPResponse, name: str, value: str, path: str, max_age: int | None = None) -> None:
    """Every cookie the product sets (docs/privacy.md, « Cookies »): scoped to `path`, never read by a
    script (HttpOnly), never sent from another site (SameSite=Strict), only over https behind it
    (Secure, from AIGUILLAGE_PUBLIC_BASE_URL); `max_age` in seconds (0 drops it; None: the browser's session)."""
    resp.cookies[name] = value
    cookie = resp.cookies[name]
    cookie["path"] = path
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    if (settings.public_base_url() or "").startswith("https://"):
        cookie["secure"] = True
    if max_age is not None:
        cookie["max-age"] = max_age


def refused_page(request: Request, status: int, title: str, message: str) -> HTTPResponse:
    """A French error for a request no route takes: `{"error"}` under JSON_PREFIXES (the machines' and
    the chat page's routes), else a page (the console's own error page under /console/, the public pages'
    layout everywhere else)."""
    from bot.services import runtime

    if request.path.startswith(JSON_PREFIXES):
        resp = json_error(status, message)
    elif request.path.startswith("/console"):
        from bot.web.console.pages import templates

        html = (
            templates()
            .get_template("error.html")
            .render(
                session=None,
                title=title,
                message=message,
                code=status,
                topic_labels={},
                topics=[],
                prefecture=runtime.prefecture().get("prefecture.name"),
            )
        )
        resp = response.html(html, status=status)
    else:
        html = (
            runtime._templates()
            .get_template("rdv.html")
            .render(**runtime.public_page_context(), page="error", title=title, error=message, csrf="")
        )
        resp = response.html(html, status=status)
    resp.headers["Cache-Control"] = "no-store"
    return security_headers(resp)


def retry_after_store_busy(resp: HTTPResponse) -> HTTPResponse:
    """`resp` (a 503: the store stayed locked) with `Retry-After` (bot/tree.yml settings.store_busy_retry_after_s)."""
    from bot.services import runtime

    resp.headers["Retry-After"] = str(runtime.tree().settings.get("store_busy_retry_after_s", 30))
    return resp


STATIC_PREFIXES = ("/chat/static", "/chat/dsfr")  # bot/web/chat.py's static folders


def _not_found(request: Request, exception: Exception) -> HTTPResponse:
    return refused_page(request, 404, say("not_found_title"), say("not_found"))


def _not_allowed(request: Request, exception: Exception) -> HTTPResponse:
    resp = refused_page(request, 405, say("not_allowed_title"), say("not_allowed"))
    allowed = getattr(exception, "headers", None) or {}
    if allowed.get("Allow"):
        resp.headers["Allow"] = allowed["Allow"]
    return resp


def _payload_too_large(request: Request, exception: Exception) -> HTTPResponse:
    if "header" in str(exception):  # Sanic's "Request header exceeds the size limit" (8 kB)
        return refused_page(request, 431, say("too_large_title"), say("headers_too_large"))
    return too_large(request)


def _unreadable(request: Request, exception: Exception) -> HTTPResponse:
    """A request that is not valid HTTP (a request line or header that cannot be read, a broken chunk),
    or that came too slowly (Sanic's request timeout): French, in JSON to a client that sent JSON."""
    slow = isinstance(exception, RequestTimeout)
    status, title, message = (408, "too_slow_title", "request_too_slow") if slow else (400, "bad_request_title", "bad_request")
    if "json" in (request.headers.get("content-type") or ""):
        return security_headers(json_error(status, say(message)))
    return refused_page(request, status, say(title), say(message))


def _too_slow(request: Request, exception: Exception) -> HTTPResponse:
    """Sanic's response timeout (`SANIC_RESPONSE_TIMEOUT`, 60 s): the request was given up on, in French."""
    logger.error("gave up on %s %s: %s", request.method, request.path, exception)
    return retry_after_store_busy(refused_page(request, 503, say("too_slow_title"), say("too_slow")))


ERROR_PAGES = (
    (NotFound, _not_found),
    (IsADirectoryError, _not_found),  # a static folder itself (/chat/dsfr/utility/)
    (MethodNotSupported, _not_allowed),
    (PayloadTooLarge, _payload_too_large),
    (ServiceUnavailable, _too_slow),
    (InvalidUsage, _unreadable),
    (RequestTimeout, _unreadable),
)


def install_error_pages(app) -> None:
    """French 400/404/405/408/413/431/503 for every path (JSON under JSON_PREFIXES, a page elsewhere);
    Sanic's own answer when it has no request to answer."""
    default = app.error_handler.default

    def ours(handler: Callable[[Request, Exception], HTTPResponse]) -> Callable[[Request, Exception], HTTPResponse]:
        return lambda request, exception: default(request, exception) if request is None else handler(request, exception)

    for kind, handler in ERROR_PAGES:
        app.error_handler.add(kind, ours(handler))


def install_app_hooks(app) -> None:
    """What the whole server needs beyond one blueprint (called once, before the server starts): the
    French error pages (install_error_pages), `GET /` sends to the chat page (instead of Rasa's "Hello
    from Rasa"), `nosniff` on every response (static files included)."""
    # Every body Sanic reads by itself (routes not declared `stream=True`: the phone's webhooks,
    # Rasa's own) and every unread body it drains after an answer: at most the largest route limit,
    # not Sanic's default of 100 MB. Read by each new connection.
    app.config.REQUEST_MAX_SIZE = max(BODY_LIMITS.values())
    install_error_pages(app)

    async def root_to_chat(request: Request):
        if request.path == "/" and request.method in ("GET", "HEAD"):
            return response.redirect("/chat/", status=302)
        if "\x00" in request.path or b"%00" in request.raw_url.lower():  # no file or route has a NUL in its name
            return refused_page(request, 404, say("not_found_title"), say("not_found"))
        if request.path.startswith(STATIC_PREFIXES) and "." not in request.path.rsplit("/", 1)[-1]:
            # a static folder itself: no file is named without an extension there (Sanic's file handler
            # would log an IsADirectoryError traceback before the 404)
            return refused_page(request, 404, say("not_found_title"), say("not_found"))
        return None

    async def nosniff(request: Request, resp: HTTPResponse):
        if resp is not None and "X-Content-Type-Options" not in resp.headers:
            resp.headers["X-Content-Type-Options"] = "nosniff"

    app.register_middleware(root_to_chat, "request")
    app.register_middleware(nosniff, "response")
    quiet_access_log(app)
    degraded.install(app)  # Redis or PostgreSQL down: a 503 with Retry-After (issue 16)


def quiet_access_log(app) -> None:
    """Sanic builds an access record for every response (the request's URL and address) and only then
    hands it to its `sanic.access` logger, which Rasa sets to LOG_LEVEL_LIBRARIES (ERROR unless set):
    the record is dropped. Not built at all then (Sanic's ACCESS_LOG, read by each new connection);
    with LOG_LEVEL_LIBRARIES=INFO or DEBUG the access log is written as before."""
    from sanic.log import access_logger

    if not access_logger.isEnabledFor(logging.INFO):
        app.config.ACCESS_LOG = False


def refuse_cross_site(request: Request) -> HTTPResponse | None:
    """For a same-origin JSON API that changes state: a 415 unless the body is declared JSON (a
    cross-site form cannot send that without a CORS preflight, which we never grant), a 403 when the
    browser says the request comes from another site (Origin, Sec-Fetch-Site). None when accepted."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return security_headers(json_error(415, say("not_json_type")))
    return security_headers(json_error(403, say("cross_site"))) if from_another_site(request) else None


def from_another_site(request: Request) -> bool:
    """Whether the browser says the request comes from another site (Sec-Fetch-Site, Origin)."""
    if (request.headers.get("sec-fetch-site") or "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    allowed = {(request.headers.get("host") or "").lower()}
    public = settings.public_base_url()
    if public:
        allowed.add(urlsplit(public).netloc.lower())
    return urlsplit(origin).netloc.lower() not in allowed


def json_object(body: bytes, path: str = "") -> dict:
    """The request body as a JSON object; ValueError with a French message otherwise."""
    not_json = say("malformed")
    try:
        payload = load_json(body, not_json, path)
    except UnicodeDecodeError:
        logger.warning("malformed request on %s: not UTF-8", path or "?")
        raise ValueError(not_json) from None
    if not isinstance(payload, dict):
        logger.warning("malformed request on %s: not an object", path or "?")
        raise ValueError(not_json)
    return payload


# A route table's row: (path, methods, handler); the handler is called as handler(request, *context, **parameters).
Route = tuple[str, tuple[str, ...], Callable[..., Awaitable[HTTPResponse]]]


def add_routes(bp: Blueprint, routes: Iterable[Route], *context: Any) -> None:
    """Register a route table on a blueprint, each route under its handler's name. A route that
    takes a POST is declared `stream=True`: its body is read by the handler (or a middleware) up to
    its own limit with read_body, never whole by Sanic first."""
    for path, methods, handler in routes:
        bp.add_route(_bound(handler, context), path, methods=list(methods), name=handler.__name__, stream="POST" in methods)


def _bound(handler: Callable[..., Awaitable[HTTPResponse]], context: tuple) -> Callable[..., Awaitable[HTTPResponse]]:
    async def route(request: Request, **parameters: Any) -> HTTPResponse:
        return await handler(request, *context, **parameters)

    return route
