"""The retention purge of a large store holds the write lock a batch at a time (SQLite). Found by an
outside-in audit on a year of a large préfecture (150,000 conversations, 4 million of Rasa's events,
2026-12-04): `python -m bot purge` deleted the year's events past their period in one statement, which
held the store's write lock 16 to 18 s; meanwhile every writer that waits 250 ms (the agents' console,
the phone, the chat's turn writer) was refused or put off. Now each statement deletes at most
`retention.rows_per_statement` rows, found by a range of the events' time index, with
`retention.pause_ms` between two."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ROOT, db_rows, launch, stop
from test_console import AGENT, CSRF_RE, Console, cli

from bot.core import config
from bot.services import retention
from bot.store.database import Store

pytestmark = pytest.mark.reliability

OLD_EVENTS = 400_000  # a few seconds of one delete statement on this machine; far more than a batch
RASA_EVENTS = (
    "create table events (id integer not null, sender_id varchar(255) not null, type_name varchar(255) not null,"
    " timestamp float, intent_name varchar(255), action_name varchar(255), data text, primary key (id))"
)


def old_events(conn: sqlite3.Connection, n: int, epoch: float) -> None:
    """`n` of Rasa's events of one conversation each 10 (about 300 bytes of data each), from `epoch` on."""
    conn.execute(
        "insert into events (sender_id, type_name, timestamp, data) select 'old-' || (i / 10), 'user', ? + i,"
        " hex(zeroblob(150)) from (with recursive s(i) as (select 1 union all select i + 1 from s where i < ?)"
        " select i from s)",
        [epoch, n],
    )


def test_rasas_events_go_in_statements_of_at_most_rows_per_statement(tmp_path):
    """35 events past their period and 5 within it, 10 a statement: four deletes (10, 10, 10, 5), each
    taking the lock alone; the recent ones stay."""
    db = tmp_path / "store.db"
    store = Store(db)
    store.db.execute(RASA_EVENTS)
    now = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    old_events(store.db.conn, 35, (now - timedelta(days=400)).timestamp())
    old_events(store.db.conn, 5, now.timestamp() - 3600)
    national = config.load_prefecture("cantal")
    batches = national.data["retention"] | {"rows_per_statement": 10, "pause_ms": 0}
    pref = config.Prefecture(national.id, national.data | {"retention": batches}, national.file)
    deletes = []
    store.db.conn.set_trace_callback(lambda sql: deletes.append(sql) if sql.startswith("delete from events") else None)
    assert retention.purge(store, pref, now=now)["events"] == 35
    assert len(deletes) == 4
    assert store.db.execute("select count(*) from events").fetchone()[0] == 5
    store.close()


@pytest.fixture(scope="module")
def crowded(tmp_path_factory, python):
    """A store whose events table (made before the server, as by an earlier version) holds OLD_EVENTS
    events past their period, one unresolved conversation to review, and a server on it."""
    tmp = tmp_path_factory.mktemp("purge-batches")
    db = tmp / "aiguillage.db"
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute(RASA_EVENTS)
    conn.execute("create index ix_events_sender_id on events (sender_id)")
    old_events(conn, OLD_EVENTS, datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="milliseconds")  # kept by the purge
    conn.execute(
        "insert into conversations (id, channel, prefecture, started_at, updated_at, turns, misses, last_topic,"
        " status) values ('purge-review', 'web', 'cantal', ?, ?, 1, 1, 'hors_perimetre', 'unresolved')",
        [yesterday, yesterday],
    )
    conn.execute(
        "insert into turns (conversation_id, ts, channel, text, topic, confidence, action, resolved)"
        " values ('purge-review', ?, 'web', 'une question sans réponse', 'hors_perimetre', 0.3, 'clarify', 0)",
        [yesterday],
    )
    conn.commit()
    conn.close()
    running = launch(tmp, db=db)
    done = cli(python, db, "agents", "add", AGENT[0], "--role", "agent", "--password-stdin", stdin=AGENT[1] + "\n")
    assert done.returncode == 0, done.stderr
    yield running
    stop(running)


def test_the_batch_of_events_is_found_by_their_time_index_made_at_the_servers_start(crowded):
    """The server's tracker store adds the time index to an events table made before it; the statement
    the purge runs reads a range of it, not the whole table (EXPLAIN QUERY PLAN of that statement)."""
    store = Store(crowded.db)
    ran = []
    store.db.conn.set_trace_callback(lambda sql: ran.append(sql) if sql.startswith("delete from events") else None)
    retention.in_batches(store, "events", "id", "timestamp < ?", [0.0], config.load_prefecture("cantal"))
    store.db.conn.set_trace_callback(None)
    assert ran, "no delete of events"
    statement = ran[0].replace("0.0", "?").replace("limit 5000", "limit ?")
    plan = " | ".join(row[3] for row in store.db.execute("explain query plan " + statement, [0.0, 5000]).fetchall())
    store.close()
    assert "USING COVERING INDEX ix_events_timestamp (timestamp<?)" in plan, plan
    assert "SCAN events" not in plan, plan


def test_an_agents_review_is_saved_while_the_purge_deletes_a_year_of_events(crowded, python):
    """While `python -m bot purge` deletes OLD_EVENTS events past their period, an agent saves the review
    of an item again and again: each save is answered 303 (saved), none « base occupée » (503: the
    console waits 250 ms for the lock, and one statement held it for the whole table)."""
    agent = Console(crowded.url)
    assert agent.login(*AGENT).status_code == 303
    page = agent.get("/element/chat/purge-review")
    assert page.status_code == 200
    csrf = CSRF_RE.search(page.text).group(1)
    statuses: list[int] = []
    stop_saving = threading.Event()

    def save() -> None:
        while not stop_saving.is_set():
            form = {"csrf": csrf, "theme": "carte_grise", "statut": "in_review", "note": ""}
            statuses.append(agent.post("/element/chat/purge-review", form).status_code)
            time.sleep(0.05)

    saver = threading.Thread(target=save)
    saver.start()
    try:
        purge = subprocess.run(
            [python, "-m", "bot", "purge"],
            cwd=ROOT,
            env=cli_env(crowded.db),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        stop_saving.set()
        saver.join()
    assert purge.returncode == 0, purge.stderr
    assert '"events": %d' % OLD_EVENTS in purge.stdout
    assert db_rows(crowded.db, "select count(*) as n from events where timestamp < 1800000000")[0]["n"] == 0
    assert len(statuses) >= 10
    assert set(statuses) == {303}, statuses


def cli_env(db) -> dict:
    import os

    return dict(os.environ, AIGUILLAGE_DB=str(db), PREFECTURE="cantal")
