"""What the readiness probe looks at (GET /readyz: the route, its threads and timeouts are
bot/web/health.py), and how each figure is judged: ok, degraded (the server serves; the JSON says what
is wrong) or failing (503: it cannot serve).

- the store answers a read (`store_answers`): the product's store, a SQLite file (AIGUILLAGE_DB, which
  must also take writes: its file and folder, not a read-only filesystem) or PostgreSQL (DATABASE_URL);
- the free space of the disk that holds AIGUILLAGE_DB (the SQLite store and, beside it, the spools
  and their keys, also when the store is on PostgreSQL): `disk_free_mb`;
- the writes waiting in the chat's and the phone's spools (bot/store/spool.py): rows and the oldest's age;
- the e-mail outbox (bot/services/mailer.py): pending (waiting for their first try, or being sent),
  failed (waiting for a retry) and rejected (refused for good: said, never judged) e-mails, and the
  oldest waiting one's age.

The reads are plain and short: a SQLite file is opened without ever being created (`mode=rw`) and
waits for a lock at most the check's timeout; nothing is written. Only counts and ages come out: no
text of a row, no address, no path, no URL, no exception's text (a failure is said in a few fixed
words, `failure`). The thresholds are the préfecture's `health:` block (prefectures/_national.yml).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.store.database import Store, is_postgres
from bot.store.disk import disk_full
from bot.store.spool import chat_spool_path, phone_spool_path

OK, DEGRADED, FAILING, UNKNOWN = "ok", "degraded", "failing", "unknown"
MB = 2**20
STORE_READ = "select count(*) from migrations"
OUTBOX = (
    "select status, count(*), min(created_at) from outbox"
    " where status in ('pending', 'sending', 'failed', 'rejected') group by status"
)


@dataclass(frozen=True)
class Limits:
    """The préfecture's `health:` block (bot/core/config_checks.py HEALTH), read at each probe."""

    check_timeout_ms: int
    disk_degraded_below_mb: int
    disk_failing_below_mb: int
    spool_degraded_rows: int
    spool_degraded_age_s: int
    outbox_degraded_failed: int
    outbox_degraded_age_minutes: int

    @classmethod
    def of(cls, prefecture) -> Limits:
        return cls(**{name: int(prefecture.get(f"health.{name}")) for name in cls.__dataclass_fields__})


def backend(where: Path | str) -> str:
    return "postgresql" if is_postgres(where) else "sqlite"


def _sqlite(path: Path, timeout_s: float) -> sqlite3.Connection:
    """A connection to an existing SQLite file (never made here), waiting at most `timeout_s` for a lock."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=timeout_s, isolation_level=None)


def _rows(where: Path | str, timeout_s: float, sql: str) -> list[tuple]:
    if is_postgres(where):
        store = Store.on_connection(where, busy_ms=int(timeout_s * 1000))
        try:
            return list(store.db.execute(sql).fetchall())
        finally:
            store.close()
    conn = _sqlite(Path(where), timeout_s)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def writable(path: Path) -> bool:
    """Whether SQLite can write the store: its folder (where its -wal and -shm files live) and its file,
    on a filesystem that is not read-only."""
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return False
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def store_answers(where: Path | str, timeout_s: float) -> dict:
    """{"backend", "writable" (SQLite)} once the store answered a read; raises when it did not. A SQLite
    store that cannot take writes is not read at all (it fails as read-only)."""
    if is_postgres(where):
        _rows(where, timeout_s, STORE_READ)
        return {"backend": "postgresql"}
    path = Path(where)
    if not writable(path):
        return {"backend": "sqlite", "writable": False}
    _rows(path, timeout_s, STORE_READ)
    return {"backend": "sqlite", "writable": True}


def disk_free_mb(folder: Path) -> int:
    """What the server's user may still write on the disk of `folder`, in whole MB."""
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize // MB


def age_s(when: str | datetime | None) -> int | None:
    if when is None:
        return None
    when = datetime.fromisoformat(when) if isinstance(when, str) else when
    return max(0, int((datetime.now(UTC) - when).total_seconds()))


def _spool(path: Path, timeout_s: float) -> tuple[int, str | None]:
    """(rows, when the oldest was written) of one spool file; (0, None) when the host never needed it."""
    if not path.exists():
        return 0, None
    conn = _sqlite(path, timeout_s)
    try:
        rows = conn.execute("select count(*) from spool").fetchone()[0]
        first = conn.execute("select created from spool order by id limit 1").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # made a moment ago, its table not yet
            return 0, None
        raise
    finally:
        conn.close()
    return int(rows), first[0] if first else None


def spool_backlog(timeout_s: float) -> dict:
    """{"chat_rows", "phone_rows", "oldest_s"} of the spools beside AIGUILLAGE_DB."""
    chat, chat_first = _spool(chat_spool_path(), timeout_s)
    phone, phone_first = _spool(phone_spool_path(), timeout_s)
    ages = [age for age in (age_s(chat_first), age_s(phone_first)) if age is not None]
    return {"chat_rows": chat, "phone_rows": phone, "oldest_s": max(ages) if ages else None}


def outbox_backlog(where: Path | str, timeout_s: float) -> dict:
    """{"pending", "failed", "rejected", "oldest_waiting_s"} of the outbox (pending counts those being sent)."""
    found = {status: (int(count), first) for status, count, first in _rows(where, timeout_s, OUTBOX)}
    waiting = [found[s][1] for s in ("pending", "sending", "failed") if s in found]
    count = lambda *statuses: sum(found.get(s, (0, None))[0] for s in statuses)  # noqa: E731
    return {
        "pending": count("pending", "sending"),
        "failed": count("failed"),
        "rejected": count("rejected"),
        "oldest_waiting_s": age_s(min(waiting)) if waiting else None,
    }


def failure(exc: BaseException, timeout_ms: int) -> str:
    """A check that did not come back, in a few fixed words (never the exception's text: it may name a
    host, a user or a path)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_ms} ms"
    text = str(exc).lower()
    if disk_full(exc):
        return "disk full"
    if isinstance(exc, sqlite3.Error):
        for words, said in (
            ("unable to open", "cannot be opened"),
            ("unreachable", "unreachable"),
            ("locked", "locked"),
            ("busy", "locked"),
            ("readonly", "read-only"),
        ):
            if words in text:
                return said
    return f"read failed ({type(exc).__name__})"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def judge_store(answered: dict) -> dict:
    if answered.get("writable") is False:
        return {"status": FAILING, **answered, "reason": "read-only"}
    return {"status": OK, **answered}


def judge_disk(free_mb: int, limits: Limits) -> dict:
    for status, below in ((FAILING, limits.disk_failing_below_mb), (DEGRADED, limits.disk_degraded_below_mb)):
        if free_mb < below:
            return {"status": status, "free_mb": free_mb, "reason": f"{free_mb} MB free ({status} below {below} MB)"}
    return {"status": OK, "free_mb": free_mb}


def judge_spool(backlog: dict, limits: Limits) -> dict:
    rows, oldest = backlog["chat_rows"] + backlog["phone_rows"], backlog["oldest_s"]
    if rows >= limits.spool_degraded_rows or (oldest is not None and oldest >= limits.spool_degraded_age_s):
        reason = (
            f"{plural(rows, 'write')} waiting in the spools, the oldest for {oldest} s"
            f" (degraded from {plural(limits.spool_degraded_rows, 'write')} or {limits.spool_degraded_age_s} s)"
        )
        return {"status": DEGRADED, **backlog, "reason": reason}
    return {"status": OK, **backlog}


def judge_outbox(backlog: dict, smtp: bool, limits: Limits) -> dict:
    """Failed e-mails wait for a retry (the server's own, every `outbox.retry_every_s` once an e-mail's
    wait is over: bot/services/mailer.py `retry_every`); with SMTP_HOST set, none should wait long.
    Without it nothing is sent at all (the services read their messages in the console): pending e-mails
    are no problem."""
    said = []
    if backlog["failed"] >= limits.outbox_degraded_failed:
        failed = backlog["failed"]
        said.append(
            f"{plural(failed, 'e-mail')} failed and wait{'s' if failed == 1 else ''} for a retry"
            f" (degraded from {limits.outbox_degraded_failed})"
        )
    oldest, most = backlog["oldest_waiting_s"], limits.outbox_degraded_age_minutes * 60
    if smtp and oldest is not None and oldest >= most:
        said.append(f"the oldest e-mail has waited {oldest} s (degraded from {most} s)")
    if said:
        return {"status": DEGRADED, "smtp": smtp, **backlog, "reason": "; ".join(said)}
    return {"status": OK, "smtp": smtp, **backlog}


def overall(checks: dict[str, dict]) -> str:
    """failing if a check fails; degraded if one is degraded or could not be read; else ok."""
    states = {check["status"] for check in checks.values()}
    if FAILING in states:
        return FAILING
    return DEGRADED if states & {DEGRADED, UNKNOWN} else OK
