"""Rasa's tracker store on a real PostgreSQL (bot/nlu/tracker_store.py, docs/store.md): the events of
a turn are stored once when the acknowledgement of their INSERT is lost after the commit.

The INSERT is autocommitted; when its connection is cut, the store tries it once more at once (the
cut may be a restart that killed an idle pooled connection: nothing was written) and, if that fails
too, in the background. But a connection cut after the commit (a failover, a network cut while the
answer travels) leaves the rows written and the client told "connection closed".

How the tests lose the acknowledgement after the commit, deterministically: `synchronous_standby_names`
names a standby that does not exist, so PostgreSQL commits locally and then waits for it (wait event
`SyncRep`) before answering; `pg_terminate_backend` then ends that connection ("The transaction has
already committed locally"); the client reads a closed connection, as after a cut. Resetting the
setting releases any commit still waiting.
"""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg2
import pytest
from test_tracker_store import DOMAIN, Clock, run, session_start, turn

from bot.nlu.tracker_store import WindowSQLTrackerStore

FIRST = ["action", "session_started", "slot", "action", "user", "action", "bot", "slot", "action"]
SECOND = ["user", "action", "bot", "slot", "action"]


class SyncRep:
    """The PostgreSQL server's commits waiting for a standby that does not exist, until `off()`."""

    def __init__(self, postgres, url: str):
        self.admin = psycopg2.connect(postgres.url)
        self.admin.autocommit = True
        self.url = url

    def sql(self, statement: str, args=()) -> list:
        with self.admin.cursor() as cur:
            cur.execute(statement, args)
            return cur.fetchall() if cur.description else []

    def waiting(self, like: str, seconds: float = 30) -> int:
        """The backend whose statement (`like`) waits for the standby, its commit done locally."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.sql("select pid from pg_stat_activity where wait_event = 'SyncRep' and query ilike %s", [like])
            if found:
                return found[0][0]
            time.sleep(0.02)
        raise AssertionError(f"no statement like {like!r} waited for the standby within {seconds} s")

    def on(self) -> None:
        """Set, then wait until a commit really waits (the checkpointer applies the reload a little later)."""
        probe = psycopg2.connect(self.url)
        probe.autocommit = True
        with probe.cursor() as cur:
            cur.execute("create table if not exists probe (n integer)")  # before: its commit would wait
        self.sql("alter system set synchronous_standby_names = 'absent_standby'")
        self.sql("select pg_reload_conf()")
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                writer = threading.Thread(target=lambda: probe.cursor().execute("insert into probe values (1)"))
                writer.start()
                writer.join(0.5)
                if writer.is_alive():  # waiting for the standby: every commit from now on does
                    self.sql("select pg_cancel_backend(%s)", [probe.get_backend_pid()])
                    writer.join()
                    return
            raise AssertionError("the commits never waited for the standby")
        finally:
            probe.close()

    def off(self) -> None:
        self.sql("alter system reset synchronous_standby_names")
        self.sql("select pg_reload_conf()")

    def close(self) -> None:
        self.off()
        self.admin.close()


@pytest.fixture()
def pg(postgres):
    url = postgres.schema_url()
    sync = SyncRep(postgres, url)
    yield postgres, url, sync
    sync.close()


def stored(url: str, sender: str) -> list[str]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select type_name from events where sender_id = %s order by id", [sender])
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


async def save_turn(store: WindowSQLTrackerStore, sender: str, events: list) -> None:
    tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
    for event in events:
        tracker.update(event, DOMAIN)
    await store.save(tracker)


def test_a_turn_whose_insert_loses_its_acknowledgement_after_the_commit_is_stored_once(pg):
    """The store's immediate retry of a cut insert: it wrote the turn's 9 events a second time."""
    _postgres, url, sync = pg
    store = WindowSQLTrackerStore(DOMAIN, dialect="postgresql", host=url)
    clock = Clock()
    sync.on()
    saving = threading.Thread(target=run, args=(save_turn(store, "c1", session_start(clock) + turn(clock, 0, 0.0)),))
    saving.start()
    cut = sync.waiting("insert into events%")
    assert sync.sql("select pg_terminate_backend(%s)", [cut]) == [(True,)]
    sync.off()  # a second insert, if any, then commits too
    saving.join()
    assert store.pending == 0
    assert stored(url, "c1") == FIRST
    tracker = run(store.retrieve("c1"))
    assert [e.type_name for e in tracker.events] == FIRST[1:]  # the session's window: from its start


def test_a_deferred_turn_whose_background_insert_loses_its_acknowledgement_is_stored_once(pg):
    """The background writer's retry: a turn deferred while the table was locked, then its insert cut
    after the commit, was written again at the next try."""
    _postgres, url, sync = pg
    store = WindowSQLTrackerStore(DOMAIN, dialect="postgresql", host=url, busy_ms=250, retry_s=0.05)
    clock = Clock()
    blocker = psycopg2.connect(url)

    async def scenario() -> int:
        await save_turn(store, "c2", session_start(clock) + turn(clock, 0, 0.0))
        with blocker.cursor() as cur:  # another writer holds the table (e.g. a long migration)
            cur.execute("lock table events in exclusive mode")
        await save_turn(store, "c2", turn(clock, 1, 1.0))  # the insert waits 250 ms, then is deferred
        deferred = store.pending
        await asyncio.to_thread(sync.on)
        blocker.rollback()  # the table free: the background insert goes, and waits for the standby
        cut = await asyncio.to_thread(sync.waiting, "insert into events%")
        await asyncio.to_thread(sync.sql, "select pg_terminate_backend(%s)", [cut])
        await asyncio.to_thread(sync.off)
        await store.drain(30)
        return deferred

    try:
        assert run(scenario()) == 5
    finally:
        blocker.close()
    assert store.pending == 0
    assert stored(url, "c2") == FIRST + SECOND
    tracker = run(store.retrieve("c2"))
    assert [e.type_name for e in tracker.events] == FIRST[1:] + SECOND  # the session's window: from its start


def test_a_read_blocked_by_a_table_lock_waits_for_it_then_says_unavailable_never_loses_the_place(pg):
    """An outside-in audit of the cluster held `LOCK TABLE events IN ACCESS EXCLUSIVE MODE` for 30 s (what
    a maintenance's ALTER TABLE or VACUUM FULL takes): the window's SELECT failed on its lock timeout, Rasa
    fell back to a new tracker and to its in-memory store, and 124 answered turns never reached `events`;
    people answering a clarification were asked it again. A read now waits for the lock like for a
    restart (`down_wait_s`): the conversation when the lock goes meanwhile, else BackendUnavailable (the
    chat's French 503 with Retry-After), never a conversation started over."""
    from bot.nlu.outage import BackendUnavailable

    _postgres, url, _sync = pg
    store = WindowSQLTrackerStore(DOMAIN, dialect="postgresql", host=url, busy_ms=250, down_wait_s=2.0)
    clock = Clock()
    run(save_turn(store, "c3", session_start(clock) + turn(clock, 0, 0.0)))
    blocker = psycopg2.connect(url)
    try:
        with blocker.cursor() as cur:
            cur.execute("lock table events in access exclusive mode")
        releasing = threading.Timer(0.8, blocker.rollback)  # the maintenance ends within the wait
        releasing.start()
        tracker = run(store.retrieve("c3"))
        releasing.join()
        assert [e.type_name for e in tracker.events] == FIRST[1:]
        with blocker.cursor() as cur:  # held past the wait
            cur.execute("lock table events in access exclusive mode")
        with pytest.raises(BackendUnavailable):
            run(store.retrieve("c3"))
    finally:
        blocker.rollback()
        blocker.close()
    assert [e.type_name for e in run(store.retrieve("c3")).events] == FIRST[1:]


def given_up_turn(clock: Clock, message_id: str) -> list:
    """A turn whose `user` event carries the chat's message id, as Rasa writes it, marked given up (the chat
    answered the person 503 without it: bot/services/late_turns.py, bot/web/degraded.py)."""
    from bot.services import late_turns

    events = turn(clock, 1, 1.0)
    events[0].message_id = message_id
    late_turns.give_up(message_id)
    return events


def test_a_turn_answered_503_writes_no_events_and_those_its_insert_stored_meanwhile_are_deleted(pg):
    """The chat's check before the save (the phone's Step.answered): a turn the person was answered 503
    without writes nothing, neither now nor deferred behind a conversation's waiting events. And when the
    503 comes while the turn's INSERT is under way (sent to a PostgreSQL that answers late: here its
    commit waits for an absent standby), the rows it stored are deleted once it ends: the conversation
    is the one the person was told."""
    from bot.services import late_turns

    _postgres, url, sync = pg
    store = WindowSQLTrackerStore(DOMAIN, dialect="postgresql", host=url)
    clock = Clock()
    run(save_turn(store, "c4", session_start(clock) + turn(clock, 0, 0.0)))
    try:
        run(save_turn(store, "c4", given_up_turn(clock, "m-before")))
        assert (stored(url, "c4"), store.pending) == (FIRST, 0)
        sync.on()
        events = turn(clock, 1, 1.0)
        events[0].message_id = "m-during"
        saving = threading.Thread(target=run, args=(save_turn(store, "c4", events),))
        saving.start()
        sync.waiting("insert into events%")  # committed locally, visible and acknowledged once let go
        late_turns.give_up("m-during")
        sync.off()
        saving.join()
    finally:
        late_turns.ended("m-before")
        late_turns.ended("m-during")
    assert (stored(url, "c4"), store.pending) == (FIRST, 0)
    assert [e.type_name for e in run(store.retrieve("c4")).events] == FIRST[1:]
    run(save_turn(store, "c4", turn(clock, 2, 1.0)))  # the conversation goes on from the turn before
    assert stored(url, "c4") == FIRST + SECOND
