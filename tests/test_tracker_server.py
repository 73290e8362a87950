"""The tracker store in the real server (issue 11 §3, issue 16 §4; docs/tracker.md): a write lock
held 14 s on the store while a chat conversation and a phone call go on, and the same answers with
a window smaller than one turn as with Rasa's stock store replaying the whole session."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from conftest import ROOT, TWILIO_TEST_TOKEN, bot_texts, db_rows, launch, stop
from store_lock import Lock

from tools.ivr.simulate import Call

pytestmark = pytest.mark.reliability  # part of the battery (make reliability, docs/reliability.md)

LIVENESS_S = 2.0  # the bound for every webhook's answer while the store is locked
STORE_BUSY = "Désolé, un incident technique m'a empêché d'enregistrer votre choix. Je répète."
# Messages whose answers depend on the conversation's state (the `misses` slot: a clarifying
# question, then the offer of a person), with a routed answer and a button's payload in between.
SCRIPT = [
    "bonjour",
    "xqzv blorp",
    "zzkw plof mrrr",
    "trglm",
    "carte grise",
    "le papier",
    "vvvv bbbb",
    '/navigate{"node": "titre_sejour"}',
    "bof",
    "plouf plouf",
    "je veux refaire ma carte d'identité",
    "merci",
]


def timed(fn, *args, **kwargs):
    start = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - start


def user_texts(db, sender: str) -> list[str]:
    rows = db_rows(db, "select data from events where sender_id = ? and type_name = 'user' order by id", [sender])
    return [json.loads(r["data"])["text"] for r in rows]


def test_a_store_locked_for_14_s_answers_chat_and_phone_within_2_s_and_loses_no_turn(server):
    # The same conversation, unlocked, gives the expected answers (they depend on the misses slot).
    expected = [server.say("tracker-lock-reference", m) for m in SCRIPT[:4]]
    sender = "tracker-lock-1"
    assert server.say(sender, SCRIPT[0]) == [dict(m, recipient_id=sender) for m in expected[0]]
    caller = Call(server.url, TWILIO_TEST_TOKEN, timeout=15)
    caller.start()
    timings, answers = {}, []
    with Lock(server.db, 14) as lock:
        for n, message in enumerate(SCRIPT[1:4], start=1):
            answer, timings[f"chat {n}"] = timed(server.say, sender, message)
            answers.append(answer)
            if n == 1:  # a key press: not applied, the same menu again, at once
                turn, timings["phone key"] = timed(caller.press, "3")
                assert turn.says[0] == STORE_BUSY and not turn.hangup
            if n == 2:  # a new call: the welcome
                newcomer = Call(server.url, TWILIO_TEST_TOKEN, timeout=15)
                first, timings["phone new call"] = timed(newcomer.start)
                assert first.says[0] == "Bonjour, ici le service automatisé de la préfecture du Cantal."
        assert time.monotonic() - lock.started < 14, "the lock was released before the turns were over"
        assert user_texts(server.db, sender) == ["bonjour"]  # nothing written during the lock
    assert {k: v for k, v in timings.items() if v >= LIVENESS_S} == {}, timings
    # the same answers as without the lock: each turn read the state the previous one left pending
    assert answers == [[dict(m, recipient_id=sender) for m in e] for e in expected[1:]]
    # Once the store is free, every chat turn is written, in order: Rasa's events and our turns.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        texts = user_texts(server.db, sender)
        turns = db_rows(server.db, "select text from turns where conversation_id = ? order by id", [sender])
        if len(texts) == 4 and len(turns) == 4:
            break
        time.sleep(0.5)
    assert texts == SCRIPT[:4]
    assert [t["text"] for t in turns] == SCRIPT[:4]
    assert db_rows(server.db, "select turns, misses from conversations where id = ?", [sender]) == [
        db_rows(server.db, "select turns, misses from conversations where id = ?", ["tracker-lock-reference"])[0]
    ]
    # the conversation goes on from where it was
    assert server.say(sender, SCRIPT[4]) == [
        dict(m, recipient_id=sender) for m in server.say("tracker-lock-reference", SCRIPT[4])
    ]
    log = server.log.read_text()
    assert "tracker store: the database is busy" in log and "will be written in the background" in log


def endpoints_with(tmp, name: str, store: dict) -> str:
    """endpoints.yml with another tracker store."""
    conf = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    conf["tracker_store"] = store
    path = tmp / f"endpoints-{name}.yml"
    path.write_text(yaml.safe_dump(conf))
    return str(path)


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    """Rasa's stock SQLTrackerStore (whole session replayed) and ours with a window of 3 events:
    less than one turn, so every turn rebuilds its state from the rows before the window."""
    tmp = tmp_path_factory.mktemp("tracker-window")
    (tmp / "full").mkdir()
    (tmp / "window").mkdir()
    full = launch(
        tmp / "full",
        endpoints=endpoints_with(tmp, "full", {"type": "SQL", "dialect": "sqlite", "db": "${AIGUILLAGE_DB}"}),
    )
    try:
        small = launch(
            tmp / "window",
            endpoints=endpoints_with(
                tmp,
                "window",
                {
                    "type": "bot.nlu.tracker_store.WindowSQLTrackerStore",
                    "dialect": "sqlite",
                    "db": "${AIGUILLAGE_DB}",
                    "window": 3,
                },
            ),
        )
    except BaseException:
        stop(full)
        raise
    yield full, small
    stop(small)
    stop(full)


def test_a_window_smaller_than_a_turn_gives_the_answers_of_the_full_replay(two_servers):
    full, small = two_servers
    for sender in ("window-a", "window-b"):
        got_full = [full.say(sender, m) for m in SCRIPT]
        got_small = [small.say(sender, m) for m in SCRIPT]
        assert got_small == got_full
    # the script went through the answers that depend on the `misses` slot: a clarifying question,
    # then the offer of a person; a routed answer sets it back to 0 (a clarifying question again)
    texts = [bot_texts(a) for a in got_small]
    clarify, person = "Je ne suis pas sûr d'avoir compris.", "Je n'arrive pas à comprendre votre demande, désolé."
    assert [t.split(" Votre question")[0].split(" Un agent")[0] for t in texts[1:4]] == [clarify, person, person]
    assert texts[4].startswith("Les démarches de carte grise") and texts[7].startswith("Les démarches des étrangers")
    assert texts[8].startswith(clarify) and texts[9].startswith(person)
    # the same rows in both stores (but ids and timestamps)
    shape = "select type_name, intent_name, action_name from events where sender_id = 'window-a' order by id"
    assert db_rows(small.db, shape) == db_rows(full.db, shape)


def test_a_rating_during_a_14_s_lock_is_answered_at_once_and_written_after(server):
    """POST /chat/feedback goes through the same background writer as the turns (issue 11 §3)."""
    sender = "tracker-lock-rating"
    server.say(sender, "j'ai perdu ma carte grise")
    with Lock(server.db, 14):
        (status, body), seconds = timed(
            server.post, "/chat/feedback", {"sender": sender, "useful": False, "comment": "mon numéro 06 12 34 56 78"}
        )
        assert status == 200 and body == {"useful": False, "comment": True, "message": "Merci pour votre avis."}
        assert seconds < LIVENESS_S, seconds
        assert db_rows(server.db, "select * from feedback where item_id = ?", [sender]) == []  # not yet: locked
    deadline = time.monotonic() + 30
    rows = []
    while time.monotonic() < deadline and not rows:
        rows = db_rows(server.db, "select useful, comment, topic from feedback where item_id = ?", [sender])
        time.sleep(0.3)
    assert rows == [{"useful": 0, "comment": "mon numéro [téléphone]", "topic": "carte_grise"}]
