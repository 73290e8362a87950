"""What the public sees while Rasa's lock store (Redis) or tracker store (PostgreSQL) is down (issue 16).

A chat turn that cannot take its lock or read its conversation is not run (bot/nlu/outage.py): the
chat route lets BackendUnavailable go up, and this handler answers 503 with `Retry-After`
(bot/tree.yml `settings.chat_retry_after_s`) and `{"error": ...}`, the French text of
`chat.script.retry_later`, which the chat page shows. Nothing of the turn was applied, so the
person sends the same message again. The phone's webhooks need neither back end (a call's state
is its `calls` row): they go on answering their menus.

`install(app)` is called once, before the server starts (bot/web/chat.py `install_app_hooks`).
"""

from __future__ import annotations

import logging

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.nlu.outage import BackendUnavailable, strict_tracker_store

logger = logging.getLogger(__name__)


def retry_later() -> tuple[str, int]:
    """The chat's French text for a back end down, and the seconds after which to try again."""
    from bot.core import texts
    from bot.services import runtime

    seconds = int(runtime.tree().settings.get("chat_retry_after_s", 10))
    return texts.say("chat.script.retry_later", runtime.prefecture()), seconds


def unavailable(request: Request, exception: Exception) -> HTTPResponse:
    """503 + Retry-After + the French message, for a turn refused because a back end is down."""
    logger.warning("%s %s refused (503): %s", request.method if request else "?", request.path if request else "?", exception)
    text, seconds = retry_later()
    resp = response.json({"error": text}, status=503, headers={"Retry-After": str(seconds)})
    resp.headers["Cache-Control"] = "no-store"
    return resp


def install(app) -> None:
    """The 503 for BackendUnavailable on every route, and Rasa's tracker store wrapper made to let
    it through (checked at each request: a model loaded later gets a new agent)."""

    async def strict(request: Request) -> None:
        strict_tracker_store(getattr(request.app.ctx, "agent", None))

    app.error_handler.add(BackendUnavailable, unavailable)
    app.register_middleware(strict, "request")
