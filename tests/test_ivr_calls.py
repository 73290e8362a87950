"""Whole calls replayed through the real server with signed requests (tools.ivr.simulate.Call),
the TwiML parsed with ElementTree, the call records read from the server's SQLite file."""

import json
import xml.etree.ElementTree as ET

import pytest
from conftest import TWILIO_TEST_TOKEN, db_rows, launch, stop

from ivr.twiml import ROOT
from tools.ivr.simulate import Call

OPEN = "2026-03-10T10:00"  # a Tuesday morning: the Cantal standard answers
CLOSED = "2026-03-10T18:00"  # the same evening: closed

WELCOME = "Bonjour, ici le service automatisé de la préfecture du Cantal."
MAIN_MENU = [
    "Dites en quelques mots l'objet de votre appel, ou choisissez :",
    "Carte grise ou permis, tapez 1.",
    "Carte d'identité ou passeport, tapez 2.",
    "Titre de séjour ou naturalisation, tapez 3.",
    "Suivi d'un dossier, tapez 4.",
    "Autre demande, tapez 5.",
    "Parler à un agent, tapez 0.",
    "Pour réécouter, tapez étoile.",
]
CARTE_GRISE = [
    "La carte grise se fait uniquement en ligne, sur le site officiel ants point gouv point fr. Renseignements "
    "au trente-quatre, zéro zéro. Méfiez-vous des sites payants. Besoin d'aide ? Un point d'accueil numérique vous "
    "reçoit sur rendez-vous.",
    "Pour entendre le numéro, tapez 3.",
    "Pour revenir au menu principal, tapez 0.",
    "Si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8.",
]
TITRES_MENU = [
    "Carte grise ou permis de conduire.",
    "Carte grise, tapez 1.",
    "Permis de conduire, tapez 2.",
    "Pour revenir au menu principal, tapez 0.",
]


def call_row(server, call: Call) -> dict:
    rows = db_rows(server.db, "select * from calls where call_sid = ?", [call.call_sid])
    assert len(rows) == 1
    return rows[0]


def test_welcome_says_it_is_automated_then_the_menu_from_the_tree(server, phone):
    call = phone()
    turn = call.start()
    assert turn.says == [WELCOME] + MAIN_MENU
    g = turn.gather
    assert (g["input"], g["language"], g["actionOnEmptyResult"], g["timeout"]) == ("dtmf speech", "fr-FR", "true", "6")
    assert g["action"] == f"{server.url}/webhooks/ivr/menu?node=root&step=0"
    root = ET.fromstring(turn.xml)
    assert all(s.attrib == {"voice": "Polly.Lea", "language": "fr-FR"} for s in root.iter("Say"))
    row = call_row(server, call)
    assert (row["state"], row["node"], row["step"], json.loads(row["path"])) == ("menu", "root", 0, ["root"])
    assert row["caller"] == "[téléphone]"  # masked before it is written


def test_keypad_to_carte_grise_hears_34_00_by_groups(phone):
    call = phone()
    call.start()
    assert call.press("1").says == TITRES_MENU
    turn = call.press("1")
    assert turn.says == CARTE_GRISE
    assert turn.gather["action"].endswith("/webhooks/ivr/leaf?node=carte_grise&step=2")
    assert turn.dial is None
    turn = call.press("3")
    assert turn.says[:3] == ["Voici le numéro :", "trente-quatre", "zéro zéro"]


def test_star_repeats_hash_goes_back_zero_to_the_main_menu(phone):
    call = phone()
    call.start()
    call.press("1")
    call.press("1")
    assert call.press("*").says == CARTE_GRISE
    assert call.press("#").says == TITRES_MENU
    assert call.press("*").says == TITRES_MENU
    assert call.press("0").says == MAIN_MENU
    assert call.press("4").says[0] == "Pour quel document voulez-vous suivre votre demande ?"
    assert call.press("2").says[0].startswith("Suivez votre dossier dans votre compte sur administration tiret")
    assert call.press("#").says[0] == "Pour quel document voulez-vous suivre votre demande ?"


def test_silence_gets_a_reprompt_and_three_misses_offer_a_person_or_the_voicemail(server, phone):
    call = phone(now=OPEN)
    call.start()
    assert call.silence().says == ["Je n'ai rien entendu."] + MAIN_MENU
    assert call.press("9").says == ["Touche non valide."] + MAIN_MENU
    turn = call.silence()
    assert turn.says == [
        "Je n'ai rien entendu.",  # the miss says why; never "je n'ai pas compris" after it
        "Pour être mis en relation avec un agent de la préfecture du Cantal, tapez 1.",
        "Pour laisser un message au service concerné, courrier de la préfecture, tapez 2.",
        "Pour revenir au menu principal, tapez 0.",
    ]
    assert turn.route == "offer"
    assert call.press("1").dial == "+33471462300"


def test_silence_after_an_answer_repeats_the_number_once_then_says_goodbye(server, phone):
    """The caller heard the answer (carte grise, 34 00) and says nothing more: the number once more,
    then goodbye. Never "je n'ai pas compris" nor "je n'ai pas pu vous orienter": the call was
    answered, and stays so."""
    call = phone(now=OPEN)
    call.start()
    call.press("1")
    assert call.press("1").says == CARTE_GRISE
    again = call.silence()
    assert again.says == ["Je n'ai rien entendu.", "Voici le numéro :", "trente-quatre", "zéro zéro"] + CARTE_GRISE[1:]
    assert again.gather is not None and again.pauses == 2
    bye = call.silence()
    assert bye.says == ["Je n'ai rien entendu.", "Merci de votre appel. Au revoir."] and bye.hangup
    assert call.hangup(duration=48) == 200
    row = call_row(server, call)
    assert (row["outcome"], row["unresolved"]) == ("answered", 0)


def test_silence_after_an_answer_without_a_number_repeats_it_once_then_says_goodbye(server, phone):
    call = phone(now=OPEN)
    call.start()
    call.press("5")
    answer = call.press("4")  # réclamation: the service's mailbox, no number to repeat
    assert answer.node == "reclamation"
    again = call.silence()
    assert again.says == ["Je n'ai rien entendu."] + answer.says
    bye = call.silence()
    assert bye.says == ["Je n'ai rien entendu.", "Merci de votre appel. Au revoir."] and bye.hangup
    assert call.hangup(duration=40) == 200
    assert (call_row(server, call)["outcome"], call_row(server, call)["unresolved"]) == ("answered", 0)


def test_three_misses_when_closed_offer_the_voicemail_only(phone):
    call = phone(now=CLOSED)
    call.start()
    call.press("1")
    call.silence()
    call.silence()
    turn = call.silence()
    assert turn.says == [
        "Je n'ai rien entendu.",
        "Standard fermé, ouvert du lundi au vendredi de 8 h 30 à 12 h et de 13 h 30 à 16 h 30, sauf jours fériés.",
        "Pour laisser un message au service concerné, courrier de la préfecture, tapez 2.",
        "Pour revenir au menu principal, tapez 0.",
    ]
    assert call.press("1").says[0] == "Touche non valide."


def test_speech_goes_through_the_nlu_and_is_stored_masked(server, phone):
    call = phone(now=OPEN)
    call.start()
    turn = call.say("bonjour je vous appelle du 06 12 34 56 78 parce que mon titre de séjour expire")
    assert turn.node == "titre_sejour" and turn.route == "leaf"
    assert turn.says[:2] == [
        "Les démarches des étrangers se font sur administration tiret etrangers tiret en tiret france point interieur "
        "point gouv point fr. En difficulté : centre de contact citoyen, zéro huit zéro six, zéro zéro un, six deux zéro.",
        "Pour être mis en relation avec le centre de contact citoyen, tapez 1.",
    ]
    assert call.press("1").dial == "+33806001620"
    row = call_row(server, call)
    inputs = json.loads(row["inputs"])
    assert inputs[0]["speech"] == "bonjour je vous appelle du [téléphone] parce que mon titre de séjour expire"
    assert inputs[0]["topic"] == "titre_sejour" and inputs[0]["confidence"] >= 0.45
    assert inputs[1] == {"step": 2, "digits": "1"}
    assert "06 12" not in json.dumps(row)
    assert row["outcome"] == "transferred"


def test_a_spoken_request_hears_first_what_its_words_name_as_the_chat_says_it(server, phone):
    """The chat opens an answer with the referral the message names (another body, an asylum claim); a
    caller who said it hears it too, in that answer (the call's state keeps no words: "*" says the general
    answer again), and one who reached the same answer by keypad hears the general answer."""
    general = "Cette demande ne relève pas de la préfecture."
    antai = "Les amendes relèvent de l'agence nationale de traitement automatisé des infractions."
    call = phone(now=OPEN)
    call.start()
    turn = call.say("j'ai reçu une amende pour excès de vitesse mais ce n'était pas moi qui conduisais")
    assert turn.node == "hors_perimetre" and turn.route == "leaf"
    assert turn.says[0].startswith(f"{general} {antai} Le site ")
    assert call.press("*").says[0].startswith(f"{general} Le site ")
    call = phone(now=OPEN)
    call.start()
    call.press("5")
    turn = call.press("5")
    assert turn.node == "hors_perimetre" and turn.says[0].startswith(f"{general} Le site ")
    call = phone(now=OPEN)
    call.start()
    turn = call.say("bonjour je voudrais faire une demande d'asile")
    assert turn.node == "titre_sejour" and turn.says[0].startswith(
        "La demande d'asile s'enregistre au guichet unique de la préfecture, sur rendez-vous donné par la structure"
        " de premier accueil des demandeurs d'asile (SPADA). Les démarches des étrangers se font sur "
    )


def test_a_spoken_digit_is_a_key_and_never_reaches_the_nlu(server, phone):
    call = phone()
    call.start()
    assert call.say("3").node == "titre_sejour"
    assert json.loads(call_row(server, call)["inputs"]) == [{"step": 1, "digits": "3"}]


def test_speech_not_understood_rephrase_then_likely_topics_then_unresolved(server, phone):
    call = phone()
    call.start()
    turn = call.say("zorglub wintz blurp")
    assert turn.says == ["Je ne suis pas sûr d'avoir compris. Pouvez-vous reformuler en quelques mots ?"]
    assert turn.route == "menu"
    turn = call.say("flim flam gloubiboulga")
    assert turn.route == "choices"
    assert turn.says[0] == "Votre appel concerne peut-être l'un de ces thèmes."
    options = turn.says[1:-1]
    assert 2 <= len(options) <= 4
    assert [o.rsplit("tapez ", 1)[1] for o in options] == [f"{i}." for i in range(1, len(options) + 1)]
    assert options[-1] == f"Parler à un agent, tapez {len(options)}."
    assert turn.says[-2:] == [options[-1], "Pour revenir au menu principal, tapez 0."]
    assert call.hangup() == 200
    row = call_row(server, call)
    assert (row["outcome"], row["unresolved"], row["misses"]) == ("abandoned", 1, 2)
    assert row["confidence"] < 0.45


def test_a_story_the_bot_is_unsure_of_gets_the_likely_topics_at_once_with_the_pan_first(server, phone):
    """Said at the welcome, a story the router is unsure of (the chat answers it with the likely topics as
    buttons) is met the same way by phone: the likely topics as keys, the PAN first, never "reformulez"."""
    call = phone()
    call.start()
    turn = call.say(
        "Alors voilà, j'ai reçu un courrier que je comprends pas du tout, il faut que je fasse quelque chose sur internet."
    )
    assert turn.route == "choices"
    assert turn.says[0] == "Votre appel concerne peut-être l'un de ces thèmes."
    assert turn.says[1].startswith("Aide pour une démarche en ligne") and turn.says[1].endswith("tapez 1.")
    assert turn.says[-2:] == [f"Parler à un agent, tapez {len(turn.says) - 2}.", "Pour revenir au menu principal, tapez 0."]
    turn = call.press("1")
    assert (turn.route, turn.node) == ("leaf", "rdv_pan")
    assert turn.says[0].startswith("Un médiateur numérique vous aide gratuitement")
    row = call_row(server, call)
    assert (row["unresolved"], row["outcome"]) == (0, "answered")  # oriented by the choice
    assert json.loads(row["path"]) == ["root", "rdv_pan"]


def test_a_caller_who_names_no_procedure_is_asked_which_one_then_given_the_main_menu(server, phone):
    call = phone()
    menu = call.start()
    turn = call.say("Oui bonjour, c'est pour un renseignement.")
    assert turn.says == ["De quelle démarche s'agit-il ? Dites-le en quelques mots."]
    turn = call.say("c'est pour ma mère")
    assert (turn.route, turn.node) == ("menu", ROOT)
    assert turn.says == menu.says[-len(turn.says) :]  # the main menu again, without the welcome
    assert turn.says[0] == "Dites en quelques mots l'objet de votre appel, ou choisissez :"
    assert call.press("3").node == "titre_sejour"
    row = call_row(server, call)
    assert row["unresolved"] == 0  # oriented in the end
    assert json.loads(row["path"]) == ["root", "root", "titre_sejour"]  # the main menu said again, then the choice


def test_a_likely_topic_is_chosen_by_key(phone):
    from bot.core.config import load_prefecture
    from bot.core.tree import load_tree, render
    from ivr.twiml import Speaker

    pref = load_prefecture("cantal")
    tree = Speaker(load_tree(), pref, "").tree
    labels = {f"{render(n.label, pref)}, tapez 1.": n.id for n in tree.nodes.values()}
    call = phone()
    call.start()
    call.say("zorglub wintz blurp")
    turn = call.say("flim flam gloubiboulga")
    expected = labels[turn.says[1]]  # the first likely topic, said with its tree label
    assert call.press("1").node == expected


def test_voicemail_is_created_once_even_when_callbacks_are_replayed(server, phone):
    call = phone()
    call.start()
    call.press("5")
    call.press("1")
    record_turn = call.press("2")
    assert record_turn.record is not None
    assert record_turn.says == [
        "Après le bip, dites votre nom, un numéro pour vous rappeler et l'objet de votre "
        "appel. Tapez dièse ou raccrochez quand vous avez terminé."
    ]
    rsid = "RE" + call.call_sid[2:]
    turn = call.record("Bonjour, rappelez-moi au 06 12 34 56 78 pour mon compte SIA.", recording_sid=rsid)
    ref = db_rows(server.db, "select reference from tickets where idempotency_key = ?", [f"voicemail:{rsid}"])[0]["reference"]
    digits = ", ".join(
        ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"][int(d)] for d in ref[4:] if d != "-"
    )
    assert turn.says == [
        "Merci. Votre message a été transmis au service concerné, bureau des polices administratives (armes), qui "
        "vous répondra sous 5 jours ouvrés.",
        f"Notez la référence de votre message : {digits}. Je répète : {digits}.",
        "Merci de votre appel. Au revoir.",
    ]
    assert turn.hangup
    # Twilio retries: the Record action and the transcription callback arrive again.
    params = call._params(
        {"RecordingSid": rsid, "RecordingUrl": call.recording_url(rsid), "RecordingDuration": "12", "Digits": "hangup"}
    )
    for _ in range(2):
        status, body = call.request(record_turn.record["action"], params)
        assert status == 200 and ET.fromstring(body).find("Hangup") is not None
        status, _ = call.request(
            record_turn.record["transcribeCallback"],
            call._params(
                {
                    "RecordingSid": rsid,
                    "TranscriptionStatus": "completed",
                    "TranscriptionText": "Bonjour, rappelez-moi au 06 12 34 56 78 pour mon compte SIA.",
                }
            ),
        )
        assert status == 200
    rows = db_rows(server.db, "select * from voicemails where call_sid = ?", [call.call_sid])
    assert len(rows) == 1
    vm = rows[0]
    assert (vm["recording_sid"], vm["mailbox"], vm["service"]) == (rsid, "armes", "bureau des polices administratives (armes)")
    assert (json.loads(vm["path"]), vm["caller"], vm["status"]) == (["root", "autre", "armes"], "[téléphone]", "transcribed")
    assert vm["transcription"] == "Bonjour, rappelez-moi au [téléphone] pour mon compte SIA."
    assert vm["recording_url"] == call.recording_url(rsid)
    call.hangup()
    row = call_row(server, call)
    assert (row["outcome"], row["unresolved"], json.loads(row["path"])) == ("voicemail", 0, ["root", "autre", "armes"])


def test_a_voicemail_is_also_a_ticket_for_the_service_once_per_recording(server, smtp, phone):
    import time

    call = phone(now="2026-07-10T10:00")  # a Friday before 14 July: 5 working days -> Monday 20 July
    call.start()
    call.press("5")
    call.press("1")
    record_turn = call.press("2")
    rsid = "RE" + call.call_sid[2:]
    call.record("Bonjour, rappelez-moi au 06 12 34 56 78.", recording_sid=rsid)
    params = call._params(
        {"RecordingSid": rsid, "RecordingUrl": call.recording_url(rsid), "RecordingDuration": "12", "Digits": "hangup"}
    )
    for _ in range(2):  # Twilio replays the Record action and the transcription callback
        status, _ = call.request(record_turn.record["action"], params)
        assert status == 200
        status, _ = call.request(
            record_turn.record["transcribeCallback"],
            call._params({"RecordingSid": rsid, "TranscriptionStatus": "completed", "TranscriptionText": "Bonjour."}),
        )
        assert status == 200
    rows = db_rows(
        server.db,
        "select reference, mailbox, service, origin, channel, subject, body, contact_email,"
        " due_date, status from tickets where idempotency_key = ?",
        [f"voicemail:{rsid}"],
    )
    assert len(rows) == 1
    t = rows[0]
    assert t["reference"].startswith("MSG-")
    assert {k: v for k, v in t.items() if k not in ("reference", "body")} == {
        "mailbox": "armes",
        "service": "bureau des polices administratives (armes)",
        "origin": "phone",
        "channel": "phone",
        "subject": "Message vocal laissé par téléphone le 10/07/2026 10:00",
        "contact_email": None,
        "due_date": "2026-07-20",
        "status": "open",
    }
    assert t["body"] == (
        f"Message vocal laissé sur le serveur vocal de la préfecture (appel {call.call_sid}).\n"
        "Parcours dans le menu : Autre demande > Armes (SIA)\n"
        "Numéro de l'appelant (masqué) : [téléphone]\n"
        f"Enregistrement (12 secondes) : {call.recording_url(rsid)}"
    )
    assert "06 12 34 56 78" not in t["body"]
    for _ in range(100):  # delivered to the service's functional mailbox in the background
        delivered = [m for m in smtp.to("pref-armes@cantal.gouv.fr") if t["reference"] in m["Subject"]]
        if delivered:
            break
        time.sleep(0.1)
    assert len(delivered) == 1
    assert delivered[0]["Subject"] == f"[{t['reference']}] Message vocal laissé par téléphone le 10/07/2026 10:00"


def test_no_message_recorded_goes_back_to_the_main_menu(phone):
    call = phone()
    call.start()
    call.press("5")
    call.press("4")
    call.press("2")
    turn = call.record(None)
    assert turn.says == ["Aucun message n'a été enregistré."] + MAIN_MENU


def test_a_replayed_step_changes_nothing(server, phone):
    call = phone()
    first = call.start()
    again = call.start()  # Twilio retried the incoming-call webhook
    assert again.xml == first.xml
    turn = call.press("1")
    status, body = call.request(first.gather["action"], call._params({"Digits": "1"}))
    assert (status, body) == (200, turn.xml)
    status, body = call.request(first.gather["action"], call._params({"Digits": "2"}))  # a late, different replay
    assert body == turn.xml
    row = call_row(server, call)
    assert (json.loads(row["path"]), row["step"]) == (["root", "vehicule"], 1)


def test_status_callback_records_the_outcome(server, phone):
    abandoned = phone()
    abandoned.start()
    abandoned.press("1")
    abandoned.hangup(duration=17)
    row = call_row(server, abandoned)
    assert (row["outcome"], row["unresolved"], row["duration_s"], row["call_status"]) == ("abandoned", 1, 17, "completed")
    assert row["ended_at"] >= row["started_at"]
    abandoned.hangup(duration=99)  # replayed callback: the first end stays
    assert call_row(server, abandoned)["duration_s"] == 17

    answered = phone()
    answered.start()
    answered.press("5")
    answered.press("3")
    answered.hangup()
    assert (call_row(server, answered)["outcome"], call_row(server, answered)["unresolved"]) == ("answered", 0)

    transferred = phone(now=OPEN)
    transferred.start()
    assert transferred.press("0").says == ["Je vous mets en relation avec un agent de la préfecture."]
    assert transferred.last.dial == "+33471462300"
    assert transferred.dial_ended("completed").hangup
    transferred.hangup()
    assert call_row(server, transferred)["outcome"] == "transferred"


def test_a_busy_transfer_offers_the_voicemail(server, phone):
    call = phone(now=OPEN)
    call.start()
    call.press("0")
    turn = call.dial_ended("busy")
    assert turn.says == [
        "La ligne est occupée ou ne répond pas.",
        "Pour laisser un message au service concerné, courrier de la préfecture, tapez 2.",
        "Pour revenir au menu principal, tapez 0.",
    ]
    assert call.press("1").says[0] == "Touche non valide."  # no second transfer
    assert call.press("2").record is not None
    call.record("Rappelez-moi.")
    call.hangup()
    assert call_row(server, call)["outcome"] == "voicemail"


@pytest.mark.parametrize("dial_status", ["no-answer", "busy", "failed", "canceled"])
@pytest.mark.parametrize("status_first", [False, True])
def test_a_caller_who_hangs_up_while_the_transfer_rings_is_not_counted_transferred(server, phone, dial_status, status_first):
    """Pressed 0 with the standard open, hung up before anybody answered: Twilio posts the Dial action
    (DialCallStatus, DialCallSid, DialCallDuration 0, DialBridged false) with CallStatus=completed, and
    the status callback, before or after it. Nobody reached the caller:
    not `transferred`, and in the agents' unresolved review."""
    call = phone(now=OPEN)
    call.start()
    assert call.press("0").dial == "+33471462300"
    if status_first:
        assert call.hangup(duration=31) == 200
    assert call.dial_ended(dial_status, hung_up=True).hangup  # Twilio's body: dial_no_answer.json
    if not status_first:
        assert call.hangup(duration=31) == 200
    row = call_row(server, call)
    assert (row["outcome"], row["unresolved"], row["duration_s"]) == ("abandoned", 1, 31)


def test_a_caller_who_hangs_up_at_the_offer_after_an_unanswered_transfer_is_unresolved(server, phone):
    """No answer, the caller still on the line: the voicemail offered, and they hang up without a
    message. Not `answered` (the person's node says only "je vous mets en relation"): unresolved.
    After a real answer first, the call stays `answered`, but unresolved all the same."""
    call = phone(now=OPEN)
    call.start()
    call.press("0")
    assert call.dial_ended("no-answer").says[0] == "La ligne est occupée ou ne répond pas."
    assert call.hangup(duration=44) == 200
    row = call_row(server, call)
    assert (row["outcome"], row["unresolved"]) == ("abandoned", 1)

    answered_first = phone(now=OPEN)
    answered_first.start()
    answered_first.press("1")
    assert answered_first.press("1").says == CARTE_GRISE
    answered_first.press("0")
    assert answered_first.press("0").dial == "+33471462300"  # the main menu's 0: a person
    answered_first.dial_ended("no-answer")
    assert answered_first.hangup(duration=60) == 200
    row = call_row(server, answered_first)
    assert (row["outcome"], row["unresolved"]) == ("answered", 1)


INJECTIONS = [
    "</Say><Redirect>https://evil.example/twiml</Redirect><Say>",
    "Tom & Jerry <carte grise>",
    "]]><Hangup/><![CDATA[",
    "titre\x00de\x07séjour\x1b\x0b\x0c\x7f",
    "carte grise " * 420,  # 5 040 characters
]


@pytest.mark.parametrize("speech", INJECTIONS)
def test_speech_can_never_inject_a_verb(server, phone, speech):
    call = phone()
    call.start()
    turn = call.say(speech)
    root = ET.fromstring(turn.xml)
    assert {e.tag for e in root.iter()} <= {"Response", "Gather", "Say", "Pause", "Redirect"}
    # the only Redirect is the fallback after the Gather, to the Gather's own action
    assert [r.text for r in root.iter("Redirect")] == [root.find("Gather").attrib["action"]]
    assert root.find(".//Hangup") is None
    assert "evil" not in turn.xml and "CDATA" not in turn.xml
    inputs = json.loads(call_row(server, call)["inputs"])
    assert len(inputs[0]["speech"]) <= 2000 and "\x00" not in inputs[0]["speech"]


def test_an_internal_error_still_answers_twiml_with_an_apology(server, phone):
    import sqlite3

    call = phone()
    call.start()
    call.press("1")
    conn = sqlite3.connect(str(server.db))
    flow = json.loads(conn.execute("select flow from calls where call_sid = ?", [call.call_sid]).fetchone()[0])
    conn.execute(
        "update calls set flow = ? where call_sid = ?",
        [json.dumps(flow | {"state": "leaf", "node": "no_such_node"}), call.call_sid],
    )
    conn.commit()
    conn.close()
    action = call.last.gather["action"]
    turn = call.press("1")
    # One apology, then the current prompt again (the Redirect to /voice?held=1 replays the call's last
    # answer): never a hang-up on a technical error.
    hold = call.turns[-2]
    assert hold.says == ["Désolé, un incident technique m'a empêché d'enregistrer votre choix. Je répète."]
    assert (hold.redirect, hold.hangup, hold.gather) == (f"{server.url}/webhooks/ivr/voice?held=1", False, None)
    assert turn.says == TITRES_MENU and not turn.hangup
    assert "ivr: menu failed for call" in server.log.read_text()
    # Twilio replays the failed webhook: the same, never a hang-up
    status, body = call.request(action, call._params({"Digits": "1"}))
    assert status == 200 and body == hold.xml


def test_an_unknown_call_at_a_menu_starts_over(server):
    call = Call(server.url, TWILIO_TEST_TOKEN, call_sid="CAunknown0001")
    status, body = call.request(f"{server.url}/webhooks/ivr/leaf?node=armes&step=4", call._params({"Digits": "2"}))
    assert status == 200
    assert [s.text for s in ET.fromstring(body).iter("Say")] == [WELCOME] + MAIN_MENU


def test_the_call_state_survives_a_restart(server, phone, tmp_path):
    call = phone()
    call.start()
    assert call.press("1").says == TITRES_MENU
    # A new server process on the same SQLite file, behind a "proxy": Twilio still calls the
    # public base URL (the first server's), signatures are computed on it.
    second = launch(tmp_path, db=server.db, extra_env={"PUBLIC_BASE_URL": server.url})
    try:
        call.url = second.url  # requests now reach the new process, signed on the public URL
        turn = call.press("1")
        assert turn.says == CARTE_GRISE
        assert turn.gather["action"] == f"{server.url}/webhooks/ivr/leaf?node=carte_grise&step=2"
        call.hangup()
    finally:
        stop(second)
    row = call_row(server, call)
    assert (json.loads(row["path"]), row["step"], row["outcome"]) == (["root", "vehicule", "carte_grise"], 2, "answered")


# ---- the PAN offer by phone (key 4 after the PAN leaf) -------------------------------------

PAN_NOW = "2026-05-04T10:00"  # a Monday: nothing left today after the 2 hours' notice
SLOTS = [
    "Voici les prochains créneaux libres au point d'accueil numérique.",
    "Le mardi 5 mai, à 9 heures, Aurillac (préfecture) : tapez 1.",
    "Le mardi 5 mai, à 9 heures, Saint-Flour (sous-préfecture) : tapez 2.",
    "Le mardi 5 mai, à 9 heures 30, Aurillac (préfecture) : tapez 3.",
    "Pour revenir au menu précédent, tapez dièse.",
    "Pour revenir au menu principal, tapez 0.",
]
CONFIRM_SAINT_FLOUR = [
    "Vous avez choisi le mardi 5 mai, à 9 heures, point d'accueil numérique de la sous-préfecture de Saint-Flour. "
    "Pour confirmer ce rendez-vous, tapez 1. Rien n'est réservé sans votre confirmation.",
    "Pour revenir au menu précédent, tapez dièse.",
    "Pour revenir au menu principal, tapez 0.",
]


def phone_bookings(server, call):
    return db_rows(
        server.db,
        "select reference, site, slot_start, reason, channel, contact_kind, contact, status"
        " from pan_bookings where idempotency_key like ?",
        [f"call:{call.call_sid}:%"],
    )


def test_pan_leaf_offers_the_next_slots_and_books_only_after_confirmation(server, phone):
    # A number of its own: the shared server's other tests book from the fixtures' number, and one
    # number holds at most pan.max_future_bookings appointments to come.
    call = phone(now=PAN_NOW, caller="+33612345671")
    call.start()
    call.press("5")
    leaf = call.press("2")
    assert leaf.node == "rdv_pan"
    assert "Pour le prochain créneau disponible, tapez 4 ; pour annuler un rendez-vous, tapez 6." in leaf.says
    assert call.press("4").says == SLOTS
    assert phone_bookings(server, call) == []
    assert call.press("2").says == CONFIRM_SAINT_FLOUR
    assert phone_bookings(server, call) == []  # nothing booked before the confirmation
    assert call.press("#").says == SLOTS
    assert call.press("2").says == CONFIRM_SAINT_FLOUR
    confirm_action = call.last.gather["action"]
    done = call.press("1")
    rows = phone_bookings(server, call)
    assert len(rows) == 1
    ref = rows[0].pop("reference")
    assert rows[0] == {
        "site": "saint-flour",
        "slot_start": "2026-05-05T09:00",
        "reason": "autre",
        "channel": "phone",
        "contact_kind": "caller",
        "contact": None,  # the caller's number is kept only as a keyed hash (tests/test_ivr_bookings.py)
        "status": "booked",
    }
    words = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"]
    digits = ", ".join(words[int(d)] for d in ref if d.isdigit())
    assert done.says == [
        "Votre rendez-vous est confirmé le mardi 5 mai, à 9 heures, point d'accueil numérique de la sous-préfecture "
        f"de Saint-Flour, 15100 Saint-Flour. Notez votre référence : {digits}. Je répète : {digits}.",
        "Pour savoir quoi apporter et comment annuler, tapez 1.",
        "Pour revenir au menu principal, tapez 0.",
    ]
    assert not done.hangup and done.gather["numDigits"] == "1"
    # Twilio replays the confirmation: same answer, still one booking.
    status, body = call.request(confirm_action, call._params({"Digits": "1", "CallStatus": "in-progress"}))
    assert status == 200 and body == done.xml
    assert len(phone_bookings(server, call)) == 1


def test_pan_slot_taken_meanwhile_offers_the_next_ones(server, phone):
    from datetime import datetime

    from bot.core import config
    from bot.services import pan
    from bot.store.database import Store

    call = phone(now="2026-05-11T10:00", caller="+33612345679")  # Monday of the next week
    call.start()
    call.press("5")
    call.press("2")
    slots = call.press("4").says
    assert slots[1] == "Le mardi 12 mai, à 9 heures, Aurillac (préfecture) : tapez 1."
    call.press("1")
    store = Store(server.db)
    try:  # someone else takes the slot between the offer and the confirmation
        pan.book(
            store,
            config.load_prefecture("cantal"),
            "aurillac",
            "2026-05-12T09:00",
            "autre",
            email="autre@exemple.fr",
            now=datetime(2026, 5, 11, 10, 0),
        )
    finally:
        store.close()
    again = call.press("1")
    assert again.says[:3] == [
        "Désolé, ce créneau vient d'être pris.",
        "Voici les prochains créneaux libres au point d'accueil numérique.",
        "Le mardi 12 mai, à 9 heures, Saint-Flour (sous-préfecture) : tapez 1.",
    ]
    assert phone_bookings(server, call) == []
    call.press("0")
    call.hangup()
    assert phone_bookings(server, call) == []


# ---- "Ce n'était pas ça": the answer's alternatives, as the chat offers them after « Non » ------------

HELP_WITH_THE_LICENCE = "j'ai besoin d'aide pour refaire mon permis de conduire sur internet"
LIKELY = "Votre appel concerne peut-être l'un de ces thèmes."


def test_an_answer_to_words_rated_not_useful_offers_the_other_likely_topics_as_keys(server, phone):
    call = phone(now=OPEN)
    call.start()
    turn = call.say(HELP_WITH_THE_LICENCE)
    assert (turn.route, turn.node) == ("leaf", "permis_conduire")
    turn = call.press("8")  # "elle ne m'a pas aidé"
    assert turn.route == "choices"
    assert turn.says[:3] == ["Merci pour votre avis.", LIKELY, "Aide pour une démarche en ligne, tapez 1."]
    assert turn.says[-3:] == [
        "Parler à un agent, tapez 4.",
        "Pour revenir au menu précédent, tapez dièse.",  # the answer
        "Pour revenir au menu principal, tapez 0.",
    ]
    turn = call.press("1")
    assert (turn.route, turn.node) == ("leaf", "rdv_pan")
    assert turn.says[0].startswith("Un médiateur numérique vous aide gratuitement")
    row = call_row(server, call)
    assert json.loads(row["path"]) == ["root", "permis_conduire", "rdv_pan"]
    # the caller's own label for their words, for the agents (« Réponses corrigées par la personne »)
    assert row["corrected"] == 1
    assert {"step": 3, "corrects": "permis_conduire", "topic": "rdv_pan"} in json.loads(row["inputs"])
    assert db_rows(server.db, "select useful, topic from feedback where kind = 'phone' and item_id = ?", [call.call_sid]) == [
        {"useful": 0, "topic": "permis_conduire"}
    ]


@pytest.mark.parametrize("said", ["non", "non c'est pas ça"])
def test_a_no_after_an_answer_to_words_offers_the_other_likely_topics(phone, said):
    call = phone(now=OPEN)
    call.start()
    call.say(HELP_WITH_THE_LICENCE)
    turn = call.say(said)
    assert turn.route == "choices"
    assert turn.says[:3] == ["D'accord.", LIKELY, "Aide pour une démarche en ligne, tapez 1."]


def test_an_answer_reached_by_keys_keeps_its_rating_and_its_no(server, phone):
    call = phone(now=OPEN)
    call.start()
    call.press("1")
    turn = call.press("2")  # the licence, by keys: no words, no alternatives
    assert (turn.route, turn.node) == ("leaf", "permis_conduire")
    turn = call.press("8")
    assert (turn.route, turn.node, turn.says[0]) == ("leaf", "permis_conduire", "Merci pour votre avis.")
    turn = call.say("non")
    assert (turn.route, turn.node, turn.says[0]) == (
        "leaf",
        "permis_conduire",
        "D'accord. Dites en quelques mots ce que vous cherchez.",
    )
    call.press("0")
    call.press("1")  # a topic by the menu's keys after a no: no answer's alternative, no correction
    assert call_row(server, call)["corrected"] == 0


@pytest.mark.parametrize("said", ["non merci", "non c'est bon"])
def test_a_no_thanks_after_an_answer_to_words_ends_the_call_answered(server, phone, said):
    call = phone(now=OPEN)
    call.start()
    call.say(HELP_WITH_THE_LICENCE)
    turn = call.say(said)
    assert (turn.hangup, turn.gather) == (True, None)
    assert turn.says[-1] == "Merci de votre appel. Au revoir."
    call.hangup()
    assert call_row(server, call)["outcome"] == "answered"
