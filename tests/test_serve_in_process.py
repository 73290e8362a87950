"""Issue 16, section 4: `python -m bot serve` runs the custom action in the Rasa process, without the
HTTP request to its own /webhooks/actions/webhook (bot/nlu/in_process.py, docs/floor.md). The action's
events and messages are those the HTTP action endpoint gives for the same call. Real Rasa objects,
a real server over HTTP, real SQLite."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
import yaml
from conftest import ROOT, bot_texts, db_rows, launch, stop

from bot.services import runtime
from bot.web.chat import ACTIONS_KEY_HEADER, ACTIONS_PATH

KEY = "floor-test-key-" + "f" * 40
APOLOGY = "une erreur technique m'empêche de répondre"
CACHED = (runtime.prefecture, runtime.tree, runtime.router, runtime.store, runtime.turn_writer)


@pytest.fixture(scope="module")
def wrong_http_key(tmp_path_factory):
    """A server whose endpoints file sends a wrong key with HTTP action calls: every call over HTTP
    would be refused (403), so only an action run in process can answer."""
    tmp = tmp_path_factory.mktemp("floor")
    conf = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    conf["action_endpoint"]["headers"][ACTIONS_KEY_HEADER] = "not-the-key-" + "x" * 40
    endpoints = tmp / "endpoints-wrong-key.yml"
    endpoints.write_text(yaml.safe_dump(conf, sort_keys=False), encoding="utf-8")
    running = launch(tmp, phone=False, extra_env={"AIGUILLAGE_ACTIONS_SECRET": KEY}, endpoints=endpoints)
    yield running
    stop(running)


@pytest.fixture()
def cantal(tmp_path, monkeypatch):
    """This process's action objects for the Cantal, on an empty store of its own."""
    monkeypatch.setenv("PREFECTURE", "cantal")
    monkeypatch.setenv("AIGUILLAGE_DB", str(tmp_path / "in-process.db"))
    monkeypatch.setenv("PORT", "5005")
    monkeypatch.setenv("AIGUILLAGE_ACTIONS_SECRET", KEY)
    for cached in CACHED:
        cached.cache_clear()
    yield tmp_path / "in-process.db"
    for cached in CACHED:
        cached.cache_clear()


def in_thread(coroutine_function):
    """Run a coroutine in a thread of its own (a browser test may hold an event loop in this one)."""
    result: dict = {}

    def go():
        try:
            result["value"] = asyncio.run(coroutine_function())
        except Exception as exc:  # noqa: BLE001 - raised again in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    thread.join(120)
    if "error" in result:
        raise result["error"]
    return result["value"]


def run_action(name: str, endpoint, sender: str, text: str, intent: str, confidence: float) -> list:
    """Rasa's own RemoteAction, on a tracker holding one user message, through `endpoint`."""
    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(ROOT / "domain.yml"))
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": [],
        "intent_ranking": [{"name": intent, "confidence": confidence}],
    }
    events = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered(text, parse_data=parse, input_channel="aiguillage_chat"),
    ]
    tracker = DialogueStateTracker.from_events(sender, events, slots=domain.slots)
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    return in_thread(lambda: RemoteAction(name, endpoint).run(CollectingOutputChannel(), nlg, tracker, domain))


def shown(events: list) -> list:
    """What the events carry, without their timestamps."""
    return [(type(e).__name__, getattr(e, "text", None), getattr(e, "data", None), getattr(e, "value", None)) for e in events]


def test_endpoints_yml_is_read_as_the_in_process_endpoint_once_serve_has_patched_rasa(cantal, tmp_path):
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig

    from bot.nlu import patches
    from bot.nlu.in_process import InProcessActions

    patches.apply_before_start()
    action = AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml")).action
    assert isinstance(action, InProcessActions)
    assert action.package == "actions"
    assert action.url == "http://127.0.0.1:5005/webhooks/actions/webhook"  # kept for Rasa's messages
    conf = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    del conf["action_endpoint"]["in_process"]
    (tmp_path / "http.yml").write_text(yaml.safe_dump(conf), encoding="utf-8")
    plain = AvailableEndpoints.read_endpoints(str(tmp_path / "http.yml")).action
    assert type(plain) is EndpointConfig  # without the key: Rasa's HTTP endpoint, as before


def test_an_unknown_action_fails_in_process_as_it_does_over_http(cantal):
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import EndpointConfig

    from bot.nlu.in_process import InProcessActions

    endpoint = InProcessActions(EndpointConfig(url="http://127.0.0.1:1/webhooks/actions/webhook"), "actions")
    with pytest.raises(RasaException, match="Failed to execute custom action 'action_unknown'"):
        run_action("action_unknown", endpoint, "floor-unknown", "bonjour", "greet", 0.99)


@pytest.mark.parametrize(
    ("text", "intent", "confidence"),
    [("je veux refaire ma carte grise", "carte_grise", 0.99), ("le papier", "hors_perimetre", 0.21)],
)
def test_the_action_run_in_process_gives_the_events_and_messages_of_the_http_endpoint(
    cantal, wrong_http_key, text, intent, confidence
):
    from rasa.utils.endpoints import EndpointConfig

    from bot.nlu.in_process import InProcessActions

    sender = "floor" + uuid.uuid4().hex[:12]
    url = wrong_http_key.url + ACTIONS_PATH
    over_http = run_action(
        "action_route", EndpointConfig(url=url, headers={ACTIONS_KEY_HEADER: KEY}), sender, text, intent, confidence
    )
    in_process = run_action(
        "action_route", InProcessActions(EndpointConfig(url=url), "actions"), sender, text, intent, confidence
    )
    assert shown(in_process) == shown(over_http)
    assert [type(e).__name__ for e in in_process][-2:] == ["SlotSet", "FollowupAction"]
    assert len(in_process) >= 2
    # Each path recorded the turn in its own store: the server's file, and this test's.
    assert [r["text"] for r in db_rows(wrong_http_key.db, "select text from turns where conversation_id = ?", [sender])] == [text]
    assert [r["text"] for r in db_rows(cantal, "select text from turns where conversation_id = ?", [sender])] == [text]


def test_a_chat_turn_is_answered_without_the_http_hop(wrong_http_key):
    """The endpoints file's HTTP key is wrong, so an action call over HTTP would be refused and the
    person would read the apology: the answer proves the action ran in the Rasa process."""
    sender = "floor" + uuid.uuid4().hex[:12]
    answer = wrong_http_key.say(sender, "je veux refaire ma carte grise")
    assert APOLOGY not in bot_texts(answer)
    assert "ANTS" in bot_texts(answer)
    said = answer[-1]["custom"]["answer"]
    assert (said["topic"], said["destination"], said["alternatives"][-1]["title"]) == (
        "carte_grise",
        "ants_3400",
        "Parler à un agent",
    )
    log = wrong_http_key.log.read_text(errors="replace")
    assert "refused an action call" not in log
    rows = db_rows(wrong_http_key.db, "select text, topic from turns where conversation_id = ?", [sender])
    assert rows == [{"text": "je veux refaire ma carte grise", "topic": "carte_grise"}]
