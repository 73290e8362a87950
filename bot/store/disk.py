"""The store's disk full (a préfecture's server whose logs or backups filled it): how the product
knows it, says it at the start and in the purge, and logs it.

SQLite refuses a write with SQLITE_FULL ("database or disk is full"), or with an I/O error when its
-shm file cannot grow; PostgreSQL with "No space left on device"; a file write with ENOSPC. No lock
to wait for and no broken store: the same write goes through once space is freed. So what a person
was answered waits for it in memory (the spools are on the same disk): the chat's writer
(bot.services.deferred), the phone's kept writes (ivr/phone.py), the tracker store; the phone serves
its calls on the keypad from the Gathers' URLs (ivr/call_hooks.py); the start and the purge stop with
one sentence (`full_disk_message`, bot/cli/tickets.py); the console says to warn the administrator.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.store.database import db_path


def disk_full(exc: BaseException) -> bool:
    """The store's disk is full: SQLite's SQLITE_FULL ("database or disk is full"), PostgreSQL's "No
    space left on device" (bot.store.pg_pool raises it as sqlite3.OperationalError), ENOSPC. No lock
    and no broken store: the same write goes through once space is freed, so what the person was
    answered waits for it, as for a lock (bot.services.deferred)."""
    exc = getattr(exc, "orig", None) or exc  # SQLAlchemy's wrapper (Rasa's tracker store)
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    text = str(exc).lower()
    return isinstance(exc, sqlite3.Error) and (
        getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in text or "no space left" in text
    )


DISK_FULL_EXIT = 4  # `python -m bot serve` stopped at its start: the disk of the store's folder is full


def free_if_full(exc: BaseException, folder: Path) -> int | None:
    """The bytes free in `folder` when `exc` is a failure for lack of room there: `disk_full`, or an I/O
    error with no byte left (SQLite's -shm file that cannot grow, a spool's key that cannot be
    written); None for any other failure."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    free = st.f_bavail * st.f_frsize
    io_error = (
        getattr(exc, "errno", None) == errno.EIO or (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == sqlite3.SQLITE_IOERR
    )
    return free if disk_full(exc) or (free == 0 and io_error) else None


def full_disk_message(exc: BaseException, folder: Path | None = None) -> str | None:
    """What the start says when it failed on the store's folder (AIGUILLAGE_DB's: the store, its
    spools) because its disk is full (`free_if_full`); None for any other failure."""
    folder = folder or db_path().parent
    free = free_if_full(exc, folder)
    if free is None:
        return None
    return (
        f"Aiguillage cannot start: the disk holding {folder} is full ({free} bytes free; {type(exc).__name__}: {exc}):"
        " free some space on it (old logs, backups), then start the server again."
    )


def log_refusal(log: logging.Logger, exc: BaseException, message: str, *args) -> None:
    """Log a write refused, or an answer served without the store: with its traceback, but in one line
    when the disk is full (a known cause, said at each request: a full disk must not fill the log too)."""
    if free_if_full(exc, db_path().parent) is not None:
        log.error(message + " (%s: %s)", *args, type(exc).__name__, exc)
    else:
        log.error(message, *args, exc_info=exc)


async def every(seconds: float, work: Callable[[], Awaitable[None]], log: logging.Logger, failed: str, *args) -> None:
    """Run `work` every `seconds`, for as long as the server runs (a background task its stop cancels): the
    spool's sweep (bot/store/spool.py `sweep_every`), the outbox's retry (bot/services/mailer.py
    `retry_every`). A run that fails is logged with `failed % args` (`log_refusal`: one line when the disk
    is full), once until its error changes, and the next run tries again."""
    seen = ""
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
            seen = ""
        except Exception as exc:  # noqa: BLE001 - the next run tries again; what it had to do still waits
            if repr(exc) != seen:
                log_refusal(log, exc, failed, *args)
            seen = repr(exc)
