"""Rasa input channels served by `rasa run` (registered in credentials.yml).

- WebChatInput (`/chat/`): the préfecture's chat page and its JSON webhook. Text is cleaned,
  cut to the tree's maximum length and masked BEFORE Rasa sees it, so nothing personal reaches
  the tracker store, the logs or our store. Bad requests get a 4xx with a French reason.
  When a message got a routed answer (a leaf with a destination), the action adds one message
  `{"custom": {"answer": {"topic", "destination"}}}` (actions/actions.py): the page then offers the
  rating, posted to POST /chat/feedback (bot/feedback.py).
- ActionsInput (`/webhooks/actions/webhook`): the Rasa action-server protocol served in the same
  process, so one `rasa run` serves chat, actions (and later the phone). endpoints.yml points
  the action endpoint here, with a key in a header (ACTIONS_KEY_HEADER): behind a reverse proxy on
  the same host every request comes from 127.0.0.1, so the address proves nothing (issue 13).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import MethodNotSupported, NotFound, PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import settings
from bot.core import display
from bot.core.config import ROOT
from bot.core.masking import prepare
from bot.nlu import patches as rasa_patches
from bot.nlu.model import MODEL_REFUSED_EXIT, model_refused_message, served_model
from bot.nlu.outage import BackendUnavailable
from bot.web import degraded

logger = logging.getLogger(__name__)

WEB_DIR = ROOT / "web"
DSFR_DIST = WEB_DIR / "node_modules" / "@gouvfr" / "dsfr" / "dist"
SENDER_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ACTIONS_PATH = "/webhooks/actions/webhook"
# The header endpoints.yml has Rasa send with each action call; its value is
# settings.actions_secret() (made at start-up by `python -m bot serve`).
ACTIONS_KEY_HEADER = "X-Aiguillage-Actions-Key"
STOP_DRAIN_S = 10  # at shutdown, how long writes kept while the store was locked may still take

# The largest body each route reads (bytes), checked on the declared Content-Length, then on what
# arrives (issue 13: the chat webhook took an 85 MB body). A chat message is cut at 2000
# characters, a rating's comment at 500, a message to a service at 20000 (bot/pan_channel.py).
BODY_LIMITS = {
    "/chat/webhook": 8_000,
    "/chat/feedback": 8_000,
    "/rdv/api/reserver": 8_000,
    "/rdv/api/annuler": 8_000,
    "/rdv/api/message": 64_000,
    "/rdv/reserver": 8_000,
    "/rdv/annuler": 8_000,
    "/rdv/message": 64_000,
    # Rasa's call to the in-process action: the tracker of the current session, every event with
    # its parse data, plus the domain. Measured on 2026-12-01: 19 kB for the first turn, then ~12 kB
    # more per 2000-character message: 501 kB after 40 such turns (tests/test_actions_endpoint.py
    # holds 40). A session ends after session_expiration_time (domain.yml) of silence.
    ACTIONS_PATH: 1_000_000,
}


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


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


def too_large(request: Request) -> HTTPResponse:
    logger.warning(
        "refused a body over the limit on %s (declared %s)", request.path, request.headers.get("content-length", "none: chunked")
    )
    return _security_headers(_error(413, say("too_large")))


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


def _security_headers(resp: HTTPResponse) -> HTTPResponse:
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def refused_page(request: Request, status: int, title: str, message: str) -> HTTPResponse:
    """A French error for a request no route takes: `{"error"}` under /rdv/api/ and /webhooks/ (the
    machines' routes), else a page (the console's own error page under /console/, the public pages'
    layout everywhere else)."""
    from bot.services import runtime

    if request.path.startswith(JSON_PREFIXES):
        resp = _error(status, message)
    elif request.path.startswith("/console"):
        from bot.web.console import _env

        html = (
            _env()
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
    return _security_headers(resp)


# Routes called by programs (the chat's JSON API, Twilio's and Rasa's webhooks): errors as JSON.
JSON_PREFIXES = ("/rdv/api/", "/webhooks/")


def install_app_hooks(app) -> None:
    """What the whole server needs beyond one blueprint (called once, before the server starts):
    French 404/405/413 for every path (JSON under JSON_PREFIXES, a page elsewhere), `GET /` sends
    to the chat page (instead of Rasa's "Hello from Rasa"), `nosniff` on every response (static
    files included)."""
    default = app.error_handler.default

    def ours(request: Request | None) -> bool:
        return request is not None

    def not_found(request: Request, exception: Exception) -> HTTPResponse:
        if not ours(request):
            return default(request, exception)
        return refused_page(request, 404, say("not_found_title"), say("not_found"))

    def not_allowed(request: Request, exception: Exception) -> HTTPResponse:
        if not ours(request):
            return default(request, exception)
        resp = refused_page(request, 405, say("not_allowed_title"), say("not_allowed"))
        allowed = getattr(exception, "headers", None) or {}
        if allowed.get("Allow"):
            resp.headers["Allow"] = allowed["Allow"]
        return resp

    def payload_too_large(request: Request, exception: Exception) -> HTTPResponse:
        if request is None:
            return default(request, exception)
        return too_large(request)

    # Every body Sanic reads by itself (routes not declared `stream=True`: the phone's webhooks,
    # Rasa's own) and every unread body it drains after an answer: at most the largest route limit,
    # not Sanic's default of 100 MB. Read by each new connection.
    app.config.REQUEST_MAX_SIZE = max(BODY_LIMITS.values())
    app.error_handler.add(NotFound, not_found)
    app.error_handler.add(MethodNotSupported, not_allowed)
    app.error_handler.add(PayloadTooLarge, payload_too_large)

    async def root_to_chat(request: Request):
        if request.path == "/" and request.method in ("GET", "HEAD"):
            return response.redirect("/chat/", status=302)
        return None

    async def nosniff(request: Request, resp: HTTPResponse):
        if resp is not None and "X-Content-Type-Options" not in resp.headers:
            resp.headers["X-Content-Type-Options"] = "nosniff"

    app.register_middleware(root_to_chat, "request")
    app.register_middleware(nosniff, "response")
    degraded.install(app)  # Redis or PostgreSQL down: a 503 with Retry-After (issue 16)


def refuse_cross_site(request: Request) -> HTTPResponse | None:
    """For a same-origin JSON API that changes state: a 415 unless the body is declared JSON (a
    cross-site form cannot send that without a CORS preflight, which we never grant), a 403 when the
    browser says the request comes from another site (Origin, Sec-Fetch-Site). None when accepted."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return _security_headers(_error(415, say("not_json_type")))
    refused = _error(403, say("cross_site"))
    if (request.headers.get("sec-fetch-site") or "same-origin") not in ("same-origin", "none"):
        return _security_headers(refused)
    origin = request.headers.get("origin")
    if origin is not None:
        allowed = {(request.headers.get("host") or "").lower()}
        public = settings.public_base_url()
        if public:
            allowed.add(urlsplit(public).netloc.lower())
        if urlsplit(origin).netloc.lower() not in allowed:
            return _security_headers(refused)
    return None


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


def parse_feedback_request(body: bytes, path: str = "/chat/feedback") -> tuple[str, bool, str | None]:
    """Validate a rating {sender, useful, comment?}; returns (sender, useful, comment).

    Raises ValueError with a French message for the user (sent back as a 400).
    """
    payload = json_object(body, path)
    sender, useful, comment = payload.get("sender"), payload.get("useful"), payload.get("comment")
    if not isinstance(sender, str) or not SENDER_RE.match(sender):
        raise ValueError(say("bad_sender"))
    if not isinstance(useful, bool):
        raise ValueError(say("bad_useful"))
    if comment is not None and not isinstance(comment, str):
        raise ValueError(say("bad_comment"))
    return sender, useful, comment


def parse_chat_request(body: bytes, max_chars: int) -> tuple[str, str, bool]:
    """Validate a chat request body; returns (sender, masked text, truncated).

    Raises ValueError with a French message for the user (sent back as a 400).
    """
    try:
        payload = load_json(body, say("chat_not_json"), "/chat/webhook")
    except UnicodeDecodeError:
        logger.warning("malformed request on /chat/webhook: not UTF-8")
        raise ValueError(say("not_utf8")) from None
    if not isinstance(payload, dict):
        logger.warning("malformed request on /chat/webhook: not an object")
        raise ValueError(say("chat_not_json"))
    sender, message = payload.get("sender"), payload.get("message")
    if not isinstance(sender, str) or not SENDER_RE.match(sender):
        raise ValueError(say("bad_sender"))
    if not isinstance(message, str):
        raise ValueError(say("bad_message"))
    text, truncated = prepare(message, max_chars)
    return sender, text, truncated


def shaped(messages: list[dict]) -> list[dict]:
    """Bot messages as the page draws them: each text with its `display` runs (bot/core/display.py)."""
    from bot.services import runtime

    return display.shape(messages, runtime.prefecture(), runtime.phones())


def transcript(events: list[dict], expiry_minutes: float, tree, now: float | None = None) -> list[dict]:
    """The turns of the current session from Rasa's events: {"role": "user", "text"} (a button's
    payload shown as the button's title) and {"role": "bot", "messages": [...shaped]}. Nothing when
    the session has expired (Rasa starts a new one at the next message)."""
    import time

    from bot.core.router import NAVIGATE_INTENT

    start = 0
    for i, event in enumerate(events):
        if event.get("event") == "session_started":
            start = i
    events = events[start:]
    said = [e for e in events if e.get("event") in ("user", "bot")]
    if not said:
        return []
    last = max(float(e.get("timestamp") or 0) for e in said)
    if expiry_minutes and (now or time.time()) - last > expiry_minutes * 60:
        return []
    turns: list[dict] = []
    titles: dict[str, str] = {}
    for event in said:
        if event["event"] == "user":
            text = event.get("text") or ""
            if text.startswith("/"):
                shown = titles.get(text)
                if shown is None and text.startswith("/" + NAVIGATE_INTENT):
                    try:
                        node = json.loads(text[len(NAVIGATE_INTENT) + 1 :]).get("node")
                        shown = tree.node(node).title
                    except (ValueError, KeyError, AttributeError):
                        shown = None
                text = shown or text
            turns.append({"role": "user", "text": text})
            continue
        data = event.get("data") or {}
        message = {
            k: v for k, v in (("text", event.get("text")), ("buttons", data.get("buttons")), ("custom", data.get("custom"))) if v
        }
        for button in message.get("buttons") or []:
            if isinstance(button, dict) and isinstance(button.get("payload"), str):
                titles[button["payload"]] = str(button.get("title") or "")
        if not message:
            continue
        if not turns or turns[-1]["role"] != "bot":
            turns.append({"role": "bot", "messages": []})
        turns[-1]["messages"].append(message)
    for turn in turns:
        if turn["role"] == "bot":
            turn["messages"] = shaped(turn["messages"])
    return turns


class WebChatInput(InputChannel):
    """The website chat: page at /chat/, messages at POST /chat/webhook."""

    @classmethod
    def name(cls) -> str:
        return "web"

    def url_prefix(self) -> str:
        return "/chat"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        from bot.services import runtime  # lazy: config is read when the server starts, not at import

        runtime.router()  # load and validate the tree and the préfecture now: a bad file stops the start
        rasa_patches.apply()
        bp = Blueprint("aiguillage_web_chat", __name__)

        @bp.listener("before_server_start")
        async def hooks(app, loop) -> None:
            install_app_hooks(app)

        @bp.listener("after_server_start")
        async def model_loaded(app, loop) -> None:
            """Rasa logs a model it could not load and serves on without one (every chat answer would
            be the apology): stop the process instead, saying why and what to do."""
            agent = getattr(app.ctx, "agent", None)
            if agent is None or not agent.is_ready():
                message = model_refused_message(served_model(sys.argv) or settings.model())
                logger.critical(message)
                print(message, file=sys.stderr, flush=True)
                os._exit(MODEL_REFUSED_EXIT)

        @bp.listener("after_server_start")
        async def purge_daily(app, loop) -> None:  # issue 13 §7: the retention purge, every day
            from bot.services import retention

            first = settings.purge_first_s()  # None: at 03:00 Paris time
            app.ctx.retention_task = loop.create_task(
                retention.daily(runtime.store().path, runtime.prefecture(), first_in_s=first)
            )

        @bp.listener("before_server_stop")
        async def purge_stop(app, loop) -> None:
            task = getattr(app.ctx, "retention_task", None)
            if task is not None:
                task.cancel()

        @bp.listener("before_server_stop")
        async def write_pending(app, loop) -> None:
            """Writes kept in memory while the store was locked (issue 11): a last chance to land."""
            from bot.nlu.tracker_store import window_of

            agent = getattr(app.ctx, "agent", None)
            tracker_store = window_of(getattr(agent, "tracker_store", None))
            if tracker_store is not None and tracker_store.pending:
                await tracker_store.drain(STOP_DRAIN_S)
                if tracker_store.pending:
                    logger.error("tracker store: %d events NOT written at shutdown", tracker_store.pending)
            writer = runtime.turn_writer() if runtime.turn_writer.cache_info().currsize else None
            if writer is not None and writer.count:
                await writer.drain(STOP_DRAIN_S)
                if writer.count:
                    logger.error("store writer: %d turns NOT written at shutdown", writer.count)

        bp.static("/static", str(WEB_DIR / "static"), name="chat_static")
        if DSFR_DIST.exists():
            bp.static("/dsfr", str(DSFR_DIST), name="chat_dsfr")

        @bp.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            return _security_headers(response.html(runtime.render_page()))

        @bp.route("/config", methods=["GET"])
        async def config(request: Request) -> HTTPResponse:
            return _security_headers(response.json(runtime.page_config()))

        @bp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            router = runtime.router()
            body = await read_body(request, BODY_LIMITS["/chat/webhook"])
            if body is None:
                return too_large(request)
            try:  # masking runs in a worker thread: a long text never holds the event loop
                sender, text, truncated = await asyncio.to_thread(parse_chat_request, body, router.max_chars)
            except ValueError as exc:
                return _error(400, str(exc))
            if not text:
                # Nothing to understand: answer at once, the conversation state is unchanged.
                return response.json(
                    shaped(
                        [
                            {
                                "recipient_id": sender,
                                "text": router.message("empty"),
                                "buttons": router.topic_buttons(),
                            }
                        ]
                    )
                )
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(
                        text,
                        collector,
                        sender,
                        input_channel=self.name(),
                        metadata={"truncated": truncated},
                    )
                )
            except BackendUnavailable:
                raise  # the turn was not run: 503, Retry-After, a French message (bot/web/degraded.py)
            except Exception:  # noqa: BLE001 - the user must get an answer, never a 500
                logger.exception("web chat: message handling failed for sender %s", sender)
                return response.json(shaped([{"recipient_id": sender, "text": runtime.apology()}]), status=200)
            if not collector.messages:  # an action failed inside Rasa: never leave the user without an answer
                logger.error("web chat: no answer produced for sender %s", sender)
                return response.json(shaped([{"recipient_id": sender, "text": runtime.apology()}]))
            return response.json(shaped(collector.messages))

        @bp.route("/history", methods=["GET"])
        async def history(request: Request) -> HTTPResponse:
            """The conversation of the page's sender id, as the page showed it (issue 14 item 13): a
            reload or a return from /rdv/ draws it again. Only the id's holder knows it (random, kept
            in the tab's sessionStorage); the texts are those Rasa keeps, masked before it saw them."""
            sender = request.args.get("sender", "")
            if not SENDER_RE.match(sender):
                return _security_headers(_error(400, say("bad_sender_param")))
            agent = getattr(request.app.ctx, "agent", None)
            turns: list[dict] = []
            if agent is not None and agent.tracker_store is not None:
                try:
                    tracker = await agent.tracker_store.retrieve(sender)
                except Exception:  # noqa: BLE001 - no history is better than a 500
                    logger.exception("web chat: could not read the conversation of %s", sender)
                    tracker = None
                if tracker is not None:
                    expiry = getattr(getattr(agent.domain, "session_config", None), "session_expiration_time", 0)
                    turns = transcript([e.as_dict() for e in tracker.events], expiry, runtime.tree())
            resp = response.json({"sender": sender, "turns": turns})
            resp.headers["Cache-Control"] = "no-store"
            return _security_headers(resp)

        @bp.route("/feedback", methods=["POST"], stream=True)
        async def feedback(request: Request) -> HTTPResponse:
            from bot.services import feedback as feedback_mod

            body = await read_body(request, BODY_LIMITS["/chat/feedback"])  # first: never drain a huge body
            if body is None:
                return too_large(request)
            refused = refuse_cross_site(request)
            if refused:
                return refused
            try:
                sender, useful, comment = parse_feedback_request(body)
            except ValueError as exc:
                return _error(400, str(exc))
            prefecture_id = runtime.prefecture().id
            # Read the conversation (WAL: reads go on while another writer holds the file), then
            # write through the background writer like the turns (issue 11): a locked store costs
            # the person no wait, the rating is written once the store is free.
            conversation = await asyncio.to_thread(lambda: runtime.thread_store().conversation(sender))
            if conversation is None:
                return _error(404, say("unknown_conversation"))
            stored: dict = {}

            def record(store) -> None:  # in a worker thread: masking of the comment, then the write
                stored["row"] = feedback_mod.record(
                    store,
                    "chat",
                    sender,
                    prefecture_id,
                    useful,
                    comment,
                    topic=conversation.get("last_topic"),
                    destination=conversation.get("last_destination"),
                )

            try:
                await runtime.turn_writer().write(sender, f"the rating of {sender}", record)
            except feedback_mod.FeedbackError as exc:
                return _error(400, str(exc))
            row = stored.get("row")
            kept = row["comment"] is not None if row else bool(isinstance(comment, str) and comment.strip())
            return response.json({"useful": useful, "comment": kept, "message": say("feedback_thanks")})

        return bp


class ActionsInput(InputChannel):
    """Rasa's action-server protocol, in process (rasa_sdk's ActionExecutor)."""

    @classmethod
    def name(cls) -> str:
        return "actions"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        from rasa_sdk.executor import ActionExecutor
        from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

        executor = ActionExecutor()
        executor.register_package("actions")
        bp = Blueprint("aiguillage_actions", __name__)

        key = settings.actions_secret()  # read once, when the server starts (None: every call refused)
        if key is None:
            logger.error(
                "%s is not set: the action endpoint refuses every call (start with python -m bot serve)", settings.ACTIONS_SECRET
            )

        @bp.route("/webhook", methods=["POST"], stream=True)
        async def webhook(request: Request) -> HTTPResponse:
            # Who calls, before reading anything: the key (constant-time compare), then the size.
            given = request.headers.get(ACTIONS_KEY_HEADER) or ""
            if key is None or not hmac.compare_digest(given.encode("utf-8", "replace"), key.encode("utf-8")):
                logger.warning("refused an action call without the right key (%s)", "missing" if not given else "wrong")
                if request.stream is not None:  # Sanic would drain the unread body (up to 1 MB): close instead
                    request.stream.request_max_size = 0
                    request.stream.keep_alive = False
                return _error(403, f"Actions are served to this process's Rasa only: missing or wrong {ACTIONS_KEY_HEADER}.")
            if request.ip not in ("127.0.0.1", "::1"):
                return _error(403, "Actions are only served to the local Rasa server.")
            body = await read_body(request, BODY_LIMITS[ACTIONS_PATH])
            if body is None:
                logger.warning("refused an action call over %d bytes", BODY_LIMITS[ACTIONS_PATH])
                return _error(413, f"The action call is larger than {BODY_LIMITS[ACTIONS_PATH]} bytes.")
            try:
                action_call = await asyncio.to_thread(load_json, body, "Invalid body request", ACTIONS_PATH)
            except (ValueError, UnicodeDecodeError):
                return _error(400, "Invalid body request")
            if not isinstance(action_call, dict):
                return _error(400, "Invalid body request")
            try:
                result = await executor.run(action_call)
            except ActionExecutionRejection as exc:
                return response.json({"error": exc.message, "action_name": exc.action_name}, status=400)
            except ActionNotFoundException as exc:
                return response.json({"error": exc.message, "action_name": exc.action_name}, status=404)
            return response.json(result)

        return bp
