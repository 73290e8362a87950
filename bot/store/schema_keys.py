"""Migration 007: the store's own secret keys (one row per purpose), made on first use.

A key kept in the store is shared by every server process that opens it, and is never written
anywhere else (not in logs, not in exports). Purge a deployment's store and its keys go with it.
"""

from __future__ import annotations

import sqlite_utils


def m007_keys(db: sqlite_utils.Database) -> None:
    db["secret_keys"].create({"name": str, "value": bytes, "created_at": str}, pk="name")
