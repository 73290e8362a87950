"""Store writes that must not hold an answer (issue 11): off the event loop, short busy timeout,
and written in the background when another writer holds the file.

`Writer.write(key, what, fn)` runs `fn(store)` on a small thread pool, each thread on its own
connection that waits at most `busy_ms` for a lock. When the store is locked, or its disk full
(`disk_full`: the same write goes through once space is freed), the write is queued and retried
in the background until the store takes it: in order per key (a conversation's turns
stay in order), never dropped (bounded: past `limit` queued writes the caller waits for room).
The chat's turn recording uses it (actions/actions.py); the phone has its own (ivr/channel.py).

A write of a kind listed in `KEPT` (a chat turn's record, issue 16) is, when it has to wait, first
put in the chat's spool on local disk (bot/store/spool.py: masked, encrypted, on disk before the
answer is sent), and removed from it once written: a process killed meanwhile loses nothing the
person saw answered; the next process started on the host writes it (`resume`), once (`record_turn`
with `once`: a turn already stored is not written again). Without a spool (`spool=None`) the wait is
in memory only, as before.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.core.masking import mask
from bot.store.database import Store, is_postgres
from bot.store.disk import disk_full, log_refusal
from bot.store.spool import Spool

logger = logging.getLogger(__name__)


def _turn(store: Store, args: dict) -> Any:
    return store.record_turn(**args, once=True)


def _rating(store: Store, args: dict) -> Any:  # an upsert of the conversation's rating: twice is once
    from bot.services import feedback

    return feedback.record(store, **args)


def _rating_masked(args: dict) -> dict:
    from bot.services import feedback

    return {**args, "comment": feedback.masked_comment(args.get("comment"))}


# The writes a spool keeps: kind -> (the write, from its arguments; the arguments as spooled: masked).
KEPT: dict[str, tuple[Callable[[Store, dict], Any], Callable[[dict], dict]]] = {
    "turn": (_turn, lambda args: {**args, "text": mask(str(args["text"]))}),
    "rating": (_rating, _rating_masked),
}


def is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


class Writer:
    def __init__(
        self,
        path: Path | str,
        busy_ms: int = 250,
        workers: int = 2,
        limit: int = 5000,
        retry_s: float = 0.25,
        spool: Callable[[], Spool] | None = None,
    ):
        self.path = path if is_postgres(path) else Path(path)  # a SQLite file, or a PostgreSQL URL (docs/store.md)
        self.spool = spool  # the spool (made on first use) that keeps the `KEPT` writes while they wait
        self.spool_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-spool")
        self.busy_ms, self.limit, self.retry_s = int(busy_ms), int(limit), float(retry_s)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="store-writer")
        self.local = threading.local()
        self.queue: OrderedDict[str, list[tuple[str, Callable[[Store], Any], float, int | None]]] = OrderedDict()
        self.count = 0
        self.task: asyncio.Task | None = None
        self.room: asyncio.Event | None = None

    def _store(self) -> Store:
        store = getattr(self.local, "store", None)
        if store is None:
            store = self.local.store = Store.on_connection(self.path, self.busy_ms)
        return store

    async def _run(self, fn: Callable[[Store], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, lambda: fn(self._store()))

    def waiting(self, key: str) -> bool:
        """Whether writes of `key` (a conversation) wait to be written (the store locked or full)."""
        return key in self.queue

    async def write(self, key: str, what: str, fn: Callable[[Store], Any], kept: tuple[str, dict] | None = None) -> bool:
        """Run fn(store) now (True), or queue it when the store is locked or full (False, written later).
        `kept` (kind, arguments): the same write as `KEPT[kind]` does it, put in the spool if it waits.
        Any other error is raised to the caller."""
        busy = "busy"
        if key not in self.queue:  # a queued write of this key goes first: same order as asked
            try:
                await self._run(fn)
                return True
            except sqlite3.OperationalError as exc:
                if disk_full(exc):  # as a lock: the same write goes through once space is freed
                    busy = "full"
                elif not is_locked(exc):
                    raise
        logger.warning("store %s: %s will be written in the background", busy, what)
        entry = None
        if kept is not None:
            kind, args = kept
            fn = self._kept_write(kind, args)
            entry = await self._keep(key, what, kind, args)
        self._queue(key, what, fn, entry)
        while self.count > self.limit:  # bounded: the caller waits for room, nothing is dropped
            self.room.clear()
            await self.room.wait()
        return False

    @staticmethod
    def _kept_write(kind: str, args: dict) -> Callable[[Store], Any]:
        write = KEPT[kind][0]
        return lambda store: write(store, args)

    def _queue(self, key: str, what: str, fn: Callable[[Store], Any], entry: int | None) -> None:
        self.queue.setdefault(key, []).append((what, fn, time.monotonic(), entry))
        self.count += 1
        if self.task is None or self.task.done():
            self.room = asyncio.Event()
            self.task = asyncio.get_running_loop().create_task(self._flush())

    async def _keep(self, key: str, what: str, kind: str, args: dict) -> int | None:
        """The write put in the spool (masked first), on disk when this returns; None without a spool."""
        if self.spool is None:
            return None
        prepare = KEPT[kind][1]
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self.spool_pool, lambda: self.spool().add(kind, [key, prepare(args)])
            )
        except (sqlite3.Error, OSError, ValueError) as exc:
            log_refusal(logger, exc, "store writer: %s could not be put in the spool; kept in memory only", what)
            return None

    def resume(self, entry: int, kind: str, args: list) -> None:
        """A write a stopped process left in the spool (entry, now ours): written in the background."""
        key, kwargs = args
        self._queue(key, f"the {kind} of {key} (spool entry {entry})", self._kept_write(kind, kwargs), entry)

    async def _forget(self, entry: int) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self.spool_pool, self.spool().remove, entry)
        except (sqlite3.Error, OSError):  # written: a replay of it later finds it stored (`once`)
            logger.exception("store writer: spool entry %s written but not removed", entry)

    async def _flush(self) -> None:
        delay, seen = self.retry_s, ""
        while self.queue:
            key, items = next(iter(self.queue.items()))
            what, fn, since, entry = items[0]
            try:
                await self._run(fn)
            except Exception as exc:  # noqa: BLE001 - locked (or worse): try again, never drop it
                if not is_locked(exc) and str(exc) != seen:  # once until it changes: no traceback per retry
                    log_refusal(logger, exc, "store writer: %s failed; trying again", what)
                seen = str(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            delay, seen = self.retry_s, ""
            if entry is not None:
                await self._forget(entry)
            items.pop(0)
            if not items:
                del self.queue[key]
            self.count -= 1
            self.room.set()
            logger.info("store writer: %s written after %.1f s in the background", what, time.monotonic() - since)

    async def drain(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
