"""End to end through the running Rasa server's HTTP chat channel (real server, real SQLite)."""

import html
import json
import sqlite3
import uuid

import pytest
import raw_http
from conftest import bot_buttons, bot_links, bot_texts, launch, stop

# (question as a user would type it, expected topic, expected destination, text the answer must hold)
EVERY_TOPIC = [
    ("Bonjour, j'ai vendu ma voiture, comment je fais pour la carte grise ?", "carte_grise", "ants_3400", "34 00"),
    ("je dois renouveler mon permis de conduire qui est périmé", "permis_conduire", "ants_3400", "34 00"),
    ("comment refaire ma carte d'identité perdue", "cni_passeport", "ants_3400", "mairie"),
    ("mon titre de sejour expire le mois prochain que dois je faire", "titre_sejour", "ccc_0806", "0806 001 620"),
    ("je voudrais déclarer un fusil de chasse hérité de mon père", "armes", "mailbox", "SIA"),
    ("je n'ai pas d'ordinateur, qui peut m'aider à faire ma démarche en ligne ?", "rdv_pan", "pan_rdv", "médiateur numérique"),
    ("quels sont les horaires d'ouverture de la préfecture ?", "horaires_contact", "info", "du lundi au vendredi"),
    ("je veux faire une réclamation, personne ne répond jamais à mes mails", "reclamation", "mailbox", "5 jours ouvrés"),
    ("où en est ma demande de carte grise ? je n'ai toujours rien reçu", "suivi_dossier", "ants_3400", "confidentialité"),
    ("comment déclarer mes revenus aux impôts ?", "hors_perimetre", "other", "ne relève pas de la préfecture"),
]


def rows(server, sql, params=()):
    conn = sqlite3.connect(server.db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def new_sender() -> str:
    return "t" + uuid.uuid4().hex[:16]


@pytest.mark.parametrize("question, topic, destination, snippet", EVERY_TOPIC)
def test_every_topic_is_answered_and_stored(server, question, topic, destination, snippet):
    sender = new_sender()
    messages = server.say(sender, question)
    assert snippet in bot_texts(messages)
    stored = rows(server, "select channel, topic, destination, action, resolved from turns where conversation_id = ?", (sender,))
    assert stored == [("web", topic, destination, "answer", 1)]


def test_carte_grise_answer_has_the_official_link_and_warns_about_paid_sites(server):
    messages = server.say(new_sender(), "changement d'adresse sur ma carte grise")
    assert "https://ants.gouv.fr" in bot_links(messages)
    assert "sites payants" in bot_texts(messages)


def test_clicking_a_button_follows_the_tree(server):
    sender = new_sender()
    server.say(sender, "je dois refaire mon passeport")
    messages = server.say(sender, '/navigate{"node":"passeport_urgence"}')
    assert "Le passeport d'urgence est délivré uniquement par la préfecture" in bot_texts(messages)
    assert "mailto:pref-titres@cantal.gouv.fr" in bot_links(messages)


@pytest.mark.parametrize("typed", ["/restart", "/session_start", "/back", "/nlu_fallback", "/out_of_scope", "/"])
def test_a_typed_command_is_read_as_text_never_run(server, typed):
    """A person who types "/restart" (Rasa's command syntax) is answered as any message, and the
    conversation goes on (an outside-in audit, 2026-12-04: "erreur technique" and the history emptied).
    Only the tree's own button payloads (/navigate{"node": ...}) are read as payloads."""
    sender = new_sender()
    server.say(sender, "je dois refaire mon passeport")
    messages = server.say(sender, typed)
    assert messages and "erreur technique" not in bot_texts(messages)
    status, body, _ = server.get(f"/chat/history?sender={sender}")
    turns = [t for t in json.loads(body)["turns"] if t["role"] == "user"]
    assert status == 200 and turns[0]["text"] == "je dois refaire mon passeport"


def test_two_misses_lead_to_a_person_and_an_unresolved_conversation(server):
    sender = new_sender()
    first = server.say(sender, "zorglub wintz blurp")
    assert first[0]["text"].startswith("Je ne suis pas sûr d'avoir compris.")
    assert "Parler à un agent" in bot_buttons(first)
    second = server.say(sender, "grumf plonk vrrr")
    assert "Un agent de la préfecture pourra vous répondre" in bot_texts(second)
    assert "04 71 46 23 00" in bot_texts(second)
    assert rows(server, "select status from conversations where id = ?", (sender,)) == [("unresolved",)]
    assert rows(server, "select action from turns where conversation_id = ? order by id", (sender,)) == [
        ("clarify",),
        ("fallback",),
    ]


def test_a_question_without_a_subject_is_asked_which_procedure_never_sent_elsewhere(server):
    sender = new_sender()
    messages = server.say(sender, "bonjour, je voudrais un renseignement svp")
    assert messages[0]["text"] == "De quelle démarche s'agit-il ? Dites-le en quelques mots, ou choisissez un thème :"
    assert "ne relève pas de la préfecture" not in bot_texts(messages)
    assert bot_buttons(messages) == [
        "Carte grise, permis, carte d'identité ou passeport",
        "Titre de séjour, naturalisation",
        "Armes (SIA)",
        "Aide pour une démarche en ligne",
        "Suivi de mon dossier",
        "Horaires et adresse",
        "Réclamation ou suggestion",
        "Autre démarche",
        "Parler à un agent",
    ]
    messages = server.say(sender, '/navigate{"node":"titre_sejour"}')
    assert "0806 001 620" in bot_texts(messages)
    assert rows(server, "select action, destination from turns where conversation_id = ? order by id", (sender,)) == [
        ("clarify", None),
        ("answer", "ccc_0806"),
    ]


def test_personal_data_never_reaches_the_store_or_the_tracker(server):
    sender = new_sender()
    server.say(sender, "ma carte grise AB-123-CD, rappelez moi au 06 12 34 56 78 ou jean.dupont@gmail.com")
    assert rows(server, "select text from turns where conversation_id = ?", (sender,)) == [
        ("ma carte grise [immatriculation], rappelez moi au [téléphone] ou [e-mail]",)
    ]
    events = [json.loads(r[0]) for r in rows(server, "select data from events where sender_id = ?", (sender,))]
    raw = json.dumps(events, ensure_ascii=False)
    assert "06 12 34 56 78" not in raw and "AB-123-CD" not in raw and "jean.dupont" not in raw
    assert [e["text"] for e in events if e["event"] == "user"] == [
        "ma carte grise [immatriculation], rappelez moi au [téléphone] ou [e-mail]"
    ]
    log = server.log.read_text(errors="replace")
    assert "06 12 34 56 78" not in log and "jean.dupont@gmail.com" not in log


@pytest.mark.parametrize(
    "message, expected_start",
    [
        ("", "Votre message est vide."),
        ("   \n\t ", "Votre message est vide."),
        ("🙂🙂🙂", "Je ne peux lire que du texte."),
    ],
)
def test_empty_and_unreadable_messages_get_a_clear_reply(server, message, expected_start):
    messages = server.say(new_sender(), message)
    assert messages[0]["text"].startswith(expected_start)
    assert len(bot_buttons(messages)) == 9


def test_a_very_long_message_is_read_up_to_the_limit_and_said_so(server):
    sender = new_sender()
    story = "Je vous explique ma situation, la voiture était à mon père et je ne sais pas quoi faire. "
    text = "Bonjour, j'ai vendu ma voiture et je dois faire la carte grise. " + story * 60
    assert len(text) > 5_000  # over the 2000 characters read, under the webhook's 8 KB body limit
    messages = server.say(sender, text)
    assert messages[0]["text"].startswith("Votre message est très long")
    assert "34 00" in bot_texts(messages)
    (stored,) = rows(server, "select length(text) from turns where conversation_id = ?", (sender,))[0]
    assert stored <= 2000


def test_html_and_script_are_kept_as_plain_text(server):
    sender = new_sender()
    messages = server.say(sender, "<script>alert(1)</script><img src=x onerror=alert(2)> carte grise")
    assert messages[0]["text"]  # an answer, not an error
    assert rows(server, "select text from turns where conversation_id = ?", (sender,)) == [
        ("<script>alert(1)</script><img src=x onerror=alert(2)> carte grise",)
    ]


def test_control_characters_are_removed(server):
    sender = new_sender()
    server.say(sender, "permis\x00 de\x1b conduire\x07 perdu")
    assert rows(server, "select text from turns where conversation_id = ?", (sender,)) == [("permis de conduire perdu",)]


def test_text_direction_overrides_are_removed(server):
    """U+202E turns what follows around on screen: the console and a reload showed "mon passeport"
    reversed (an outside-in audit, 2026-12-04). The direction marks go, the words stay."""
    sender = new_sender()
    server.say(sender, "j'ai perdu \u202emon passeport\u202c et \u2066ma carte\u2069")
    assert rows(server, "select text from turns where conversation_id = ?", (sender,)) == [
        ("j'ai perdu mon passeport et ma carte",)
    ]


def test_english_gets_an_answer_saying_french_is_understood(server):
    messages = server.say(new_sender(), "Hello, do you speak English? I need help with my residence permit")
    assert "I only understand French" in bot_texts(messages)


@pytest.mark.parametrize(
    "body, content_type, reason",
    [
        (b"\xff\xfe\xfa", "application/json", "Le message n'est pas encodé en UTF-8."),
        (b"not json", "application/json", "La requête doit être un objet JSON avec les champs « sender » et « message »."),
        (b"[1, 2]", "application/json", "La requête doit être un objet JSON avec les champs « sender » et « message »."),
        (json.dumps({"message": "bonjour"}).encode(), "application/json", "Le champ « sender » doit être un identifiant"),
        (
            json.dumps({"sender": "a b/../c", "message": "bonjour"}).encode(),
            "application/json",
            "Le champ « sender » doit être un identifiant",
        ),
        (json.dumps({"sender": "abc", "message": 42}).encode(), "application/json", "Le champ « message » doit être un texte."),
    ],
)
def test_malformed_requests_get_a_400_with_a_french_reason_and_lose_nothing(server, body, content_type, reason):
    before = rows(server, "select count(*) from turns")[0][0]
    status, answer = server.post("/chat/webhook", body, content_type)
    assert status == 400
    assert answer["error"].startswith(reason)
    assert rows(server, "select count(*) from turns")[0][0] == before


@pytest.mark.parametrize(
    "raw, wants_json",
    [
        (b"GARBAGE\r\n\r\n", False),  # no request line
        (b"GET /chat/ HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", False),  # a header without its colon
        (  # a chunk size that is no number, in a JSON post to the chat
            b"POST /chat/webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/json\r\n\r\nZZ\r\n",
            True,
        ),
    ],
)
def test_a_request_that_is_not_valid_http_gets_a_french_400(server, raw, wants_json):
    """What no browser sends, but a broken client or a scanner does: Sanic answered "⚠️ 400 — Bad Request"."""
    host, port = server.url.split("//", 1)[1].split(":")
    answer = raw_http.send(host, int(port), raw)
    assert answer.status == 400
    reason = "La requête est mal formée : elle n'a pas pu être lue."
    if wants_json:
        assert json.loads(answer.text()) == {"error": reason}
    else:
        page = html.unescape(answer.text())
        assert reason in page and "Bad Request" not in page


def test_a_request_with_headers_over_the_limit_gets_a_french_431(server):
    """Headers over Sanic's 8 kB (in a browser: a pile of cookies) were answered as a body too large (413)."""
    host, port = server.url.split("//", 1)[1].split(":")
    cookie = "; ".join(f"c{i}={'x' * 90}" for i in range(120))
    answer = raw_http.send(host, int(port), f"GET /chat/ HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n".encode())
    assert answer.status == 431
    page = html.unescape(answer.text())
    assert "Les en-têtes de la requête sont trop volumineux : effacez les cookies de ce site, puis réessayez." in page


def test_every_refusal_of_the_chat_webhook_is_french_json_for_the_page(server):
    """The chat page posts JSON and reads `{"error"}` from whatever comes back (web/static/chat.js): the
    refusals no route handler writes (a wrong method, a body not valid HTTP whatever its Content-Type)
    were the public pages' HTML, which the page cannot read. Sanic's response timeout answers the same
    way (bot/web/http.py `_too_slow`). Headers over the limit are refused before the request line is
    read: no path to go by, the page of any route."""
    host, port = server.url.split("//", 1)[1].split(":")
    refused = {
        405: b"GET /chat/webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        400: b"POST /chat/webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\nZZ\r\n",
    }
    reasons = {
        405: "Cette adresse n'accepte pas ce type de requête.",
        400: "La requête est mal formée : elle n'a pas pu être lue.",
    }
    for status, raw in refused.items():
        answer = raw_http.send(host, int(port), raw)
        assert (answer.status, answer.headers["content-type"]) == (status, "application/json"), answer.text()[:200]
        assert json.loads(answer.text()) == {"error": reasons[status]}


def test_a_request_whose_headers_come_too_slowly_gets_a_french_408(tmp_path):
    """Sanic's request timeout (`SANIC_REQUEST_TIMEOUT`, 60 s; 1 s here): half a request line, then nothing."""
    slow = launch(tmp_path, phone=False, extra_env={"SANIC_REQUEST_TIMEOUT": "1"})
    try:
        host, port = slow.url.split("//", 1)[1].split(":")
        answer = raw_http.send(host, int(port), b"GET /chat/ HTT")
        assert answer.status == 408
        assert "Votre envoi est arrivé trop lentement : réessayez." in html.unescape(answer.text())
    finally:
        stop(slow)


def chat_post(server, body: bytes, headers: dict) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(server.url + "/chat/webhook", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read().decode())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode())


CROSS_SITE = (403, {"error": "Requête refusée : elle ne vient pas de la page de l'assistant."})


@pytest.mark.parametrize(
    "headers, expected",
    [
        # a form on another site (no preflight needed for these content types)
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            (415, {"error": "La requête doit être envoyée en JSON (Content-Type: application/json)."}),
        ),
        (
            {"Content-Type": "text/plain"},
            (415, {"error": "La requête doit être envoyée en JSON (Content-Type: application/json)."}),
        ),
        # a script on another site, as browsers label it
        ({"Content-Type": "application/json", "Origin": "https://pirate.example"}, CROSS_SITE),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, CROSS_SITE),
    ],
)
def test_the_chat_takes_messages_only_from_its_own_page(server, headers, expected):
    # Another site's page could make its visitors' browsers talk to the bot (and fill the store and the
    # indicators with their conversations): the chat webhook is refused as /chat/feedback is.
    sender = new_sender()
    body = json.dumps({"sender": sender, "message": "je voudrais refaire ma carte grise"}).encode()
    assert chat_post(server, body, headers) == expected
    assert rows(server, "select count(*) from turns where conversation_id = ?", (sender,)) == [(0,)]
    # the same message from the page's own origin (the widget sends Origin and same-origin) is answered
    host = server.url.split("//", 1)[1]
    own = {"Content-Type": "application/json", "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
    status, messages = chat_post(server, body, own)
    assert status == 200 and "34 00" in bot_texts(messages)
    assert rows(server, "select topic from turns where conversation_id = ?", (sender,)) == [("carte_grise",)]


def test_the_page_is_served_with_a_content_security_policy(server):
    status, html, headers = server.get("/chat/")
    assert status == 200
    assert "préfecture du Cantal" in html
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, css, _ = server.get("/chat/dsfr/dsfr.min.css")
    assert status == 200 and len(css) > 10000


def test_the_actions_endpoint_is_not_open_to_bad_requests(server):
    # Without the process's key (X-Aiguillage-Actions-Key): refused before the body is read
    # (tests/test_actions_endpoint.py has the key's own tests).
    status, answer = server.post("/webhooks/actions/webhook", {"next_action": "action_nope", "tracker": {}, "domain": {}})
    assert status == 403


HELP_WITH_THE_LICENCE = "j'ai besoin d'aide pour refaire mon permis de conduire sur internet"


def answer_marker(messages: list[dict]) -> dict:
    return next(m["custom"]["answer"] for m in messages if "answer" in (m.get("custom") or {}))


def test_an_answer_carries_the_other_likely_topics_for_the_page(server):
    marker = answer_marker(server.say(new_sender(), HELP_WITH_THE_LICENCE))
    titles = [b["title"] for b in marker["alternatives"]]
    assert (marker["topic"], marker["destination"]) == ("permis_conduire", "ants_3400")
    # help words: the PAN first among them; a person last; never the answer given
    assert (titles[0], titles[-1], "Permis de conduire" in titles, len(titles)) == (
        "Aide pour une démarche en ligne",
        "Parler à un agent",
        False,
        4,
    )
    assert marker["alternatives"][0]["payload"] == '/navigate{"node":"rdv_pan"}'


@pytest.mark.parametrize("said", ["non c'est pas ça", "mauvaise réponse", "vous n'avez pas compris"])
def test_saying_the_answer_is_not_it_offers_the_other_likely_topics(server, said):
    sender = new_sender()
    alternatives = answer_marker(server.say(sender, HELP_WITH_THE_LICENCE))["alternatives"]
    messages = server.say(sender, said)
    assert bot_texts(messages) == (
        "D'accord. Votre question porte-t-elle plutôt sur l'un de ces thèmes ? "
        "Sinon, dites-moi en quelques mots ce que vous cherchez."
    )
    assert [m.get("buttons") for m in messages if m.get("buttons")] == [alternatives]
    # asked again, as a clarification is: the conversation is unresolved until a topic is chosen (the
    # agents' queue), the turn kept under the topic of the answer it says is wrong
    status = "select status from conversations where id = ?"
    assert rows(server, status, (sender,)) == [("unresolved",)]
    chosen = server.say(sender, alternatives[0]["payload"])
    assert "médiateur numérique" in bot_texts(chosen)
    stored = rows(
        server, "select topic, action, destination, resolved from turns where conversation_id = ? order by id", (sender,)
    )
    assert stored == [
        ("permis_conduire", "answer", "ants_3400", 1),
        ("permis_conduire", "clarify", None, 0),
        ("rdv_pan", "answer", "pan_rdv", 1),
    ]
    assert rows(server, status, (sender,)) == [("open",)]


@pytest.mark.parametrize("deny", [None, "non c'est pas ça"])
def test_a_topic_chosen_among_an_answers_alternatives_names_the_turn_it_corrects(server, deny):
    """The person's own label for their words: after the rating's « Non » the page shows the answer's
    alternatives (nothing is said in between), after a typed no the assistant does; the answer they then
    choose keeps the id of the turn it corrects (`turns.corrects`), for the agents to teach from."""
    sender = new_sender()
    alternatives = answer_marker(server.say(sender, HELP_WITH_THE_LICENCE))["alternatives"]
    if deny:
        server.say(sender, deny)
    server.say(sender, alternatives[0]["payload"])
    stored = rows(server, "select id, topic, action, corrects from turns where conversation_id = ? order by id", (sender,))
    first = stored[0][0]
    assert [row[1:] for row in stored] == [
        ("permis_conduire", "answer", None),
        *([("permis_conduire", "clarify", None)] if deny else []),
        ("rdv_pan", "answer", first),
    ]


def test_a_person_chosen_among_the_alternatives_or_a_button_elsewhere_corrects_nothing(server):
    """ "Parler à un agent" names no topic to teach; a button of a clarification follows no answer."""
    sender = new_sender()
    alternatives = answer_marker(server.say(sender, HELP_WITH_THE_LICENCE))["alternatives"]
    assert alternatives[-1]["title"] == "Parler à un agent"
    server.say(sender, "non c'est pas ça")
    server.say(sender, alternatives[-1]["payload"])
    other = new_sender()
    asked = server.say(other, "bonjour j'ai une question")
    buttons = [b for m in asked for b in m.get("buttons") or []]
    server.say(other, buttons[0]["payload"])
    stored = rows(server, "select corrects from turns where conversation_id in (?, ?)", (sender, other))
    assert len(stored) == 5 and {row[0] for row in stored} == {None}


def test_a_no_without_an_answer_before_it_gets_the_menu_of_topics(server):
    sender = new_sender()
    server.say(sender, "merci")
    messages = server.say(sender, "non c'est pas ça")
    assert bot_texts(messages) == "D'accord. Dites-moi en quelques mots ce que vous cherchez, ou choisissez un thème."
    assert bot_buttons(messages)[:2] == ["Carte grise, permis, carte d'identité ou passeport", "Titre de séjour, naturalisation"]


@pytest.mark.parametrize("said", ["non merci", "Non merci, au revoir", "non c'est bon"])
def test_a_no_thanks_after_an_answer_keeps_it_answered(server, said):
    """ "non merci" closes: the answer stands (no alternatives, the conversation stays resolved), as the
    phone's `spoken_done` ends a call after an answer."""
    sender = new_sender()
    server.say(sender, HELP_WITH_THE_LICENCE)
    messages = server.say(sender, said)
    assert "Votre question porte-t-elle plutôt" not in bot_texts(messages)
    assert rows(server, "select status from conversations where id = ?", (sender,)) == [("open",)]
