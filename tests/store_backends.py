"""The store's tests on both backends (issue 16): a real PostgreSQL 15 for the session, started by
tools/cluster.py's Postgres, and a fresh schema per store a test opens.

tests/conftest.py's `store_backend` fixture (parametrized: sqlite, postgresql) makes every
`Store(path)` of a test open, on PostgreSQL, a schema of its own for each distinct path: the
tests written for SQLite files run unchanged against PostgreSQL. A test module opts in with
`pytestmark = pytest.mark.usefixtures("store_backend")`; a test that reads the SQLite file itself
(PRAGMAs, a held SQLite lock) is marked `sqlite_only` and runs once, on SQLite.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2

from tools.cluster import Postgres, free_port, missing


class PgServer:
    """The session's PostgreSQL: `schema_url()` is the URL of a new, empty schema."""

    def __init__(self, directory: Path):
        lacking = [m for m in missing() if m.startswith("PostgreSQL")]
        if lacking:
            raise RuntimeError(f"the store tests on PostgreSQL need {lacking[0]}: run `make postgres`")
        # As root, PostgreSQL runs as the `postgres` user (tools/cluster.py), who cannot reach pytest's
        # root-only temporary directory: then its data lives in a directory of its own (as test_cluster).
        directory.mkdir(parents=True, exist_ok=True)
        self.home = Path(tempfile.mkdtemp(prefix="aiguillage-pg-")) if os.geteuid() == 0 else directory
        self.home.chmod(0o755)
        self.pg = Postgres(self.home / "data", free_port())
        self.url = self.pg.start()
        self.directory = directory
        self.counter = itertools.count(1)
        self.schemas: list[str] = []

    def schema_url(self, keep: bool = False) -> str:
        """A new, empty schema; dropped by drop_schemas() at the end of the test unless `keep`."""
        name = f"t{next(self.counter)}"
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"drop schema if exists {name} cascade")
            cur.execute(f"create schema {name}")
        conn.close()
        if not keep:
            self.schemas.append(name)
        return f"{self.url}?options=-csearch_path%3D{name}"

    def drop_schemas(self) -> None:
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in self.schemas:
                cur.execute(f"drop schema if exists {name} cascade")
        conn.close()
        self.schemas.clear()

    def stop(self) -> None:
        self.pg.stop()
        if self.home != self.directory:
            shutil.rmtree(self.home, ignore_errors=True)


REDIRECTED: dict[str, str] = {}  # the SQLite paths of the running test -> their PostgreSQL schema's URL


def redirected(path) -> str | None:
    """The PostgreSQL URL standing for this SQLite path in the running test, if any."""
    return REDIRECTED.get(str(Path(path).resolve())) if REDIRECTED else None


def pg_rows(url: str, sql: str, args) -> list[dict]:
    """conftest.db_rows on PostgreSQL: another connection, the SQL as the store translates it."""
    from bot.store.pg import PgDatabase

    return list(PgDatabase(url).query(sql, list(args)))


def url_for(server: PgServer, path, keep: bool = False) -> str:
    """The PostgreSQL schema standing for this SQLite path (made on first use)."""
    from bot.store import database

    where = database.location() if path is None or path == "" else path
    if database.is_postgres(where):
        return where
    key = str(Path(where).resolve())
    if key not in REDIRECTED:
        REDIRECTED[key] = server.schema_url(keep)
    return REDIRECTED[key]


def redirect(monkeypatch, server: PgServer, keep: bool = False) -> None:
    """Make Store(path) and Store.on_connection(path, ...) open a PostgreSQL schema per SQLite path."""
    from bot.store import database

    init, on_connection = database.Store.__init__, database.Store.on_connection.__func__

    def store_init(self, path=None):
        init(self, url_for(server, path, keep))

    def store_on_connection(cls, path, busy_ms):
        return on_connection(cls, url_for(server, path, keep), busy_ms)

    monkeypatch.setattr(database.Store, "__init__", store_init)
    monkeypatch.setattr(database.Store, "on_connection", classmethod(store_on_connection))


# AIGUILLAGE_TEST_STORE=postgresql (opt-in, e.g. `AIGUILLAGE_TEST_STORE=postgresql pytest tests/test_ivr_calls.py`):
# the whole session on PostgreSQL. Every server conftest.launch() starts gets DATABASE_URL (the schema
# standing for its AIGUILLAGE_DB), and every Store(path) of the tests opens that schema.
ALL_ON_POSTGRESQL = os.environ.get("AIGUILLAGE_TEST_STORE") == "postgresql"


def command_env(store, **more: str) -> dict[str, str]:
    """The environment of a command (`python -m bot ...`) that must open the same store as `store`."""
    env = dict(os.environ, **more)
    env.pop("AIGUILLAGE_STORE", None)
    if store.backend == "postgresql":
        env["DATABASE_URL"] = store.path
    else:
        env.pop("DATABASE_URL", None)
        env["AIGUILLAGE_DB"] = str(store.path)
    return env


def connect(path):
    """sqlite3.connect(path), or under store_backend's PostgreSQL a connection to the schema standing
    for that file, with the same execute / `with conn:` / close (bot/store/pg.py)."""
    import sqlite3

    from bot.store.pg import PgDatabase

    url = redirected(path)
    return PgDatabase(url) if url else sqlite3.connect(path)


@contextmanager
def server_on_postgresql(tmp: Path) -> Iterator[tuple]:
    """A test server (conftest.launch, `python -m bot serve`) whose stores, the product's and Rasa's, are in a
    PostgreSQL of its own (DATABASE_URL): (server, pg), both stopped at the end. PostgreSQL missing fails the
    test (`make test` installs it: `make postgres`), a missing model stops the run."""
    import pytest
    from conftest import MODEL, launch, stop

    if not MODEL.exists():
        pytest.exit(f"No trained model at {MODEL}: run the tests with `make test` (it trains first).", returncode=2)
    absent = [m for m in missing() if m.startswith("PostgreSQL")]
    if absent:  # a broken set-up, not a pass
        pytest.fail(f"not installed: {', '.join(absent)}; run `make postgres`")
    # As root, PostgreSQL runs as `postgres`, who cannot reach pytest's root-only temporary directory.
    home = Path(tempfile.mkdtemp(prefix="aiguillage-pg-")) if os.geteuid() == 0 else tmp
    home.chmod(0o755)
    pg = Postgres(home / "data", free_port())
    server = None
    try:
        pg.start()
        server = launch(tmp, extra_env={"DATABASE_URL": pg.url})
        yield server, pg
    finally:
        if server is not None:
            stop(server)
        pg.stop()
        if home != tmp:
            shutil.rmtree(home, ignore_errors=True)
