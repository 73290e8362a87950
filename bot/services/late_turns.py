"""Chat turns the person was answered without: the chat's `Step.answered` (ivr/state.py).

The chat route waits `settings.chat_answer_within_ms` (bot/tree.yml) for a turn; past that it answers
the French 503 "réessayez" (bot/web/degraded.py `answered_within`). The turn itself goes on: a read or a write sent to a
store that does not answer (a frozen PostgreSQL) cannot be called back, and it ends when the store
answers. Such a turn must then change nothing, or the person's next message would be read after a
turn they were told failed (a second miss: the hand-over instead of the clarification), and the page's
history would show it. So the route marks the turn given up, by its message id (Rasa's
`UserMessage.message_id`, kept in the turn's `user` event), and the turn's two writes look here, in
the thread that writes them, just before writing: its record (actions/actions.py, the product's
`turns`) and its events (bot/nlu/tracker_store.py, Rasa's `events`, which it also deletes when they
were inserted meanwhile). A record already sent when the turn is given up still lands, events only for
a moment: docs/scaling.md, "A chat turn the store does not answer".

A mark lives until its turn ends (`ended`, when the route's task is done): the set holds only turns
under way, in the memory of the process that runs them (a turn runs in one process).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_given_up: set[str] = set()


def give_up(message_id: str) -> None:
    """The person was answered without this turn (on the event loop, as the 503 is sent)."""
    with _lock:
        _given_up.add(message_id)


def ended(message_id: str) -> None:
    """The turn is over: nothing of it is written any more."""
    with _lock:
        _given_up.discard(message_id)


def any_given_up() -> bool:
    """Whether any turn under way was given up: the writers' quick test before they read a message id
    (no lock: a mark made at this very moment is a write already under way, docs/scaling.md)."""
    return bool(_given_up)


def given_up(message_ids: Iterable[str | None]) -> bool:
    """Whether the person was answered without any of these turns (read in a writer's thread)."""
    with _lock:
        return any(m in _given_up for m in message_ids if m)


def drop(sender_id: str, message_ids: Iterable[str | None], what: str) -> bool:
    """`given_up`, said in the log when it is (once for each write a late turn does not make: "its
    record is not written", "its events are not written")."""
    if not given_up(message_ids):
        return False
    logger.warning("web chat: a turn of %s ended after its 503: %s", sender_id, what)
    return True
