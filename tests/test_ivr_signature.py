"""X-Twilio-Signature: the published test vector, and 403 / 503 through real servers."""

import urllib.parse
import urllib.request

import pytest
from conftest import TWILIO_TEST_TOKEN, launch, stop
from twilio.request_validator import RequestValidator

from ivr.signature import is_valid, public_url, sign

VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_the_published_test_vector():
    assert RequestValidator("12345").compute_signature(VECTOR_URL, VECTOR_PARAMS) == VECTOR_SIGNATURE
    assert sign("12345", VECTOR_URL, VECTOR_PARAMS) == VECTOR_SIGNATURE
    as_lists = {k: [v] for k, v in VECTOR_PARAMS.items()}  # how the channel reads a form
    assert is_valid("12345", VECTOR_URL, as_lists, VECTOR_SIGNATURE)


def test_any_change_breaks_the_signature():
    as_lists = {k: [v] for k, v in VECTOR_PARAMS.items()}
    assert not is_valid("12345", VECTOR_URL, as_lists | {"Digits": ["1235"]}, VECTOR_SIGNATURE)
    assert not is_valid("12345", VECTOR_URL.replace("bar=2", "bar=3"), as_lists, VECTOR_SIGNATURE)
    assert not is_valid("1234", VECTOR_URL, as_lists, VECTOR_SIGNATURE)
    assert not is_valid("12345", VECTOR_URL, as_lists, None)
    assert not is_valid("12345", VECTOR_URL, as_lists, "")


def test_the_signed_url_is_the_public_base_url_plus_path_and_query():
    assert (
        public_url("https://svi.example.org/", "/webhooks/ivr/menu", "node=root&step=0")
        == "https://svi.example.org/webhooks/ivr/menu?node=root&step=0"
    )
    assert public_url("https://svi.example.org", "/webhooks/ivr/voice", "") == "https://svi.example.org/webhooks/ivr/voice"


def post(url: str, params: dict, signature: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    req = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


CALL = {"CallSid": "CAsig0001", "From": "+33612345678", "To": "+33400000000", "CallStatus": "ringing"}


@pytest.mark.parametrize(
    "route",
    [
        "voice",
        "menu?node=root&step=0",
        "leaf?node=armes&step=1",
        "choices?node=root&step=1",
        "offer?node=root&step=1",
        "pan?node=rdv_pan&step=1",
        "dialed?node=human&step=1",
        "voicemail?node=armes&mailbox=armes&step=1",
        "recording?node=armes&mailbox=armes",
        "status",
    ],
)
def test_every_route_refuses_a_missing_or_bad_signature(server, route):
    url = f"{server.url}/webhooks/ivr/{route}"
    assert post(url, CALL, None)[0] == 403
    assert post(url, CALL, "bm90IGEgc2lnbmF0dXJl")[0] == 403
    assert post(url, CALL, sign("another-token", url, CALL))[0] == 403


def test_a_valid_signature_is_accepted_and_a_tampered_request_refused(server):
    url = f"{server.url}/webhooks/ivr/voice"
    status, body = post(url, CALL, sign(TWILIO_TEST_TOKEN, url, CALL))
    assert status == 200 and body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Gather')
    tampered = CALL | {"From": "+33699999999"}
    assert post(url, tampered, sign(TWILIO_TEST_TOKEN, url, CALL))[0] == 403
    assert "ivr: rejected /webhooks/ivr/voice with a bad Twilio signature" in server.log.read_text()


def test_the_signature_is_checked_against_public_base_url_not_the_host_called(server):
    url = f"{server.url}/webhooks/ivr/voice"
    other_host = url.replace("127.0.0.1", "localhost")  # same server, but not its PUBLIC_BASE_URL
    assert (
        post(url, CALL | {"CallSid": "CAsig0002"}, sign(TWILIO_TEST_TOKEN, other_host, CALL | {"CallSid": "CAsig0002"}))[0] == 403
    )


@pytest.fixture(scope="module")
def unconfigured(tmp_path_factory):
    """A server started without any Twilio setting: `make run` on a machine with no phone setup."""
    running = launch(tmp_path_factory.mktemp("no-token"), phone=False)
    yield running
    stop(running)


def test_without_a_token_the_phone_answers_503_and_the_chat_still_works(unconfigured):
    url = f"{unconfigured.url}/webhooks/ivr/voice"
    status, body = post(url, CALL, sign("aiguillage-local-dev", url, CALL))
    assert status == 503
    assert "TWILIO_AUTH_TOKEN is not set" in body
    assert "Phone channel (ivr) NOT serving calls: TWILIO_AUTH_TOKEN is not set" in unconfigured.log.read_text()
    answer = unconfigured.say("sig-chat-1", "ma carte grise")
    assert "carte grise" in answer[0]["text"]


# What a real incoming call from a French number carries: Twilio signs every POST parameter,
# empty ones included (the geographic fields are blank outside the US). Reading the form with
# blank values dropped made every real call fail with 403.
REAL_CALL = {
    "AccountSid": "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "ApiVersion": "2010-04-01",
    "CallSid": "CAsig0003",
    "CallStatus": "ringing",
    "Called": "+33471462300",
    "CalledCity": "",
    "CalledCountry": "FR",
    "CalledState": "",
    "CalledZip": "",
    "Caller": "+33612345678",
    "CallerCity": "",
    "CallerCountry": "FR",
    "CallerState": "",
    "CallerZip": "",
    "Direction": "inbound",
    "From": "+33612345678",
    "FromCity": "",
    "FromCountry": "FR",
    "FromState": "",
    "FromZip": "",
    "To": "+33471462300",
    "ToCity": "",
    "ToCountry": "FR",
    "ToState": "",
    "ToZip": "",
}


def test_a_real_call_with_blank_parameters_is_accepted(server):
    url = f"{server.url}/webhooks/ivr/voice"
    minimal = {"CallSid": "CAsig0004", "From": "+33612345678", "FromZip": ""}
    status, body = post(url, minimal, RequestValidator(TWILIO_TEST_TOKEN).compute_signature(url, minimal))
    assert status == 200 and "<Gather" in body
    status, body = post(url, REAL_CALL, RequestValidator(TWILIO_TEST_TOKEN).compute_signature(url, REAL_CALL))
    assert status == 200 and "<Gather" in body
    # the blank field is part of what was signed: dropping it is a tampered request
    without = {k: v for k, v in REAL_CALL.items() if k != "FromZip"} | {"CallSid": "CAsig0005"}
    assert post(url, without, RequestValidator(TWILIO_TEST_TOKEN).compute_signature(url, without | {"FromZip": ""}))[0] == 403


def test_a_gather_action_with_a_blank_finished_on_key_is_accepted(server):
    voice = f"{server.url}/webhooks/ivr/voice"
    call = REAL_CALL | {"CallSid": "CAsig0006"}
    assert post(voice, call, sign(TWILIO_TEST_TOKEN, voice, call))[0] == 200
    menu = f"{server.url}/webhooks/ivr/menu?node=root&step=0"
    gather = call | {"CallStatus": "in-progress", "Digits": "1", "FinishedOnKey": ""}
    status, body = post(menu, gather, sign(TWILIO_TEST_TOKEN, menu, gather))
    assert status == 200 and "<Response>" in body


def test_a_signature_on_the_url_with_or_without_its_port_is_accepted_as_twilio_says():
    """Twilio signs some requests on the URL with the default port (":443"), some without: both pass,
    whichever the server rebuilt (the URL as called is checked first, then Twilio's two variants)."""
    as_lists = {k: [v] for k, v in VECTOR_PARAMS.items()}
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert is_valid("12345", VECTOR_URL, as_lists, sign("12345", with_port, VECTOR_PARAMS))
    assert is_valid("12345", with_port, as_lists, VECTOR_SIGNATURE)
    assert not is_valid("12345", "https://other.example.com/myapp.php?foo=1&bar=2", as_lists, VECTOR_SIGNATURE)
    assert not is_valid("12345", VECTOR_URL, as_lists, "RSOYDt4T1cUTdK1PDd93/VVr8B8=é")  # not ASCII: refused, no error


@pytest.mark.parametrize(
    "route, shape",
    [
        ("voice", "incoming_call"),
        ("menu?node=root&step=0", "gather_digits"),
        ("menu?node=root&step=0", "gather_speech"),
        ("dialed?node=human&step=1", "dial_no_answer"),
        ("voicemail?node=armes&mailbox=armes&step=1", "record_hash"),
        ("recording?node=armes&mailbox=armes", "recording_status"),
        ("status", "status_completed"),
    ],
)
def test_a_signed_request_without_a_callsid_is_refused_with_its_reason(server, route, shape):
    """Twilio sends CallSid with every voice webhook: a body without it (Twilio's own, CallSid taken
    out, correctly signed) is no call. 400 with the reason; no call row (none with call_sid '')."""
    from conftest import db_rows

    from tools.ivr import twilio_bodies

    url = f"{server.url}/webhooks/ivr/{route}"
    body = twilio_bodies.body(shape, CallSid=None)
    assert "CallSid" not in body
    status, text = post(url, body, sign(TWILIO_TEST_TOKEN, url, body))
    assert (status, text) == (400, "Missing CallSid: every Twilio voice webhook carries one.")
    assert db_rows(server.db, "select call_sid from calls where call_sid = ''") == []
