"""The chat page without JavaScript (progressive enhancement): JavaScript off, blocked by an
institution's policy, or not loaded yet on a slow connection.

The form posts to /chat/ (the question never goes into a URL: the browser's history, nginx's and the
server's access logs); the server runs the very turn POST /chat/webhook runs (the same masking, limits,
bound and Rasa conversation) and gives the page back with the conversation so far, drawn as
web/static/chat.js draws it: the lead, the list, « En savoir plus » in a <details>, the préfecture's
confirmed numbers as tel: links, the links (a new window said so). An answer's buttons are submit buttons
(clarifications and menus work); where the script draws its in-page widget (a booking, a message to a
service), a link to the pages that work without JavaScript (/rdv/, /rdv/message?service=). The
conversation id travels in a hidden field; « Nouvelle conversation » starts another. A notice says that
the assistant works in a simpler form, and what else works without JavaScript.

test_without_javascript_a_question_sent_never_reaches_the_url failed before cc1c3d8: the form had no
method, Enter sent GET /chat/?message=Mon+passeport+19XK42871+... Until this change the question was
never answered without JavaScript: the page came back with a notice only (the tests below, but for
those of the notice and of a post from another site, failed: no answer in the page).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from conftest import free_port, launch, stop
from playwright.sync_api import expect
from test_accessibility import assert_axe_clean, sideways

PASSPORT = "19XK42871"
QUESTION = f"Mon passeport {PASSPORT} est perdu, que faire"
MASKED = "Vous : Mon passeport [n° passeport] est perdu, que faire"
# bot/tree.yml chat.page.no_script
SIMPLER = "vous répond sous une forme simplifiée"
# bot/tree.yml nodes.cni_passeport
ANTS_LEAD = (
    "Assistant : Faites une pré-demande en ligne sur le site de l'ANTS, puis prenez rendez-vous dans une mairie"
    " équipée d'un dispositif de recueil."
)
ANTS_LINK = "Faire ma pré-demande de carte d'identité ou de passeport (ANTS)"
VAGUE = "j'ai une question sur mes papiers"
PAN_QUESTION = "je voudrais de l aide pour une démarche en ligne"
ARMS_QUESTION = "j'ai une question sur la détention d'une arme"
# bot/tree.yml chat.script.retry_later, requests.too_many
RETRY_LATER = "L'assistant est momentanément indisponible à cause d'un incident technique."
TOO_MANY = "Trop de demandes venues de votre connexion en peu de temps."
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


def no_js(browser, server, viewport: dict = DESKTOP, headers: dict | None = None):
    """A page of /chat/ in a context without JavaScript; `pg.document` keeps the HTML of the page shown,
    as the server sent it (for axe, which needs scripts: `as_served`)."""
    context = browser.new_context(viewport=viewport, locale="fr-FR", java_script_enabled=False, extra_http_headers=headers)
    context.set_default_timeout(60_000)
    pg = context.new_page()
    pg.document = None

    def keep_document(resp):
        if resp.request.is_navigation_request() and resp.frame == pg.main_frame and not 300 <= resp.status < 400:
            pg.document = (resp.url, resp.status, resp.body())

    pg.on("response", keep_document)
    pg.goto(server.url + "/chat/")
    return pg


@pytest.fixture
def no_js_page(browser, server):
    pg = no_js(browser, server)
    yield pg
    pg.context.close()


def as_served(pg):
    """What `pg` shows, in a second context where axe can run: the same HTML at the same address, with
    the same stylesheets, and every script of the page blocked (as a browser without JavaScript)."""
    url, status, body = pg.document
    context = pg.context.browser.new_context(viewport=pg.viewport_size, locale="fr-FR")
    context.set_default_timeout(30_000)
    twin = context.new_page()
    twin.route("**/*.js", lambda route: route.abort())
    twin.route(url, lambda route: route.fulfill(status=status, content_type="text/html; charset=utf-8", body=body))
    twin.goto(url)
    return twin


def answers(pg):
    return pg.locator("#chat-log [data-role=bot]:not(.chat__msg--welcome)")


def questions(pg):
    return pg.locator("#chat-log [data-role=user]")


def sender(pg) -> str | None:
    field = pg.locator("#chat-form input[name=sender]")
    return field.get_attribute("value") if field.count() else None


def send(pg, text: str):
    """Types `text` and presses Enter, as a person does: the page that comes back; its last answer."""
    pg.fill("#chat-input", text)
    with pg.expect_navigation():
        pg.press("#chat-input", "Enter")
    return answers(pg).last


def press(pg, title: str):
    """Presses the last button titled `title` in the conversation: its last answer."""
    with pg.expect_navigation():
        pg.locator("#chat-log").get_by_role("button", name=title, exact=True).last.click()
    return answers(pg).last


def notice_holds_what_works_without_javascript(pg) -> None:
    notice = pg.locator("#chat-nojs")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(SIMPLER)
    expect(notice.locator("a[href='/rdv/']")).to_have_count(1)  # the booking pages work without JavaScript
    expect(notice.locator("a[href^='tel:']")).to_have_count(1)  # the préfecture's confirmed number
    expect(notice).to_contain_text("du lundi au vendredi")  # and its hours


def test_without_javascript_the_page_says_so_before_anything_is_typed(no_js_page):
    notice_holds_what_works_without_javascript(no_js_page)
    expect(no_js_page.locator("#chat-form")).to_have_attribute("method", "post")
    # The welcome's topics are buttons of a form too, and nothing is said yet.
    expect(no_js_page.locator("#chat-log button[type=submit][name=message]").first).to_be_visible()
    expect(questions(no_js_page)).to_have_count(0)
    expect(no_js_page.get_by_role("button", name="Nouvelle conversation")).to_be_hidden()


def test_without_javascript_a_question_sent_never_reaches_the_url(no_js_page, server):
    logged = server.log.stat().st_size
    send(no_js_page, QUESTION)
    url = no_js_page.url
    assert url.startswith(server.url + "/chat/")
    for part in (PASSPORT, "passeport", "message="):
        assert part not in url, url
    notice_holds_what_works_without_javascript(no_js_page)
    expect(no_js_page.locator("#chat-nojs")).to_have_count(1)  # one notice, not the <noscript> one as well
    # Answered now (it was given back in the field, unsent): the field is empty for the next question.
    expect(no_js_page.locator("#chat-input")).to_have_value("")
    expect(questions(no_js_page)).to_have_count(1)
    with open(server.log, "rb") as out:
        out.seek(logged)
        assert PASSPORT.encode() not in out.read()


def test_without_javascript_a_passport_question_is_answered_as_the_script_draws_it(no_js_page, server):
    answer = send(no_js_page, QUESTION)
    # The question as the assistant read it, masked (as the chat draws it again after a reload).
    expect(questions(no_js_page)).to_have_text([MASKED])
    assert PASSPORT not in no_js_page.content()
    expect(answer.locator(".chat__lead")).to_have_text(ANTS_LEAD)
    more = answer.locator("details.chat__more")
    expect(more.locator("summary")).to_have_text("En savoir plus")
    expect(more).not_to_have_attribute("open", "")
    more.locator("summary").click()
    expect(more).to_contain_text("pas forcément celle de votre commune")
    expect(answer.locator("a[href^='tel:']")).to_have_count(0)  # the ANTS's 34 00 is not confirmed: text
    link = answer.get_by_role("link", name=ANTS_LINK)
    expect(link).to_have_attribute("href", "https://ants.gouv.fr")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_contain_text("(nouvelle fenêtre)")
    # The leaf's buttons send their payloads, as the script does.
    buttons = answer.locator("button[type=submit][name=message]")
    expect(buttons).to_have_text(["Passeport d'urgence", "Aide pour une démarche en ligne"])
    assert buttons.first.get_attribute("value") == '/navigate{"node":"passeport_urgence"}'
    assert sender(no_js_page).startswith("web-") and len(sender(no_js_page)) == 22  # chat.js's randomId()


def test_without_javascript_a_clarification_s_buttons_lead_to_an_answer_in_the_same_conversation(no_js_page):
    first = send(no_js_page, VAGUE)
    expect(first).to_contain_text("De quelle démarche s'agit-il ?")
    conversation = sender(no_js_page)
    second = press(no_js_page, "Carte grise, permis, carte d'identité ou passeport")
    expect(second).to_contain_text("Quel document vous concerne ?")
    third = press(no_js_page, "Carte d'identité ou passeport")
    expect(third.locator(".chat__lead")).to_have_text(ANTS_LEAD)
    # The whole conversation, in its order, under one id: each answer follows the one before it.
    expect(questions(no_js_page)).to_have_text(
        [f"Vous : {VAGUE}", "Vous : Carte grise, permis, carte d'identité ou passeport", "Vous : Carte d'identité ou passeport"]
    )
    expect(answers(no_js_page)).to_have_count(3)
    assert sender(no_js_page) == conversation
    assert_axe_clean(as_served(no_js_page), "chat without JavaScript, after a clarification")


def test_without_javascript_the_welcome_s_topics_work_and_confirmed_numbers_are_tel_links(no_js_page):
    with no_js_page.expect_navigation():
        no_js_page.locator("#chat-log .chat__msg--welcome").get_by_role("button", name="Parler à un agent").click()
    answer = answers(no_js_page).last
    expect(questions(no_js_page)).to_have_text(["Vous : Parler à un agent"])
    expect(answer.locator(".chat__lead a.chat__tel[href='tel:+33471462300']")).to_have_text("04\u00a071\u00a046\u00a023\u00a000")
    # A message to the préfecture: the page of the form, not the script's widget.
    expect(answer.get_by_role("link", name="Laisser un message ici")).to_have_attribute("href", "/rdv/message?service=courrier")


def test_without_javascript_the_pan_answer_links_to_the_booking_pages_that_work(no_js_page):
    answer = send(no_js_page, PAN_QUESTION)
    expect(answer.locator(".chat__items li")).to_have_count(3)  # the three PAN sites
    book = answer.get_by_role("link", name="Prendre rendez-vous ici")
    expect(book).to_have_attribute("href", "/rdv/")  # no reason known from this conversation
    with no_js_page.context.expect_page() as opened:
        book.click()
    booking = opened.value
    expect(booking.locator("h1")).to_have_text("Prendre rendez-vous au point d'accueil numérique")
    booking.get_by_role("button", name="Voir les créneaux libres").click()
    expect(booking.locator("input[name=slot]").first).to_be_checked()


def test_without_javascript_the_booking_link_names_the_conversation_s_reason(no_js_page):
    send(no_js_page, QUESTION)
    answer = press(no_js_page, "Aide pour une démarche en ligne")
    book = answer.get_by_role("link", name="Prendre rendez-vous ici")
    expect(book).to_have_attribute("href", "/rdv/?motif=cni_passeport")  # the script puts that reason first
    with no_js_page.context.expect_page() as opened:
        book.click()
    expect(opened.value.locator("#motif")).to_have_value("cni_passeport")


def test_without_javascript_a_message_answer_links_to_the_message_form(no_js_page):
    answer = send(no_js_page, ARMS_QUESTION)
    leave = answer.get_by_role("link", name="Laisser un message ici")
    expect(leave).to_have_attribute("href", "/rdv/message?service=armes")
    with no_js_page.context.expect_page() as opened:
        leave.click()
    form = opened.value
    expect(form.locator("h1")).to_contain_text("bureau des polices administratives (armes)")
    expect(form.locator("#subject")).to_be_visible()
    expect(form.locator("#body")).to_be_visible()


def test_without_javascript_a_new_conversation_starts_empty_under_another_id(no_js_page):
    send(no_js_page, QUESTION)
    before = sender(no_js_page)
    with no_js_page.expect_navigation():
        no_js_page.get_by_role("button", name="Nouvelle conversation").click()
    expect(questions(no_js_page)).to_have_count(0)
    expect(answers(no_js_page)).to_have_count(0)
    assert PASSPORT not in no_js_page.url
    send(no_js_page, PAN_QUESTION)
    expect(questions(no_js_page)).to_have_text([f"Vous : {PAN_QUESTION}"])
    assert sender(no_js_page) not in (None, before)


def test_without_javascript_on_a_phone_nothing_scrolls_sideways_and_axe_finds_nothing(browser, server):
    pg = no_js(browser, server, PHONE)
    send(pg, PAN_QUESTION)  # a list, the links, the booking link
    send(pg, QUESTION)  # a disclosure, buttons
    assert sideways(pg) == 0
    twin = as_served(pg)
    assert sideways(twin) == 0
    assert_axe_clean(twin, "chat without JavaScript, 375 px")
    twin.context.close()
    pg.context.close()


def test_an_empty_question_gets_the_empty_answer_and_its_topics(no_js_page):
    answer = send(no_js_page, "   ")
    expect(questions(no_js_page)).to_have_count(0)
    expect(answer.locator("button[type=submit][name=message]").first).to_be_visible()
    assert sender(no_js_page).startswith("web-")


ENGLISH = "I only understand French."


def test_without_javascript_an_answer_s_english_part_is_marked_english(no_js_page):
    """RGAA 8.8: a change of language is marked, so that a screen reader reads it in English."""
    answer = send(no_js_page, "Hello, I lost my passport, what should I do?")
    expect(answer.locator("p.chat__lead")).to_contain_text("Je comprends uniquement le français.")
    english = answer.locator('p[lang="en"]')
    expect(english).to_have_count(1)
    expect(english).to_contain_text(ENGLISH)
    assert ENGLISH not in answer.locator("p.chat__lead").inner_text()


def test_with_javascript_an_answer_s_english_part_is_marked_english(browser, server):
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    pg = context.new_page()
    pg.goto(server.url + "/chat/")
    pg.wait_for_load_state("networkidle")
    pg.fill("#chat-input", "Hello, I lost my passport, what should I do?")
    pg.press("#chat-input", "Enter")
    english = answers(pg).last.locator('p[lang="en"]')
    expect(english).to_have_count(1, timeout=60_000)
    expect(english).to_contain_text(ENGLISH)
    assert ENGLISH not in answers(pg).last.locator("p.chat__lead").inner_text()
    context.close()


def test_with_javascript_the_question_is_answered_in_the_page_and_the_url_is_unchanged(browser, server):
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    pg = context.new_page()
    pg.goto(server.url + "/chat/")
    pg.wait_for_load_state("networkidle")
    expect(pg.locator("#chat-nojs")).to_have_count(0)
    pg.fill("#chat-input", QUESTION)
    pg.press("#chat-input", "Enter")
    expect(answers(pg)).to_have_count(1, timeout=60_000)
    assert pg.url == server.url + "/chat/"
    context.close()


def test_a_page_posted_before_the_script_ran_goes_on_with_it_under_the_same_id(browser, server):
    """A slow connection: the form is sent before chat.js has run; the page the server draws then loads
    it, and the script carries on that conversation (its next question, a reload) instead of its own."""
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    context.set_default_timeout(60_000)
    pg = context.new_page()
    pg.route("**/chat/static/chat.js", lambda route: route.abort())  # not loaded yet
    pg.goto(server.url + "/chat/")
    pg.unroute("**/chat/static/chat.js")  # the page answered to the form will load it
    send(pg, VAGUE)
    conversation = sender(pg)
    pg.wait_for_load_state("networkidle")
    expect(pg.locator("#chat-nojs")).to_have_count(0)
    assert pg.evaluate("window.localStorage.getItem('aiguillage-sender')") == conversation
    before = answers(pg).count()
    pg.locator("#chat-log").get_by_role("button", name="Carte grise, permis, carte d'identité ou passeport").last.click()
    expect(answers(pg)).to_have_count(before + 1)
    expect(answers(pg).last).to_contain_text("Quel document vous concerne ?")
    assert [t["text"] for t in history(server, conversation) if t["role"] == "user"][-1] == (
        "Carte grise, permis, carte d'identité ou passeport"
    )
    context.close()


def post_form(server, fields: dict, headers: dict | None = None) -> tuple[int, str, dict]:
    body = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(
        server.url + "/chat/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"} | (headers or {})
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def history(server, conversation: str) -> list:
    with urllib.request.urlopen(f"{server.url}/chat/history?sender={conversation}", timeout=30) as resp:
        return json.loads(resp.read())["turns"]


def test_a_post_from_another_site_gets_the_notice_and_runs_no_turn(server):
    conversation = "web-ailleursAAAAAAAAAAAAAA"
    fields = {"sender": conversation, "message": f"carte grise {PASSPORT}"}
    status, page, headers = post_form(server, fields, {"Origin": "https://ailleurs.example"})
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert SIMPLER in page and PASSPORT not in page and conversation not in page
    assert history(server, conversation) == []


def test_a_body_too_long_gets_the_french_413(server):
    status, page, headers = post_form(server, {"message": "a" * 200_000})
    assert status == 413 and headers["Cache-Control"] == "no-store"
    assert "Votre envoi est trop volumineux" in page


def test_the_server_draws_no_more_than_the_script_would():
    """bot/web/chat_view.py checks what reaches an attribute as chat.js does: a link of another
    protocol, a tel: link that is not a number, a button without a string payload are left out; the
    widget's pages are offered once each, for this site's links only, with the conversation's reason."""
    from bot.web.chat_view import drawn

    links = [
        {"title": "piège", "url": "javascript:alert(1)"},
        {"title": "piège", "url": " javascript:alert(1)"},
        {"title": "ailleurs", "url": "https://exemple.fr/rdv/"},
        {"title": "écrire", "url": "mailto:pref@exemple.fr"},
        {"title": "rdv", "url": "/rdv/"},
        {"title": "message", "url": "/rdv/message?service=armes"},
        {"title": "message", "url": "/rdv/message?service=titres"},
    ]
    messages = [
        {
            "text": "t",
            "display": {"lead": [{"text": "04", "tel": "javascript:x"}, {"text": "05", "tel": "tel:+33471462300"}]},
            "buttons": [{"title": "ok", "payload": "/navigate{}"}, {"title": "ko", "payload": 3}],
        },
        {"custom": {"links": links}},
        {"custom": {"answer": {"topic": "titre_sejour"}}},
    ]
    turns = [
        {"role": "bot", "messages": [{"custom": {"answer": {"topic": "carte_grise"}}}]},
        {"role": "bot", "messages": messages},
    ]
    shown = drawn(turns, ["carte_grise", "titre_sejour"], "indisponible")
    assert shown[0] == {"role": "error", "text": "indisponible", "phone": True}  # an answer with nothing to draw
    bubble = shown[1]
    assert bubble["display"]["lead"] == [{"text": "04"}, {"text": "05", "tel": "tel:+33471462300"}]
    assert bubble["buttons"] == [{"title": "ok", "payload": "/navigate{}"}]
    assert [link["url"] for link in bubble["links"]] == [
        "https://exemple.fr/rdv/",
        "mailto:pref@exemple.fr",
        "/rdv/",
        "/rdv/message?service=armes",
        "/rdv/message?service=titres",
    ]
    assert [link["new_window"] for link in bubble["links"]] == [True, False, True, True, True]
    assert bubble["actions"] == [
        {"kind": "book", "url": "/rdv/?motif=titre_sejour"},
        {"kind": "message", "url": "/rdv/message?service=armes"},
    ]


# ---- the refusals: a back end down (503), a flood (429) ----------------------------------------------


@pytest.fixture(scope="module")
def down(tmp_path_factory):
    """A server whose lock store (Redis) does not answer: every turn is refused with the chat's 503 (issue
    16). Behind a "trusted proxy" (the loopback), so that each test picks its client address
    (X-Forwarded-For), and not exempt from the per-address limits."""
    env = {"LOCK_STORE_URL": f"redis://127.0.0.1:{free_port()}", "AIGUILLAGE_TRUSTED_PROXIES": "127.0.0.1, ::1"}
    running = launch(tmp_path_factory.mktemp("nojs-down"), phone=False, extra_env=env)
    yield running
    stop(running)


def test_a_back_end_down_gives_the_page_with_the_503_text_and_the_question_back(browser, down):
    pg = no_js(browser, down, headers={"X-Forwarded-For": "203.0.113.7"})
    pg.fill("#chat-input", QUESTION)
    with pg.expect_navigation() as navigation:
        pg.press("#chat-input", "Enter")
    response = navigation.value
    assert response.status == 503 and response.headers["retry-after"] == "10"
    assert response.headers["cache-control"] == "no-store"
    expect(pg.locator("#chat-log .chat__msg--error")).to_contain_text(RETRY_LATER)
    expect(pg.locator("#chat-log .chat__msg--error a[href='tel:+33471462300']")).to_have_count(1)  # as the script
    expect(pg.locator("#chat-input")).to_have_value(QUESTION)  # to send again: nothing was run
    assert PASSPORT not in pg.url
    kept = sender(pg)
    assert kept.startswith("web-")  # the conversation goes on under its id once the back end is back
    pg.context.close()


def test_a_flood_gives_the_french_429_in_the_page(down):
    address = {"X-Forwarded-For": "203.0.113.9"}
    limit = 60  # prefectures/_national.yml throttle.per_address.chat.max
    statuses = {post_form(down, {"message": "carte grise"}, address)[0] for _ in range(limit)}
    assert statuses == {503}
    status, page, headers = post_form(down, {"message": "carte grise"}, address)
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 600
    assert TOO_MANY in page and 'value="carte grise"' in page
    # A button's payload is given back as the button's title, to send again.
    status, page, _ = post_form(down, {"message": '/navigate{"node":"armes"}'}, address)
    assert status == 429 and 'value="Armes (SIA)"' in page
