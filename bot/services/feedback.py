"""Satisfaction ratings (issue 6): "cette réponse vous a-t-elle aidé ?" by chat and by phone.

One row per conversation or call in the `feedback` table (migration 005): a new rating of the same
item replaces the previous one. A conversation is rated only after an answer (`to_rate`), as the chat
page offers it. The comment is cut to COMMENT_MAX characters, then masked, before it
is written; what was rated (topic, destination) is copied from the conversation or the call.
The chat writes it with `record_unless`: a rating the person was answered 503 for is not written later.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from bot.core.masking import MARGIN, RAW_FACTOR, clean, mask
from bot.core.tree import SOCIAL_INTENTS, Tree, rates_answer
from bot.store.database import Store, lock_key, now

logger = logging.getLogger(__name__)

COMMENT_MAX = 500
KINDS = ("chat", "phone")


class FeedbackError(ValueError):
    """A rating that cannot be recorded: a programming error (the channels check what they pass), in English."""


def masked_comment(comment: object) -> str | None:
    """A rating's comment as it is stored: cut before any regular expression (issue 13), then masked."""
    if not isinstance(comment, str):
        return None
    return mask(clean(comment[: COMMENT_MAX * RAW_FACTOR])[: COMMENT_MAX + MARGIN])[:COMMENT_MAX] or None


def record(
    store: Store,
    kind: str,
    item_id: str,
    prefecture: str,
    useful: bool,
    comment: str | None = None,
    topic: str | None = None,
    destination: str | None = None,
) -> dict:
    """Record (or replace) the rating of one conversation or call; returns the stored row."""
    if kind not in KINDS:
        raise FeedbackError(f"unknown kind of rating: {kind!r} (a programming error: the channels pass their own kind)")
    if not isinstance(useful, bool):
        raise FeedbackError("a rating is True or False (a programming error: the chat checks it before)")
    text = masked_comment(comment)
    ts = now()
    # One statement: atomic alone (no transaction, so none nested in the phone's keyed one).
    store.db.execute(
        "insert into feedback (kind, item_id, prefecture, useful, comment, topic, destination, created_at,"
        " updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " on conflict(kind, item_id) do update set useful = excluded.useful,"
        # a comment given alone keeps its rating's; a changed rating drops the comment of the other
        " comment = case when excluded.comment is not null then excluded.comment"
        " when feedback.useful = excluded.useful then feedback.comment end, updated_at = excluded.updated_at",
        [kind, item_id, prefecture, int(useful), text, topic, destination, ts, ts],
    )
    return next(store.db.query("select * from feedback where kind = ? and item_id = ?", [kind, item_id]), None)


class _Told(Exception):
    """The person was answered without the rating while it was being written: its transaction is undone."""


def record_unless(store: Store, told: Callable[[], bool], **rating) -> dict | None:
    """`record`, in a transaction of its own, unless the person was answered without it (`told()`: the
    chat's 503 past `settings.chat_answer_within_ms`, bot/web/chat.py), looked at in the writing thread
    before the write and again before its commit: then None, nothing written, and no error either when
    the store refused the write (locked, unreachable), so that nothing is kept to be written later. What
    remains is a commit already sent when the 503 goes (docs/scaling.md, "A chat turn the store does not
    answer")."""
    try:
        if not told():
            with store.transaction(lock_key("feedback", rating["kind"], rating["item_id"])):
                row = record(store, **rating)
                if not told():
                    return row  # committed on leaving the block
                raise _Told  # rolled back
    except _Told:
        pass
    except sqlite3.OperationalError:
        if not told():
            raise
    logger.warning("web chat: the rating of %s ended after its 503: not written", rating.get("item_id"))
    return None


def to_rate(store: Store, conversation_id: str, tree: Tree) -> tuple[dict | None, bool]:
    """The conversation (None when unknown) and whether its last turn, politeness aside ("merci", as its
    status: bot/store/schema_core.py status_by_last_turn), is an answer the chat page offers to rate:
    a routed answer other than the person (bot.core.tree.rates_answer, actions/actions.py's marker),
    never a clarification, a menu, a hand-off or a message not understood."""
    conversation = store.conversation(conversation_id)
    if conversation is None:
        return None, False
    marks = ",".join("?" * len(SOCIAL_INTENTS))
    last = store.db.execute(
        "select node, action from turns where conversation_id = ?"
        f" and not (resolved = 1 and coalesce(topic, '') in ({marks})) order by id desc limit 1",
        [conversation_id, *SOCIAL_INTENTS],
    ).fetchone()
    node = tree.nodes.get(last[0]) if last is not None and last[1] == "answer" else None
    return conversation, node is not None and rates_answer(node)
