"""The embedded store: one SQLite file (WAL mode) through sqlite-utils.

Every turn is written with its channel, masked text, topic, confidence, destination (where the
person was actually sent: none for a clarifying question) and resolved flag.

"Non résolu", the one definition used by the console's queue, the indicators and the report: a
chat conversation is unresolved when its *last* turn did not end with an answer of the tree (a
clarifying question the person did not follow — a "non, c'est pas ça" after an answer is one, with
the answer's alternatives — or a fallback to a person): `conversations.status`
is then 'unresolved', else 'open'. Greetings, thanks, goodbyes, yes, no and "êtes-vous un robot ?"
(bot.core.tree.SOCIAL_INTENTS) leave the status as it was: "merci" or "ok" after an unanswered question
does not resolve it. A call is unresolved when it ended without an answer heard, a
transfer or a voicemail (`calls.unresolved`, ivr/flow.py). The schema grows through named migrations, applied once, in order.
Text reaching this module must already be masked; `record_turn` masks again as a safety net.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from bot import settings
from bot.core.config import ROOT
from bot.core.masking import mask
from bot.core.tree import SOCIAL_INTENTS
from bot.store.pg import PgDatabase, lock_key
from bot.store.schema_core import m001_conversations as _m001_conversations
from bot.store.schema_core import m002_calls_and_voicemails as _m002_calls_and_voicemails
from bot.store.schema_core import m003_console as _m003_console
from bot.store.schema_core import m010_unresolved_by_last_turn as _m010_unresolved_by_last_turn
from bot.store.schema_core import m013_small_talk_leaves_the_status as _m013_small_talk_leaves_the_status
from bot.store.schema_core import m014_turns_by_date as _m014_turns_by_date
from bot.store.schema_core import m015_turns_corrects as _m015_turns_corrects
from bot.store.schema_core import m016_calls_spoken_answer as _m016_calls_spoken_answer
from bot.store.schema_core import m017_calls_corrected_topic as _m017_calls_corrected_topic
from bot.store.schema_keys import m007_keys as _m007_keys
from bot.store.schema_pan import m004_pan_and_tickets as _m004_pan_and_tickets
from bot.store.schema_pg_compat import m011_pgstore_sqlite_compat as _m011_pgstore_sqlite_compat
from bot.store.schema_phone_contacts import m009_phone_contacts as _m009_phone_contacts
from bot.store.schema_quality import m005_quality as _m005_quality
from bot.store.schema_review_notes import m012_review_notes_masked as _m012_review_notes_masked
from bot.store.schema_throttle import m008_throttle as _m008_throttle
from bot.store.schema_ticket_events import m006_ticket_events as _m006_ticket_events

logger = logging.getLogger(__name__)

DEFAULT_DB = ROOT / "var" / "aiguillage.db"
UNRESOLVED = "unresolved"  # conversations.status of an unresolved conversation (module docstring)


def db_path() -> Path:
    return settings.database() or DEFAULT_DB


def location() -> Path | str:
    """Where the product's store is: the PostgreSQL URL (settings.store_url: DATABASE_URL, unless
    AIGUILLAGE_STORE=sqlite), else the SQLite file AIGUILLAGE_DB (var/aiguillage.db by default)."""
    return settings.store_url() or db_path()


def is_postgres(where: Path | str | None) -> bool:
    return isinstance(where, str) and where.startswith("postgresql://")


def check_backend() -> str:
    """At start-up (`python -m bot serve`): open (and migrate) the product's store where the settings
    put it, and return its backend; a store that cannot be opened stops the start with a
    SettingsError naming the variable, never at the first request."""
    url = settings.store_url()
    if url is None:
        return "sqlite"
    try:
        Store(url).close()
    except sqlite3.Error as exc:
        shown = url.split("@")[-1]  # never the password
        raise settings.SettingsError("DATABASE_URL", f"the product's store cannot be opened on {shown}: {exc}") from None
    return "postgresql"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# Named migrations, applied once each, in this order. Never edit one that has shipped: add a new one.
MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_conversations_and_turns", _m001_conversations),
    ("002_calls_and_voicemails", _m002_calls_and_voicemails),
    ("003_console", _m003_console),
    ("004_pan_and_tickets", _m004_pan_and_tickets),
    ("005_quality", _m005_quality),
    ("006_ticket_events", _m006_ticket_events),
    ("007_keys", _m007_keys),
    ("008_throttle", _m008_throttle),
    ("009_phone_contacts", _m009_phone_contacts),
    ("010_unresolved_by_last_turn", _m010_unresolved_by_last_turn),
    ("011_pgstore_sqlite_compat", _m011_pgstore_sqlite_compat),
    ("012_review_notes_masked", _m012_review_notes_masked),
    ("013_small_talk_leaves_the_status", _m013_small_talk_leaves_the_status),
    ("014_turns_by_date", _m014_turns_by_date),
    ("015_turns_corrects", _m015_turns_corrects),
    ("016_calls_spoken_answer", _m016_calls_spoken_answer),
    ("017_calls_corrected_topic", _m017_calls_corrected_topic),
]


def private_file(path: Path) -> None:
    """The SQLite file of the store readable by its owner only: it holds the contacts of bookings and
    messages and the masked texts. Created 0600 (SQLite gives its -wal and -shm files the same mode), in a
    new folder 0700; a file made before loses other users' rights (its group keeps them: a backup's)."""
    # exist_ok: another process may make it between our look and our mkdir (servers started together)
    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o007:
                os.chmod(file, mode & ~0o007)
        except FileNotFoundError:
            continue
        except PermissionError:  # another user's file: said, not fatal
            logger.warning("store: %s is readable by other users and could not be changed", file.name)


def wal_mode(db: sqlite_utils.Database, wait_s: float = 10.0) -> None:
    """The file in WAL mode. A new file opened by two processes at once (servers started together, pytest's
    workers): the switch needs the file to itself, and SQLite refuses it at once, busy timeout or not,
    while the other process writes its first migrations: tried again until `wait_s` has passed."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            db.enable_wal()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Store:
    def __init__(self, path: Path | str | None = None):
        """The store at `path`: a SQLite file, or a `postgresql://` URL (a string); by default the
        configured one (location()). `store.path` is what opens the same store again."""
        where = location() if path is None or path == "" else path
        if is_postgres(where):
            self.path, self.db = where, PgDatabase(where)
        else:
            self.path = Path(where)
            private_file(self.path)
            conn = sqlite3.connect(str(self.path), timeout=10, check_same_thread=False, isolation_level=None)
            self.db = sqlite_utils.Database(conn)
            conn.execute("PRAGMA busy_timeout = 10000")
            wal_mode(self.db)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA secure_delete = ON")  # erased rows zeroed, not left in free pages (every build)
        self.migrate()

    @property
    def backend(self) -> str:
        return "postgresql" if isinstance(self.db, PgDatabase) else "sqlite"

    @classmethod
    def on_connection(cls, path: Path | str, busy_ms: int) -> Store:
        """The same Store API on a new connection that waits at most `busy_ms` for another writer's
        lock (then "database is locked"): for work that must never hold an answer (issue 11). The
        schema is not migrated here: the process's main Store did it at start."""
        store = cls.__new__(cls)
        if is_postgres(path):
            store.path, store.db = path, PgDatabase(path, lock_timeout_ms=busy_ms)
            return store
        conn = sqlite3.connect(str(path), timeout=busy_ms / 1000, check_same_thread=False, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        # As the main Store: in WAL mode a commit survives a crash of the process (not of the machine).
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA secure_delete = ON")
        store.path, store.db = Path(path), sqlite_utils.Database(conn)
        return store

    @contextmanager
    def transaction(self, *keys: str) -> Iterator[sqlite3.Connection]:
        """Writes that belong together, in one transaction: BEGIN IMMEDIATE, COMMIT at the end,
        ROLLBACK on any error. The connection is in autocommit mode (isolation_level=None), where
        `with conn:` opens no transaction at all (issue 13: a turn and its conversation counter were
        seen out of step). Inside an open transaction, a savepoint (sqlite-utils' `atomic`).
        `keys` (bot.store.pg.lock_key): what the transaction reads to decide what it writes (a
        conversation, a slot, a person). SQLite has one writer at a time anyway; on PostgreSQL, a
        transaction with keys waits only for those of the same keys and for unkeyed ones, one with none
        for every other, and one with none inside one with keys is refused (NestedLockError: it would
        wait for every keyed writer); the locks go with the first statement (docs/store.md)."""
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic(keys) if keys and self.backend == "postgresql" else self.db.atomic():
                yield conn
            return
        self.begin(*keys)
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def begin(self, *keys: str) -> None:
        """BEGIN IMMEDIATE, on PostgreSQL under the locks of `keys` (transaction())."""
        if self.backend == "postgresql":
            self.db.begin(keys)
        else:
            self.db.conn.execute("BEGIN IMMEDIATE")

    def secret(self, name: str) -> bytes:
        """The store's secret key for `name` (32 random bytes), made on first use. Every process
        sharing the store gets the same key: the first writer wins (insert or ignore)."""
        row = self.db.execute("select value from secret_keys where name = ?", [name]).fetchone()
        if row:
            return bytes(row[0])
        # One statement, atomic alone: no transaction of its own, so none nested in a keyed one (a key
        # hashed for the first time inside a call's or a booking's transaction).
        self.db.execute(
            "insert or ignore into secret_keys (name, value, created_at) values (?, ?, ?)",
            [name, secrets.token_bytes(32), now()],
        )
        return bytes(self.db.execute("select value from secret_keys where name = ?", [name]).fetchone()[0])

    def migrate(self) -> list[str]:
        """Apply pending migrations; returns the names applied now."""
        if "migrations" not in self.db.table_names():
            # Under the store's lock: two processes starting together on an empty PostgreSQL database
            # would both create it ("if not exists" is no lock there: one fails on pg_type's key).
            with self.transaction():
                self.db["migrations"].create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
        done = {row["name"] for row in self.db["migrations"].rows}
        applied = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            with self.transaction():
                if self.db.execute("select 1 from migrations where name = ?", [name]).fetchone():
                    continue  # another process applied it meanwhile
                step(self.db)
                self.db["migrations"].insert({"name": name, "applied_at": now()})
            applied.append(name)
        return applied

    def record_turn(
        self,
        conversation_id: str,
        channel: str,
        text: str,
        topic: str | None,
        confidence: float,
        destination: str | None,
        node: str | None,
        action: str,
        resolved: bool,
        misses: int,
        prefecture: str,
        ts: str | None = None,
        reply: dict | None = None,
        once: bool = False,
        corrects: str | None = None,
    ) -> int:
        """Write one turn and update its conversation, in one transaction. `ts`: when the turn
        happened, if it is written later (a locked store: bot.services.deferred). `reply` is what the
        person saw in answer: {"texts": [...], "buttons": [titles], "links": [{"title", "url"}]}.
        `once`: a write that may already be stored (replayed from the spool, bot/store/spool.py): if
        the conversation has a turn at `ts` with this text, nothing is written and its id returned.
        `corrects`: the topic of the answer whose alternative this turn chose; its turn -> `turns.corrects`."""
        ts = ts or now()
        text = mask(text)
        # The assistant's own words come from the tree and the préfecture file (public numbers and
        # mailboxes), never from the person's text: stored as shown, not masked.
        shown = None
        if reply is not None:
            shown = json.dumps(
                {
                    "texts": [str(t) for t in reply.get("texts") or [] if t],
                    "buttons": [str(b) for b in reply.get("buttons") or []],
                    "links": [{"title": str(l["title"]), "url": str(l["url"])} for l in reply.get("links") or []],
                },
                ensure_ascii=False,
            )
        with self.transaction(lock_key("conversation", conversation_id)):
            done = self._stored_turn(conversation_id, ts, text) if once else None
            if done is not None:
                return done
            conv = self.db.execute(
                "select turns, status, last_topic, last_destination from conversations where id = ?", [conversation_id]
            ).fetchone()
            row = {
                "id": conversation_id,
                "channel": channel,
                "prefecture": prefecture,
                "updated_at": ts,
                "turns": (conv[0] if conv else 0) + 1,
                "misses": misses,
                "last_topic": topic,
                "last_destination": destination,
                "status": UNRESOLVED if not resolved else "open",
            }
            # The last turn decides, politeness aside (module docstring): "merci" keeps the status, the
            # topic and the destination of the question before it.
            if conv and resolved and topic in SOCIAL_INTENTS:
                row.update(status=conv[1], last_topic=conv[2], last_destination=conv[3])
            if not conv:
                row["started_at"] = ts
            wrong = self._answer_turn(conversation_id, corrects) if corrects and conv else None  # none: never written
            return self._write_turn(
                row,
                {
                    "conversation_id": conversation_id,
                    "ts": ts,
                    "channel": channel,
                    "text": text,
                    "topic": topic,
                    "confidence": round(float(confidence), 4),
                    "destination": destination,
                    "node": node,
                    "action": action,
                    "resolved": int(bool(resolved)),
                    "reply": shown,
                    "corrects": wrong,
                },
            )

    def _answer_turn(self, conversation_id: str, topic: str) -> int | None:
        row = self.db.execute(
            "select id from turns where conversation_id = ? and action = 'answer' and topic = ? order by id desc limit 1",
            [conversation_id, topic],
        ).fetchone()
        return int(row[0]) if row else None

    def _stored_turn(self, conversation_id: str, ts: str, text: str) -> int | None:
        row = self.db.execute(
            "select id from turns where conversation_id = ? and ts = ? and text = ?", [conversation_id, ts, text]
        ).fetchone()
        return int(row[0]) if row else None

    def _write_turn(self, conversation: dict, turn: dict) -> int:
        """The conversation's row (upsert) and the turn's (insert; its id returned): on PostgreSQL in
        one round trip (docs/store.md, "Round trips")."""
        if self.backend == "postgresql":
            statements = [self.db["conversations"].upsert_sql(conversation, "id"), self.db["turns"].insert_sql(turn)]
            return self.db.batch(statements).fetchone()[0]
        self.db["conversations"].upsert(conversation, pk="id")
        return self.db["turns"].insert(turn).last_pk

    def turns(self, conversation_id: str) -> list[dict]:
        return list(self.db["turns"].rows_where("conversation_id = ?", [conversation_id], order_by="id"))

    def conversation(self, conversation_id: str) -> dict | None:
        rows = list(self.db["conversations"].rows_where("id = ?", [conversation_id]))
        return rows[0] if rows else None

    def count_turns(self) -> int:
        return self.db["turns"].count

    def close(self) -> None:
        self.db.conn.close()  # PostgreSQL: an open transaction is rolled back; the pool stays
