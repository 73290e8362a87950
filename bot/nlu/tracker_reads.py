"""The reads of bot/nlu/tracker_store.py's WindowSQLTrackerStore, on Rasa's own `events` table: the
current session's last `window` events plus the few older rows that rebuild the state before the
window exactly (the session's start, the last restart or slot reset, the last value of each slot,
the last active loop, the last pause or resume), in one read transaction; or every event. And the
table and its indexes, made at the store's start (`create_schema`).
Blocking (SQLAlchemy Core): the store runs them on its own thread pool.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SessionStarted

EVENTS = SQLTrackerStore.SQLEvent.__table__  # Rasa's own table: same name, columns and rows
# Rows before the window that still shape the state: resets, slots, the active loop, pause/resume.
RESETS = ("restart", "reset_slots")
PAUSES = ("pause", "resume")
NO_START = -1e300  # below any timestamp: the whole conversation when no session_started row exists
logger = logging.getLogger("bot.nlu.tracker_store")


class StateIndex:
    """An index for the state lookups (last slot values, last session start), and one on the events'
    time for the retention purge (bot/services/retention.py: a batch of events past their period found
    by a range of this index, not by reading the table): built with their own metadata so Rasa's table
    definition stays untouched."""

    meta = sa.MetaData()
    table = sa.Table(
        "events",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender_id", sa.String(255)),
        sa.Column("type_name", sa.String(255)),
        sa.Column("action_name", sa.String(255)),
        sa.Column("timestamp", sa.Float),
    )
    index = sa.Index("ix_events_sender_type_name", table.c.sender_id, table.c.type_name, table.c.action_name, table.c.id)
    by_time = sa.Index("ix_events_timestamp", table.c.timestamp)


def create_schema(engine: sa.engine.Engine) -> None:
    """Rasa's `events` table (if no store made it yet), WAL on SQLite, the lookup and time indexes: at the
    store's start only. A lock held at that moment is waited for (a few tries), not a reason to stop."""
    from bot.nlu.tracker_pending import is_locked

    for attempt in range(40):
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "sqlite":
                    mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
                    if str(mode).lower() != "wal":
                        conn.exec_driver_sql("PRAGMA journal_mode = WAL")
            EVENTS.create(engine, checkfirst=True)
            StateIndex.index.create(engine, checkfirst=True)
            StateIndex.by_time.create(engine, checkfirst=True)  # a year of events: ~3 s, at the first start
            return
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError) as exc:
            # Another process created it meanwhile (PostgreSQL: a duplicate key in pg_type).
            if "already exists" in str(exc).lower() or "duplicate key" in str(exc).lower():
                time.sleep(0.1)
                continue
            if not is_locked(exc) or attempt == 39:
                raise
            logger.warning("tracker store: the database is locked at start, trying again")
            time.sleep(0.5)


@dataclass
class ReadStats:
    """What the last `retrieve` read: rows of the window, rows rebuilding the state, pending events."""

    window: int = 0
    state: int = 0
    pending: int = 0

    @property
    def rows(self) -> int:
        return self.window + self.state


class WindowReader:
    """The store's reads: `window` events of the current session and the state rows before them.
    The statements are built once per domain (bound parameters: sender, start, cut)."""

    def __init__(self, engine: sa.engine.Engine, window: int) -> None:
        self.engine, self.window = engine, window
        self._statement_cache: dict = {}
        self._window: sa.Select | None = None

    def session_start(self, conn, sender_id: str) -> float | None:
        """The timestamp of the session's start (as Rasa's SQLTrackerStore finds it), None: no session."""
        q = sa.select(sa.func.max(EVENTS.c.timestamp)).where(
            EVENTS.c.sender_id == sender_id, EVENTS.c.type_name == SessionStarted.type_name
        )
        return conn.execute(q).scalar()

    def statements(self, domain: Domain, has_start: bool) -> tuple:
        """The window's and the state's statements, built once (bound parameters: sender, start, cut)."""
        key = (has_start, id(domain))
        cached = self._statement_cache.get(key)
        if cached is not None:
            return cached
        c = EVENTS.c
        in_session = [c.sender_id == sa.bindparam("sender")]
        if has_start:
            in_session.append(c.timestamp >= sa.bindparam("start"))
        cols = [c.id, c.type_name, c.data]
        before = [*in_session, c.id < sa.bindparam("cut")]

        def last(type_name: str, name: str | None = None, *extra) -> sa.ScalarSelect:
            """The id of the latest row of this type and name before the window: one index seek on
            (sender_id, type_name, action_name, id) (`action_name` holds a slot's or a loop's name,
            NULL for the other types), however long the session."""
            named = c.action_name == name if name is not None else c.action_name.is_(None)
            q = sa.select(c.id).where(*before, *extra, c.type_name == type_name, named)
            return q.order_by(c.id.desc()).limit(1).scalar_subquery()

        lookups = {
            "restart": last("restart"),
            "reset_slots": last("reset_slots"),
            "pause": last("pause"),
            "resume": last("resume"),
            **{f"active_loop:{loop}": last("active_loop", loop) for loop in [*domain.form_names, None]},
            **{f"slot:{slot.name}": last("slot", slot.name) for slot in domain.slots},
        }
        if has_start:
            lookups["session_started"] = last(SessionStarted.type_name, None, c.timestamp == sa.bindparam("start"))
        rows = sa.select(*cols).where(c.id.in_(sa.bindparam("ids", expanding=True))).order_by(c.id)
        cached = self._statement_cache[key] = (list(lookups), sa.select(*lookups.values()), rows)
        return cached

    def window_statement(self) -> sa.Select:
        """The session's last `window` rows, each with the session's start (NULL: no session_started
        row): one statement, where the start was a query of its own (one round trip fewer a turn)."""
        if self._window is None:
            c = EVENTS.c
            start = (
                sa.select(sa.func.max(c.timestamp))
                .where(c.sender_id == sa.bindparam("sender"), c.type_name == SessionStarted.type_name)
                .scalar_subquery()
            )
            since = c.timestamp >= sa.func.coalesce(start, NO_START)
            q = sa.select(c.id, c.type_name, c.data, start.label("start")).where(c.sender_id == sa.bindparam("sender"), since)
            self._window = q.order_by(c.id.desc()).limit(self.window)
        return self._window

    def read_window(self, domain: Domain, sender_id: str) -> tuple[list[dict], ReadStats]:
        """The current session's rows: the state before the window, then the window (oldest first).
        At most three statements in one read transaction, however long the session."""
        with self.engine.connect() as conn, conn.begin():  # one snapshot for every query
            rows = list(reversed(conn.execute(self.window_statement(), {"sender": sender_id}).all()))
            stats = ReadStats(window=len(rows))
            if len(rows) < self.window:  # the whole session fits: nothing before it
                return [r.data for r in rows], stats
            start = rows[0].start
            keys, lookups, by_id = self.statements(domain, start is not None)
            params = {"sender": sender_id} | ({"start": start} if start is not None else {})
            # Start at a turn: the action_listen just before the first user message of the window.
            first_user = next((i for i, r in enumerate(rows) if r.type_name == "user"), None)
            if first_user:
                rows = rows[first_user - 1 :]
            found = dict(zip(keys, conn.execute(lookups, params | {"cut": rows[0].id}).one()))
            # Nothing before the last restart or slot reset shapes the state (but the session's start).
            reset = max((found[k] for k in RESETS if found[k] is not None), default=None)
            wanted = {found.get("session_started"), found["restart"], reset}
            latest_pause = max((found[k] for k in PAUSES if found[k] is not None), default=None)
            loops = [v for k, v in found.items() if k.startswith("active_loop:") and v is not None]
            slots = [v for k, v in found.items() if k.startswith("slot:")]
            for row_id in [*slots, max(loops, default=None), latest_pause]:
                if row_id is not None and (reset is None or row_id > reset):
                    wanted.add(row_id)
            wanted.discard(None)
            state = conn.execute(by_id, {"ids": sorted(wanted)}).all() if wanted else []
            stats.state, stats.window = len(state), len(rows)
            return [r.data for r in state] + [r.data for r in rows], stats

    def read_all(self, sender_id: str, whole: bool) -> list[str]:
        """Every stored event of the conversation (`whole`) or of its current session, oldest first."""
        c = EVENTS.c
        with self.engine.connect() as conn, conn.begin():
            where = [c.sender_id == sender_id]
            if not whole:
                start = self.session_start(conn, sender_id)
                if start is not None:
                    where.append(c.timestamp >= start)
            return [r[0] for r in conn.execute(sa.select(c.data).where(*where).order_by(c.id))]


def not_stored(conn: sa.engine.Connection, rows: list[dict]) -> list[dict]:
    """Those of `rows` (one conversation's, or several's) not in the table, for a retry after an insert
    whose connection was cut: cut after its commit it wrote them all, before it none. Read by
    conversation and timestamp (Rasa's index on sender_id); a row is compared on its event's JSON,
    timestamp included: no two events of a conversation are equal (docs/tracker.md)."""
    left: list[dict] = []
    for sender_id in dict.fromkeys(r["sender_id"] for r in rows):
        mine = [r for r in rows if r["sender_id"] == sender_id]
        query = sa.select(EVENTS.c.data).where(EVENTS.c.sender_id == sender_id)
        stamps = [r["timestamp"] for r in mine]
        if None not in stamps:
            query = query.where(EVENTS.c.timestamp >= min(stamps))
        there = Counter(conn.execute(query).scalars())
        for row in mine:
            if there[row["data"]] > 0:
                there[row["data"]] -= 1
            else:
                left.append(row)
    return left
