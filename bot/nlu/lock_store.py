"""Rasa's Redis lock store, with a turn that outlives the process that took it (issue 16).

Rasa serialises the turns of one conversation with a queue of tickets in Redis (`RedisLockStore`):
a turn takes a ticket, waits until it is first, and removes it when done. A process killed during a
turn never removes its ticket; it expires after `TICKET_LOCK_LIFETIME` seconds. But the next turn's
ticket, taken a moment later with the same lifetime, expires at about the same time, and Rasa's
wait loop (rasa/core/lock_store.py `_acquire_lock`) then waits for a ticket that no longer exists:
the turn hangs until Sanic's 60 s response timeout (a 503), whatever the lifetime.

`RedisTicketLockStore` is Rasa's `RedisLockStore` (same keys, same tickets, same Redis), except
that a turn whose own ticket expired while it waited takes a new one and goes on waiting: after a
killed process, the conversation's next turn is served once the dead turn's ticket expires.
endpoints: `lock_store: type: bot.nlu.lock_store.RedisTicketLockStore` with Rasa's `url`, `port`,
`db`, `password`, `key_prefix` (bot/cli/endpoints.py writes it from LOCK_STORE_URL).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig


class RedisTicketLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        if endpoint_config is not None:  # built by Rasa from endpoints.yml
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = 1
    ) -> AsyncGenerator[TicketLock, None]:
        ticket = self.issue_ticket(conversation_id, lock_lifetime)
        try:
            while True:
                lock = self.get_lock(conversation_id)
                if lock is None or lock._ticket_for_ticket_number(ticket) is None:
                    # Our ticket expired while we waited (behind the turn of a dead process): a new one.
                    ticket = self.issue_ticket(conversation_id, lock_lifetime)
                    continue
                if not lock.is_locked(ticket):
                    break
                await asyncio.sleep(wait_time_in_seconds)
                self.update_lock(conversation_id)
            yield lock
        finally:
            self.cleanup(conversation_id, ticket)
