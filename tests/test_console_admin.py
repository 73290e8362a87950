"""The Administration page creates accounts and resets passwords (the CLI stays for the first admin);
the words agents read are French, not codes. Real server over HTTP."""

from __future__ import annotations

import pytest
from conftest import db_rows
from test_console import Console, cli

BOSS, CLERK = ("adm-boss", "adm-boss-pass-1"), ("adm-clerk", "adm-clerk-pass-1")


@pytest.fixture(scope="module")
def people(server, python):
    for (name, pw), role in ((BOSS, "admin"), (CLERK, "agent")):
        done = cli(python, server.db, "agents", "add", name, "--role", role, "--password-stdin", stdin=pw + "\n")
        assert done.returncode == 0, done.stderr
    return True


def logged(server, name, password) -> Console:
    c = Console(server.url)
    assert c.login(name, password).status_code == 303
    return c


def test_no_command_line_on_the_login_and_admin_pages(server, people):
    login_page = Console(server.url).get("/connexion").text
    assert "python -m" not in login_page and "<code>" not in login_page
    assert "Pas encore de compte, ou mot de passe oublié ? Demandez à un administrateur de la console." in login_page
    admin = logged(server, *BOSS).get("/admin").text
    assert "python -m" not in admin and "<code>" not in admin
    assert "exemples d&#39;entraînement" not in admin and "exemple d'entraînement" not in admin
    assert ">Préparer les phrases à apprendre</button>" in admin


def test_an_admin_creates_an_account(server, people):
    admin = logged(server, *BOSS)
    admin.get("/admin")
    form = {"identifiant": "marie.dupont", "role": "agent", "mot_de_passe": "marie-pass-123", "confirmation": "marie-pass-123"}
    assert admin.post("/admin/comptes", form).status_code == 403  # no CSRF token
    clerk = logged(server, *CLERK)
    assert clerk.post("/admin/comptes", form | {"csrf": clerk.csrf}).status_code == 403  # agents cannot
    for bad, reason in (
        ({"confirmation": "autre-pass-123"}, "Les deux mots de passe diffèrent."),
        ({"mot_de_passe": "court", "confirmation": "court"}, "Mot de passe trop court : 10 caractères au moins."),
        ({"identifiant": "Marie Dupont"}, "Nom invalide"),
        ({"role": "chef"}, "Rôle invalide"),
    ):
        r = admin.post("/admin/comptes", form | {"csrf": admin.csrf} | bad)
        assert r.status_code == 400, bad
        assert f"Compte non créé : {reason}" in r.text.replace("&#39;", "'").replace("&lt;", "<")
    assert db_rows(server.db, "select count(*) as n from agents where name = 'marie.dupont'") == [{"n": 0}]
    r = admin.post("/admin/comptes", form | {"csrf": admin.csrf})
    assert r.status_code == 303 and r.headers["Location"] == "/console/admin?ok=cree&compte=marie.dupont"
    assert "Compte « marie.dupont » créé." in admin.get("/admin?ok=cree&compte=marie.dupont").text
    assert "Le compte « marie.dupont » existe déjà." in admin.post("/admin/comptes", form | {"csrf": admin.csrf}).text
    marie = logged(server, "marie.dupont", "marie-pass-123")
    assert marie.get("/admin").status_code == 403  # an agent, as chosen
    assert db_rows(
        server.db, "select role, password_hash like '$argon2id$%' as hashed from agents where name = 'marie.dupont'"
    ) == [{"role": "agent", "hashed": 1}]
    assert db_rows(server.db, "select agent, action, kind, detail from audit_log where item_id = 'marie.dupont'") == [
        {"agent": BOSS[0], "action": "agent_created", "kind": "agent", "detail": '{"role": "agent"}'}
    ]
    log = admin.get("/admin").text
    assert f"<td>{BOSS[0]}</td><td>compte créé</td><td>compte marie.dupont</td>" in log
    assert "agent_created" not in log


def test_an_admin_resets_a_password_and_closes_the_sessions(server, people, python):
    done = cli(
        python, server.db, "agents", "add", "paul.martin", "--role", "agent", "--password-stdin", stdin="paul-old-pass-1\n"
    )
    assert done.returncode == 0, done.stderr
    paul = logged(server, "paul.martin", "paul-old-pass-1")
    admin = logged(server, *BOSS)
    page = admin.get("/admin").text
    assert '<option value="paul.martin">paul.martin</option>' in page
    form = {"identifiant": "paul.martin", "mot_de_passe": "paul-new-pass-1", "confirmation": "paul-new-pass-1"}
    assert admin.post("/admin/mot-de-passe", form).status_code == 403
    r = admin.post("/admin/mot-de-passe", form | {"csrf": admin.csrf, "confirmation": "pas-pareil-123"})
    assert r.status_code == 400 and "Mot de passe non modifié : Les deux mots de passe diffèrent." in r.text
    r = admin.post("/admin/mot-de-passe", form | {"csrf": admin.csrf, "identifiant": "personne"})
    assert r.status_code == 400 and "Choisissez un compte dans la liste." in r.text
    assert paul.get("/file").status_code == 200  # nothing changed yet
    r = admin.post("/admin/mot-de-passe", form | {"csrf": admin.csrf})
    assert r.status_code == 303 and r.headers["Location"] == "/console/admin?ok=mot-de-passe&compte=paul.martin"
    assert paul.get("/file").status_code == 303  # the open session is closed
    assert Console(server.url).login("paul.martin", "paul-old-pass-1").status_code == 401
    assert Console(server.url).login("paul.martin", "paul-new-pass-1").status_code == 303
    assert db_rows(server.db, "select action, kind from audit_log where item_id = 'paul.martin'") == [
        {"action": "password_reset", "kind": "agent"}
    ]
    assert "paul-new-pass-1" not in str(db_rows(server.db, "select * from audit_log"))


def test_an_item_says_the_bot_s_answer_and_confidence_in_words(server, people):
    import re
    import uuid

    sender = "words-" + uuid.uuid4().hex[:10]
    server.say(sender, "zorglub troque sa guimbarde")
    page = logged(server, *CLERK).get(f"/element/chat/{sender}").text
    assert "réponse : " not in page and "fallback" not in page and "clarify" not in page
    assert re.search(r"— (pas compris|demande de précision)</p>", page), page[page.find('id="transcript"') :][:600]
    assert re.search(r'<dd id="confidence">(sûr|hésitant) \(\d{1,3}\u202f%\)</dd>', page)
    assert "Phrase de la personne" in page and "exemples d&#39;entraînement" not in page
