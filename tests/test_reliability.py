"""Issue 13, the quick part: hostile inputs against a real server (and the masking patterns alone).

Timings are asserted only as generous bounds: a complexity check for the masking patterns (1 MB must
not cost much more than ten times 100 KB) and a liveness bound (the chat answers within 1 s while
another client sends the worst input it can).
"""

from __future__ import annotations

import html
import json
import sqlite3
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
from conftest import scale
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_http import request

from bot.core.masking import PATTERNS, prepare

pytestmark = pytest.mark.reliability

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
    # Issue 13 §6: the cue-based patterns for names and addresses, and the dodged e-mails.
    "name cue then words": "je m'appelle a ",
    "civility then capitals": "M. Ab ",
    "closing then capitals": "Cordialement, Ab ",
    "street then words": "12 rue Ab ",
    "street then lower words": "1 rue a ",
    "lieu-dit then words": "lieu-dit Ab de ",
    "postcode then towns": "12 rue Ab 15000 Ab ",
    "dodged at": "a (at) ",
    "grouped digits": "75-",
    "lower plate": "12 cd ",
    "relative then capitals": "mon père Ab ",
    "words then almost on the line": "a à l",
    "capitals then a capitalised word": "AB Ab, ",
    # The masking audit's patterns: spelled e-mails, lower-case names after a civility, birth dates,
    # identity card numbers after a cue, passports, phone numbers said in words.
    "spelled local part": "a point b tiret ",
    "spelled e-mail": "a point b arobase c point ",
    "civility then lower words": "madame a ",
    "birth cue then a date": "née le 1/",
    "birth cue then a place": "né à a a a ",
    "identity card cue then letters and digits": "CNI n° A1",
    "passport-like": "18 AB 1",
    "spoken numbers": "zéro six ",
}


def adversarial(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def seconds(fn) -> float:
    """The CPU time `fn` takes on this thread: a loaded machine (other processes, a parallel test worker)
    delays a run but does not add to it, so the ratio of two sizes stays the pattern's own."""
    start = time.thread_time()
    fn()
    return time.thread_time() - start


@pytest.mark.parametrize("label, pattern", PATTERNS, ids=[p.pattern[:30] for _, p in PATTERNS])
def test_every_masking_pattern_runs_in_linear_time(label, pattern, figure):
    """1 MB of input that almost matches costs about 4x 250 KB (quadratic would be 16x). Best of two (three
    under `make reliability`) runs of each size, in the thread's CPU time; 250 KB rather than 100 KB,
    which fits in the processor's cache and runs unrepresentatively fast."""
    worst = 0.0
    for name, unit in ADVERSARIAL.items():
        small, big = adversarial(unit, 250_000), adversarial(unit, 1_000_000)
        t_small = min(seconds(lambda text=small: pattern.sub(label, text)) for _ in range(scale(2, 3)))
        t_big = min(seconds(lambda text=big: pattern.sub(label, text)) for _ in range(scale(2, 3)))
        assert t_big < 5.0, f"{name}: 1 MB took {t_big:.2f} s"
        assert t_big < 10 * t_small + 0.3, f"{name}: 250 KB {t_small:.3f} s, 1 MB {t_big:.3f} s: not linear"
        worst = max(worst, t_big)
    figure(f"{len(ADVERSARIAL)} adversarial 1 MB inputs to one masking pattern", f"slowest {worst:.2f} s (bound 5 s)")


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
# The body limit of each route (bytes), as the issue asks: low. The chat's follows max_message_chars
# (2000): the 4 × 2000 characters the server reads, at 4 bytes each, plus 2000 for the JSON.
BODY_LIMITS = {
    "/chat/webhook": 34_000,
    "/chat/feedback": 8_000,
    "/rdv/api/reserver": 8_000,
    "/rdv/api/annuler": 8_000,
    "/rdv/api/message": 64_000,
    "/rdv/reserver": 8_000,
    "/rdv/annuler": 8_000,
    "/rdv/message": 64_000,
}
TOO_LARGE = "Votre envoi est trop volumineux : raccourcissez votre texte et recommencez."
NOT_JSON = {"/chat/webhook": "La requête doit être un objet JSON avec les champs « sender » et « message »."}
NOT_JSON_DEFAULT = "La requête doit être un objet JSON valide."
NOT_FOUND = "Cette page n'existe pas (ou plus)."
NOT_ALLOWED = "Cette adresse n'accepte pas ce type de requête."
STORED_TABLES = ("turns", "conversations", "feedback", "tickets", "pan_bookings", "outbox")


def http(
    server,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict | None = None,
    declared: int | None = None,
    chunked: bool = False,
    timeout: float = 60,
) -> tuple[int, dict, bytes]:
    """One raw HTTP/1.1 request (tests/raw_http.py): any declared length, a chunked body; returns
    (status, headers, body)."""
    url = urlsplit(server.url)
    answer = request(url.hostname, url.port, method, path, body, headers, declared, chunked, timeout)
    return answer.status, answer.headers, answer.body


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
        return conn.execute(
            "select id, turns, (select count(*) from turns t where t.conversation_id = c.id)"
            " from conversations c where turns != (select count(*) from turns t"
            " where t.conversation_id = c.id)"
        ).fetchall()
    finally:
        conn.close()


def new_sender() -> str:
    return "r" + uuid.uuid4().hex[:16]


@pytest.mark.parametrize("path", JSON_ROUTES + FORM_ROUTES)
def test_a_body_over_the_route_limit_is_refused_with_413_before_it_is_read(server, path):
    before = counts(server)
    limit = BODY_LIMITS[path]
    # Declared too long: refused on the Content-Length, at once (85 MB announced, 64 KB sent).
    status, _, payload = http(server, "POST", path, b"x" * 65536, {"Content-Type": content_type(path)}, declared=85_000_000)
    assert status == 413
    assert (error_of(payload) == TOO_LARGE) if path in JSON_ROUTES else (TOO_LARGE in payload.decode())
    # Sent in chunks, with no declared length: refused on what actually arrives.
    status, _, payload = http(server, "POST", path, b"1" * (limit + 1), {"Content-Type": content_type(path)}, chunked=True)
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


@pytest.mark.parametrize(
    "path, body",
    [
        ("/chat/webhook", {"sender": "abc", "message": ["bonjour"]}),
        ("/chat/webhook", {"sender": 12, "message": "bonjour"}),
        ("/chat/feedback", {"sender": "abc", "useful": "oui"}),
        ("/chat/feedback", {"sender": "abc", "useful": True, "comment": {"a": 1}}),
        ("/rdv/api/reserver", {"site": ["aurillac"], "reason": 5, "slot": None, "email": {"x": 1}}),
        ("/rdv/api/annuler", {"reference": 123, "contact": ["a@b.fr"]}),
        ("/rdv/api/message", {"service": "armes", "subject": 5, "body": ["texte"], "email": False}),
    ],
)
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
        "/chat/feedback": [
            {"sender": sender, "useful": False, "comment": digits},
            {"sender": sender, "useful": False, "comment": near},
        ],
        "/chat/webhook": [{"sender": new_sender(), "message": digits}, {"sender": new_sender(), "message": near}],
        "/rdv/api/message": [
            {"service": "armes", "subject": "Objet", "body": adversarial("1", 60_000), "email": adversarial("a", 200)}
        ],
        "/rdv/api/reserver": [{"site": "aurillac", "reason": "carte_grise", "slot": "x", "email": adversarial("a@", 3_000)}],
        "/rdv/api/annuler": [{"reference": "PAN-1", "contact": adversarial("1", 3_000)}],
    }


def test_the_worst_input_to_each_endpoint_does_not_freeze_the_chat(server, figure):
    """While one client sends the worst input it can to each endpoint, another chats: every answer
    comes within 1 s (the issue measured 13.9 s for a 63 KB feedback comment, and 13.75 s for
    everyone else meanwhile)."""
    work = worst_inputs(server)
    statuses: list = []

    def hostile():
        for path, bodies in work.items():
            for body in bodies:
                statuses.append(
                    (path, http(server, "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})[0])
                )

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
    figure(
        f"the worst input to each of {len(work)} endpoints while another client chats",
        f"slowest chat answer {slowest:.2f} s (bound 1 s)",
    )
    assert slowest < 1.0, f"the chat took {slowest:.2f} s to answer during the hostile requests"
    assert turns_in_step(server) == []


# ---- any body at all: property-based (hypothesis) -------------------------------------------

ANY_STATUS = {200, 400, 403, 404, 405, 409, 413, 415, 422}
FIELDS = [
    "sender",
    "message",
    "useful",
    "comment",
    "site",
    "reason",
    "motif",
    "slot",
    "email",
    "mobile",
    "idem",
    "reference",
    "contact",
    "service",
    "subject",
    "body",
    "csrf",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(["armes", "aurillac", "carte_grise", "abc", "2030-01-07T09:00", "a@exemple.fr", "0612345678"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
json_bodies = st.one_of(
    st.fixed_dictionaries({}, optional={f: json_values for f in FIELDS}).map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.sampled_from(list(HOSTILE_JSON.values()) + [b"", b"{}", b"null", b'{"sender": "' + b"\\ud800" * 3 + b'"}']),
)
form_bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=60), max_size=8).map(
        lambda d: "&".join(f"{k}={v}" for k, v in d.items()).encode("utf-8", "surrogatepass")
    ),
    st.binary(max_size=300),
    st.sampled_from([b"", b"csrf=&&&=%ZZ%", b"%ff%fe=%ed%a0%80", b"site=" + b"%00" * 100]),
)
content_types = st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", ""]
)


def check_any(server, path: str, body: bytes, ctype: str) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    status, _, payload = http(server, "POST", path, body, headers)
    assert status in ANY_STATUS, (path, body[:200], status, payload[:300])


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_any_json_body_gets_a_4xx_or_200_never_a_500(server, path):
    @settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(body=json_bodies, ctype=st.sampled_from(["application/json"]) | content_types)
    def prop(body, ctype):
        check_any(server, path, body, ctype)

    prop()
    assert http(server, "GET", "/chat/config")[0] == 200
    assert turns_in_step(server) == []


UNREADABLE_FORMS = {
    # A client that says multipart but forgets the boundary (curl -H 'Content-Type: multipart/form-data').
    "multipart without its boundary": (
        "multipart/form-data",
        b'--x\r\nContent-Disposition: form-data; name="motif"\r\n\r\nrdv\r\n--x--\r\n',
    ),
    # A form encoded in Latin-1 (an old script or tool), not the UTF-8 a browser sends for our pages.
    "a form in Latin-1": ("application/x-www-form-urlencoded", "motif=été&csrf=x".encode("latin-1")),
    "a multipart form in Latin-1": (
        "multipart/form-data; boundary=x",
        '--x\r\nContent-Disposition: form-data; name="motif"\r\n\r\nété\r\n--x--\r\n'.encode("latin-1"),
    ),
}


@pytest.mark.parametrize("kind", UNREADABLE_FORMS)
@pytest.mark.parametrize("path", FORM_ROUTES + ["/console/connexion", "/console/messages/repondu"])
def test_a_form_that_cannot_be_read_gets_a_400_page_in_french_and_no_traceback_in_the_log(server, path, kind):
    """Sanic's own reading of such a form logs a traceback (an operator reading the log sees an error)
    and hands the page an empty form (a 403 or a "field missing" that says nothing of the cause)."""
    ctype, body = UNREADABLE_FORMS[kind]
    before = len(server.log.read_bytes())
    status, headers, payload = http(server, "POST", path, body, {"Content-Type": ctype})
    assert status == 400, payload[:300]
    assert headers.get("content-type", "").startswith("text/html")
    assert "La requête est mal formée : elle n'a pas pu être lue." in html.unescape(payload.decode())
    logged = server.log.read_bytes()[before:].decode(errors="replace")
    assert "Traceback" not in logged and "Failed when parsing form" not in logged
    assert f"unreadable form on {path}" in logged
    assert http(server, "GET", "/chat/config")[0] == 200


@pytest.mark.parametrize("path", FORM_ROUTES + ["/console/connexion"])
def test_any_form_body_gets_a_4xx_or_200_never_a_500(server, path):
    @settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(body=form_bodies, ctype=st.sampled_from(["application/x-www-form-urlencoded"]) | content_types)
    def prop(body, ctype):
        check_any(server, path, body, ctype)

    prop()
    assert http(server, "GET", "/chat/config")[0] == 200


# ---- writes that belong together ----------------------------------------------------------------


def test_a_turn_and_its_conversation_counter_are_written_together(tmp_path, monkeypatch):
    """A failure between the conversation's update and the turn's insert leaves neither."""
    import sqlite_utils

    from bot.store.database import Store

    store = Store(tmp_path / "store.db")
    args = dict(
        channel="web",
        text="bonjour",
        topic="carte_grise",
        confidence=0.9,
        destination="ants_3400",
        node="carte_grise",
        action="answer",
        resolved=True,
        misses=0,
        prefecture="cantal",
    )
    store.record_turn("conv-1", **args)
    insert = sqlite_utils.db.Table.insert

    def failing_insert(table, record, *a, **kw):
        if table.name == "turns":
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return insert(table, record, *a, **kw)

    monkeypatch.setattr(sqlite_utils.db.Table, "insert", failing_insert)
    with pytest.raises(sqlite3.OperationalError):
        store.record_turn("conv-1", **args)
    with pytest.raises(sqlite3.OperationalError):
        store.record_turn("conv-2", **args)
    monkeypatch.undo()
    store.close()

    other = sqlite3.connect(tmp_path / "store.db")  # what another process reads from the file
    assert other.execute("select id, turns from conversations order by id").fetchall() == [("conv-1", 1)]
    assert other.execute("select conversation_id from turns").fetchall() == [("conv-1",)]
    other.close()


def test_a_failing_migration_leaves_nothing_behind(tmp_path, monkeypatch):
    from bot.store import database as store_mod

    def half_done(db):
        db["half"].create({"id": int}, pk="id")
        raise RuntimeError("the step failed after its first statement (injected)")

    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS + [("999_half", half_done)])
    with pytest.raises(RuntimeError):
        store_mod.Store(tmp_path / "store.db")
    other = sqlite3.connect(tmp_path / "store.db")
    tables = {r[0] for r in other.execute("select name from sqlite_master where type = 'table'")}
    assert "half" not in tables
    assert "turns" in tables  # the migrations before it are applied, each in its own transaction
    assert other.execute("select count(*) from migrations where name = '999_half'").fetchone() == (0,)
    other.close()


# ---- small things -----------------------------------------------------------------------------


def api_post(server, path: str, body: dict) -> tuple[int, dict]:
    status, _, payload = http(server, "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return status, json.loads(payload)


def test_a_retried_cancellation_answers_already_cancelled(server):
    # A number of its own: the shared server's other tests book with theirs (at most 2 per person).
    MOBILE = "07 81 26 44 19"  # noqa: N806
    status, _, payload = http(server, "GET", "/rdv/api/creneaux?site=aurillac&reason=autre")
    slot = json.loads(payload)["slots"][-1]["key"]
    status, booking = api_post(
        server,
        "/rdv/api/reserver",
        {"site": "aurillac", "reason": "autre", "slot": slot, "mobile": MOBILE, "idem": uuid.uuid4().hex},
    )
    assert status == 200, booking
    cancel = {"reference": booking["reference"], "contact": MOBILE}
    status, first = api_post(server, "/rdv/api/annuler", cancel)
    assert status == 200 and " est annulé." in first["message"]
    status, again = api_post(server, "/rdv/api/annuler", cancel)
    assert status == 200
    assert again["reference"] == booking["reference"]
    assert f"Le rendez-vous {booking['reference']} du " in again["message"]
    assert " est déjà annulé." in again["message"]
    status, wrong = api_post(server, "/rdv/api/annuler", dict(cancel, contact="06 99 99 99 99"))
    assert status == 400  # the contact is still checked: a retry reveals nothing to a guesser
    assert wrong["error"] == "Aucun rendez-vous ne correspond à cette référence et à ce contact."


def test_the_root_sends_to_the_chat_page(server):
    status, headers, _ = http(server, "GET", "/")
    assert status == 302
    assert headers["location"] == "/chat/"


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/chat/nulle-part", 404),
        ("GET", "/rdv/nulle-part", 404),
        ("PUT", "/rdv/reserver", 405),
        ("DELETE", "/console/file", 405),
        # the static folders themselves and a NUL in a file name (an outside-in audit, 2026-12-04: Sanic's
        # English 500, IsADirectoryError / "embedded null byte")
        ("GET", "/chat/static/", 404),
        ("GET", "/chat/dsfr/", 404),
        ("GET", "/chat/dsfr/utility/", 404),
        ("GET", "/chat/dsfr/utility", 404),
        ("GET", "/chat/static/%00", 404),
        ("GET", "/chat/static/chat.js%00.png", 404),
    ],
)
def test_unknown_pages_and_methods_get_french_pages(server, method, path, status):
    got, headers, payload = http(server, method, path)
    assert got == status
    assert headers["content-type"].startswith("text/html")
    page = payload.decode()
    assert (NOT_FOUND if status == 404 else NOT_ALLOWED).replace("'", "&#39;") in page
    assert '<html lang="fr"' in page


def test_a_static_folder_asked_leaves_no_traceback_in_the_log(server):
    """The folder's French 404 comes before Sanic's file handler, which logged an IsADirectoryError
    traceback for each such request (the README check of a fresh clone, 2026-12-04)."""
    for path in ("/chat/static/", "/chat/dsfr/utility/", "/chat/dsfr/utility", "/chat/static"):
        assert http(server, "GET", path)[0] == 404, path
    assert "Exception in static request handler" not in server.log.read_text(errors="replace")
    assert http(server, "GET", "/chat/static/chat.js")[0] == 200  # the files themselves are served


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/rdv/api/nulle-part", 404),
        ("GET", "/rdv/api/reserver", 405),
        # the chat page's own JSON routes (an HTML page before: the page's fetch could not read its reason)
        ("GET", "/chat/webhook", 405),
        ("GET", "/chat/feedback", 405),
        ("POST", "/chat/history", 405),
    ],
)
def test_unknown_api_routes_and_methods_get_french_json(server, method, path, status):
    got, headers, payload = http(server, method, path)
    assert got == status
    assert headers["content-type"].startswith("application/json")
    assert error_of(payload) == (NOT_FOUND if status == 404 else NOT_ALLOWED)


def test_static_files_are_served_with_nosniff(server):
    status, headers, _ = http(server, "GET", "/chat/static/chat.js")
    assert status == 200
    assert headers["x-content-type-options"] == "nosniff"


def test_the_booking_csrf_cookie_is_secure_under_https(tmp_path):
    from conftest import launch, stop

    running = launch(tmp_path, phone=False, extra_env={"PUBLIC_BASE_URL": "https://accueil.cantal.gouv.fr"})
    try:
        status, headers, _ = http(running, "GET", "/rdv/")
        assert status == 200
        cookie = headers["set-cookie"]
        assert cookie.startswith("rdv_csrf=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    finally:
        stop(running)


def test_a_failed_login_does_not_log_the_typed_name(server):
    import re

    import requests

    typed = "jeanne.martin-" + uuid.uuid4().hex[:6]
    session = requests.Session()
    page = session.get(server.url + "/console/connexion", timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = session.post(
        server.url + "/console/connexion",
        data={"csrf": token, "identifiant": typed, "mot_de_passe": "mauvais-mot-de-passe"},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in r.text
    time.sleep(0.5)
    log = server.log.read_text(errors="replace")
    assert "console: failed login for name #" in log
    assert typed not in log
