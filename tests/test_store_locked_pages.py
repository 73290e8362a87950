"""The store's write lock held by another process (a migration, a backup, a long export) while the
public and the agents use the product, on a server of its own (SQLite). Found by an outside-in audit
(2026-12-04): a message to a service sent then was lost with Sanic's English 500, and one agent's
page held every public request of the server for 10 s (the console wrote on the event loop's
connection, which waited the whole busy timeout for the lock)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from conftest import db_rows, launch, stop
from store_lock import Lock
from test_console import AGENT, Console, cli

BUSY = "Le service est momentanément surchargé : votre envoi n'a pas été enregistré. Réessayez dans un instant."


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory, python):
    running = launch(tmp_path_factory.mktemp("locked"))
    done = cli(python, running.db, "agents", "add", AGENT[0], "--role", "agent", "--password-stdin", stdin=AGENT[1] + "\n")
    assert done.returncode == 0, done.stderr
    yield running
    stop(running)


def post(url: str, body: dict) -> tuple[int, dict, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_a_message_sent_during_a_lock_gets_a_french_503_and_goes_through_once_sent_again(locked_server):
    server = locked_server
    body = {
        "service": "armes",
        "subject": "Fusil hérité",
        "body": "Bonjour, j'ai hérité du fusil de chasse de mon oncle, comment le déclarer ?",
        "idem": uuid.uuid4().hex,
    }
    with Lock(server.db, 15):
        status, headers, answer = post(server.url + "/rdv/api/message", body)
    assert (status, answer) == (503, {"error": BUSY})
    assert headers["Retry-After"] == "30"  # bot/tree.yml settings.store_busy_retry_after_s
    assert db_rows(server.db, "select id from tickets where subject = ?", ["Fusil hérité"]) == []
    status, _, answer = post(server.url + "/rdv/api/message", body)  # the same form, sent again
    assert status == 200, answer
    assert len(db_rows(server.db, "select id from tickets where subject = ?", ["Fusil hérité"])) == 1


def test_an_agents_page_during_a_lock_does_not_hold_the_publics_pages(locked_server):
    server = locked_server
    agent = Console(server.url)
    assert agent.login(*AGENT).status_code == 303
    answered: dict = {}

    def agent_page():
        answered["agent"] = agent.get("/messages")
        answered["agent_at"] = time.monotonic()

    with Lock(server.db, 20) as lock:
        thread = threading.Thread(target=agent_page)
        thread.start()
        time.sleep(0.5)  # the agent's request is in the server first
        with urllib.request.urlopen(server.url + "/chat/config", timeout=60) as resp:
            assert resp.status == 200
        public_at = time.monotonic()
        thread.join()
        # Before: the public's page came after the agent's, once its 10 s busy timeout had run out
        # (a margin of 7.5 s for this shared machine, under those 10 s and the lock's 20 s).
        assert public_at - lock.started < 8, "the public's page waited for the agent's"
    page = answered["agent"]
    assert page.status_code in (200, 503)
    if page.status_code == 503:  # a read refused: said as such, with the agent's navigation
        assert "La base de données est occupée" in page.text and "Se déconnecter" in page.text
        assert "Rien n'a été enregistré" not in page.text


def test_the_message_form_sent_during_a_lock_comes_back_with_what_was_typed(locked_server):
    """A browser without JavaScript (the /rdv/message form): the 503 page is the form again, with the
    subject, the text and the e-mail as typed and the same idempotency key, so that sending it once
    more goes through once; before, it was a bare error page and the typed text was lost."""
    import html
    import re

    import requests

    server = locked_server
    http = requests.Session()
    page = http.get(server.url + "/rdv/message?service=armes", timeout=60)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    idem = uuid.uuid4().hex
    typed = {
        "subject": "Carabine de mon père",
        "body": "Bonjour,\nmon père est décédé en mars ; il détenait une carabine. Que dois-je faire ?",
        "email": "claire.morel@exemple.fr",
    }
    form = {"csrf": csrf, "service": "armes", "idem": idem} | typed
    with Lock(server.db, 15):
        refused = http.post(server.url + "/rdv/message", data=form, timeout=60)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "30"
    shown = html.unescape(refused.text)
    assert "Le service est momentanément surchargé : votre envoi n'a pas été enregistré. Réessayez dans un instant." in shown
    assert f'value="{typed["subject"]}"' in shown and f'value="{typed["email"]}"' in shown
    assert typed["body"] in shown.replace("\r\n", "\n")
    assert f'name="idem" value="{idem}"' in shown
    assert db_rows(server.db, "select id from tickets where subject = ?", [typed["subject"]]) == []
    csrf = re.search(r'name="csrf" value="([^"]+)"', refused.text).group(1)
    for _ in range(2):  # sent again (twice: a double click) from the page that came back
        again = http.post(server.url + "/rdv/message", data=form | {"csrf": csrf}, timeout=60)
        assert again.status_code == 200
    assert len(db_rows(server.db, "select id from tickets where subject = ?", [typed["subject"]])) == 1


def test_the_booking_form_sent_during_a_lock_comes_back_with_the_slot_and_contact_chosen(locked_server):
    """The /rdv booking form without JavaScript, during a lock: 503, the slots page again with the
    slot chosen checked (not the first), the e-mail typed and the same idempotency key; sent again,
    one booking."""
    import html
    import re

    import requests

    server = locked_server
    http = requests.Session()
    page = http.get(server.url + "/rdv/creneaux?site=aurillac&motif=autre", timeout=60)
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    keys = re.findall(r'name="slot" value="([^"]+)"', page.text)
    chosen = keys[2]
    idem = uuid.uuid4().hex
    form = {"csrf": csrf, "idem": idem, "site": "aurillac", "motif": "autre", "slot": chosen}
    form |= {"email": "jeanne.roux@exemple.fr", "mobile": ""}
    with Lock(server.db, 15):
        refused = http.post(server.url + "/rdv/reserver", data=form, timeout=60)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "30"
    shown = html.unescape(refused.text)
    assert "votre envoi n'a pas été enregistré" in shown
    assert re.findall(r'name="slot" value="([^"]+)" checked', shown) == [chosen]
    assert 'value="jeanne.roux@exemple.fr"' in shown and f'name="idem" value="{idem}"' in shown
    assert db_rows(server.db, "select reference from pan_bookings where idempotency_key = ?", [idem]) == []
    csrf = re.search(r'name="csrf" value="([^"]+)"', refused.text).group(1)
    for _ in range(2):
        again = http.post(server.url + "/rdv/reserver", data=form | {"csrf": csrf}, timeout=60)
        assert again.status_code == 200
    assert len(db_rows(server.db, "select reference from pan_bookings where idempotency_key = ?", [idem])) == 1


def test_the_chat_widgets_message_form_during_a_lock_says_so_and_keeps_what_was_typed(locked_server, browser):
    """The message form inside the chat (real Chromium), sent while another writer holds the store:
    the server's French reason is shown (nothing recorded, try again), not the generic "service
    unavailable"; the typed text stays in the form, and sending it again once the lock is gone
    records it once."""
    from playwright.sync_api import expect

    server = locked_server
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(server.url + "/chat/")
        page.fill("#chat-input", "j'ai une question sur la détention d'une arme de chasse")
        page.press("#chat-input", "Enter")
        bots = page.locator("#chat-log [data-role=bot]")
        expect(bots).to_have_count(2, timeout=60_000)
        bots.last.get_by_role("button", name="Laisser un message ici").click()
        step = page.locator("#chat-log [data-role=bot]").last
        step.get_by_label("Objet").fill("Fusil de mon grand-père")
        step.get_by_label("Votre message").fill("Bonjour, j'ai trouvé un fusil au grenier, que dois-je faire ?")
        with Lock(server.db, 15):
            step.get_by_role("button", name="Envoyer le message").click()
            expect(step.get_by_role("alert")).to_have_text(BUSY, timeout=30_000)
        expect(step.get_by_label("Objet")).to_have_value("Fusil de mon grand-père")
        assert db_rows(server.db, "select id from tickets where subject = ?", ["Fusil de mon grand-père"]) == []
        step.get_by_role("button", name="Envoyer le message").click()
        expect(page.locator("#chat-log .chat__msg--done").last).to_contain_text("Votre message est bien reçu", timeout=30_000)
        assert len(db_rows(server.db, "select id from tickets where subject = ?", ["Fusil de mon grand-père"])) == 1
    finally:
        context.close()
