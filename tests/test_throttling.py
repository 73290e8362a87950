"""Issue 13, part 8: throttling. Console logins (per account name and per client address, growing
waits answered 429 + Retry-After, a lockout an admin lifts), at most pan.max_future_bookings future
appointments per person, per-address limits on booking, cancelling, messages and cancellation guesses.

The HTTP tests run their own server (the shared one exempts this machine's address) with the
national limits of prefectures/_national.yml, behind a "trusted proxy": AIGUILLAGE_TRUSTED_PROXIES
lists the loopback, so each request chooses its client address with X-Forwarded-For, as nginx would
set it.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import requests
from conftest import db_rows, launch, stop
from sanic.compat import Header
from store_backends import command_env

from bot.core import config
from bot.core.clock import say_duration
from bot.services import pan, retention, throttle
from bot.services.accounts import Accounts
from bot.settings import SettingsError, networks
from bot.store.database import Store

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.usefixtures("store_backend"),
]  # the battery (make reliability); SQLite and PostgreSQL (tests/store_backends.py)

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
ADMIN = ("thr-admin", "admin-pass-123")
TARGET = ("thr-cible", "cible-pass-123")
OTHER = ("thr-autre", "autre-pass-123")
WRONG = "Identifiant ou mot de passe incorrect."
LOCKED = (
    "Ce compte est verrouillé après trop d'essais de mot de passe incorrects. Demandez à un administrateur "
    "de la console de le déverrouiller (page Administration)."
)
TOO_MANY_BOOKINGS = (
    "Vous avez déjà 2 rendez-vous à venir avec ces coordonnées : c'est le nombre maximum par personne. "
    "Pour en prendre un autre, annulez d'abord l'un d'eux avec le formulaire « Annuler un rendez-vous » "
    "(la référence est dans votre confirmation), ou appelez la préfecture"
)
NOT_FOUND = "Aucun rendez-vous ne correspond à cette référence et à ce contact."
CANTAL = config.load_prefecture("cantal")


@pytest.fixture(scope="module")
def srv(tmp_path_factory, smtp):
    tmp = tmp_path_factory.mktemp("throttle")
    db = tmp / "aiguillage.db"
    store = Store(db)
    for (name, pw), role in ((ADMIN, "admin"), (TARGET, "agent"), (OTHER, "agent")):
        Accounts(store).add(name, role, pw)
    store.close()
    running = launch(tmp, db=db, extra_env=smtp.env | {"AIGUILLAGE_TRUSTED_PROXIES": "127.0.0.1, ::1"})
    yield running
    stop(running)


@pytest.fixture(scope="module")
def srv_pg(tmp_path_factory, smtp, postgres):
    """The same server with its store in a schema of the session's PostgreSQL (docs/store.md)."""
    from store_backends import REDIRECTED

    url = postgres.schema_url(keep=True)
    store = Store(url)
    for (name, pw), role in ((ADMIN, "admin"), (TARGET, "agent"), (OTHER, "agent")):
        Accounts(store).add(name, role, pw)
    store.close()
    tmp = tmp_path_factory.mktemp("throttle-pg")
    db = tmp / "unused.db"  # AIGUILLAGE_DB: never opened, DATABASE_URL wins
    REDIRECTED[str(db.resolve())] = url
    env = smtp.env | {"AIGUILLAGE_TRUSTED_PROXIES": "127.0.0.1, ::1", "DATABASE_URL": url}
    running = launch(tmp, db=db, extra_env=env)
    yield running
    stop(running)
    REDIRECTED.pop(str(db.resolve()), None)


@pytest.fixture()
def any_srv(request, store_backend):
    """`srv` on SQLite, `srv_pg` on PostgreSQL: for the tests where the store's locks decide (the
    parallel ones), run against both servers; the others run on `srv` only (one server less)."""
    return request.getfixturevalue("srv" if store_backend == "sqlite" else "srv_pg")


def address() -> str:
    """A new client address (10.x.y.z), as the trusted proxy would write it in X-Forwarded-For."""
    n = uuid.uuid4().int
    return f"10.{n % 250 + 1}.{(n >> 8) % 250 + 1}.{(n >> 16) % 250 + 1}"


class Console:
    """A browser on the console, from one client address."""

    def __init__(self, srv, addr: str):
        self.url = srv.url + "/console"
        self.http = requests.Session()
        self.http.headers["X-Forwarded-For"] = addr
        self.csrf = ""

    def post(self, path: str, data: dict) -> requests.Response:
        return self.http.post(self.url + path, data=data, allow_redirects=False, timeout=60)

    def login(self, name: str, password: str) -> requests.Response:
        page = self.http.get(self.url + "/connexion", timeout=60)
        token = CSRF_RE.search(page.text).group(1)
        return self.post("/connexion", {"csrf": token, "identifiant": name, "mot_de_passe": password})

    def admin(self, query: str = "") -> requests.Response:
        r = self.http.get(self.url + "/admin" + query, allow_redirects=False, timeout=60)
        self.csrf = CSRF_RE.search(r.text).group(1)
        return r


def message_of(r: requests.Response) -> str:
    m = re.search(r'<div class="fr-alert[^"]*"[^>]*>\s*<p>(.*?)</p>', r.text, re.S)
    return re.sub(r"\s+", " ", m.group(1).replace("&#39;", "'")).strip() if m else ""


# ---- console login -----------------------------------------------------------------------------


def test_100_wrong_passwords_lock_the_account_until_an_admin_lifts_it(srv):
    answers = []
    while len(answers) < 100:
        r = Console(srv, address()).login(TARGET[0], f"mauvais-{len(answers)}")
        if r.status_code == 429:  # the name must wait: never more than the configured doubling
            assert 1 <= int(r.headers["Retry-After"]) <= 8
            assert message_of(r).startswith("Trop d'essais de connexion manqués. Patientez ")
            time.sleep(int(r.headers["Retry-After"]))
            continue
        answers.append((r.status_code, message_of(r)))
    # lockout_after (10) failures in a row: the first 9 answer "wrong", the 10th locks the account
    assert answers[:9] == [(401, WRONG)] * 9
    assert answers[9:] == [(403, LOCKED)] * 91
    # the right password, from yet another address, is refused while the account is locked
    r = Console(srv, address()).login(*TARGET)
    assert (r.status_code, message_of(r)) == (403, LOCKED)
    assert "aiguillage_console=" not in r.headers.get("Set-Cookie", "").replace("aiguillage_console_login", "")
    # an admin sees it and lifts it; both are in the audit log
    admin = Console(srv, address())
    assert admin.login(*ADMIN).status_code == 303
    page = admin.admin()
    assert f'id="unlock-{TARGET[0]}"' in page.text and f'id="unlock-{OTHER[0]}"' not in page.text
    r = admin.post("/admin/deverrouiller", {"csrf": admin.csrf, "identifiant": TARGET[0]})
    assert (r.status_code, r.headers["Location"]) == (303, f"/console/admin?ok=deverrouille&compte={TARGET[0]}")
    page = admin.admin(r.headers["Location"].removeprefix("/console/admin"))
    assert f"Compte « {TARGET[0]} » déverrouillé : il peut de nouveau se connecter." in page.text
    assert f'id="unlock-{TARGET[0]}"' not in page.text
    audit = db_rows(srv.db, "select agent, action, item_id from audit_log where kind = 'agent' order by id")
    assert {"agent": "—", "action": "account_locked", "item_id": TARGET[0]} in audit
    assert {"agent": ADMIN[0], "action": "account_unlocked", "item_id": TARGET[0]} in audit
    assert "compte verrouillé (trop d'essais manqués)" in page.text.replace("&#39;", "'")
    # now the right password works
    r = Console(srv, address()).login(*TARGET)
    assert (r.status_code, r.headers["Location"]) == (303, "/console/file")


def test_unlocking_an_account_that_is_not_locked_says_so(srv):
    admin = Console(srv, address())
    assert admin.login(*ADMIN).status_code == 303
    admin.admin()
    r = admin.post("/admin/deverrouiller", {"csrf": admin.csrf, "identifiant": OTHER[0]})
    assert (r.status_code, message_of(r)) == (409, f"Le compte « {OTHER[0]} » n'est pas verrouillé.")


def test_a_failed_login_logs_a_keyed_id_not_the_typed_name(srv):
    typed = "jeanne.martin-" + uuid.uuid4().hex[:6]
    addr = address()
    r = Console(srv, addr).login(typed, "mauvais-mot-de-passe")
    assert (r.status_code, message_of(r)) == (401, WRONG)
    store = Store(srv.db)
    expected = f"console: failed login for name #{throttle.log_id(store, typed)} from {addr}"
    store.close()
    deadline = time.time() + 30
    while expected not in srv.log.read_text(errors="replace") and time.time() < deadline:
        time.sleep(0.2)
    log = srv.log.read_text(errors="replace")
    assert expected in log
    assert typed not in log and typed.upper() not in log
    # nor in the store: the counters hold keyed hashes only
    assert db_rows(srv.db, "select count(*) as n from throttle_events where key like ?", [f"%{typed}%"]) == [{"n": 0}]


def test_one_address_waits_after_its_failures_and_another_is_not_affected(srv):
    busy = address()
    statuses = []
    for _ in range(20):  # a different name each time: only the address's count grows
        r = Console(srv, busy).login(f"essai-{uuid.uuid4().hex[:8]}", "mauvais-mot-de-passe")
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert statuses[:10] == [401] * 10  # address_free_failures
    assert statuses[-1] == 429, statuses
    assert int(r.headers["Retry-After"]) >= 1
    assert message_of(r).startswith("Trop d'essais de connexion manqués. Patientez ")
    # an agent at another address logs in at once
    r = Console(srv, address()).login(*OTHER)
    assert (r.status_code, r.headers["Location"]) == (303, "/console/file")


def test_x_forwarded_for_is_read_from_the_right_past_the_trusted_proxies(srv):
    """A client prepending made-up addresses to X-Forwarded-For still counts as its own address."""
    real = address()
    statuses = []
    for _ in range(20):
        forged = f"{address()}, {real}"  # what nginx writes: the client's header, then the address it saw
        r = Console(srv, forged).login(f"essai-{uuid.uuid4().hex[:8]}", "mauvais-mot-de-passe")
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429, statuses


# ---- bookings: one person, N future appointments ---------------------------------------------


def api(srv, path: str, body: dict, addr: str) -> tuple[int, dict, dict]:
    r = requests.post(srv.url + path, json=body, headers={"X-Forwarded-For": addr}, timeout=60)
    return r.status_code, r.json(), r.headers


def free_slots(srv, site: str = "aurillac") -> list[str]:
    r = requests.get(srv.url + f"/rdv/api/creneaux?site={site}&reason=autre", timeout=60)
    assert r.status_code == 200, r.text
    return [s["key"] for s in r.json()["slots"]]


def book(srv, slot: str, addr: str, **contact) -> tuple[int, dict, dict]:
    body = {"site": "aurillac", "reason": "autre", "slot": slot, "idem": uuid.uuid4().hex, **contact}
    return api(srv, "/rdv/api/reserver", body, addr)


def test_a_third_booking_of_one_person_under_another_spelling_is_refused(srv):
    slots, addr = free_slots(srv), address()
    user = uuid.uuid4().hex[:6]
    status, first, _ = book(srv, slots[0], addr, email=f"Marie.Dupont.{user}@Exemple.fr")
    assert status == 200, first
    status, second, _ = book(srv, slots[1], addr, email=f"marie.dupont.{user}@exemple.fr")
    assert status == 200, second
    status, third, _ = book(srv, slots[2], addr, email=f" MARIE.DUPONT.{user}@EXEMPLE.FR ")
    assert status == 409 and third["code"] == "too_many_bookings"
    assert third["error"].startswith(TOO_MANY_BOOKINGS)
    rows = db_rows(
        srv.db, "select contact_key from pan_bookings where reference in (?, ?)", [first["reference"], second["reference"]]
    )
    assert len({r["contact_key"] for r in rows}) == 1 and len(rows[0]["contact_key"]) == 64
    assert db_rows(srv.db, "select count(*) as n from pan_bookings where slot_start = ? and status = 'booked'", [slots[2]]) == [
        {"n": 0}
    ]
    # someone else books that slot; once one appointment is cancelled, the person may book again
    status, other, _ = book(srv, slots[2], addr, email=f"quelquun.{user}@exemple.fr")
    assert status == 200, other
    cancel = {"reference": first["reference"], "contact": f"Marie.Dupont.{user}@Exemple.fr"}
    status, done, _ = api(srv, "/rdv/api/annuler", cancel, addr)
    assert status == 200, done
    status, again, _ = book(srv, slots[3], addr, email=f"marie.dupont.{user}@exemple.fr")
    assert status == 200, again


def test_the_booking_page_refuses_the_third_booking_in_french(srv):
    slots, addr = free_slots(srv, "saint-flour"), address()
    http = requests.Session()
    http.headers["X-Forwarded-For"] = addr
    mobile = ["06 12 34 56 70", "+33 6 12 34 56 70", "0612345670"]
    answers = []
    for slot, number in zip(slots, mobile, strict=False):
        page = http.get(srv.url + "/rdv/creneaux?site=saint-flour&motif=autre", timeout=60)
        form = {"csrf": CSRF_RE.search(page.text).group(1), "site": "saint-flour", "motif": "autre", "slot": slot}
        r = http.post(srv.url + "/rdv/reserver", data=form | {"mobile": number, "idem": uuid.uuid4().hex}, timeout=60)
        answers.append((r.status_code, message_of(r)))
    assert [s for s, _ in answers] == [200, 200, 409]
    assert answers[2][1].startswith(TOO_MANY_BOOKINGS)


def test_phone_and_web_bookings_of_one_number_count_together(tmp_path):
    store = Store(tmp_path / "s.db")
    monday = datetime(2026, 7, 13, 8, 0)
    slots = pan.free_slots(store, CANTAL, "aurillac", now=monday, limit=3)
    pan.book_by_phone(store, CANTAL, slots[0], "+33612345678", "CA1", now=monday)
    pan.book(store, CANTAL, "aurillac", slots[1].key, "autre", mobile="06 12 34 56 78", now=monday)
    with pytest.raises(pan.BookingError) as refused:
        pan.book_by_phone(store, CANTAL, slots[2], "+33 6 12 34 56 78", "CA2", now=monday)
    assert refused.value.code == "too_many_bookings"
    # a hidden caller id is nobody in particular: never counted together
    for i, slot in enumerate(pan.free_slots(store, CANTAL, "aurillac", now=monday, limit=3)):
        pan.book_by_phone(store, CANTAL, slot, "anonymous", f"CA-anon-{i}", now=monday)
    rows = db_rows(tmp_path / "s.db", "select contact_key from pan_bookings where idempotency_key like 'call:CA-anon-%'")
    assert rows == [{"contact_key": None}] * 3
    # past appointments do not count
    later = monday + timedelta(days=30)
    pan.book(
        store,
        CANTAL,
        "aurillac",
        pan.free_slots(store, CANTAL, "aurillac", now=later)[0].key,
        "autre",
        mobile="0612345678",
        now=later,
    )
    store.close()


# ---- per client address: cancellation guesses, messages --------------------------------------


def test_30_cancellation_guesses_get_429_after_the_limit_and_another_address_is_not_affected(srv):
    slots, owner = free_slots(srv, "mauriac"), address()
    user = uuid.uuid4().hex[:6]
    body = {"site": "mauriac", "reason": "autre", "slot": slots[0], "idem": uuid.uuid4().hex, "email": f"vrai.{user}@exemple.fr"}
    status, booking, _ = api(srv, "/rdv/api/reserver", body, owner)
    assert status == 200, booking
    guesser = address()
    answers = []
    for i in range(30):
        guess = {"reference": f"PAN-{1000 + i:04d}-{4321 + i:04d}", "contact": f"vrai.{user}@exemple.fr"}
        answers.append(api(srv, "/rdv/api/annuler", guess, guesser))
    assert [(s, b["error"]) for s, b, _ in answers[:5]] == [(400, NOT_FOUND)] * 5  # cancel_guess.max
    assert {s for s, _, _ in answers[5:]} == {429}
    status, refused, headers = answers[-1]
    assert refused["code"] == "throttled" and 1 <= refused["retry_after"] <= 15 * 60
    assert headers["Retry-After"] == str(refused["retry_after"])
    assert refused["error"].startswith("Trop d'essais avec une référence ou un contact qui ne correspondent pas. Réessayez dans ")
    # even the right pair is refused from that address meanwhile; the booking is untouched
    right = {"reference": booking["reference"], "contact": f"vrai.{user}@exemple.fr"}
    assert api(srv, "/rdv/api/annuler", right, guesser)[0] == 429
    assert db_rows(srv.db, "select status from pan_bookings where reference = ?", [booking["reference"]]) == [
        {"status": "booked"}
    ]
    # the person, from another address, cancels at once
    status, done, _ = api(srv, "/rdv/api/annuler", right, address())
    assert status == 200 and " est annulé." in done["message"]


def test_the_cancel_page_answers_429_with_retry_after_in_french(srv):
    http = requests.Session()
    http.headers["X-Forwarded-For"] = address()
    statuses = []
    for i in range(7):
        page = http.get(srv.url + "/rdv/annuler", timeout=60)
        form = {"csrf": CSRF_RE.search(page.text).group(1), "reference": f"PAN-2000-{i:04d}", "contact": "x@exemple.fr"}
        r = http.post(srv.url + "/rdv/annuler", data=form, timeout=60)
        statuses.append(r.status_code)
    assert statuses == [400] * 5 + [429] * 2
    assert int(r.headers["Retry-After"]) >= 1
    assert message_of(r).startswith("Trop d'essais avec une référence ou un contact qui ne correspondent pas.")


def test_messages_are_limited_per_address(srv):
    sender = address()
    answers = []
    for i in range(11):
        body = {"service": "armes", "subject": f"Objet {i}", "body": "Bonjour, une question.", "idem": uuid.uuid4().hex}
        answers.append(api(srv, "/rdv/api/message", body, sender))
    assert [s for s, _, _ in answers] == [200] * 10 + [429]  # per_address.message.max
    status, refused, headers = answers[-1]
    assert refused["error"].startswith("Trop de demandes venues de votre connexion en peu de temps. Réessayez dans ")
    assert int(headers["Retry-After"]) >= 1
    body = {"service": "armes", "subject": "Objet", "body": "Bonjour.", "idem": uuid.uuid4().hex}
    assert api(srv, "/rdv/api/message", body, address())[0] == 200


SUBJECT_MISSING = "Indiquez l'objet de votre message."
BAD_EMAIL = "L'adresse électronique n'est pas valide (exemple : prenom.nom@exemple.fr)."
TOO_MANY = "Trop de demandes venues de votre connexion en peu de temps. Réessayez dans "


def message_page(http: requests.Session, srv, **fields) -> requests.Response:
    """The message form as a browser without JavaScript sends it: its page first (token, key)."""
    page = http.get(srv.url + "/rdv/message?service=armes", timeout=60)
    form = {"csrf": CSRF_RE.search(page.text).group(1), "service": "armes", "idem": uuid.uuid4().hex, "email": ""}
    return http.post(srv.url + "/rdv/message", data=form | fields, timeout=60)


def test_refused_messages_do_not_use_the_hourly_messages_of_the_address(srv):
    """A shared connection (a France Services desk): 7 messages refused by validation, then the 10
    of the hour (throttle.per_address.message.max) all accepted, the 11th refused."""
    sender = address()
    http = requests.Session()
    http.headers["X-Forwarded-For"] = sender
    refused = [
        api(srv, "/rdv/api/message", {"service": "armes", "subject": "", "body": "Bonjour.", "idem": uuid.uuid4().hex}, sender)[
            :2
        ]
        for _ in range(4)
    ]
    assert refused == [(400, {"error": SUBJECT_MISSING, "code": "subject_missing"})] * 4
    pages = [message_page(http, srv, subject="Objet", body="Bonjour.", email="pas-une-adresse") for _ in range(3)]
    assert [(r.status_code, message_of(r)) for r in pages] == [(400, BAD_EMAIL)] * 3
    accepted = [
        api(
            srv,
            "/rdv/api/message",
            {"service": "armes", "subject": f"Objet {i}", "body": "Bonjour.", "idem": uuid.uuid4().hex},
            sender,
        )[0]
        for i in range(5)
    ]
    accepted += [message_page(http, srv, subject=f"Objet page {i}", body="Bonjour.").status_code for i in range(5)]
    assert accepted == [200] * 10
    status, body, headers = api(
        srv, "/rdv/api/message", {"service": "armes", "subject": "Objet", "body": "Bonjour.", "idem": uuid.uuid4().hex}, sender
    )
    assert status == 429 and body["code"] == "throttled" and body["error"].startswith(TOO_MANY)
    assert int(headers["Retry-After"]) >= 1


def test_refused_bookings_do_not_use_the_hourly_bookings_of_the_address(srv):
    addr = address()
    slots = [(site, slot) for site in ("aurillac", "mauriac", "saint-flour") for slot in free_slots(srv, site)[4:8]]
    for _ in range(7):
        status, refused, _ = book(srv, slots[0][1], addr, email="pas-une-adresse")
        assert (status, refused["error"]) == (400, BAD_EMAIL)
    statuses = []
    for i, (site, slot) in enumerate(slots[:11]):
        body = {
            "site": site,
            "reason": "autre",
            "slot": slot,
            "idem": uuid.uuid4().hex,
            "email": f"p{i}.{uuid.uuid4().hex[:6]}@exemple.fr",
        }
        status, answer, _ = api(srv, "/rdv/api/reserver", body, addr)
        statuses.append(status)
    assert statuses == [200] * 10 + [429]  # per_address.book.max
    assert answer["error"].startswith(TOO_MANY)


def test_a_flood_of_refused_submissions_is_still_limited(srv):
    """Refused submissions use no message nor booking of the hour, but every submission counts in
    the address's general guard (throttle.per_address.submit: 60 in 10 minutes)."""
    sender = address()
    statuses = []
    for _ in range(61):
        body = {"service": "armes", "subject": "", "body": "Bonjour.", "idem": uuid.uuid4().hex}
        status, answer, headers = api(srv, "/rdv/api/message", body, sender)
        statuses.append(status)
    assert statuses == [400] * 60 + [429]
    assert answer["error"].startswith(TOO_MANY) and 1 <= int(headers["Retry-After"]) <= 600
    # the guard counts the address's bookings too; another address is not affected
    assert book(srv, free_slots(srv)[0], sender, email="flot@exemple.fr")[0] == 429
    body = {"service": "armes", "subject": "Objet", "body": "Bonjour.", "idem": uuid.uuid4().hex}
    assert api(srv, "/rdv/api/message", body, address())[0] == 200


def chat(srv, addr: str, message: str = "carte grise", sender: str | None = None) -> requests.Response:
    body = {"sender": sender or uuid.uuid4().hex, "message": message}
    return requests.post(srv.url + "/chat/webhook", json=body, headers={"X-Forwarded-For": addr}, timeout=60)


def test_a_flood_of_chat_messages_from_one_address_is_limited(srv):
    """A script posting to the chat from one address (an audit wrote 400 new conversations in 3 s):
    past throttle.per_address.chat (60 in 10 minutes), a French 429 with Retry-After; malformed
    bodies count too; ratings of that address are refused the same way; another address is served."""
    addr = address()
    limit = int(CANTAL.get("throttle.per_address.chat.max"))
    assert limit == 60
    bad = [
        requests.post(
            srv.url + "/chat/webhook",
            data=b"{",
            headers={"X-Forwarded-For": addr, "Content-Type": "application/json"},
            timeout=60,
        ).status_code
        for _ in range(limit - 2)
    ]
    assert bad == [400] * (limit - 2)
    sender = uuid.uuid4().hex
    answered = chat(srv, addr, "je voudrais refaire ma carte grise", sender)
    assert answered.status_code == 200 and "ANTS" in " ".join(m.get("text", "") for m in answered.json())
    rated = requests.post(
        srv.url + "/chat/feedback", json={"sender": sender, "useful": True}, headers={"X-Forwarded-For": addr}, timeout=60
    )
    assert rated.status_code == 200
    refused = chat(srv, addr, "et mon permis ?", sender)
    assert refused.status_code == 429
    assert refused.json()["error"].startswith(TOO_MANY)
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    # the same 429 body as the /rdv API's (docs/operations.md "Throttling"): a script reads the wait in either
    assert (refused.json()["code"], refused.json()["retry_after"]) == ("throttled", int(refused.headers["Retry-After"]))
    again = requests.post(
        srv.url + "/chat/feedback", json={"sender": sender, "useful": False}, headers={"X-Forwarded-For": addr}, timeout=60
    )
    assert again.status_code == 429 and again.json()["error"].startswith(TOO_MANY)
    other = chat(srv, address(), "je voudrais refaire ma carte grise")
    assert other.status_code == 200 and "ANTS" in " ".join(m.get("text", "") for m in other.json())


def test_ipv6_chat_addresses_of_one_network_share_a_window():
    """Anyone holds a whole /64 of IPv6 addresses: the chat's window counts the network, not each address."""
    from bot.web.flood import Windows, window_key

    assert window_key("2001:db8:1:2::1") == window_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert window_key("2001:db8:1:3::1") != window_key("2001:db8:1:2::1")
    assert window_key("10.1.2.3") == window_key("::ffff:10.1.2.3") == "10.1.2.3"
    windows = Windows(capacity=3)
    assert [windows.take("a", 2, 600, t=0.0), windows.take("a", 2, 600, t=1.0), windows.take("a", 2, 600, t=2.0)] == [0, 0, 598]
    assert windows.first_refusal("a") and not windows.first_refusal("a")  # the log says it once
    assert windows.take("a", 2, 600, t=600.5) == 0  # the first left the window
    assert windows.first_refusal("a")  # let through since: a new refusal is said again
    for key in ("b", "c", "d"):  # past its capacity, the least recently seen address is forgotten first
        windows.take(key, 2, 600, t=700.0)
    assert len(windows) == 3 and "a" not in windows


# ---- client address, settings, wording, retention ----------------------------------------------


def request_from(peer: str, forwarded: str | None = None):
    """What bot.web.client reads of a Sanic request: the socket peer and the headers."""
    return SimpleNamespace(ip=peer, headers=Header({"X-Forwarded-For": forwarded} if forwarded else {}))


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(monkeypatch):
    from bot.web.client import client_address, exempt

    monkeypatch.delenv("AIGUILLAGE_TRUSTED_PROXIES", raising=False)
    assert client_address(request_from("203.0.113.5", "10.0.0.1")) == "203.0.113.5"
    monkeypatch.setenv("AIGUILLAGE_TRUSTED_PROXIES", "127.0.0.1, 192.168.0.0/16")
    assert client_address(request_from("203.0.113.5", "10.0.0.1")) == "203.0.113.5"  # not our proxy
    assert client_address(request_from("127.0.0.1", "10.0.0.1")) == "10.0.0.1"
    assert client_address(request_from("127.0.0.1", "6.6.6.6, 10.0.0.1, 192.168.1.1")) == "10.0.0.1"
    assert client_address(request_from("127.0.0.1", "pas-une-adresse")) == "127.0.0.1"
    assert client_address(request_from("127.0.0.1")) == "127.0.0.1"
    monkeypatch.setenv("AIGUILLAGE_THROTTLE_EXEMPT", "10.0.0.0/8")
    assert exempt("10.2.3.4") and not exempt("11.2.3.4") and not exempt("")


def test_a_proxy_not_listed_as_trusted_is_said_once_in_the_log(monkeypatch, caplog):
    """Behind nginx without AIGUILLAGE_TRUSTED_PROXIES the whole public shares the proxy's address,
    and the per-address limits (the chat's 60 messages in 10 minutes) would stop everyone together:
    the first such request says so in the log, naming the variable; later ones do not repeat it."""
    import logging

    from bot.web import client

    monkeypatch.delenv("AIGUILLAGE_TRUSTED_PROXIES", raising=False)
    monkeypatch.setattr(client, "_proxy_warned", False)
    with caplog.at_level(logging.WARNING, logger="bot.web.client"):
        assert client.client_address(request_from("203.0.113.5")) == "203.0.113.5"  # no header: nothing said
        assert client.client_address(request_from("93.184.216.34", "10.0.0.1")) == "93.184.216.34"  # not a local proxy
        assert caplog.records == []
        for _ in range(3):
            assert client.client_address(request_from("127.0.0.1", "203.0.113.9")) == "127.0.0.1"
    assert len(caplog.records) == 1
    assert "AIGUILLAGE_TRUSTED_PROXIES" in caplog.records[0].getMessage()


def test_a_bad_network_setting_names_the_variable():
    with pytest.raises(SettingsError, match="AIGUILLAGE_TRUSTED_PROXIES: expected IP addresses or networks"):
        networks("AIGUILLAGE_TRUSTED_PROXIES", {"AIGUILLAGE_TRUSTED_PROXIES": "127.0.0.1, nginx"})


@pytest.mark.parametrize(
    "seconds, words",
    [
        (0.2, "1 seconde"),
        (1, "1 seconde"),
        (45, "45 secondes"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (899, "15 minutes"),
        (3600, "1 heure"),
        (5400, "2 heures"),
    ],
)
def test_waits_are_said_in_words(seconds, words):
    assert say_duration(seconds) == words


def test_throttle_rows_are_purged_after_their_period(tmp_path):
    db = tmp_path / "s.db"
    store = Store(db)
    Accounts(store).add("agent.garde", "agent", "garde-pass-123")
    t0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    for k in range(20):  # 10 failures of each name, 1000 s apart: past every wait
        name, t = ("agent.garde", "nom.inconnu")[k % 2], t0.timestamp() + k * 1000
        assert throttle.login_gate(store, CANTAL, name, "10.0.0.9", t=t).attempt is not None
        throttle.login_failed(store, CANTAL, name, t=t)
    assert throttle.take(store, CANTAL, "book", "10.0.0.9", t=t0.timestamp()) == 0
    store.db.execute("update login_lockouts set locked_at = ?", [t0.isoformat(timespec="milliseconds")])
    days = retention.periods(CANTAL)["throttle"]
    assert days == 7
    kept = retention.purge(store, CANTAL, now=t0 + timedelta(days=days - 1))
    assert (kept["throttle_events"], kept["login_lockouts"]) == (0, 0)
    gone = retention.purge(store, CANTAL, now=t0 + timedelta(days=days + 1))
    assert (gone["throttle_events"], gone["login_lockouts"]) == (41, 1)
    # the lockout of a real account stays until an admin lifts it
    assert throttle.locked(store, ["agent.garde", "nom.inconnu"]).keys() == {"agent.garde"}
    store.close()


def test_an_admin_lifts_a_lockout_from_the_command_line(tmp_path, python):
    import subprocess

    from conftest import ROOT

    db = tmp_path / "s.db"
    store = Store(db)
    Accounts(store).add("agent.cli", "agent", "agent-cli-pass-1")
    t0 = time.time() - 3 * 3600
    for k in range(10):  # 10 failures, 1000 s apart: locked
        assert throttle.login_gate(store, CANTAL, "agent.cli", f"10.0.0.{k}", t=t0 + k * 1000).attempt is not None
        throttle.login_failed(store, CANTAL, "agent.cli", t=t0 + k * 1000)
    assert throttle.login_gate(store, CANTAL, "agent.cli", "10.0.1.1").locked
    store.close()

    def unlock(name: str) -> subprocess.CompletedProcess:
        env = command_env(store, PREFECTURE="cantal")  # the same SQLite file or PostgreSQL schema
        return subprocess.run([python, "-m", "bot", "agents", "unlock", name], cwd=ROOT, env=env, capture_output=True, text=True)

    done = unlock("agent.cli")
    assert (done.returncode, done.stdout) == (0, "Compte « agent.cli » déverrouillé : il peut de nouveau se connecter.\n")
    again = unlock("agent.cli")
    assert (again.returncode, again.stderr) == (1, "Le compte « agent.cli » n'est pas verrouillé.\n")
    unknown = unlock("personne")
    assert (unknown.returncode, unknown.stderr) == (1, "Aucun compte « personne ».\n")
    assert db_rows(db, "select action, kind, item_id from audit_log") == [
        {"action": "account_unlocked", "kind": "agent", "item_id": "agent.cli"}
    ]
    store = Store(db)
    gate = throttle.login_gate(store, CANTAL, "agent.cli", "10.0.1.1")
    assert not gate.locked and gate.wait_s == 0
    store.close()


def test_30_parallel_cancellation_guesses_pass_the_limit_no_more_than_one_by_one(any_srv):
    """The issue's "300 guesses at 246 per second": sent all at once, still 5 answered, the rest 429."""
    from concurrent.futures import ThreadPoolExecutor

    guesser = address()

    def guess(i: int) -> int:
        body = {"reference": f"PAN-3000-{i:04d}", "contact": "quelquun@exemple.fr"}
        return api(any_srv, "/rdv/api/annuler", body, guesser)[0]

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(guess, range(30)))
    assert sorted(statuses) == [400] * 5 + [429] * 25


def test_30_parallel_wrong_passwords_check_at_most_the_lockout_count(any_srv):
    """Sent at once from 30 addresses: the attempts are counted before the password is checked, so
    at most lockout_after - 1 are answered "wrong" (the others wait, or find the name locked)."""
    from concurrent.futures import ThreadPoolExecutor

    name = f"inconnu-{uuid.uuid4().hex[:8]}"

    def attempt(i: int) -> int:
        return Console(any_srv, address()).login(name, f"mauvais-{i}").status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(attempt, range(30)))
    assert set(statuses) <= {401, 403, 429}, statuses
    assert 1 <= statuses.count(401) <= 9, statuses
