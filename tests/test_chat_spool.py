"""Issue 16: chat turns answered while the store could not take their writes survive a kill -9.

When the database answers reads but not writes (a lock held past the busy or lock timeout: a
migration, a console export, a purge; SQLite's file locked by another writer), the chat still
answers the person and writes the turn later, in the background. Those writes (the product's
`turns` row, Rasa's tracker events) are put on local disk first (the chat's spool beside
AIGUILLAGE_DB, as the phone's voicemails: bot/store/spool.py), so a process killed before the
database takes them loses nothing the person saw answered: the next process started on the host
writes them, once. (PostgreSQL stopped altogether: the chat answers 503, nothing acknowledged:
tests/test_cluster.py.) Real servers (`python -m bot serve`) over HTTP, real PostgreSQL and SQLite."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
import urllib.request
import uuid

import psycopg2
import pytest
from conftest import bot_texts, db_rows, launch, stop, until
from store_backends import pg_rows
from store_lock import Lock

MESSAGES = [
    "changement d'adresse sur ma carte grise",
    "je veux refaire mon passeport",
    "quels sont vos horaires",
]


def new_sender() -> str:
    return "s" + uuid.uuid4().hex[:16]


def post(server, sender: str, message: str) -> tuple[int, list[dict]]:
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(
        server.url + "/chat/webhook", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.status, json.loads(answer.read())


def kill_9(server) -> None:
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=10)


def copy_spool(db, to) -> None:
    """The chat's spool as it was (the file and its key): put back later, it stands for a process
    killed after its writes reached the database and before it removed them from the spool."""
    to.mkdir()
    for name in ("chat-spool.db", "chat-spool.key"):
        if db.with_name(f"{db.stem}.{name}").exists():
            shutil.copy(db.with_name(f"{db.stem}.{name}"), to / name)


def restore_spool(db, saved) -> None:
    for name in ("chat-spool.db", "chat-spool.key"):
        if (saved / name).exists():
            shutil.copy(saved / name, db.with_name(f"{db.stem}.{name}"))


def turns_on_pg(url: str, sender: str) -> list[dict]:
    return pg_rows(url, "select text, reply from turns where conversation_id = ? order by id", [sender])


def user_events_on_pg(url: str, sender: str) -> list[str]:
    rows = pg_rows(url, "select data from events where sender_id = ? and type_name = 'user' order by id", [sender])
    return [json.loads(row["data"])["text"] for row in rows]


def shown(answers: list[list[dict]]) -> list[list[str]]:
    """The texts of each answer, as the chat page showed them."""
    return [[m["text"] for m in messages if m.get("text")] for messages in answers]


def replies(turns: list[dict]) -> list[list[str]]:
    """The texts of each turn's answer, as the agents' transcript shows them."""
    return [json.loads(t["reply"])["texts"] for t in turns]


def test_chat_turns_answered_while_postgresql_is_locked_survive_a_kill_9_once_each(postgres, tmp_path):
    url = postgres.schema_url()
    db = tmp_path / "aiguillage.db"  # AIGUILLAGE_DB: the spool's place (the store is on PostgreSQL)
    env = {"DATABASE_URL": url}
    for name in ("first", "second", "third"):
        (tmp_path / name).mkdir()
    sender = new_sender()
    first = launch(tmp_path / "first", db=db, extra_env=env)
    try:
        status, greeting = post(first, sender, "bonjour")
        assert status == 200
        # A migration's lock: reads go on, the writes wait past the lock timeout (then later).
        holder = psycopg2.connect(url)
        holder.cursor().execute("lock table events, turns, conversations in exclusive mode")
        try:
            answers = []
            for message in MESSAGES:
                status, messages = post(first, sender, message)
                assert status == 200
                answers.append(messages)
            assert "sites payants" in bot_texts(answers[0])  # answered: the person saw these three answers
            kill_9(first)
            copy_spool(db, tmp_path / "spool-then")
        finally:
            holder.rollback()
            holder.close()
    finally:
        if first.proc.poll() is None:
            kill_9(first)
    assert [t["text"] for t in turns_on_pg(url, sender)] == ["bonjour"]  # the three were not written yet
    assert user_events_on_pg(url, sender) == ["bonjour"]
    # On local disk: each turn's record and each turn's events, encrypted (no text in clear).
    assert spool_entries(tmp_path / "spool-then" / "chat-spool.db") == 6
    assert b"passeport" not in (tmp_path / "spool-then" / "chat-spool.db").read_bytes()

    second = launch(tmp_path / "second", db=db, extra_env=env)  # the next process on the host
    try:
        expected = ["bonjour", *MESSAGES]
        until(lambda: len(turns_on_pg(url, sender)) == 4, 60, "the three answered turns written by the next process")
        until(lambda: len(user_events_on_pg(url, sender)) == 4, 60, "their tracker events written by the next process")
        turns = turns_on_pg(url, sender)
        assert [t["text"] for t in turns] == expected
        assert replies(turns) == shown([greeting, *answers])  # the transcript shows what the person saw
        assert user_events_on_pg(url, sender) == expected
        assert pg_rows(url, "select turns from conversations where id = ?", [sender]) == [{"turns": 4}]
        # The conversation goes on where it was (its state is the tracker's events).
        status, messages = post(second, sender, "merci")
        assert status == 200
    finally:
        stop(second)
    # A process killed after its writes reached the database, before it cleared its spool: the
    # next process finds them stored and writes nothing twice.
    restore_spool(db, tmp_path / "spool-then")
    third = launch(tmp_path / "third", db=db, extra_env=env)
    try:
        until(lambda: spool_entries(tmp_path / "aiguillage.chat-spool.db") == 0, 60, "the spool replayed by the third process")
        assert "left in the spool by a stopped process will be written" in third.log.read_text()
        assert [t["text"] for t in turns_on_pg(url, sender)] == ["bonjour", *MESSAGES, "merci"]
        assert user_events_on_pg(url, sender) == ["bonjour", *MESSAGES, "merci"]
        assert pg_rows(url, "select turns from conversations where id = ?", [sender]) == [{"turns": 5}]
    finally:
        stop(third)


def spool_entries(path) -> int:
    """Entries in a chat spool file (the live one, or a saved copy)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("select count(*) from spool").fetchone()[0]
    finally:
        conn.close()


PERSONAL = "mon numéro est le 06 12 34 56 78, je dois refaire mon passeport"


@pytest.mark.sqlite_only
def test_chat_turns_answered_while_sqlite_is_locked_survive_a_kill_9_masked_on_disk(tmp_path):
    """The default store: another writer holds the SQLite file past the busy timeout; the chat answers,
    the turns and the rating wait on local disk (masked, encrypted), the next process writes them."""
    db = tmp_path / "aiguillage.db"
    spool = tmp_path / "aiguillage.chat-spool.db"
    sender = new_sender()
    first = launch(tmp_path, db=db)
    try:
        status, greeting = post(first, sender, "bonjour")
        assert status == 200
        with Lock(db, 20):  # a console export, a migration: the file's write lock held
            answers = [post(first, sender, message) for message in (MESSAGES[0], PERSONAL)]
            assert [status for status, _ in answers] == [200, 200]
            rated = first.post("/chat/feedback", {"sender": sender, "useful": True, "comment": "Rappelez-moi au 0612345678"})
            assert rated == (200, {"useful": True, "comment": True, "message": "Merci pour votre avis."})
            kill_9(first)
        assert [t["text"] for t in db_rows(db, "select text from turns where conversation_id = ?", [sender])] == ["bonjour"]
        assert db_rows(db, "select useful from feedback where item_id = ?", [sender]) == []
        assert spool_entries(spool) == 5  # two turn records, two saves of Rasa's events, the rating
        on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("aiguillage.chat-spool.db*"))
        assert [form for form in (b"06 12 34 56 78", b"0612345678", b"passeport") if form in on_disk] == []
    finally:
        if first.proc.poll() is None:
            kill_9(first)
    second = launch(tmp_path, db=db)  # the next process on this host
    try:
        sql = "select text, reply from turns where conversation_id = ? order by id"
        turns = until(lambda: (rows := db_rows(db, sql, [sender])) and len(rows) == 3 and rows, 60, "the turns written")
        masked = "mon numéro est le [téléphone], je dois refaire mon passeport"
        assert [t["text"] for t in turns] == ["bonjour", MESSAGES[0], masked]
        assert replies(turns) == shown([greeting, *[messages for _, messages in answers]])
        events = "select data from events where sender_id = ? and type_name = 'user' order by id"
        texts = lambda: [json.loads(r["data"])["text"] for r in db_rows(db, events, [sender])]  # noqa: E731
        until(lambda: len(texts()) == 3, 60, "Rasa's events written")
        assert texts() == ["bonjour", MESSAGES[0], masked]
        until(lambda: spool_entries(spool) == 0, 60, "the spool emptied")
        rating = db_rows(db, "select kind, useful, comment from feedback where item_id = ?", [sender])
        assert rating == [{"kind": "chat", "useful": 1, "comment": "Rappelez-moi au [téléphone]"}]
    finally:
        stop(second)


@pytest.mark.sqlite_only
def test_a_running_sibling_writes_what_a_killed_process_left_in_the_spool_without_a_restart(tmp_path):
    """Two server processes on one host (a cluster's, or `make cluster`'s): one is killed with turns it
    answered still in the spool (SQLite locked by another writer). The other, running all along, takes
    them over at its next sweep (AIGUILLAGE_SPOOL_SWEEP_S) and writes them, once; no process is started."""
    db = tmp_path / "aiguillage.db"
    spool = tmp_path / "aiguillage.chat-spool.db"
    env = {"AIGUILLAGE_SPOOL_SWEEP_S": "1"}
    sender = new_sender()
    first = launch(tmp_path, db=db, extra_env=env)
    sibling = launch(tmp_path, db=db, extra_env=env)
    try:
        assert post(first, sender, "bonjour")[0] == 200
        with Lock(db, 20):
            assert post(first, sender, MESSAGES[0])[0] == 200
            until(lambda: spool_entries(spool) == 2, 30, "the turn and its events in the spool")
            time.sleep(2)  # two sweeps of the sibling while the first process lives: its entries are not taken
            assert spool_entries(spool) == 2
            kill_9(first)
        sql = "select text from turns where conversation_id = ? order by id"
        until(lambda: len(db_rows(db, sql, [sender])) == 2, 30, "the turns written by the sibling")
        assert [t["text"] for t in db_rows(db, sql, [sender])] == ["bonjour", MESSAGES[0]]
        events = "select data from events where sender_id = ? and type_name = 'user' order by id"
        until(lambda: len(db_rows(db, events, [sender])) == 2, 30, "Rasa's events written by the sibling")
        assert [json.loads(r["data"])["text"] for r in db_rows(db, events, [sender])] == ["bonjour", MESSAGES[0]]
        until(lambda: spool_entries(spool) == 0, 30, "the spool emptied")
        assert sibling.proc.poll() is None  # the same process, not a restart
    finally:
        if first.proc.poll() is None:
            kill_9(first)
        stop(sibling)
