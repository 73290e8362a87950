"""The chat page without JavaScript, beyond one question and its answer (bot/web/chat_page.py,
docs/chat-page.md).

Each request is the one a browser sends: every field of the page's form (tests/test_chat_nojs.py
`post_form` sends only the fields it names), form-urlencoded, `Sec-Fetch-Site: same-origin` and the
page's `Origin`; and one whole conversation in real Chromium with JavaScript off.

Before the change that made them pass, each test below failed:
- a 429 or a 503 gave the notice and the question back, but not the conversation so far;
- a form sent again (Enter pressed twice, a reload that re-sends it) ran its question again: a
  second answer, and for the first question of a page a second conversation under a new id;
- the rating (« Cette réponse vous a-t-elle aidé ? ») was offered by chat.js only: nothing in the page
  to rate with, and a rating posted to /chat/ ran « true » as a question;
- « Retour à l'assistant » on /rdv/ was a link to /chat/: the page came back empty.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest
from conftest import db_rows, free_port, launch, stop, until
from playwright.sync_api import expect
from store_backends import server_on_postgresql
from test_accessibility import assert_axe_clean
from test_chat_nojs import (
    PAN_QUESTION,
    QUESTION,
    RETRY_LATER,
    TOO_MANY,
    VAGUE,
    answers,
    as_served,
    history,
    no_js,
    questions,
    sender,
)
from test_health import frozen

CARTE_GRISE = "je dois refaire ma carte grise"  # a routed answer: the rating is offered
# bot/tree.yml chat.script (rating_*, comment_*), requests (nothing_to_rate), pan.page.back_to_chat,
# chat.page.conversation_unreadable
RATING_QUESTION = "Cette réponse vous a-t-elle aidé ?"
THANKS = "Merci pour votre avis."
COMMENT_THANKS = "Merci pour votre avis et votre commentaire."
COMMENT_MISSING = "Écrivez un commentaire, ou laissez ce champ vide."
NOTHING_TO_RATE = "Il n'y a pas de réponse à évaluer"
BACK = "Retour à l'assistant"
UNREADABLE = "La conversation ne peut pas être affichée pour le moment"
SIMPLER = "vous répond sous une forme simplifiée"


class Page(HTMLParser):
    """What a browser would send from a page of /chat/: its forms (action, method, fields), their
    buttons; the bubbles of the conversation (user ones by their text)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.html = html
        self.forms: list[dict] = []
        self.form: dict | None = None
        self.button: dict | None = None
        self.user: list[str] = []
        self.in_user = 0
        self.links: list[dict] = []
        self.link: dict | None = None
        self.parts: list[str] = []
        self.in_script = False
        self.feed(html)
        self.text = " ".join(" ".join(self.parts).split())  # every text of the page, as shown

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.in_script = tag == "script"  # the page's texts for chat.js: data, not shown
        if tag == "form":
            self.form = {"id": attrs.get("id", ""), "action": attrs.get("action", ""), "method": attrs.get("method", "get")}
            self.form |= {"fields": {}, "buttons": [], "class": attrs.get("class", "")}
            self.forms.append(self.form)
        elif tag in ("input", "textarea") and self.form is not None and attrs.get("name"):
            self.form["fields"][attrs["name"]] = attrs.get("value", "")
        elif tag == "button" and self.form is not None:
            self.button = {"name": attrs.get("name"), "value": attrs.get("value", ""), "text": ""}
            self.form["buttons"].append(self.button)
        elif tag == "a":
            self.link = {"href": attrs.get("href", ""), "text": ""}
            self.links.append(self.link)
        elif tag == "div" and attrs.get("data-role") == "user":
            self.in_user = 1
            self.user.append("")
        elif tag == "div" and self.in_user:
            self.in_user += 1

    def handle_endtag(self, tag):
        self.in_script = False
        if tag == "form":
            self.form = None
        elif tag == "button":
            self.button = None
        elif tag == "a":
            self.link = None
        elif tag == "div" and self.in_user:
            self.in_user -= 1

    def handle_data(self, data):
        if self.in_script:
            return
        self.parts.append(data)
        if self.link is not None:
            self.link["text"] += data
        if self.button is not None:
            self.button["text"] += data.strip()
        if self.in_user:
            self.user[-1] += data

    def questions(self) -> list[str]:
        return [" ".join(text.split()) for text in self.user]

    def main_form(self) -> dict:
        return next(f for f in self.forms if f["id"] == "chat-form")

    def pressing(self, text: str) -> tuple[str, dict]:
        """(the form's action, its fields) when the last button labelled `text` is pressed."""
        for form in reversed(self.forms):
            for button in form["buttons"]:
                if button["text"] == text:
                    fields = dict(form["fields"]) | ({button["name"]: button["value"]} if button["name"] else {})
                    return form["action"], fields
        raise AssertionError(f"no button « {text} » in the page")


def send(server, action: str, fields: dict, headers: dict | None = None) -> tuple[int, Page, dict]:
    """The form posted as a browser posts it: (status, the page, the headers)."""
    body = urllib.parse.urlencode(fields).encode()
    url = urllib.parse.urljoin(server.url + "/chat/", action).split("#")[0]
    own = {"Content-Type": "application/x-www-form-urlencoded", "Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    request = urllib.request.Request(url, data=body, headers=own | (headers or {}), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, Page(resp.read().decode()), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, Page(exc.read().decode()), exc.headers


def get(server, path: str = "/chat/", headers: dict | None = None) -> tuple[Page, dict]:
    request = urllib.request.Request(server.url + path, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return Page(resp.read().decode()), resp.headers


def ask(server, page: Page, text: str, headers: dict | None = None) -> tuple[int, Page, dict]:
    """`text` typed in the page's field and sent (Enter)."""
    form = page.main_form()
    return send(server, form["action"], form["fields"] | {"message": text}, headers)


def conversation_of(page: Page) -> str:
    return page.main_form()["fields"]["sender"]


def user_turns(server, conversation: str) -> int:
    """The questions Rasa keeps for the conversation (what a reload draws again)."""
    return len([turn for turn in history(server, conversation) if turn["role"] == "user"])


def rating_of(server, conversation: str) -> list[dict]:
    return db_rows(server.db, "select useful, comment, topic from feedback where kind = 'chat' and item_id = ?", [conversation])


# ---- the refusals: a flood (429), a back end down (503) ------------------------------------------


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two servers on one store, behind a "trusted proxy" (each test picks its client address with
    X-Forwarded-For, not exempt from the per-address limits): `up`, and `down`, whose lock store
    (Redis) does not answer (every turn refused with the 503, the conversations readable)."""
    tmp = tmp_path_factory.mktemp("nojs-pair")
    proxies = {"AIGUILLAGE_TRUSTED_PROXIES": "127.0.0.1, ::1"}
    (tmp / "up").mkdir()
    (tmp / "down").mkdir()
    up = launch(tmp / "up", db=tmp / "store.db", phone=False, extra_env=proxies)
    down = launch(
        tmp / "down", db=tmp / "store.db", phone=False, extra_env=proxies | {"LOCK_STORE_URL": f"redis://127.0.0.1:{free_port()}"}
    )
    yield up, down
    stop(down)
    stop(up)


def test_a_flood_s_429_draws_the_conversation_so_far(pair):
    up, _ = pair
    address = {"X-Forwarded-For": "203.0.113.21"}
    _, page, _ = ask(up, get(up)[0], QUESTION, address)
    for _ in range(59):  # prefectures/_national.yml throttle.per_address.chat.max: 60
        assert ask(up, page, "", address)[0] == 200
    status, refused, headers = ask(up, page, CARTE_GRISE, address)
    assert status == 429 and TOO_MANY in refused.text and 1 <= int(headers["Retry-After"]) <= 600
    assert refused.questions() == ["Vous : Mon passeport [n° passeport] est perdu, que faire"]
    assert refused.main_form()["fields"]["message"] == CARTE_GRISE  # to send again


def test_a_back_end_down_s_503_draws_the_conversation_so_far(pair):
    up, down = pair
    address = {"X-Forwarded-For": "203.0.113.22"}
    _, page, _ = ask(up, get(up)[0], QUESTION, address)
    status, refused, headers = ask(down, page, CARTE_GRISE, address)
    assert status == 503 and headers["Retry-After"] == "10" and RETRY_LATER in refused.text
    assert refused.questions() == ["Vous : Mon passeport [n° passeport] est perdu, que faire"]
    assert "Faites une pré-demande en ligne sur le site de l'ANTS" in refused.text  # its answer too
    assert refused.main_form()["fields"]["message"] == CARTE_GRISE and UNREADABLE not in refused.text


@pytest.fixture(scope="module")
def on_postgresql(tmp_path_factory):
    with server_on_postgresql(tmp_path_factory.mktemp("nojs-pg")) as both:
        yield both


def test_with_the_store_down_the_503_page_says_the_conversation_cannot_be_shown(on_postgresql):
    server, pg = on_postgresql
    _, page, _ = ask(server, get(server)[0], QUESTION)
    with frozen(pg):
        started = time.monotonic()
        status, refused, _ = ask(server, page, CARTE_GRISE)
        took = time.monotonic() - started
    assert status == 503 and took < 16, took  # one bound (settings.chat_answer_within_ms, 10 s), not two
    assert RETRY_LATER in refused.text and UNREADABLE in refused.text and SIMPLER in refused.text
    assert refused.main_form()["fields"]["message"] == CARTE_GRISE
    assert conversation_of(refused) == conversation_of(page)
    # PostgreSQL answers again: the conversation is drawn with the next answer
    _, answered, _ = until(lambda: (r := ask(server, refused, CARTE_GRISE))[0] == 200 and r, 60, "an answer after the thaw")
    assert answered.questions()[0] == "Vous : Mon passeport [n° passeport] est perdu, que faire"


# ---- a form sent twice ---------------------------------------------------------------------------


def test_the_first_question_sent_twice_runs_once_and_keeps_one_conversation(server):
    home, _ = get(server)
    _, first, _ = ask(server, home, QUESTION)
    _, again, _ = ask(server, home, QUESTION)  # the same form again (a reload re-sends it)
    assert conversation_of(again) == conversation_of(first)
    assert again.questions() == first.questions() == ["Vous : Mon passeport [n° passeport] est perdu, que faire"]
    assert again.main_form()["fields"].get("message", "") == ""  # answered: nothing given back to send again
    assert user_turns(server, conversation_of(first)) == 1


def test_a_later_question_sent_twice_runs_once_and_gets_the_conversation_as_it_stands(server):
    _, first, _ = ask(server, get(server)[0], VAGUE)
    _, second, _ = send(server, *first.pressing("Carte grise, permis, carte d'identité ou passeport"))
    _, again, _ = send(server, *first.pressing("Carte grise, permis, carte d'identité ou passeport"))
    assert (
        again.questions()
        == second.questions()
        == [f"Vous : {VAGUE}", "Vous : Carte grise, permis, carte d'identité ou passeport"]
    )
    assert user_turns(server, conversation_of(first)) == 2
    # a new question from the page answered is run
    _, third, _ = ask(server, again, "Carte d'identité ou passeport")
    assert len(third.questions()) == 3 and user_turns(server, conversation_of(first)) == 3


def test_two_copies_of_one_form_arriving_together_run_once(server):
    _, first, _ = ask(server, get(server)[0], VAGUE)
    pages: list = []
    copies = [threading.Thread(target=lambda: pages.append(ask(server, first, CARTE_GRISE))) for _ in range(2)]
    for copy in copies:
        copy.start()
    for copy in copies:
        copy.join()
    assert [status for status, _, _ in pages] == [200, 200]
    assert [len(page.questions()) for _, page, _ in pages] == [2, 2]
    assert user_turns(server, conversation_of(first)) == 2


def test_a_form_sent_again_is_known_to_another_process_of_the_store(pair):
    """The form's token is kept with the conversation in the store, not in one process's memory: the
    same form sent again after a restart, or to another process, is not run again. Here that process
    cannot run a turn at all (Redis down): it answers with the conversation as it stands."""
    up, down = pair
    address = {"X-Forwarded-For": "203.0.113.23"}
    home, _ = get(up)
    _, first, _ = ask(up, home, QUESTION, address)
    status, again, _ = ask(down, home, QUESTION, address)
    assert status == 200 and again.questions() == first.questions() and conversation_of(again) == conversation_of(first)
    assert RETRY_LATER not in again.text


# ---- the rating ----------------------------------------------------------------------------------


def test_a_routed_answer_offers_the_rating_and_its_buttons_record_it_as_the_script_does(server):
    status, page, _ = ask(server, get(server)[0], CARTE_GRISE)
    assert status == 200 and RATING_QUESTION in page.text
    conversation = conversation_of(page)
    status, rated, headers = send(server, *page.pressing("Non"))
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert THANKS in rated.text and RATING_QUESTION not in rated.text
    assert rated.questions() == [f"Vous : {CARTE_GRISE}"]  # the conversation, as before the rating
    assert conversation_of(rated) == conversation
    until(lambda: rating_of(server, conversation) == [{"useful": 0, "comment": None, "topic": "carte_grise"}], 10, "the rating")
    # then the comment, as the script offers it: masked before it is written
    action, fields = rated.pressing("Envoyer le commentaire")
    status, commented, _ = send(server, action, fields | {"comment": "Trop long. Mon numéro : 07 98 76 54 32"})
    assert status == 200 and COMMENT_THANKS in commented.text
    expected = [{"useful": 0, "comment": "Trop long. Mon numéro : [téléphone]", "topic": "carte_grise"}]
    until(lambda: rating_of(server, conversation) == expected, 10, "the comment")
    assert "07 98 76 54 32" not in commented.html


HELP_WITH_THE_LICENCE = "j'ai besoin d'aide pour refaire mon permis de conduire sur internet"
NOT_THAT = "Votre question porte-t-elle plutôt sur l'un de ces thèmes ?"  # chat.script.rating_alternatives


def test_after_no_the_other_likely_topics_are_offered_and_one_is_answered(server):
    _, page, _ = ask(server, get(server)[0], HELP_WITH_THE_LICENCE)
    assert NOT_THAT not in page.text
    _, liked, _ = send(server, *page.pressing("Oui"))
    assert NOT_THAT not in liked.text  # « Oui »: nothing more to offer
    _, page, _ = ask(server, get(server)[0], HELP_WITH_THE_LICENCE)
    _, rated, _ = send(server, *page.pressing("Non"))
    assert THANKS in rated.text and NOT_THAT in rated.text
    action, fields = rated.pressing("Parler à un agent")
    assert fields["message"] == '/navigate{"node":"human"}' and fields["token"]
    # the comment sent: the topics are still there
    action, fields = rated.pressing("Envoyer le commentaire")
    _, commented, _ = send(server, action, fields | {"comment": "pas ma question"})
    assert COMMENT_THANKS in commented.text and NOT_THAT in commented.text
    status, answered, _ = send(server, *commented.pressing("Aide pour une démarche en ligne"))
    assert status == 200 and "médiateur numérique" in answered.text
    assert answered.questions() == [f"Vous : {HELP_WITH_THE_LICENCE}", "Vous : Aide pour une démarche en ligne"]
    # the topic chosen is kept as the correction of the answer (the console's « Réponses corrigées »)
    turns = db_rows(
        server.db, "select id, topic, corrects from turns where conversation_id = ? order by id", [conversation_of(page)]
    )
    assert [(t["topic"], t["corrects"]) for t in turns] == [("permis_conduire", None), ("rdv_pan", turns[0]["id"])]


def test_an_empty_comment_is_refused_in_its_field_and_the_rating_stays(server):
    _, page, _ = ask(server, get(server)[0], CARTE_GRISE)
    _, rated, _ = send(server, *page.pressing("Oui"))
    action, fields = rated.pressing("Envoyer le commentaire")
    status, refused, _ = send(server, action, fields | {"comment": "   "})
    assert status == 400 and COMMENT_MISSING in refused.text
    assert re.search(r'<textarea[^>]*aria-invalid="true"[^>]*aria-describedby="chat-commentaire-erreur', refused.html)
    assert rating_of(server, conversation_of(page)) == [{"useful": 1, "comment": None, "topic": "carte_grise"}]


def test_no_rating_after_a_clarification_and_a_forged_one_gets_the_script_s_refusal(server):
    _, page, _ = ask(server, get(server)[0], VAGUE)
    assert RATING_QUESTION not in page.text
    conversation = conversation_of(page)
    status, refused, _ = send(server, "/chat/", {"sender": conversation, "useful": "true"})
    assert status == 409 and NOTHING_TO_RATE in refused.text
    assert refused.questions() == [f"Vous : {VAGUE}"]  # the conversation is still drawn
    assert user_turns(server, conversation) == 1 and rating_of(server, conversation) == []  # no question « true »


def test_a_rating_from_another_site_records_nothing(server):
    _, page, _ = ask(server, get(server)[0], CARTE_GRISE)
    action, fields = page.pressing("Oui")
    status, refused, _ = send(server, action, fields, {"Origin": "https://ailleurs.example", "Sec-Fetch-Site": "cross-site"})
    assert status == 200 and SIMPLER in refused.text and THANKS not in refused.text
    assert conversation_of(page) not in refused.html
    time.sleep(0.5)
    assert rating_of(server, conversation_of(page)) == []


# ---- the way back from the booking pages ---------------------------------------------------------


def test_the_way_back_from_the_booking_pages_keeps_the_conversation_without_a_url_holding_it(server):
    _, page, headers = ask(server, get(server)[0], PAN_QUESTION)
    conversation = conversation_of(page)
    cookie = headers["Set-Cookie"]
    assert "=web-" in cookie and "Path=/rdv" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert not re.search(r'href="[^"]*' + conversation, page.html)  # never in a link (nginx logs each URL)
    pair = cookie.split(";")[0]
    booking, _ = get(server, "/rdv/", {"Cookie": pair})
    action, fields = booking.pressing(BACK)
    assert action.startswith("/chat/") and fields == {"sender": conversation}
    status, back, _ = send(server, action, fields)
    assert status == 200 and back.questions() == [f"Vous : {PAN_QUESTION}"]
    assert conversation_of(back) == conversation and RATING_QUESTION not in back.text  # drawn again: not asked again
    assert user_turns(server, conversation) == 1
    # no conversation: the link, as before; « Nouvelle conversation » (GET /chat/) forgets it
    alone, _ = get(server, "/rdv/")
    assert {"href": "/chat/", "text": BACK} in alone.links and not any(
        b["text"] == BACK for f in alone.forms for b in f["buttons"]
    )
    _, headers = get(server)
    assert "Max-Age=0" in headers["Set-Cookie"] and "Path=/rdv" in headers["Set-Cookie"]


# ---- the whole round trip in Chromium without JavaScript -----------------------------------------


def test_without_javascript_a_conversation_is_rated_sent_twice_and_found_again_after_the_booking_pages(browser, server):
    pg = no_js(browser, server)
    pg.fill("#chat-input", CARTE_GRISE)
    with pg.expect_navigation():
        pg.press("#chat-input", "Enter")
    rating = pg.locator("#chat-log [data-role=rating]")
    expect(rating.get_by_role("group", name=RATING_QUESTION)).to_be_visible()
    conversation = sender(pg)
    # Rated, then a comment, as the script offers them.
    with pg.expect_navigation():
        pg.get_by_role("button", name="Oui").click()
    expect(rating).to_contain_text(THANKS)
    expect(questions(pg)).to_have_text([f"Vous : {CARTE_GRISE}"])
    assert_axe_clean(as_served(pg), "chat without JavaScript, rated")
    pg.get_by_label("Un commentaire ? (facultatif)").fill("Clair et rapide.")
    with pg.expect_navigation():
        pg.get_by_role("button", name="Envoyer le commentaire").click()
    expect(rating).to_have_text(COMMENT_THANKS)
    expected = [{"useful": 1, "comment": "Clair et rapide.", "topic": "carte_grise"}]
    until(lambda: rating_of(server, conversation) == expected, 10, "the rating")
    # Another question; the browser sends its form again (a reload after a post): not run twice.
    pg.fill("#chat-input", PAN_QUESTION)
    with pg.expect_navigation():
        pg.press("#chat-input", "Enter")
    with pg.expect_navigation():
        pg.reload()
    expect(questions(pg)).to_have_text([f"Vous : {CARTE_GRISE}", f"Vous : {PAN_QUESTION}"])
    expect(answers(pg)).to_have_count(2)
    assert user_turns(server, conversation) == 2 and sender(pg) == conversation
    # A booking page opened from the answer, then back to the assistant: the same conversation.
    with pg.context.expect_page() as opened:
        answers(pg).last.get_by_role("link", name="Prendre rendez-vous ici").click()
    booking = opened.value
    expect(booking.locator("h1")).to_have_text("Prendre rendez-vous au point d'accueil numérique")
    assert conversation not in booking.url
    with booking.expect_navigation():
        booking.get_by_role("button", name=BACK).click()
    expect(questions(booking)).to_have_text([f"Vous : {CARTE_GRISE}", f"Vous : {PAN_QUESTION}"])
    assert sender(booking) == conversation and conversation not in booking.url
    # That booking page with its way back, checked by axe (with JavaScript: axe runs in the page).
    context = browser.new_context(locale="fr-FR")
    context.add_cookies(pg.context.cookies())
    twin = context.new_page()
    twin.goto(server.url + "/rdv/")
    expect(twin.get_by_role("button", name=BACK)).to_be_visible()
    assert_axe_clean(twin, "booking page with the way back to a conversation")
    context.close()
    pg.context.close()
