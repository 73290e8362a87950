"""A chat turn while PostgreSQL does not answer at all (a frozen host, a network dropping packets).

PostgreSQL stopped or restarting refuses connections, and the chat answers its French 503 within
seconds (tests/test_cluster.py). Frozen, it accepts and never answers: a turn's read of its
conversation waited on a pooled connection until Sanic's 60 s response timeout, which then sent an
HTML page to the chat page's JSON client. The turn now answers within `settings.chat_answer_within_ms`
(bot/tree.yml) with the chat's JSON 503 (`chat.script.retry_later`, Retry-After), and the turn given
up, still under way until PostgreSQL answers, changes nothing when it ends: neither its events (the
conversation the page reloads, what the next message means) nor its record (the agents' transcript).

The chat page's two other JSON routes are bounded the same way: `GET /chat/history` (called at each
reload to draw the conversation again) and `POST /chat/feedback` (the rating of the last answer) waited
on the store until Sanic's 60 s too. They answer the same 503 in time; the history read is a read, and a
rating the person was answered 503 for is not recorded when PostgreSQL answers again (neither the
request's own write nor a copy kept to be written later): the rating stored before stays as it was.

One real server (`python -m bot serve`) on a real PostgreSQL (DATABASE_URL: the product's store and
Rasa's tracker store), frozen with SIGSTOP on every PostgreSQL process and thawed with SIGCONT
(tests/test_health.py `frozen`); the chat's own request bodies, sent as web/static/chat.js sends them,
and the chat page itself in real Chromium."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid

import pytest
from conftest import bot_texts, until
from playwright.sync_api import expect
from store_backends import pg_rows, server_on_postgresql
from test_health import frozen

# bot/tree.yml `chat.script.retry_later` and `settings.chat_retry_after_s` (tests/test_cluster.py's too).
RETRY_LATER = (
    "L'assistant est momentanément indisponible à cause d'un incident technique. Réessayez dans "
    "quelques instants : votre conversation est conservée."
)
CLARIFY = "Je ne suis pas sûr d'avoir compris."
CARTE_GRISE = "je dois refaire ma carte grise"  # a routed answer: the chat page offers its rating
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


def call_json(server, method: str, path: str, data: dict | None = None) -> tuple[int, dict, object, float]:
    """A JSON request as web/static/chat.js `callJson` sends it (its history and rating calls), with the
    client's own timeout: (status, headers, JSON body, seconds taken); a body that is no JSON fails the test."""
    headers = {"Accept": "application/json", "Origin": server.url}
    body = None
    if data is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(data).encode()
    request = urllib.request.Request(server.url + path, data=body, headers=headers, method=method)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT_S) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read()), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode()
        assert exc.headers.get("Content-Type", "").startswith("application/json"), raw[:300]
        return exc.code, dict(exc.headers), json.loads(raw), time.monotonic() - started


def assert_retry_later(status: int, headers: dict, body: object, seconds: float) -> None:
    """The chat's JSON 503 (bot/web/degraded.py `unavailable`), within the bound (10 s) and the client's timeout."""
    assert (status, body) == (503, {"error": RETRY_LATER})
    assert headers["Retry-After"] == "10" and headers["Cache-Control"] == "no-store"
    assert 9.5 <= seconds < 20, seconds  # settings.chat_answer_within_ms, not Sanic's 60 s
    print(f"503 after {seconds:.1f} s")


def rating_row(pg, sender: str) -> list[dict]:
    sql = "select useful, comment, topic, created_at, updated_at from feedback where kind = 'chat' and item_id = ?"
    return pg_rows(pg.url, sql, [sender])


def test_a_reload_while_postgresql_is_frozen_answers_the_json_503_in_time_and_then_the_same_history(on_postgresql):
    """GET /chat/history, the chat page's call at each reload. Before: no answer within the client's 30 s
    (the read of the conversation waited on PostgreSQL until Sanic's 60 s). Now: the JSON 503 with the
    French text and Retry-After in time; thawed, the same conversation as before the freeze, every turn."""
    server, pg = on_postgresql
    sender = "gel-" + uuid.uuid4().hex[:12]
    assert chat(server, sender, CARTE_GRISE)[0] == 200
    status, _, before, _ = call_json(server, "GET", f"/chat/history?sender={sender}")
    assert status == 200
    assert [(t["role"], t.get("text")) for t in before["turns"]] == [("user", CARTE_GRISE), ("bot", None)]
    with frozen(pg):
        assert_retry_later(*call_json(server, "GET", f"/chat/history?sender={sender}"))
    late = f"web chat: the history of {sender} ended after its 503"
    until(lambda: late in server.log.read_text(errors="replace"), 60, "the late read ended")
    status, _, after, _ = call_json(server, "GET", f"/chat/history?sender={sender}")
    assert (status, after) == (200, before)
    assert history(server, sender) == [CARTE_GRISE]
    assert "never retrieved" not in server.log.read_text(errors="replace")


def test_a_rating_while_postgresql_is_frozen_answers_the_json_503_in_time_and_is_not_recorded_later(on_postgresql):
    """POST /chat/feedback, the rating of the last answer ("Non" and its comment, as chat.js sends them).
    Before: no answer within the client's 30 s. Now: the JSON 503 in time, and the rating the person was
    told failed is not recorded once PostgreSQL answers again: the rating given before stays as it was
    (not replaced by the late one, nor by a copy kept to be written later). Thawed, a new rating is taken."""
    server, pg = on_postgresql
    sender = "gel-" + uuid.uuid4().hex[:12]
    status, _, answer = chat(server, sender, CARTE_GRISE)
    assert status == 200 and any((m.get("custom") or {}).get("answer") for m in answer)  # the page offers the rating
    thanks = {"useful": True, "comment": False, "message": "Merci pour votre avis."}
    assert call_json(server, "POST", "/chat/feedback", {"sender": sender, "useful": True})[:3:2] == (200, thanks)
    stored = rating_row(pg, sender)
    assert [(r["useful"], r["comment"], r["topic"]) for r in stored] == [(1, None, "carte_grise")]
    with frozen(pg):
        refused = call_json(server, "POST", "/chat/feedback", {"sender": sender, "useful": False})
        assert_retry_later(*refused)
        commented = {"sender": sender, "useful": False, "comment": "Il manque les pièces à fournir"}
        assert_retry_later(*call_json(server, "POST", "/chat/feedback", commented))
    # Each ends once PostgreSQL answers: its read then its write given up ("not written"), or its read failed
    # (a new connection's connect timed out meanwhile, logged with its error): never a write kept for later.
    ended = re.compile(rf"web chat: the rating of {sender} ended after its 503( \(| with )")
    until(lambda: len(ended.findall(server.log.read_text(errors="replace"))) >= 2, 60, "the late ratings ended")
    assert rating_row(pg, sender) == stored
    assert pg_rows(pg.url, "select count(*) as n from feedback where item_id = ?", [sender]) == [{"n": 1}]
    again = call_json(server, "POST", "/chat/feedback", {"sender": sender, "useful": False})
    assert again[:3:2] == (200, {"useful": False, "comment": False, "message": "Merci pour votre avis."})
    assert [(r["useful"], r["comment"]) for r in rating_row(pg, sender)] == [(0, None)]
    assert "never retrieved" not in server.log.read_text(errors="replace")


def plain(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())


def test_the_chat_page_says_the_french_message_when_a_rating_or_a_reload_meets_a_frozen_postgresql(on_postgresql, browser):
    """The chat page in Chromium, PostgreSQL frozen. A rating: the box says the server's French text and
    offers its buttons again; thawed, the same button is thanked. A reload: the conversation cannot be drawn
    again, the page says so in the same error bubble as a turn's 503 (with the préfecture's phone) rather
    than showing an empty conversation; thawed, a reload draws the conversation again."""
    server, pg = on_postgresql
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(server.url + "/chat/")
        page.fill("#chat-input", CARTE_GRISE)
        page.press("#chat-input", "Enter")
        rating = page.locator("#chat-log [data-role=rating]")
        expect(rating.get_by_role("button", name="Oui")).to_be_visible(timeout=60_000)
        with frozen(pg):
            rating.get_by_role("button", name="Oui").click()
            error = rating.locator(".chat__rating-question.fr-error-text")
            expect(error).to_be_visible(timeout=CLIENT_TIMEOUT_S * 1000)
            assert plain(error.inner_text()) == RETRY_LATER
            expect(rating.get_by_role("button", name="Oui")).to_be_enabled()
        rating.get_by_role("button", name="Oui").click()
        expect(rating).to_contain_text("Merci pour votre avis.", timeout=CLIENT_TIMEOUT_S * 1000)
        expect(rating.locator(".chat__rating-question.fr-error-text")).to_have_count(0)
        with frozen(pg):
            page.reload()
            bubble = page.locator("#chat-log .chat__msg--error")
            expect(bubble).to_be_visible(timeout=CLIENT_TIMEOUT_S * 1000)
            shown = plain(bubble.inner_text())
            assert RETRY_LATER in shown and "04 71 46 23 00" in shown, shown
            expect(page.locator("#chat-log [data-role=user]")).to_have_count(0)
        page.reload()
        expect(page.locator("#chat")).to_have_attribute("data-restored", "true", timeout=CLIENT_TIMEOUT_S * 1000)
        expect(page.locator("#chat-log [data-role=user]")).to_have_text(["Vous : " + CARTE_GRISE])
        expect(page.locator("#chat-log .chat__msg--error")).to_have_count(0)
    finally:
        context.close()


@pytest.mark.usefixtures("store_backend")
def test_a_rating_answered_503_while_it_is_written_is_rolled_back_not_committed(tmp_path):
    """The window the server test cannot hit on purpose: the 503 goes between the rating's write and its
    commit (PostgreSQL frozen once the INSERT was sent). `feedback.record_unless` looks again before the
    commit, in the writing thread: the write is undone, the rating stored before stays as it was."""
    from bot.services import feedback
    from bot.store.database import Store

    store = Store(tmp_path / "ratings.db")
    try:
        rating = {"kind": "chat", "item_id": "gel-unit", "prefecture": "cantal", "topic": "carte_grise", "destination": None}
        first = feedback.record_unless(store, lambda: False, useful=True, **rating)
        assert (first["useful"], first["comment"]) == (1, None)
        looks = iter([False, True])  # not told before the write; told before its commit
        assert feedback.record_unless(store, lambda: next(looks), useful=False, comment="Pas clair", **rating) is None
        assert feedback.record_unless(store, lambda: True, useful=False, **rating) is None  # told before: not tried
        rows = list(store.db.query("select useful, comment, updated_at from feedback where item_id = ?", ["gel-unit"]))
        assert rows == [{"useful": 1, "comment": None, "updated_at": first["updated_at"]}]
        assert not store.db.conn.in_transaction
    finally:
        store.close()
