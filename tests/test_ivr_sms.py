"""The link by SMS ("pour recevoir le lien par SMS, tapez 5"): whole calls with signed Twilio bodies
through a real server whose Twilio REST client (TWILIO_API_BASE_URL) talks to a local HTTP server
standing in for Twilio's Messages API: it checks the basic auth and the form fields, and answers
as Twilio does (201 accepted; 400 with 21211 or 21610; 401 with 20003; 429 with 20429; too slow;
not listening at all)."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import TWILIO_TEST_TOKEN, db_rows, free_port, launch, stop

from bot import settings
from bot.core.config import load_prefecture
from bot.core.tree import load_tree
from bot.services import sms
from ivr.twiml import Speaker
from tools.ivr.simulate import Call

ACCOUNT = "AC" + "5e" * 16
SERVICE = "MG" + "7c" * 16
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
OPEN = "2026-03-10T10:00"  # a Tuesday morning (Cantal)
PAN_NOW = "2026-05-04T10:00"  # a Monday: the next slots are on Tuesday 5 May
MOBILE = "+33612345678"
OFFER = "Pour recevoir le lien par SMS, tapez 5."
SENT = "Le lien vous a été envoyé par SMS."
PENDING = "Le SMS est en cours d'envoi : vous devriez le recevoir dans quelques minutes."
NO_MOBILE = "Désolé, je ne peux envoyer un SMS qu'à un téléphone portable français dont le numéro n'est pas masqué."
REFUSED = "Désolé, votre numéro a refusé les SMS de ce service : je ne peux pas vous en envoyer."
FAILED = "Désolé, le SMS n'a pas pu être envoyé pour le moment."
DETAILS = "Pour savoir quoi apporter et comment annuler, tapez 1."
MAIN = "Pour revenir au menu principal, tapez 0."
CARTE_GRISE_BODY = "Message de la préfecture du Cantal. Carte grise : https://ants.gouv.fr"
# What the carte grise leaf offers after its answer once the SMS was sent (no second offer).
CARTE_GRISE_OPTIONS = [
    "Pour entendre le numéro, tapez 3.",
    "Pour revenir au menu principal, tapez 0.",
    "Si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8.",
]


class FakeTwilio:
    """Twilio's Messages API on 127.0.0.1: POST /2010-04-01/Accounts/{sid}/Messages.json, form-encoded,
    HTTP basic auth (account SID, auth token), answers in JSON. `answer` sets what it does next:
    "accept", ("error", status, code, message), ("slow", seconds) or ("html", status)."""

    def __init__(self, token: str):
        self.port = free_port()
        self.token = token  # the auth token it accepts (a test changes it to see a 401)
        self.answer: object = "accept"
        self.requests: list[dict] = []
        self.httpd: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def reply(self, status: int, payload: dict | str) -> None:
                raw = payload if isinstance(payload, str) else json.dumps(payload)
                data = raw.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if isinstance(payload, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def error(self, status: int, code: int, message: str) -> None:
                self.reply(
                    status,
                    {
                        "code": code,
                        "message": message,
                        "more_info": f"https://www.twilio.com/docs/errors/{code}",
                        "status": status,
                    },
                )

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(), keep_blank_values=True).items()}
                fake.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "content_type": self.headers.get("Content-Type"),
                        "form": form,
                    }
                )
                if urlsplit(self.path).path != MESSAGES_PATH:
                    return self.error(404, 20404, "The requested resource was not found")
                expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{fake.token}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self.error(401, 20003, "Authenticate")
                answer = fake.answer
                if isinstance(answer, tuple) and answer[0] == "error":
                    return self.error(answer[1], answer[2], answer[3])
                if isinstance(answer, tuple) and answer[0] == "html":
                    return self.reply(answer[1], "<html><body>Bad gateway</body></html>")
                if isinstance(answer, tuple) and answer[0] == "slow":
                    time.sleep(answer[1])
                sid = "SM" + uuid.uuid4().hex
                self.reply(
                    201,
                    {
                        "account_sid": ACCOUNT,
                        "api_version": "2010-04-01",
                        "body": form.get("Body"),
                        "date_created": "Tue, 10 Mar 2026 09:00:00 +0000",
                        "date_sent": None,
                        "date_updated": "Tue, 10 Mar 2026 09:00:00 +0000",
                        "direction": "outbound-api",
                        "error_code": None,
                        "error_message": None,
                        "from": None,
                        "messaging_service_sid": form.get("MessagingServiceSid"),
                        "num_media": "0",
                        "num_segments": "0",
                        "price": None,
                        "price_unit": None,
                        "sid": sid,
                        "status": "accepted",
                        "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}/Media.json"},
                        "to": form.get("To"),
                        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json",
                    },
                )

        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def reset(self, answer: object = "accept") -> None:
        self.requests.clear()
        self.answer = answer
        self.token = TWILIO_TEST_TOKEN


@pytest.fixture(scope="module")
def twilio_api():
    fake = FakeTwilio(TWILIO_TEST_TOKEN)
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def sms_server(tmp_path_factory, twilio_api):
    running = launch(
        tmp_path_factory.mktemp("sms"),
        extra_env={
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_MESSAGING_SERVICE_SID": SERVICE,
            "TWILIO_API_BASE_URL": twilio_api.url,
        },
    )
    yield running
    stop(running)


@pytest.fixture()
def api(twilio_api):
    twilio_api.reset()
    yield twilio_api
    twilio_api.reset()
    if twilio_api.httpd is None:
        twilio_api.start()


def call_at_carte_grise(server, caller: str = MOBILE):
    call = Call(server.url, TWILIO_TEST_TOKEN, caller=caller, now=OPEN)
    call.start()
    call.press("1")
    leaf = call.press("1")
    assert leaf.node == "carte_grise"
    assert OFFER in leaf.says
    return call


def call_row(server, call) -> dict:
    return db_rows(server.db, "select * from calls where call_sid = ?", [call.call_sid])[0]


def test_the_leaf_sends_its_link_to_the_callers_mobile(sms_server, api):
    call = call_at_carte_grise(sms_server)
    turn = call.press("5")
    assert [r["form"] for r in api.requests] == [{"To": MOBILE, "Body": CARTE_GRISE_BODY, "MessagingServiceSid": SERVICE}]
    request = api.requests[0]
    assert request["path"] == MESSAGES_PATH
    assert request["auth"] == "Basic " + base64.b64encode(f"{ACCOUNT}:{TWILIO_TEST_TOKEN}".encode()).decode()
    assert request["content_type"] == "application/x-www-form-urlencoded"
    # The caller hears the confirmation, then the leaf's options again (the link is not offered twice).
    assert turn.says == [SENT] + CARTE_GRISE_OPTIONS
    assert turn.gather is not None and turn.node == "carte_grise" and not turn.hangup
    # The menu goes on: 0 is the main menu.
    assert call.press("0").node == "root"
    # Nothing keeps the number in clear: the call has its masked form, the audit the outcome only.
    row = call_row(sms_server, call)
    assert "612345678" not in json.dumps(row, default=str)
    assert row["caller"] == "[téléphone]"
    assert {"step": 3, "sms": "sent"} in json.loads(row["flow"])["inputs"]
    assert "612345678" not in sms_server.log.read_text(errors="replace")


def test_saying_cinq_sends_it_too(sms_server, api):
    call = call_at_carte_grise(sms_server)
    turn = call.say("cinq")
    assert [r["form"]["Body"] for r in api.requests] == [CARTE_GRISE_BODY]
    assert turn.says[0] == SENT


@pytest.mark.parametrize("said", ["Envoyez-moi le lien par SMS.", "Par texto, s'il vous plaît.", "Euh, le lien ?"])
def test_asking_for_the_link_aloud_sends_it_too(sms_server, api, said):
    call = call_at_carte_grise(sms_server)
    turn = call.say(said)
    assert [r["form"]["Body"] for r in api.requests] == [CARTE_GRISE_BODY]
    assert turn.says == [SENT] + CARTE_GRISE_OPTIONS


@pytest.mark.parametrize(
    "answer, heard, offered_again",
    [
        (("error", 400, 21211, "The 'To' number +33612345678 is not a valid phone number."), NO_MOBILE, False),
        (("error", 400, 21610, "Attempt to send to unsubscribed recipient"), REFUSED, False),
        (("error", 429, 20429, "Too Many Requests"), FAILED, True),
        (("error", 500, 20500, "Internal Server Error"), FAILED, True),
        (("html", 502), FAILED, True),
    ],
    ids=["21211-invalid-to", "21610-unsubscribed", "429-rate-limit", "500", "502-not-json"],
)
def test_twilios_error_answers_give_a_french_apology_and_the_menu_goes_on(sms_server, api, answer, heard, offered_again):
    api.answer = answer
    call = call_at_carte_grise(sms_server)
    turn = call.press("5")
    assert len(api.requests) == 1
    assert turn.says[0] == heard
    assert turn.gather is not None and not turn.hangup and turn.node == "carte_grise"
    assert (OFFER in turn.says) is offered_again
    assert call.press("0").node == "root"


def test_a_rejected_auth_token_401_20003_gives_the_apology(sms_server, api):
    api.token = "a-rotated-token"  # Twilio no longer accepts the server's token
    call = call_at_carte_grise(sms_server)
    turn = call.press("5")
    assert len(api.requests) == 1
    assert turn.says[0] == FAILED
    assert OFFER in turn.says and turn.gather is not None and not turn.hangup


def test_twilio_not_listening_gives_the_apology(sms_server, api):
    api.stop()  # connection refused
    call = call_at_carte_grise(sms_server)
    turn = call.press("5")
    assert turn.says[0] == FAILED
    assert turn.gather is not None and not turn.hangup
    api.start()
    again = call.press("5")  # the caller tries again once Twilio answers
    assert again.says[0] == SENT
    assert [r["form"]["To"] for r in api.requests] == [MOBILE]


def test_twilio_too_slow_the_caller_does_not_wait_for_it(sms_server, api):
    api.answer = ("slow", 6)
    call = call_at_carte_grise(sms_server)
    started = time.monotonic()
    turn = call.press("5")
    assert time.monotonic() - started < 6  # answered before Twilio did (sms_wait_ms: 1 s)
    assert turn.says == [PENDING] + CARTE_GRISE_OPTIONS
    assert turn.gather is not None and not turn.hangup
    deadline = time.monotonic() + 30
    while len(api.requests) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [r["form"]["Body"] for r in api.requests] == [CARTE_GRISE_BODY]  # sent once, in the background


def test_the_store_locked_after_the_sms_went_out_still_says_it_was_sent(sms_server, api):
    """The SMS left, then the store refused the step (another writer holds it): the caller hears that it
    was sent (not "je répète" with 5 offered again, which would send it twice); the step is written later."""
    call = call_at_carte_grise(sms_server)
    conn = sqlite3.connect(str(sms_server.db), timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        turn = call.press("5")
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    assert turn.says == [SENT] + CARTE_GRISE_OPTIONS
    assert len(api.requests) == 1
    deadline = time.monotonic() + 30
    while (
        time.monotonic() < deadline and {"step": 3, "sms": "sent"} not in json.loads(call_row(sms_server, call)["flow"])["inputs"]
    ):
        time.sleep(0.3)
    assert {"step": 3, "sms": "sent"} in json.loads(call_row(sms_server, call)["flow"])["inputs"]
    assert call.press("0").node == "root"  # the call goes on from the step written in the background


NO_SMS_CALLERS = {
    "landline-04": "+33471000001",
    "landline-01": "+33145678901",
    "landline-05": "+33556000000",
    "voip-09": "+33975180000",
    "withheld": "anonymous",
    "withheld-twilio": "+266696687",
    "foreign-mobile": "+447700900123",
}


@pytest.mark.parametrize("caller", list(NO_SMS_CALLERS.values()), ids=list(NO_SMS_CALLERS))
def test_the_link_by_sms_is_not_offered_to_a_number_that_cannot_receive_it(sms_server, api, caller):
    """Twilio's `From` is known when the answer is said: only a French mobile hears the offer (the rule
    the send itself applies, bot.services.sms.french_mobile); 5 is then no option."""
    call = Call(sms_server.url, TWILIO_TEST_TOKEN, caller=caller, now=OPEN)
    call.start()
    call.press("1")
    leaf = call.press("1")
    assert leaf.node == "carte_grise"
    assert leaf.says[1:] == CARTE_GRISE_OPTIONS and "SMS" not in leaf.xml
    assert call.press("5").says[0] == "Touche non valide."
    assert api.requests == []  # nothing sent to Twilio


@pytest.mark.parametrize("caller", ["+33612345678", "+33756123456"])
def test_the_link_by_sms_is_offered_to_a_french_mobile(sms_server, api, caller):
    call = call_at_carte_grise(sms_server, caller=caller)  # checks the offer
    assert call.press("5").says[0] == SENT
    assert [r["form"]["To"] for r in api.requests] == [caller]


def test_a_booking_confirmation_offers_its_link_by_sms(sms_server, api):
    call = Call(sms_server.url, TWILIO_TEST_TOKEN, caller=MOBILE, now=PAN_NOW)
    call.start()
    call.press("5")
    assert call.press("2").node == "rdv_pan"
    call.press("4")
    call.press("1")
    booked = call.press("1")
    rows = db_rows(sms_server.db, "select reference from pan_bookings where idempotency_key like ?", [f"call:{call.call_sid}:%"])
    assert len(rows) == 1
    ref = rows[0]["reference"]
    assert booked.says[0].startswith("Votre rendez-vous est confirmé le mardi 5 mai, à 9 heures, point d'accueil numérique")
    assert booked.says[-3:] == [DETAILS, OFFER, MAIN]  # the booked message, then its keys
    assert booked.gather is not None and not booked.hangup
    done = call.press("5")
    assert done.says == [SENT, "Merci de votre appel. Au revoir."] and done.hangup
    assert len(api.requests) == 1
    form = api.requests[0]["form"]
    assert form["To"] == MOBILE and form["MessagingServiceSid"] == SERVICE
    body = form["Body"]
    assert body.startswith(
        "Message de la préfecture du Cantal. Rendez-vous au point d'accueil numérique le mardi 5 mai 2026 à 9 h, "
        "point d'accueil numérique de la préfecture (Aurillac)"
    )
    assert f"Référence {ref}. Agenda : {sms_server.url}/rdv/ics/{ref}?t=" in body
    # The link works: it is the booking's calendar file.
    status, text, headers = sms_server.get(body.split("Agenda : ", 1)[1].replace(sms_server.url, ""))
    content_type = {k.lower(): v for k, v in headers.items()}["content-type"]
    assert status == 200 and content_type.startswith("text/calendar") and ref in text


def test_silence_after_a_booking_ends_the_call_politely(sms_server, api):
    call = Call(sms_server.url, TWILIO_TEST_TOKEN, caller=MOBILE, now=PAN_NOW)
    call.start()
    call.press("5")
    call.press("2")
    call.press("4")
    call.press("2")
    assert call.press("1").says[-3:] == [DETAILS, OFFER, MAIN]
    end = call.silence()
    assert end.says == ["Merci de votre appel. Au revoir."] and end.hangup
    assert api.requests == []


def book_first_slot(server, caller: str):
    """A caller books the first slot offered (5, 2, 4, 1, 1): the answer to the confirmation."""
    call = Call(server.url, TWILIO_TEST_TOKEN, caller=caller, now=PAN_NOW)
    call.start()
    call.press("5")
    assert call.press("2").node == "rdv_pan"
    call.press("4")
    call.press("1")
    return call, call.press("1")


def test_after_a_booking_a_failed_sms_says_so_then_the_booked_keys_and_5_again(sms_server, api):
    """The booked message offers 5 among its keys; a failure is said, then its keys (5 included: it
    may be tried again), without the whole message; sent, the call ends."""
    call, booked = book_first_slot(sms_server, "+33611223344")
    assert booked.says[-3:] == [DETAILS, OFFER, MAIN]
    api.answer = ("error", 429, 20429, "Too Many Requests")
    failed = call.press("5")
    assert failed.says == [FAILED, DETAILS, OFFER, MAIN]
    assert failed.gather is not None and not failed.hangup
    api.answer = "accept"
    done = call.press("5")
    assert done.says == [SENT, "Merci de votre appel. Au revoir."] and done.hangup
    assert len(api.requests) == 2


def test_after_a_booking_from_a_landline_no_sms_is_offered(sms_server, api):
    call, booked = book_first_slot(sms_server, "+33145678902")
    assert booked.says[-2:] == [DETAILS, MAIN] and OFFER not in booked.says
    again = call.press("*")  # the booked message again, without the link
    assert again.says[0].startswith("Votre rendez-vous est confirmé le mardi 5 mai")
    assert again.says[-2:] == [DETAILS, MAIN] and OFFER not in again.says
    assert call.silence().hangup
    assert api.requests == []


def test_after_a_booking_from_a_hidden_number_no_sms_is_offered(sms_server, api):
    _, booked = book_first_slot(sms_server, "anonymous")
    assert "Votre numéro étant masqué, seul un agent de la préfecture pourra annuler ce rendez-vous." in booked.says
    assert booked.says[-2:] == [DETAILS, MAIN] and OFFER not in booked.says


# ---- without the SMS settings, and the pieces on their own --------------------------------------


def leaf_says(sp: Speaker, node_id: str) -> list[str]:
    root = ET.fromstring(sp.leaf(node_id, 1, True).to_xml())
    return ["".join(s.itertext()) for s in root.iter("Say")]


def test_not_configured_the_leaf_offers_no_key_5_over_http(server):
    """The shared test server has no TWILIO_ACCOUNT_SID nor Messaging Service: no SMS offered."""
    call = Call(server.url, TWILIO_TEST_TOKEN, caller=MOBILE, now=OPEN)
    call.start()
    call.press("1")
    leaf = call.press("1")
    assert leaf.node == "carte_grise"
    assert leaf.says[1:] == ["Pour entendre le numéro, tapez 3."] + CARTE_GRISE_OPTIONS[1:]
    assert "SMS" not in leaf.xml
    # 5 is not an option there: the caller hears that the key matches nothing, and the menu goes on.
    assert call.press("5").says[0] == "Touche non valide."


def test_not_configured_no_key_5_is_offered():
    tree, pref = load_tree(), load_prefecture("cantal")
    assert settings.sms({"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": "t"}) is None  # no Messaging Service
    assert settings.sms({"TWILIO_MESSAGING_SERVICE_SID": SERVICE, "TWILIO_AUTH_TOKEN": "t"}) is None  # no account
    off = Speaker(tree, pref, "https://svi.prefecture.example")
    on = Speaker(tree, pref, "https://svi.prefecture.example", sms=True)
    websites = ["carte_grise", "permis_conduire", "cni_passeport", "armes", "suivi_ants", "titre_sejour"]
    websites += ["suivi_titre_sejour", "rdv_pan", "hors_perimetre"]
    for node_id in websites:
        assert OFFER not in leaf_says(off, node_id), node_id
        assert OFFER in leaf_says(on, node_id), node_id
    # An answer that names no website offers no SMS, configured or not.
    for node_id in ("reclamation", "human", "horaires_contact", "suivi_autre", "passeport_urgence"):
        assert OFFER not in leaf_says(on, node_id), node_id


def test_the_settings_name_a_bad_value():
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": "s3cr3t-token", "TWILIO_MESSAGING_SERVICE_SID": SERVICE}
    config = settings.sms(env)
    assert (config.account_sid, config.messaging_service_sid, config.api_base_url) == (ACCOUNT, SERVICE, None)
    assert config.auth_token == "s3cr3t-token" and "s3cr3t" not in repr(config)
    with pytest.raises(settings.SettingsError) as err:
        settings.sms(env | {"TWILIO_MESSAGING_SERVICE_SID": "PN123"})
    assert err.value.name == "TWILIO_MESSAGING_SERVICE_SID"
    with pytest.raises(settings.SettingsError) as err:
        settings.sms(env | {"TWILIO_API_BASE_URL": "127.0.0.1:9"})
    assert err.value.name == "TWILIO_API_BASE_URL"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("+33612345678", "+33612345678"),
        ("06 12 34 56 78", "+33612345678"),
        ("+33145678901", None),  # a Paris landline
        ("+33975180000", None),  # a VoIP number (09)
        ("anonymous", None),
        ("+266696687", None),  # Twilio's "withheld" number
        ("", None),
        ("+447700900123", None),
    ],
)
def test_only_a_french_mobile_gets_an_sms(raw, expected):
    assert sms.french_mobile(raw) == expected
