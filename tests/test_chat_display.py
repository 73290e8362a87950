"""How answers are shown on the chat page (issue 14 items 9, 10; issue 12): French typography, the
confirmed numbers as tel: links, the short form of each answer, every text of the page from the tree."""

import re
from pathlib import Path

import pytest

from bot.core import config, display, texts, tree
from bot.core.router import Router

NB = "\u00a0"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cantal():
    return config.load_prefecture("cantal")


@pytest.fixture(scope="module")
def router(cantal):
    return Router(tree.load_tree(), cantal)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("de 9 h 30 à 12 h", f"de 9{NB}h{NB}30 à 12{NB}h"),
        ("appelez le 04 71 46 23 00.", f"appelez le 04{NB}71{NB}46{NB}23{NB}00."),
        ("le 0806 001 620 ou le 34 00", f"le 0806{NB}001{NB}620 ou le 34{NB}00"),
        ("de 9 h à 12 h ; point", f"de 9{NB}h à 12{NB}h{NB}; point"),
        ("Quelle est votre question ?", f"Quelle est votre question{NB}?"),
        ("Bonjour !", f"Bonjour{NB}!"),
        ("le service « armes » : réponse", f"le service «{NB}armes{NB}»{NB}: réponse"),
        ("voir https://www.cantal.gouv.fr/Contact?x=1 : ici", f"voir https://www.cantal.gouv.fr/Contact?x=1{NB}: ici"),
        ("5 jours ouvrés", "5 jours ouvrés"),
        # "%" as bot/core/numbers.py writes every percentage: after a no-break space (U+00A0)
        ("une réduction de 50 % ; 75\u202f% sinon", f"une réduction de 50{NB}%{NB}; 75{NB}% sinon"),
    ],
)
def test_typeset_keeps_times_numbers_and_punctuation_on_one_line(raw, expected):
    assert display.typeset(raw) == expected


def test_only_confirmed_numbers_are_tel_links(cantal):
    phones = display.confirmed_phones(cantal)
    # The préfecture's standard is confirmed; the ANTS 34 00 and the CCC 0806 line are not.
    assert phones == [{"text": f"04{NB}71{NB}46{NB}23{NB}00", "tel": "tel:+33471462300"}]
    runs = display.runs("Appelez le 04 71 46 23 00 ou le 34 00 (de 9 h à 12 h).", phones)
    assert runs == [
        {"text": "Appelez le "},
        {"text": f"04{NB}71{NB}46{NB}23{NB}00", "tel": "tel:+33471462300"},
        {"text": f" ou le 34{NB}00 (de 9{NB}h à 12{NB}h)."},
    ]


def test_a_prefecture_without_a_confirmed_standard_has_no_link():
    vienne = config.load_prefecture("vienne")  # standard number unknown (null in the file)
    assert all("+3349" not in p["tel"] for p in display.confirmed_phones(vienne))
    assert display.runs("le 34 00", []) == [{"text": f"le 34{NB}00"}]


def test_the_pan_answer_leads_with_one_sentence_and_one_line_per_site(router):
    d = router._node_decision("aide pour une démarche en ligne", router.tree.node("rdv_pan"), 1.0, 0, "nlu")
    assert d.display["lead"] == "Un médiateur numérique vous aide gratuitement à faire votre démarche en ligne, sur rendez-vous :"
    assert d.display["items"] == [
        "Aurillac (préfecture) : du lundi au vendredi de 9 h à 12 h",
        "Mauriac (sous-préfecture) : le lundi et le jeudi de 9 h à 12 h",
        "Saint-Flour (sous-préfecture) : le mardi et le vendredi de 9 h à 12 h",
    ]
    assert d.display["more"] == d.answer  # the full text, behind "En savoir plus"
    # The foreigners' afternoon (cantal.yml, foreigners_days) is in the full text (the short list has
    # no room for it within the 60 words).
    assert (
        "point d'accueil numérique de la préfecture (Aurillac), du lundi au vendredi de 9 h à 12 h ; "
        "le mardi de 14 h à 16 h pour les démarches des étrangers ; " in d.answer
    )
    shown = display.words(d.display["lead"]) + sum(display.words(i) for i in d.display["items"])
    assert shown <= 60, shown
    assert display.words(d.answer) > 100  # the wall of text it replaces at first sight


def test_every_cantal_answer_shows_at_most_60_words_before_the_disclosure(router):
    for node in router.tree.leaves():
        d = router._node_decision("x", node, 1.0, 0, "nlu")
        shown = display.words(d.display["lead"]) + sum(display.words(i) for i in d.display["items"])
        assert shown <= 60, (node.id, shown)
        assert d.display["lead"], node.id


@pytest.mark.parametrize("pid", config.available())
def test_every_answer_of_every_prefecture_shows_at_most_60_words_at_once(pid):
    pref = config.load_prefecture(pid)
    r = Router(tree.load_tree(), pref)
    for node in r.tree.leaves():
        d = r._node_decision("une amende", node, 1.0, 0, "nlu")
        shown = display.words(d.display["lead"]) + sum(display.words(i) for i in d.display["items"])
        assert shown <= 60, (node.id, shown)


def test_sites_past_the_budget_are_left_to_the_full_text():
    gironde = config.load_prefecture("gironde")  # six PAN sites
    r = Router(tree.load_tree(), gironde)
    d = r._node_decision("x", r.tree.node("rdv_pan"), 1.0, 0, "nlu").display
    assert [i.split(" :")[0] for i in d["items"]] == [
        "Bordeaux (préfecture)",
        "Arcachon (sous-préfecture)",
        "Blaye (sous-préfecture)",
    ]
    assert "sous-préfecture de Libourne, les lundi, mercredi et vendredi de 9 h à 12 h" in d["more"]


def test_a_leaf_and_its_display_arrive_as_one_message(cantal):
    phones = display.confirmed_phones(cantal)
    collected = [
        {"recipient_id": "s", "text": "Texte complet.", "buttons": [{"title": "B", "payload": "/x"}]},
        {
            "recipient_id": "s",
            "custom": {"display": {"lead": "Appelez le 04 71 46 23 00.", "items": ["9 h 30"], "more": "Texte complet."}},
        },
        {"recipient_id": "s", "custom": {"links": [{"title": "L", "url": "https://x.fr"}]}},
    ]
    shaped = display.shape(collected, cantal, phones)
    assert len(shaped) == 2
    assert shaped[0]["text"] == "Texte complet."
    assert shaped[0]["display"] == {
        "lead": [
            {"text": "Appelez le "},
            {"text": f"04{NB}71{NB}46{NB}23{NB}00", "tel": "tel:+33471462300"},
            {"text": "."},
        ],
        "items": [[{"text": f"9{NB}h{NB}30"}]],
        "more": [{"text": "Texte complet."}],
    }
    assert shaped[1] == {"recipient_id": "s", "custom": {"links": [{"title": "L", "url": "https://x.fr"}]}}


def test_the_chat_page_texts_come_from_the_tree_for_every_prefecture():
    for pid in config.available():
        pref = config.load_prefecture(pid)
        got = texts.chat_texts(pref)
        assert got["script"]["more"] == "En savoir plus"
        assert got["script"]["body_hint"] == "{max} caractères au plus"  # filled by the page
        assert got["page"]["new_conversation"] == "Nouvelle conversation"
        for part in got.values():
            for key, value in part.items():
                assert value and "{" not in value.replace("{max}", ""), (pid, key)


def test_chat_js_holds_no_french_text():
    """Every string literal of chat.js is code (class names, URLs, keys), none is a French sentence."""
    source = (ROOT / "web" / "static" / "chat.js").read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    code = re.sub(r"^\s*//.*$", "", code, flags=re.M)
    literals = re.findall(r"'((?:[^'\\\n]|\\.)*)'", code)
    french = [s for s in literals if re.search(r"[àâçéèêëîïôûùœÉ]", s) or re.search(r"[A-Za-z]+ [a-z]+ [a-z]+", s)]
    assert french == []


def test_the_transcript_is_the_current_session_with_buttons_shown_by_their_title():
    from bot.web.chat_history import transcript

    payload = '/navigate{"node":"titres_ants"}'
    events = [
        {"event": "user", "text": "une ancienne question", "timestamp": 100.0},
        {"event": "session_started", "timestamp": 5000.0},
        {"event": "user", "text": "bonjour", "timestamp": 5001.0},
        {
            "event": "bot",
            "text": "Bonjour !",
            "data": {"buttons": [{"title": "Carte grise, permis", "payload": payload}]},
            "timestamp": 5002.0,
        },
        {"event": "user", "text": payload, "timestamp": 5003.0},
        {"event": "bot", "text": "Quel document vous concerne ?", "data": {}, "timestamp": 5004.0},
        {"event": "slot", "name": "misses", "value": 0.0, "timestamp": 5004.5},
    ]
    tree_ = tree.load_tree()
    turns = transcript(events, 60, tree_, now=5004.0 + 59 * 60)
    assert [(t["role"], t.get("text") or [m["text"] for m in t["messages"]]) for t in turns] == [
        ("user", "bonjour"),
        ("bot", ["Bonjour !"]),
        ("user", "Carte grise, permis"),
        ("bot", ["Quel document vous concerne ?"]),
    ]
    assert turns[3]["messages"][0]["display"]["lead"] == [{"text": f"Quel document vous concerne{NB}?"}]
    # Rasa's session has expired (60 minutes without a message): nothing to restore.
    assert transcript(events, 60, tree_, now=5004.0 + 61 * 60) == []
