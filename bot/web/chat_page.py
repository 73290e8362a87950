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

Refused without running the turn: a post from another site (the notice alone, as before: nothing given
back), a body too long (413), a flood (429, Retry-After), a store or back end down (503, Retry-After,
the chat's `retry_later` and the préfecture's phone; the question given back in the field, to send
again). An empty question gets the `empty` answer. Each page is `Cache-Control: no-store`; the body is
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
        return shown(
            [chat_view.error(text)], status=429, sender=sender, typed=given_back(raw), headers={"Retry-After": str(wait)}
        )
    text, truncated = await asyncio.to_thread(masked, raw, router.max_chars)  # never on the event loop
    if not text:  # nothing to understand: the conversation state is unchanged
        return await answered(request, sender, [], said_now(sender, router.message("empty"), router.topic_buttons()))
    try:
        messages = await run_turn(request, on_new_message, channel, sender, text, truncated)
    except BackendUnavailable as exc:
        return unavailable(exc, sender, raw)
    if messages is None:  # the turn failed inside Rasa: the apology, as the webhook gives it
        return await answered(request, sender, [], said_now(sender, runtime.apology()))
    return await answered(request, sender, [{"role": "user", "text": text}, {"role": "bot", "messages": shaped(messages)}])


async def answered(request: Request, sender: str, turn: list[dict], unsaid: list[dict] | None = None) -> HTTPResponse:
    """The page with the conversation as Rasa keeps it (this post's `turn` alone when it cannot be
    read, or not within settings.chat_answer_within_ms), then `unsaid` (an answer given without Rasa: the empty question's, the apology); the start
    of what this post added is marked for the page to show first."""
    try:  # bounded as GET /chat/history is: a store that stops answering after the turn costs no 60 s
        read = await degraded.within_bound(
            turns_of(getattr(request.app.ctx, "agent", None), sender), f"the conversation of {sender}"
        )
    except BackendUnavailable:
        read = []  # this post's answer is shown; the rest comes back with the next one
    turns = read or turn
    unavailable_text, reasons = runtime.router().message("unavailable"), pan.reasons(runtime.prefecture())
    bubbles = chat_view.drawn(turns, reasons, unavailable_text)
    start = max((i for i, b in enumerate(bubbles) if b["role"] == "user"), default=0)
    if unsaid:
        start = len(bubbles)
        bubbles += chat_view.drawn([{"role": "bot", "messages": unsaid}], reasons, unavailable_text)
    return shown(bubbles, sender=sender, start=start)


def unavailable(exc: BackendUnavailable, sender: str, raw: str) -> HTTPResponse:
    """A back end down, or the turn not over in time: the chat's 503 (bot/web/degraded.py) as a page,
    the question given back in the field. The conversation is not read
    (its store may be the one down); it is drawn again at the next answer."""
    logger.warning("POST /chat/ refused (503): %s", exc)
    text, seconds = degraded.retry_later()
    headers = {"Retry-After": str(seconds)}
    return shown([chat_view.error(text, phone=True)], status=503, sender=sender, typed=given_back(raw), headers=headers)


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
