"""A chat turn, whoever asks for it: the chat page's script (POST /chat/webhook, bot/web/chat.py) or its
form sent without JavaScript (POST /chat/, bot/web/chat_page.py). Both run the same steps:

- `flood_refusal`: the client address's window (throttle.per_address.chat), counted per request;
- `masked`: the message cleaned, cut to the tree's maximum length and masked BEFORE Rasa sees it (in a
  worker thread: a long text never holds the event loop), a typed "/restart" read as words;
- `run_turn`: Rasa's turn, bounded by degraded.answered_within (BackendUnavailable goes up: the 503);
- `said_now`: an answer given without asking Rasa, shaped as the page draws it;
- `new_sender`: a new conversation id, as chat.js makes one.
The bot messages are shaped for the page, and the conversation rebuilt from Rasa's tracker, by
bot/web/chat_history.py (`shaped`, `turns_of`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sanic.request import Request

from bot import settings
from bot.core import clock, texts
from bot.core.masking import prepare
from bot.nlu.outage import BackendUnavailable
from bot.services import runtime
from bot.web import degraded, flood
from bot.web.chat_history import FORM_TOKEN, shaped
from bot.web.client import client_address, exempt

logger = logging.getLogger(__name__)

# web/static/chat.js randomId(): "web-" and 18 characters of this alphabet, one per random byte.
SENDER_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def new_sender() -> str:
    """A new conversation id, in the format of chat.js's randomId() (22 characters, [A-Za-z0-9_-])."""
    return "web-" + "".join(SENDER_ALPHABET[byte & 63] for byte in secrets.token_bytes(18))


def typed_as_text(text: str) -> str:
    """Rasa reads a message starting with "/" as an intent to run ("/restart" empties the
    conversation): only the tree's own button payloads (/navigate{"node": ...}) are kept so; a person
    who types "/restart" or "/" is read as the words typed."""
    if not text.startswith("/") or runtime.tree().button_target(text) is not None:
        return text
    return text.lstrip("/ ").strip()


def masked(message: str, max_chars: int) -> tuple[str, bool]:
    """(the text Rasa may see, whether it was cut): cleaned, cut, masked (bot/core/masking.py)."""
    text, truncated = prepare(message, max_chars)
    return typed_as_text(text), truncated


CHAT_WINDOWS = flood.Windows()  # this process's chat messages per client address (bot/web/flood.py)


def flood_refusal(request: Request) -> tuple[str, int] | None:
    """(the French reason, the seconds to wait) when the client address is past
    throttle.per_address.chat (messages and ratings of the chat together), else None (and the request
    is counted)."""
    address = client_address(request)
    if exempt(address):
        return None
    pref = runtime.prefecture()
    limit, minutes = int(pref.get("throttle.per_address.chat.max")), float(pref.get("throttle.per_address.chat.window_minutes"))
    key = flood.window_key(address)
    wait = CHAT_WINDOWS.take(key, limit, minutes * 60)
    if not wait:
        return None
    if CHAT_WINDOWS.first_refusal(key):  # once, not at each request of a flood
        logger.warning("web chat: an address over its limit, refused until it is under (retry in %d s)", wait)
    return texts.say("requests.too_many", pref, wait=clock.say_duration(wait)), wait


async def run_turn(
    request: Request,
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    channel: str,
    sender: str,
    text: str,
    truncated: bool,
    token: str | None = None,
) -> list[dict] | None:
    """Rasa's answer to the masked `text` (its bot messages, not shaped), or None when the turn failed
    inside Rasa or gave no answer (the caller answers with the apology: never a 500). BackendUnavailable
    goes up: the turn was not run, or not over within settings.chat_answer_within_ms (the 503). `token`:
    the token of the form that sent it (the page without JavaScript), kept in the question's metadata."""
    collector = CollectingOutputChannel()
    try:
        metadata: dict[str, Any] = {"truncated": truncated} | ({FORM_TOKEN: token} if token else {})
        if settings.phone_test_clock() and request.headers.get(clock.TEST_CLOCK_HEADER):
            metadata["now"] = request.headers[clock.TEST_CLOCK_HEADER]  # a test server's clock (the action reads it)
        message = UserMessage(text, collector, sender, input_channel=channel, metadata=metadata)
        await degraded.answered_within(on_new_message(message), message.message_id, sender)
    except BackendUnavailable:  # not run, or not over in time (then it changes nothing when it ends)
        raise
    except Exception:  # noqa: BLE001 - the user must get an answer, never a 500
        logger.exception("web chat: message handling failed for sender %s", sender)
        return None
    if not collector.messages:  # an action failed inside Rasa: never leave the user without an answer
        logger.error("web chat: no answer produced for sender %s", sender)
        return None
    return collector.messages


def said_now(sender: str, text: str, buttons: list | None = None) -> list[dict]:
    """A single bot message, shaped as the page draws it, without asking Rasa (the empty question's
    answer, the apology)."""
    message = {"recipient_id": sender, "text": text} | ({"buttons": buttons} if buttons is not None else {})
    return shaped([message])
