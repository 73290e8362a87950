"""Issue 16 §2: the PostgreSQL store's locks per key instead of one store-wide write lock
(bot/store/pg.py, docs/store.md). A transaction naming keys (a conversation, a slot, a person, a
throttle window) waits only for those of the same keys and for the unkeyed ones; an unkeyed one
still waits for every other, as SQLite's BEGIN IMMEDIATE. The guarantees the keys protect (one
booking per seat, one row per idempotency key, throttle windows) are tested on both backends by
test_store_backends, test_pan_tickets and test_throttling; these are the waits themselves.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import psycopg2.extensions
import pytest

from bot.core import config
from bot.services import pan, throttle
from bot.store.database import MIGRATIONS, Store, lock_key
from bot.store.pg import NestedLockError, Pool, close_pools, lock_statement

CANTAL = config.load_prefecture("cantal")
LOCKED = "database is locked"


@pytest.fixture()
def pg_url(postgres):
    url = postgres.schema_url()
    Store(url).close()  # migrated once, before the stores of the test
    yield url
    close_pools()


def stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")


def turn(store: Store, conversation: str) -> int:
    return store.record_turn(conversation, "web", "carte grise", "carte_grise", 0.9, "ants", "cg", "answer", True, 0, "cantal")


def test_the_lock_statement_is_the_store_lock_alone_or_shared_with_sorted_keys():
    assert lock_statement(()) == ("select pg_advisory_xact_lock(hashtext('aiguillage:' || current_schema()))", [])
    sql, params = lock_statement(["slot:b", "contact:a", "slot:b"])
    assert sql.startswith("select pg_advisory_xact_lock_shared(hashtext('aiguillage:' || current_schema())), ")
    assert sql.count("pg_advisory_xact_lock(hashtext(current_schema()), hashtext(%s))") == 2
    assert params == ["contact:a", "slot:b"]  # sorted, once each: no two transactions wait in a cycle
    assert lock_key("slot", "mauriac", "2026-07-13T09:30") == "slot:mauriac:2026-07-13T09:30"


def test_a_turn_of_another_conversation_is_written_while_one_is_held_and_of_the_same_waits(pg_url):
    holder = Store(pg_url)
    quick = Store.on_connection(pg_url, busy_ms=300)
    with holder.transaction(lock_key("conversation", "c1")):
        turn(holder, "c1")
        assert turn(quick, "c2") > 0  # not blocked by c1's open transaction
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            turn(quick, "c1")
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            with quick.transaction():  # an unkeyed writer waits for every keyed one
                pass
    assert turn(quick, "c1") > 0
    assert [c["turns"] for c in quick.db.query("select turns from conversations order by id")] == [2, 1]


def test_an_unkeyed_transaction_holds_off_every_keyed_one(pg_url):
    holder = Store(pg_url)
    quick = Store.on_connection(pg_url, busy_ms=300)
    with holder.transaction():
        holder.db.execute("select 1")  # the locks go with the first statement (in its round trip)
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            turn(quick, "c3")
    assert turn(quick, "c3") > 0


def test_a_nested_transaction_adds_its_keys_to_the_outer_ones(pg_url):
    holder = Store(pg_url)
    quick = Store.on_connection(pg_url, busy_ms=300)
    with holder.transaction(lock_key("conversation", "a")):
        with holder.transaction(lock_key("conversation", "b")):
            turn(holder, "b")
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            turn(quick, "b")  # the savepoint's key is held to the end of the outer transaction
        assert turn(quick, "c") > 0
    assert turn(quick, "b") > 0


def test_an_unkeyed_transaction_nested_in_a_keyed_one_is_refused_naming_the_keys(pg_url):
    """It would need the store's lock exclusively while holding it shared: a wait for every keyed
    writer, and two such transactions would deadlock. Before, it upgraded silently; now it is refused,
    and the outer transaction goes on (its keys, its writes)."""
    holder = Store(pg_url)
    quick = Store.on_connection(pg_url, busy_ms=300)
    with holder.transaction(lock_key("conversation", "a")):
        turn(holder, "a")
        with pytest.raises(NestedLockError, match=r"unkeyed transaction inside one holding \['conversation:a'\]"):
            with holder.transaction():
                pass
        assert turn(quick, "d") > 0  # nothing took the store's lock exclusively
        turn(holder, "a")
    assert holder.conversation("a")["turns"] == 2
    with holder.transaction():  # unkeyed inside unkeyed, keyed inside unkeyed: as before
        with holder.transaction():
            turn(holder, "e")
        with holder.transaction(lock_key("conversation", "e")):
            turn(holder, "e")
    assert holder.conversation("e")["turns"] == 2


def test_twenty_threads_on_one_throttle_window_count_exactly_its_limit(pg_url):
    """per_address.cancel_guess: 5 in the window. The check and the count are one transaction under
    the window's key: 20 parallel attempts from one address, 5 pass; another address is not held."""
    limit = int(CANTAL.get("throttle.per_address.cancel_guess.max"))
    barrier = threading.Barrier(20)
    waits: list[int] = []

    def guess() -> None:
        store = Store(pg_url)
        barrier.wait()
        waits.append(throttle.take(store, CANTAL, "cancel_guess", "10.9.9.9", t=1000.0))

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(w == 0 for w in waits) == [False] * (20 - limit) + [True] * limit
    assert throttle.take(Store(pg_url), CANTAL, "cancel_guess", "10.9.9.8", t=1000.0) == 0


def test_eight_stores_opened_at_once_on_an_empty_schema_migrate_it_once(postgres):
    """Processes starting together (make cluster, test_cluster) each open the store: the first
    creates the `migrations` table and applies every migration, the others wait and find them."""
    url = postgres.schema_url()
    barrier = threading.Barrier(8)
    errors: list[str] = []

    def open_store() -> None:
        barrier.wait()
        try:
            Store(url).close()
        except sqlite3.Error as exc:
            errors.append(str(exc).splitlines()[0])

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    close_pools()
    assert errors == []
    names = [r["name"] for r in Store(url).db.query("select name from migrations order by name")]
    assert names == sorted(name for name, _ in MIGRATIONS)


def test_after_a_postgresql_restart_the_next_turn_is_written_and_while_down_it_is_locked(postgres):
    """`pg_ctl restart` cuts the pooled connections: the next transaction and the next read take new
    ones (no "server closed the connection" for the first writer after it, which lost a chat turn's
    record in tests/test_cluster.py). While PostgreSQL is down, a write fails with "database is
    locked (PostgreSQL unreachable ...)": what the turn writer and the phone queue and write later."""
    url = postgres.schema_url()
    store = Store(url)
    quick = Store.on_connection(url, busy_ms=250)
    turn(store, "r1")
    assert quick.conversation("r1")["turns"] == 1
    postgres.pg.restart()
    try:
        assert turn(quick, "r1") > 0  # a transaction on a cut connection: begun again on a new one
        assert quick.conversation("r1")["turns"] == 2  # a read, likewise
        postgres.pg.stop()
        with pytest.raises(sqlite3.OperationalError, match="^database is locked \\(PostgreSQL unreachable: "):
            turn(quick, "r1")
        with pytest.raises(sqlite3.OperationalError, match="^database is locked \\(PostgreSQL unreachable: "):
            quick.conversation("r1")
    finally:
        postgres.pg.start()
    assert turn(quick, "r1") > 0 and [t["conversation_id"] for t in store.turns("r1")] == ["r1"] * 3
    close_pools()


def test_a_call_ends_beside_a_keyed_transaction_without_asking_for_the_whole_store(pg_url):
    """A status callback takes its call's lock only: before, its writes nested an unkeyed transaction,
    which asked for the store's exclusive lock while holding it shared (waiting here for the chat's
    keyed transaction; two calls ending at once would have deadlocked)."""
    from ivr.calls import Calls

    holder = Store(pg_url)
    quick = Store.on_connection(pg_url, busy_ms=300)
    calls = Calls(quick)
    with holder.transaction(lock_key("conversation", "c1")):
        turn(holder, "c1")
        assert calls.end("CA1", "ringing", None, "cantal")["call_status"] == "ringing"
        ended = calls.end("CA1", "completed", 42, "cantal")
    assert (ended["call_status"], ended["duration_s"]) == ("completed", 42)
    assert ended["ended_at"]


class Trips(psycopg2.extensions.cursor):
    """A real cursor that writes down what it sends: one `execute` is one round trip."""

    sent: list[str] = []

    def execute(self, query, vars=None):  # noqa: A002 - psycopg2's name
        Trips.sent.append(query.split(";")[0].split()[0].lower() if isinstance(query, str) else "?")
        return super().execute(query, vars)


@pytest.fixture()
def trips(monkeypatch):
    """The round trips of the pool's connections (PostgreSQL's own, counted on the client side)."""
    get = Pool.get

    def counting(self, *args, **kwargs):
        conn = get(self, *args, **kwargs)
        conn.cursor_factory = Trips
        return conn

    monkeypatch.setattr(Pool, "get", counting)
    Trips.sent = []
    yield Trips.sent


def test_a_turn_is_written_in_three_round_trips_its_locks_with_its_first_statement(pg_url, trips):
    """begin, the locks and the conversation's read in one trip; the conversation's upsert and the
    turn's insert in one; the commit (was 6 to 7: begin and locks alone, then each statement alone,
    the table's primary key read again by each new store)."""
    store = Store.on_connection(pg_url, busy_ms=300)
    turn(store, "t0")  # the process's first turn reads the tables' primary keys, once
    assert trips == ["begin", "select", "savepoint", "commit"]
    trips.clear()
    turn(store, "t1")  # a new conversation (its first turn also sets started_at)
    assert trips == ["begin", "savepoint", "commit"]
    trips.clear()
    second = Store.on_connection(pg_url, busy_ms=300)  # a new store, as the turn writer makes: no catalogue read
    turn(second, "t1")
    assert trips == ["begin", "savepoint", "commit"]
    conv = second.conversation("t1")
    assert (conv["turns"], conv["started_at"] is not None) == (2, True)
    assert [t["conversation_id"] for t in second.turns("t1")] == ["t1", "t1"]


def test_a_transaction_whose_first_trip_fails_on_its_locks_is_rolled_back_and_the_next_one_runs(pg_url):
    holder = Store(pg_url)
    quick = Store.on_connection(pg_url, busy_ms=300)
    with holder.transaction(lock_key("conversation", "x")):
        turn(holder, "x")
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            turn(quick, "x")
        assert not quick.db.in_transaction
    assert turn(quick, "x") > 0 and quick.conversation("x")["turns"] == 2


def test_an_agents_action_on_a_ticket_waits_only_for_that_ticket(pg_url):
    """The console's ticket actions take the ticket's key (was the store's exclusive lock): reopening one
    ticket goes on while a chat turn's transaction is held, and waits while the same ticket's is."""
    from bot.services import tickets

    holder = Store(pg_url)
    quick = Store.on_connection(pg_url, busy_ms=300)
    ticket = tickets.create_ticket(holder, CANTAL, next(iter(CANTAL.get("mailboxes"))), "Objet", "Bonjour, ma demande.")
    tickets.mark_answered(holder, ticket["reference"], agent="agent1")
    with holder.transaction(lock_key("conversation", "c1")):
        turn(holder, "c1")
        assert tickets.reopen(quick, ticket["reference"], "agent2")["status"] == "open"
    tickets.mark_answered(holder, ticket["reference"], agent="agent1")
    with holder.transaction(tickets.ticket_lock(ticket["reference"].lower())):
        holder.db.execute("select 1")
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            tickets.reopen(quick, ticket["reference"], "agent2")
    assert tickets.get_ticket(quick, ticket["reference"])["status"] == "answered"


def test_the_outbox_records_a_delivery_beside_a_keyed_transaction(pg_url, smtp):
    """The outbox's result of one e-mail takes that row's key (was the store's exclusive lock): it is
    written while a chat turn's transaction is held."""
    from bot.services import mailer, tickets

    holder = Store(pg_url)
    quick = Store.on_connection(pg_url, busy_ms=300)
    tickets.create_ticket(holder, CANTAL, next(iter(CANTAL.get("mailboxes"))), "Objet", "Bonjour.", "a@example.org")
    with holder.transaction(lock_key("conversation", "c1")):
        turn(holder, "c1")
        sent = mailer.deliver_pending(quick, mailer.SmtpSettings.from_env(smtp.env))
    assert (sent["sent"], sent["failed"]) == (2, 0)  # the service's copy and the acknowledgement
    assert [r["status"] for r in quick.db.query("select status from outbox order by id")] == ["sent", "sent"]


def test_a_secret_made_for_the_first_time_inside_a_keyed_transaction(pg_url):
    """A keyed hash (a caller's number, an account name) first made inside a call's or a booking's
    transaction: the store's secret is one `insert or ignore`, no transaction nested in the keyed one."""
    store = Store(pg_url)
    with store.transaction(lock_key("call", "CA1")):
        key = store.secret("nouvelle")
    assert len(key) == 32 and Store(pg_url).secret("nouvelle") == key


# ---- issue 16 §1-§3: cancellations, the console's other actions, the purge -----------------------

BEFORE = datetime(2030, 1, 7, 8, 0)  # three days before the appointments below (Paris time)
LATER = datetime.now(UTC) + timedelta(days=2 * 366)  # past every retention period of what the tests write now


def appointment(store: Store, email: str, start: str = "2030-01-10T09:00") -> dict:
    return pan.book(store, CANTAL, "mauriac", start, "permis_conduire", email=email, now=BEFORE)


def test_a_cancellation_goes_on_beside_a_chat_turn_and_takes_turns_with_a_no_show_of_its_booking(pg_url):
    """A cancellation takes its booking's key and its slot's (was the store's exclusive lock): it is
    written while a chat turn's transaction is held, and waits while an agent's no-show of the same
    booking is open; then it is refused (the appointment is marked missed): no "cancelled" e-mail."""
    holder = Store(pg_url)
    quick = Store.on_connection(pg_url, busy_ms=300)
    first = appointment(holder, "premier@exemple.fr")
    second = appointment(holder, "second@exemple.fr", "2030-01-10T09:30")
    with holder.transaction(lock_key("conversation", "c1")):
        turn(holder, "c1")
        assert pan.cancel(quick, CANTAL, first["reference"], "premier@exemple.fr", now=BEFORE)["status"] == "cancelled"
    with holder.transaction(pan.booking_lock(second["reference"])):  # the console's no-show, not committed yet
        assert pan.mark_no_show(holder, second["reference"])["status"] == "no_show"
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            pan.cancel(quick, CANTAL, second["reference"], "second@exemple.fr", now=BEFORE)
    with pytest.raises(pan.BookingError) as refused:
        pan.cancel(quick, CANTAL, second["reference"], "second@exemple.fr", now=BEFORE)
    assert refused.value.code == "past_slot"
    rows = quick.db.query("select reference, status from pan_bookings order by id")
    assert [(r["reference"], r["status"]) for r in rows] == [(first["reference"], "cancelled"), (second["reference"], "no_show")]
    mails = quick.db.query("select to_addr from outbox where kind = 'booking_cancelled'")
    assert [m["to_addr"] for m in mails] == ["premier@exemple.fr"]


def test_an_account_added_and_its_session_beside_a_chat_turn_and_one_name_added_once(pg_url):
    """An account's transactions take its key, a session's "seen" time is one statement: the console
    goes on while a chat turn's transaction is held; two admins adding one name take turns."""
    from bot.services.accounts import Accounts, AuthError, agent_lock

    holder = Store(pg_url)
    quick = Accounts(Store.on_connection(pg_url, busy_ms=300))
    with holder.transaction(lock_key("conversation", "c1")):
        turn(holder, "c1")
        quick.add("agent.nouveau", "agent", "mot-de-passe-1")
        token = quick.open_session(quick.verify("agent.nouveau", "mot-de-passe-1"))
        assert quick.session(token).name == "agent.nouveau"
        quick.close_session(token)
        assert quick.session(token) is None
    with holder.transaction(agent_lock("agent.double")):
        Accounts(holder).add("agent.double", "agent", "mot-de-passe-1")
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            quick.add("agent.double", "admin", "mot-de-passe-2")
    with pytest.raises(AuthError, match="existe déjà"):
        quick.add("agent.double", "admin", "mot-de-passe-2")
    assert [(a["name"], a["role"]) for a in quick.list()] == [("agent.double", "agent"), ("agent.nouveau", "agent")]


def test_the_purge_goes_on_beside_a_chat_turn_and_takes_turns_with_a_reply_to_its_ticket(pg_url):
    """The purge takes the keys of the records it erases, per batch (was the store's exclusive lock
    for the whole purge): it runs while a chat turn's transaction is held; an agent's reply to a ticket,
    open, holds that ticket's erasure off, and the ticket is left whole (nothing half erased); the
    next run erases it with the reply's text and e-mails."""
    from bot.services import retention, tickets

    holder = Store(pg_url)
    quick = Store.on_connection(pg_url, busy_ms=300)
    tickets.create_ticket(holder, CANTAL, "armes", "Objet", "Texte perso", "p@exemple.fr")
    turn(holder, "ancienne")
    with holder.transaction(lock_key("conversation", "c1")):
        turn(holder, "c1")
        done = retention.purge(quick, CANTAL, now=LATER)
    assert (done["conversations"], done["turns"], done["tickets"], done["outbox"]) == (1, 1, 1, 2)
    ticket = tickets.create_ticket(holder, CANTAL, "armes", "Autre objet", "Autre texte", "q@exemple.fr")
    with holder.transaction(tickets.ticket_lock(ticket["reference"])):  # an agent's reply, as the console sends it
        tickets.reply(holder, CANTAL, ticket["reference"], "agent1", "Votre réponse personnelle")
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            retention.purge(quick, CANTAL, now=LATER)
    row = tickets.get_ticket(quick, ticket["reference"])
    assert (row["subject"], row["contact_email"], row["status"], row["purged_at"]) == (
        "Autre objet",
        "q@exemple.fr",
        "answered",
        None,
    )
    assert [e["body"] for e in tickets.history(quick, ticket["id"]) if e["kind"] == "reply"] == ["Votre réponse personnelle"]
    done = retention.purge(quick, CANTAL, now=LATER)
    assert (done["tickets"], done["outbox"]) == (1, 3)  # the service's copy, the acknowledgement, the reply
    row = tickets.get_ticket(quick, ticket["reference"])
    assert (row["subject"], row["body"], row["contact_email"]) == (None, None, None)
    assert [e["body"] for e in tickets.history(quick, ticket["id"])] == [None, None, None]


def test_the_purge_keeps_a_conversation_whole_when_its_person_comes_back_meanwhile(pg_url):
    """A conversation past its period and a new turn of it, not committed yet: the purge waits for it
    (the conversation's key), then keeps the conversation with its new turn; the first turn, past its
    own period, goes (retention.purge_old_turns; the conversation still counts 2 turns)."""
    from bot.services import retention

    holder = Store(pg_url)
    quick = Store.on_connection(pg_url, busy_ms=300)
    turn(holder, "revenue")
    later = datetime.now(UTC) + timedelta(days=int(CANTAL.get("retention.conversations_days")) + 1)
    with holder.transaction(lock_key("conversation", "revenue")):
        holder.record_turn(
            "revenue", "web", "merci", "carte_grise", 0.9, "ants", "cg", "answer", True, 0, "cantal", ts=stamp(later)
        )
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            retention.purge(quick, CANTAL, now=later)
    assert retention.purge(quick, CANTAL, now=later)["conversations"] == 0
    assert (quick.conversation("revenue")["turns"], [t["text"] for t in quick.turns("revenue")]) == (2, ["merci"])


# ---- issue 16, review: the voicemail's transactions ------------------------------------------------

SERVICE = "bureau des polices administratives (armes)"
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC0123/Recordings/"


def test_a_voicemail_and_its_transcription_are_kept_beside_a_chat_turn_and_wait_only_for_their_call(pg_url):
    """A voicemail's row (with its ticket) and its transcription take the call's key and the ticket's
    (they took the store's exclusive lock): a message is kept while a chat turn's transaction is held,
    and waits while its own call's state is being written (a keypad step, a status callback)."""
    from ivr.calls import Calls
    from ivr.state import CallState

    holder = Store(pg_url)
    calls = Calls(Store.on_connection(pg_url, busy_ms=300), CANTAL)
    for sid in ("CA1", "CA2"):
        Calls(holder).create(CallState(sid), "cantal", "+33612345678", "")
    with holder.transaction(lock_key("conversation", "c1")):
        turn(holder, "c1")
        assert calls.add_voicemail("CA1", "RE1", "armes", SERVICE, RECORDING + "RE1", 12, callback="+33612345678") is True
        calls.set_transcription("CA1", "RE1", "armes", SERVICE, RECORDING + "RE1", "Rappelez-moi au 06 12 34 56 78.", "completed")
    with holder.transaction(lock_key("call", "CA2")):  # the call's own state being written, not committed yet
        holder.db.execute("select 1")
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            calls.add_voicemail("CA2", "RE2", "armes", SERVICE, RECORDING + "RE2", 7)
        with pytest.raises(sqlite3.OperationalError, match=LOCKED):
            calls.set_transcription("CA2", "RE2", "armes", SERVICE, RECORDING + "RE2", "Bonjour.", "completed")
    calls.set_transcription("CA2", "RE2", "armes", SERVICE, RECORDING + "RE2", "Bonjour.", "completed")
    assert calls.add_voicemail("CA2", "RE2", "armes", SERVICE, RECORDING + "RE2", 7) is False  # kept once
    rows = calls.db.query("select call_sid, recording_sid, duration_s, status, transcription from voicemails order by id")
    assert [tuple(r.values()) for r in rows] == [
        ("CA1", "RE1", 12, "transcribed", "Rappelez-moi au [téléphone]."),
        ("CA2", "RE2", 7, "transcribed", "Bonjour."),
    ]
    made = calls.db.query("select idempotency_key, mailbox, callback from tickets order by id")
    assert [tuple(r.values()) for r in made] == [("voicemail:RE1", "armes", "06 12 34 56 78"), ("voicemail:RE2", "armes", None)]
