"""Rasa's lock store (Redis) or tracker store (PostgreSQL) down: a turn refused clearly (issue 16).

A chat turn needs both: Rasa takes the conversation's lock in Redis (`Agent.handle_message`), then
reads and writes its events in the tracker store. When one of them cannot be reached, the turn is
not run at all: `BackendUnavailable` goes up to the chat route, which answers 503 with
`Retry-After` and a French message (bot/web/degraded.py); once the back end answers again, the
next turn is served, without a restart.

Rasa wraps the tracker store in a `FailSafeTrackerStore`, which turns a failed read into "no
conversation yet" (the turn then runs on an empty state, and its events are kept in the memory
of that one process: lost to the other processes and at the next restart). `strict_tracker_store`
replaces that wrapper with `OutageFailSafeTrackerStore`, the same wrapper except that a
`BackendUnavailable` goes through it (other errors are handled as Rasa does).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from rasa.core.tracker_store import FailSafeTrackerStore

logger = logging.getLogger(__name__)
T = TypeVar("T")


class BackendUnavailable(Exception):
    """Rasa's lock store or tracker store cannot be reached now: the turn is not run (a 503)."""

    def __init__(self, backend: str, detail: str = ""):
        self.backend = backend
        super().__init__(f"{backend} unavailable{': ' + detail if detail else ''}")


class OutageFailSafeTrackerStore(FailSafeTrackerStore):
    """Rasa's FailSafeTrackerStore, except that a back end down stops the turn (no empty state,
    no events kept in one process's memory)."""

    def on_tracker_store_error(self, error: Exception) -> None:
        if isinstance(error, BackendUnavailable):
            raise error
        super().on_tracker_store_error(error)

    def on_tracker_store_retrieve_error(self, error: Exception) -> None:
        if isinstance(error, BackendUnavailable):
            raise error
        super().on_tracker_store_retrieve_error(error)


def strict_tracker_store(agent: Any) -> None:
    """Put `OutageFailSafeTrackerStore` around the agent's tracker store, in place of Rasa's
    wrapper (the agent's and its processor's): done once per loaded agent, cheap afterwards."""
    store = getattr(agent, "tracker_store", None)
    if type(store) is not FailSafeTrackerStore:  # already ours, or not Rasa's wrapper
        return
    ours = OutageFailSafeTrackerStore(store._tracker_store, fallback_tracker_store=store._fallback_tracker_store)
    agent.tracker_store = ours
    processor = getattr(agent, "processor", None)
    if processor is not None and processor.tracker_store is store:
        processor.tracker_store = ours


async def retrying(
    call: Callable[[], Awaitable[T]], down: Callable[[BaseException], bool], backend: str, seconds: float, pause: float = 0.25
) -> T:
    """`call()`, tried again while it fails with an error `down` recognises (the back end restarts,
    its pooled connections were cut) for at most `seconds`; then BackendUnavailable."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await call()
        except Exception as exc:
            if not down(exc):
                raise
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if time.monotonic() + pause > deadline:
                logger.error("%s: unreachable for %.1f s: %s", backend, seconds, why)
                raise BackendUnavailable(backend, why) from exc
            logger.warning("%s: unreachable, trying again: %s", backend, why)
            await asyncio.sleep(pause)


def db_down(exc: BaseException) -> bool:
    """The tracker store's database cannot be reached (stopped, restarting, the connection cut by
    a restart), as opposed to a lock held by another writer or an error in the statement."""
    import sqlalchemy as sa

    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    text = str(exc).lower()
    if "locked" in text or "busy" in text or "lock timeout" in text:
        return False
    return exc.connection_invalidated or isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError))


def down_or_locked(exc: BaseException) -> bool:
    """`db_down`, or a lock held by another writer past the lock timeout (a read waits for it too)."""
    from bot.nlu.tracker_pending import is_locked

    return db_down(exc) or is_locked(exc)


def maybe_written(exc: BaseException) -> bool:
    """A write that failed this way may have committed: its connection was cut or lost, possibly after
    the commit and before the answer came back (a lock timeout or a refused statement wrote nothing)."""
    import sqlalchemy as sa

    return isinstance(exc, sa.exc.DBAPIError) and (exc.connection_invalidated or db_down(exc))
