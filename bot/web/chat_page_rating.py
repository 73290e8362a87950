"""The rating of the last answer on the chat page without JavaScript: POST /chat/ with `useful` ("true"
or "false", the buttons « Oui » and « Non ») and, from the thanks' form, `comment` (bot/web/chat_form.py).

The page offers it where web/static/chat.js does (bot/web/chat_view.offers_rating: after an answer this
post received, routed to a destination; not on a page drawn again), and it goes through the same
rules, bound and storage as POST /chat/feedback (bot/web/chat_rating.py `rated`), after the same
checks: the conversation id (SENDER_RE, `requests.bad_sender`), the value (`requests.bad_useful`),
another site's post refused before (bot/web/chat_page.py: the notice alone, nothing recorded), the
per-address window (a 429). The page comes back with the conversation and the rating's box
(web/templates/chat.html `rating_box`) in the state the script shows:
- "ask": the question and its two buttons (again after a 429 or a 503, whose refusal is drawn above);
- "thanks": `chat.script.rating_thanks` and the comment's field, `comment_missing` under it when it
  was sent empty (nothing recorded: the rating stays as it was);
- "done": `comment_thanks`, once a comment is recorded;
- after « Non », in both, the answer's `alternatives` (the other likely topics and a person) under
  `rating_alternatives`, as buttons that send their topic as the script's do;
- "refused": the reason of a rating refused (404: unknown conversation, 409: nothing to rate, 400).
The box's forms post to /chat/#chat-avis: the page opens at the box.
"""

from __future__ import annotations

import logging

from sanic.request import Request
from sanic.response import HTTPResponse

from bot.nlu.outage import BackendUnavailable
from bot.web import chat_view, degraded
from bot.web.chat_form import USEFUL, Posted
from bot.web.chat_history import SENDER_RE
from bot.web.chat_page import drawn, readable, refused, shown
from bot.web.chat_rating import rated
from bot.web.chat_turn import flood_refusal
from bot.web.http import say

logger = logging.getLogger(__name__)


async def rating(request: Request, posted: Posted) -> HTTPResponse:
    """A rating (or its comment) sent from the page: recorded, then the page with the conversation."""
    sender = posted.sender or ""
    if not SENDER_RE.match(sender):
        return shown(request, [chat_view.error(say("bad_sender"))], status=400)
    useful = USEFUL.get(posted.useful or "")
    if useful is None:
        return await page(request, sender, {"state": "refused", "error": say("bad_useful")}, 400)
    box = {"useful": posted.useful}
    if posted.comment is not None and not posted.comment.strip():  # as the script: said under the field, not sent
        return await page(request, sender, box | {"state": "thanks", "invalid": True}, 400)
    refusal = flood_refusal(request)
    if refusal:
        text, wait = refusal
        turns = await readable(request, sender)
        bubble = chat_view.error(text, unread=turns is None)
        return refused(request, turns, bubble, 429, (sender, None, ""), wait, rating={"state": "ask"})
    try:
        result = await rated(sender, useful, posted.comment)
    except BackendUnavailable as exc:  # its store down: the conversation is not read, said so
        logger.warning("POST /chat/ refused a rating (503): %s", exc)
        text, seconds = degraded.retry_later()
        bubble = chat_view.error(text, phone=True, unread=True)
        return refused(request, None, bubble, 503, (sender, None, ""), seconds, rating={"state": "ask"})
    if result.status != 200:
        return await page(request, sender, {"state": "refused", "error": result.message}, result.status)
    return await page(request, sender, box | {"state": "done" if posted.comment is not None else "thanks"})


async def page(request: Request, sender: str, box: dict, status: int = 200) -> HTTPResponse:
    """The page with the conversation (said so when it cannot be read now) and the rating's `box`."""
    turns = await readable(request, sender)
    if turns is None:
        text, _ = degraded.retry_later()
        return shown(request, [chat_view.error(text, phone=True, unread=True)], status=status, sender=sender, rating=box)
    if box.get("useful") == "false" and box.get("state") in ("thanks", "done"):  # « Non »: the other topics
        box = box | {"alternatives": chat_view.alternatives(turns)}
    return drawn(request, sender, turns, status=status, rating=box)
