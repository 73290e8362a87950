"""What the phone told a caller it had kept, on local disk until the store has it.

A voicemail is thanked ("votre message a été transmis…") even when the store refuses the write (a
SQLite file locked by another writer, PostgreSQL unreachable): the webhook must answer within
`answer_within_ms`, and the write is retried in the background (`Phone.later`). In memory alone,
that promise would be broken by a kill -9, a crash or an OOM kill of the process before the store
comes back. So such a write (a voicemail, its recording's callbacks, a call's end) is first
appended to this spool, a small SQLite file beside the store (`synchronous = FULL`: on disk before
the caller is answered), and deleted once the store has it. The process keeps retrying it for as
long as it lives; what a dead process left is taken over by the next process started on the same
host (`orphans`), and written.

Entries hold only what the write needs, masked as the store would mask it (a transcription goes
through `prepare` first); the caller's number is there because the voicemail keeps it for the call
back, and leaves with the entry. A host lost with its disk loses its spool (docs/scaling.md).
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

SCHEMA = """create table if not exists spool (
    id integer primary key,
    kind text not null,
    args text not null,
    owner text not null,
    created text not null
)"""


def _encode(value):
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"a spooled write holds only JSON values and datetimes, not {type(value).__name__}")


def _decode(obj: dict):
    return datetime.fromisoformat(obj["$datetime"]) if set(obj) == {"$datetime"} else obj


_OURS: set[str] = set()  # the owners of this process's spools


def alive(owner: str) -> bool:
    """Whether the process that wrote an entry still runs on this host (owner = "pid:token")."""
    if owner in _OURS:
        return True
    pid_text, _, _token = owner.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():  # a former process with our pid (a container restarted): its token is not ours
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class Spool:
    """A local file of writes acknowledged to callers and not yet in the store."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.owner = f"{os.getpid()}:{uuid.uuid4().hex}"
        _OURS.add(self.owner)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation, closed after it (autocommit: each statement on disk)."""
        conn = sqlite3.connect(str(self.path), timeout=10, isolation_level=None)
        try:
            conn.execute("pragma journal_mode = wal")
            conn.execute("pragma synchronous = full")  # on disk before the caller hears the thanks
            yield conn
        finally:
            conn.close()

    def add(self, kind: str, args: tuple | list) -> int:
        """Keep a write (its kind and arguments); its entry's id. On disk when this returns."""
        text = json.dumps(list(args), default=_encode, ensure_ascii=False)
        with self._connect() as conn:
            cursor = conn.execute(
                "insert into spool (kind, args, owner, created) values (?, ?, ?, ?)",
                (kind, text, self.owner, datetime.now().astimezone().isoformat(timespec="seconds")),
            )
            return int(cursor.lastrowid)

    def remove(self, entry_id: int) -> None:
        with self._connect() as conn:
            conn.execute("delete from spool where id = ?", (entry_id,))

    def orphans(self) -> list[tuple[int, str, list]]:
        """The entries of processes that are gone, now ours: (id, kind, args), oldest first."""
        with self._connect() as conn:
            rows = conn.execute("select id, kind, args, owner from spool where owner != ? order by id", (self.owner,)).fetchall()
            taken = []
            for entry_id, kind, text, owner in rows:
                if alive(owner):
                    continue
                claimed = conn.execute("update spool set owner = ? where id = ? and owner = ?", (self.owner, entry_id, owner))
                if claimed.rowcount == 1:  # another process starting beside us may have taken it first
                    taken.append((entry_id, kind, json.loads(text, object_hook=_decode)))
            return taken

    def pending(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("select count(*) from spool").fetchone()[0])
