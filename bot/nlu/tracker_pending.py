"""What WindowSQLTrackerStore (bot/nlu/tracker_store.py) keeps of events that wait for the database:
their rows, in memory, and (issue 16) their entries in the chat's spool on local disk
(bot/store/spool.py), so that a process killed before the database takes them loses none."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from rasa.shared.core.events import Event
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.store.disk import log_refusal

logger = logging.getLogger("bot.nlu.tracker_store")


@dataclass
class Pending:
    rows: list[dict] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)
    unsure: bool = False  # an insert of some of these rows was cut: it may have committed (`_insert`)
    entries: list[int] = field(default_factory=list)  # their entries in the chat's spool
    unsure_added: int = 0  # rows added as unsure so far (a write succeeding clears `unsure` only if none came meanwhile)


def row(sender_id: str, event: Event) -> dict:
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


def late(rows: list[dict], what: str) -> bool:
    """Whether these rows are a chat turn's that the person was answered 503 without (its `user` event's
    message id marked by the chat route: bot/services/late_turns.py), logged with `what` when they are."""
    from bot.services import late_turns

    if not late_turns.any_given_up():  # the usual case: no JSON read on a turn's path
        return False
    ids = [json.loads(r["data"]).get("message_id") for r in rows if r["type_name"] == "user"]
    return bool(ids) and late_turns.drop(rows[0]["sender_id"], ids, what)


def is_locked(exc: BaseException) -> bool:
    """A lock held by another writer (SQLite's busy timeout, PostgreSQL's lock timeout)."""
    text = str(exc).lower()
    return isinstance(exc, sa.exc.OperationalError) and ("locked" in text or "busy" in text or "lock timeout" in text)


def write_failed(exc: BaseException, count: int, sender_id: str) -> None:
    """A background write of a conversation's events failed on something else than a lock: logged (in one
    line when the disk is full, bot.store.disk.log_refusal); tried again."""
    log_refusal(logger, exc, "tracker store: writing %d events of %s failed; trying again", count, sender_id)


def spool_keep(sender_id: str, rows: list[dict]) -> int | None:
    """The rows put in the chat's spool (on disk when this returns; their texts were masked before
    Rasa saw them: bot/web/chat.py); None if the spool cannot take them (then in memory only)."""
    from bot.services import runtime

    try:
        return runtime.chat_spool().add("events", [sender_id, rows])
    except (sqlite3.Error, OSError, ValueError) as exc:
        log_refusal(
            logger, exc, "tracker store: %d events of %s could not be put in the spool; kept in memory only", len(rows), sender_id
        )
        return None


def spool_forget(entries: list[int]) -> None:
    from bot.services import runtime

    try:
        for entry in entries:
            runtime.chat_spool().remove(entry)
    except (sqlite3.Error, OSError):  # written: a replay finds them stored (`_insert` with `unsure`)
        logger.exception("tracker store: spool entries %s written but not removed", entries)
