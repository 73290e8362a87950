"""A chat turn while PostgreSQL does not answer at all (a frozen host, a network dropping packets).

PostgreSQL stopped or restarting refuses connections, and the chat answers its French 503 within
seconds (tests/test_cluster.py). Frozen, it accepts and never answers: a turn's read of its
conversation waited on a pooled connection until Sanic's 60 s response timeout, which then sent an
HTML page to the chat page's JSON client. The turn now answers within `settings.chat_answer_within_ms`
(bot/tree.yml) with the chat's JSON 503 (`chat.script.retry_later`, Retry-After), and the turn given
up, still under way until PostgreSQL answers, changes nothing when it ends: neither its events (the
conversation the page reloads, what the next message means) nor its record (the agents' transcript).

One real server (`python -m bot serve`) on a real PostgreSQL (DATABASE_URL: the product's store and
Rasa's tracker store), frozen with SIGSTOP on every PostgreSQL process and thawed with SIGCONT
(tests/test_health.py `frozen`); the chat's own request body, posted as web/static/chat.js posts it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
from conftest import bot_texts, until
from store_backends import pg_rows, server_on_postgresql
from test_health import frozen

# bot/tree.yml `chat.script.retry_later` and `settings.chat_retry_after_s` (tests/test_cluster.py's too).
RETRY_LATER = (
    "L'assistant est momentanément indisponible à cause d'un incident technique. Réessayez dans "
    "quelques instants : votre conversation est conservée."
)
CLARIFY = "Je ne suis pas sûr d'avoir compris."
HAND_OVER = "Un agent de la préfecture pourra vous répondre"
# The person's browser gives up long before Sanic's 60 s; the server must answer well within this.
CLIENT_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def on_postgresql(tmp_path_factory):
    with server_on_postgresql(tmp_path_factory.mktemp("chat-frozen")) as both:
        yield both


def chat(server, sender: str, message: str) -> tuple[int, dict, object]:
    """A turn as the chat page posts it (JSON, from its own origin, JSON expected), with the client's own
    timeout: (status, headers, JSON body); a body that is no JSON fails the test."""
    body = json.dumps({"sender": sender, "message": message}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json", "Origin": server.url}
    request = urllib.request.Request(server.url + "/chat/webhook", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT_S) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode()
        assert exc.headers.get("Content-Type", "").startswith("application/json"), raw[:300]
        return exc.code, dict(exc.headers), json.loads(raw)


def history(server, sender: str) -> list[str]:
    """The person's messages in the conversation the chat page draws again after a reload."""
    with urllib.request.urlopen(f"{server.url}/chat/history?sender={sender}", timeout=CLIENT_TIMEOUT_S) as answer:
        return [t["text"] for t in json.loads(answer.read())["turns"] if t["role"] == "user"]


def test_a_turn_while_postgresql_is_frozen_answers_the_json_503_in_time_and_is_not_applied_later(on_postgresql):
    """Before: no answer within the client's 30 s (Sanic's 60 s, then an HTML 503). Now: the JSON 503 with
    the French text and Retry-After; once PostgreSQL answers again, the read still under way since the
    freeze ends and its turn is dropped before its record and before its events (logged), so the next
    vague message is the conversation's first miss (a clarification), not its second (the hand-over to a
    person), and the page's history and the agents' transcript hold only the turns that were answered."""
    server, pg = on_postgresql
    sender = "gel-" + uuid.uuid4().hex[:12]
    status, _, first = chat(server, sender, "changement d'adresse sur ma carte grise")
    assert status == 200 and "sites payants" in bot_texts(first)
    with frozen(pg):
        status, headers, refused = chat(server, sender, "zorglub wintz blurp")
    assert (status, refused) == (503, {"error": RETRY_LATER})
    assert headers["Retry-After"] == "10" and headers["Cache-Control"] == "no-store"
    dropped = f"web chat: a turn of {sender} ended after its 503: "
    log = until(lambda: (text := server.log.read_text(errors="replace")).count(dropped) >= 2 and text, 60, "the late turn ended")
    assert dropped + "its record is not written" in log and dropped + "its events are not written" in log
    status, _, after = chat(server, sender, "grumf plonk vrrr")
    assert status == 200
    assert bot_texts(after).startswith(CLARIFY) and HAND_OVER not in bot_texts(after)
    assert history(server, sender) == ["changement d'adresse sur ma carte grise", "grumf plonk vrrr"]
    recorded = pg_rows(pg.url, "select text from turns where conversation_id = ? order by id", [sender])
    assert [r["text"] for r in recorded] == ["changement d'adresse sur ma carte grise", "grumf plonk vrrr"]
