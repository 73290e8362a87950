"""The chat page without JavaScript (accessibility audit): JavaScript off, or not loaded yet on a slow
connection, a question typed and sent with Enter never goes into a URL (the browser's history, nginx's
and the server's access logs), unmasked. The form posts to /chat/, which gives the page back with a
notice: the assistant needs JavaScript; what works without it (the booking pages, the préfecture's
phone and hours). With JavaScript, the page's own handler sends the question as before.

test_without_javascript_a_question_sent_never_reaches_the_url failed before the fix: the form had no
method, Enter sent GET /chat/?message=Mon+passeport+19XK42871+...
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

PASSPORT = "19XK42871"
QUESTION = f"Mon passeport {PASSPORT} est perdu, que faire"
NEEDS_JS = "L'assistant a besoin de JavaScript"


@pytest.fixture
def no_js_page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR", java_script_enabled=False)
    pg = context.new_page()
    pg.goto(server.url + "/chat/")
    yield pg
    context.close()


def notice_holds_what_works_without_javascript(pg) -> None:
    notice = pg.locator("#chat-nojs")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(NEEDS_JS)
    expect(notice.locator("a[href='/rdv/']")).to_have_count(1)  # the booking pages work without JavaScript
    expect(notice.locator("a[href^='tel:']")).to_have_count(1)  # the préfecture's confirmed number
    expect(notice).to_contain_text("du lundi au vendredi")  # and its hours


def test_without_javascript_the_page_says_so_before_anything_is_typed(no_js_page):
    notice_holds_what_works_without_javascript(no_js_page)
    expect(no_js_page.locator("#chat-form")).to_have_attribute("method", "post")


def test_without_javascript_a_question_sent_never_reaches_the_url(no_js_page, server):
    logged = server.log.stat().st_size
    no_js_page.fill("#chat-input", QUESTION)
    with no_js_page.expect_navigation():
        no_js_page.press("#chat-input", "Enter")
    url = no_js_page.url
    assert url.startswith(server.url + "/chat/")
    for part in (PASSPORT, "passeport", "message="):
        assert part not in url, url
    notice_holds_what_works_without_javascript(no_js_page)
    expect(no_js_page.locator("#chat-nojs")).to_have_count(1)  # one notice, not the <noscript> one as well
    expect(no_js_page.locator("#chat-input")).to_have_value(QUESTION)  # given back, from the POST body
    with open(server.log, "rb") as out:
        out.seek(logged)
        assert PASSPORT.encode() not in out.read()


def test_a_post_from_another_site_gets_the_notice_without_its_text(server):
    import urllib.request

    body = f"message={PASSPORT}".encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://ailleurs.example"}
    with urllib.request.urlopen(urllib.request.Request(server.url + "/chat/", data=body, headers=headers), timeout=30) as resp:
        page = resp.read().decode()
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert "a besoin de JavaScript" in page and PASSPORT not in page


def test_with_javascript_the_question_is_answered_in_the_page_and_the_url_is_unchanged(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR")
    pg = context.new_page()
    pg.goto(server.url + "/chat/")
    pg.wait_for_load_state("networkidle")
    expect(pg.locator("#chat-nojs")).to_have_count(0)
    pg.fill("#chat-input", QUESTION)
    pg.press("#chat-input", "Enter")
    expect(pg.locator("#chat-log [data-role=bot]:not(.chat__msg--welcome)")).to_have_count(1, timeout=60_000)
    assert pg.url == server.url + "/chat/"
    context.close()
