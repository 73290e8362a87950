"""Rasa input channels served by `rasa run` (registered in credentials.yml).

- WebChatInput (`/chat/`): the préfecture's chat page (bot/web/chat_page.py, which also answers its form
  posted without JavaScript) and its JSON webhook. Both run a turn the same way (bot/web/chat_turn.py):
  text is cleaned, cut to the tree's maximum length and masked BEFORE Rasa sees it, so nothing personal
  reaches the tracker store, the logs or our store. Bad requests get a 4xx with a French reason.
  When a message got a routed answer (a leaf with a destination), the action adds one message
  `{"custom": {"answer": {"topic", "destination"}}}` (actions/actions.py): the page then offers the
  rating, posted to POST /chat/feedback (bot/web/chat_rating.py, shared with the page without
  JavaScript; bot/services/feedback.py). A reload draws the conversation
  again from GET /chat/history (bot/web/chat_history.py). A turn, a rating and a history read not over
  within `settings.chat_answer_within_ms` get the chat's JSON 503 (bot/web/degraded.py). The server's start
  and stop (model check, daily purge, last writes) are bot/web/lifecycle.py; the HTTP helpers bot/web/http.py.
- ActionsInput (`/webhooks/actions/webhook`): the Rasa action-server protocol served in the same
  process, so one `rasa run` serves chat, actions (and later the phone). endpoints.yml points
  the action endpoint here, with a key in a header (ACTIONS_KEY_HEADER): behind a reverse proxy on
  the same host every request comes from 127.0.0.1, so the address proves nothing (issue 13).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import settings
from bot.core.config import ROOT
from bot.core.masking import RAW_FACTOR
from bot.nlu import patches as rasa_patches
from bot.services import runtime
from bot.web import lifecycle
from bot.web.chat_history import SENDER_RE, history, shaped
from bot.web.chat_page import page
from bot.web.chat_rating import rated
from bot.web.chat_turn import flood_refusal, masked, run_turn, said_now
from bot.web.http import (
    ACTIONS_PATH,
    BODY_LIMITS,
    add_routes,
    json_error,
    json_object,
    load_json,
    read_body,
    refuse_cross_site,
    say,
    security_headers,
    too_large,
    too_many_requests,
)

logger = logging.getLogger(__name__)

WEB_DIR = ROOT / "web"
DSFR_DIST = WEB_DIR / "node_modules" / "@gouvfr" / "dsfr" / "dist"
# The header endpoints.yml has Rasa send with each action call; its value is
# settings.actions_secret() (made at start-up by `python -m bot serve`).
ACTIONS_KEY_HEADER = "X-Aiguillage-Actions-Key"


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


def webhook_limit(max_chars: int) -> int:
    """The chat webhook's body limit (bytes): every message whose text the server reads in full
    (RAW_FACTOR × max_message_chars characters; a longer paste is cut, answered with the "too long"
    notice) at UTF-8's worst, 4 bytes a character, plus the JSON around it. 34 kB for 2000: a
    9000-character paste gets the notice, a hostile 2 MB body a French 413."""
    return max_chars * RAW_FACTOR * 4 + 2_000


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
    text, truncated = masked(message, max_chars)
    return sender, text, truncated


class WebChatInput(InputChannel):
    """The website chat: page at /chat/, messages at POST /chat/webhook."""

    @classmethod
    def name(cls) -> str:
        return "web"

    def url_prefix(self) -> str:
        return "/chat"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        runtime.router()  # load and validate the tree and the préfecture now: a bad file stops the start
        rasa_patches.apply()
        bp = Blueprint("aiguillage_web_chat", __name__)
        lifecycle.register(bp)
        bp.static("/static", str(WEB_DIR / "static"), name="chat_static")
        if DSFR_DIST.exists():
            bp.static("/dsfr", str(DSFR_DIST), name="chat_dsfr")
        add_routes(bp, ROUTES, on_new_message, self.name())
        return bp


async def config(request: Request, *_) -> HTTPResponse:
    return security_headers(response.json(runtime.page_config()))


def answer_now(sender: str, text: str, buttons: list | None = None) -> HTTPResponse:
    """A single bot message, shaped as the page draws it, without asking Rasa."""
    return response.json(said_now(sender, text, buttons))


def flooded(request: Request) -> HTTPResponse | None:
    """A 429 in French with Retry-After when the client address is past throttle.per_address.chat
    (chat_turn.flood_refusal), else None (and the request is counted)."""
    refusal = flood_refusal(request)
    return too_many_requests(*refusal) if refusal else None


async def receive(request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]], channel: str) -> HTTPResponse:
    """POST /chat/webhook {sender, message}: the bot's answers (never a 500; a 503 past chat_answer_within_ms).
    JSON from the chat page's own origin only, as /chat/feedback (bot/web/http.refuse_cross_site)."""
    router = runtime.router()
    body = await read_body(request, webhook_limit(router.max_chars))
    if body is None:
        return too_large(request)
    refused = refuse_cross_site(request) or flooded(request)  # another site's page is refused, not counted
    if refused:
        return refused
    try:  # masking runs in a worker thread: a long text never holds the event loop
        sender, text, truncated = await asyncio.to_thread(parse_chat_request, body, router.max_chars)
    except ValueError as exc:
        return json_error(400, str(exc))
    if not text:
        # Nothing to understand: answer at once, the conversation state is unchanged.
        return answer_now(sender, router.message("empty"), router.topic_buttons())
    # BackendUnavailable goes up: 503, Retry-After, a French message (bot/web/degraded.py)
    messages = await run_turn(request, on_new_message, channel, sender, text, truncated)
    if messages is None:
        return answer_now(sender, runtime.apology())
    return response.json(shaped(messages))


async def feedback(request: Request, *_) -> HTTPResponse:
    """POST /chat/feedback {sender, useful, comment?}: the rating of the conversation's last answer
    (bot/web/chat_rating.py, shared with the page without JavaScript), bounded as a turn is: not over within
    `settings.chat_answer_within_ms` (a store that does not answer), the chat's JSON 503 (bot/web/degraded.py),
    and the rating is then not written when its work ends."""
    body = await read_body(request, BODY_LIMITS["/chat/feedback"])  # first: never drain a huge body
    if body is None:
        return too_large(request)
    refused = refuse_cross_site(request) or flooded(request)
    if refused:
        return refused
    try:
        sender, useful, comment = parse_feedback_request(body)
    except ValueError as exc:
        return json_error(400, str(exc))
    result = await rated(sender, useful, comment)  # BackendUnavailable goes up: the chat's 503
    if result.status != 200:
        return json_error(result.status, result.message)
    return response.json({"useful": useful, "comment": result.comment, "message": result.message})


# The chat's routes under /chat: (path, methods, handler).
ROUTES = [
    ("/", ("GET", "POST"), page),  # POST: the form sent without JavaScript (bot/web/chat_page.py)
    ("/config", ("GET",), config),
    ("/webhook", ("POST",), receive),
    ("/history", ("GET",), history),
    ("/feedback", ("POST",), feedback),
]


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
                return json_error(403, f"Actions are served to this process's Rasa only: missing or wrong {ACTIONS_KEY_HEADER}.")
            if request.ip not in ("127.0.0.1", "::1"):
                return json_error(403, "Actions are only served to the local Rasa server.")
            body = await read_body(request, BODY_LIMITS[ACTIONS_PATH])
            if body is None:
                logger.warning("refused an action call over %d bytes", BODY_LIMITS[ACTIONS_PATH])
                return json_error(413, f"The action call is larger than {BODY_LIMITS[ACTIONS_PATH]} bytes.")
            try:
                action_call = await asyncio.to_thread(load_json, body, "Invalid body request", ACTIONS_PATH)
            except (ValueError, UnicodeDecodeError):
                return json_error(400, "Invalid body request")
            if not isinstance(action_call, dict):
                return json_error(400, "Invalid body request")
            try:
                result = await executor.run(action_call)
            except ActionExecutionRejection as exc:
                return response.json({"error": exc.message, "action_name": exc.action_name}, status=400)
            except ActionNotFoundException as exc:
                return response.json({"error": exc.message, "action_name": exc.action_name}, status=404)
            return response.json(result)

        return bp
