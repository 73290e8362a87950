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
  unkeyed one still excludes them all. Readers never wait for any of them. An unkeyed transaction
  nested in a keyed one is refused (NestedLockError). The `begin` and the locks travel with the
  transaction's first statement (or its commit): one round trip fewer per transaction.
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

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2

from bot.store import dialect
from bot.store.pg_locks import lock_key, lock_statement  # noqa: F401 - lock_key: bot.store.database's
from bot.store.pg_pool import (  # noqa: F401 - close_pools, Pool: the store's API, used by tests and tools
    Cursor,
    Pool,
    _adapt,
    as_sqlite_error,
    catalog,
    close_pools,
    pool,
    unreachable,
)


class NestedLockError(RuntimeError):
    """An unkeyed transaction opened inside one that holds keys: it would need the store's lock
    exclusively while holding it shared (a wait for every keyed writer, a deadlock when two do it).
    A programming error, refused loudly: give the inner transaction keys, or the outer none."""


class PgDatabase:
    """One PostgreSQL store (a database and its schema, from the URL's search_path)."""

    def __init__(self, url: str, lock_timeout_ms: int = 10000):
        self.url, self.lock_timeout_ms = url, int(lock_timeout_ms)
        self.pool = pool(url)
        self.catalog = catalog(url)
        self.local = threading.local()

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
        return self._send(text, _adapt(params))

    def batch(self, statements: list[tuple[str, list]]) -> Cursor:
        """Several statements in one round trip (inside a transaction: under one savepoint, undone
        together if one fails); the result is the last one's. The statements are the caller's own SQL
        (no `insert` given an implicit `returning id`: write it)."""
        texts, params = [], []
        for sql, args in statements:
            texts.append(dialect.translate(sql))
            params += _adapt(args)
        return self._send("; ".join(texts), tuple(params), plain=True)

    def _send(self, text: str, params: tuple, plain: bool = False) -> Cursor:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            return self._in_transaction(text, params, dialect.is_write(text) or dialect.is_ddl(text), plain)
        # A statement outside a transaction waits for a table's lock (a maintenance's ALTER TABLE) as long
        # as a transaction would, then "database is locked": a page's read, not a hung request.
        head = (f"set lock_timeout = {self.lock_timeout_ms}; ", [])
        for fresh in (False, True):
            conn = self.pool.get(self.lock_timeout_ms / 1000, fresh)
            broken = False
            try:
                return self._run(conn, text, params, plain=plain, begin=head)
            except sqlite3.OperationalError:
                broken = conn.closed != 0
                if not broken or fresh or dialect.is_write(text):  # a write may have run: never twice
                    raise
                self.pool.close()  # a restart cut every idle connection: not one retry each
            finally:
                self.pool.put(conn, broken)
        raise AssertionError("unreachable")  # pragma: no cover

    def _in_transaction(self, text: str, params: tuple, savepoint: bool, plain: bool) -> Cursor:
        """A statement of the open transaction; its first one carries the `begin` and the locks in the
        same round trip. That first trip, on a pooled connection a restart cut, is sent once more on a
        new one: nothing of the transaction had run (never committed)."""
        begin = getattr(self.local, "pending", None)
        if begin is None:
            return self._run(self.local.conn, text, params, savepoint, plain)
        self.local.pending = None
        for fresh in (False, True):
            try:
                return self._run(self.local.conn, text, params, savepoint, plain, begin)
            except sqlite3.OperationalError:
                cut = self.local.conn.closed != 0
                if not cut or fresh:
                    raise
                self.pool.put(self.local.conn, broken=True)
                self.pool.close()
                self.local.conn = None  # not in a transaction while waiting for a connection
                self.local.conn = self.pool.get(self.lock_timeout_ms / 1000, fresh=True)
        raise AssertionError("unreachable")  # pragma: no cover

    def _run(self, conn, text: str, params: tuple, savepoint: bool = False, plain: bool = False, begin=None) -> Cursor:
        """One round trip: [the transaction's begin and locks, or a lone statement's lock timeout;] [a savepoint;]
        the statement(s)."""
        table = None if plain else dialect.inserted_table(text)
        try:
            returning = table is not None and " returning " not in text.lower() and self.catalog.has_identity(conn, table)
        except psycopg2.Error as exc:  # the catalogue's read: on a cut connection, as the statement's would be
            raise (unreachable(exc) if conn.closed else as_sqlite_error(exc)) from exc
        if returning:
            text += " returning id"
        head, head_params = begin or ("", [])
        sent = head + ("savepoint aiguillage_statement; " if savepoint else "") + text
        with conn.cursor() as cur:
            try:
                # Left to the commit, not released: a released savepoint would keep its transaction id anyway.
                cur.execute(sent, (*head_params, *params))
                rows = cur.fetchall() if cur.description is not None else []
                description, rowcount = cur.description, cur.rowcount
            except psycopg2.Error as exc:
                if savepoint and not conn.closed:
                    try:  # the statement undoes itself only (not possible if the locks failed first)
                        cur.execute("rollback to savepoint aiguillage_statement")
                    except psycopg2.Error:
                        pass  # the transaction is lost: the caller's rollback ends it
                raise (unreachable(exc) if conn.closed else as_sqlite_error(exc)) from exc
        if dialect.is_ddl(text):
            self.catalog.forget()
        if returning:
            return Cursor([], None, rowcount, rows[0][0] if rows else None)
        return Cursor(rows, [(c.name, None, None, None, None, None, None) for c in description or []] or None, rowcount, None)

    # -- transactions --
    def begin(self, keys=()) -> None:
        """A transaction pinned to this thread, under the locks of `keys` (the module docstring). Its
        `begin` and locks are sent with its first statement (or its commit): one round trip fewer."""
        if self.in_transaction:
            raise sqlite3.OperationalError("cannot start a transaction within a transaction")
        lock, params = lock_statement(keys)
        conn = self.pool.get(self.lock_timeout_ms / 1000)
        self.local.conn, self.local.keys = conn, sorted({str(k) for k in keys or ()})
        self.local.pending = (f"begin; set local lock_timeout = {self.lock_timeout_ms}; {lock}; ", params)

    def lock(self, keys=()) -> None:
        """Inside the open transaction, the locks of `keys` too (a nested transaction's). With no key:
        nothing more inside an unkeyed transaction (it holds the store's lock exclusively), refused
        inside a keyed one (NestedLockError)."""
        held = getattr(self.local, "keys", [])
        if not keys:
            if held:
                raise NestedLockError(
                    f"an unkeyed transaction inside one holding {held}: it would wait for every keyed writer"
                    " (and deadlock with another doing the same); give it keys"
                )
            return
        if not held:
            return  # the store's lock is held exclusively: every key is ours already
        lock, params = lock_statement(keys)  # the store's lock (shared) again: held already, granted at once
        pending = getattr(self.local, "pending", None)
        if pending is not None:
            self.local.pending = (pending[0] + lock + "; ", [*pending[1], *params])
        else:
            with self.local.conn.cursor() as cur:
                try:
                    cur.execute(lock, params)
                except psycopg2.Error as exc:
                    raise as_sqlite_error(exc) from exc
        self.local.keys = sorted({*held, *params})

    def _end(self, how: str) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            return  # as lenient as the call sites need: nothing to end
        begin = getattr(self.local, "pending", None)
        self.local.conn, self.local.keys, self.local.pending = None, [], None
        if begin is not None and how == "rollback":
            self.pool.put(conn)  # nothing was sent: nothing to undo
            return
        broken = False
        try:
            with conn.cursor() as cur:
                # A transaction with no statement still takes its locks (and waits for them) to commit.
                cur.execute(begin[0] + how, begin[1]) if begin is not None else cur.execute(how)
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
        pks = self.catalog.pks
        if table not in pks:
            rows = self.execute(
                "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid"
                " and a.attnum = any(i.indkey) where i.indrelid = ?::regclass and i.indisprimary"
                " order by array_position(i.indkey::int2[], a.attnum)",
                [table],
            ).fetchall()
            pks[table] = [r[0] for r in rows]
        return pks[table]

    def __getitem__(self, table: str):
        from bot.store.pg_table import PgTable

        return PgTable(self, table)

    def close(self) -> None:
        if self.in_transaction:
            self.rollback()
