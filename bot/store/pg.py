"""The product's store on PostgreSQL: the small part of sqlite-utils' and sqlite3's API the code uses,
on psycopg2 and a pool of connections shared by the process (docs/store.md).

- `PgDatabase.execute(sql, params)` -> a `Cursor` (fetchone, fetchall, iteration, description,
  rowcount, lastrowid through `returning id`), `query(sql, params)` -> dicts, `db[table]` -> a
  `PgTable` (bot/store/pg_table.py), `table_names()`, `atomic()`; `db.conn` is the same object, so
  `conn.execute("begin immediate")`, `conn.in_transaction` and `with conn:` keep working.
- Outside a transaction a statement borrows a pooled connection in autocommit mode and gives it back.
  `begin(keys)` pins one connection to the calling thread until `commit`/`rollback` and takes
  transaction-scoped advisory locks, across every process that shares the database:
  with no key, the store's lock in exclusive mode (writers take turns, as in SQLite's BEGIN
  IMMEDIATE: what every transaction that names no key gets); with keys (a conversation, a slot, a
  person, a throttle window), the store's lock in shared mode and one exclusive lock per key, in
  sorted order: transactions of different keys run in parallel, those of one key take turns, and an
  unkeyed one still excludes them all. Readers never wait for any of them.
- Inside a transaction each write runs under a savepoint, so a failed statement (a unique key
  taken) undoes itself only and the transaction goes on, as in SQLite.
- A pooled connection a restart of the server cut is replaced at its next use (a `begin` or a read
  tried once more; a write never sent twice), and an unreachable server is "database is locked
  (PostgreSQL unreachable: ...)", which the turn writer and the phone write later.
- Errors are raised as sqlite3's classes (IntegrityError; OperationalError "database is locked"
  when a lock or a connection is not had within the timeout), so the call sites and their
  `except sqlite3.IntegrityError` work on both backends.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from bot.store import dialect
from bot.store.pg_locks import lock_key, lock_statement  # noqa: F401 - lock_key: bot.store.database's

CONNECT_TIMEOUT_S = 10  # an unreachable server: "database is locked"-free error after this, never a hang
POOL_SIZE = 16  # connections per process and database; more threads wait for one (up to the timeout)


def _number(value: str | None, _cur) -> int | float | None:
    """numeric (sum() of integers, avg()) as SQLite gives it: int when whole, else float."""
    if value is None:
        return None
    d = Decimal(value)
    return int(d) if d == d.to_integral_value() else float(d)


NUMERIC = psycopg2.extensions.new_type((1700,), "AIGUILLAGE_NUMERIC", _number)


def as_sqlite_error(exc: psycopg2.Error) -> sqlite3.Error:
    """The sqlite3 exception the call sites expect for a psycopg2 one (the message kept)."""
    message = str(exc).strip()
    if isinstance(exc, psycopg2.IntegrityError):
        return sqlite3.IntegrityError(message)
    if isinstance(
        exc,
        (
            psycopg2.errors.LockNotAvailable,
            psycopg2.errors.QueryCanceled,
            psycopg2.errors.DeadlockDetected,
            psycopg2.errors.SerializationFailure,
        ),
    ):
        return sqlite3.OperationalError(f"database is locked ({message})")
    if isinstance(exc, (psycopg2.OperationalError, psycopg2.ProgrammingError, psycopg2.DataError, psycopg2.InterfaceError)):
        return sqlite3.OperationalError(message)
    return sqlite3.DatabaseError(message)


UNREACHABLE = re.compile(
    r"refused|could not connect|timeout expired|starting up|shutting down|closed the connection|terminat|no route to host",
    re.I,
)


def unreachable(exc: psycopg2.Error) -> sqlite3.Error:
    """A connection that could not be made or was lost (a restart, an outage): "database is locked"
    (...), the error the call sites already wait out or write later (the chat's turn writer, the
    phone's StoreBusy), as for a lock held too long; any other error as as_sqlite_error."""
    message = str(exc).strip()
    if isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)) and UNREACHABLE.search(message):
        return sqlite3.OperationalError(f"database is locked (PostgreSQL unreachable: {message})")
    return as_sqlite_error(exc)


class Pool:
    """Connections to one database, shared by the process's stores; waits up to `timeout_s` for one."""

    def __init__(self, url: str, size: int = POOL_SIZE):
        self.url, self.idle, self.lock = url, [], threading.Lock()
        self.slots = threading.BoundedSemaphore(size)

    def get(self, timeout_s: float, fresh: bool = False) -> psycopg2.extensions.connection:
        """An idle connection (unless `fresh`), else a new one."""
        if not self.slots.acquire(timeout=timeout_s):
            raise sqlite3.OperationalError("database is locked (no free connection to PostgreSQL)")
        with self.lock:
            conn = self.idle.pop() if self.idle and not fresh else None
        if conn is not None and not conn.closed:
            return conn
        try:
            conn = psycopg2.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg2.Error as exc:
            self.slots.release()
            raise unreachable(exc) from exc
        conn.autocommit = True  # transactions are explicit: `begin` ... `commit`
        psycopg2.extensions.register_type(NUMERIC, conn)
        return conn

    def put(self, conn: psycopg2.extensions.connection, broken: bool = False) -> None:
        if broken or conn.closed or conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            try:
                conn.close()
            except psycopg2.Error:  # pragma: no cover - already gone
                pass
        else:
            with self.lock:
                self.idle.append(conn)
        self.slots.release()

    def close(self) -> None:
        """Close the idle connections (also after a restart of the server cut them all)."""
        with self.lock:
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


_pools: dict[str, Pool] = {}
_pools_lock = threading.Lock()


def pool(url: str) -> Pool:
    with _pools_lock:
        if url not in _pools:
            _pools[url] = Pool(url)
        return _pools[url]


def close_pools() -> None:
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for p in pools:
        p.close()


class Cursor:
    """A statement's result, read at once (the connection goes back to the pool)."""

    def __init__(self, rows: list[tuple], description, rowcount: int, lastrowid: int | None):
        self.rows, self.description, self.rowcount, self.lastrowid = rows, description, rowcount, lastrowid
        self._next = 0

    def fetchone(self) -> tuple | None:
        if self._next >= len(self.rows):
            return None
        self._next += 1
        return self.rows[self._next - 1]

    def fetchall(self) -> list[tuple]:
        rest, self._next = self.rows[self._next :], len(self.rows)
        return rest

    def fetchmany(self, size: int = 1) -> list[tuple]:
        rest = self.rows[self._next : self._next + size]
        self._next += len(rest)
        return rest

    def __iter__(self) -> Iterator[tuple]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        pass


def _adapt(params) -> tuple:
    """SQLite stores booleans as 0/1: so does this store (the columns are integers)."""
    return tuple(int(p) if isinstance(p, bool) else p for p in (params or ()))


class PgDatabase:
    """One PostgreSQL store (a database and its schema, from the URL's search_path)."""

    def __init__(self, url: str, lock_timeout_ms: int = 10000):
        self.url, self.lock_timeout_ms = url, int(lock_timeout_ms)
        self.pool = pool(url)
        self.local = threading.local()
        self._identity: set[str] | None = None  # tables whose `id` is an identity column
        self._pks: dict[str, list[str]] = {}

    # -- the sqlite3 connection's face (db.conn is the database itself) --
    @property
    def conn(self) -> PgDatabase:
        return self

    @property
    def in_transaction(self) -> bool:
        return getattr(self.local, "conn", None) is not None

    def __enter__(self) -> PgDatabase:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        """`with conn:` as sqlite3: commit an open transaction, or roll it back on an error."""
        if self.in_transaction:
            self.rollback() if kind else self.commit()

    def execute(self, sql: str, params=None) -> Cursor:
        what = dialect.control(sql)
        if what:
            getattr(self, what)()
            return Cursor([], None, -1, None)
        try:
            text = dialect.translate(sql)
        except dialect.DialectError as exc:
            raise sqlite3.OperationalError(str(exc)) from None
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            return self._run(conn, text, _adapt(params), savepoint=dialect.is_write(text) or dialect.is_ddl(text))
        for fresh in (False, True):
            conn = self.pool.get(self.lock_timeout_ms / 1000, fresh)
            broken = False
            try:
                return self._run(conn, text, _adapt(params))
            except sqlite3.OperationalError:
                broken = conn.closed != 0
                if not broken or fresh or dialect.is_write(text):  # a write may have run: never twice
                    raise
                self.pool.close()  # a restart cut every idle connection: not one retry each
            finally:
                self.pool.put(conn, broken)
        raise AssertionError("unreachable")  # pragma: no cover

    def _run(self, conn, text: str, params: tuple, savepoint: bool = False) -> Cursor:
        table = dialect.inserted_table(text)
        returning = table is not None and " returning " not in text.lower() and table in self.identity_tables(conn)
        if returning:
            text += " returning id"
        with conn.cursor() as cur:
            try:
                # One round trip: the savepoint and the statement (the cursor holds the latter's result).
                # Left to the commit, not released: a released one would keep its transaction id anyway.
                cur.execute(("savepoint aiguillage_statement; " if savepoint else "") + text, params)
                rows = cur.fetchall() if cur.description is not None else []
                description, rowcount = cur.description, cur.rowcount
            except psycopg2.Error as exc:
                if savepoint and not conn.closed:
                    cur.execute("rollback to savepoint aiguillage_statement")
                raise (unreachable(exc) if conn.closed else as_sqlite_error(exc)) from exc
        if dialect.is_ddl(text):
            self._identity, self._pks = None, {}
        if returning:
            return Cursor([], None, rowcount, rows[0][0] if rows else None)
        return Cursor(rows, [(c.name, None, None, None, None, None, None) for c in description or []] or None, rowcount, None)

    def identity_tables(self, conn) -> set[str]:
        if self._identity is None:
            with conn.cursor() as cur:
                cur.execute(
                    "select table_name from information_schema.columns where table_schema = current_schema()"
                    " and column_name = 'id' and (is_identity = 'YES' or column_default like 'nextval%')"
                )
                self._identity = {r[0] for r in cur.fetchall()}
        return self._identity

    # -- transactions --
    def begin(self, keys=()) -> None:
        """A transaction pinned to this thread, under the locks of `keys` (the module docstring)."""
        if self.in_transaction:
            raise sqlite3.OperationalError("cannot start a transaction within a transaction")
        lock, params = lock_statement(keys)
        for fresh in (False, True):  # a pooled connection a restart cut: once more on a new one
            conn = self.pool.get(self.lock_timeout_ms / 1000, fresh)
            try:
                with conn.cursor() as cur:  # one round trip
                    cur.execute(f"begin; set local lock_timeout = {self.lock_timeout_ms}; {lock}", params or None)
                break
            except psycopg2.Error as exc:
                cut = conn.closed != 0
                self.pool.put(conn, broken=True)
                if not cut or fresh:
                    raise (unreachable(exc) if cut else as_sqlite_error(exc)) from exc
                self.pool.close()
        self.local.conn, self.local.exclusive = conn, not params

    def lock(self, keys=()) -> None:
        """Inside the open transaction, the locks of `keys` too (a nested transaction's); with no key,
        the store's lock in exclusive mode unless the transaction already holds it."""
        if not keys and getattr(self.local, "exclusive", False):
            return
        lock, params = lock_statement(keys)
        with self.local.conn.cursor() as cur:
            try:
                cur.execute(lock, params or None)
            except psycopg2.Error as exc:
                raise as_sqlite_error(exc) from exc
        self.local.exclusive = self.local.exclusive or not params

    def _end(self, how: str) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            return  # as lenient as the call sites need: nothing to end
        self.local.conn, self.local.exclusive = None, False
        broken = False
        try:
            with conn.cursor() as cur:
                cur.execute(how)
        except psycopg2.Error as exc:
            broken = True
            if how == "rollback" and conn.closed:
                return  # the server ended the transaction with the connection: nothing to undo
            raise (unreachable(exc) if conn.closed else as_sqlite_error(exc)) from exc
        finally:
            self.pool.put(conn, broken)

    def commit(self) -> None:
        self._end("commit")

    def rollback(self) -> None:
        self._end("rollback")

    @contextmanager
    def atomic(self, keys=()) -> Iterator[PgDatabase]:
        """A savepoint inside the open transaction (with the locks of `keys` too), else a transaction
        of its own."""
        if not self.in_transaction:
            self.begin(keys)
            try:
                yield self
            except BaseException:
                self.rollback()
                raise
            self.commit()
            return
        self.lock(keys)  # before the savepoint: a lock stays held to the end of the transaction anyway
        name = f"aiguillage_atomic_{int(time.monotonic_ns())}"
        self.execute(f"savepoint {name}")
        try:
            yield self
        except BaseException:
            self.execute(f"rollback to savepoint {name}")
            raise
        self.execute(f"release savepoint {name}")

    # -- sqlite-utils' Database face --
    def query(self, sql: str, params=None) -> Iterator[dict]:
        cur = self.execute(sql, params)
        names = [c[0] for c in cur.description or []]
        for row in cur.fetchall():
            yield dict(zip(names, row))

    def table_names(self) -> list[str]:
        return [r[0] for r in self.execute(dialect.PG_TABLES + " order by table_name").fetchall()]

    def primary_key(self, table: str) -> list[str]:
        if table not in self._pks:
            rows = self.execute(
                "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid"
                " and a.attnum = any(i.indkey) where i.indrelid = ?::regclass and i.indisprimary"
                " order by array_position(i.indkey::int2[], a.attnum)",
                [table],
            ).fetchall()
            self._pks[table] = [r[0] for r in rows]
        return self._pks[table]

    def __getitem__(self, table: str):
        from bot.store.pg_table import PgTable

        return PgTable(self, table)

    def close(self) -> None:
        if self.in_transaction:
            self.rollback()
