"""A message's history (table `ticket_events`, migration 006): its events appended inside the
writer's transaction, read back with the state of each reply's e-mail; what a reply checks (sent
already under its idempotency key, answered since the agent's page was drawn); the voicemail a phone
message was made from; the lock keys of a ticket's changes. Part of bot/services/tickets.py, which re-exports them: import from there.
"""

from __future__ import annotations

import json

from bot.services import mailer
from bot.store.database import lock_key

EVENT_KINDS = ("created", "reply", "reassigned", "answered", "reopened")


def creation_lock(idempotency_key: str) -> str:
    """The lock key of a ticket's creation: its idempotency key (read before the insert)."""
    return lock_key("ticket", idempotency_key)


def ticket_lock(reference: str) -> str:
    """The lock key of one ticket's changes (an agent's action, its e-mail, its audit line): on
    PostgreSQL they wait only for the same ticket's (docs/store.md)."""
    return lock_key("ticket_ref", reference.upper())


def add_event(
    conn,
    ticket_id: int,
    kind: str,
    *,
    agent: str | None = None,
    body: str | None = None,
    detail: dict | None = None,
    outbox_id: int | None = None,
    ts: str | None = None,
) -> int:
    """Append one event to a ticket's history (inside the caller's transaction)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown ticket event: {kind}")
    cur = conn.execute(
        "insert into ticket_events (ticket_id, ts, kind, agent, body, detail, outbox_id) values (?, ?, ?, ?, ?, ?, ?)",
        [ticket_id, ts or mailer.utcnow(), kind, agent, body, json.dumps(detail or {}, ensure_ascii=False), outbox_id],
    )
    return cur.lastrowid


def history(store, ticket_id: int) -> list[dict]:
    """The ticket's events, oldest first; a reply carries the state of its e-mail (`delivery`)."""
    rows = list(
        store.db.query(
            "select e.id, e.ts, e.kind, e.agent, e.body, e.detail, e.outbox_id, o.status as delivery,"
            " o.last_error from ticket_events e left join outbox o on o.id = e.outbox_id"
            " where e.ticket_id = ? order by e.id",
            [ticket_id],
        )
    )
    for row in rows:
        try:
            row["detail"] = json.loads(row["detail"] or "{}")
        except json.JSONDecodeError:
            row["detail"] = {}
    return rows


def last_answer(store, ticket_id: int) -> int:
    """The id of the ticket's latest answer (a reply sent, an answer noted), 0 without one: what a
    page showed as answered when it was drawn (the reply form's `vu`)."""
    row = store.db.execute(
        "select max(id) from ticket_events where ticket_id = ? and kind in ('reply', 'answered')", [ticket_id]
    ).fetchone()
    return int(row[0] or 0)


def answers_since(store, ticket_id: int, seen: int) -> list[dict]:
    """The answers given after the event `seen` (last_answer when the agent's page was drawn)."""
    return [e for e in history(store, ticket_id) if e["kind"] in ("reply", "answered") and e["id"] > seen]


def replayed(store, ticket_id: int, key: str, text: str) -> bool:
    """Whether the reply of idempotency key `key` and text `text` was already sent (a double submission)."""
    return any(e["kind"] == "reply" and e["detail"].get("idem") == key and e["body"] == text for e in history(store, ticket_id))


def voicemail(store, ticket: dict) -> dict | None:
    """The voicemail a phone ticket was made from (recording link, Twilio's transcription), if any."""
    key = ticket.get("idempotency_key") or ""
    if not key.startswith("voicemail:") or "voicemails" not in store.db.table_names():
        return None
    return next(
        store.db.query(
            "select recording_url, duration_s, transcription, transcription_status from voicemails where recording_sid = ?",
            [key.split(":", 1)[1]],
        ),
        None,
    )
