"""Issue 13 §6: the phone's speech goes through the same masking as the chat.

A real server, Twilio's Gather and Record bodies (tests/fixtures/twilio/, tools/ivr/twilio_bodies.py) signed
as Twilio signs them (tools.ivr.simulate.Call); then every column of the call's rows is read from the SQLite
file: no name, address or number said by the caller is kept in clear (`calls.inputs`, `calls.flow`,
`calls.last_twiml`, voicemails, tickets).
"""

import json

from conftest import db_rows

OPEN = "2026-03-10T10:00"  # a Tuesday morning: the Cantal standard answers

SAID = [
    # (what Twilio's speech recognition returns, what is stored)
    (
        "Bonjour, je m'appelle Jean Dupont, j'habite 12 rue des Lilas 15000 Aurillac, mon titre de séjour expire",
        "Bonjour, je m'appelle [nom], j'habite [adresse], mon titre de séjour expire",
    ),
    (
        "oui bonjour yann le gall à l'appareil c'est pour ma carte grise",
        "oui bonjour [nom] à l'appareil c'est pour ma carte grise",
    ),
]
# The number said, in the forms a transcription writes it. Not a bare "0612": the rows hold Twilio's
# identifiers (CallSid, RecordingSid: 32 random hex digits), where four digits turn up by chance.
CLEAR = ["Dupont", "Lilas", "Aurillac", "gall", "yann", "Marie", "Durand", "06 12", "0612345678", "34 56 78"]


def everything(server, call_sid: str) -> str:
    rows = db_rows(server.db, "select * from calls where call_sid = ?", [call_sid])
    rows += db_rows(server.db, "select * from voicemails where call_sid = ?", [call_sid])
    return json.dumps(rows, ensure_ascii=False)


def test_names_and_addresses_said_on_the_phone_are_stored_masked(server, phone):
    for said, stored in SAID:
        call = phone(now=OPEN)
        call.start()
        turn = call.say(said)
        assert turn.says  # the menu answered
        row = db_rows(server.db, "select * from calls where call_sid = ?", [call.call_sid])[0]
        assert json.loads(row["inputs"])[0]["speech"] == stored
        assert json.loads(row["flow"])["inputs"][0]["speech"] == stored
        dump = everything(server, call.call_sid)
        assert not [w for w in CLEAR if w in dump], dump


def test_a_voicemail_transcription_keeps_no_name(server, phone):
    call = phone(now=OPEN)
    call.start()
    call.press("5")  # autre demande
    call.press("1")  # armes
    assert call.press("2").record is not None  # leave a message to the service
    said = "Bonjour, ici Marie Durand, rappelez-moi au 06 12 34 56 78 pour mon permis de chasser."
    call.record(said, recording_sid="RE" + call.call_sid[2:])
    vm = db_rows(server.db, "select * from voicemails where call_sid = ?", [call.call_sid])[0]
    assert vm["transcription"] == "Bonjour, ici [nom], rappelez-moi au [téléphone] pour mon permis de chasser."
    dump = everything(server, call.call_sid)
    tickets = db_rows(server.db, "select * from tickets")
    # A voicemail's call-back number (Twilio's From, not what was said) has its own column, shown only
    # in the console and purged with the ticket (tests/test_ivr_bookings.py): nowhere else.
    dump += json.dumps([{k: v for k, v in t.items() if k != "callback"} for t in tickets], ensure_ascii=False)
    assert not [w for w in CLEAR if w in dump]


def test_every_step_of_a_long_call_stays_masked_in_the_store(tmp_path):
    """Each save masks the inputs of its own step (the earlier ones were masked when their step was
    saved, and the state is read back from the row): after three steps, all three are masked, in
    `inputs` and in the `flow` copy alike."""
    from bot.store.database import Store
    from ivr.calls import Calls
    from ivr.state import CallState

    calls = Calls(Store(tmp_path / "s.db"))
    assert calls.create(CallState("CAlong", path=["root"]), "cantal", "+33612345678", "<Response/>")
    said = [SAID[0][0], "1", SAID[1][0]]
    for step, words in enumerate(said, start=1):
        st, _ = calls.load("CAlong")
        st.step = step
        st.inputs.append({"step": step, "speech": words})
        assert calls.save(st, step - 1, "<Response/>")
    row = calls.row("CAlong")
    expected = [{"step": 1, "speech": SAID[0][1]}, {"step": 2, "speech": "1"}, {"step": 3, "speech": SAID[1][1]}]
    assert json.loads(row["inputs"]) == expected
    assert json.loads(row["flow"])["inputs"] == expected


def test_a_single_character_is_left_as_it_is_by_the_masking():
    """ivr/calls.py does not run a one-character input (a key) through the masking: every character
    a keypad or a speech recognizer can give masks to itself, so skipping it stores the same text."""
    import string

    from bot.core.masking import mask
    from bot.core.tree import KEY_CHARS

    characters = set(KEY_CHARS) | set(string.printable) | set("àâäçéèêëîïôöùûüÿœæÀÂÇÉÈÊËÎÏÔÙÛÜŸŒÆ€°§")
    assert [c for c in sorted(characters) if mask(c) != c] == []
