"""Throttling (issue 13, part 8): failed console logins, and what one client address may do.

Everything is counted in the store (migration 008_throttle), so the limits hold across server
processes and restarts, and nobody is identified in clear: a client address and a typed account
name are kept as keyed hashes (HMAC-SHA256 under the store's "throttle" key, `Store.secret`).
The numbers live in the préfecture files (`throttle:` in prefectures/_national.yml).

- Console login. Every attempt is counted as a failure *before* the password is checked (one
  transaction, BEGIN IMMEDIATE), so a burst of parallel attempts cannot slip between the check and
  the count; a successful login then takes its attempt back. Per account name and per address, past
  `*_free_failures` failures the next attempt waits `first_delay_s`, then twice as long at each new
  failure, up to `max_delay_s` (the caller answers 429 with Retry-After: nobody sleeps). After
  `lockout_after` failures in a row the name is locked until an admin lifts it (console admin page,
  `python -m bot agents unlock NAME`). Names that are not accounts are counted and locked the same
  way, so the answers do not tell which accounts exist.
- Per client address, sliding windows: at most `max` bookings, cancellations, messages in
  `window_minutes` (only the accepted ones: a submission refused by validation is taken back),
  at most `max` submissions of any of them, refused ones included (`submit`, against a flood),
  and at most `max` wrong cancellation guesses (a reference with a contact that
  does not match it; each attempt is counted beforehand, in the same transaction as the check, and
  taken back when it was right, so parallel guesses cannot all pass). Addresses listed in AIGUILLAGE_THROTTLE_EXEMPT (bot/settings.py: a reception
  desk booking for visitors) are not limited there.
"""

from __future__ import annotations

import hmac
import math
import time
from dataclasses import dataclass
from hashlib import sha256

from bot.core.config import Prefecture
from bot.store.database import Store, lock_key, now

KEY_NAME = "throttle"
SCOPES = ("book", "cancel", "message", "cancel_guess", "submit")  # the per-address windows of throttle.per_address


@dataclass(frozen=True)
class Gate:
    """The answer to "may this login be tried now?": locked (until an admin lifts it), or a wait in
    whole seconds (0: go ahead; then `attempt` is the id of the attempt counted meanwhile)."""

    locked: bool = False
    wait_s: int = 0
    attempt: int | None = None


def _key(store: Store, kind: str, value: str) -> str:
    return hmac.new(store.secret(KEY_NAME), f"{kind}:{value}".encode("utf-8", "replace"), sha256).hexdigest()


def address_key(store: Store, address: str) -> str:
    return _key(store, "address", (address or "").strip().lower())


def name_key(store: Store, name: str) -> str:
    return _key(store, "name", (name or "").strip().lower())


def log_id(store: Store, name: str) -> str:
    """What the logs show of a typed account name: 12 characters of its keyed hash (the same name
    gives the same id, so an admin can follow one name's failures, but nobody can test guesses)."""
    return name_key(store, name)[:12]


def _int(pref: Prefecture, dotted: str) -> int:
    return int(pref.get(f"throttle.{dotted}"))


def _delay(failures: int, free: int, first_s: int, max_s: int) -> float:
    """The wait after `failures` failures: none up to `free`, then first_s, doubling, capped at max_s."""
    if failures < free:
        return 0.0
    return float(min(max_s, first_s * 2 ** min(failures - free, 40)))


def _failures(conn, scope: str, key: str, since: float) -> tuple[int, float | None]:
    count, last = conn.execute(
        "select count(*), max(ts) from throttle_events where scope = ? and key = ? and ts >= ?", [scope, key, since]
    ).fetchone()
    return count, last


# ---- console login ------------------------------------------------------------------------------


def login_gate(store: Store, pref: Prefecture, name: str, address: str, t: float | None = None) -> Gate:
    """Before checking a password: refuse (locked, or wait) or count this attempt as a failure."""
    t = time.time() if t is None else t
    nk, ak = name_key(store, name), address_key(store, address)
    first, cap = _int(pref, "login.first_delay_s"), _int(pref, "login.max_delay_s")
    with store.transaction(lock_key("throttle", "login_account", nk), lock_key("throttle", "login_address", ak)) as conn:
        if conn.execute("select 1 from login_lockouts where key = ?", [nk]).fetchone():
            return Gate(locked=True)
        wait = 0.0
        for scope, key, free, window in (
            ("login_account", nk, _int(pref, "login.account_free_failures"), _int(pref, "login.account_window_minutes")),
            ("login_address", ak, _int(pref, "login.address_free_failures"), _int(pref, "login.address_window_minutes")),
        ):
            count, last = _failures(conn, scope, key, t - window * 60)
            if last is not None:
                wait = max(wait, last + _delay(count, free, first, cap) - t)
        if wait > 0:
            return Gate(wait_s=max(1, math.ceil(wait)))
        conn.execute("insert into throttle_events (scope, key, ts) values ('login_account', ?, ?)", [nk, t])
        cur = conn.execute("insert into throttle_events (scope, key, ts) values ('login_address', ?, ?)", [ak, t])
        return Gate(attempt=cur.lastrowid)


def login_failed(store: Store, pref: Prefecture, name: str, t: float | None = None) -> bool:
    """The password was wrong (the attempt is already counted): True when the name is now locked."""
    t = time.time() if t is None else t
    nk = name_key(store, name)
    with store.transaction(lock_key("throttle", "login_account", nk)) as conn:
        count, _ = _failures(conn, "login_account", nk, t - _int(pref, "login.account_window_minutes") * 60)
        if count < _int(pref, "login.lockout_after"):
            return False
        conn.execute("insert or ignore into login_lockouts (key, locked_at, failures) values (?, ?, ?)", [nk, now(), count])
        return True


def login_succeeded(store: Store, name: str, attempt: int | None) -> None:
    """The right password: the name's failures are forgotten, the address's attempt taken back."""
    nk = name_key(store, name)
    with store.transaction(lock_key("throttle", "login_account", nk)) as conn:
        conn.execute("delete from throttle_events where scope = 'login_account' and key = ?", [nk])
        if attempt is not None:
            conn.execute("delete from throttle_events where id = ?", [attempt])


def locked(store: Store, names: list[str]) -> dict[str, str]:
    """{name: locked_at} of the names (accounts) that are locked."""
    by_key = {name_key(store, n): n for n in names}
    if not by_key:
        return {}
    marks = ",".join("?" * len(by_key))
    rows = store.db.execute(f"select key, locked_at from login_lockouts where key in ({marks})", list(by_key)).fetchall()
    return {by_key[k]: at for k, at in rows}


def account_lock(store: Store, name: str) -> str:
    """The lock key of a name's failures and lockout (login_failed, login_succeeded, unlock)."""
    return lock_key("throttle", "login_account", name_key(store, name))


def unlock(store: Store, name: str) -> bool:
    """Lift the lockout of a name (an admin's decision) and forget its failures: True if it was locked."""
    nk = name_key(store, name)
    with store.transaction(account_lock(store, name)) as conn:
        cur = conn.execute("delete from login_lockouts where key = ?", [nk])
        conn.execute("delete from throttle_events where scope = 'login_account' and key = ?", [nk])
    return cur.rowcount == 1


# ---- per client address: sliding windows --------------------------------------------------------


def _window_wait(conn, pref: Prefecture, scope: str, key: str, t: float) -> int:
    """Seconds until one more `scope` event is allowed for `key` (0: allowed now)."""
    limit, window = _int(pref, f"per_address.{scope}.max"), _int(pref, f"per_address.{scope}.window_minutes") * 60
    rows = conn.execute(
        "select ts from throttle_events where scope = ? and key = ? and ts >= ? order by ts desc limit ?",
        [scope, key, t - window, limit],
    ).fetchall()
    if len(rows) < limit:
        return 0
    return max(1, math.ceil(rows[-1][0] + window - t))  # when the oldest of the last `limit` leaves the window


def take(store: Store, pref: Prefecture, scope: str, address: str, t: float | None = None) -> int:
    """Count one `scope` request of this address if its window allows it (returns 0), else return
    the seconds to wait (nothing counted)."""
    return attempt(store, pref, scope, address, t)[0]


def attempt(store: Store, pref: Prefecture, scope: str, address: str, t: float | None = None) -> tuple[int, int | None]:
    """(0, the id of the event counted) when the window allows one more, else (seconds to wait, None).
    Check and count are one transaction: parallel requests cannot all pass the check first."""
    t = time.time() if t is None else t
    key = address_key(store, address)
    with store.transaction(lock_key("throttle", scope, key)) as conn:
        wait = _window_wait(conn, pref, scope, key, t)
        if wait:
            return wait, None
        cur = conn.execute("insert into throttle_events (scope, key, ts) values (?, ?, ?)", [scope, key, t])
        return 0, cur.lastrowid


def forgive(store: Store, event: int | None) -> None:
    """Take back an event counted in advance (a cancellation guess that turned out right)."""
    if event is not None:  # one statement: atomic alone
        store.db.execute("delete from throttle_events where id = ?", [event])
