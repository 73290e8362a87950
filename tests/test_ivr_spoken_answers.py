"""What callers say after an answer, at the PAN slots and at the reference prompt, through the real
server with complete signed Twilio bodies (tools.ivr.simulate.Call). Found by an outside-in audit of
the phone (2026-12-04): the answer's own options asked for aloud, polite closings, a reference said
with dashes, words that are no reference, speech at the slot list."""

from __future__ import annotations

from conftest import db_rows
from test_ivr_bookings import CALLER, book_by_phone, monday_ahead
from test_ivr_calls import CARTE_GRISE, OPEN

NUMBER = ["Voici le numéro :", "trente-quatre", "zéro zéro"]
ASK_REFERENCE = (
    "Pour annuler un rendez-vous pris depuis ce numéro de téléphone, tapez ou dites les huit chiffres de sa référence."
)


def at_carte_grise(phone):
    call = phone(now=OPEN)
    call.start()
    call.press("1")
    assert call.press("1").says == CARTE_GRISE
    return call


def test_the_number_asked_for_aloud_after_an_answer_is_said_as_key_3_says_it(phone):
    by_key = at_carte_grise(phone).press("3")
    assert by_key.says[:3] == NUMBER
    for said in ("Le numéro de téléphone, s'il vous plaît.", "Pouvez-vous répéter le numéro ?", "Euh, c'est quoi le numéro ?"):
        turn = at_carte_grise(phone).say(said)
        assert turn.says == by_key.says, said
        assert turn.node == "carte_grise"


def test_the_prefectures_number_asked_for_at_another_answer_is_not_that_answers_number(phone):
    turn = at_carte_grise(phone).say("Le numéro de la préfecture, s'il vous plaît.")
    assert turn.node == "horaires_contact"
    assert turn.says[:3] != NUMBER


def test_non_merci_after_an_answer_says_goodbye(server, phone):
    call = at_carte_grise(phone)
    bye = call.say("Non merci.")
    assert bye.says == ["Merci de votre appel. Au revoir."] and bye.hangup
    assert call.hangup(duration=30) == 200
    row = db_rows(server.db, "select outcome, unresolved from calls where call_sid = ?", [call.call_sid])[0]
    assert (row["outcome"], row["unresolved"]) == ("answered", 0)


def test_thanks_or_a_bare_no_after_an_answer_do_not_say_the_whole_answer_again(phone):
    thanks = at_carte_grise(phone).say("Merci beaucoup.")
    assert thanks.says == ["Avec plaisir. Avez-vous une autre question ?"] + CARTE_GRISE[1:]
    no = at_carte_grise(phone).say("Non.")
    assert no.says == ["D'accord. Dites en quelques mots ce que vous cherchez."] + CARTE_GRISE[1:]
    assert no.gather is not None and not no.hangup


def test_a_reference_said_with_dashes_is_read(server, phone):
    caller = "+33611220044"  # a number of its own: the session's other tests count CALLER's bookings
    _, _, booking = book_by_phone(server, phone, caller, monday_ahead(6))
    ref = booking["reference"]  # PAN-1234-5678
    call = phone(now=monday_ahead(6), caller=caller)
    call.start()
    assert call.say("annuler un rendez-vous").says == [ASK_REFERENCE]
    confirm = call.say(f"{ref[4:6]}-{ref[6:8]}-{ref[9:11]}-{ref[11:13]}")
    assert confirm.says[0].startswith("Vous allez annuler le rendez-vous du")
    assert call.say("oui").says[0].endswith("est annulé. Le créneau est libéré pour une autre personne.")
    assert db_rows(server.db, "select status from pan_bookings where reference = ?", [ref])[0]["status"] == "cancelled"


def test_words_without_a_reference_are_not_called_silence(phone):
    call = phone(now=monday_ahead(6), caller=CALLER)
    call.start()
    call.say("annuler un rendez-vous")
    turn = call.say("Attendez, je cherche.")
    assert turn.says == ["Je n'ai pas entendu de référence.", ASK_REFERENCE]
    assert call.silence().says == ["Je n'ai rien entendu.", ASK_REFERENCE]


def test_speech_at_the_slot_list_says_the_slots_again(phone):
    call = phone(now=monday_ahead(6), caller="+33611220033")
    call.start()
    call.press("5")
    call.press("2")
    slots = call.press("4")
    assert slots.route == "pan" and len(slots.says) >= 2
    again = call.say("Celui de 9 heures 30.")
    assert again.says == ["Je n'ai pas compris votre choix."] + slots.says
    assert again.route == "pan"
