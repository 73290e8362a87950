"""The agent console in real headless Chromium: the whole teaching loop, and no script from user text."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest
from conftest import ROOT
from playwright.sync_api import expect
from test_console import OWASP, cli

E2E_ADMIN = ("e2e-admin", "e2e-admin-pass-1")
QUESTION = "zorglub troque sa guimbarde"


@pytest.fixture(scope="module")
def e2e_admin(server, python):
    done = cli(python, server.db, "agents", "add", E2E_ADMIN[0], "--role", "admin", "--password-stdin", stdin=E2E_ADMIN[1] + "\n")
    assert done.returncode == 0, done.stderr
    return E2E_ADMIN


def new_page(browser, server, path):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    pg = context.new_page()
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(str(e)))
    pg.on("dialog", lambda d: (pg.problems.append("dialog: " + d.message), d.dismiss()))
    pg.goto(server.url + path)
    return pg


def console_login(pg, who):
    expect(pg.locator("h1")).to_have_text("Connexion à la console des agents")
    pg.fill("#identifiant", who[0])
    pg.fill("#mot_de_passe", who[1])
    pg.get_by_role("button", name="Se connecter").click()
    expect(pg.locator("h1")).to_have_text("File des demandes non résolues")


def test_unroutable_question_is_labelled_exported_and_learnt(browser, server, e2e_admin, python, tmp_path):
    # 1. someone asks the chat a question the bot cannot route
    chat = new_page(browser, server, "/chat/")
    chat.fill("#chat-input", QUESTION)
    chat.press("#chat-input", "Enter")
    expect(chat.locator("#chat-log [data-role=bot]").last).to_contain_text("Je ne suis pas sûr d'avoir compris")
    assert chat.problems == []
    chat.context.close()

    # 2. an agent finds it in the console queue and labels it as a training example
    pg = new_page(browser, server, "/console/file?canal=chat")
    console_login(pg, e2e_admin)
    row = pg.locator("#queue tbody tr", has_text=QUESTION).first
    expect(row).to_contain_text("Nouveau")
    row.get_by_role("link", name="Ouvrir").click()
    expect(pg.locator("#transcript")).to_contain_text(QUESTION)
    pg.select_option("#theme", "carte_grise")
    expect(pg.locator("#phrase")).to_have_value(QUESTION)
    pg.locator("label[for=exemple]").click()
    pg.locator("label[for=statut-traite]").click()
    pg.fill("#note", "vente de véhicule")
    pg.locator("#save").click()
    expect(pg.locator("[role=status]")).to_have_text("Révision enregistrée.")
    expect(pg.locator("#review-status")).to_have_text("Traité")
    assert pg.problems == []
    pg.context.close()

    # 3. the export (on a copy of data/) contains it
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    done = cli(python, server.db, "review", "export", "--out", str(data / "nlu_review.yml"), "--data", str(data))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["written"]["carte_grise"] >= 1
    assert f"    - {QUESTION}\n" in (data / "nlu_review.yml").read_text()

    # 4. the gated retrain (temp model, never models/aiguillage.tar.gz) passes and the new model routes it
    model = tmp_path / "model" / "aiguillage.tar.gz"
    done = cli(
        python,
        server.db,
        "review",
        "retrain",
        "--data",
        str(data),
        "--model",
        str(model),
        "--baseline",
        str(ROOT / "models" / "aiguillage.tar.gz"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Le nouveau modèle est installé." in done.stdout
    env = dict(os.environ, AIGUILLAGE_MODEL=str(model))
    routed = subprocess.run([python, "-m", "bot", "route", QUESTION], cwd=ROOT, env=env, capture_output=True, text=True)
    answer = json.loads(routed.stdout)
    assert (answer["topic"], answer["destination"], answer["action"]) == ("carte_grise", "ants_3400", "answer")


def test_no_script_runs_from_user_text_in_the_console(browser, server, e2e_admin):
    senders = []
    for payload in OWASP:
        sender = "xss-" + uuid.uuid4().hex[:10]
        server.say(sender, payload)
        senders.append(sender)
    pg = new_page(browser, server, "/console/file")
    console_login(pg, e2e_admin)
    expect(pg.locator("#queue")).to_contain_text("<script>alert('xss1')</script>")
    for sender, payload in zip(senders, OWASP):
        pg.goto(f"{server.url}/console/element/chat/{sender}")
        expect(pg.locator("#transcript [data-role=user-text]").first).to_have_text(payload)
    assert pg.locator("#transcript script, #transcript img, #transcript svg, #transcript iframe").count() == 0
    assert [p for p in pg.problems if p.startswith("dialog")] == []
    pg.context.close()


def test_the_console_works_with_the_keyboard_alone(browser, server, e2e_admin):
    """Login, reach an item of the queue and log out with Tab and Enter only; every field has a label."""
    pg = new_page(browser, server, "/console/")
    expect(pg.locator("h1")).to_have_text("Connexion à la console des agents")
    for field in ("identifiant", "mot_de_passe"):
        expect(pg.locator(f"label[for={field}]")).to_have_count(1)
    pg.keyboard.type(e2e_admin[0])  # the name field has the focus on arrival (autofocus)
    pg.keyboard.press("Tab")
    pg.keyboard.type(e2e_admin[1])
    pg.keyboard.press("Enter")
    expect(pg.locator("h1")).to_have_text("File des demandes non résolues")
    for select in pg.locator("main select, main input:not([type=hidden])").all():
        field_id = select.get_attribute("id")
        assert field_id and pg.locator(f"label[for='{field_id}']").count() == 1, field_id
    # Tab through the page: every focused element is visible and some element shows a focus style.
    seen = []
    for _ in range(60):
        pg.keyboard.press("Tab")
        info = pg.evaluate("""() => { const e = document.activeElement;
            const s = getComputedStyle(e); return [e.tagName, e.textContent.trim().slice(0, 40),
            s.outlineStyle !== 'none' || s.boxShadow !== 'none'] }""")
        seen.append(info)
        if info[1] == "Se déconnecter":
            break
    assert any(text == "Se déconnecter" for _, text, _ in seen), seen
    assert all(tag in ("A", "BUTTON", "INPUT", "SELECT", "TEXTAREA", "SUMMARY") for tag, _, _ in seen), seen
    assert all(focused for tag, _, focused in seen if tag in ("BUTTON", "INPUT", "SELECT")), seen
    pg.keyboard.press("Enter")
    expect(pg.locator("h1")).to_have_text("Connexion à la console des agents")
    assert pg.problems == []
