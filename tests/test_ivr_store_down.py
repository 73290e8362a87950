"""A caller keeps their place in the phone menu while PostgreSQL is stopped (issues 11 §3, 16 §3).

One real server on a real PostgreSQL (DATABASE_URL: the product's store and Rasa's tracker store),
stopped with `pg_ctl stop -m fast` mid-call and started again, or frozen (SIGSTOP) and thawed;
Twilio's complete bodies, signed (tools.ivr.simulate.Call). While the call's row cannot be read, a
key press or a sentence in a menu or at an answer gets one apology and the prompt the caller was
at, at the same step (never the welcome); a PAN booking step, which the URL alone cannot rebuild,
is held until the row can be read, then replayed. Nothing is applied while PostgreSQL is away, nor
later by a read that was under way: once it is back the call goes on from the step it was at."""

from __future__ import annotations

import json
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ARMES_THANKS, TWILIO_TEST_TOKEN, db_rows, to_armes_voicemail
from store_backends import pg_rows, server_on_postgresql
from test_ivr_calls import CARTE_GRISE, CONFIRM_SAINT_FLOUR, MAIN_MENU, OPEN, PAN_NOW, SLOTS, TITRES_MENU, WELCOME
from test_ivr_fail_soft import STORE_BUSY

from tools import cluster as cl
from tools.ivr.simulate import Call, parse_twiml


class PgPhone:
    def __init__(self, pg: cl.Postgres, server):
        self.pg, self.server = pg, server

    def call(self, **kwargs) -> Call:
        return Call(self.server.url, TWILIO_TEST_TOKEN, **kwargs)

    def rows(self, sql: str, args: list | tuple = ()) -> list[dict]:
        return pg_rows(self.pg.url, sql, args)

    def call_row(self, call: Call) -> dict:
        (row,) = self.rows("select state, node, step, path from calls where call_sid = ?", [call.call_sid])
        return row | {"path": json.loads(row["path"])}


@pytest.fixture(scope="module")
def pg_phone(tmp_path_factory):
    with server_on_postgresql(tmp_path_factory.mktemp("store-down")) as (server, pg):
        yield PgPhone(pg, server)


def stopped(pg_phone, *calls_made):
    """Run each `calls_made` (no argument) with PostgreSQL stopped; PostgreSQL started again after."""
    pg_phone.pg.stop()
    try:
        return [made() for made in calls_made]
    finally:
        pg_phone.pg.start()


def test_a_key_pressed_in_a_submenu_while_postgresql_is_stopped_repeats_that_submenu_not_the_welcome(pg_phone):
    call = pg_phone.call()
    call.start()
    assert call.press("1").says == TITRES_MENU
    where = call.last.gather["action"]
    assert where.endswith("/webhooks/ivr/menu?node=vehicule&step=1")
    pressed, said, again = stopped(
        pg_phone, lambda: call.press("1"), lambda: call.say("permis de conduire"), lambda: call.press("2")
    )
    for turn in (pressed, said, again):
        # one apology, then the sub-menu the caller was in (not "Bonjour, ici le service automatisé...")
        assert turn.says == [STORE_BUSY, *TITRES_MENU]
        assert WELCOME not in turn.says and MAIN_MENU[0] not in turn.says
        assert turn.gather["action"] == where and turn.redirect == where  # same node, same step
        assert not turn.hangup
    # nothing applied meanwhile; PostgreSQL back: the next key goes on from that sub-menu
    assert pg_phone.call_row(call) == {"state": "menu", "node": "vehicule", "step": 1, "path": ["root", "vehicule"]}
    leaf = call.press("1")
    assert leaf.says == CARTE_GRISE and (leaf.route, leaf.node) == ("leaf", "carte_grise")
    assert pg_phone.call_row(call) == {
        "state": "leaf",
        "node": "carte_grise",
        "step": 2,
        "path": ["root", "vehicule", "carte_grise"],
    }


def postgres_processes(pg: cl.Postgres) -> list[int]:
    """The test's own PostgreSQL: its postmaster (postmaster.pid) and every backend it started."""
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def test_a_key_pressed_while_postgresql_is_frozen_repeats_the_submenu_and_is_not_applied_later(pg_phone):
    """PostgreSQL frozen (SIGSTOP on its processes, as a host that stops answering): the read of the call
    does not come back within `answer_within_ms`; the caller hears the apology and the sub-menu they
    are in. When PostgreSQL answers again, the read still under way must not apply that key behind the
    caller's back: their next key means what it means in the sub-menu they were told they are in.
    (Before Step.answered, the late task saved "carte grise", and the next key replayed it.)"""
    call = pg_phone.call(timeout=15)
    call.start()
    assert call.press("1").says == TITRES_MENU
    where = call.last.gather["action"]
    frozen = postgres_processes(pg_phone.pg)
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        pressed = call.press("1")  # carte grise
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    assert pressed.says == [STORE_BUSY, *TITRES_MENU]
    assert pressed.gather["action"] == where and not pressed.hangup
    # the read under way since the freeze ends now: it must leave the call where the caller was told
    late = f"ivr: call {call.call_sid} step 1 came too late: the caller was answered without it"
    deadline = time.monotonic() + 30  # a condition polled (the late task is over), not a time asserted
    while time.monotonic() < deadline:
        if late in pg_phone.server.log.read_text() or pg_phone.call_row(call)["step"] != 1:
            break
        time.sleep(0.2)
    assert pg_phone.call_row(call) == {"state": "menu", "node": "vehicule", "step": 1, "path": ["root", "vehicule"]}
    permis = call.press("2")
    assert (permis.route, permis.node) == ("leaf", "permis_conduire")
    assert permis.says[0].startswith("Le permis de conduire")
    assert late in pg_phone.server.log.read_text()


def test_a_key_pressed_at_an_answer_while_postgresql_is_stopped_repeats_that_answer(pg_phone):
    call = pg_phone.call()
    call.start()
    call.press("1")
    assert call.press("1").says == CARTE_GRISE
    where = call.last.gather["action"]
    (pressed,) = stopped(pg_phone, lambda: call.press("3"))
    assert pressed.says == [STORE_BUSY, *CARTE_GRISE]
    assert pressed.gather["action"] == where and not pressed.hangup
    # back: the key means what it meant at that answer ("Pour entendre le numéro, tapez 3.")
    number = call.press("3")
    assert number.says[0] == "Voici le numéro :" and number.route == "leaf" and number.node == "carte_grise"
    assert pg_phone.call_row(call)["step"] == 3


def test_a_pan_booking_step_while_postgresql_is_stopped_is_held_then_replayed_never_rebuilt(pg_phone):
    """The slots and the slot chosen live in the call's row only: a key there cannot be answered from
    the URL (a leaf's "tapez 1" is not "pour confirmer ce rendez-vous, tapez 1"). The caller hears the
    apology, waits in silence (5 s a try, `store_wait_s`), and hears the slots again, at the same
    step, once the row can be read; after 12 tries (`store_waits`) the welcome, as a new call would."""
    call = pg_phone.call(now=PAN_NOW, caller="+33612345672")
    call.start()
    call.press("5")
    assert call.press("2").node == "rdv_pan"
    slots = call.press("4")
    assert slots.says == SLOTS and (slots.route, slots.node) == ("pan", "rdv_pan")
    where = slots.gather["action"]
    assert where.endswith("/webhooks/ivr/pan?node=rdv_pan&step=3")

    def request(url: str, params: dict):
        status, body = call.request(url, params)
        assert status == 200, body
        return parse_twiml(body)

    base = pg_phone.server.url + "/webhooks/ivr/voice"
    held, waited, last_wait, given_up = stopped(
        pg_phone,
        lambda: request(where, call.body("gather_digits", Digits="2")),
        lambda: request(base + "?held=1", call.body("redirect")),
        lambda: request(base + "?held=12", call.body("redirect")),
        lambda: request(base + "?held=13", call.body("redirect")),
    )
    assert held.says == [STORE_BUSY] and held.gather is None and not held.hangup
    assert held.redirect == base + "?held=1"
    for n, turn in ((1, waited), (12, last_wait)):
        assert turn.says == [] and turn.pauses == 1 and not turn.hangup
        assert '<Pause length="5" />' in turn.xml
        assert turn.redirect == f"{base}?held={n + 1}"
    assert given_up.says == [WELCOME, *MAIN_MENU]  # a minute without the store: the welcome
    # PostgreSQL back: the hold's next try replays the slots at the same step
    replayed = request(base + "?held=2", call.body("redirect"))
    assert replayed.says == SLOTS and replayed.gather["action"] == where
    call.turns.append(replayed)
    assert call.press("2").says == CONFIRM_SAINT_FLOUR
    booked = pg_phone.rows("select count(*) as n from pan_bookings where idempotency_key like ?", [f"call:{call.call_sid}:%"])
    assert booked == [{"n": 0}]  # nothing booked before the confirmation


def test_the_end_of_a_transfer_while_postgresql_is_stopped_ends_the_call(pg_phone):
    """DialCallStatus=completed: the caller spoke with the agent; the call ends without reading its
    row (its outcome comes with the status callback). Before, the hold's replay dialled the agent again."""
    call = pg_phone.call(now=OPEN)
    call.start()
    assert call.press("0").says == ["Je vous mets en relation avec un agent de la préfecture."]
    assert call.last.dial == "+33471462300"
    (ended,) = stopped(pg_phone, lambda: call.dial_ended("completed"))
    assert ended.hangup and ended.dial is None and ended.says == []


TRANSFER_FAILED = "La ligne est occupée ou ne répond pas."
VOICEMAIL_NOW = "Vous pouvez laisser un message au service concerné, {service}."
VOICEMAIL_PROMPT = (
    "Après le bip, dites votre nom, un numéro pour vous rappeler et l'objet de votre appel. "
    "Tapez dièse ou raccrochez quand vous avez terminé."
)


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed"])
def test_a_transfer_not_answered_while_postgresql_is_stopped_records_a_message_never_dials_again(pg_phone, status):
    """Issue 11 §4, "no answer → the voicemail", with the store down. Before: the hold (one apology, then
    /voice?held=1), whose replay of the call's last answer dialled the line again. Now: why, then the
    voicemail at once (a key would need the call's row); the message left while PostgreSQL is still
    stopped is thanked, kept in the spool and written once it is back."""
    call = pg_phone.call(now=OPEN)
    call.start()
    assert call.press("0").says == ["Je vous mets en relation avec un agent de la préfecture."]
    assert call.last.dial == "+33471462300"
    dial_action = call.last.dial_action
    rsid = "RE" + call.call_sid[2:]

    def not_answered():
        code, body = call.request(dial_action, call.body("dial_no_answer", DialCallStatus=status))
        assert code == 200, body
        call.turns.append(parse_twiml(body))
        return call.last

    def message_left():
        return call.record("Rappelez-moi au sujet de mon permis.", recording_sid=rsid)

    missed, thanked = stopped(pg_phone, not_answered, message_left)
    assert missed.dial is None and "<Dial" not in missed.xml and not missed.hangup
    courrier = "courrier de la préfecture"
    assert missed.says == [TRANSFER_FAILED, VOICEMAIL_NOW.format(service=courrier), VOICEMAIL_PROMPT]
    assert missed.record["action"] == f"{pg_phone.server.url}/webhooks/ivr/voicemail?node=human&mailbox=courrier&step=1"
    assert thanked.says[0].startswith(f"Merci. Votre message a été transmis au service concerné, {courrier}")
    assert "<Dial" not in thanked.xml
    deadline = time.monotonic() + 30  # the spool's retries (a condition polled, not a time asserted)
    while time.monotonic() < deadline:
        kept = pg_phone.rows("select mailbox, transcription from voicemails where recording_sid = ?", [rsid])
        if kept and kept[0]["transcription"]:
            break
        time.sleep(0.5)
    assert kept == [{"mailbox": "courrier", "transcription": "Rappelez-moi au sujet de mon permis."}]
    assert call.hangup(duration=40) == 200  # the status callback, PostgreSQL back: the call's outcome
    assert pg_phone.rows("select outcome from calls where call_sid = ?", [call.call_sid]) == [{"outcome": "voicemail"}]


def test_a_transfer_not_answered_then_no_message_while_postgresql_is_stopped_offers_the_voicemail_once_back(pg_phone):
    """Nothing said after the beep while PostgreSQL is stopped: the hold; once the row can be read, its
    replay is the offer after a failed transfer (the voicemail), not the call's last answer (the Dial)."""
    call = pg_phone.call(now=OPEN)
    call.start()
    call.press("0")
    dial_action = call.last.dial_action

    def post(url: str, shape: str, **values):
        code, body = call.request(url, call.body(shape, **values))
        assert code == 200, body
        return parse_twiml(body)

    def silence_after_the_beep():
        missed = post(dial_action, "dial_no_answer")
        assert missed.record is not None and missed.redirect  # the Record's fallback when nothing is said
        return post(missed.redirect, "redirect")

    (silent,) = stopped(pg_phone, silence_after_the_beep)
    assert silent.says == ["Aucun message n'a été enregistré."] and silent.redirect.endswith("/webhooks/ivr/voice?held=1")
    replayed = post(silent.redirect, "redirect")  # PostgreSQL is back
    assert replayed.dial is None and "<Dial" not in replayed.xml
    assert replayed.says[0] == TRANSFER_FAILED
    assert "tapez 2" in replayed.says[1] and replayed.gather["action"].endswith("/webhooks/ivr/offer?node=human&step=2")
    assert pg_phone.call_row(call)["step"] == 2


def spool_pending(server) -> int:
    """The entries of the server's phone spool (ivr/spool.py) not yet written to the store."""
    spool = server.db.with_name(f"{server.db.stem}.phone-spool.db")
    return db_rows(spool, "select count(*) as n from spool")[0]["n"]


def ended(pg_phone, call: Call) -> dict:
    """The call's outcome once its status callback and whatever the spool held are written."""
    deadline = time.monotonic() + 60  # the spool's retries (a condition polled, not a time asserted)
    while time.monotonic() < deadline:
        rows = pg_phone.rows("select outcome, unresolved, duration_s from calls where call_sid = ?", [call.call_sid])
        if rows and rows[0]["duration_s"] is not None and spool_pending(pg_phone.server) == 0:
            return rows[0]
        time.sleep(0.5)
    return rows[0] if rows else {}


def test_a_transfer_not_answered_while_postgresql_is_stopped_then_a_hang_up_without_message_counts_as_with_the_store_up(
    pg_phone,
):
    """Issue 11 (helper brief left11, item 1). The store up: the transfer not answered, the offer, the
    voicemail chosen, and the caller hangs up before leaving a message (Twilio sends only the status
    callback): the call is not counted `transferred` but by what it reached before (nothing: the
    person's node is no answer; Flow.dialed clears the flag): `abandoned`, in the unresolved review. PostgreSQL stopped at the Dial action: the
    voicemail at once, and the caller hangs up the same way, PostgreSQL still stopped or back: the same
    outcome, for the console and the indicators. Before: the row, never told that the transfer failed,
    ended `transferred`."""
    up = pg_phone.call(now=OPEN)
    up.start()
    assert up.press("0").dial == "+33471462300"
    assert up.dial_ended("no-answer").says[0] == TRANSFER_FAILED
    assert up.press("2").record is not None  # the voicemail offered; the caller hangs up before the beep
    assert up.hangup(duration=35) == 200
    assert ended(pg_phone, up) == {"outcome": "abandoned", "unresolved": 1, "duration_s": 35}

    for hang_up_while_stopped in (True, False):
        down = pg_phone.call(now=OPEN)
        down.start()
        assert down.press("0").dial == "+33471462300"
        turns = [lambda down=down: down.dial_ended("no-answer")]
        if hang_up_while_stopped:
            turns.append(lambda down=down: down.hangup(duration=35))
        missed, *_ = stopped(pg_phone, *turns)
        assert missed.record is not None and missed.says[0] == TRANSFER_FAILED  # the voicemail at once
        if not hang_up_while_stopped:
            assert down.hangup(duration=35) == 200
        assert ended(pg_phone, down) == {"outcome": "abandoned", "unresolved": 1, "duration_s": 35}


@contextmanager
def calls_unreadable(pg: cl.Postgres):
    """PostgreSQL answers every read of a `calls` row with an error that is not "busy": the table
    stands behind a view whose column raises (RAISE EXCEPTION: psycopg2's InternalError, the store's
    sqlite3.DatabaseError), as a damaged page would. (Row security cannot: the test's role is a
    superuser, which bypasses it.) Writes to the view fail too; the other tables take rows."""
    import psycopg2

    conn = psycopg2.connect(pg.url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "create function test_refuse_read() returns text language plpgsql volatile as "
            "$$ begin raise exception 'calls read refused by the test'; end $$; "
            "alter table calls rename to test_calls_kept; "
            "create view calls as select *, test_refuse_read() as test_refused from test_calls_kept"
        )
    try:
        yield
    finally:
        with conn.cursor() as cur:
            cur.execute("drop view calls; alter table test_calls_kept rename to calls; drop function test_refuse_read()")
        conn.close()


def test_a_voicemail_left_while_postgresql_cannot_read_the_call_row_is_thanked_and_kept(pg_phone):
    """Issue 11 (helper brief left11c, item 2), on PostgreSQL: the Record action (Twilio's documented
    body) reads the call's row first, and PostgreSQL answers that read with an error that is not
    "busy". Before: the apology and the keypad welcome again, the message lost. Now: the thanks, the
    voicemail and its transcription written once the row can be read again. (PostgreSQL stopped is
    "busy" at that read: test_a_transfer_not_answered_while_postgresql_is_stopped_records_a_message_never_dials_again.)"""
    caller = pg_phone.call()
    _, rsid = to_armes_voicemail(caller)
    with calls_unreadable(pg_phone.pg):
        done = caller.record("Rappelez-moi, permis de chasser.", duration=14, recording_sid=rsid)
        assert done.says == ARMES_THANKS
        assert done.hangup
    deadline = time.monotonic() + 60  # the spool's retries (a condition polled, not a time asserted)
    while time.monotonic() < deadline:
        kept = pg_phone.rows("select mailbox, duration_s, transcription from voicemails where recording_sid = ?", [rsid])
        if kept and kept[0]["transcription"] and kept[0]["duration_s"] is not None:  # written in any order
            break
        time.sleep(0.5)
    assert kept == [{"mailbox": "armes", "duration_s": 14, "transcription": "Rappelez-moi, permis de chasser."}]
    tickets = pg_phone.rows("select mailbox from tickets where idempotency_key = ?", [f"voicemail:{rsid}"])
    assert tickets == [{"mailbox": "armes"}]
