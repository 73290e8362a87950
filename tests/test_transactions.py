"""Issue 13, leftovers: writes that belong together are one transaction (Store.transaction). For each
pair, a failure is injected between the two writes (the second one raises) and nothing of the first
is left. Real SQLite files; the failing write is the real method, replaced for the test."""

from __future__ import annotations

import pytest

from bot.core import config
from bot.core import tree as tree_mod
from bot.services.accounts import Accounts
from bot.services.queue import Queue
from bot.store.database import Store
from ivr.calls import Calls
from ivr.flow import CallState

pytestmark = [pytest.mark.reliability, pytest.mark.usefixtures("store_backend")]  # battery; SQLite and PostgreSQL


class Injected(RuntimeError):
    """The failure injected between two writes."""


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "tx.db")
    yield s
    s.close()


def rows(store, sql: str, args=()) -> list[tuple]:
    return [tuple(r) for r in store.db.execute(sql, list(args)).fetchall()]


def fail_on(monkeypatch, store, statement: str) -> None:
    """Make the store's connection raise on the SQL statement starting with `statement` (the second write)."""
    real = store.db.execute

    def execute(sql, *args, **kwargs):
        if sql.strip().lower().startswith(statement):
            raise Injected(statement)
        return real(sql, *args, **kwargs)

    monkeypatch.setattr(store.db, "execute", execute)


def failing_audit(*args, **kwargs):
    raise Injected("audit_log")


# ---- accounts: the change and its audit line; a password and the sessions it closes ---------------


def test_an_account_whose_audit_line_fails_is_not_created(store):
    accounts = Accounts(store)
    with pytest.raises(Injected):
        accounts.add("agent.neuf", "agent", "mot-de-passe-123", audit=failing_audit)
    assert rows(store, "select name from agents") == []
    assert rows(store, "select action from audit_log") == []


def test_a_login_whose_audit_line_fails_opens_no_session(store):
    accounts = Accounts(store)
    accounts.add("agent.un", "agent", "mot-de-passe-123")
    agent = accounts.get("agent.un")
    with pytest.raises(Injected):
        accounts.open_session(agent, audit=failing_audit)
    assert rows(store, "select count(*) from sessions") == [(0,)]
    assert rows(store, "select last_login_at from agents") == [(None,)]
    # Without the failure: the session, the login time and the audit line, together.
    queue = Queue(store, tree_mod.current())
    token = accounts.open_session(agent, audit=lambda: queue.audit("agent.un", "login"))
    assert accounts.session(token).name == "agent.un"
    assert rows(store, "select agent, action from audit_log") == [("agent.un", "login")]


def test_a_password_reset_that_fails_to_close_the_sessions_keeps_the_old_password(store, monkeypatch):
    accounts = Accounts(store)
    accounts.add("agent.deux", "agent", "ancien-mot-de-passe")
    token = accounts.open_session(accounts.get("agent.deux"))
    fail_on(monkeypatch, store, "delete from sessions")
    with pytest.raises(Injected):
        accounts.set_password("agent.deux", "nouveau-mot-de-passe")
    monkeypatch.undo()
    assert accounts.verify("agent.deux", "ancien-mot-de-passe") is not None
    assert accounts.verify("agent.deux", "nouveau-mot-de-passe") is None
    assert accounts.session(token) is not None


def test_a_password_reset_whose_audit_line_fails_is_undone(store):
    accounts = Accounts(store)
    accounts.add("agent.trois", "agent", "ancien-mot-de-passe")
    token = accounts.open_session(accounts.get("agent.trois"))
    with pytest.raises(Injected):
        accounts.set_password("agent.trois", "nouveau-mot-de-passe", audit=failing_audit)
    assert accounts.verify("agent.trois", "ancien-mot-de-passe") is not None
    assert accounts.session(token) is not None


def test_disabling_an_account_that_fails_to_close_its_sessions_leaves_it_active(store, monkeypatch):
    accounts = Accounts(store)
    accounts.add("agent.quatre", "agent", "mot-de-passe-123")
    token = accounts.open_session(accounts.get("agent.quatre"))
    fail_on(monkeypatch, store, "delete from sessions")
    with pytest.raises(Injected):
        accounts.disable("agent.quatre")
    monkeypatch.undo()
    assert rows(store, "select active from agents where name = 'agent.quatre'") == [(1,)]
    assert accounts.session(token) is not None


def test_a_logout_whose_audit_line_fails_keeps_the_session(store):
    accounts = Accounts(store)
    accounts.add("agent.cinq", "agent", "mot-de-passe-123")
    token = accounts.open_session(accounts.get("agent.cinq"))
    with pytest.raises(Injected):
        accounts.close_session(token, audit=failing_audit)
    assert accounts.session(token) is not None


# ---- the review queue: a review and its audit line ------------------------------------------------


def test_a_review_whose_audit_line_fails_is_not_saved(store, monkeypatch):
    store.record_turn("conv-tx", "web", "zorglub vend sa guimbarde", None, 0.2, None, None, "fallback", False, 1, "cantal")
    queue = Queue(store, tree_mod.current())
    monkeypatch.setattr(Queue, "audit", failing_audit)
    with pytest.raises(Injected):
        queue.label("chat", "conv-tx", "agent.un", "carte_grise", "done", "note", True, "zorglub vend sa guimbarde")
    assert rows(store, "select * from reviews") == []
    assert rows(store, "select * from audit_log") == []
    monkeypatch.undo()
    queue.label("chat", "conv-tx", "agent.un", "carte_grise", "done", "note", True, "zorglub vend sa guimbarde")
    assert rows(store, "select kind, item_id, status, topic, as_training from reviews") == [
        ("chat", "conv-tx", "done", "carte_grise", 1)
    ]
    assert rows(store, "select agent, action, item_id from audit_log") == [("agent.un", "label", "conv-tx")]


# ---- phone calls -----------------------------------------------------------------------------------


def test_a_call_first_seen_at_its_end_is_created_and_ended_together(store, monkeypatch):
    calls = Calls(store)
    fail_on(monkeypatch, store, "update calls set ended_at")
    with pytest.raises(Injected):
        calls.end("CAtx1", "completed", 42, "cantal", "+33612345678")
    monkeypatch.undo()
    assert rows(store, "select call_sid from calls") == []  # not a call created and never ended
    ended = calls.end("CAtx1", "completed", 42, "cantal", "+33612345678")  # Twilio's retry
    assert (ended["call_sid"], ended["call_status"], ended["duration_s"], ended["caller"]) == (
        "CAtx1",
        "completed",
        42,
        "[téléphone]",
    )


def test_a_transcription_that_fails_leaves_no_voicemail_and_no_ticket(store, monkeypatch):
    calls = Calls(store, config.load_prefecture("cantal"), tree_mod.current())
    calls.create(CallState("CAtx2"), "cantal", "+33612345678", "")
    fail_on(monkeypatch, store, "update voicemails set transcription")
    with pytest.raises(Injected):
        calls.set_transcription(
            "CAtx2", "REtx2", "etrangers", "Étrangers", "https://api.twilio.com/rec/REtx2", "bonjour", "completed"
        )
    monkeypatch.undo()
    assert rows(store, "select * from voicemails") == []
    assert rows(store, "select * from tickets") == []
    assert rows(store, "select * from outbox") == []
    calls.set_transcription(
        "CAtx2", "REtx2", "etrangers", "Étrangers", "https://api.twilio.com/rec/REtx2", "bonjour", "completed"
    )
    assert rows(store, "select recording_sid, transcription, status from voicemails") == [("REtx2", "bonjour", "transcribed")]
    assert rows(store, "select idempotency_key, origin from tickets") == [("voicemail:REtx2", "phone")]
