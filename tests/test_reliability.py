"""Issue 13, the quick part: hostile inputs against a real server (and the masking patterns alone).

Timings are asserted only as generous bounds: a complexity check for the masking patterns (1 MB must
not cost much more than ten times 100 KB) and a liveness bound (the chat answers within 1 s while
another client sends the worst input it can).
"""
from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest

from bot.masking import PATTERNS, mask, prepare

# Inputs that almost match each pattern, repeated: long runs of digits, of digits and spaces, dots
# or dashes, of letters, of "@" and of letter/digit groups that look like the start of an IBAN or a
# plate. Each is cut to the wanted size.
ADVERSARIAL = {
    "digits": "1",
    "digits and spaces": "1 ",
    "digits and dots": "1.",
    "digits and dashes": "1-",
    "letters": "a",
    "letters and dots": "a.",
    "at signs": "@",
    "word then at": "a@",
    "dotted domain": "a@b.",
    "plus and digits": "+3",
    "iban-like": "FR76 ",
    "plate-like": "AB-123-",
    "capitals and digits": "A1",
    "spaces": " ",
}


def adversarial(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@pytest.mark.parametrize("label, pattern", PATTERNS, ids=[p.pattern[:30] for _, p in PATTERNS])
def test_every_masking_pattern_runs_in_linear_time(label, pattern):
    """1 MB of input that almost matches costs at most ~10x 100 KB (quadratic would be 100x)."""
    for name, unit in ADVERSARIAL.items():
        small, big = adversarial(unit, 100_000), adversarial(unit, 1_000_000)
        t_small = min(seconds(lambda: pattern.sub(label, small)) for _ in range(2))
        t_big = seconds(lambda: pattern.sub(label, big))
        assert t_big < 5.0, f"{name}: 1 MB took {t_big:.2f} s"
        assert t_big < 30 * t_small + 0.3, f"{name}: 100 KB {t_small:.3f} s, 1 MB {t_big:.3f} s: not linear"


def test_a_long_text_is_cut_before_it_is_masked():
    """The cut happens first: a 1 MB message costs what its first 2000 characters cost."""
    text = "mon numéro 06 12 34 56 78 " + adversarial("1", 1_000_000)
    masked, truncated = prepare(text, 2000)
    assert truncated is True
    assert masked == "mon numéro [téléphone]"  # the run of digits is cut at the last space
    assert seconds(lambda: prepare(text, 2000)) < 1.0
    # A number straddling the limit is masked whole before the cut: no digit of it is left.
    straddling = "a " * 994 + "06 12 34 56 78 merci"  # the number spans characters 1988-2001
    masked, truncated = prepare(straddling, 2000)
    assert truncated is True
    assert masked.endswith(" a") or masked.endswith(" a [téléphone]")
    assert not any(c.isdigit() for c in masked)


# ---- against a real server ------------------------------------------------------------------

JSON_ROUTES = ["/chat/webhook", "/chat/feedback", "/rdv/api/reserver", "/rdv/api/annuler", "/rdv/api/message"]
FORM_ROUTES = ["/rdv/reserver", "/rdv/annuler", "/rdv/message"]
# The body limit of each route (bytes), as the issue asks: low, the chat's 8 KB.
BODY_LIMITS = {"/chat/webhook": 8_000, "/chat/feedback": 8_000, "/rdv/api/reserver": 8_000,
               "/rdv/api/annuler": 8_000, "/rdv/api/message": 64_000, "/rdv/reserver": 8_000,
               "/rdv/annuler": 8_000, "/rdv/message": 64_000}
TOO_LARGE = "Votre envoi est trop volumineux : raccourcissez votre texte et recommencez."
NOT_JSON = {"/chat/webhook": "La requête doit être un objet JSON avec les champs « sender » et « message »."}
NOT_JSON_DEFAULT = "La requête doit être un objet JSON valide."
NOT_FOUND = "Cette page n'existe pas (ou plus)."
NOT_ALLOWED = "Cette adresse n'accepte pas ce type de requête."
STORED_TABLES = ("turns", "conversations", "feedback", "tickets", "pan_bookings", "outbox")


def http(server, method: str, path: str, body: bytes = b"", headers: dict | None = None,
         declared: int | None = None, chunked: bool = False, timeout: float = 60) -> tuple[int, dict, bytes]:
    """One raw HTTP/1.1 request: any declared length, a chunked body; returns (status, headers, body)."""
    url = urlsplit(server.url)
    head = {"Host": url.netloc, "Connection": "close", **(headers or {})}
    if chunked:
        head["Transfer-Encoding"] = "chunked"
    else:
        head["Content-Length"] = str(len(body) if declared is None else declared)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        sock.sendall((f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items())
                      + "\r\n").encode())
        try:
            if chunked:
                for i in range(0, len(body), 4096):
                    chunk = body[i:i + 4096]
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sock.sendall(b"0\r\n\r\n")
            else:
                sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body was sent
        data = b""
        while True:
            try:
                part = sock.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            data += part
    raw_head, _, payload = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    found = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        found.setdefault(name.strip().lower(), value.strip())
    return int(lines[0].split()[1]), found, payload


def content_type(path: str) -> str:
    return "application/x-www-form-urlencoded" if path in FORM_ROUTES else "application/json"


def error_of(payload: bytes) -> str:
    return json.loads(payload.decode())["error"]


def counts(server) -> dict:
    conn = sqlite3.connect(server.db)
    try:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in STORED_TABLES}
    finally:
        conn.close()


def turns_in_step(server) -> list:
    """Conversations whose counter disagrees with their rows in `turns` (must be none)."""
    conn = sqlite3.connect(server.db)
    try:
        return conn.execute("select id, turns, (select count(*) from turns t where t.conversation_id = c.id)"
                            " from conversations c where turns != (select count(*) from turns t"
                            " where t.conversation_id = c.id)").fetchall()
    finally:
        conn.close()


def new_sender() -> str:
    return "r" + uuid.uuid4().hex[:16]


@pytest.mark.parametrize("path", JSON_ROUTES + FORM_ROUTES)
def test_a_body_over_the_route_limit_is_refused_with_413_before_it_is_read(server, path):
    before = counts(server)
    limit = BODY_LIMITS[path]
    # Declared too long: refused on the Content-Length, at once (85 MB announced, 64 KB sent).
    status, _, payload = http(server, "POST", path, b"x" * 65536, {"Content-Type": content_type(path)},
                              declared=85_000_000)
    assert status == 413
    assert (error_of(payload) == TOO_LARGE) if path in JSON_ROUTES else (TOO_LARGE in payload.decode())
    # Sent in chunks, with no declared length: refused on what actually arrives.
    status, _, payload = http(server, "POST", path, b"1" * (limit + 1), {"Content-Type": content_type(path)},
                              chunked=True)
    assert status == 413
    assert (error_of(payload) == TOO_LARGE) if path in JSON_ROUTES else (TOO_LARGE in payload.decode())
    assert counts(server) == before


def test_a_chat_message_at_the_limit_is_still_answered(server):
    message = "je veux renouveler ma carte grise " + "a" * 7000
    body = json.dumps({"sender": new_sender(), "message": message}).encode()
    assert len(body) < BODY_LIMITS["/chat/webhook"]
    status, _, payload = http(server, "POST", "/chat/webhook", body, {"Content-Type": "application/json"})
    assert status == 200
    assert "je n'en ai lu que le début" in " ".join(m.get("text", "") for m in json.loads(payload))


# Deep nesting stays under the smallest body limit (8 KB): the issue's `[` x 50 000 is now a 413.
HOSTILE_JSON = {
    "deep nesting": b"[" * 3_900,
    "deep nesting in a member": b'{"sender": "abc", "message": ' + b"[" * 3_800,
    "lone surrogate": b'{"sender": "abc", "message": "a\\ud800b", "useful": true, "comment": "a\\ud800b",'
                      b' "site": "a\\ud800b", "reference": "a\\ud800b", "contact": "a\\ud800b",'
                      b' "service": "armes", "subject": "a\\ud800b", "body": "a\\ud800b"}',
    "5000-digit integer": b'{"sender": "abc", "message": "bonjour", "useful": ' + b"9" * 5000 + b"}",
    "not an object": b'"bonjour"',
    "invalid UTF-8": b'{"sender": "abc", "message": "\xff\xfe"}',
}


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize("name", list(HOSTILE_JSON))
def test_malformed_json_gets_a_400_in_french_and_writes_nothing(server, path, name):
    before = counts(server)
    status, _, payload = http(server, "POST", path, HOSTILE_JSON[name], {"Content-Type": "application/json"})
    assert status == 400, payload[:300]
    message = error_of(payload)
    if name == "invalid UTF-8" and path == "/chat/webhook":
        assert message == "Le message n'est pas encodé en UTF-8."
    else:
        assert message == NOT_JSON.get(path, NOT_JSON_DEFAULT)
    assert counts(server) == before
    assert http(server, "GET", "/chat/config")[0] == 200


def test_a_malformed_request_is_logged(server):
    http(server, "POST", "/rdv/api/message", b"[" * 50_000, {"Content-Type": "application/json"})
    assert http(server, "POST", "/chat/webhook", b"[" * 50_000, {"Content-Type": "application/json"})[0] == 413
    deadline = time.time() + 5
    while "malformed request on /rdv/api/message" not in server.log.read_text(errors="replace"):
        assert time.time() < deadline, "no log line for the malformed request"
        time.sleep(0.2)


@pytest.mark.parametrize("path, body", [
    ("/chat/webhook", {"sender": "abc", "message": ["bonjour"]}),
    ("/chat/webhook", {"sender": 12, "message": "bonjour"}),
    ("/chat/feedback", {"sender": "abc", "useful": "oui"}),
    ("/chat/feedback", {"sender": "abc", "useful": True, "comment": {"a": 1}}),
    ("/rdv/api/reserver", {"site": ["aurillac"], "reason": 5, "slot": None, "email": {"x": 1}}),
    ("/rdv/api/annuler", {"reference": 123, "contact": ["a@b.fr"]}),
    ("/rdv/api/message", {"service": "armes", "subject": 5, "body": ["texte"], "email": False}),
])
def test_wrong_types_get_a_400_in_french(server, path, body):
    before = counts(server)
    status, _, payload = http(server, "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    assert status in (400, 404), payload[:300]
    message = error_of(payload)
    assert message and message[0].isupper() and "Traceback" not in message and "must be" not in message
    assert counts(server) == before


def worst_inputs(server) -> dict:
    """The worst body each endpoint can be sent: the 63 KB comment of the issue and, under each
    limit, text that almost matches the masking patterns."""
    sender = new_sender()
    server.say(sender, "je veux renouveler ma carte grise")
    digits = adversarial("1", 63_000)
    near = adversarial("a.", BODY_LIMITS["/chat/webhook"] - 200)
    return {
        "/chat/feedback": [{"sender": sender, "useful": False, "comment": digits},
                           {"sender": sender, "useful": False, "comment": near}],
        "/chat/webhook": [{"sender": new_sender(), "message": digits},
                          {"sender": new_sender(), "message": near}],
        "/rdv/api/message": [{"service": "armes", "subject": "Objet", "body": adversarial("1", 60_000),
                              "email": adversarial("a", 200)}],
        "/rdv/api/reserver": [{"site": "aurillac", "reason": "carte_grise", "slot": "x",
                               "email": adversarial("a@", 3_000)}],
        "/rdv/api/annuler": [{"reference": "PAN-1", "contact": adversarial("1", 3_000)}],
    }


def test_the_worst_input_to_each_endpoint_does_not_freeze_the_chat(server):
    """While one client sends the worst input it can to each endpoint, another chats: every answer
    comes within 1 s (the issue measured 13.9 s for a 63 KB feedback comment, and 13.75 s for
    everyone else meanwhile)."""
    work = worst_inputs(server)
    statuses: list = []

    def hostile():
        for path, bodies in work.items():
            for body in bodies:
                statuses.append((path, http(server, "POST", path, json.dumps(body).encode(),
                                            {"Content-Type": "application/json"})[0]))

    sender = new_sender()
    server.say(sender, "bonjour")  # the conversation exists: the next answers are ordinary turns
    attacker = threading.Thread(target=hostile)
    attacker.start()
    slowest = 0.0
    while attacker.is_alive():
        start = time.perf_counter()
        server.say(sender, "quels sont les horaires de la préfecture ?")
        slowest = max(slowest, time.perf_counter() - start)
    attacker.join()
    assert all(status in (200, 400, 404, 409, 413) for _, status in statuses), statuses
    assert slowest < 1.0, f"the chat took {slowest:.2f} s to answer during the hostile requests"
    assert turns_in_step(server) == []
