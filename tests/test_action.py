"""Unit tests of the custom action, in the style of Rasa's financial-demo: a tracker built from JSON
(tests/fixtures/trackers/), the action run with a CollectingDispatcher, then the exact events it
returns and the messages it sends. The end-to-end tests (a real Rasa server) are beside these.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import ActionRoute, instead_of
from bot.services import runtime
from bot.store.database import Store

pytestmark = pytest.mark.usefixtures("store_backend")  # SQLite and PostgreSQL (tests/store_backends.py)

TRACKERS = Path(__file__).parent / "fixtures" / "trackers"
TOO_LONG = (
    "Votre message est très long : je n'en ai lu que le début. Si ma réponse ne convient pas, "
    "résumez votre question en une ou deux phrases."
)


def tracker(name: str) -> Tracker:
    return Tracker.from_dict(json.loads((TRACKERS / f"{name}.json").read_text(encoding="utf-8")))


def run(action: ActionRoute, name: str) -> tuple[list, list[dict]]:
    """Run the action in a thread of its own (a browser test may hold an event loop in this one)."""
    dispatcher, result = CollectingDispatcher(), {}

    def go():
        result["events"] = asyncio.run(action.run(dispatcher, tracker(name), {}))

    thread = threading.Thread(target=go)
    thread.start()
    thread.join(60)
    return result["events"], dispatcher.messages


@pytest.fixture()
def cantal(tmp_path, monkeypatch):
    """The action's process objects for the Cantal, on an empty store of its own."""
    monkeypatch.setenv("PREFECTURE", "cantal")
    monkeypatch.setenv("AIGUILLAGE_DB", str(tmp_path / "unit.db"))
    for cached in (runtime.prefecture, runtime.tree, runtime.router, runtime.store, runtime.turn_writer):
        cached.cache_clear()
    yield tmp_path / "unit.db"
    for cached in (runtime.prefecture, runtime.tree, runtime.router, runtime.store, runtime.turn_writer):
        cached.cache_clear()


def test_a_sure_question_gets_the_answer_its_link_and_the_rating_offer(cantal):
    events, messages = run(ActionRoute(), "carte_grise")
    assert events == [SlotSet("misses", 0.0), FollowupAction("action_listen")]
    assert len(messages) == 3
    answer, links, rating = messages
    assert "ANTS" in answer["text"] and "34 00" in answer["text"]
    assert answer["buttons"] == [{"title": "Aide pour une démarche en ligne", "payload": '/navigate{"node":"rdv_pan"}'}]
    assert [link["url"] for link in links["custom"]["links"]] == ["https://ants.gouv.fr"]
    assert rating["custom"] == {
        "answer": {
            "topic": "carte_grise",
            "destination": "ants_3400",
            # offered after « Non »: the model's next topic, then a person
            "alternatives": [
                {"title": "Permis de conduire", "payload": '/navigate{"node":"permis_conduire"}'},
                {"title": "Parler à un agent", "payload": '/navigate{"node":"human"}'},
            ],
        }
    }
    turns = Store(cantal).turns("unit-carte-grise")
    assert [(t["topic"], t["destination"], t["action"], t["channel"]) for t in turns] == [
        ("carte_grise", "ants_3400", "answer", "aiguillage_chat")
    ]


def test_no_right_after_an_answer_offers_its_alternatives(cantal):
    events, messages = run(ActionRoute(), "deny_after_answer")
    assert events == [SlotSet("misses", 0.0), FollowupAction("action_listen")]
    assert messages[0]["text"] == (
        "D'accord. Votre question porte-t-elle plutôt sur l'un de ces thèmes ? "
        "Sinon, dites-moi en quelques mots ce que vous cherchez."
    )
    assert messages[0]["buttons"] == [
        {"title": "Permis de conduire", "payload": '/navigate{"node":"permis_conduire"}'},
        {"title": "Parler à un agent", "payload": '/navigate{"node":"human"}'},
    ]
    turns = Store(cantal).turns("unit-deny-after-answer")
    assert [(t["topic"], t["action"], t["resolved"], json.loads(t["reply"])["buttons"]) for t in turns] == [
        ("carte_grise", "clarify", 0, ["Permis de conduire", "Parler à un agent"])
    ]


PAN = {"title": "Aide pour une démarche en ligne", "payload": '/navigate{"node":"rdv_pan"}'}
AGENT = {"title": "Parler à un agent", "payload": '/navigate{"node":"human"}'}
ANSWERED = {"event": "bot", "data": {"custom": {"answer": {"topic": "permis_conduire", "alternatives": [PAN, AGENT]}}}}


def user(text: str) -> dict:
    return {"event": "user", "text": text}


def bot(buttons: list[dict]) -> dict:
    return {"event": "bot", "text": "…", "data": {"buttons": buttons}}


@pytest.mark.parametrize(
    "events, corrected",
    [
        ([user("mon permis"), ANSWERED, user(PAN["payload"])], "permis_conduire"),  # after the rating's « Non »
        ([user("mon permis"), ANSWERED, user("non"), bot([PAN, AGENT]), user(PAN["payload"])], "permis_conduire"),
        # another question asked meanwhile, whose own buttons hold the same topic: not the answer's alternative
        ([user("mon permis"), ANSWERED, user("et l'aide ?"), bot([PAN]), user(PAN["payload"])], None),
        ([user("mon permis"), ANSWERED, user("a"), bot([]), user("b"), bot([PAN, AGENT]), user(PAN["payload"])], None),
        ([user("mon permis"), ANSWERED, user("j'ai besoin d'aide")], None),  # words, not a choice
        ([user("bonjour"), bot([PAN]), user(PAN["payload"])], None),  # no answer before
    ],
)
def test_a_choice_among_an_answers_alternatives_names_the_answer_it_corrects(events, corrected):
    """Rasa's tracker events (oldest first, the latest message last) as the action reads them."""
    assert instead_of(events, events[-1]["text"]) == corrected


def test_a_vague_message_after_a_miss_hands_over_to_the_prefecture(cantal):
    """The second miss in a row: no more guessing, the préfecture's number and its written channel."""
    events, messages = run(ActionRoute(), "vague_second_miss")
    assert events == [SlotSet("misses", 2.0), FollowupAction("action_listen")]
    assert len(messages) == 2
    assert "04 71 46 23 00" in messages[0]["text"] and "5 jours ouvrés" in messages[0]["text"]
    assert [link["url"] for link in messages[1]["custom"]["links"]] == [
        "/rdv/message?service=courrier",
        "mailto:pref-courrier@cantal.gouv.fr",
    ]
    assert not any(m["custom"].get("answer") for m in messages)  # nothing to rate
    turns = Store(cantal).turns("unit-vague")
    assert [(t["action"], t["resolved"]) for t in turns] == [("fallback", 0)]
    assert Store(cantal).conversation("unit-vague")["status"] == "unresolved"


def test_a_cut_message_is_said_so_first_and_stored_masked(cantal):
    events, messages = run(ActionRoute(), "truncated_with_phone")
    assert events == [SlotSet("misses", 0.0), FollowupAction("action_listen")]
    assert messages[0]["text"] == TOO_LONG
    assert "0806 001 620" in messages[1]["text"]
    stored = Store(cantal).turns("unit-truncated")[0]["text"]
    assert "06 12 34 56 78" not in stored and "[téléphone]" in stored and "Marie" not in stored


def test_a_store_that_cannot_be_written_costs_the_answer_nothing(cantal, monkeypatch, tmp_path):
    monkeypatch.setattr(Store, "record_turn", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    events, messages = run(ActionRoute(), "carte_grise")
    assert events == [SlotSet("misses", 0.0), FollowupAction("action_listen")]
    assert "34 00" in messages[0]["text"]
    # Without a recorded conversation there is nothing to rate: no rating offer.
    assert not any(m["custom"].get("answer") for m in messages)
