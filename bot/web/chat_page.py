"""The chat page, GET /chat/, and its form posted without JavaScript, POST /chat/ (progressive
enhancement): JavaScript off, blocked by an institution's policy, or not loaded yet on a slow connection.

With JavaScript, web/static/chat.js sends each question to POST /chat/webhook and draws the answer in
the page. Without it, the form posts here (method="post": the question never goes into a URL, the
browser's history or the access logs) and the server runs the very same turn (bot/web/chat_turn.py: the
same limits, masking, bound and Rasa conversation), then gives the page back with the conversation so
far, drawn as the script draws it (bot/web/chat_view.py, web/templates/chat.html): the questions as
masked, the answers' lead, list, « En savoir plus » (a <details>), tel: links, links; each button is a
submit button of a form (the payload as `message`); where the script draws its widget, a link to the
pages that work without JavaScript (/rdv/, /rdv/message?service=). The conversation id (chat.js's
randomId() format, checked with SENDER_RE) travels in a hidden field `sender`, made at the first post
(GET /chat/ stays the same page for everyone); « Nouvelle conversation » is GET /chat/ again. The notice
`chat.page.no_script` says that the assistant works so, in a simpler form, and what else works.

Refused without running the turn: a post from another site (the notice alone: nothing given back), a
body too long (413), a flood (429, Retry-After), a store or back end down (503, Retry-After, the
chat's `retry_later` and the préfecture's phone). The 429 and the 503 draw the conversation so far
when it can be read within settings.chat_answer_within_ms (the 503's as read just before the turn,
which changed nothing: read once, not again after a refusal that may be its store's), and give the
question back in the field, to send again; when the store itself is what is down, the page says that
the conversation cannot be shown now (`chat.page.conversation_unreadable`) rather than wait for it
twice. An empty question gets the `empty` answer. Each page is `Cache-Control: no-store`; the body is
read here and never logged, and only its masked text reaches Rasa.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import UserMessage
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core.masking import RAW_FACTOR
from bot.nlu.outage import BackendUnavailable
from bot.services import pan, runtime
from bot.web import chat_view, degraded
from bot.web.chat_history import SENDER_RE, shaped, turns_of
from bot.web.chat_turn import flood_refusal, masked, new_sender, run_turn, said_now
from bot.web.http import from_another_site, read_body, say, security_headers, too_large

logger = logging.getLogger(__name__)

# Bytes a character of the question takes in a form body at most: 3 in UTF-8, each as "%XX".
FORM_BYTES_PER_CHAR = 9


def form_limit(max_chars: int) -> int:
    """The form's body limit (bytes): every question whose text the webhook reads in full (RAW_FACTOR ×
    max_message_chars characters; a longer one is cut, answered with the "too long" notice), each
    character at its worst, plus the conversation id and the field names."""
    return max_chars * RAW_FACTOR * FORM_BYTES_PER_CHAR + 200


async def page(request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]], channel: str) -> HTTPResponse:
    """GET: the page (the same for everyone: no id yet). POST: its form sent without JavaScript."""
    if request.method != "POST":
        return security_headers(response.html(runtime.render_page()))
    router = runtime.router()
    body = await read_body(request, form_limit(router.max_chars))
    if body is None:
        too_large(request)  # logs it
        return shown([chat_view.error(say("too_large"))], status=413)
    # A form sent under "Referrer-Policy: no-referrer" says "Origin: null": Sec-Fetch-Site tells where
    # it comes from. Another site's post runs nothing, is not counted, and gets nothing back.
    if request.headers.get("sec-fetch-site") != "same-origin" and from_another_site(request):
        return shown([])
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=5)
    except ValueError:  # more fields than the page's forms send
        fields = {}
    raw, given = (fields.get("message") or [""])[0], (fields.get("sender") or [""])[0]
    sender = given if SENDER_RE.match(given) else new_sender()
    refusal = flood_refusal(request)
    if refusal:
        text, wait = refusal
        turns = await readable(request, sender)
        return refused(turns, chat_view.error(text, unread=turns is None), 429, (sender, raw), wait)
    text, truncated = await asyncio.to_thread(masked, raw, router.max_chars)  # never on the event loop
    if not text:  # nothing to understand: the conversation state is unchanged
        return await answered(request, sender, None, [], said_now(sender, router.message("empty"), router.topic_buttons()))
    before: list[dict] | None = None
    try:
        before = await degraded.within_bound(turns_of(agent(request), sender), f"the conversation of {sender}")
        messages = await run_turn(request, on_new_message, channel, sender, text, truncated)
    except BackendUnavailable as exc:
        return unavailable(exc, (sender, raw), before)
    if messages is None:  # the turn failed inside Rasa: the apology, as the webhook gives it
        return await answered(request, sender, before, [], said_now(sender, runtime.apology()))
    exchange = [{"role": "user", "text": text}, {"role": "bot", "messages": shaped(messages)}]
    return await answered(request, sender, before, exchange)


def agent(request: Request):
    return getattr(request.app.ctx, "agent", None)


async def readable(request: Request, sender: str) -> list[dict] | None:
    """The conversation's turns, or None when it cannot be read within settings.chat_answer_within_ms
    (its store down, or not answering)."""
    try:
        return await degraded.within_bound(turns_of(agent(request), sender), f"the conversation of {sender}")
    except BackendUnavailable:
        return None


async def answered(
    request: Request, sender: str, before: list[dict] | None, turn: list[dict], unsaid: list[dict] | None = None
) -> HTTPResponse:
    """The page with the conversation as Rasa keeps it (when it cannot be read, or not within
    settings.chat_answer_within_ms: as read `before` the turn, then this post's `turn`), then `unsaid`
    (an answer given without Rasa: the empty question's, the apology); the start of what this post added
    is marked for the page to show first."""
    read = await readable(request, sender)  # a store that stops answering after the turn costs no 60 s
    turns = read or [*(before or []), *turn]
    bubbles = draw(turns)
    start = max((i for i, b in enumerate(bubbles) if b["role"] == "user"), default=0)
    if unsaid:
        start = len(bubbles)
        bubbles += draw([{"role": "bot", "messages": unsaid}])
    return shown(bubbles, sender=sender, start=start)


def draw(turns: list[dict]) -> list[dict]:
    return chat_view.drawn(turns, pan.reasons(runtime.prefecture()), runtime.router().message("unavailable"))


def unavailable(exc: BackendUnavailable, form: tuple, before: list[dict] | None) -> HTTPResponse:
    """A back end down, or the turn not over in time: the chat's 503 (bot/web/degraded.py) as a page,
    the question given back in the field, under the conversation as read before the turn (nothing of
    the turn was applied). Not read (the read itself was refused: its store is what is down): said so,
    without reading it again."""
    logger.warning("POST /chat/ refused (503): %s", exc)
    text, seconds = degraded.retry_later()
    return refused(before, chat_view.error(text, phone=True, unread=before is None), 503, form, seconds)


def refused(turns: list[dict] | None, bubble: dict, status: int, form: tuple, wait: int) -> HTTPResponse:
    """A refusal's page: the conversation (`turns`, None when it could not be read), the refusal after it
    (where the page opens), the form (`form`: sender, the question as posted) to send again."""
    sender, raw = form
    bubbles = [*draw(turns or []), bubble]
    headers = {"Retry-After": str(wait)}
    return shown(bubbles, status, sender, given_back(raw), len(bubbles) - 1, headers)


def given_back(raw: str) -> str:
    """What a refused post gives back in the field, to send again: the question as typed (in this page
    only: never logged, never in a URL), a button's title for a button's payload."""
    node = runtime.tree().button_target(raw) if raw.startswith("/") else None
    return node.title if node is not None else raw


def shown(
    bubbles: list[dict], status: int = 200, sender: str = "", typed: str = "", start: int = 0, headers: dict | None = None
) -> HTTPResponse:
    """The page after a post: the notice, the conversation, the form with the id and `typed`."""
    html = runtime.render_page(no_script=True, typed=typed, sender=sender, conversation=bubbles, start=start)
    resp = security_headers(response.html(html, status=status, headers=headers))
    resp.headers["Cache-Control"] = "no-store"  # never kept in a cache, nor redrawn from one
    return resp
