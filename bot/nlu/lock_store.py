"""Rasa's Redis lock store, with a turn that outlives the process that took it (issue 16).

Rasa serialises the turns of one conversation with a queue of tickets in Redis (`RedisLockStore`):
a turn takes a ticket, waits until it is first, and removes it when done. A process killed during a
turn never removes its ticket; it expires after `TICKET_LOCK_LIFETIME` seconds. But the next turn's
ticket, taken a moment later with the same lifetime, expires at about the same time, and Rasa's
wait loop (rasa/core/lock_store.py `_acquire_lock`) then waits for a ticket that no longer exists:
the turn hangs until Sanic's 60 s response timeout (a 503), whatever the lifetime.

`RedisTicketLockStore` is Rasa's `RedisLockStore` (same keys, same tickets, same Redis), except
that a turn whose own ticket expired while it waited takes a new one and goes on waiting: after a
killed process, the conversation's next turn is served once the dead turn's ticket expires, and
that issuing, expiring and removing a ticket are each one atomic change in Redis (`_change`: WATCH,
MULTI/EXEC), where Rasa reads then writes and two processes could both take the first ticket; and a
turn cancelled while its ticket was being issued removes it (`_issued`).
endpoints: `lock_store: type: bot.nlu.lock_store.RedisTicketLockStore` with Rasa's `url`, `port`,
`db`, `password`, `key_prefix` (bot/cli/endpoints.py writes it from LOCK_STORE_URL).

Redis down (issue 16): Rasa's store talks to Redis with the blocking client, on the event loop, and
waits 10 s for an answer (for ever to connect): a stopped Redis froze the whole process, the phone
included. Here every Redis call runs on the store's own threads, bounded by `socket_timeout` and
`socket_connect_timeout` (2 s each by default), and a failure raises BackendUnavailable (the chat
answers 503: bot/web/degraded.py). While Redis is known to be down, one call at a time tries it
again and the others are refused at once; the first call that succeeds serves turns again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from bot.nlu.outage import BackendUnavailable

logger = logging.getLogger(__name__)
T = TypeVar("T")
BACKEND = "lock store (Redis)"


class RedisTicketLockStore(RedisLockStore):
    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        socket_timeout: float = 2,
        socket_connect_timeout: float = 2,
        workers: int = 4,
        **kwargs: Any,
    ) -> None:
        if endpoint_config is not None:  # built by Rasa from endpoints.yml
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
            socket_timeout = float(kwargs.pop("socket_timeout", socket_timeout))
            socket_connect_timeout = float(kwargs.pop("socket_connect_timeout", socket_connect_timeout))
            workers = int(kwargs.pop("workers", workers))
        super().__init__(socket_timeout=socket_timeout, **kwargs)
        # Rasa's client has no connect timeout: a Redis that accepts but never answers hangs a connect.
        self.red.connection_pool.connection_kwargs["socket_connect_timeout"] = socket_connect_timeout
        self.pool = ThreadPoolExecutor(max_workers=int(workers), thread_name_prefix="lock-store")
        self.down = False  # the last call failed: Redis is down
        self.probing = False  # a call is trying Redis again while it is down

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) on the store's threads; BackendUnavailable when Redis does not answer (at once
        while Redis is down and another call is already trying it)."""
        if self.down and self.probing:
            raise BackendUnavailable(BACKEND, "down, being tried again")
        probe = self.down
        self.probing = self.probing or probe
        try:
            result = await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if not self.down:
                logger.error("lock store: Redis does not answer (%s): chat turns refused until it does", exc)
            self.down = True
            raise BackendUnavailable(BACKEND, str(exc)) from exc
        finally:
            if probe:
                self.probing = False
        if self.down:
            logger.warning("lock store: Redis answers again: chat turns served")
            self.down = False
        return result

    def _change(self, conversation_id: str, change: Callable[[TicketLock | None], tuple[TicketLock | None, T]]) -> T:
        """Read the conversation's lock, change it, write it back (None: delete it) as one atomic change:
        WATCH, then MULTI/EXEC, again if another process wrote it meanwhile. Rasa reads then writes: two
        processes issuing at once both read an empty lock and both took ticket 0, and their turns ran
        together (an outside-in audit: 9 of 25 pairs); a removal could also drop a ticket just issued."""
        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    lock, result = change(TicketLock.from_dict(json.loads(raw)) if raw else None)
                    pipe.multi()
                    if lock is None:
                        pipe.delete(key)
                    else:
                        pipe.set(key, lock.dumps())
                    pipe.execute()
                    return result
                except WatchError:
                    continue

    def _issue(self, conversation_id: str, lock_lifetime: float) -> int:
        def issue(lock: TicketLock | None) -> tuple[TicketLock, int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        return self._change(conversation_id, issue)

    def update_lock(self, conversation_id: str) -> None:
        """The conversation's expired tickets removed (Rasa's, as one atomic change)."""

        def expire(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, expire)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Our ticket removed, and the lock with it when nobody else waits (Rasa's, as one atomic change)."""

        def finish(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return (lock if lock is not None and lock.is_someone_waiting() else None), None

        self._change(conversation_id, finish)

    def _first(self, conversation_id: str, ticket: int) -> tuple[TicketLock | None, bool]:
        """The lock, and whether `ticket` is still in it (it expired if not)."""
        lock = self.get_lock(conversation_id)
        return lock, lock is not None and lock._ticket_for_ticket_number(ticket) is not None

    async def _issued(self, conversation_id: str, lock_lifetime: float) -> int:
        """A new ticket. A turn cancelled meanwhile (Sanic cancels the turn of a client that went away) gets
        its ticket all the same from Redis: it is removed before the cancellation goes on, or the
        conversation's next turn would wait for it to expire."""
        issuing = asyncio.ensure_future(self._call(self._issue, conversation_id, lock_lifetime))
        try:
            return await asyncio.shield(issuing)
        except asyncio.CancelledError:
            ticket = await issuing
            await self._call(self.cleanup, conversation_id, ticket)
            raise

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = 1
    ) -> AsyncGenerator[TicketLock, None]:
        ticket = await self._issued(conversation_id, lock_lifetime)
        try:
            while True:
                lock, held = await self._call(self._first, conversation_id, ticket)
                if not held:
                    # Our ticket expired while we waited (behind the turn of a dead process): a new one.
                    ticket = await self._issued(conversation_id, lock_lifetime)
                    continue
                if not lock.is_locked(ticket):
                    break
                await asyncio.sleep(wait_time_in_seconds)
                await self._call(self.update_lock, conversation_id)
            yield lock
        finally:
            try:
                await self._call(self.cleanup, conversation_id, ticket)
            except BackendUnavailable as exc:  # the ticket expires by itself (its lifetime)
                logger.warning("lock store: ticket %s of %s left to expire: %s", ticket, conversation_id, exc)
