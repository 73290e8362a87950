"""GET /chat/history: the conversation of the chat page's sender id, drawn again after a reload or a
return from /rdv/ (issue 14 item 13), and how Rasa's events become the turns the page draws.

The read is bounded as a chat turn is (bot/web/degraded.py `within_bound`, `settings.chat_answer_within_ms`):
a tracker store that does not answer at all (a frozen PostgreSQL host) gets the chat's JSON 503 with
Retry-After and `chat.script.retry_later`, which the page shows instead of an empty conversation, never
Sanic's 60 s; one that refuses (stopped, restarting) the same 503 once its reads' retries are over. A read
given up changes nothing: its late result is dropped.
"""

from __future__ import annotations

import logging
import re
import time
from typing import NamedTuple

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core import display
from bot.nlu.outage import BackendUnavailable
from bot.nlu.tracker_store import window_of
from bot.services import runtime
from bot.web import degraded
from bot.web.http import json_error, say, security_headers

logger = logging.getLogger(__name__)

# The chat page's sender id (random, kept in the browser's localStorage): the history's key, and the
# `sender` of each message and rating (bot/web/chat.py).
SENDER_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The key, in a question's metadata (Rasa's `user` event), of the token of the form that sent it.
FORM_TOKEN = "form_token"


class Conversation(NamedTuple):
    """What the page draws of a conversation: its turns (`transcript`), and the tokens of the forms it
    has run (`form_tokens`), both of the current session."""

    turns: list[dict]
    tokens: frozenset[str]


def shaped(messages: list[dict]) -> list[dict]:
    """Bot messages as the page draws them: each text with its `display` runs (bot/core/display.py)."""
    return display.shape(messages, runtime.prefecture(), runtime.phones())


def current(events: list[dict], expiry_minutes: float, now: float | None = None) -> list[dict]:
    """The events of the current session (from its last `session_started`); none when nothing was said
    in it, or when it has expired (Rasa starts a new one at the next message)."""
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
    return events


def form_tokens(events: list[dict]) -> frozenset[str]:
    """The tokens of the forms whose questions these events hold (bot/web/chat_form.py: a form of the page
    without JavaScript is run once), kept in each question's metadata under FORM_TOKEN."""
    kept = ((e.get("metadata") or {}).get(FORM_TOKEN) for e in events if e.get("event") == "user")
    return frozenset(token for token in kept if isinstance(token, str))


def transcript(events: list[dict], expiry_minutes: float, tree, now: float | None = None) -> list[dict]:
    """The turns of the current session from Rasa's events (`turns_in`). Nothing when the session has
    expired (Rasa starts a new one at the next message)."""
    return turns_in(current(events, expiry_minutes, now), tree)


def turns_in(session: list[dict], tree) -> list[dict]:
    """The turns of a session's events (`current`): {"role": "user", "text"} (a button's payload shown as
    the button's title) and {"role": "bot", "messages": [...shaped]}."""
    from bot.core.router import NAVIGATE_INTENT

    said = [e for e in session if e.get("event") in ("user", "bot")]
    turns: list[dict] = []
    titles: dict[str, str] = {}
    for event in said:
        if event["event"] == "user":
            text = event.get("text") or ""
            if text.startswith("/"):
                shown = titles.get(text)
                if shown is None and text.startswith("/" + NAVIGATE_INTENT):
                    node = tree.button_target(text)
                    shown = node.title if node else None
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


async def history(request: Request, *_) -> HTTPResponse:
    """The conversation of the page's sender id, as the page showed it: a reload or a return from /rdv/
    draws it again. Only the id's holder knows it (random, kept in the browser's localStorage, docs/chat-page.md,
    "The chat page"); the texts are those Rasa keeps, masked before it saw them. The widget's
    confirmations, which Rasa never sees, are kept beside the id by web/static/chat.js and drawn again
    after these turns. A read not over within `settings.chat_answer_within_ms`, or a tracker store
    unreachable, is the chat's JSON 503 (bot/web/degraded.py)."""
    sender = request.args.get("sender", "")
    if not SENDER_RE.match(sender):
        return security_headers(json_error(400, say("bad_sender_param")))
    turns = await degraded.within_bound(turns_of(getattr(request.app.ctx, "agent", None), sender), f"the history of {sender}")
    resp = response.json({"sender": sender, "turns": turns})
    resp.headers["Cache-Control"] = "no-store"
    return security_headers(resp)


async def turns_of(agent, sender: str) -> list[dict]:
    """The turns of the sender's current session (`transcript`); none when the conversation is unknown or
    cannot be read (no history is better than a 500), except a tracker store unreachable: BackendUnavailable."""
    return (await conversation_of(agent, sender)).turns


async def conversation_of(agent, sender: str) -> Conversation:
    """`turns_of`, with the tokens of the forms the session has run."""
    if agent is None or agent.tracker_store is None:
        return Conversation([], frozenset())
    try:
        # The whole current session (the per-turn window would give only its last exchanges).
        store = window_of(agent.tracker_store)
        tracker = await (store.retrieve_full_tracker(sender, whole=False) if store else agent.tracker_store.retrieve(sender))
    except BackendUnavailable:  # the 503: the page says to try again, not that the conversation is empty
        raise
    except Exception:  # noqa: BLE001 - no history is better than a 500
        logger.exception("web chat: could not read the conversation of %s", sender)
        return Conversation([], frozenset())
    if tracker is None:
        return Conversation([], frozenset())
    session = current([e.as_dict() for e in tracker.events], session_minutes(agent))
    return Conversation(turns_in(session, runtime.tree()), form_tokens(session))


def session_minutes(agent) -> float:
    """How long Rasa keeps a conversation's session after its last message (domain.yml), 0 when unknown."""
    config = getattr(getattr(agent, "domain", None), "session_config", None)
    minutes = getattr(config, "session_expiration_time", 0)
    return float(minutes) if isinstance(minutes, (int, float)) else 0.0
