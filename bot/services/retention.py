"""Retention (issue 13 §7): what is kept, how long, and the purge that deletes the rest.

One period per kind of record, in days, in the préfecture file (`retention:` in
prefectures/_national.yml, overridable per préfecture; tickets and bookings keep their own
`tickets.retention_days` and `pan.retention_days`). `purge` deletes every record older than its
period (Rasa's `events` in the same SQLite file included, or in PostgreSQL when DATABASE_URL puts
Rasa's tracker store there); with dry_run it only counts. It runs by hand (`python -m bot purge [--dry-run]`) and once a day in the server
(`daily`, started by bot/web/chat.py).

It never holds the whole store (issue 16): records of one row (calls, voicemails, ratings, audit
lines, sessions, throttle events, Rasa's events, turns of conversations still kept) go in statements
atomic alone, each deleting at most `retention.rows_per_statement` rows and re-checking its cut-off on
the rows it deletes, with `retention.pause_ms` between two (in_batches: the write lock is held for a
batch, never for a whole table); a lockout, a call's review once its call is gone, in one statement; a conversation, its turns and its review (an agent's topic, sentence and note) go together, BATCH conversations per transaction under their keys (`conversation:ID`, the turn
writer's), the cut-off checked again under them, so a turn written meanwhile keeps its conversation
whole; a turn of a conversation still kept goes at its own date (purge_old_turns). Tickets and bookings: tickets.purge, per batch under their keys too. On PostgreSQL nothing
of it waits for a chat turn, a call or an agent working on another record.

The sentences agents taught are also copied outside the store (the review files, the set kept to
measure): the server and the command pass `taught` (bot/nlu/review_forget.py forget_taught, a layer
above this one), which keeps in them only the sentences of the reviews left. It runs last, and a
failure of it is logged without stopping the purge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time as _time
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from bot import settings
from bot.core.config import Prefecture
from bot.services import tickets
from bot.store.database import lock_key

logger = logging.getLogger(__name__)

# (kind, préfecture key, [(table, its key, where clause on the cut-off ISO stamp "?" or epoch seconds "?e")]).
# Records of one row each; conversations (with their turns and reviews) are purge_conversations', a
# call's review goes after its call (_purge_reviews), ticket events go with their tickets (tickets.purge).
RULES: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    (
        "conversations",
        "retention.conversations_days",
        [("events", "id", "timestamp < ?e")],  # Rasa's tracker store: one row per event, epoch seconds
    ),
    ("calls", "retention.calls_days", [("calls", "call_sid", "coalesce(ended_at, updated_at, started_at) < ?")]),
    ("voicemails", "retention.voicemails_days", [("voicemails", "id", "coalesce(updated_at, created_at) < ?")]),
    ("feedback", "retention.feedback_days", [("feedback", "id", "coalesce(updated_at, created_at) < ?")]),
    ("audit_log", "retention.audit_log_days", [("audit_log", "id", "ts < ?")]),
    ("sessions", "retention.sessions_days", [("sessions", "token_hash", "coalesce(seen_ts, created_ts) < ?e")]),
    # Throttling counters (keyed hashes of client addresses and typed login names); a lockout of a name that
    # is no account goes too (`_purge_lockouts`), an account's stays until an admin lifts it.
    ("throttle", "retention.throttle_days", [("throttle_events", "id", "ts < ?e")]),
]
# The copies of the taught sentences outside the store (bot/nlu/review_forget.py forget_taught, above this
# layer): given the store, a reader of the sentences of the reviews left and dry_run, how many it took out.
Taught = Callable[[object, Callable[[], list[str]], bool], int]
CONVERSATION_CUT = "coalesce(updated_at, started_at) < ?"
BATCH = 100  # conversations (tickets, bookings) per transaction, each with its key
PURGE_HOUR = 3  # Paris time: the quietest hour of both channels


def periods(pref: Prefecture) -> dict[str, int]:
    """Days kept, per kind of record (tickets and bookings included)."""
    out = {kind: int(pref.get(key)) for kind, key, _ in RULES}
    out["tickets"] = int(pref.get("tickets.retention_days"))
    out["bookings"] = int(pref.get("pan.retention_days"))
    return out


def _tables(conn) -> set[str]:
    return {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}


def in_batches(store, table: str, key: str, where: str, args: list, pref: Prefecture) -> int:
    """Delete the rows of `table` that `where` finds, `retention.rows_per_statement` at a time, each
    statement atomic alone (committed before the next), with `retention.pause_ms` between two: the
    store's write lock is held for one batch, never for a whole table (a year of Rasa's events was one
    statement holding it 17 s: the console's writes and the public's bookings and messages were refused
    meanwhile, docs/store.md), and another writer gets it between two. The rows deleted."""
    conn = store.db.conn
    size, pause = int(pref.get("retention.rows_per_statement")), int(pref.get("retention.pause_ms")) / 1000
    sql = f"delete from {table} where ({key}) in (select {key} from {table} where {where} limit ?)"
    total = 0
    while True:
        done = conn.execute(sql, [*args, size]).rowcount
        total += done
        if done < size:
            return total
        _time.sleep(pause)


def _count_tickets(conn, pref: Prefecture, now_utc: datetime) -> dict[str, int]:
    """What tickets.purge would erase (dry run)."""
    from bot.core.clock import naive

    t_cut = (now_utc - timedelta(days=int(pref.get("tickets.retention_days")))).isoformat(timespec="milliseconds")
    b_cut = (naive(now_utc) - timedelta(days=int(pref.get("pan.retention_days")))).strftime("%Y-%m-%dT%H:%M")
    t = conn.execute("select count(*) from tickets where created_at < ? and purged_at is null", [t_cut]).fetchone()[0]
    b = conn.execute("select count(*) from pan_bookings where slot_start < ? and purged_at is null", [b_cut]).fetchone()[0]
    o = conn.execute(  # the e-mails of the records erased now or before (tickets.purge's LEFT_BEHIND)
        "select count(*) from outbox o where (o.ticket_id is not null and not exists (select 1 from tickets t"
        " where t.id = o.ticket_id and t.purged_at is null and t.created_at >= ?)) or (o.booking_id is not null"
        " and not exists (select 1 from pan_bookings b where b.id = o.booking_id and b.purged_at is null"
        " and b.slot_start >= ?))",
        [t_cut, b_cut],
    ).fetchone()[0]
    return {"tickets": t, "bookings": b, "outbox": o}


def _purge_lockouts(store, pref: Prefecture, now_utc: datetime, dry_run: bool) -> int:
    """Lockouts older than retention.throttle_days of names that are no console account."""
    from bot.services import throttle

    conn = store.db.conn
    if "login_lockouts" not in _tables(conn):
        return 0
    cut = (now_utc - timedelta(days=int(pref.get("retention.throttle_days")))).isoformat(timespec="milliseconds")
    names = [r[0] for r in conn.execute("select name from agents")] if "agents" in _tables(conn) else []
    keep = [throttle.name_key(store, n) for n in names]
    marks = ",".join("?" * len(keep)) or "null"
    where = f"locked_at < ? and key not in ({marks})"
    if dry_run:
        return conn.execute(f"select count(*) from login_lockouts where {where}", [cut, *keep]).fetchone()[0]
    # One statement, atomic alone (no store-wide transaction): a lockout written meanwhile is newer.
    return conn.execute(f"delete from login_lockouts where {where}", [cut, *keep]).rowcount


def _purge_reviews(store, pref: Prefecture, now_utc: datetime, dry_run: bool) -> int:
    """The agents' reviews (topic, sentence, note) of items no longer kept: a call's once the call is
    purged (a conversation's go with it, purge_conversations), and any left without its item. One
    statement, atomic alone: a review written meanwhile for a purged item goes the next day."""
    conn = store.db.conn
    if dry_run:  # the reviews whose item would not be left
        kept_chats, kept_calls, chat_cut, call_cut = _items_left(pref, now_utc)
        where = f"(kind = 'chat' and item_id not in ({kept_chats})) or (kind = 'phone' and item_id not in ({kept_calls}))"
        return conn.execute(f"select count(*) from reviews where {where}", [chat_cut, call_cut]).fetchone()[0]
    return conn.execute(
        "delete from reviews where (kind = 'chat' and item_id not in (select id from conversations))"
        " or (kind = 'phone' and item_id not in (select call_sid from calls))"
    ).rowcount


def _items_left(pref: Prefecture, now_utc: datetime) -> tuple[str, str, str, str]:
    """What a purge at `now_utc` leaves (dry runs): (the conversations kept, the calls kept: two selects of
    ids, each with one "?" for its cut-off; the conversations' cut-off, the calls')."""
    chat_cut = (now_utc - timedelta(days=int(pref.get("retention.conversations_days")))).isoformat(timespec="milliseconds")
    call_cut = (now_utc - timedelta(days=int(pref.get("retention.calls_days")))).isoformat(timespec="milliseconds")
    kept_chats = f"select id from conversations where not ({CONVERSATION_CUT})"
    kept_calls = "select call_sid from calls where not (coalesce(ended_at, updated_at, started_at) < ?)"
    return kept_chats, kept_calls, chat_cut, call_cut


def _reviewed_sentences(conn, pref: Prefecture, now_utc: datetime, dry_run: bool) -> list[str]:
    """The sentences of the reviews left once the purge is done: those stored, or (dry_run) those whose
    conversation or call is kept and, for a chat, saved within the period (purge_old_turns)."""
    if not dry_run:
        return [r[0] for r in conn.execute("select example from reviews where example is not null")]
    kept_chats, kept_calls, chat_cut, call_cut = _items_left(pref, now_utc)
    where = (
        f"(kind = 'chat' and item_id in ({kept_chats}) and not (updated_at < ?))"
        f" or (kind = 'phone' and item_id in ({kept_calls}))"
    )
    return [
        r[0]
        for r in conn.execute(
            f"select example from reviews where example is not null and ({where})", [chat_cut, chat_cut, call_cut]
        )
    ]


def purge_conversations(store, cut: str, dry_run: bool = False) -> dict[str, int]:
    """The conversations last written before `cut`, their turns and their reviews: {turns,
    conversations, reviews}. BATCH per transaction under their keys, the cut-off read again under them
    (module docstring)."""
    conn = store.db.conn
    if dry_run:
        within = f"conversation_id in (select id from conversations where {CONVERSATION_CUT})"
        return {
            "turns": conn.execute(f"select count(*) from turns where {within}", [cut]).fetchone()[0],
            "conversations": conn.execute(f"select count(*) from conversations where {CONVERSATION_CUT}", [cut]).fetchone()[0],
        }
    counts = {"turns": 0, "conversations": 0, "reviews": 0}
    # Read once (one scan of the table, not one per batch), then BATCH at a time.
    found = [r[0] for r in conn.execute(f"select id from conversations where {CONVERSATION_CUT} order by id", [cut])]
    for start in range(0, len(found), BATCH):
        ids = found[start : start + BATCH]
        marks = ",".join("?" * len(ids))
        with store.transaction(*(lock_key("conversation", i) for i in ids)):
            old = [
                r[0]
                for r in conn.execute(f"select id from conversations where id in ({marks}) and {CONVERSATION_CUT}", [*ids, cut])
            ]
            if old:
                marks = ",".join("?" * len(old))
                counts["turns"] += conn.execute(f"delete from turns where conversation_id in ({marks})", old).rowcount
                counts["reviews"] += conn.execute(
                    f"delete from reviews where kind = 'chat' and item_id in ({marks})", old
                ).rowcount
                counts["conversations"] += conn.execute(f"delete from conversations where id in ({marks})", old).rowcount
    return counts


def purge_old_turns(store, cut: str, pref: Prefecture, dry_run: bool = False) -> dict[str, int]:
    """The turns written before `cut` in conversations still kept, and the chat reviews saved before it:
    {turns, reviews}. The page keeps its sender id in the browser, so one new message within the period
    kept every earlier turn (and the agent's review of them) for as long as the visitor came back. Each
    goes at its own date (statements atomic alone, a batch each: in_batches; a turn being written now is newer)."""
    conn = store.db.conn
    where = {"turns": "ts < ?", "reviews": "kind = 'chat' and updated_at < ?"}
    if dry_run:  # those of the conversations kept (purge_conversations counts the others')
        kept = f"select id from conversations where not ({CONVERSATION_CUT})"
        column = {"turns": "conversation_id", "reviews": "item_id"}
        return {
            t: conn.execute(f"select count(*) from {t} where {w} and {column[t]} in ({kept})", [cut, cut]).fetchone()[0]
            for t, w in where.items()
        }
    keys = {"turns": "id", "reviews": "kind, item_id"}
    return {t: in_batches(store, t, keys[t], w, [cut], pref) for t, w in where.items()}


def _purge_tracker_events(url: str, cut_epoch: float, dry_run: bool, pref: Prefecture) -> int:
    """Rasa's `events` older than the cut-off in the tracker store's own database (DATABASE_URL), a
    batch per transaction (in_batches)."""
    import sqlalchemy as sa

    size, pause = int(pref.get("retention.rows_per_statement")), int(pref.get("retention.pause_ms")) / 1000
    batch = sa.text("delete from events where id in (select id from events where timestamp < :cut limit :size)")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            if not sa.inspect(conn).has_table("events"):
                return 0
            if dry_run:
                return conn.execute(sa.text("select count(*) from events where timestamp < :cut"), {"cut": cut_epoch}).scalar()
        total = 0
        while True:
            with engine.begin() as conn:
                done = conn.execute(batch, {"cut": cut_epoch, "size": size}).rowcount
            total += done
            if done < size:
                return total
            _time.sleep(pause)
    finally:
        engine.dispose()


def purge(
    store, pref: Prefecture, now: datetime | None = None, dry_run: bool = False, taught: Taught | None = None
) -> dict[str, int]:
    """Delete (or, dry_run, count) the records older than their period: {table: rows}. `taught` (the
    server's and the command's: bot/nlu/review_forget.py `forget_taught`) takes the sentences of the
    reviews erased out of their copies outside the store: {"taught_sentences": how many}."""
    now_utc = now.astimezone(UTC) if now and now.tzinfo else (now.replace(tzinfo=UTC) if now else datetime.now(UTC))
    conn = store.db.conn
    present = _tables(conn)
    cut = now_utc - timedelta(days=int(pref.get("retention.conversations_days")))
    counts: dict[str, int] = purge_conversations(store, cut.isoformat(timespec="milliseconds"), dry_run)
    for table, n in purge_old_turns(store, cut.isoformat(timespec="milliseconds"), pref, dry_run).items():
        counts[table] = counts.get(table, 0) + n
    for _kind, key, targets in RULES:
        cut = now_utc - timedelta(days=int(pref.get(key)))
        for table, row_key, where in targets:
            if table not in present:
                continue  # Rasa's events exist only once Rasa has written a tracker
            arg = cut.timestamp() if where.endswith("?e") else cut.isoformat(timespec="milliseconds")
            clause = where.replace("?e", "?")
            # Records of one row: statements atomic alone, a batch each (module docstring).
            if dry_run:
                counts[table] = conn.execute(f"select count(*) from {table} where {clause}", [arg]).fetchone()[0]
            else:
                counts[table] = in_batches(store, table, row_key, clause, [arg], pref)
    tracker_url = settings.database_url()
    if tracker_url is not None and tracker_url != store.path:  # Rasa's events in PostgreSQL, not in this store
        cut = now_utc - timedelta(days=int(pref.get("retention.conversations_days")))
        counts["events"] = counts.get("events", 0) + _purge_tracker_events(tracker_url, cut.timestamp(), dry_run, pref)
    counts["reviews"] = counts.get("reviews", 0) + _purge_reviews(store, pref, now_utc, dry_run)
    counts["login_lockouts"] = _purge_lockouts(store, pref, now_utc, dry_run)
    if dry_run:
        counts |= _count_tickets(conn, pref, now_utc)
    else:
        counts |= tickets.purge(store, pref, now_utc)
    if taught is not None:
        try:
            counts["taught_sentences"] = taught(store, lambda: _reviewed_sentences(conn, pref, now_utc, dry_run), dry_run)
        except Exception:  # the store's records are erased whatever happens to the files
            logger.exception("retention: the copies of the taught sentences were not all rewritten")
    if not dry_run:
        _audit(conn, counts, now_utc)
    return counts


PURGE_AGENT = "(purge automatique)"  # no account can have this name (bot/services/accounts.py NAME_RE)


def _audit(conn, counts: dict[str, int], now_utc: datetime) -> None:
    """One line of the audit log when records were erased: how many, of which kind, dated at the
    purge's time. Nothing else: what was erased is gone."""
    erased = {k: v for k, v in counts.items() if v}
    if not erased:
        return
    # {table: rows}: the admin page says each table in French (console_texts.yml audit_values)
    detail = {"records": sum(erased.values()), "tables": dict(sorted(erased.items()))}
    conn.execute(
        "insert into audit_log (ts, agent, action, kind, item_id, detail) values (?, ?, ?, ?, ?, ?)",
        [now_utc.isoformat(timespec="milliseconds"), PURGE_AGENT, "retention_purge", None, None, json.dumps(detail)],
    )


def seconds_until(hour: int, now: datetime | None = None) -> float:
    """Seconds from now to the next `hour`:00, Paris time: counted in UTC, so that the night of a
    summer-time change (an hour shorter or longer) still ends at `hour`:00 (two aware times of one
    zone subtract as wall-clock times)."""
    from bot.core.clock import PARIS

    here = (now or datetime.now(UTC)).astimezone(UTC)
    day = here.astimezone(PARIS).date()
    for nxt in (datetime.combine(day + timedelta(days=n), time(hour), tzinfo=PARIS).astimezone(UTC) for n in (0, 1)):
        if nxt > here:
            return (nxt - here).total_seconds()
    raise AssertionError("unreachable: tomorrow's hour is ahead")


async def daily(
    db_path,
    pref: Prefecture,
    first_in_s: float | None = None,
    every_s: float | None = None,
    runs: int | None = None,
    taught: Taught | None = None,
) -> None:
    """The server's purge: at PURGE_HOUR (Paris) every day, the wait counted again after each run (24
    hours apart would move it an hour at each summer-time change), in a worker thread on its own
    connection (never on the event loop). `first_in_s`, `every_s` and `runs` are for tests."""
    from bot.store.database import Store

    def once() -> dict[str, int]:
        store = Store(db_path)
        try:
            return purge(store, pref, taught=taught)
        finally:
            store.close()

    await asyncio.sleep(seconds_until(PURGE_HOUR) if first_in_s is None else first_in_s)
    done = 0
    while runs is None or done < runs:
        try:
            counts = await asyncio.to_thread(once)
            logger.info("retention: purged %s", {k: v for k, v in counts.items() if v})
        except Exception:  # a locked store, a missing table: try again tomorrow, never stop the server
            logger.exception("retention: the purge failed")
        done += 1
        if runs is None or done < runs:
            await asyncio.sleep(seconds_until(PURGE_HOUR) if every_s is None else every_s)
