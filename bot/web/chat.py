"""Rasa input channels served by `rasa run` (registered in credentials.yml).

- WebChatInput (`/chat/`): the préfecture's chat page and its JSON webhook. Text is cleaned,
  cut to the tree's maximum length and masked BEFORE Rasa sees it, so nothing personal reaches
  the tracker store, the logs or our store. Bad requests get a 4xx with a French reason.
  When a message got a routed answer (a leaf with a destination), the action adds one message
  `{"custom": {"answer": {"topic", "destination"}}}` (actions/actions.py): the page then offers the
  rating, posted to POST /chat/feedback (bot/feedback.py).
- ActionsInput (`/webhooks/actions/webhook`): the Rasa action-server protocol served in the same
  process, so one `rasa run` serves chat, actions (and later the phone). endpoints.yml points
  the action endpoint here.
"""
from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core.config import ROOT
from bot.core.masking import prepare
from bot.nlu import patches as rasa_patches

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


def refuse_cross_site(request: Request) -> HTTPResponse | None:
    """For a same-origin JSON API that changes state: a 415 unless the body is declared JSON (a
    cross-site form cannot send that without a CORS preflight, which we never grant), a 403 when the
    browser says the request comes from another site (Origin, Sec-Fetch-Site). None when accepted."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return _security_headers(_error(415, "La requête doit être envoyée en JSON (Content-Type: application/json)."))
    refused = _error(403, "Requête refusée : elle ne vient pas de la page de l'assistant.")
    if (request.headers.get("sec-fetch-site") or "same-origin") not in ("same-origin", "none"):
        return _security_headers(refused)
    origin = request.headers.get("origin")
    if origin is not None:
        allowed = {(request.headers.get("host") or "").lower()}
        public = os.environ.get("PUBLIC_BASE_URL")
        if public:
            allowed.add(urlsplit(public).netloc.lower())
        if urlsplit(origin).netloc.lower() not in allowed:
            return _security_headers(refused)
    return None


def json_object(body: bytes, max_bytes: int = 64_000) -> dict:
    """The request body as a JSON object; ValueError with a French message otherwise."""
    if len(body) > max_bytes:
        raise ValueError("La requête est trop longue.")
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("La requête doit être un objet JSON valide.") from None
    if not isinstance(payload, dict):
        raise ValueError("La requête doit être un objet JSON valide.")
    return payload


def parse_feedback_request(body: bytes) -> tuple[str, bool, str | None]:
    """Validate a rating {sender, useful, comment?}; returns (sender, useful, comment).

    Raises ValueError with a French message for the user (sent back as a 400).
    """
    payload = json_object(body)
    sender, useful, comment = payload.get("sender"), payload.get("useful"), payload.get("comment")
    if not isinstance(sender, str) or not SENDER_RE.match(sender):
        raise ValueError("Le champ « sender » doit être un identifiant de conversation (lettres, chiffres, - et _, 64 caractères au plus).")
    if not isinstance(useful, bool):
        raise ValueError("Le champ « useful » doit valoir true (réponse utile) ou false (pas utile).")
    if comment is not None and not isinstance(comment, str):
        raise ValueError("Le champ « comment » doit être un texte.")
    return sender, useful, comment


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
        from bot.services import runtime  # lazy: config is read when the server starts, not at import

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

        @bp.route("/feedback", methods=["POST"])
        async def feedback(request: Request) -> HTTPResponse:
            from bot.services import feedback as feedback_mod

            refused = refuse_cross_site(request)
            if refused:
                return refused
            try:
                sender, useful, comment = parse_feedback_request(request.body or b"")
            except ValueError as exc:
                return _error(400, str(exc))
            store = runtime.store()
            conversation = store.conversation(sender)
            if conversation is None:
                return _error(404, "Cette conversation est introuvable : posez d'abord une question à l'assistant.")
            try:
                row = feedback_mod.record(store, "chat", sender, runtime.prefecture().id, useful, comment,
                                          topic=conversation.get("last_topic"),
                                          destination=conversation.get("last_destination"))
            except feedback_mod.FeedbackError as exc:
                return _error(400, str(exc))
            return response.json({"useful": bool(row["useful"]), "comment": row["comment"] is not None,
                                  "message": "Merci pour votre avis."})

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
