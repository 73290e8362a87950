"""Agent accounts, sessions and CSRF tokens, in the store (tables of migration 003_console).

Passwords are hashed with argon2 (argon2-cffi). A session is a random token (secrets) kept in an
HttpOnly, SameSite=Strict cookie; only its sha256 is stored. Sessions expire after IDLE_S without
a request and ABSOLUTE_S after login; logout deletes the row. Each session has its CSRF token.

Writes that belong together run in one transaction (Store.transaction); the methods that change an
account or a session take `audit`, a function writing the console's audit line in that same
transaction: the change and its line are both written, or neither. On PostgreSQL an account's
transactions take its key (`agent_lock`), a logout its session's: they wait only for the same
account's, never for a chat turn or a call (docs/store.md). A session's "seen" time is one statement.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.core import texts
from bot.store.database import Store, lock_key, now

logger = logging.getLogger(__name__)

ROLES = ("agent", "admin")
IDLE_S = 30 * 60
ABSOLUTE_S = 8 * 3600
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 10

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("aiguillage-dummy-password")  # same work for unknown names


class AuthError(ValueError):
    """A French message for the CLI user."""


@dataclass
class Session:
    agent_id: int
    name: str
    role: str
    csrf: str
    token_hash: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def agent_lock(name: str) -> str:
    """The lock key of one account's changes (its creation, password, sessions opened)."""
    return lock_key("agent", name)


Audit = Callable[[], object] | None


class Accounts:
    def __init__(self, store: Store):
        self.store = store
        self.db = store.db

    # ---- accounts ---------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str, audit: Audit = None) -> int:
        if not NAME_RE.match(name or ""):
            raise AuthError(texts.console_say("accounts.bad_name"))
        if role not in ROLES:
            raise AuthError(texts.console_say("accounts.bad_role"))
        if len(password or "") < MIN_PASSWORD:
            raise AuthError(texts.console_say("accounts.short_password", min=MIN_PASSWORD))
        if self.get(name):
            raise AuthError(texts.console_say("accounts.exists", name=name))
        password_hash = _hasher.hash(password)  # tens of milliseconds: before the write lock is taken
        with self.store.transaction(agent_lock(name)):
            if self.get(name):  # made meanwhile by another process
                raise AuthError(texts.console_say("accounts.exists", name=name))
            row = self.db["agents"].insert(
                {
                    "name": name,
                    "role": role,
                    "password_hash": password_hash,
                    "active": 1,
                    "created_at": now(),
                    "last_login_at": None,
                }
            )
            if audit:
                audit()
        return row.last_pk

    def get(self, name: str) -> dict | None:
        rows = list(self.db["agents"].rows_where("name = ?", [name]))
        return rows[0] if rows else None

    def list(self) -> list[dict]:
        return list(self.db["agents"].rows_where(order_by="name"))

    def disable(self, name: str, audit: Audit = None) -> bool:
        """Disable an account and close its sessions."""
        with self.store.transaction(agent_lock(name)):
            cur = self.db.execute("update agents set active = 0 where name = ?", [name])
            if cur.rowcount:
                self.db.execute("delete from sessions where agent_id = (select id from agents where name = ?)", [name])
                if audit:
                    audit()
        return cur.rowcount == 1

    def set_password(self, name: str, password: str, audit: Audit = None) -> bool:
        """A new password for an account (an admin's reset); its open sessions are closed."""
        if len(password or "") < MIN_PASSWORD:
            raise AuthError(texts.console_say("accounts.short_password", min=MIN_PASSWORD))
        agent = self.get(name or "")
        if agent is None:
            return False
        password_hash = _hasher.hash(password)
        with self.store.transaction(agent_lock(name)):
            self.db.execute("update agents set password_hash = ? where id = ?", [password_hash, agent["id"]])
            self.db.execute("delete from sessions where agent_id = ?", [agent["id"]])
            if audit:
                audit()
        return True

    def verify(self, name: str, password: str) -> dict | None:
        """The agent's row when the name and password match an active account, else None."""
        agent = self.get(name or "")
        try:
            _hasher.verify(agent["password_hash"] if agent else _DUMMY_HASH, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if not agent or not agent["active"]:
            return None
        if _hasher.check_needs_rehash(agent["password_hash"]):
            rehashed = _hasher.hash(password)  # one statement: atomic alone
            self.db.execute("update agents set password_hash = ? where id = ?", [rehashed, agent["id"]])
        return agent

    # ---- sessions ---------------------------------------------------------------------------
    def open_session(self, agent: dict, audit: Audit = None) -> str:
        """A new session (expired ones are deleted, the login time noted): its cookie token."""
        token = secrets.token_urlsafe(32)
        t = time.time()
        with self.store.transaction(agent_lock(agent["name"])):
            self.db.execute("delete from sessions where seen_ts < ? or created_ts < ?", [t - IDLE_S, t - ABSOLUTE_S])
            self.db["sessions"].insert(
                {
                    "token_hash": _token_hash(token),
                    "agent_id": agent["id"],
                    "csrf": secrets.token_urlsafe(32),
                    "created_ts": t,
                    "seen_ts": t,
                }
            )
            self.db.execute("update agents set last_login_at = ? where id = ?", [now(), agent["id"]])
            if audit:
                audit()
        return token

    def session(self, token: str | None) -> Session | None:
        """The live session of this cookie token (and touch it), or None (expired ones are deleted)."""
        if not token or len(token) > 200:
            return None
        th = _token_hash(token)
        row = self.db.execute(
            "select s.agent_id, s.csrf, s.created_ts, s.seen_ts, a.name, a.role, a.active "
            "from sessions s join agents a on a.id = s.agent_id where s.token_hash = ?",
            [th],
        ).fetchone()
        if not row:
            return None
        agent_id, csrf, created, seen, name, role, active = row
        t = time.time()
        if not active or t - seen > IDLE_S or t - created > ABSOLUTE_S:
            self.close_session(token)
            return None
        # One statement, atomic alone: no transaction (every console request passes here). A store
        # locked by another writer leaves the session as it was: the page is served (reads go on).
        try:
            self.db.execute("update sessions set seen_ts = ? where token_hash = ?", [t, th])
        except sqlite3.OperationalError:
            logger.warning("console: session not touched, the store is locked")
        return Session(agent_id, name, role, csrf, th)

    def close_session(self, token: str, audit: Audit = None) -> None:
        th = _token_hash(token)
        with self.store.transaction(lock_key("session", th)):
            self.db.execute("delete from sessions where token_hash = ?", [th])
            if audit:
                audit()


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
