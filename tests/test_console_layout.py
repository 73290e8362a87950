"""What the review found at the edges of the console: a day that does not exist asked of the PAN
appointments page (a French 400, nothing shown nor audit-logged), and the pages at a tablet's width
(768 px, real Chromium): no page wider than the screen, the queue's "Filtrer" button in sight."""

from __future__ import annotations

import uuid

import pytest
from conftest import db_rows
from playwright.sync_api import expect
from test_console import cli
from test_console_browser import console_login, new_page
from test_console_messages import http_login, public_message

AGENT = ("layout-agent", "layout-agent-pass-1")


@pytest.fixture(scope="module")
def agent(server, python):
    done = cli(python, server.db, "agents", "add", AGENT[0], "--role", "agent", "--password-stdin", stdin=AGENT[1] + "\n")
    assert done.returncode == 0, done.stderr
    return AGENT


def contact_views(server) -> int:
    return db_rows(server.db, "select count(*) as n from audit_log where action = 'contact_viewed' and kind = 'pan'")[0]["n"]


@pytest.mark.parametrize("day", ["2026-02-31", "2026-13-01", "31/12/2026", "demain"])
def test_a_day_that_does_not_exist_is_a_french_400_not_today(server, agent, day):
    c = http_login(server, agent)
    before = contact_views(server)
    r = c.get(f"/rdv?jour={day}")
    assert r.status_code == 400
    assert "<h1>Date invalide</h1>" in r.text
    assert "Cette date n&#39;existe pas ou n&#39;est pas écrite comme attendu (exemple : 2026-07-10)." in r.text
    assert 'id="rdv-' not in r.text and "Rendez-vous du " not in r.text  # no day's appointments shown
    assert contact_views(server) == before


@pytest.mark.parametrize("width", [768, 1024, 1280])
def test_no_console_page_is_wider_than_the_screen_and_filtrer_is_in_sight(browser, server, agent, width):
    ref = public_message(server, "armes", "Objet", "Texte.", f"largeur-{uuid.uuid4().hex[:6]}@exemple.fr")
    pg = new_page(browser, server, "/console/file")
    pg.set_viewport_size({"width": width, "height": 900})
    console_login(pg, agent)
    for path in ("/console/file", "/console/messages", f"/console/messages/{ref}", "/console/courrier", "/console/rdv"):
        pg.goto(server.url + path)
        assert pg.evaluate("document.documentElement.scrollWidth") == width, path
    pg.goto(server.url + "/console/file")
    button = pg.get_by_role("button", name="Filtrer")
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert 0 <= box["x"] and box["x"] + box["width"] <= width
    assert pg.problems == []
    pg.context.close()


LINES_OF = """(cell, word) => {
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  let node = walker.nextNode();
  while (!node.textContent.includes(word)) node = walker.nextNode();
  const range = document.createRange();
  const start = node.textContent.indexOf(word);
  range.setStart(node, start);
  range.setEnd(node, start + word.length);
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}"""


@pytest.mark.parametrize("width", [768, 1280])
def test_a_reference_and_the_words_of_a_subject_are_never_cut_across_lines(browser, server, agent, width):
    # At 768 px the list of messages gave the subject column the width of a letter (« Renouv / elleme /
    # nt »), and at 1280 px a reference read « MSG-2803- / 6164 » on two lines: the agent reads it out
    # on the phone and types it in the log's search.
    ref = public_message(server, "armes", "Renouvellement d'autorisation de détention", "Texte.", "coupe@exemple.fr")
    pg = new_page(browser, server, "/console/file")
    pg.set_viewport_size({"width": width, "height": 900})
    console_login(pg, agent)
    pg.goto(server.url + "/console/messages?service=armes")
    cells = pg.locator(f'tr[data-reference="{ref}"] td')
    assert cells.nth(1).evaluate(LINES_OF, ref) == 1
    for word in ("Renouvellement", "d'autorisation", "détention"):
        assert cells.nth(4).evaluate(LINES_OF, word) == 1, word
    assert pg.problems == []
    pg.context.close()
