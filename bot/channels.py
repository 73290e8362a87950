"""Rasa input channels served by `rasa run` (registered in credentials.yml).

- WebChatInput (`/chat/`): the préfecture's chat page and its JSON webhook. Text is cleaned,
  cut to the tree's maximum length and masked BEFORE Rasa sees it, so nothing personal reaches
  the tracker store, the logs or our store. Bad requests get a 4xx with a French reason.
- ActionsInput (`/webhooks/actions/webhook`): the Rasa action-server protocol served in the same
  process, so one `rasa run` serves chat, actions (and later the phone). endpoints.yml points
  the action endpoint here.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.config import ROOT
from bot import rasa_patches
from bot.masking import prepare

logger = logging.getLogger(__name__)

WEB_DIR = ROOT / "web"
DSFR_DIST = WEB_DIR / "node_modules" / "@gouvfr" / "dsfr" / "dist"
SENDER_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def _security_headers(resp: HTTPResponse) -> HTTPResponse:
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def parse_chat_request(body: bytes, max_chars: int) -> tuple[str, str, bool]:
    """Validate a chat request body; returns (sender, masked text, truncated).

    Raises ValueError with a French message for the user (sent back as a 400).
    """
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("Le message n'est pas encodé en UTF-8.") from None
    try:
        payload = json.loads(decoded)
    except json.JSONDecodeError:
        raise ValueError("La requête doit être un objet JSON avec les champs « sender » et « message ».") from None
    if not isinstance(payload, dict):
        raise ValueError("La requête doit être un objet JSON avec les champs « sender » et « message ».")
    sender, message = payload.get("sender"), payload.get("message")
    if not isinstance(sender, str) or not SENDER_RE.match(sender):
        raise ValueError("Le champ « sender » doit être un identifiant de conversation (lettres, chiffres, - et _, 64 caractères au plus).")
    if not isinstance(message, str):
        raise ValueError("Le champ « message » doit être un texte.")
    text, truncated = prepare(message, max_chars)
    return sender, text, truncated


class WebChatInput(InputChannel):
    """The website chat: page at /chat/, messages at POST /chat/webhook."""

    @classmethod
    def name(cls) -> str:
        return "web"

    def url_prefix(self) -> str:
        return "/chat"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        from bot import runtime  # lazy: config is read when the server starts, not at import

        runtime.router()  # load and validate the tree and the préfecture now: a bad file stops the start
        rasa_patches.apply()
        bp = Blueprint("aiguillage_web_chat", __name__)
        bp.static("/static", str(WEB_DIR / "static"), name="chat_static")
        if DSFR_DIST.exists():
            bp.static("/dsfr", str(DSFR_DIST), name="chat_dsfr")

        @bp.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            return _security_headers(response.html(runtime.render_page()))

        @bp.route("/config", methods=["GET"])
        async def config(request: Request) -> HTTPResponse:
            return _security_headers(response.json(runtime.page_config()))

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            router = runtime.router()
            try:
                sender, text, truncated = parse_chat_request(request.body or b"", router.max_chars)
            except ValueError as exc:
                return _error(400, str(exc))
            if not text:
                # Nothing to understand: answer at once, the conversation state is unchanged.
                return response.json([{
                    "recipient_id": sender, "text": router.message("empty"), "buttons": router.topic_buttons(),
                }])
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(
                    text, collector, sender, input_channel=self.name(), metadata={"truncated": truncated},
                ))
            except Exception:  # noqa: BLE001 - the user must get an answer, never a 500
                logger.exception("web chat: message handling failed for sender %s", sender)
                return response.json([{"recipient_id": sender, "text": runtime.apology()}], status=200)
            if not collector.messages:  # an action failed inside Rasa: never leave the user without an answer
                logger.error("web chat: no answer produced for sender %s", sender)
                return response.json([{"recipient_id": sender, "text": runtime.apology()}])
            return response.json(collector.messages)

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

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if request.ip not in ("127.0.0.1", "::1"):
                return _error(403, "Actions are only served to the local Rasa server.")
            action_call = request.json
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
