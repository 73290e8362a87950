"""The rating of a conversation's last answer (« Cette réponse vous a-t-elle aidé ? »), whoever sends it:
the chat page's script (POST /chat/feedback, JSON: bot/web/chat.py) or its form sent without
JavaScript (POST /chat/ with `useful`: bot/web/chat_page.py). Both go through `rated`: the same
rules (feedback.to_rate: a conversation whose last turn is an answer the page offers to rate), the
same bound (settings.chat_answer_within_ms: past it, BackendUnavailable, the chat's 503, and the
rating is then not written when its work ends), the same storage (bot/services/feedback.py, through
the background writer) and the same texts (bot/tree.yml `requests`). The callers check the sender
(SENDER_RE) and the origin, and count the request in the per-address window, before.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import NamedTuple

from bot.nlu.outage import BackendUnavailable
from bot.services import runtime
from bot.services.deferred import is_locked
from bot.web import degraded
from bot.web.http import say


class Rated(NamedTuple):
    """A rating's outcome: 200 and the thanks (`comment`: whether a comment was kept), or the refusal's
    status (404: unknown conversation, 409: nothing to rate, 400) and its French reason."""

    status: int
    message: str
    comment: bool = False


async def rated(sender: str, useful: bool, comment: str | None) -> Rated:
    """The rating recorded (`rate`), bounded as a turn is: BackendUnavailable past
    `settings.chat_answer_within_ms`, and then the rating is not written when its work ends."""
    told = threading.Event()  # the person was answered without the rating (the 503, or gone): it is not written
    try:
        return await degraded.within_bound(rate(sender, useful, comment, told), f"the rating of {sender}", given_up=told.set)
    except asyncio.CancelledError:  # the client gone: its page says the rating failed
        told.set()
        raise


async def rate(sender: str, useful: bool, comment: str | None, told: threading.Event) -> Rated:
    """`rated`'s work: read the conversation (WAL: reads go on while another writer holds the file), then
    write through the background writer like the turns (issue 11): a locked store costs the person no wait,
    the rating is written once the store is free. Once `told` is set, the write is not made, nor kept to be
    made later (feedback.record_unless, in the writing thread)."""
    from bot.services import feedback as feedback_mod

    prefecture_id = runtime.prefecture().id
    try:
        conversation, answered = await asyncio.to_thread(
            lambda: feedback_mod.to_rate(runtime.thread_store(), sender, runtime.tree())
        )
    except sqlite3.OperationalError as exc:  # PostgreSQL unreachable ("database is locked"): the 503, not a 500
        if not is_locked(exc):
            raise
        raise BackendUnavailable("store", str(exc)) from None
    if conversation is None:
        return Rated(404, say("unknown_conversation"))
    if not answered and not runtime.turn_writer().waiting(sender):  # turns still to write: its last one is not known
        return Rated(409, say("nothing_to_rate"))
    stored: dict = {}
    rating = {  # JSON values only: what the chat's spool keeps if the rating has to wait (issue 16)
        "kind": "chat",
        "item_id": sender,
        "prefecture": prefecture_id,
        "useful": useful,
        "comment": comment if isinstance(comment, str) else None,
        "topic": conversation.get("last_topic"),
        "destination": conversation.get("last_destination"),
    }

    def record(store) -> None:  # in a worker thread: masking of the comment, then the write
        stored["row"] = feedback_mod.record_unless(store, told.is_set, **rating)

    try:
        await runtime.turn_writer().write(sender, f"the rating of {sender}", record, kept=("rating", rating))
    except feedback_mod.FeedbackError as exc:
        return Rated(400, str(exc))
    row = stored.get("row")
    kept = row["comment"] is not None if row else bool(isinstance(comment, str) and comment.strip())
    return Rated(200, say("feedback_thanks"), kept)
