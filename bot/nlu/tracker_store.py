"""Rasa's tracker store for Aiguillage: never on the event loop, and a bounded read (docs/tracker.md).

Rasa's stock `SQLTrackerStore` runs its SQL on the event loop (a locked SQLite file froze chat,
phone and console together: issue 11) and reads and replays the whole session at every turn
(RasaHQ/rasa#6334: turn 500 costs far more than turn 10: issue 16). `WindowSQLTrackerStore` keeps
Rasa's `events` table and rows exactly (the console, the retention purge and the stock store read
the same rows), and:

- runs every statement on its own small thread pool, with a short busy timeout (SQLite) or lock
  timeout (PostgreSQL): reads go on while another writer holds the file (WAL);
- a save the database cannot take now (locked) is kept in memory and written in the background, in
  order per conversation, as soon as the lock frees (bounded: past `max_pending` events a save
  waits for room, nothing is dropped); reads of that conversation see those events meanwhile;
  with `spool: true` (endpoints.yml) those events are first put in the chat's spool on local disk
  (bot/store/spool.py), so that the next process writes them if this one is killed (`resume`);
- `retrieve` reads the current session's last `window` events (started at a user message), plus
  the few older rows that rebuild the state before the window exactly: the session's start, the
  last restart or slot reset, the last value of each slot, the last active loop, the last pause or
  resume (bot/nlu/tracker_reads.py). `retrieve_full_tracker` (the HTTP API) still reads everything.

SQL is written with SQLAlchemy Core and nothing dialect-specific but the timeouts, so the same
class runs on PostgreSQL (`dialect: postgresql` in endpoints.yml) when the store moves there.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
import weakref
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SerializedTrackerAsText, SQLTrackerStore, TrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker

from bot.nlu.outage import db_down, down_or_locked, maybe_written, retrying
from bot.nlu.tracker_pending import Pending as _Pending
from bot.nlu.tracker_pending import is_locked as _is_locked
from bot.nlu.tracker_pending import late, spool_forget, spool_keep, write_failed
from bot.nlu.tracker_pending import row as _row
from bot.nlu.tracker_reads import EVENTS, ReadStats, WindowReader, create_schema, not_stored

logger = logging.getLogger(__name__)

EMPTY_KEPT = 10_000  # conversations remembered as new between their `retrieve` and their first `save`
LOADED = "_aiguillage_loaded"  # attribute set on a tracker we built: how many of its events are stored


class WindowSQLTrackerStore(TrackerStore, SerializedTrackerAsText):
    """Rasa's SQL tracker store, off the event loop, reading a bounded window (endpoints.yml:
    `type: bot.nlu.tracker_store.WindowSQLTrackerStore`, with `window`, `busy_ms`, `max_pending`)."""

    def __init__(
        self,
        domain: Domain | None = None,
        dialect: str = "sqlite",
        host: str | None = None,
        port: int | None = None,
        db: str = "rasa.db",
        username: str | None = None,
        password: str | None = None,
        event_broker: Any = None,
        query: dict | None = None,
        window: int = 60,
        busy_ms: int = 250,
        max_pending: int = 20_000,
        workers: int = 2,
        retry_s: float = 0.25,
        down_wait_s: float = 3.0,
        spool: bool = False,
        **kwargs: Any,
    ) -> None:
        self.spool = bool(spool)  # events that wait for the database: on local disk first (bot/store/spool.py)
        self.window = int(window)
        self.busy_ms = int(busy_ms)
        self.max_pending = int(max_pending)
        self.retry_s = float(retry_s)
        self.down_wait_s = float(down_wait_s)  # a read retried while the database restarts, then a 503
        if self.window < 2:
            raise ValueError(f"tracker_store.window must be 2 events or more, got {window}")
        url = SQLTrackerStore.get_db_url(dialect, host, port, db, username, password, None, query)
        engine_kwargs = create_engine_kwargs(url)
        if sa.engine.url.make_url(url).get_backend_name() == "sqlite":
            # One connection per pool thread (each statement runs on one of `workers` threads).
            engine_kwargs.update(
                connect_args={"timeout": self.busy_ms / 1000, "check_same_thread": False},
                poolclass=sa.pool.QueuePool,
                pool_size=int(workers) + 1,
                max_overflow=2,
            )
        else:  # PostgreSQL (issue 16): a bounded connect; the round trips of a turn cut (docs/store.md)
            connect = {**engine_kwargs.get("connect_args", {}), "connect_timeout": 2}
            # Autocommit: a read is its SELECTs alone (no BEGIN, no COMMIT: each statement sees the
            # committed rows anyway, as in a READ COMMITTED transaction), and the new events of a save
            # are one multi-row INSERT (psycopg2's execute_values, one page however many), atomic by
            # itself. No ping before each use: a connection a restart cut fails its statement, the pool
            # is then replaced (SQLAlchemy's disconnect handling), a read is tried again (`_read`) and
            # an insert once at once, then in the background (`_write_new`, never twice: `_insert`).
            engine_kwargs.update(
                connect_args=connect, isolation_level="AUTOCOMMIT", executemany_values_page_size=max_pending + 1000
            )
        self.engine = sa.create_engine(url, **engine_kwargs)
        self._install_timeouts()
        self.pool = ThreadPoolExecutor(max_workers=int(workers), thread_name_prefix="tracker-store")
        self._pending: dict[str, _Pending] = {}
        self._order: deque[str] = deque()  # conversations with pending events, oldest first
        self._pending_count = 0
        self._empty: dict[str, None] = {}  # conversations `retrieve` found nothing of (oldest first)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._flusher: asyncio.Task | None = None
        self._room: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_read = ReadStats()
        self.reader = WindowReader(self.engine, self.window)
        create_schema(self.engine)
        super().__init__(domain, event_broker, **kwargs)

    # ---- connections ----------------------------------------------------------------------------
    def _install_timeouts(self) -> None:
        busy_ms, backend = self.busy_ms, self.engine.dialect.name

        @sa.event.listens_for(self.engine, "connect")
        def on_connect(dbapi_conn, record) -> None:  # noqa: ARG001 - SQLAlchemy's signature
            cur = dbapi_conn.cursor()
            if backend == "sqlite":
                cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
                # As the product store's connections to the same file (bot/store/database.py): in WAL
                # mode a commit no longer waits for an fsync; a crash of the process loses nothing, a
                # power cut at most the last commits, never the file's consistency (docs/floor.md).
                cur.execute("PRAGMA synchronous = NORMAL")
            elif backend == "postgresql":
                cur.execute(f"SET lock_timeout = {busy_ms}")
                dbapi_conn.commit()  # a SET in a transaction that is rolled back would not last
            cur.close()

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def _read(self, fn, *args):
        """A read, tried again while the database is unreachable or its table locked (a maintenance's
        ALTER TABLE or VACUUM FULL blocks reads too), BackendUnavailable after `down_wait_s`: never an
        error that Rasa's fail-safe store answers with a new, empty conversation."""
        return await retrying(lambda: self._run(fn, *args), down_or_locked, "tracker store", self.down_wait_s)

    def _lock(self, sender_id: str) -> asyncio.Lock:
        self._bind_loop()
        lock = self._locks.get(sender_id)
        if lock is None:
            lock = self._locks[sender_id] = asyncio.Lock()
        return lock

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests): its own locks, flusher and signal
            self._loop, self._locks, self._flusher = loop, weakref.WeakValueDictionary(), None
            self._room = asyncio.Event()

    # ---- reads ------------------------------------------------------------------------------------
    def _read_window(self, sender_id: str) -> tuple[list[dict], ReadStats]:
        return self.reader.read_window(self.domain, sender_id)

    def _read_all(self, sender_id: str, whole: bool) -> list[str]:
        return self.reader.read_all(sender_id, whole)

    def _load_window(self, sender_id: str, pending: list[dict]) -> tuple[DialogueStateTracker | None, ReadStats]:
        rows, stats = self._read_window(sender_id)
        return self._tracker(sender_id, rows, pending), stats

    def _tracker(self, sender_id: str, rows: list[str], pending: list[dict]) -> DialogueStateTracker | None:
        events = [json.loads(data) for data in rows] + [json.loads(r["data"]) for r in pending]
        if not events:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, LOADED, len(tracker.events))
        return tracker

    def _pending_rows(self, sender_id: str) -> list[dict]:
        entry = self._pending.get(sender_id)
        return list(entry.rows) if entry else []

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The current session's bounded window, with the state before it (see the module's doc)."""
        async with self._lock(sender_id):
            pending = self._pending_rows(sender_id)
            starts = [r["timestamp"] for r in pending if r["type_name"] == SessionStarted.type_name]
            if starts:  # a session started in events not written yet: nothing stored belongs to it
                pending = [r for r in pending if r["timestamp"] >= max(starts)]
                rows, stats = [], ReadStats()
                stats.pending = len(pending)
                self.last_read = stats
                return await self._run(self._tracker, sender_id, rows, pending)
            # The SELECT and the tracker rebuilt in one trip to the pool (a hop costs CPU: docs/floor.md).
            tracker, stats = await self._read(self._load_window, sender_id, pending)
            stats.pending = len(pending)
            self.last_read = stats
            if tracker is None:  # a new conversation: Rasa creates its tracker and saves it next
                self._empty[sender_id] = None
                while len(self._empty) > EMPTY_KEPT:
                    del self._empty[next(iter(self._empty))]
            else:  # stored since (another process): a mark left by a turn that never saved is void
                self._empty.pop(sender_id, None)
            return tracker

    async def retrieve_full_tracker(self, conversation_id: str, whole: bool = True) -> DialogueStateTracker | None:
        """Every event of every session (the HTTP API's full tracker), or of the current session only
        (`whole` False: the chat page's history after a reload): not bounded by `window`."""
        async with self._lock(conversation_id):
            pending = self._pending_rows(conversation_id)
            rows = await self._read(self._read_all, conversation_id, whole)
            return await self._run(self._tracker, conversation_id, rows, pending)

    async def keys(self) -> Iterable[str]:
        def read() -> list[str]:
            with self.engine.connect() as conn:
                return [r[0] for r in conn.execute(sa.select(EVENTS.c.sender_id).distinct())]

        stored = await self._read(read)
        return list(dict.fromkeys([*stored, *self._pending]))

    # ---- writes -----------------------------------------------------------------------------------
    def _new_rows(self, tracker: DialogueStateTracker, pending: int) -> list[dict]:
        loaded = getattr(tracker, LOADED, None)
        if loaded is None:  # a tracker we did not build: what Rasa's SQLTrackerStore does (count)
            loaded = len(self._read_all(tracker.sender_id, False)) + pending
        new = list(itertools.islice(tracker.events, loaded, len(tracker.events)))
        return [_row(tracker.sender_id, event) for event in new]

    def _write_new(
        self, tracker: DialogueStateTracker, pending: int, insert: bool, empty: bool = False
    ) -> tuple[list[dict], Exception | None, bool]:
        """The tracker's new rows, inserted when `insert`; the database's error is returned, not raised,
        with whether the failed insert may have committed them (`maybe_written`).
        `empty`: nothing is stored for this conversation (its `retrieve` found nothing): no count read.
        A connection a restart cut (SQLAlchemy invalidated it and the pool) is tried once more at once.
        None (nothing to write or defer) for a turn the chat answered 503 without (`late`), checked just
        before the insert and again after it: rows stored meanwhile are deleted (docs/scaling.md)."""
        if empty and getattr(tracker, LOADED, None) is None:
            setattr(tracker, LOADED, 0)
        rows, failed, unsure = self._new_rows(tracker, pending), None, False
        if late(rows, "its events are not written"):
            return [], None, False
        if rows and insert:
            for attempt in (1, 2):
                try:
                    self._insert(rows, unsure=attempt == 2)
                    break
                except sa.exc.DBAPIError as exc:
                    if attempt == 2 or not exc.connection_invalidated:
                        failed, unsure = exc, attempt == 2 or maybe_written(exc)
                        break
            if late(rows, "its events, sent before the 503, are not kept"):
                if failed is None or unsure:
                    self._delete(rows)
                return [], None, False
        return rows, failed, unsure

    def _delete(self, rows: list[dict]) -> None:
        """Rows of a turn given up while their insert was under way, deleted (the insert may have
        committed them); a failure is logged: they then stay, the window docs/scaling.md describes."""
        try:
            with self.engine.begin() as conn:
                where = EVENTS.c.data.in_([r["data"] for r in rows])
                conn.execute(EVENTS.delete().where(EVENTS.c.sender_id == rows[0]["sender_id"], where))
        except sa.exc.DBAPIError:
            logger.exception("tracker store: the events of a turn of %s answered 503 could not be deleted", rows[0]["sender_id"])

    def _insert(self, rows: list[dict], unsure: bool = False) -> None:
        """One multi-row INSERT (all the rows or none). `unsure`: an earlier one of these rows was cut and
        may have committed: only those not stored are inserted (`not_stored`: a read, on this path only)."""
        with self.engine.begin() as conn:
            if unsure:
                rows = not_stored(conn, rows)
            if rows:
                conn.execute(EVENTS.insert(), rows)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Write the tracker's new events now; if the database is locked, in the background."""
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        async with self._lock(sender_id):
            queued = sender_id in self._pending
            empty = self._empty.pop(sender_id, False) is None and not queued
            # The rows made and (nothing queued before them) inserted in one trip to the pool.
            pending = len(self._pending_rows(sender_id))
            rows, failed, unsure = await self._run(self._write_new, tracker, pending, not queued, empty)
            setattr(tracker, LOADED, len(tracker.events))
            if not rows:
                return
            if not queued:
                if failed is None:
                    return
                if not (_is_locked(failed) or db_down(failed)):
                    raise failed
                logger.warning(
                    "tracker store: the database is busy or down; %d events of %s will be written in the background",
                    len(rows),
                    sender_id,
                )
            entry = await self._run(spool_keep, sender_id, rows) if self.spool else None
            self._defer(sender_id, rows, unsure, () if entry is None else (entry,))
        while self._pending_count > self.max_pending:  # bounded: the saver waits for room, nothing is dropped
            logger.error("tracker store: %d events wait for the database; this save waits for room", self._pending_count)
            self._room.clear()
            await self._room.wait()

    def resume(self, entry: int, args: list) -> None:
        """Events a stopped process left in the spool (entry, now ours): written in the background,
        each only if not stored yet (the process may have written them before it stopped)."""
        sender_id, rows = args
        logger.warning(
            "tracker store: %d events of %s left in the spool by a stopped process will be written", len(rows), sender_id
        )
        self._defer(sender_id, rows, True, (entry,))

    def _defer(self, sender_id: str, rows: list[dict], unsure: bool = False, entries: Iterable[int] = ()) -> None:
        entry = self._pending.get(sender_id)
        if entry is None:
            entry = self._pending[sender_id] = _Pending()
            self._order.append(sender_id)
        entry.rows.extend(rows)
        entry.entries.extend(entries)
        entry.unsure = entry.unsure or unsure
        entry.unsure_added += bool(unsure)
        self._pending_count += len(rows)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        """Write the pending events, conversation by conversation (oldest first), until none is left."""
        delay, seen = self.retry_s, ""
        while self._order:
            sender_id = self._order[0]
            async with self._lock(sender_id):
                entry = self._pending[sender_id]
                rows, entries, marks = list(entry.rows), list(entry.entries), entry.unsure_added  # what this write covers
                try:
                    await self._run(self._insert, rows, entry.unsure)
                except Exception as exc:  # noqa: BLE001 - locked or down: try again, never drop the events
                    if not _is_locked(exc) and str(exc) != seen:  # once until it changes: no traceback per retry
                        write_failed(exc, len(rows), sender_id)
                    seen = str(exc)
                    entry.unsure = entry.unsure or maybe_written(exc)
                    written = False
                else:
                    written, entry.unsure = True, entry.unsure_added != marks  # rows added meanwhile may be stored
                    del entry.entries[: len(entries)]  # entries taken over meanwhile (`resume`) stay
                    if entries:
                        await self._run(spool_forget, entries)
                    del entry.rows[: len(rows)]
                    self._pending_count -= len(rows)
                    if not entry.rows:
                        del self._pending[sender_id]
                        self._order.popleft()
                    since = time.monotonic() - entry.since
                    logger.info(
                        "tracker store: %d events of %s written after %.1f s in the background", len(rows), sender_id, since
                    )
            if self._room is not None:
                self._room.set()
            if written:
                delay, seen = self.retry_s, ""
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    @property
    def pending(self) -> int:
        """Events waiting for the database (0 when everything is written)."""
        return self._pending_count

    async def drain(self, timeout_s: float = 60.0) -> None:
        """Wait until every pending event is written (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._pending_count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)


def window_of(store: Any) -> WindowSQLTrackerStore | None:
    """Our store inside Rasa's wrappers (FailSafeTrackerStore, AwaitableTrackerStore), or None."""
    seen = 0
    while store is not None and seen < 5:
        if isinstance(store, WindowSQLTrackerStore):
            return store
        store = getattr(store, "_tracker_store", None)
        seen += 1
    return None
