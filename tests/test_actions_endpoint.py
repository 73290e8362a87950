"""Issue 13, part 5: the in-process action endpoint (/webhooks/actions/webhook) answers only the
Rasa of its own process (a key in a header, endpoints.yml), reads at most BODY_LIMITS of it, and the
text it stores is cut to the chat's limit. Real servers over HTTP, real SQLite."""

from __future__ import annotations

import json
import subprocess
import uuid
from urllib.parse import urlsplit

import pytest
from conftest import ROOT, bot_texts, db_rows, launch, stop
from raw_http import request

from bot import settings
from bot.web.chat import ACTIONS_KEY_HEADER, ACTIONS_PATH, BODY_LIMITS

pytestmark = pytest.mark.reliability  # part of the battery (make reliability, docs/reliability.md)

KEY = "operator-set-key-" + "k" * 40  # the operator's own value (AIGUILLAGE_ACTIONS_SECRET)
APOLOGY = "une erreur technique m'empêche de répondre"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """A server whose action key the test knows (the operator set it)."""
    running = launch(tmp_path_factory.mktemp("keyed"), phone=False, extra_env={"AIGUILLAGE_ACTIONS_SECRET": KEY})
    yield running
    stop(running)


def post(server, body: bytes, headers: dict | None = None, **kwargs):
    url = urlsplit(server.url)
    return request(
        url.hostname, url.port, "POST", ACTIONS_PATH, body, {"Content-Type": "application/json", **(headers or {})}, **kwargs
    )


def forged_call(sender: str, text: str) -> bytes:
    """What Rasa 3.6 posts to the action server (RemoteAction._action_call_format): the next action,
    the tracker's current state (its latest message and events), the domain, the version."""
    parse = {
        "text": text,
        "intent": {"name": "carte_grise", "confidence": 0.99},
        "entities": [],
        "intent_ranking": [{"name": "carte_grise", "confidence": 0.99}],
    }
    tracker = {
        "sender_id": sender,
        "slots": {"misses": 0.0},
        "latest_message": parse,
        "latest_event_time": 1764577000.0,
        "followup_action": None,
        "paused": False,
        "events": [
            {"event": "action", "timestamp": 1764576999.0, "name": "action_session_start"},
            {"event": "session_started", "timestamp": 1764576999.0},
            {"event": "action", "timestamp": 1764576999.1, "name": "action_listen"},
            {
                "event": "user",
                "timestamp": 1764577000.0,
                "text": text,
                "parse_data": parse,
                "input_channel": "web",
                "metadata": {},
            },
        ],
        "latest_input_channel": "web",
        "active_loop": {},
        "latest_action": {"action_name": "action_listen"},
        "latest_action_name": "action_listen",
    }
    return json.dumps(
        {"next_action": "action_route", "sender_id": sender, "tracker": tracker, "domain": {}, "version": "3.6.21"}
    ).encode()


def turns_of(server, sender: str) -> list[str]:
    return [r["text"] for r in db_rows(server.db, "select text from turns where conversation_id = ? order by id", [sender])]


def test_a_forged_turn_in_another_persons_conversation_is_refused_and_not_written(server):
    victim = "victim" + uuid.uuid4().hex[:12]
    answer = server.say(victim, "je veux refaire ma carte grise")  # Rasa's own action call carries the key
    assert APOLOGY not in bot_texts(answer)
    assert turns_of(server, victim) == ["je veux refaire ma carte grise"]
    forged = forged_call(victim, "Votre dossier est refusé, appelez le 08 99 00 00 00")

    missing = post(server, forged)  # from 127.0.0.1, as every request behind a local reverse proxy
    assert missing.status == 403
    assert json.loads(missing.body)["error"] == (
        f"Actions are served to this process's Rasa only: missing or wrong {ACTIONS_KEY_HEADER}."
    )
    wrong = post(server, forged, {ACTIONS_KEY_HEADER: "x" * 43})
    assert wrong.status == 403
    assert turns_of(server, victim) == ["je veux refaire ma carte grise"]
    assert db_rows(server.db, "select turns from conversations where id = ?", [victim]) == [{"turns": 1}]


def test_the_same_call_with_the_key_runs_the_action_and_its_text_is_cut_to_the_chat_limit(keyed):
    # The forged body has the real shape: with the key, the action answers and writes the turn.
    sender = "k" + uuid.uuid4().hex[:12]
    answered = post(keyed, forged_call(sender, "carte grise " + "a" * 19_988), {ACTIONS_KEY_HEADER: KEY})
    assert answered.status == 200, answered.body[:300]
    assert json.loads(answered.body)["events"] == [
        {"event": "slot", "timestamp": None, "name": "misses", "value": 0.0},
        {"event": "followup", "timestamp": None, "name": "action_listen"},
    ]
    stored = turns_of(keyed, sender)
    assert len(stored) == 1
    assert stored[0].startswith("carte grise aaaa")
    assert len(stored[0]) == 2000  # max_message_chars (bot/tree.yml), not 20 000


def test_a_2_mb_action_call_is_refused_fast_and_the_server_keeps_answering(keyed):
    two_mb = (
        b'{"next_action": "action_route", "tracker": {"sender_id": "x", "latest_message": {"text": "' + b"a" * 2_097_152 + b'"}}}'
    )
    assert len(two_mb) > BODY_LIMITS[ACTIONS_PATH]
    declared = post(keyed, two_mb, {ACTIONS_KEY_HEADER: KEY})
    assert declared.status == 413
    assert json.loads(declared.body)["error"] == "The action call is larger than 1000000 bytes."
    assert declared.seconds < 2
    chunked = post(keyed, two_mb, {ACTIONS_KEY_HEADER: KEY}, chunked=True)  # no declared length
    assert chunked.status == 413
    assert chunked.seconds < 2
    without_key = post(keyed, two_mb)
    assert without_key.status == 403
    assert without_key.seconds < 2
    assert APOLOGY not in bot_texts(keyed.say("u" + uuid.uuid4().hex[:12], "je veux refaire ma carte grise"))


def test_a_call_without_the_key_is_answered_at_once_and_its_body_never_read(server):
    # 85 MB announced, 1 MB sent, the rest never comes: the 403 arrives and the connection closes at
    # once (Sanic would otherwise wait to drain the announced body after answering).
    answer = post(server, b"x" * 1_000_000, declared=85_000_000, timeout=30)
    assert answer.status == 403
    assert answer.seconds < 2


def test_a_route_sanic_reads_by_itself_takes_at_most_1_mb(server):
    # The phone's webhooks are not streamed: Sanic's own limit applies, lowered from 100 MB to the
    # largest route limit, with the French answer of every refused body.
    url = urlsplit(server.url)
    answer = request(
        url.hostname,
        url.port,
        "POST",
        "/webhooks/ivr/voice",
        b"CallSid=CA1&" + b"x" * 65536,
        {"Content-Type": "application/x-www-form-urlencoded"},
        declared=85_000_000,
        timeout=30,
    )
    assert answer.status == 413
    assert json.loads(answer.body) == {"error": "Votre envoi est trop volumineux : raccourcissez votre texte et recommencez."}
    assert answer.seconds < 2


def test_a_long_conversation_of_long_messages_stays_under_the_cap(keyed):
    # Measured: the action call grows ~12 kB per 2000-character message (501 kB after 40).
    sender = "long" + uuid.uuid4().hex[:12]
    message = ("Bonjour je voudrais savoir comment renouveler mon titre de séjour et ma carte grise " * 30)[:2000]
    for turn in range(40):
        assert APOLOGY not in bot_texts(keyed.say(sender, message)), f"turn {turn + 1}"
    assert len(turns_of(keyed, sender)) == 40


def test_the_key_is_made_at_start_up_unless_the_operator_sets_one():
    first, second = {}, {}
    made = settings.ensure_actions_secret(first)
    assert first == {"AIGUILLAGE_ACTIONS_SECRET": made}
    assert len(made) >= 32
    assert settings.ensure_actions_secret(second) != made  # per process: a new one each start
    assert settings.ensure_actions_secret(first) == made  # set once, kept
    operator = {"AIGUILLAGE_ACTIONS_SECRET": KEY}
    assert settings.ensure_actions_secret(operator) == KEY
    with pytest.raises(settings.SettingsError, match="AIGUILLAGE_ACTIONS_SECRET: expected at least 32 characters"):
        settings.ensure_actions_secret({"AIGUILLAGE_ACTIONS_SECRET": "short"})


def test_a_short_operator_key_stops_the_start_with_the_variable_named(python):
    done = subprocess.run(
        [python, "-m", "bot", "serve", "--port", "1"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "AIGUILLAGE_ACTIONS_SECRET": "short"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "configuration error: AIGUILLAGE_ACTIONS_SECRET: expected at least 32 characters" in done.stderr
