"""Issue 16, sections 4 and 5: what a chat turn no longer spends (docs/floor.md, "Where a turn's CPU
goes") gives the same results. The model's own graph run by Rasa's DaskGraphRunner and by our
SequentialGraphRunner (real model, real components); the in-process action call's copy against the
JSON round trip it replaces."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT

from bot.nlu.in_process import _json_copy

MODEL = ROOT / "models" / "aiguillage.tar.gz"


@pytest.fixture(scope="module")
def runners():
    """The model loaded twice, with each runner (as rasa.core.processor loads it)."""
    from rasa.engine import loader
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    from bot.nlu.graph_runner import SequentialGraphRunner

    if not MODEL.exists():  # as the session's server fixture: a missing model is an error, not a skip
        pytest.exit(f"No trained model at {MODEL}: run the tests with `make test` (it trains first).", returncode=2)
    loaded = {}
    for name, cls in (("dask", DaskGraphRunner), ("sequential", SequentialGraphRunner)):
        with tempfile.TemporaryDirectory() as tmp:
            loaded[name] = loader.load_predict_graph_runner(Path(tmp), MODEL, LocalModelStorage, cls)
    return loaded


def tracker_after(text: str, parse_data: dict):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(ROOT / "domain.yml"))
    events = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
    events.append(UserUttered(text, intent=parse_data["intent"], parse_data=parse_data))
    return DialogueStateTracker.from_events("floor-graph", events, slots=domain.slots)


@pytest.mark.parametrize(
    "text", ["j'ai vendu ma voiture que dois-je faire pour la carte grise", "le papier", "bonjour", '/navigate{"node": "cg"}']
)
def test_the_sequential_runner_parses_and_predicts_as_dask_does(runners, text):
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.trackers import DialogueStateTracker

    outputs = {}
    for name, (metadata, runner) in runners.items():
        message = UserMessage(text, sender_id="floor-graph")
        parsed = runner.run(
            inputs={PLACEHOLDER_MESSAGE: [message], PLACEHOLDER_TRACKER: DialogueStateTracker("floor-graph", [])},
            targets=[metadata.nlu_target],
        )[metadata.nlu_target][0]
        data = parsed.as_dict(only_output_properties=True)
        data.pop("message_id", None)
        prediction = runner.run(inputs={PLACEHOLDER_TRACKER: tracker_after(text, data)}, targets=[metadata.core_target])[
            metadata.core_target
        ]
        outputs[name] = (data, prediction.max_confidence_index, prediction.probabilities, prediction.policy_name)
    dask_data, sequential_data = outputs["dask"][0], outputs["sequential"][0]
    assert sequential_data == dask_data
    assert outputs["sequential"][1:] == outputs["dask"][1:]
    assert outputs["sequential"][3] == "RulePolicy"


def test_the_sequential_runner_refuses_an_input_named_like_a_node(runners):
    from rasa.engine.constants import PLACEHOLDER_TRACKER
    from rasa.engine.exceptions import GraphRunError

    for name in ("dask", "sequential"):
        metadata, runner = runners[name]
        with pytest.raises(GraphRunError, match="clashes with a node name"):
            runner.run(inputs={PLACEHOLDER_TRACKER: metadata.core_target}, targets=[metadata.core_target])


def test_the_action_call_copy_is_what_the_json_round_trip_gives():
    import numpy as np

    call = {
        "next_action": "action_route",
        "tracker": {
            "events": [
                {"event": "user", "text": "ma carte grise\ud83d\ude00 é", "parse_data": {"text_tokens": [(0, 2), (3, 8)]}},
                {"event": "slot", "name": "misses", "value": 1.0, "timestamp": 1796136859.6996422},
                {"event": "bot", "data": {"buttons": None, "custom": {"n": 3, "ok": True, "x": float("inf")}}},
            ],
            "paused": False,
        },
        "confidence": np.float64(0.25),  # a float subclass: written by JSON as a plain float
        "ids": {1: "a"},  # a key that JSON writes as a string
    }
    copied = _json_copy(call)
    expected = json.loads(json.dumps(call))
    assert copied == expected
    assert copied["tracker"]["events"][0]["parse_data"]["text_tokens"] == [[0, 2], [3, 8]]
    assert type(copied["confidence"]) is float and copied["ids"] == {"1": "a"}
    assert math.isinf(copied["tracker"]["events"][2]["data"]["custom"]["x"])
    # Nothing shared: changing the copy leaves the original as it was.
    copied["tracker"]["events"][1]["value"] = 2.0
    copied["tracker"]["events"][2]["data"]["custom"]["n"] = 4
    assert call["tracker"]["events"][1]["value"] == 1.0
    assert call["tracker"]["events"][2]["data"]["custom"]["n"] == 3


def test_a_turn_runs_the_policies_once_and_still_routes_every_message(server):
    """action_route ends the turn with FollowupAction(action_listen): the listen that closes each turn
    is the action's follow-up, not a second prediction; the next message is routed by RulePolicy."""
    import uuid

    from conftest import db_rows

    sender = "floor" + uuid.uuid4().hex[:12]
    first = server.say(sender, "j'ai vendu ma voiture que dois-je faire pour la carte grise")
    second = server.say(sender, "mon titre de sejour arrive a expiration")
    assert "ANTS" in first[0]["text"]
    assert "titre" in second[0]["text"].lower() or "séjour" in second[0]["text"].lower()
    rows = db_rows(server.db, "select data from events where sender_id = ? and type_name = 'action' order by id", [sender])
    actions = [(json.loads(r["data"])["name"], json.loads(r["data"])["policy"]) for r in rows]
    assert actions[-4:] == [
        ("action_route", "RulePolicy"),
        ("action_listen", "followup_action"),
        ("action_route", "RulePolicy"),
        ("action_listen", "followup_action"),
    ]


@pytest.mark.parametrize(
    "result",
    [
        {"events": [{"event": "slot", "timestamp": None, "name": "misses", "value": 0.0}], "responses": [{"text": "x"}]},
        {
            "events": [
                {"event": "slot", "timestamp": None, "name": "misses", "value": 0.0},
                {"event": "followup", "name": "action_listen"},
            ]
        },
        {"events": [], "responses": []},
        {},
        {"events": [{"event": "no_such_event"}]},
        {"events": [{"name": "misses", "value": 1.0}]},  # no "event"
        {"events": [{"event": "slot", "timestamp": "today", "name": "misses", "value": 0.0}]},
        {"events": {"event": "slot"}},  # not a list
        {"events": ({"event": "followup", "name": "action_listen"},)},  # a tuple is no JSON array
        {"responses": [{"text": "x"}, "not an object"]},
        {"responses": {"text": "x"}},
        ["not", "an", "object"],
    ],
)
def test_the_answer_check_keeps_the_verdicts_of_rasas_schema(result):
    """The patched check of an action's answer (bot/nlu/patches.py, _events_kept) says what
    jsonschema says of Rasa's own schema, the first time and when the verdict was kept."""
    import jsonschema
    from rasa.core.actions.action import RemoteAction

    from bot.nlu.patches import _events_kept

    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    is_valid = _events_kept(schema, validator_class)
    expected = validator_class(schema).is_valid(result)
    assert is_valid(result) is expected
    assert is_valid(result) is expected
