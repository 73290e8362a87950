"""The PostgreSQL store's connections (bot/store/pg.py): a pool per database URL per process, the
statement results read at once, psycopg2's errors as sqlite3's, and what is known of each schema's
tables (their identity columns and primary keys), read once per process rather than once per
`PgDatabase` (the chat's turn writer and the phone open one per request: docs/store.md).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from decimal import Decimal

import psycopg2
import psycopg2.errors
import psycopg2.extensions

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
        _catalogs.clear()
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


class Catalog:
    """The tables of one store (a URL: a database and its schema): which have an `id` identity column,
    and their primary keys. Shared by the process's `PgDatabase`s of that URL; forgotten after DDL
    (the migrations), and read again when a table it does not know is named (another process's
    migration)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tables: set[str] | None = None
        self.identity: set[str] = set()
        self.pks: dict[str, list[str]] = {}

    def forget(self) -> None:
        with self.lock:
            self.tables, self.identity = None, set()
            self.pks.clear()

    def has_identity(self, conn, table: str) -> bool:
        if self.tables is None or table not in self.tables:
            with conn.cursor() as cur:
                cur.execute(
                    "select table_name, bool_or(column_name = 'id' and (is_identity = 'YES' or column_default like 'nextval%'))"
                    " from information_schema.columns where table_schema = current_schema() group by table_name"
                )
                rows = cur.fetchall()
            with self.lock:
                self.tables = {r[0] for r in rows}
                self.identity = {r[0] for r in rows if r[1]}
        return table in self.identity


_catalogs: dict[str, Catalog] = {}


def catalog(url: str) -> Catalog:
    with _pools_lock:
        return _catalogs.setdefault(url, Catalog())
