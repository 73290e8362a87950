"""The PostgreSQL store's transaction locks (bot/store/pg.py, docs/store.md "Transactions and locks"):
the store's advisory lock, exclusive for a transaction that names no key, shared for one that names
keys, which then takes one exclusive advisory lock per key. Pure: statements, no database.
"""

from __future__ import annotations

STORE_LOCK = "hashtext('aiguillage:' || current_schema())"
# A key's lock: the two-integer form of the advisory locks (a space apart from the store's one-bigint
# lock), the schema's hash and the key's. Two keys of the same hash only share a lock (never wrong).
KEY_LOCK = "pg_advisory_xact_lock(hashtext(current_schema()), hashtext(%s))"


def lock_statement(keys) -> tuple[str, list[str]]:
    """The statement (and its parameters) taking the locks of a transaction on `keys` (see the module
    docstring): the store's lock exclusive when there is no key, else shared and each key's, sorted
    (so that two transactions wanting the same keys never wait for each other in a cycle)."""
    names = sorted({str(k) for k in keys or ()})
    if not names:
        return f"select pg_advisory_xact_lock({STORE_LOCK})", []
    return f"select pg_advisory_xact_lock_shared({STORE_LOCK}), " + ", ".join(KEY_LOCK for _ in names), names


def lock_key(*parts) -> str:
    """One key from its parts: lock_key('slot', 'mauriac', '2026-07-13T09:30')."""
    return ":".join(str(p) for p in parts)
