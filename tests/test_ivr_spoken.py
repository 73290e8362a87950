"""What a caller says instead of pressing: keys and yes/no said aloud, unsure speech confirmed,
hints of each prompt from its own vocabulary. Whole calls through the real server, each speech
input sent as Twilio's Gather body (tests/fixtures/twilio/gather_speech.json: SpeechResult +
Confidence, the French caller's blank fields)."""

import json
import re

import pytest
from conftest import db_rows

from bot.core.config import load_prefecture
from bot.core.tree import load_tree
from ivr.twiml import ROOT, Speaker
from tools.ivr import twilio_bodies

OPEN = "2026-03-10T10:00"  # a Tuesday morning: the Cantal standard answers
CLOSED = "2026-03-10T18:00"
REPHRASE = "Je ne suis pas sûr d'avoir compris. Pouvez-vous reformuler en quelques mots ?"
CONFIRM_TITRE = "Vous avez dit : titre de séjour ou naturalisation. C'est bien cela ? Dites oui ou tapez 1."


def inputs(server, call) -> list[dict]:
    return json.loads(db_rows(server.db, "select inputs from calls where call_sid = ?", [call.call_sid])[0]["inputs"])


def test_the_speech_body_is_twilios():
    body = twilio_bodies.load("gather_speech")["params"]
    assert {"SpeechResult", "Confidence", "CallSid", "CallStatus", "From", "To"} <= set(body)


def test_keys_said_aloud_are_keys_at_every_prompt(server, phone):
    call = phone(now=CLOSED)
    call.start()
    turn = call.say("Un.")  # Twilio writes what it hears, capitalised and punctuated
    assert (turn.route, turn.node) == ("menu", "vehicule")
    assert turn.says[0] == "Carte grise ou permis de conduire."
    turn = call.say("deux")
    assert (turn.route, turn.node) == ("leaf", "permis_conduire")
    assert call.say("Étoile.").says == turn.says  # said again
    assert call.say("dièse").node == "vehicule"
    assert call.say("un").node == "carte_grise"
    assert call.say("retour").node == "vehicule"  # '#' again
    assert call.say("zéro").node == ROOT
    assert [i.get("digits") for i in inputs(server, call)] == ["1", "2", "*", "#", "1", "#", "0"]
    assert all("topic" not in i for i in inputs(server, call))  # never sent to the NLU


def test_un_agent_reaches_a_person_from_anywhere(phone):
    call = phone(now=OPEN)
    call.start()
    call.press("1")
    call.press("1")
    turn = call.say("Un agent.")
    assert turn.dial == "+33471462300"
    closed = phone(now=CLOSED)
    closed.start()
    closed.press("5")
    turn = closed.say("un agent")
    assert turn.node == "human" and turn.dial is None
    assert "Pour laisser un message au service concerné, courrier de la préfecture, tapez 2." in turn.says


def test_yes_and_no_are_understood_where_nothing_is_asked(server, phone):
    call = phone()
    menu = call.start()
    turn = call.say("Oui.")
    assert turn.says[0] == "Très bien. Quelle est votre question ?" and REPHRASE not in turn.says
    assert turn.says[1:] == menu.says[1:]  # the main menu again, without the notice
    turn = call.say("non")
    assert turn.says[0] == "D'accord. Dites en quelques mots ce que vous cherchez."
    assert call.say("un").node == "vehicule"  # "un" is the key, not "are you a robot?"
    assert [i.get("spoken") for i in inputs(server, call)][:2] == ["yes", "no"]


def test_speech_heard_with_a_low_confidence_is_confirmed_first(server, phone):
    call = phone()
    call.start()
    turn = call.say("carte de grâce", confidence=0.12)
    assert turn.says == [CONFIRM_TITRE, "Pour revenir au menu principal, tapez 0."]
    assert turn.route == "choices"
    # "non": asked again, where the caller was
    turn = call.say("Non.")
    assert turn.says[0] == "D'accord. Dites en quelques mots l'objet de votre appel, ou utilisez les touches."
    assert (turn.route, turn.node) == ("menu", ROOT)
    # "oui" (or key 1): the answer
    call.say("carte de grâce", confidence=0.12)
    turn = call.say("oui")
    assert (turn.route, turn.node) == ("leaf", "titre_sejour")
    call.press("0")
    call.say("mon titre de séjour expire", confidence=0.3)
    assert call.press("1").node == "titre_sejour"
    # Twilio sure of the words: no question
    assert call.say("mon titre de séjour expire", confidence=0.89).node == "titre_sejour"
    asr = [i.get("asr") for i in inputs(server, call) if "asr" in i]
    assert asr[0] == 0.12 and asr[-1] == 0.89


def test_the_confirmation_threshold_is_in_the_tree():
    assert load_tree().phone["settings"]["confirm_below"] == 0.5


# ---- hints: each prompt's own words ---------------------------------------------------------------


def hints_of(resp) -> list[str]:
    return re.search(r'hints="([^"]*)"', resp.to_xml()).group(1).replace("&apos;", "'").split(", ")


@pytest.fixture(scope="module")
def sp():
    return Speaker(load_tree(), load_prefecture("cantal"), "https://svi.prefecture.example")


def test_a_leaf_listens_for_its_own_words_and_the_spoken_keys(sp):
    hints = hints_of(sp.leaf("carte_grise", 1, True))
    assert hints[:3] == ["carte grise", "certificat d'immatriculation", "changement de titulaire"]
    assert "titre de séjour" not in hints and "armes" not in hints
    assert hints[-12:] == ["un", "deux", "trois", "quatre", "cinq", "zéro", "étoile", "dièse", "oui", "non", "retour", "un agent"]
    assert hints_of(sp.menu("vehicule", 1))[:3] == ["carte grise", "permis de conduire", "certificat d'immatriculation"]


def test_hints_differ_by_prompt_are_accented_and_spell_no_acronym(sp):
    prompts = [sp.welcome(0)] + [
        sp.menu(n.id, 1)
        for n in sp.tree.nodes.values()
        if n.destination is None and n.parent is not None or n.id in ("vehicule", "autre")
    ]
    prompts += [sp.leaf(n.id, 1, True) for n in sp.tree.leaves() if n.id in sp.tree.nodes]
    seen = set()
    for resp in prompts:
        hints = hints_of(resp)
        assert len(hints) <= 100 and all(len(h) <= 100 for h in hints)
        assert not [h for h in hints if re.search(r"\b[A-Z]{2,}\b", h)], hints  # no ANTS, SIA, CNI...
        assert "titre de sejour" not in hints and "carte d'identite" not in hints
        seen.add(tuple(hints))
    assert len(seen) > 10  # not the same list everywhere


def test_oui_confirms_a_pan_slot_and_non_goes_back_to_the_slots(server, phone):
    call = phone(now="2026-05-25T10:00", caller="+33612345670")
    call.start()
    call.press("5")
    call.press("2")
    slots = call.press("4")
    confirm = call.press("1")
    assert confirm.says[0].startswith("Vous avez choisi le ")
    assert call.say("Non.").says == slots.says  # back to the slots, nothing booked
    assert db_rows(server.db, "select * from pan_bookings where idempotency_key like ?", [f"call:{call.call_sid}:%"]) == []
    call.press("1")
    done = call.say("Oui.")
    assert (
        done.says[0].startswith("Votre rendez-vous est confirmé le ")
        and done.says[-1] == "Pour revenir au menu principal, tapez 0."
    )
    rows = db_rows(server.db, "select status from pan_bookings where idempotency_key like ?", [f"call:{call.call_sid}:%"])
    assert rows == [{"status": "booked"}]


def test_keys_said_as_twilio_writes_them_are_keys(server, phone):
    # Twilio writes digits as digits and keeps the word before them: "Touche 1.", "Le deux.", "Numéro 3."
    call = phone(now=OPEN)
    call.start()
    assert call.say("Touche 1.").node == "vehicule"
    turn = call.say("Le deux.")
    assert (turn.route, turn.node) == ("leaf", "permis_conduire")
    number = call.say("Numéro 3.")
    assert number.says[:2] == ["Voici le numéro :", "trente-quatre"]
    assert call.say("La touche étoile.").node == "permis_conduire"
    assert call.say("Le zéro.").node == ROOT
    assert call.say("Le un.").node == "vehicule"
    assert [i.get("digits") for i in inputs(server, call)] == ["1", "2", "3", "*", "0", "1"]
    assert REPHRASE not in [s for t in call.turns for s in t.says]


def test_un_agent_after_a_pan_booking_reaches_a_person(server, phone):
    call = phone(now=OPEN, caller="+33612345669")
    call.start()
    call.press("5")
    call.press("2")
    call.press("4")
    call.press("1")
    done = call.press("1")
    assert done.says[0].startswith("Votre rendez-vous est confirmé le ")
    turn = call.say("Un agent.")
    assert not turn.hangup and turn.node == "human"
    assert turn.dial == "+33471462300"  # the standard is open: the person, not goodbye


# ---- yes, no and keys said as callers say them: hesitations and politeness around them ----------

NATURAL_YES = ["euh oui", "Oui oui.", "Ben oui.", "Oui, s'il vous plaît.", "Oui madame.", "Euh, oui, merci."]
NATURAL_NO = ["euh non", "Non non.", "Ben non, merci."]


@pytest.mark.parametrize("said", NATURAL_YES)
def test_a_natural_yes_confirms_what_twilio_was_unsure_of(server, phone, said):
    call = phone()
    call.start()
    assert call.say("carte de grâce", confidence=0.12).says[0] == CONFIRM_TITRE
    turn = call.say(said)
    assert (turn.route, turn.node) == ("leaf", "titre_sejour")
    assert REPHRASE not in turn.says
    assert [i.get("spoken") for i in inputs(server, call) if "spoken" in i] == ["yes"]
    assert all("topic" not in i for i in inputs(server, call)[1:])  # never sent to the NLU


@pytest.mark.parametrize("said", NATURAL_NO)
def test_a_natural_no_asks_again(server, phone, said):
    call = phone()
    call.start()
    call.say("carte de grâce", confidence=0.12)
    turn = call.say(said)
    assert turn.says[0] == "D'accord. Dites en quelques mots l'objet de votre appel, ou utilisez les touches."
    assert (turn.route, turn.node) == ("menu", ROOT)


def test_a_question_that_starts_with_oui_at_the_confirmation_is_answered_as_a_question(server, phone):
    # "Vous avez dit : carte grise ?" - "oui je voudrais renouveler mon titre de séjour": the caller
    # asks about the titre de séjour, not for the carte grise.
    call = phone()
    call.start()
    confirm = call.say("ma carte grise", confidence=0.2)
    assert confirm.says[0] == "Vous avez dit : carte grise. C'est bien cela ? Dites oui ou tapez 1."
    turn = call.say("oui je voudrais renouveler mon titre de séjour", confidence=0.9)
    assert (turn.route, turn.node) == ("leaf", "titre_sejour")
    assert inputs(server, call)[-1]["topic"] is not None  # went through the NLU


def test_a_natural_yes_books_a_pan_slot_and_a_natural_no_goes_back_to_the_slots(server, phone):
    call = phone(now="2026-05-25T10:00", caller="+33612345571")
    call.start()
    call.press("5")
    call.press("2")
    slots = call.press("4")
    call.press("1")
    assert call.say("Euh non.").says == slots.says  # back to the slots, nothing booked
    assert db_rows(server.db, "select * from pan_bookings where idempotency_key like ?", [f"call:{call.call_sid}:%"]) == []
    call.press("1")
    done = call.say("Euh oui, s'il vous plaît.")
    assert done.says[0].startswith("Votre rendez-vous est confirmé le ")
    rows = db_rows(server.db, "select status from pan_bookings where idempotency_key like ?", [f"call:{call.call_sid}:%"])
    assert rows == [{"status": "booked"}]


def test_the_words_said_around_yes_no_and_keys_are_in_the_tree():
    fillers = load_tree().phone["spoken_fillers"]
    assert {"euh", "ben", "s'il vous plait", "madame", "merci"} <= set(fillers)
    assert not {"oui", "non", "un", "de", "le", "la"} & set(fillers)  # never a word that means something here


@pytest.mark.parametrize(
    "said, key, route, node",
    [
        ("euh deux", "2", "leaf", "cni_passeport"),  # was the NLU's "réclamation"
        ("Euh, trois.", "3", "leaf", "titre_sejour"),
        ("euh 3", "3", "leaf", "titre_sejour"),
        ("euh le trois", "3", "leaf", "titre_sejour"),
        ("Trois, s'il vous plaît.", "3", "leaf", "titre_sejour"),
        ("euh cinq", "5", "menu", "autre"),
        ("Ben, le un.", "1", "menu", "vehicule"),
    ],
)
def test_a_key_said_with_hesitations_or_politeness_is_that_key(server, phone, said, key, route, node):
    call = phone(now=CLOSED)
    call.start()
    turn = call.say(said)
    assert (turn.route, turn.node) == (route, node)
    assert REPHRASE not in turn.says
    assert inputs(server, call) == [{"step": 1, "digits": key}]  # a key, never sent to the NLU


def test_zero_said_with_a_hesitation_at_the_main_menu_is_the_person(server, phone):
    call = phone(now=CLOSED)
    call.start()
    turn = call.say("euh zéro")
    assert turn.node == "human" and turn.dial is None
    assert "Pour laisser un message au service concerné, courrier de la préfecture, tapez 2." in turn.says
    assert inputs(server, call)[-1] == {"step": 1, "digits": "0"}


def test_i_only_understand_french_is_said_in_english_by_an_english_voice(server, phone):
    """A caller speaking English hears the French sentence in the French voice, then the English one
    in an English voice (`<Say language="en-GB">`), never English read by the French voice."""
    import xml.etree.ElementTree as ET

    call = phone()
    call.start()
    turn = call.say("Hello, how do I renew my residence permit?")
    says = [(s.text, s.attrib) for s in ET.fromstring(turn.xml).iter("Say")]
    assert says[:2] == [
        ("Je comprends uniquement le français.", {"voice": "Polly.Lea", "language": "fr-FR"}),
        ("I only understand French.", {"voice": "Polly.Amy", "language": "en-GB"}),
    ]
    assert all(a == {"voice": "Polly.Lea", "language": "fr-FR"} for _, a in says[2:])
    assert (turn.route, turn.node) == ("menu", ROOT)  # the main menu again
    assert inputs(server, call)[-1]["topic"] == "other_language"
