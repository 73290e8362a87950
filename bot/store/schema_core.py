"""Migrations 001-003, 010 and 013-017 (applied by bot/store/database.py): conversations and turns, calls
and voicemails, the agents' console, issue 14's one definition of "non résolu" (database.py's
docstring), and the answers corrected by the person.

They run on both backends: `db` is a sqlite-utils Database or a bot.store.pg.PgDatabase (the same
`create` / `create_index` / `add_column` / `execute`).
"""

from __future__ import annotations

import json

import sqlite_utils

from bot.core.tree import SOCIAL_INTENTS


def m001_conversations(db: sqlite_utils.Database) -> None:
    db["conversations"].create(
        {
            "id": str,
            "channel": str,
            "prefecture": str,
            "started_at": str,
            "updated_at": str,
            "turns": int,
            "misses": int,
            "last_topic": str,
            "last_destination": str,
            "status": str,  # open | unresolved
        },
        pk="id",
    )
    db["turns"].create(
        {
            "id": int,
            "conversation_id": str,
            "ts": str,
            "channel": str,
            "text": str,
            "topic": str,
            "confidence": float,
            "destination": str,
            "node": str,
            "action": str,
            "resolved": int,
        },
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    db["turns"].create_index(["conversation_id", "id"])
    db["conversations"].create_index(["status", "updated_at"])


def m002_calls_and_voicemails(db: sqlite_utils.Database) -> None:
    """The phone channel (ivr/): one row per call (its state and record), one per voicemail."""
    db["calls"].create(
        {
            "call_sid": str,
            "prefecture": str,
            "caller": str,  # caller: masked
            "started_at": str,
            "updated_at": str,
            "ended_at": str,
            "state": str,
            "node": str,
            "step": int,
            "retries": int,
            "misses": int,
            "path": str,
            "inputs": str,  # JSON; inputs masked
            "confidence": float,  # NLU confidence of the last speech
            "outcome": str,  # answered | transferred | voicemail | abandoned
            "call_status": str,
            "duration_s": int,
            "unresolved": int,
            "flow": str,  # JSON: the rest of the call state (ivr.flow.CallState)
            "last_twiml": str,  # the last answer, replayed to a duplicated webhook
        },
        pk="call_sid",
    )
    db["calls"].create_index(["unresolved", "started_at"])
    db["voicemails"].create(
        {
            "id": int,
            "call_sid": str,
            "recording_sid": str,
            "mailbox": str,
            "service": str,
            "path": str,
            "caller": str,
            "recording_url": str,
            "duration_s": int,
            "transcription": str,
            "transcription_status": str,
            "created_at": str,
            "updated_at": str,
            "status": str,  # new | transcribed | transcription_failed
        },
        pk="id",
    )
    db["voicemails"].create_index(["recording_sid"], unique=True)
    db["voicemails"].create_index(["mailbox", "created_at"])


def m003_console(db: sqlite_utils.Database) -> None:
    """The agent console (bot/console/): accounts, sessions, reviews of unresolved items, audit log."""
    db["agents"].create(
        {
            "id": int,
            "name": str,
            "role": str,  # agent | admin
            "password_hash": str,
            "active": int,
            "created_at": str,
            "last_login_at": str,
        },
        pk="id",
    )
    db["agents"].create_index(["name"], unique=True)
    db["sessions"].create(
        {
            "token_hash": str,  # sha256 of the cookie's token: the token itself is never stored
            "agent_id": int,
            "csrf": str,
            "created_ts": float,
            "seen_ts": float,
        },
        pk="token_hash",
    )
    db["reviews"].create(
        {
            "kind": str,  # chat | phone
            "item_id": str,
            "status": str,  # in_review | done ("new" = no row)
            "topic": str,
            "example": str,
            "as_training": int,
            "note": str,
            "reviewer": str,
            "updated_at": str,
        },
        pk=("kind", "item_id"),
    )
    db["reviews"].create_index(["as_training", "topic"])
    db["audit_log"].create(
        {"id": int, "ts": str, "agent": str, "action": str, "kind": str, "item_id": str, "detail": str},
        pk="id",
    )
    db["audit_log"].create_index(["ts"])


def m010_unresolved_by_last_turn(db: sqlite_utils.Database) -> None:
    """Issue 14: rows written before the one definition of "non résolu" and of the destination given.
    A clarifying question sent nowhere (it stored the guessed topic's destination); a fallback sent to
    a person, the `human` node (it stored `other` or the guess); a conversation's status follows its
    last turn (it stayed 'unresolved' after a later answer, and 'open' after a last clarification)."""
    # What the person saw in answer to each turn (text, buttons, links), for the console's transcript.
    db["turns"].add_column("reply", str)
    db.execute("update turns set destination = null where action = 'clarify'")
    db.execute("update turns set destination = 'human' where action = 'fallback' and node = 'human'")
    status_by_last_turn(db)


def m013_small_talk_leaves_the_status(db: sqlite_utils.Database) -> None:
    """ "ok", "non" and "êtes-vous un robot ?" became politeness (SOCIAL_INTENTS) on 2026-12-04: after a
    clarifying question they had counted the conversation as resolved. Each status again, by its last
    turn that is not politeness (the same statement as m010's)."""
    status_by_last_turn(db)


def m014_turns_by_date(db: sqlite_utils.Database) -> None:
    """The purge deletes each turn at its own date (bot/services/retention.purge_old_turns): found by an
    index, not by reading every turn while it holds the SQLite file's write lock."""
    db["turns"].create_index(["ts"], if_not_exists=True)


def m015_turns_corrects(db: sqlite_utils.Database) -> None:
    """A topic the person chose among an answer's alternatives names the turn whose answer it corrects
    (`turns.corrects`: that turn's id; actions/actions.py `instead_of`), and a call by key (`calls.corrected`):
    the console lists those (`?avis=corrige`) and the indicators count them, by an index of the few."""
    db["turns"].add_column("corrects", int)
    db["turns"].create_index(["corrects"], if_not_exists=True)
    # A call's: 1 once the caller chose a topic by key among an answer's alternatives (ivr/flow.py)
    db["calls"].add_column("corrected", int)
    db["calls"].create_index(["corrected"], if_not_exists=True)


def m016_calls_spoken_answer(db: sqlite_utils.Database) -> None:
    """A call whose words got an answer (`calls.spoken_answer` = 1; its input marked `answered`, ivr/flow.py):
    the base of the share the callers corrected, as the chat's answers to a person's words are. A call
    written before has none (NULL): its corrections could not be kept either (migration 015, the same day)."""
    db["calls"].add_column("spoken_answer", int)


def m017_calls_corrected_topic(db: sqlite_utils.Database) -> None:
    """The topic a call's words were answered before the caller corrected it by key (`calls.corrected_topic`,
    the last correction's; ivr/calls.py): the view of the corrections filters calls by it, as it shows it.
    A call corrected before gets it from its inputs (the few with `corrected`)."""
    db["calls"].add_column("corrected_topic", str)
    for row in list(db.query("select call_sid, inputs from calls where corrected > 0")):
        try:
            inputs = json.loads(row["inputs"] or "[]")
        except json.JSONDecodeError:
            continue
        answered = (
            [i["corrects"] for i in inputs if isinstance(i, dict) and i.get("corrects")] if isinstance(inputs, list) else []
        )
        if answered:
            db["calls"].update(row["call_sid"], {"corrected_topic": answered[-1]})


def status_by_last_turn(db: sqlite_utils.Database) -> None:
    """Every conversation's status, last topic and last destination from its last turn that is not
    politeness (bot.core.tree.SOCIAL_INTENTS; bot/store/database.py's one definition of "non résolu")."""
    social = ", ".join(f"'{intent}'" for intent in SOCIAL_INTENTS)
    last = (
        "(select t.{col} from turns t where t.conversation_id = conversations.id"
        f" and not (t.resolved = 1 and coalesce(t.topic, '') in ({social})) order by t.id desc limit 1)"
    )
    db.execute(
        f"update conversations set status = case coalesce({last.format(col='resolved')}, 1) when 0 then 'unresolved'"
        f" else 'open' end, last_topic = coalesce({last.format(col='topic')}, last_topic),"
        f" last_destination = {last.format(col='destination')}"
        " where exists (select 1 from turns t where t.conversation_id = conversations.id)"
    )
