"""The chat page, GET /chat/, and its forms posted without JavaScript, POST /chat/ (progressive
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
from the page's token; « Nouvelle conversation » is GET /chat/ again. The notice `chat.page.no_script`
says that the assistant works so, in a simpler form, and what else works. What a post holds:
bot/web/chat_form.py.

- A form is run once (bot/web/chat_form.py): each page holds a new token, kept with the question in
  the conversation; the same form sent again (Enter pressed twice, a reload that re-sends it) gets
  the conversation as it stands, its question not asked twice. The conversation is read before the
  turn for that (one read more than the webhook's turn, bounded as a turn is), and that read is what
  a 503 draws; in a cluster, read again under the form's lock in the shared lock store, where a copy
  at another process waits (chat_form.in_line_everywhere).
- After an answer the script would have the person rate, the page offers « Cette réponse vous a-t-elle
  aidé ? » as a form (`useful`), then the thanks and the comment's field (`comment`), as the script
  does: bot/web/chat_page_rating.py, the same rules as POST /chat/feedback.
- A post with a conversation id and no question (« Retour à l'assistant » on /rdv/,
  bot/web/chat_way_back.py) draws the conversation, running nothing.

Refused without running the turn: a post from another site (the notice alone: nothing given back), a
body too long (413), a flood (429, Retry-After), a store or back end down (503, Retry-After, the
chat's `retry_later` and the préfecture's phone). The 429 and the 503 draw the conversation so far
when it can be read within settings.chat_answer_within_ms (the 503's as read just before the turn,
which changed nothing: read once, not again after a refusal that may be its store's), and give the
question back in the field, to send again; when the store itself is what is down, the page says that
the conversation cannot be shown now (`chat.page.conversation_unreadable`) rather than wait for it
twice. An empty question gets the `empty` answer. Each page is `Cache-Control: no-store`; the body is
read here and never logged, and only its masked text reaches Rasa.

Not Post/Redirect/Get: the page after a post is drawn in the post's answer. A redirection to GET
/chat/ would need the conversation id in the URL (nginx's access log, deploy/nginx.conf's default
`combined` format, and the browser's history keep each URL with its query string:
bot/web/chat_way_back.py) or in a cookie that the GET reads, which a browser refusing cookies (often
one without JavaScript) would lose together with the answer; and the answers given without Rasa (the
empty question's, the apology) are in no store a GET could read. The token makes the post that a
reload sends again harmless instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import InMemoryLockStore
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core.masking import RAW_FACTOR
from bot.nlu.outage import BackendUnavailable
from bot.services import pan, runtime
from bot.web import chat_form, chat_view, chat_way_back, degraded
from bot.web.chat_history import SENDER_RE, Conversation, conversation_of, shaped, turns_of
from bot.web.chat_turn import flood_refusal, masked, run_turn, said_now
from bot.web.http import from_another_site, read_body, say, security_headers, too_large

logger = logging.getLogger(__name__)

# Bytes a character of the question takes in a form body at most: 3 in UTF-8, each as "%XX".
FORM_BYTES_PER_CHAR = 9


def form_limit(max_chars: int) -> int:
    """The form's body limit (bytes): every question whose text the webhook reads in full (RAW_FACTOR ×
    max_message_chars characters; a longer one is cut, answered with the "too long" notice), each
    character at its worst, plus the conversation id, the token and the field names (a rating's comment,
    500 characters, is well within)."""
    return max_chars * RAW_FACTOR * FORM_BYTES_PER_CHAR + 200


async def page(request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]], channel: str) -> HTTPResponse:
    """GET: the page (no conversation yet; its token). POST: one of its forms sent without JavaScript."""
    if request.method != "POST":
        resp = security_headers(response.html(runtime.render_page(token=chat_form.new_token())))
        resp.headers["Cache-Control"] = "no-store"  # its token becomes a conversation id: never served twice
        chat_way_back.forget(resp)
        return resp
    router = runtime.router()
    body = await read_body(request, form_limit(router.max_chars))
    if body is None:
        too_large(request)  # logs it
        return shown(request, [chat_view.error(say("too_large"))], status=413)
    # A form sent under "Referrer-Policy: no-referrer" says "Origin: null": Sec-Fetch-Site tells where
    # it comes from. Another site's post runs nothing, is not counted, and gets nothing back.
    if request.headers.get("sec-fetch-site") != "same-origin" and from_another_site(request):
        return shown(request, [])
    posted = chat_form.read(body)
    if posted.useful is not None:
        from bot.web.chat_page_rating import rating

        return await rating(request, posted)
    if posted.message is None:
        return await again(request, posted.sender or "")
    return await turn(request, on_new_message, channel, posted)


async def turn(
    request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]], channel: str, posted: chat_form.Posted
) -> HTTPResponse:
    """A question (typed, or a button's payload): run once per form, then the page."""
    router, raw, token = runtime.router(), posted.message or "", posted.token
    sender = chat_form.sender_of(posted)
    refusal = flood_refusal(request)
    if refusal:
        text, wait = refusal
        turns = await readable(request, sender)
        return refused(request, turns, chat_view.error(text, unread=turns is None), 429, (sender, token, raw), wait)
    text, truncated = await asyncio.to_thread(masked, raw, router.max_chars)  # never on the event loop
    if not text:  # nothing to understand: the conversation state is unchanged
        return await answered(request, sender, None, [], said_now(sender, router.message("empty"), router.topic_buttons()))
    before: Conversation | None = None
    async with chat_form.in_line(sender, token):  # a copy of this form arriving now waits, then finds its token
        try:
            before = await read_conversation(request, sender)
            if token is not None and token in before.tokens:  # this form was run: the conversation as it stands
                return drawn(request, sender, before.turns)
            # A copy at another process of a cluster: one runs it, the other then finds its token.
            async with chat_form.in_line_everywhere(shared_lock_store(request), sender, token) as held:
                if held:  # the other process may have run it meanwhile
                    before = await read_conversation(request, sender)
                    if token in before.tokens:
                        return drawn(request, sender, before.turns)
                messages = await run_turn(request, on_new_message, channel, sender, text, truncated, token)
        except BackendUnavailable as exc:
            return unavailable(request, exc, (sender, token, raw), before)
    if messages is None:  # the turn failed inside Rasa: the apology, as the webhook gives it
        return await answered(request, sender, before, [], said_now(sender, runtime.apology()))
    said = shaped(messages)
    exchange = [{"role": "user", "text": text}, {"role": "bot", "messages": said}]
    return await answered(request, sender, before, exchange, rate=chat_view.offers_rating(said))


def agent(request: Request):
    return getattr(request.app.ctx, "agent", None)


def shared_lock_store(request: Request):
    """Rasa's lock store when processes share it (Redis: LOCK_STORE_URL); None for the one in memory
    of a single process, where `chat_form.in_line` already keeps copies of a form in line."""
    store = getattr(agent(request), "lock_store", None)
    return None if store is None or isinstance(store, InMemoryLockStore) else store


async def read_conversation(request: Request, sender: str) -> Conversation:
    return await degraded.within_bound(conversation_of(agent(request), sender), f"the conversation of {sender}")


async def readable(request: Request, sender: str) -> list[dict] | None:
    """The conversation's turns, or None when it cannot be read within settings.chat_answer_within_ms
    (its store down, or not answering)."""
    try:
        return await degraded.within_bound(turns_of(agent(request), sender), f"the conversation of {sender}")
    except BackendUnavailable:
        return None


async def answered(
    request: Request,
    sender: str,
    before: Conversation | None,
    turn: list[dict],
    unsaid: list[dict] | None = None,
    rate: bool = False,
) -> HTTPResponse:
    """The page with the conversation as Rasa keeps it (when it cannot be read, or not within
    settings.chat_answer_within_ms: as read `before` the turn, then this post's `turn`), then `unsaid`
    (an answer given without Rasa: the empty question's, the apology); the start of what this post added
    is marked for the page to show first. `rate`: the rating is offered after the answer."""
    read = await readable(request, sender)  # a store that stops answering after the turn costs no 60 s
    turns = read or [*(before.turns if before else []), *turn]
    bubbles = draw(turns)
    start = last_question(bubbles)
    if unsaid:
        start = len(bubbles)
        bubbles += draw([{"role": "bot", "messages": unsaid}])
    box = {"state": "ask"} if rate and not unsaid else None
    return shown(request, bubbles, sender=sender, start=start, rating=box)


async def again(request: Request, sender: str) -> HTTPResponse:
    """The way back to a conversation (« Retour à l'assistant » on /rdv/): drawn, nothing run. Not
    readable now: the chat's 503, as the script says it when it cannot draw a conversation again."""
    if not SENDER_RE.match(sender):
        return shown(request, [])
    turns = await readable(request, sender)
    if turns is None:
        text, seconds = degraded.retry_later()
        return refused(request, None, chat_view.error(text, phone=True, unread=True), 503, (sender, None, ""), seconds)
    return drawn(request, sender, turns)


def drawn(request: Request, sender: str, turns: list[dict], **extra) -> HTTPResponse:
    """The page with these turns, opened at the last question (`extra`: `shown`'s status, rating's box)."""
    bubbles = draw(turns)
    return shown(request, bubbles, sender=sender, start=last_question(bubbles), **extra)


def last_question(bubbles: list[dict]) -> int:
    """Where the page opens: the last question's bubble (the first bubble when none)."""
    return max((i for i, b in enumerate(bubbles) if b["role"] == "user"), default=0)


def draw(turns: list[dict]) -> list[dict]:
    return chat_view.drawn(turns, pan.reasons(runtime.prefecture()), runtime.router().message("unavailable"))


def unavailable(request: Request, exc: BackendUnavailable, form: tuple, before: Conversation | None) -> HTTPResponse:
    """A back end down, or the turn not over in time: the chat's 503 (bot/web/degraded.py) as a page,
    the question given back in the field, under the conversation as read before the turn (nothing of
    the turn was applied). Not read (the read itself was refused: its store is what is down): said so,
    without reading it again."""
    logger.warning("POST /chat/ refused (503): %s", exc)
    text, seconds = degraded.retry_later()
    turns = before.turns if before is not None else None
    return refused(request, turns, chat_view.error(text, phone=True, unread=turns is None), 503, form, seconds)


def refused(request: Request, turns: list[dict] | None, bubble: dict, status: int, form: tuple, wait: int, **box) -> HTTPResponse:
    """A refusal's page: the conversation (`turns`, None when it could not be read), the refusal after it
    (where the page opens), the form (`form`: sender, token, the question as posted) to send again, then
    the rating's `box` (a rating refused)."""
    sender, token, raw = form
    bubbles = [*draw(turns or []), bubble]
    headers = {"Retry-After": str(wait)}
    typed, start = given_back(raw), len(bubbles) - 1
    return shown(request, bubbles, status, sender, token, typed, start, headers, **box)


def given_back(raw: str) -> str:
    """What a refused post gives back in the field, to send again: the question as typed (in this page
    only: never logged, never in a URL), a button's title for a button's payload."""
    node = runtime.tree().button_target(raw) if raw.startswith("/") else None
    return node.title if node is not None else raw


def shown(
    request: Request,
    bubbles: list[dict],
    status: int = 200,
    sender: str = "",
    token: str | None = None,
    typed: str = "",
    start: int = 0,
    headers: dict | None = None,
    rating: dict | None = None,
) -> HTTPResponse:
    """The page after a post: the notice, the conversation, the rating's box, the forms with the id, the
    token (a new one unless the post's is given back, not run) and `typed`. A conversation's page keeps
    its id for /rdv/'s way back (bot/web/chat_way_back.py)."""
    html = runtime.render_page(
        no_script=True,
        typed=typed,
        sender=sender,
        conversation=bubbles,
        start=start,
        token=token or chat_form.new_token(),
        rating=rating,
    )
    resp = security_headers(response.html(html, status=status, headers=headers))
    resp.headers["Cache-Control"] = "no-store"  # never kept in a cache, nor redrawn from one
    if sender:
        chat_way_back.keep(resp, sender, chat_way_back.session_minutes(request))
    return resp
