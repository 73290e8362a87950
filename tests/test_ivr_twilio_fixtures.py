"""What Twilio really sends: the complete request bodies of tests/fixtures/twilio/ (blank geographic
fields, FinishedOnKey, Timestamp, ...), signed exactly as Twilio signs them (RequestValidator on the
full public URL + every parameter, blank ones included), POSTed url-encoded to the real server."""

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from html import unescape

import pytest
from conftest import TWILIO_TEST_TOKEN, db_rows
from twilio.request_validator import RequestValidator

from tools.ivr import twilio_bodies

FIXTURES = twilio_bodies.FIXTURES
WELCOME = "Bonjour, ici le service automatisé de la préfecture du Cantal."
# What Twilio's recogniser (English only) writes for "Bonjour, je vous appelle pour mon titre de
# séjour, merci de me rappeler." (tests/fixtures/twilio/transcription.json).
GARBLED = "Bone jury, she was a pale poor moan teeter the say sure. Mercy the mirror play."
GEOGRAPHIC = [f"{who}{what}" for who in ("From", "Caller", "To", "Called") for what in ("City", "State", "Zip")]


def new_sid() -> str:
    return "CA" + uuid.uuid4().hex


class Twilio:
    """Plays Twilio for one call: the fixture's body with this call's SID, signed, url-encoded."""

    def __init__(self, server, now: str | None = None, call_sid: str | None = None, caller: str | None = None):
        self.server, self.now, self.caller = server, now, caller  # caller None: the fixture's own From
        self.call_sid = call_sid or new_sid()

    def post(self, url: str, shape: str, **values) -> tuple[int, str]:
        if url.startswith("/"):
            url = self.server.url + url
        params = twilio_bodies.body(shape, self.call_sid, caller=self.caller, **values)
        signature = RequestValidator(TWILIO_TEST_TOKEN).compute_signature(url, params)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        if self.now:
            headers["X-Ivr-Now"] = self.now
        req = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def twiml(self, url: str, shape: str, **values) -> ET.Element:
        status, body = self.post(url, shape, **values)
        assert status == 200, body
        root = ET.fromstring(body)
        assert root.tag == "Response"
        return root

    def start(self) -> ET.Element:
        return self.twiml("/webhooks/ivr/voice", "incoming_call")


def says(root: ET.Element) -> list[str]:
    return [e.text for e in root.iter("Say")]


def action(root: ET.Element) -> str:
    return root.find("Gather").attrib["action"]


def call_row(server, call_sid: str) -> dict:
    rows = db_rows(server.db, "select * from calls where call_sid = ?", [call_sid])
    assert len(rows) == 1
    return rows[0]


# ---- the fixtures themselves ---------------------------------------------------------------------


def test_every_fixture_names_its_twilio_page_and_a_route():
    names = twilio_bodies.names()
    assert names == sorted(
        [
            "dial_completed",
            "dial_no_answer",
            "gather_digits",
            "gather_empty",
            "gather_speech",
            "incoming_call",
            "record_hangup",
            "record_hash",
            "recording_status",
            "redirect",
            "status_completed",
            "status_in_progress",
            "status_initiated",
            "status_ringing",
            "transcription",
        ]
    )
    for name in names:
        data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
        assert data["doc"].startswith("https://www.twilio.com/docs/"), name
        assert data["route"] in ("voice", "menu", "voicemail", "recording", "dialed", "status", "any"), name
        assert all(isinstance(v, str) for v in data["params"].values()), name
        assert data["params"]["AccountSid"].startswith("AC") and data["params"]["CallSid"].startswith("CA"), name
        if name != "recording_status":  # every call webhook carries the caller's blank geographic fields
            assert {f: data["params"][f] for f in GEOGRAPHIC} == {f: "" for f in GEOGRAPHIC}, name
            assert (data["params"]["FromCountry"], data["params"]["Direction"]) == ("FR", "inbound"), name
    assert twilio_bodies.load("gather_digits")["params"]["FinishedOnKey"] == ""
    assert "Digits" not in twilio_bodies.load("gather_empty")["params"]


def test_body_fills_the_call_and_the_step():
    params = twilio_bodies.body("dial_no_answer", "CAx", caller="+33699999999", DialCallStatus="busy", DialCallDuration=None)
    assert (params["CallSid"], params["From"], params["Caller"], params["DialCallStatus"]) == (
        "CAx",
        "+33699999999",
        "+33699999999",
        "busy",
    )
    assert "DialCallDuration" not in params and params["FromZip"] == ""


# The fixture bodies the simulator (and so the audit, which plays its calls with it) never sends, and why.
STATUS_EVENTS = (
    "a call progress event: Twilio sends initiated, ringing and answered (in-progress) only to a StatusCallback "
    "that asks for them with StatusCallbackEvent (calls made through the REST API, <Dial><Number "
    "statusCallbackEvent>); the channel asks for none (its <Dial> has no statusCallbackEvent) and the number's "
    "'Call status changes' webhook of an incoming call gets its end, completed. The simulator plays incoming "
    "calls, so it sends completed only; the status route is still tested with these bodies below "
    "(test_status_callbacks_in_order_then_duplicated, test_status_callbacks_out_of_order_never_move_a_call_back)"
)
GATHER_ROUTES = ("menu", "leaf", "offer", "choices", "pan")
NOT_SIMULATED = {"status_initiated": STATUS_EVENTS, "status_ringing": STATUS_EVENTS, "status_in_progress": STATUS_EVENTS}


def spied(call, sent: list[tuple[str, dict]]):
    """Appends to `sent` the (route, parameters) of every request the simulated call sends, in order."""
    original = call.request

    def spy(url, params, *args, **kwargs):
        sent.append((urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1], params))
        return original(url, params, *args, **kwargs)

    call.request = spy
    return call


def test_the_simulator_sends_every_body_the_channel_receives(server, phone):
    """Every fixture body is sent by the simulator with exactly its parameters (blank ones included) to
    its route, or is listed in NOT_SIMULATED with the reason."""
    assert set(NOT_SIMULATED) < set(twilio_bodies.names()) and all(NOT_SIMULATED.values())
    sent = []
    # A sentence, a silence, a message not recorded (Twilio follows the Record's Redirect), then the hang-up.
    call = phone()
    spied(call, sent)
    call.start()
    call.say("une question sur mon arme")
    call.silence()
    assert call.press("2").record is not None
    call.record(None)
    call.hangup()
    # The standard open: a transfer not answered, then a message ended with # and its two callbacks.
    call = phone(now="2026-03-10T10:00")
    spied(call, sent)
    call.start()
    assert call.press("0").dial is not None
    call.dial_ended("busy")
    assert call.press("2").record is not None
    call.record()  # Twilio's English words for a French message (TRANSCRIPTION, the fixture's)
    # A transfer answered.
    call = phone(now="2026-03-10T10:00")
    spied(call, sent)
    call.start()
    call.press("0")
    call.dial_ended("completed")
    # The caller hangs up while recording: the Record action with Digits=hangup, then the callbacks.
    call = phone()
    spied(call, sent)
    call.start()
    call.press("5")
    call.press("1")
    assert call.press("2").record is not None
    call.record(hangup=True)
    expected = [
        ("voice", "incoming_call"),
        ("menu", "gather_speech"),
        ("leaf", "gather_empty"),
        ("leaf", "gather_digits"),
        ("voicemail", "redirect"),
        ("status", "status_completed"),
        ("voice", "incoming_call"),
        ("menu", "gather_digits"),
        ("dialed", "dial_no_answer"),
        ("offer", "gather_digits"),
        ("voicemail", "record_hash"),
        ("recording", "recording_status"),
        ("recording", "transcription"),
        ("voice", "incoming_call"),
        ("menu", "gather_digits"),
        ("dialed", "dial_completed"),
        ("voice", "incoming_call"),
        ("menu", "gather_digits"),
        ("menu", "gather_digits"),
        ("leaf", "gather_digits"),
        ("voicemail", "record_hangup"),
        ("recording", "recording_status"),
        ("recording", "transcription"),
    ]
    assert [(route, sorted(params)) for route, params in sent] == [
        (route, sorted(twilio_bodies.load(shape)["params"])) for route, shape in expected
    ]
    for route, shape in expected:  # a Gather's body goes to the action of whichever prompt gathered
        example = twilio_bodies.load(shape)["route"]
        assert route == example or example == "any" or (shape.startswith("gather_") and route in GATHER_ROUTES), shape
    assert {shape for _, shape in expected} | set(NOT_SIMULATED) == set(twilio_bodies.names())
    assert [params["Digits"] for _, params in sent if "Digits" in params] == ["2", "0", "2", "#", "0", "5", "1", "2", "hangup"]
    keys = [params for (_, params), (_, shape) in zip(sent, expected, strict=True) if shape == "gather_digits"]
    assert [p["FinishedOnKey"] for p in keys] == [""] * 7
    assert all(p["FromZip"] == "" and p["CalledCity"] == "" for _, p in sent if "FromZip" in p)


# ---- whole calls with Twilio's bodies --------------------------------------------------------------


def test_keys_then_a_voicemail_ended_with_hash_then_its_callbacks(server):
    tw = Twilio(server)
    welcome = tw.start()
    assert says(welcome)[:2] == [WELCOME, "Dites en quelques mots l'objet de votre appel, ou choisissez :"]
    other = tw.twiml(action(welcome), "gather_digits", Digits="5")
    leaf = tw.twiml(action(other), "gather_digits", Digits="1")
    assert says(leaf)[0].startswith("Les démarches d'armes se font en ligne")
    record = tw.twiml(action(leaf), "gather_digits", Digits="2")
    rec = record.find("Record").attrib
    assert rec["action"] == f"{server.url}/webhooks/ivr/voicemail?node=armes&mailbox=armes&step=3"
    assert (
        rec["recordingStatusCallback"]
        == rec["transcribeCallback"]
        == f"{server.url}/webhooks/ivr/recording?node=armes&mailbox=armes"
    )
    rsid = "RE" + uuid.uuid4().hex
    done = tw.twiml(rec["action"], "record_hash", RecordingSid=rsid)
    ref = db_rows(server.db, "select reference from tickets where idempotency_key = ?", [f"voicemail:{rsid}"])[0]["reference"]
    digits = ", ".join(
        ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"][int(d)] for d in ref[4:] if d != "-"
    )
    assert says(done) == [
        "Merci. Votre message a été transmis au service concerné, bureau des polices administratives (armes), qui "
        "vous répondra sous 5 jours ouvrés.",
        f"Notez la référence de votre message : {digits}. Je répète : {digits}.",
        "Merci de votre appel. Au revoir.",
    ]
    assert done.find("Hangup") is not None
    for shape in ("recording_status", "transcription", "recording_status", "transcription"):  # each twice
        status, body = tw.post(rec["transcribeCallback"], shape, RecordingSid=rsid)
        assert (status, body) == (200, '<?xml version="1.0" encoding="UTF-8"?><Response />')
    assert tw.post("/webhooks/ivr/status", "status_completed")[0] == 200
    vms = db_rows(
        server.db, "select mailbox, duration_s, transcription, status from voicemails where call_sid = ?", [tw.call_sid]
    )
    assert vms == [{"mailbox": "armes", "duration_s": 12, "transcription": GARBLED, "status": "transcribed"}]
    row = call_row(server, tw.call_sid)
    assert (row["outcome"], row["unresolved"], row["call_status"], row["duration_s"]) == ("voicemail", 0, "completed", 42)


def test_speech_with_its_confidence_then_an_empty_gather(server):
    tw = Twilio(server)
    welcome = tw.start()
    leaf = tw.twiml(action(welcome), "gather_speech")  # "Mon titre de séjour expire.", 0.89
    assert "/webhooks/ivr/leaf?node=titre_sejour&step=1" in action(leaf)
    assert any("centre de contact citoyen, zéro huit zéro six, zéro zéro un, six deux zéro." in s for s in says(leaf))
    again = tw.twiml(action(leaf), "gather_empty")
    assert says(again)[0] == "Je n'ai rien entendu."
    assert "/webhooks/ivr/leaf?node=titre_sejour&step=2" in action(again)
    inputs = json.loads(call_row(server, tw.call_sid)["inputs"])
    assert [i.get("asr") for i in inputs] == [0.8936598, None]
    assert inputs[1] == {"step": 2, "silence": True}


def test_a_caller_hanging_up_while_recording_keeps_the_message(server):
    tw = Twilio(server)
    other = tw.twiml(action(tw.start()), "gather_digits", Digits="5")
    leaf = tw.twiml(action(other), "gather_digits", Digits="1")
    record = tw.twiml(action(leaf), "gather_digits", Digits="2")
    rsid = "RE" + uuid.uuid4().hex
    # Out of order: the final status callback arrives before the Record action (Digits=hangup).
    assert tw.post("/webhooks/ivr/status", "status_completed", CallDuration="30")[0] == 200
    assert call_row(server, tw.call_sid)["outcome"] == "answered"  # the armes leaf was reached
    gone = tw.twiml(record.find("Record").attrib["action"], "record_hangup", RecordingSid=rsid)
    assert [e.tag for e in gone] == ["Hangup"]  # nobody listens any more
    vms = db_rows(server.db, "select mailbox, duration_s, status from voicemails where call_sid = ?", [tw.call_sid])
    assert vms == [{"mailbox": "armes", "duration_s": 9, "status": "new"}]
    row = call_row(server, tw.call_sid)
    assert (row["outcome"], row["unresolved"]) == ("voicemail", 0)


def test_a_transfer_not_answered_offers_the_voicemail_and_an_answered_one_ends(server):
    tw = Twilio(server, now="2026-03-10T10:00")  # the Cantal standard is open
    dial = tw.start()
    dialing = tw.twiml(action(dial), "gather_digits", Digits="0")
    assert dialing.find("Dial").text == "+33471462300"
    # the transfer shows the préfecture's number the caller dialled, and rings for a set time
    assert (dialing.find("Dial").attrib["callerId"], dialing.find("Dial").attrib["timeout"]) == (
        twilio_bodies.load("incoming_call")["params"]["To"],
        "30",
    )
    after = tw.twiml(dialing.find("Dial").attrib["action"], "dial_no_answer")
    assert says(after)[0] == "La ligne est occupée ou ne répond pas."
    assert any("tapez 2" in s for s in says(after))
    other = Twilio(server, now="2026-03-10T10:00")
    dialing = other.twiml(action(other.start()), "gather_digits", Digits="0")
    ended = other.twiml(dialing.find("Dial").attrib["action"], "dial_completed")
    assert [e.tag for e in ended] == ["Hangup"]
    assert call_row(server, other.call_sid)["outcome"] == "transferred"


# ---- Twilio's English-only transcription of a French message, in the agents' console ------------------

AGENT = ("fixtures-agent", "fixtures-agent-pass-1")


def visible(html: str) -> str:
    """A page's text as a person reads it: no tags, entities decoded, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_a_french_message_transcribed_in_english_is_shown_with_the_note_and_the_recording(server, python):
    from test_console import cli, login

    done = cli(python, server.db, "agents", "add", AGENT[0], "--role", "agent", "--password-stdin", stdin=AGENT[1] + "\n")
    assert done.returncode == 0, done.stderr
    assert twilio_bodies.load("transcription")["params"]["TranscriptionText"] == GARBLED
    tw = Twilio(server)
    other = tw.twiml(action(tw.start()), "gather_digits", Digits="5")
    leaf = tw.twiml(action(other), "gather_digits", Digits="1")
    rec = tw.twiml(action(leaf), "gather_digits", Digits="2").find("Record").attrib
    rsid = "RE" + uuid.uuid4().hex
    example = twilio_bodies.load("record_hash")["params"]
    recording = example["RecordingUrl"].replace(example["RecordingSid"], rsid)
    tw.twiml(rec["action"], "record_hash", RecordingSid=rsid, RecordingUrl=recording)
    for shape in ("recording_status", "transcription"):
        assert tw.post(rec["transcribeCallback"], shape, RecordingSid=rsid, RecordingUrl=recording)[0] == 200
    assert tw.post("/webhooks/ivr/status", "status_completed")[0] == 200
    ref = db_rows(server.db, "select reference from tickets where idempotency_key = ?", [f"voicemail:{rsid}"])[0]["reference"]
    console = login(server, AGENT)
    note = (
        "La transcription automatique de Twilio ne reconnaît que l'anglais : pour un message en français, "
        "elle est le plus souvent fausse ou vide. Écoutez l'enregistrement."
    )
    # The message page: the recording first, then the note, then Twilio's words as they came.
    message = console.get(f"/messages/{ref}")
    assert message.status_code == 200
    assert (
        f"Message vocal Écouter l'enregistrement (12 secondes) (nouvelle fenêtre) {note} Transcription automatique : {GARBLED}"
        in visible(message.text)
    )
    assert f'href="{recording}"' in message.text
    # The call's page: its message with the same note beside Twilio's words and the recording.
    call = console.get(f"/element/phone/{tw.call_sid}")
    assert call.status_code == 200
    assert (
        f"Message vocal pour bureau des polices administratives (armes) : Transcription automatique : {GARBLED} "
        f"— écouter l'enregistrement (nouvelle fenêtre) {note}"
    ) in visible(call.text)
    assert f'href="{recording}"' in call.text


# ---- status callbacks: in order, duplicated, out of order ----------------------------------------


def test_status_callbacks_in_order_then_duplicated(server):
    tw = Twilio(server)
    tw.start()
    for shape in ("status_initiated", "status_ringing", "status_in_progress"):
        assert tw.post("/webhooks/ivr/status", shape)[0] == 200
    assert (call_row(server, tw.call_sid)["call_status"], call_row(server, tw.call_sid)["ended_at"]) == ("in-progress", None)
    assert tw.post("/webhooks/ivr/status", "status_completed")[0] == 200
    first = call_row(server, tw.call_sid)
    assert (first["call_status"], first["duration_s"], first["outcome"], first["unresolved"]) == ("completed", 42, "abandoned", 1)
    assert tw.post("/webhooks/ivr/status", "status_completed", CallDuration="99")[0] == 200  # Twilio retries
    again = call_row(server, tw.call_sid)
    assert (again["ended_at"], again["duration_s"]) == (first["ended_at"], 42)


def test_status_callbacks_out_of_order_never_move_a_call_back(server):
    tw = Twilio(server)
    tw.start()
    assert tw.post("/webhooks/ivr/status", "status_ringing")[0] == 200
    assert tw.post("/webhooks/ivr/status", "status_initiated")[0] == 200  # late
    assert call_row(server, tw.call_sid)["call_status"] == "ringing"
    assert tw.post("/webhooks/ivr/status", "status_completed")[0] == 200
    for late in ("status_in_progress", "status_ringing"):
        assert tw.post("/webhooks/ivr/status", late)[0] == 200
    row = call_row(server, tw.call_sid)
    assert (row["call_status"], row["duration_s"]) == ("completed", 42)


def test_a_status_callback_for_a_call_never_seen_records_it(server):
    tw = Twilio(server)
    assert tw.post("/webhooks/ivr/status", "status_completed", CallDuration="3")[0] == 200
    row = call_row(server, tw.call_sid)
    assert (row["outcome"], row["duration_s"], row["unresolved"]) == ("abandoned", 3, 1)


@pytest.mark.parametrize("duration", ["inf", "1e309", "nan", "12345678901234567890", "-5"])
def test_a_status_callback_with_a_duration_that_is_no_duration_still_ends_the_call(server, duration):
    """Twilio sends whole seconds; a body mangled on the way (a proxy, a replayed test) may not. The end
    of the call is still recorded, its duration unknown, without an error in the log (an infinite
    float stopped the write with OverflowError; a 20-digit number is too large for the store)."""
    tw = Twilio(server)
    tw.start()
    before = len(server.log.read_bytes())
    assert tw.post("/webhooks/ivr/status", "status_completed", CallDuration=duration)[0] == 200
    row = call_row(server, tw.call_sid)
    assert (row["call_status"], row["duration_s"], row["outcome"]) == ("completed", None, "abandoned")
    assert row["ended_at"] is not None
    assert "ERROR" not in server.log.read_bytes()[before:].decode(errors="replace")


@pytest.mark.parametrize("confidence", ["NaN", "inf", "-Infinity"])
def test_speech_with_a_confidence_that_is_no_number_is_heard_and_stored_as_json(server, confidence):
    """A speech Confidence that is no number is kept as none: json.dumps wrote NaN and Infinity into the
    call's row, which is not JSON (PostgreSQL's json type and every JSON reader refuse it)."""
    tw = Twilio(server)
    leaf = tw.twiml(action(tw.start()), "gather_speech", Confidence=confidence)  # "Mon titre de séjour expire."
    assert "/webhooks/ivr/leaf?node=titre_sejour&step=1" in action(leaf)
    inputs = json.loads(call_row(server, tw.call_sid)["inputs"], parse_constant=lambda name: pytest.fail(f"{name} stored"))
    assert [i.get("asr", "absent") for i in inputs] == [None]


# ---- a call the store does not know, and webhooks after the end of a call -------------------------


@pytest.mark.parametrize(
    "route",
    [
        "menu?node=root&step=3",
        "leaf?node=armes&step=5",
        "choices?node=root&step=2",
        "offer?node=root&step=4",
        "pan?node=rdv_pan&step=4",
    ],
)
def test_an_unknown_call_in_mid_call_is_welcomed_with_the_notice(server, route):
    tw = Twilio(server)
    root = tw.twiml(f"/webhooks/ivr/{route}", "gather_digits", Digits="1")
    assert says(root)[0] == WELCOME
    assert action(root) == f"{server.url}/webhooks/ivr/menu?node=root&step=0"
    row = call_row(server, tw.call_sid)
    assert (row["step"], row["state"], row["caller"]) == (0, "menu", "[téléphone]")
    # the caller goes on from there as in any call
    assert "node=titre_sejour" in action(tw.twiml(action(root), "gather_digits", Digits="3"))


def test_the_end_of_a_record_for_an_unknown_call_with_nothing_recorded_thanks_nobody(server):
    """The Record's fallback Redirect (no RecordingSid) for a call the store does not know: the caller
    is told no message was kept, then welcomed with the notice; never "votre message a été transmis"."""
    tw = Twilio(server)
    root = tw.twiml("/webhooks/ivr/voicemail?node=armes&mailbox=armes&step=3", "redirect")
    assert says(root) == ["Aucun message n'a été enregistré."]
    assert [e.tag for e in root] == ["Say", "Pause", "Redirect"]
    welcome = tw.twiml(root.find("Redirect").text, "redirect")
    assert says(welcome)[0] == WELCOME
    assert action(welcome) == f"{server.url}/webhooks/ivr/menu?node=root&step=0"
    assert db_rows(server.db, "select count(*) as n from voicemails where call_sid = ?", [tw.call_sid]) == [{"n": 0}]


def test_a_transfer_not_answered_for_an_unknown_call_is_welcomed_with_the_notice(server):
    tw = Twilio(server, now="2026-03-10T10:00")
    root = tw.twiml("/webhooks/ivr/dialed?node=human&step=1", "dial_no_answer")
    assert says(root)[0] == WELCOME
    assert action(root) == f"{server.url}/webhooks/ivr/menu?node=root&step=0"
    assert (call_row(server, tw.call_sid)["step"], call_row(server, tw.call_sid)["state"]) == (0, "menu")
    # an answered transfer of an unknown call: the conversation took place, the call ends
    ended = Twilio(server, now="2026-03-10T10:00").twiml("/webhooks/ivr/dialed?node=human&step=1", "dial_completed")
    assert ([e.tag for e in ended], says(ended)) == (["Say", "Hangup"], ["Merci de votre appel. Au revoir."])


def test_a_key_pressed_after_the_hang_up_books_nothing(server):
    # A number of its own: the session's other tests book from the fixture's number, and a number that
    # holds the most appointments to come is refused at key 4, before any slot.
    tw = Twilio(server, now="2026-05-18T10:00", caller="+33611220055")
    other = tw.twiml(action(tw.start()), "gather_digits", Digits="5")
    leaf = tw.twiml(action(other), "gather_digits", Digits="2")
    slots = tw.twiml(action(leaf), "gather_digits", Digits="4")
    confirm = tw.twiml(action(slots), "gather_digits", Digits="1")
    assert any("tapez 1" in s for s in says(confirm))
    before = call_row(server, tw.call_sid)
    assert tw.post("/webhooks/ivr/status", "status_completed")[0] == 200
    late = tw.twiml(action(confirm), "gather_digits", Digits="1")  # a key press that arrives after the hang-up
    assert [e.tag for e in late] == ["Hangup"]
    assert db_rows(server.db, "select * from pan_bookings where idempotency_key like ?", [f"call:{tw.call_sid}:%"]) == []
    after = call_row(server, tw.call_sid)
    assert (after["step"], after["state"], after["flow"]) == (before["step"], before["state"], before["flow"])


def test_a_rating_after_the_hang_up_is_not_recorded(server):
    tw = Twilio(server)
    menu = tw.twiml(action(tw.start()), "gather_digits", Digits="1")
    leaf = tw.twiml(action(menu), "gather_digits", Digits="1")
    assert "Si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8." in says(leaf)
    assert tw.post("/webhooks/ivr/status", "status_completed")[0] == 200
    assert [e.tag for e in tw.twiml(action(leaf), "gather_digits", Digits="9")] == ["Hangup"]
    assert db_rows(server.db, "select * from feedback where kind = 'phone' and item_id = ?", [tw.call_sid]) == []
    assert call_row(server, tw.call_sid)["outcome"] == "answered"


def test_a_gather_action_that_itself_says_completed_changes_nothing(server):
    tw = Twilio(server)
    welcome = tw.start()
    root = tw.twiml(action(welcome), "gather_digits", Digits="3", CallStatus="completed")
    assert [e.tag for e in root] == ["Hangup"]
    assert call_row(server, tw.call_sid)["step"] == 0


def test_python_m_ivr_simulate_walks_the_menu_with_twilio_bodies(server, python):
    import subprocess

    from conftest import ROOT

    result = subprocess.run(
        [python, "-m", "tools.ivr", "simulate", "--url", server.url, "--token", TWILIO_TEST_TOKEN],
        cwd=ROOT,
        input="5\n1\n\n/quit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"🔊 {WELCOME}" in out
    assert "🔊 Les démarches d'armes se font en ligne" in out
    assert "🔊 Je n'ai rien entendu." in out  # the empty line: an empty Gather (actionOnEmptyResult)
    assert out.rstrip().endswith("Call ended.")
