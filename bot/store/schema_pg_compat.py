"""Migration 011 (PostgreSQL only; nothing to do on SQLite): SQLite's behaviours the queries rely on.

- `sum(boolean)`: SQLite's comparisons are integers, so `sum(f.useful = 1)` counts the rows where it
  holds; PostgreSQL's are booleans, which its own `sum` refuses. This aggregate counts the true ones
  (NULL over no rows, like SQLite's), so the indicators' queries run as written.
"""

from __future__ import annotations


def m011_pgstore_sqlite_compat(db) -> None:
    if not hasattr(db, "pool"):  # SQLite: the behaviours are its own
        return
    db.execute(
        "create or replace function aiguillage_count_true(state bigint, value boolean) returns bigint"
        " language sql immutable as"
        " $$ select case when value is null then state else coalesce(state, 0) + value::int end $$"
    )
    db.execute("create or replace aggregate sum(boolean) (sfunc = aiguillage_count_true, stype = bigint)")
