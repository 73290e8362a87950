"""Writes acknowledged to a person and not yet in the store, on local disk until the store has them.

The phone thanks a caller for a voicemail, and the chat answers a turn, even when the store refuses
the write now (a SQLite file locked by another writer, a PostgreSQL lock held past the lock timeout,
PostgreSQL unreachable): the write is retried in the background (ivr/phone.py `Phone.keep`,
bot/services/deferred.py, bot/nlu/tracker_store.py). In memory alone, that promise would be broken
by a kill -9, a crash or an OOM kill of the process before the store comes back. So such a write (a
voicemail, its recording's callbacks, a call's end; a chat turn's record and its Rasa events) is
first appended to a spool, a small SQLite file beside the store (`synchronous = FULL`: on disk
before the person is answered), and deleted once the store has it. The process keeps retrying it for
as long as it lives; what a dead process left is taken over (`orphans`) and written by a server of
the same host: the next one started, or a running sibling within `AIGUILLAGE_SPOOL_SWEEP_S`
(`sweep_every`). Two spools, one per channel, beside AIGUILLAGE_DB:
`<stem>.phone-spool.db` (ivr/phone.py, `phone_spool_path`) and `<stem>.chat-spool.db` (`chat_spool_path`).

Entries hold only what the write needs, masked as the store would mask it (a transcription or a
chat message goes through the masking first). The caller's number is there because the voicemail
keeps it for the call back: so an entry's arguments are encrypted (Fernet: AES-128-CBC and
HMAC-SHA256, from `cryptography`) with the spool's own key, `<spool stem>.key` beside it (mode 0600,
made on first use, shared by the host's processes so that the next one can read what a dead one
left), and the file runs with `secure_delete`: a removed entry's bytes are overwritten with zeros,
not left in free pages. The key beside the file protects a copy of the spool file alone (a backup, a
disk image of that file), not a reader of the whole directory. A host lost with its disk loses its
spool (docs/scaling.md).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from bot.store.disk import every

SCHEMA = """create table if not exists spool (
    id integer primary key,
    kind text not null,
    args text not null,
    owner text not null,
    created text not null
)"""


logger = logging.getLogger(__name__)


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


def _key(path: Path) -> bytes:
    """The spool's key (a Fernet key), made on first use by whichever process comes first, under an
    exclusive lock of its file (flock): no process reads a key being written. A key that could not be
    written whole (the disk full: ENOSPC) is not left behind: the file is emptied again and the next
    use makes it (an empty file, also one an earlier version left, has never encrypted anything)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        key = os.read(fd, 1024).strip()
        if key:
            return key
        key = Fernet.generate_key()
        try:
            if os.write(fd, key) != len(key):  # a short write: the disk is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, 0)
            raise
        return key
    finally:
        os.close(fd)  # the lock goes with it


class Spool:
    """A local file of writes acknowledged to callers and not yet in the store."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.owner = f"{os.getpid()}:{uuid.uuid4().hex}"
        _OURS.add(self.owner)
        from bot.store.database import private_file

        private_file(self.path)  # its owner's only, as the store (its -wal and -shm take its mode)
        self.fernet = Fernet(_key(self.path.with_suffix(".key")))
        with self._connect() as conn:
            conn.execute(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation, closed after it (autocommit: each statement on disk)."""
        conn = sqlite3.connect(str(self.path), timeout=10, isolation_level=None)
        try:
            conn.execute("pragma journal_mode = wal")
            conn.execute("pragma synchronous = full")  # on disk before the caller hears the thanks
            conn.execute("pragma secure_delete = on")  # a removed entry's bytes zeroed, not left in free pages
            yield conn
        finally:
            conn.close()

    def add(self, kind: str, args: tuple | list) -> int:
        """Keep a write (its kind and arguments); its entry's id. On disk when this returns."""
        text = self.fernet.encrypt(json.dumps(list(args), default=_encode).encode()).decode()
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
                    args = self._read(entry_id, text)
                    if args is not None:
                        taken.append((entry_id, kind, args))
            return taken

    def _read(self, entry_id: int, text: str) -> list | None:
        """An entry's arguments; None (logged, the entry left in the file) when the key cannot read them."""
        try:
            return json.loads(self.fernet.decrypt(text.encode()), object_hook=_decode)
        except InvalidToken:
            logger.error(
                "spool: entry %s of %s cannot be read with the key %s", entry_id, self.path, self.path.with_suffix(".key")
            )
            return None

    def pending(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("select count(*) from spool").fetchone()[0])


def chat_spool_path() -> Path:
    """The chat's spool: beside the SQLite file AIGUILLAGE_DB (var/aiguillage.db by default), which
    every process of a host shares, also when the store is on PostgreSQL."""
    from bot.store.database import db_path

    db = db_path()
    return db.with_name(f"{db.stem}.chat-spool.db")


def phone_spool_path() -> Path:
    """The phone's spool (ivr/phone.py), beside the chat's."""
    from bot.store.database import db_path

    db = db_path()
    return db.with_name(f"{db.stem}.phone-spool.db")


async def sweep_every(seconds: float, take_over: Callable[[], Awaitable[None]], what: str) -> None:
    """Run `take_over` (what stopped processes of this host left in a spool: `orphans`, then written)
    every `seconds`, for as long as the server runs: a process killed beside a running sibling (a
    cluster's other process) has its acknowledged writes written by that sibling, without waiting
    for a restart. Entries of a live process are never taken (`alive`), and two siblings sweeping at
    once never take the same entry (`orphans` claims each with a compare-and-set). A failed sweep is
    logged once until its error changes (bot/store/disk.py `every`)."""
    await every(
        seconds, take_over, logger, "%s: taking over the spool of a stopped process failed; tried again in %s s", what, seconds
    )
