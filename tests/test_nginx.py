"""Issue 13, part 5, through a real nginx (Debian's package, `make nginx`) running the shipped
deploy/nginx.conf in front of the test server: the chat works, the in-process action endpoint is
not reachable from outside, and a 2 MB body is refused at once while the server keeps answering."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import bot_links, bot_texts, db_rows, free_port
from raw_http import request

from tools.cluster import NGINX, Nginx

pytestmark = pytest.mark.reliability  # part of the battery (make reliability, docs/reliability.md)

TOO_LARGE = "Votre envoi est trop volumineux : raccourcissez votre texte et recommencez."


class Proxy:
    def __init__(self, port: int, proc: subprocess.Popen, log: Path):
        self.host, self.port, self.proc, self.log = "127.0.0.1", port, proc, log
        self.url = f"http://127.0.0.1:{port}"

    def send(self, method: str, path: str, body: bytes = b"", headers: dict | None = None, **kwargs):
        return request(self.host, self.port, method, path, body, headers, **kwargs)

    def say(self, sender: str, message: str) -> list[dict]:
        body = json.dumps({"sender": sender, "message": message}).encode()
        answer = self.send("POST", "/chat/webhook", body, {"Content-Type": "application/json"})
        assert answer.status == 200, answer.body[:300]
        return json.loads(answer.body)


@pytest.fixture(scope="module")
def proxy(server, tmp_path_factory):
    """nginx with the shipped deploy/nginx.conf in front of the test server (tools/cluster.py's Nginx)."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: run `make nginx` (Debian package nginx)")
    tmp = tmp_path_factory.mktemp("nginx")
    nginx = Nginx(tmp, free_port(), [urlsplit(server.url).port])
    nginx.start()
    yield Proxy(nginx.port, nginx.proc, tmp / "error.log")
    nginx.stop()


def new_sender() -> str:
    return "n" + uuid.uuid4().hex[:16]


def turns_of(server, sender: str) -> list[str]:
    return [r["text"] for r in db_rows(server.db, "select text from turns where conversation_id = ? order by id", [sender])]


def test_the_chat_answers_a_real_turn_through_nginx(proxy, server):
    sender = new_sender()
    messages = proxy.say(sender, "changement d'adresse sur ma carte grise")
    assert "https://ants.gouv.fr" in bot_links(messages)
    assert "sites payants" in bot_texts(messages)
    assert turns_of(server, sender) == ["changement d'adresse sur ma carte grise"]
    page = proxy.send("GET", "/chat/")
    assert page.status == 200
    assert "nosniff" == page.headers["x-content-type-options"]
    root = proxy.send("GET", "/")
    assert (root.status, root.headers["location"]) == (302, "/chat/")


READINESS_SPELLINGS = ["/readyz", "/readyz?full=1", "//readyz", "/chat/../readyz", "/chat/%2e%2e/readyz", "/%72eadyz"]


def test_readiness_details_are_for_the_local_probe_only_and_liveness_for_everyone(proxy):
    """deploy/nginx.conf: `GET /readyz` (the checks' counts and ages) from this host only (`allow 127.0.0.1;
    allow ::1; deny all;`): another address gets nginx's 403 under every spelling of the path; `GET
    /healthz` (no detail) is served to anyone, e.g. an outside monitoring service."""
    status, body = from_address(proxy.port, "127.0.0.1", "/readyz")
    assert status == 200, body[:300]
    assert set(json.loads(body)["checks"]) == {"model", "store", "disk", "spool", "outbox"}
    for path in READINESS_SPELLINGS:
        status, body = from_address(proxy.port, "127.0.0.2", path)
        assert status == 403, (path, body[:300])
        assert b"checks" not in body
    for source in ("127.0.0.1", "127.0.0.2"):
        status, body = from_address(proxy.port, source, "/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})


FORGED_PATHS = [
    "/webhooks/actions/webhook",
    "/webhooks/actions/webhook/",
    "//webhooks/actions/webhook",
    "/chat/../webhooks/actions/webhook",
    "/chat/%2e%2e/webhooks/actions/webhook",
    "/webhooks/ivr/../actions/webhook",
    "/webhooks/Actions/webhook",
]


@pytest.mark.parametrize("path", FORGED_PATHS)
def test_a_forged_action_call_through_nginx_is_not_served_and_writes_nothing(proxy, server, path):
    victim = new_sender()
    proxy.say(victim, "je veux refaire ma carte grise")
    text = "Votre dossier est refusé, appelez le 08 99 00 00 00"
    parse = {"text": text, "intent": {"name": "carte_grise", "confidence": 0.99}, "entities": [], "intent_ranking": []}
    forged = {
        "next_action": "action_route",
        "sender_id": victim,
        "tracker": {
            "sender_id": victim,
            "slots": {},
            "latest_message": parse,
            "events": [{"event": "user", "text": text, "parse_data": parse, "input_channel": "web"}],
            "latest_input_channel": "web",
        },
        "domain": {},
        "version": "3.6.21",
    }
    answer = proxy.send("POST", path, json.dumps(forged).encode(), {"Content-Type": "application/json"})
    assert answer.status == 404, (answer.status, answer.body[:300])
    assert turns_of(server, victim) == ["je veux refaire ma carte grise"]


def test_a_2_mb_body_gets_413_at_once_and_the_server_keeps_answering(proxy, server):
    two_mb = json.dumps({"sender": new_sender(), "message": "a" * 2_097_152}).encode()
    for path in ("/chat/webhook", "/rdv/api/message", "/console/connexion", "/webhooks/actions/webhook"):
        declared = proxy.send("POST", path, two_mb, {"Content-Type": "application/json"})
        assert declared.status == 413, path
        assert json.loads(declared.body) == {"error": TOO_LARGE}
        assert declared.seconds < 2, path
    chunked = proxy.send("POST", "/chat/webhook", two_mb, {"Content-Type": "application/json"}, chunked=True)
    assert chunked.status == 413
    assert json.loads(chunked.body) == {"error": TOO_LARGE}
    assert chunked.seconds < 2
    # Under nginx's limit but over the route's own (8 kB): the server's French 413 comes through, and
    # says `Connection: close`, so nginx never sends the next request on the connection the server
    # closes (that request was a 502 before).
    for _ in range(3):
        fifty_kb = json.dumps({"sender": new_sender(), "message": "a" * 50_000}).encode()
        own = proxy.send("POST", "/chat/webhook", fifty_kb, {"Content-Type": "application/json"})
        assert own.status == 413
        assert json.loads(own.body) == {"error": TOO_LARGE}
        assert "sites payants" in bot_texts(proxy.say(new_sender(), "changement d'adresse sur ma carte grise"))
    start = time.monotonic()
    messages = proxy.say(new_sender(), "changement d'adresse sur ma carte grise")
    assert "sites payants" in bot_texts(messages)
    assert time.monotonic() - start < 30  # answered, not hung


def slow_body(port: int, source: str = "127.0.0.1"):
    """A connection that sent a chat request's headers and one byte of its 30 kB body, and drips no more."""
    import socket

    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    head = f"POST /chat/webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: 30000\r\n\r\n{{"
    sock.sendall(head.encode())
    return sock


def from_address(port: int, source: str, path: str = "/chat/config") -> tuple[int, bytes]:
    """GET `path` from a client address of the loopback network (Linux answers all of 127/8)."""
    import socket

    with socket.socket() as sock:
        sock.bind((source, 0))
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def test_one_address_dripping_request_bodies_cannot_take_nginx_from_everyone(proxy):
    """An outside-in audit opened 600 connections that sent a request's headers, then its body a byte a
    second (`client_body_timeout` counts between two reads): nginx ran out of worker connections and
    every other person's request was reset for as long as it lasted. One client address now holds at
    most 32 requests at once (`limit_conn`); past that it gets a French 429 and its connection is closed
    at once, so that another address is served again as soon as nginx has read the burst."""
    import threading

    from conftest import until

    held, stop_dripping = [], threading.Event()

    def drip() -> None:  # a byte of each body every second, as the audit did: no body ever times out
        while not stop_dripping.wait(1):
            for sock in held:
                try:
                    sock.send(b" ")
                except OSError:
                    pass  # closed by nginx (refused)

    dripper = threading.Thread(target=drip, daemon=True)
    try:
        for _ in range(600):
            held.append(slow_body(proxy.port))
        dripper.start()

        def served():  # another person's request, answered (nginx may still be reading the burst)
            try:
                status, body = from_address(proxy.port, "127.0.0.2")
            except (OSError, IndexError):
                return None
            return status == 200 and "welcome" in json.loads(body)

        until(served, 30, "a request from another address answered while the first one drips its bodies")
        status, body = from_address(proxy.port, "127.0.0.1")  # the same address: over its share
        assert status == 429
        assert json.loads(body) == {"error": "Trop de connexions ouvertes depuis votre adresse : réessayez dans un instant."}
    finally:
        stop_dripping.set()
        for sock in held:
            sock.close()
    until(lambda: from_address(proxy.port, "127.0.0.1")[0] == 200, 30, "the address served again once it stopped")


def test_while_the_server_is_down_nginx_answers_in_french_with_retry_after(tmp_path):
    """The server restarting or stopped (nothing listens on the upstream's port): nginx's own English
    "502 Bad Gateway" page became a French 503 with Retry-After, a page for the pages and JSON for the
    chat's and the booking API's calls (the chat widget shows its `error`, with the phone number)."""
    nginx = Nginx(tmp_path, free_port(), [free_port()])
    nginx.start()
    try:
        down = "Le service redémarre ou est momentanément indisponible. Réessayez dans un instant."
        for method, path, body, wants_json in (
            ("GET", "/chat/", b"", False),
            ("GET", "/rdv/creneaux?site=aurillac&motif=autre", b"", False),
            ("POST", "/chat/webhook", json.dumps({"sender": new_sender(), "message": "carte grise"}).encode(), True),
            ("GET", "/rdv/api/sites", b"", True),
        ):
            answer = request("127.0.0.1", nginx.port, method, path, body, {"Content-Type": "application/json"})
            assert (answer.status, answer.headers.get("retry-after")) == (503, "30"), path
            if wants_json:
                assert answer.headers["content-type"].startswith("application/json"), path
                assert json.loads(answer.body) == {"error": down}, path
            else:
                assert answer.headers["content-type"].startswith("text/html"), path
                assert down in answer.text() and "Bad Gateway" not in answer.text(), path
    finally:
        nginx.stop()
