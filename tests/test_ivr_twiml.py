"""The phone menu's TwiML, built without a server: attributes, texts, numbers, injection, hours."""

import re
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from twilio.twiml.voice_response import VoiceResponse

from bot.core.config import load_prefecture
from bot.core.decision import Decision
from bot.core.tree import load_tree
from ivr import hours
from ivr.flow import CallState, Flow, Input
from ivr.signature import LOCAL_DEV_TOKEN, settings_from_env
from ivr.twiml import ROOT, Speaker

BASE = "https://svi.prefecture.example"
VOICE = {"voice": "Polly.Lea", "language": "fr-FR"}


@pytest.fixture(scope="module")
def tree():
    return load_tree()


def speaker(tree, pref_id="cantal"):
    return Speaker(tree, load_prefecture(pref_id), BASE)


def parse(resp: VoiceResponse) -> ET.Element:
    return ET.fromstring(resp.to_xml())


def says(root: ET.Element) -> list[str]:
    return [e.text for e in root.iter("Say")]


def test_every_gather_listens_to_keys_and_french_speech(tree):
    root = parse(speaker(tree).welcome(0))
    gathers = root.findall("Gather")
    assert len(gathers) == 1
    g = gathers[0].attrib
    assert g["input"] == "dtmf speech"
    assert g["language"] == "fr-FR"
    assert g["timeout"] == "6"
    assert g["actionOnEmptyResult"] == "true"
    assert g["action"] == "https://svi.prefecture.example/webhooks/ivr/menu?node=root&step=0"
    assert g["method"] == "POST"
    assert g["numDigits"] == "1"
    assert g["finishOnKey"] == ""  # '#' is a menu key, not the end of the input
    assert g["speechTimeout"] == "auto"
    hints = g["hints"].split(", ")
    assert "carte grise" in hints and "titre de séjour" in hints and "passeport" in hints
    assert "un" in hints and "étoile" in hints and "un agent" in hints  # spoken keys, at every prompt
    assert all(len(h) <= 100 for h in hints)


def test_welcome_says_automated_service_then_the_menu_from_the_tree(tree):
    root = parse(speaker(tree).welcome(0))
    assert says(root) == [
        "Bonjour, ici le service automatisé de la préfecture du Cantal.",
        "Dites en quelques mots l'objet de votre appel, ou choisissez :",
        "Carte grise ou permis, tapez 1.",
        "Carte d'identité ou passeport, tapez 2.",
        "Titre de séjour ou naturalisation, tapez 3.",
        "Suivi d'un dossier, tapez 4.",
        "Autre demande, tapez 5.",
        "Parler à un agent, tapez 0.",
        "Pour réécouter, tapez étoile.",  # said once, here
    ]
    for say in root.iter("Say"):
        assert say.attrib == VOICE


def test_every_say_of_every_prompt_uses_the_prefecture_voice(tree):
    sp = speaker(tree)
    prompts = [
        sp.menu(ROOT, 1),
        sp.offer(ROOT, 1, True),
        sp.offer(ROOT, 1, False),
        sp.record("armes", "armes", 1),
        sp.voicemail_now("human", 1),
        sp.voicemail_done("armes"),
        sp.apology(),
        sp.goodbye(),
        sp.dial("human", "prefecture.phone", 1),
        sp.choices(["carte_grise", "armes", "human"], ROOT, 1),
        sp.rephrase("menu", ROOT, 1),
    ]
    prompts += [sp.menu(n.id, 1) for n in sp.tree.nodes.values() if n.children and n.destination is None]
    prompts += [sp.leaf(n.id, 1, open_now) for n in sp.tree.leaves() for open_now in (True, False)]
    for resp in prompts:
        root = parse(resp)
        for say in root.iter("Say"):
            assert say.attrib == VOICE and say.text
        for g in root.iter("Gather"):
            assert (g.attrib["input"], g.attrib["language"], g.attrib["actionOnEmptyResult"]) == ("dtmf speech", "fr-FR", "true")
            assert g.attrib["action"].startswith(BASE + "/webhooks/ivr/")


def test_a_submenu_is_generated_from_its_children(tree):
    root = parse(speaker(tree).menu("suivi_dossier", 3))
    assert root.find("Gather").attrib["action"] == BASE + "/webhooks/ivr/menu?node=suivi_dossier&step=3"
    assert says(root) == [
        "Pour quel document voulez-vous suivre votre demande ?",
        "Carte grise, permis, carte d'identité ou passeport, tapez 1.",
        "Titre de séjour ou naturalisation, tapez 2.",
        "Autre dossier, tapez 3.",
        "Pour revenir au menu principal, tapez 0.",
    ]
    # A phone-only group of the tree's topics ("autre demande"): five keys at most, then 0.
    root = parse(speaker(tree).menu("autre", 2))
    assert says(root) == [
        "Autres demandes.",
        "Détention d'une arme, tapez 1.",
        "Aide pour une démarche en ligne, tapez 2.",
        "Horaires et adresse, tapez 3.",
        "Réclamation ou suggestion, tapez 4.",
        "Autre démarche, tapez 5.",
        "Pour revenir au menu principal, tapez 0.",
    ]


def test_menus_have_at_most_nine_options(tree):
    sp = speaker(tree)
    for node_id in [ROOT] + [n.id for n in sp.tree.nodes.values() if n.children]:
        assert len([o for o in sp.menu_options(node_id) if o.kind == "node"]) <= 6
    with pytest.raises(ValueError, match="at most 9 options"):
        sp._node_options([tree.node("armes")] * 10)


def test_carte_grise_leaf_for_cantal_says_the_answer_and_34_00_by_groups(tree):
    root = parse(speaker(tree).leaf("carte_grise", 2, open_now=True))
    assert root.find("Gather").attrib["action"] == BASE + "/webhooks/ivr/leaf?node=carte_grise&step=2"
    assert says(root) == [
        "La carte grise se fait uniquement en ligne, sur le site officiel ants point gouv point fr. "
        "Renseignements au trente-quatre, zéro zéro. Méfiez-vous des sites payants. Besoin d'aide ? Un point "
        "d'accueil numérique vous reçoit sur rendez-vous.",
        "Pour entendre le numéro, tapez 3.",
        "Pour revenir au menu principal, tapez 0.",
        "Si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8.",
    ]
    assert root.find("Dial") is None  # a short number is never dialled
    # Key 3: the number alone, slowly, group by group; "voici", not "je répète" (it may not have been said).
    root = parse(speaker(tree).leaf("carte_grise", 3, open_now=True, number_only=True))
    assert says(root)[:3] == ["Voici le numéro :", "trente-quatre", "zéro zéro"]
    assert len(root.findall("Gather/Pause")) == 2  # a pause between the groups and after the number


def test_numbers_are_said_group_by_group(tree):
    sp = speaker(tree)
    assert sp.spoken_groups("34 00") == ["trente-quatre", "zéro zéro"]
    assert sp.spoken_groups("04 71 46 23 00") == ["zéro quatre", "soixante et onze", "quarante-six", "vingt-trois", "zéro zéro"]
    assert sp.spoken_groups("0806 001 620") == ["zéro huit zéro six", "zéro zéro un", "six deux zéro"]
    assert sp.spoken_groups("02 47 64 37 37") == ["zéro deux", "quarante-sept", "soixante-quatre", "trente-sept", "trente-sept"]


def flow_for(tree, pref_id="cantal"):
    return Flow(speaker(tree, pref_id))


def walk(flow, keys, open_now=True):
    st = CallState("CAtest")
    flow.welcome(st)
    resp = None
    for key in keys:
        resp = flow.handle(st, Input(digits=key), open_now)
    return st, parse(resp)


def test_titre_de_sejour_offers_the_ccc_and_dials_it_in_e164(tree):
    st, root = walk(flow_for(tree), ["3"])
    assert "Pour être mis en relation avec le centre de contact citoyen, tapez 1." in says(root)
    st, root = walk(flow_for(tree), ["3", "1"])
    assert root.find("Dial").text == "+33806001620"
    assert root.find("Dial").attrib["action"] == BASE + "/webhooks/ivr/dialed?node=titre_sejour&step=2"
    assert says(root) == ["Je vous mets en relation avec le centre de contact citoyen. Merci de patienter."]
    assert st.outcome == "transferred"


def test_human_is_transferred_to_the_standard_only_when_open(tree):
    st, root = walk(flow_for(tree), ["0"], open_now=True)
    assert root.find("Dial").text == "+33471462300"
    assert says(root) == ["Je vous mets en relation avec un agent de la préfecture."]  # the tree's answer
    st, root = walk(flow_for(tree), ["0"], open_now=False)
    assert root.find("Dial") is None
    assert says(root) == [
        "Standard fermé, ouvert du lundi au vendredi de 8 h 30 à 12 h et de 13 h 30 à 16 h 30, sauf jours fériés.",
        "Pour laisser un message au service concerné, courrier de la préfecture, tapez 2.",
        "Pour revenir au menu principal, tapez 0.",
    ]


@pytest.mark.parametrize("pref_id", ["vienne", "gironde"])
def test_a_prefecture_without_a_standard_number_never_transfers_to_it(tree, pref_id):
    flow = flow_for(tree, pref_id)
    for keys in (["0"], ["5", "2"], ["5", "3"], ["2", "1"]):
        st, root = walk(flow, keys, open_now=True)
        assert root.find(".//Dial") is None, keys
        assert not any("mis en relation avec un agent" in s for s in says(root)), keys
    st, root = walk(flow, ["0"], open_now=True)
    assert says(root)[0] == "Je ne peux pas vous passer le standard."
    st, root = walk(flow, ["0", "2"], open_now=True)
    assert root.find("Record") is not None
    # The CCC (a national number) is still dialled.
    st, root = walk(flow, ["3", "1"], open_now=True)
    assert root.find("Dial").text == "+33806001620"


def test_voicemail_record_and_thanks_name_the_service_and_the_commitment(tree):
    st, root = walk(flow_for(tree), ["5", "1", "2"])
    rec = root.find("Record").attrib
    assert rec["action"] == BASE + "/webhooks/ivr/voicemail?node=armes&mailbox=armes&step=3"
    assert rec["transcribeCallback"] == BASE + "/webhooks/ivr/recording?node=armes&mailbox=armes"
    assert (rec["maxLength"], rec["transcribe"], rec["playBeep"], rec["finishOnKey"]) == ("120", "true", "true", "#")
    assert root.find("Redirect").text == BASE + "/webhooks/ivr/voicemail?node=armes&mailbox=armes&step=3"
    thanks = parse(speaker(tree).voicemail_done("armes"))
    assert says(thanks) == [
        "Merci. Votre message a été transmis au service concerné, bureau des polices administratives (armes), "
        "qui vous répondra sous 5 jours ouvrés.",
        "Merci de votre appel. Au revoir.",
    ]
    assert thanks.find("Hangup") is not None


def test_three_misses_offer_a_person_or_the_voicemail_then_close_politely(tree):
    flow = flow_for(tree)
    st = CallState("CAmiss")
    flow.welcome(st)
    first = parse(flow.handle(st, Input(), True))
    assert says(first)[0] == "Je n'ai rien entendu."
    second = parse(flow.handle(st, Input(digits="9"), True))
    assert says(second)[0] == "Touche non valide."
    third = parse(flow.handle(st, Input(), True))
    assert says(third) == [
        "Je n'ai rien entendu.",  # the miss says why; never "je n'ai pas compris" after it
        "Pour être mis en relation avec un agent de la préfecture du Cantal, tapez 1.",
        "Pour laisser un message au service concerné, courrier de la préfecture, tapez 2.",
        "Pour revenir au menu principal, tapez 0.",
    ]
    assert third.find("Gather").attrib["action"] == BASE + "/webhooks/ivr/offer?node=root&step=3"
    parse(flow.handle(st, Input(), True))
    last = parse(flow.handle(st, Input(), True))
    assert says(last)[-2:] == [
        "Je n'ai pas pu vous orienter. Le standard répond du lundi au vendredi de 8 h 30 à 12 h et de 13 h 30 à 16 h 30.",
        "Merci de votre appel. Au revoir.",
    ]
    assert last.find("Hangup") is not None
    assert st.final_outcome() == ("abandoned", 1)


def test_keys_star_hash_and_zero(tree):
    flow = flow_for(tree)
    st, root = walk(flow, ["1", "1", "*"])
    assert says(root)[0].startswith("La carte grise se fait")
    assert (st.state, st.node) == ("leaf", "carte_grise")
    st, root = walk(flow, ["1", "1", "#"])
    assert (st.state, st.node) == ("menu", "vehicule")
    assert says(root)[0] == "Carte grise ou permis de conduire."
    st, root = walk(flow, ["1", "1", "0"])
    assert (st.state, st.node) == ("menu", ROOT)
    assert st.path == [ROOT, "vehicule", "carte_grise", ROOT]
    st, root = walk(flow, ["2", "1", "#"])
    assert (st.state, st.node) == ("leaf", "cni_passeport")


def decision(**kw) -> Decision:
    base = dict(
        text="x",
        topic=None,
        destination=None,
        confidence=0.1,
        action="clarify",
        answer="",
        misses=1,
        matched_by="none",
        buttons=[
            {"title": "Armes", "payload": '/navigate{"node":"armes"}'},
            {"title": "Carte grise", "payload": '/navigate{"node":"carte_grise"}'},
            {"title": "Agent", "payload": '/navigate{"node":"human"}'},
        ],
    )
    return Decision(**(base | kw))


def test_speech_not_understood_rephrase_then_likely_topics(tree):
    flow = flow_for(tree)
    st = CallState("CAspeech")
    flow.welcome(st)
    first = parse(flow.handle(st, Input(speech="zorglub", decision=decision()), True))
    assert says(first) == ["Je ne suis pas sûr d'avoir compris. Pouvez-vous reformuler en quelques mots ?"]
    assert first.find("Gather").attrib["action"] == BASE + "/webhooks/ivr/menu?node=root&step=1"
    second = parse(flow.handle(st, Input(speech="blurp", decision=decision()), True))
    assert says(second) == [
        "Votre appel concerne peut-être l'un de ces thèmes.",
        "Détention d'une arme, tapez 1.",
        "Carte grise, tapez 2.",
        "Parler à un agent, tapez 3.",
        "Pour revenir au menu principal, tapez 0.",
    ]
    assert st.unmatched
    third = parse(flow.handle(st, Input(digits="2"), True))
    assert (st.state, st.node) == ("leaf", "carte_grise")
    assert not st.unmatched
    assert says(third)[0].startswith("La carte grise se fait")


def test_a_likely_guess_is_offered_at_once_not_a_request_to_rephrase(tree):
    """The router has a likely guess (confidence from phone.settings.likely_topics_from): the caller hears
    the likely topics at the first miss, as the chat shows them as buttons; nothing understood (above:
    confidence 0.1) still gets one request to rephrase first."""
    assert tree.phone["settings"]["likely_topics_from"] == 0.2
    flow = flow_for(tree)
    st = CallState("CAguess")
    flow.welcome(st)
    first = parse(flow.handle(st, Input(speech="une histoire", decision=decision(confidence=0.48)), True))
    assert says(first) == [
        "Votre appel concerne peut-être l'un de ces thèmes.",
        "Détention d'une arme, tapez 1.",
        "Carte grise, tapez 2.",
        "Parler à un agent, tapez 3.",
        "Pour revenir au menu principal, tapez 0.",
    ]
    assert (st.state, st.misses) == ("choices", 1)
    parse(flow.handle(st, Input(digits="2"), True))
    assert (st.state, st.node) == ("leaf", "carte_grise")
    low = CallState("CAlow")
    flow.welcome(low)
    said = parse(flow.handle(low, Input(speech="une histoire", decision=decision(confidence=0.19)), True))
    assert says(said) == ["Je ne suis pas sûr d'avoir compris. Pouvez-vous reformuler en quelques mots ?"]


# ---- robustness: nothing the caller says can become a verb ----------------------------------

PAYLOADS = [
    "</Say><Redirect>https://evil.example/</Redirect><Say>",
    "Tom & Jerry < 3 > 2 \"quoted\" 'single'",
    "]]><Hangup/><![CDATA[",
    "bell\x07null\x00esc\x1b vertical\x0b formfeed\x0c del\x7f end",
    "<?xml version='1.0'?><Response><Dial>+33100000000</Dial></Response>",
    "voix " * 1000,  # 5 000 characters
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_text_cannot_inject_a_verb(tree, payload):
    sp = speaker(tree)
    resp = VoiceResponse()
    g = sp.gather(resp, "menu", ROOT, 1)
    sp.say(g, payload)
    root = ET.fromstring(resp.to_xml())  # well-formed XML
    assert [e.tag for e in root.iter()] == ["Response", "Gather", "Say"]
    text = root.find("Gather/Say").text
    assert len(text) <= 4000
    assert not any(c in text for c in "\x00\x07\x0b\x0c\x1b\x7f")
    if "<" in payload and len(payload) < 1000:
        assert text == payload.strip()  # said literally, escaped by ElementTree


def test_speech_decision_voice_is_escaped_too(tree):
    flow = flow_for(tree)
    st = CallState("CAinj")
    flow.welcome(st)
    d = decision(action="answer", topic="greet", matched_by="nlu", voice="</Say><Redirect>x</Redirect>", buttons=[])
    root = parse(flow.handle(st, Input(speech="bonjour", decision=d), True))
    # the only Redirect is the fallback after the Gather, to the Gather's own action
    assert [(r.text, r.attrib) for r in root.iter("Redirect")] == [(root.find("Gather").attrib["action"], {"method": "POST"})]
    assert says(root)[0] == "</Say><Redirect>x</Redirect>"


# ---- opening hours -------------------------------------------------------------------------

DAYS = {d: ["08:30-12:00", "13:30-16:30"] for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.mark.parametrize(
    "when,is_open",
    [
        ("2026-03-10T10:00", True),  # Tuesday morning
        ("2026-03-10T12:30", False),  # lunch
        ("2026-03-10T16:30", False),  # closing time
        ("2026-03-14T10:00", False),  # Saturday
        ("2026-07-14T10:00", False),  # fête nationale (a Tuesday)
        ("2026-04-06T10:00", False),  # lundi de Pâques
        ("2026-12-25T10:00", False),  # Noël (a Friday)
        ("2026-03-10T08:30+01:00", True),
        ("2026-03-10T07:45+00:00", True),  # 08:45 in Paris (UTC+1 in March)
    ],
)
def test_opening_hours_in_paris_time_with_french_public_holidays(when, is_open):
    assert hours.is_open(DAYS, hours.parse_time(when)) is is_open


def test_the_clock_can_be_fixed_for_tests_only(monkeypatch):
    monkeypatch.delenv("IVR_LOCAL_DEV", raising=False)
    monkeypatch.delenv("IVR_TEST_CLOCK", raising=False)
    monkeypatch.delenv("IVR_NOW", raising=False)
    real = hours.now("2000-01-01T10:00")
    assert real.year > 2000  # the header is ignored in production
    monkeypatch.setenv("IVR_NOW", "2026-07-14T10:00")
    assert hours.now() == datetime(2026, 7, 14, 10, 0, tzinfo=hours.PARIS)
    monkeypatch.setenv("IVR_TEST_CLOCK", "1")
    assert hours.now("2026-03-10T09:00") == datetime(2026, 3, 10, 9, 0, tzinfo=hours.PARIS)


def test_phone_settings_from_the_environment():
    s = settings_from_env({})
    assert not s.serving and "TWILIO_AUTH_TOKEN is not set" in s.problem
    s = settings_from_env({"IVR_LOCAL_DEV": "1", "PORT": "5010"})
    assert s.serving and s.token == LOCAL_DEV_TOKEN and s.base_url == "http://127.0.0.1:5010"
    s = settings_from_env({"TWILIO_AUTH_TOKEN": "x"})
    assert not s.serving and "PUBLIC_BASE_URL is not set" in s.problem
    s = settings_from_env({"TWILIO_AUTH_TOKEN": "x", "PUBLIC_BASE_URL": "https://svi.example.org/"})
    assert s.serving and s.base_url == "https://svi.example.org" and not s.local_dev


def test_the_rating_is_offered_after_an_answer_not_after_the_person(tree):
    sp = speaker(tree)
    assert says(parse(sp.leaf("armes", 1, open_now=True)))[-1] == "Si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8."
    assert says(parse(sp.leaf("armes", 1, open_now=True, rate=False)))[-1] == "Pour revenir au menu principal, tapez 0."
    closed_human = says(parse(sp.leaf("human", 1, open_now=False)))
    assert "Si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8." not in closed_human
    assert [o.key for o in sp.leaf_options(tree.node("human"), False)] == ["2", "*", "#", "0"]
    # A question is a menu, not an answer: no rating after "pour quel document ?"
    assert "Si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8." not in says(parse(sp.menu("suivi_dossier", 1)))
    assert sp.tree.node("suivi_dossier").destination is None


# ---- a call never ends by falling through a Gather -----------------------------------------------

PREFECTURES = ["cantal", "gironde", "indre-et-loire", "loire", "vienne"]


def every_prompt(tree, pref_id):
    """Every TwiML the Speaker builds, for every node of the tree, open and closed."""
    sp = speaker(tree, pref_id)
    site = load_prefecture(pref_id).get("pan.sites")[0]["id"]
    slot = {"site": site, "start": "2026-05-05T09:00"}
    leaves = [n.id for n in sp.tree.nodes.values() if n.destination is not None]
    yield "welcome", sp.welcome(0)
    for node_id in [ROOT] + list(sp.tree.nodes):
        node = sp.tree.nodes.get(node_id)
        for open_now in (True, False):
            tag = f"{node_id} {'open' if open_now else 'closed'}"
            if node_id == ROOT or node.destination is None:
                yield f"menu {tag}", sp.menu(node_id, 1, ["préface"])
            else:
                yield f"leaf {tag}", sp.leaf(node_id, 1, open_now)
                yield f"leaf rated {tag}", sp.leaf(node_id, 1, open_now, rate=False, answer=False)
                yield f"leaf number {tag}", sp.leaf(node_id, 1, open_now, number_only=True)
                yield f"pan slots {tag}", sp.pan_slots(node_id, [slot], 1)
                yield f"pan confirm {tag}", sp.pan_confirm(node_id, slot, 1)
            yield f"offer {tag}", sp.offer(node_id, 1, open_now)
            yield f"offer after a failed transfer {tag}", sp.offer(node_id, 1, open_now, ["x"], allow_transfer=False)
            yield f"choices {tag}", sp.choices(leaves[:3], node_id, 1)
            yield f"rephrase {tag}", sp.rephrase("menu", node_id, 1)
            if node_id != ROOT and node.destination is not None:
                yield f"confirm {tag}", sp.confirm(node_id, ROOT, 1)
            yield f"record {tag}", sp.record(node_id, sp.default_mailbox, 1)
    yield "keypad only", sp.keypad_only(sp.menu(ROOT, 1))


@pytest.mark.parametrize("pref_id", PREFECTURES)
def test_every_gather_is_followed_by_a_fallback_verb(tree, pref_id):
    count = 0
    for name, resp in every_prompt(tree, pref_id):
        root = parse(resp)
        verbs = [e.tag for e in root]
        assert verbs, name
        if "Gather" in verbs:
            count += 1
            i = verbs.index("Gather")
            # the Gather's own action again, as a silence: the ladder goes on, the call never drops
            assert verbs[i + 1 :] == ["Redirect"], name
            redirect = root[i + 1]
            assert (redirect.text, redirect.attrib["method"]) == (root[i].attrib["action"], "POST"), name
        elif "Record" in verbs:
            assert verbs[-2:] == ["Record", "Redirect"], name
        else:
            assert verbs[-1] in ("Hangup", "Dial", "Redirect"), name
    assert count > 2 * len(tree.nodes)


def test_the_keypad_only_prompt_listens_to_keys_only(tree):
    root = parse(speaker(tree).keypad_only(speaker(tree).menu(ROOT, 1, ["Désolé."])))
    g = root.find("Gather").attrib
    assert g["input"] == "dtmf" and "hints" not in g and "speechTimeout" not in g
    assert says(root)[:2] == ["Désolé.", "Carte grise ou permis, tapez 1."]  # no invitation to speak


def test_a_kept_prompt_carries_each_calls_own_step(tree):
    """Prompts are built once per préfecture and kept as text: the step in their URLs is the call's."""
    sp = speaker(tree)
    first, again = parse(sp.menu("vehicule", 3)), parse(sp.menu("vehicule", 41))
    assert first.find("Gather").attrib["action"] == f"{BASE}/webhooks/ivr/menu?node=vehicule&step=3"
    assert again.find("Gather").attrib["action"] == f"{BASE}/webhooks/ivr/menu?node=vehicule&step=41"
    assert again.find("Redirect").text == f"{BASE}/webhooks/ivr/menu?node=vehicule&step=41"
    assert says(first) == says(again) == says(parse(speaker(tree).menu("vehicule", 41)))
    # What changes its verbs gets a prompt of its own: the kept text is not changed.
    keypad = parse(sp.keypad_only(sp.menu(ROOT, 5, ["Désolé."])))
    assert keypad.find("Gather").attrib["input"] == "dtmf"
    assert keypad.find("Gather").attrib["action"] == f"{BASE}/webhooks/ivr/menu?node=root&step=5"
    assert parse(sp.menu(ROOT, 6, ["Désolé."])).find("Gather").attrib["input"] == "dtmf speech"


def test_a_callers_booking_prompts_are_not_kept(tree):
    sp = speaker(tree)
    slot = {"site": "aurillac", "start": "2026-05-05T09:00"}
    node = next(n.id for n in sp.tree.nodes.values() if n.destination is not None)
    kept = len(sp._prompts)
    sp.pan_slots(node, [slot], 1).to_xml()
    assert len(sp._prompts) == kept


# ---- transfers only while the line answers; callerId and timeout ----------------------------------


def test_the_ccc_is_dialled_only_while_it_answers_else_the_voicemail(tree):
    days = load_prefecture("cantal").get("prefecture.phone_hours.days")
    christmas_night = hours.OpenAt(hours.parse_time("2026-12-25T03:00"), days)
    tuesday_morning = hours.OpenAt(hours.parse_time("2026-03-10T10:00"), days)
    assert (bool(christmas_night), bool(tuesday_morning)) == (False, True)
    st, root = walk(flow_for(tree), ["3"], open_now=christmas_night)
    assert says(root)[1:] == [
        "Transfert impossible à cette heure-ci : appelez-le aux horaires indiqués sur le site de l'ANEF.",
        "Pour laisser un message au service concerné, bureau des migrations et de l'intégration, tapez 2.",
        "Pour revenir au menu principal, tapez 0.",
        "Si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8.",
    ]
    st, root = walk(flow_for(tree), ["3", "1"], open_now=christmas_night)
    assert root.find("Dial") is None and says(root)[0] == "Touche non valide."
    st, root = walk(flow_for(tree), ["3", "1"], open_now=tuesday_morning)
    assert root.find("Dial").text == "+33806001620"


def test_a_line_with_its_own_published_hours_follows_them(tree):
    pref = load_prefecture("cantal")
    sp = speaker(tree)
    ccc = tree.node("titre_sejour")
    sp.contact = lambda path, real=sp.contact: (
        real(path).__class__(path, real(path).number, real(path).kind, {"sat": ["09:00-12:00"]})
        if path == "ccc.phone"
        else real(path)
    )
    days = pref.get("prefecture.phone_hours.days")
    saturday = hours.OpenAt(hours.parse_time("2026-03-14T10:00"), days)  # the standard is closed
    tuesday = hours.OpenAt(hours.parse_time("2026-03-10T10:00"), days)
    assert (bool(saturday), sp.can_dial(ccc, saturday), sp.can_dial(ccc, tuesday)) == (False, True, False)


def test_a_transfer_shows_the_number_called_and_rings_for_a_set_time(tree):
    flow = flow_for(tree)
    st = CallState("CAdial", called="+33975180000")
    flow.welcome(st)
    root = parse(flow.handle(st, Input(digits="0"), True))
    dial = root.find("Dial").attrib
    assert (dial["callerId"], dial["timeout"]) == ("+33975180000", "30")


def test_an_exceptional_closure_day_closes_the_standard_not_the_ccc_hours_of_other_days(tree):
    days = load_prefecture("cantal").get("prefecture.phone_hours.days")
    friday_after_ascension = hours.parse_time("2026-05-15T10:00")
    assert hours.OpenAt(friday_after_ascension, days)
    pont = hours.OpenAt(friday_after_ascension, days, ("2026-05-15",))
    assert not pont and hours.OpenAt(hours.parse_time("2026-05-18T10:00"), days, ("2026-05-15",))
    st, root = walk(flow_for(tree), ["0"], open_now=pont)
    assert root.find("Dial") is None
    assert "Pour laisser un message au service concerné, courrier de la préfecture, tapez 2." in says(root)


@pytest.mark.parametrize("pref_id", PREFECTURES)
def test_every_prefecture_has_a_human_path_open_or_closed(tree, pref_id):
    """ "Parler à un agent": the standard when it answers, else the general mailbox's voicemail."""
    pref = load_prefecture(pref_id)
    days = pref.get("prefecture.phone_hours.days")
    number = pref.get("prefecture.phone.number")
    for when in ("2026-03-10T10:00", "2026-03-10T20:00", "2026-12-25T03:00"):
        open_now = hours.OpenAt(hours.parse_time(when), days)
        st, root = walk(flow_for(tree, pref_id), ["0"], open_now=open_now)
        if number and open_now:
            assert root.find("Dial").text.startswith("+33"), (pref_id, when)
            continue
        assert root.find("Dial") is None, (pref_id, when)
        service = pref.get("mailboxes.courrier.service")
        assert f"Pour laisser un message au service concerné, {service}, tapez 2." in says(root), (pref_id, when)
        st, root = walk(flow_for(tree, pref_id), ["0", "2"], open_now=open_now)
        assert root.find("Record").attrib["action"].endswith("mailbox=courrier&step=2"), (pref_id, when)
    assert {p: bool(load_prefecture(p).get("prefecture.phone.number")) for p in ("gironde", "vienne")} == {
        "gironde": False,
        "vienne": False,
    }


@pytest.mark.parametrize("pref_id", PREFECTURES)
def test_the_fail_soft_texts_and_settings_are_in_the_tree(tree, pref_id):
    """The texts and timings added for fail-soft and hours render for every préfecture (data, not code)."""
    sp = speaker(tree, pref_id)
    assert sp.text("store_busy") == "Désolé, un incident technique m'a empêché d'enregistrer votre choix. Je répète."
    assert sp.text("speech_unavailable").startswith("Désolé, je ne peux pas comprendre la parole")
    hours_text = sp.pref.get("ccc.phone.hours_text")
    assert sp.text("contact_closed_unconfirmed", contact=sp.contact_name("ccc.phone"), hours=hours_text) == (
        "Transfert impossible à cette heure-ci : appelez-le aux horaires indiqués sur le site de l'ANEF."
    )
    s = sp.settings
    assert (s["store_busy_ms"], s["answer_within_ms"], s["store_retry_s"]) == (250, 1500, 120)
    assert (s["store_wait_s"], s["store_waits"]) == (5, 12)  # a held call waits a minute for its row
    assert int(s["store_busy_ms"]) < int(s["answer_within_ms"]) < 2000  # answered well before Twilio's 15 s


def test_a_hold_says_one_sentence_then_replays_the_current_prompt(tree):
    root = parse(speaker(tree).hold())
    assert [e.tag for e in root] == ["Say", "Pause", "Redirect"]
    assert root.find("Redirect").text == BASE + "/webhooks/ivr/voice?held=1"
    assert root.find("Hangup") is None
    # still unreadable: 5 s of silence (`store_wait_s`), then the next try, never a hang-up
    waiting = parse(speaker(tree).waiting(3))
    assert [e.tag for e in waiting] == ["Pause", "Redirect"]
    assert waiting.find("Pause").attrib == {"length": "5"}
    assert waiting.find("Redirect").text == BASE + "/webhooks/ivr/voice?held=4"


def test_the_url_of_a_prompt_rebuilds_a_menu_an_answer_or_the_offer_never_a_booking_step(tree):
    """What Flow.placed rebuilds when the call's row cannot be read (ivr/call_hooks.py `_in_place`)."""
    flow = flow_for(tree, "cantal")

    def rebuilt(url: str):
        st = flow.placed("CA1", *url.split(":"), 4)
        return None if st is None else (st.state, st.node, st.step)

    placed = {
        url: rebuilt(url)
        for url in (
            "menu:root",
            "menu:vehicule",
            "leaf:carte_grise",
            "offer:vehicule",
            "offer:carte_grise",
            "menu:carte_grise",  # a leaf named on the menu route: not a prompt we sent
            "leaf:vehicule",
            "menu:no_such_node",
            "choices:root",  # the likely topics: listed in the row only
            "pan:rdv_pan",  # a booking step: its "tapez 1" confirms a slot
        )
    }
    assert placed == {
        "menu:root": ("menu", "root", 4),
        "menu:vehicule": ("menu", "vehicule", 4),
        "leaf:carte_grise": ("leaf", "carte_grise", 4),
        "offer:vehicule": ("offer", "vehicule", 4),
        "offer:carte_grise": ("offer", "carte_grise", 4),
        "menu:carte_grise": None,
        "leaf:vehicule": None,
        "menu:no_such_node": None,
        "choices:root": None,
        "pan:rdv_pan": None,
    }
    assert flow.placed("CA1", "menu", "vehicule", None) is None  # no step in the URL


def test_nothing_the_caller_hears_is_written_in_the_phone_code():
    """Every spoken text, spoken key and threshold is data (bot/tree.yml, préfecture files): the phone
    channel's code holds no French sentence or word a caller would hear (docstrings aside; the
    simulator and the audit are test tools and may hold a caller's sample words; the prompts' measure,
    durations.py, names its rows for docs/phone.md's table and finds the keys named in the TwiML: none
    of it is said to a caller)."""
    import ast
    import re
    from pathlib import Path

    french = re.compile(r"[àâçéèêëîïôûùüÿœ]|\b(tapez|vous|oui|non|bonjour|merci|étoile|dièse|point|numéro)\b", re.I)
    found = []
    for path in sorted((Path(__file__).resolve().parents[1] / "ivr").glob("*.py")):
        if path.name in ("simulate.py", "audit.py", "durations.py"):
            continue
        module = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(module)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(module):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if french.search(node.value):
                    found.append(f"{path.name}:{node.lineno}: {node.value[:60]!r}")
    assert found == []


# ---- the web addresses the chat gives are said on the phone ------------------------------------


def chat_urls(node) -> list[str]:
    """The `*.url` placeholders of a node's chat answer (its text, lead and links)."""
    texts = [node.screen_text, node.lead] + [link.get("url", "") for link in node.links]
    return list(dict.fromkeys(n for t in texts for n in re.findall(r"\{([a-z_.]+\.url)\}", t or "")))


@pytest.mark.parametrize("pref_id", ["cantal", "gironde", "indre-et-loire", "loire", "vienne"])
def test_every_address_the_chat_gives_is_said_on_the_phone_then_offered_by_sms(tree, pref_id):
    sp = Speaker(tree, load_prefecture(pref_id), BASE, sms=True)
    said = {}
    for node in tree.nodes.values():
        if node.destination is None or not chat_urls(node):
            continue
        exempt = node.phone.get("unspoken_urls") or {}
        voice = " ".join(says(parse(sp.leaf(node.id, 1, True))))
        missing = [u for u in chat_urls(node) if u not in exempt and sp.spoken_url(sp.pref.get(u)) not in voice]
        assert missing == [], node.id
        assert all(str(reason).strip() for reason in exempt.values()), node.id  # an exemption says why
        said[node.id] = [u for u in chat_urls(node) if u not in exempt]
        sms = [o for o in sp.leaf_options(node, True) if o.kind == "sms"]
        assert len(sms) == 1 and "Pour recevoir le lien par SMS, tapez 5." in voice, node.id
    assert said["titre_sejour"] == ["anef.url"] and said["suivi_titre_sejour"] == ["anef.url"]
    assert said["hors_perimetre"] == ["service_public.url", "france_services.url"]
    assert said["rdv_pan"] == ["france_services.url"]


def test_titre_sejour_says_the_anef_address():
    sp = Speaker(load_tree(), load_prefecture("cantal"), BASE, sms=True)
    voice = " ".join(says(parse(sp.leaf("titre_sejour", 1, True))))
    assert "administration tiret etrangers tiret en tiret france point interieur point gouv point fr" in voice
    assert sp.sms_body(sp.tree.node("titre_sejour")).endswith("https://administration-etrangers-en-france.interieur.gouv.fr")


def test_the_booked_message_names_no_online_form_without_its_address(tree):
    sp = Speaker(tree, load_prefecture("cantal"), BASE)
    target = {"reference": "PAN-1234-5678", "site": "saint-flour", "start": "2026-05-05T09:00", "node": "rdv_pan"}
    said = " ".join(says(parse(sp.pan_booked(target, 1))))
    assert "en ligne" not in said or "point" in said.split("en ligne", 1)[1][:80]


# ---- outside the CCC's hours: its hours said, the message to the foreigners' service ------------


def with_ccc(pref, **phone):
    import copy

    data = copy.deepcopy(pref.data)
    data["ccc"]["phone"].update(phone)
    return type(pref)(pref.id, data, pref.file)


def test_outside_its_hours_the_ccc_is_named_with_its_hours_and_the_message_goes_to_the_foreigners_service(tree):
    cantal = load_prefecture("cantal")
    sp = Speaker(tree, cantal, BASE)
    said = says(parse(sp.leaf("titre_sejour", 1, False)))
    # hours_confirmed: false in _national.yml: the tree's wording that points to the source, no hour stated
    assert "Transfert impossible à cette heure-ci : appelez-le aux horaires indiqués sur le site de l'ANEF." in said
    assert "Pour laisser un message au service concerné, bureau des migrations et de l'intégration, tapez 2." in said
    assert [o.target for o in sp.leaf_options(tree.node("titre_sejour"), False) if o.kind == "voicemail"] == ["etrangers"]
    assert [o.target for o in sp.leaf_options(tree.node("suivi_titre_sejour"), False) if o.kind == "voicemail"] == ["etrangers"]
    confirmed = with_ccc(cantal, hours_confirmed=True, hours_text="du lundi au vendredi de 9 heures à 17 heures")
    said = says(parse(Speaker(tree, confirmed, BASE).leaf("titre_sejour", 1, False)))
    assert "Transfert impossible à cette heure-ci : il répond du lundi au vendredi de 9 heures à 17 heures." in said


def test_unconfirmed_ccc_days_are_not_followed(tree):
    days = {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    sp = Speaker(tree, with_ccc(load_prefecture("cantal"), days=days, hours_confirmed=False), BASE)
    assert sp.contact("ccc.phone").days is None  # the standard's hours rule until the CCC's are confirmed
    sp = Speaker(tree, with_ccc(load_prefecture("cantal"), days=days, hours_confirmed=True), BASE)
    assert sp.contact("ccc.phone").days == days
