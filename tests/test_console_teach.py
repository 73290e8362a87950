"""The agents' view of the answers the public corrected (/console/file?avis=corrige), taught in one go:
« Apprendre les choix cochés » gives each item checked the review an agent would give it from its page.
Real server and Rasa model, the chat's own requests, signed Twilio bodies for the call."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from conftest import db_rows
from playwright.sync_api import expect
from test_console import ANSWERED_WRONG, Console, cli, corrected_call, corrected_chat, unresolved_chat

AGENT = ("teach-agent", "teach-agent-pass-1")
SAID = ANSWERED_WRONG + ", rappel au 06 12 34 56 78"
MASKED = "j'ai besoin d'aide pour refaire mon permis de conduire sur internet, rappel au [téléphone]"
CHECKBOX = re.compile(r'<input type="checkbox" name="element" value="([^"]+)"')


@pytest.fixture(scope="module")
def agent(server, python):
    done = cli(python, server.db, "agents", "add", AGENT[0], "--role", "agent", "--password-stdin", stdin=AGENT[1] + "\n")
    assert done.returncode == 0, done.stderr
    c = Console(server.url)
    assert c.login(*AGENT).status_code == 303
    return c


def reviews(server, *ids: str) -> dict:
    rows = db_rows(server.db, f"select * from reviews where item_id in ({', '.join('?' * len(ids))})", list(ids))
    return {r["item_id"]: (r["status"], r["topic"], r["example"], r["as_training"], r["reviewer"]) for r in rows}


def test_the_persons_choices_checked_are_learned_in_one_go(server, agent, phone):
    """Two chats and a call the person corrected, one of the chats already in review by another agent:
    the view offers a box to check for the two others only, with the topic the person chose. Checked and
    sent (the reviewed one forced into the form too), the two are treated, with the person's topic and the
    words answered wrong to learn; the reviewed one keeps its agent's review; the page says how many."""
    first, reviewed = corrected_chat(server, SAID), corrected_chat(server, SAID)
    said = ANSWERED_WRONG
    call = corrected_call(phone)
    page = agent.get(f"/element/chat/{reviewed}").text
    kept = agent.post(
        f"/element/chat/{reviewed}", {"csrf": agent.csrf, "vu": "-", "statut": "in_review", "theme": "armes", "note": ""}
    )
    assert kept.status_code == 303, page
    listed = agent.get("/file?avis=corrige")
    boxes = CHECKBOX.findall(listed.text)
    assert f"chat:{first}" in boxes and f"phone:{call.call_sid}" in boxes and f"chat:{reviewed}" not in boxes
    row = re.search(rf'<tr data-kind="chat" data-id="{first}">(.*?)</tr>', listed.text, re.S).group(1)
    # the topic guessed is the one answered (the conversation's last is the one chosen)
    assert re.search(
        r"<td>Permis de conduire</td>\s*<td class=\"console-chosen\">Aide pour une démarche en ligne</td>", unescape(row)
    )
    row = re.search(rf'<tr data-kind="phone" data-id="{call.call_sid}">(.*?)</tr>', listed.text, re.S).group(1)
    assert re.search(
        r"<td>Permis de conduire</td>\s*<td class=\"console-chosen\">Aide pour une démarche en ligne</td>", unescape(row)
    )
    assert "<caption>Réponses corrigées par la personne, les plus récentes d'abord</caption>" in unescape(listed.text)
    sent = agent.post(
        "/file/apprendre",
        {"csrf": agent.csrf, "element": [f"chat:{first}", f"chat:{reviewed}", f"phone:{call.call_sid}"]},
    )
    assert sent.status_code == 303
    assert sent.headers["Location"] == "/console/file?avis=corrige&appris=2&laisses=1"
    shown = unescape(agent.get("/file?avis=corrige&appris=2&laisses=1").text)
    assert re.search(
        r'<div class="fr-alert fr-alert--success fr-alert--sm fr-mb-3w" id="learned" role="status"><p>'
        r"2 demandes marquées « Traité » avec le thème choisi par la personne, leurs mots à apprendre\. "
        r"1 laissée : déjà revue, ou sans choix à apprendre\.</p></div>",
        shown,
    )
    assert reviews(server, first, reviewed, call.call_sid) == {
        first: ("done", "rdv_pan", MASKED, 1, AGENT[0]),
        reviewed: ("in_review", "armes", None, 0, AGENT[0]),
        call.call_sid: ("done", "rdv_pan", said, 1, AGENT[0]),
    }
    audit = db_rows(server.db, "select agent, action, detail from audit_log where item_id = ? order by id", [first])
    assert [(a["agent"], a["action"], json.loads(a["detail"])) for a in audit] == [
        (AGENT[0], "label", {"status": "done", "topic": "rdv_pan", "as_training": 1, "with_note": False, "person_choice": True})
    ]
    # the administrators' journal says it in words
    from bot.web.console.journal import said

    assert said(audit[0]["detail"]) == [
        ("Statut", "Traité"),
        ("Thème", "Aide pour une démarche en ligne"),
        ("Phrase apprise à l'assistant", "oui"),
        ("Note", "non"),
        ("Choix de la personne, appris sans ouvrir la demande", "oui"),
    ]
    # the item's page says what was learned, as if the agent had saved it there
    item = unescape(agent.get(f"/element/chat/{first}").text)
    assert '<dd id="review-status">Traité</dd>' in item and f'<option value="{MASKED}" selected>' in item
    assert f"chat:{first}" not in CHECKBOX.findall(agent.get("/file?avis=corrige").text)


SR_ONLY = re.compile(r'<span class="fr-sr-only">\s*([^<]*)</span>')


def screen_reader_names(page: str, kind: str, item: str) -> tuple[str, list[str]]:
    """An item's row in a queue's page: its date as shown, and the names its box and « Ouvrir » link add
    for a screen reader."""
    row = unescape(re.search(rf'<tr data-kind="{kind}" data-id="{item}">(.*?)</tr>', page, re.S).group(1))
    return re.search(r"<time[^>]*>([^<]+)</time>", row).group(1), SR_ONLY.findall(row)


def test_items_of_the_same_minute_are_told_apart_by_a_screen_reader(server, agent):
    """A screen reader lists a page's links and boxes by their names: two items of the same minute must not
    read the same. Each name gives the item's place in the page, its date and the first words of its message
    (six), cut with « … » when longer."""
    short, long = unresolved_chat(server), unresolved_chat(server, "qsdf lkjh wxcv poiu mlkj nbvc azer")
    listed = agent.get("/file?canal=chat").text
    when, names = screen_reader_names(listed, "chat", long)  # the newest first
    assert names == [f"la demande 1 de la page, du {when} : « qsdf lkjh wxcv poiu mlkj nbvc… »"]
    when, names = screen_reader_names(listed, "chat", short)
    assert names == [f"la demande 2 de la page, du {when} : « zorglub vend sa guimbarde »"]
    corrected = corrected_chat(server, SAID)
    when, names = screen_reader_names(agent.get("/file?avis=corrige").text, "chat", corrected)
    assert names == [
        f"le choix de la personne pour la demande 1 de la page, du {when} : « j'ai besoin d'aide pour refaire mon… »",
        f"la demande 1 de la page, du {when} : « j'ai besoin d'aide pour refaire mon… »",
    ]


def test_the_corrections_filtered_by_topic_are_those_answered_that_topic(server, agent, phone):
    """In the view of the corrections, « Thème deviné » is the topic the words were answered: its filter
    keeps the items answered that topic (a chat and a call answered « Permis de conduire », then
    corrected to « Aide pour une démarche en ligne »), not those the person chose it for."""
    chat, call = corrected_chat(server, SAID), corrected_call(phone)
    answered = agent.get("/file?avis=corrige&theme=permis_conduire").text
    assert f'data-id="{chat}"' in answered and f'data-id="{call.call_sid}"' in answered
    chosen = agent.get("/file?avis=corrige&theme=rdv_pan").text
    assert f'data-id="{chat}"' not in chosen and f'data-id="{call.call_sid}"' not in chosen


def test_a_sending_of_nothing_or_of_forged_items_gets_a_clear_answer(server, agent):
    """Nothing checked: nothing learned, and the page says so. A value that is no item of the queue's
    form, or more items than a page shows (20): 400 with the reason, nothing written. No CSRF token: 403."""
    sender = corrected_chat(server, SAID)
    empty = agent.post("/file/apprendre", {"csrf": agent.csrf})
    assert empty.headers["Location"] == "/console/file?avis=corrige&appris=0&laisses=0"
    shown = unescape(agent.get("/file?avis=corrige&appris=0&laisses=0").text)
    assert (
        '<div class="fr-alert fr-alert--info fr-alert--sm fr-mb-3w" id="learned" role="status"><p>Aucune demande cochée : rien n\'a été appris.</p></div>'
        in shown
    )
    for forged in (["chat:../../etc"], ["courrier:abc"], [f"chat:{sender}"] * 101):
        refused = agent.post("/file/apprendre", {"csrf": agent.csrf, "element": forged})
        assert refused.status_code == 400, forged
        assert "Les valeurs envoyées ne sont pas valides." in unescape(refused.text)
    assert agent.post("/file/apprendre", {"element": [f"chat:{sender}"]}).status_code == 403
    assert reviews(server, sender) == {}
    unknown = agent.post("/file/apprendre", {"csrf": agent.csrf, "element": ["chat:inconnu-0001", f"chat:{sender}"]})
    assert unknown.headers["Location"] == "/console/file?avis=corrige&appris=1&laisses=1"
    assert reviews(server, sender) == {sender: ("done", "rdv_pan", MASKED, 1, AGENT[0])}


def test_an_agent_on_a_phone_checks_a_choice_and_learns_it_in_chromium(browser, server, agent):
    """In real Chromium at phone size: the view of the corrections has the form, the box is reached by its
    label (a screen reader says which item), the button sends it, the page says what was learned; axe
    finds nothing and the page does not scroll sideways, before and after."""
    from test_accessibility import assert_axe_clean, open_page, sideways

    sender = corrected_chat(server, SAID)
    pg = open_page(browser, server, "/console/", {"width": 375, "height": 800})
    pg.fill("#identifiant", AGENT[0])
    pg.fill("#mot_de_passe", AGENT[1])
    pg.get_by_role("button", name="Se connecter").click()
    pg.goto(server.url + "/console/file?avis=corrige&canal=chat")
    box = pg.locator(f'input[name="element"][value="chat:{sender}"]')
    label = pg.locator(f"label[for={box.get_attribute('id')}]").inner_text()
    assert label.startswith("le choix de la personne pour la demande 1 de la page, du ") and label.endswith(
        " : « j'ai besoin d'aide pour refaire mon… »"
    ), label
    assert_axe_clean(pg, "the corrections' view")
    assert sideways(pg) == 0
    box.scroll_into_view_if_needed()
    spot = box.bounding_box()  # where the DSFR draws the box (its label's ::before, over the input)
    pg.mouse.click(spot["x"] + spot["width"] / 2, spot["y"] + spot["height"] / 2)
    expect(box).to_be_checked()
    pg.get_by_role("button", name="Apprendre les choix cochés").click()
    expect(pg.locator("#learned")).to_have_text(
        "1 demande marquée « Traité » avec le thème choisi par la personne, ses mots à apprendre."
    )
    assert pg.url.endswith("/console/file?avis=corrige&appris=1&laisses=0")
    assert_axe_clean(pg, "the corrections' view, learned")
    assert sideways(pg) == 0
    assert reviews(server, sender) == {sender: ("done", "rdv_pan", MASKED, 1, AGENT[0])}
    assert pg.problems == []
    pg.context.close()
