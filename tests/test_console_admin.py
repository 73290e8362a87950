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
        # 41 characters: refused, not cut to 40 and created under another name (an outside-in audit)
        ({"identifiant": "marie.dupont." + "x" * 28}, "Nom invalide"),
        ({"role": "chef"}, "Rôle invalide"),
    ):
        r = admin.post("/admin/comptes", form | {"csrf": admin.csrf} | bad)
        assert r.status_code == 400, bad
        assert f"Compte non créé : {reason}" in r.text.replace("&#39;", "'").replace("&lt;", "<")
    assert db_rows(server.db, "select count(*) as n from agents where name like 'marie.dupont%'") == [{"n": 0}]
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
    assert re.search(r'<dd id="confidence">(sûr|hésitant) \(\d{1,3}\u00a0%\)</dd>', page)
    assert "Phrase de la personne" in page and "exemples d&#39;entraînement" not in page


def audit_rows(page: str) -> list[list[str]]:
    """The cells of the audit log's rows on the admin page, as read."""
    import re
    from html import unescape

    if 'id="audit"' not in page:
        return []
    table = page[page.index('id="audit"') : page.index("</table>", page.index('id="audit"'))]
    rows = re.findall(r"<tr>(.*?)</tr>", table[table.index("<tbody>") :], re.S)
    return [[unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


def test_the_audit_log_is_filtered_by_reference_and_agent_paged_and_said_in_french(server, people):
    import uuid
    from datetime import datetime

    from test_chat_booking import first_slots
    from test_console_messages import public_message

    ref = public_message(server, "armes", "Objet", "Texte.", f"journal-{uuid.uuid4().hex[:8]}@exemple.fr")
    clerk, boss = logged(server, *CLERK), logged(server, *BOSS)
    for _ in range(51):  # the clerk looks at the person's address 51 times, the admin once
        assert clerk.get(f"/messages/{ref}?contact=1").status_code == 200
    boss.get(f"/messages/{ref}?contact=1")
    slot = first_slots(server, "aurillac", "permis_conduire")[0]
    booking = {"site": "aurillac", "reason": "permis_conduire", "slot": slot, "email": f"j-{uuid.uuid4().hex[:8]}@exemple.fr"}
    status, booked = server.post("/rdv/api/reserver", booking | {"idem": uuid.uuid4().hex})
    assert status == 200, booked
    clerk.get(f"/rdv?jour={slot[:10]}&site=aurillac")  # the day's appointments, their contacts shown
    sender = "journal-" + uuid.uuid4().hex[:8]
    server.say(sender, "zorglub troque sa guimbarde")
    clerk.get(f"/element/chat/{sender}")
    clerk.post(f"/element/chat/{sender}", {"csrf": clerk.csrf, "theme": "carte_grise", "statut": "done", "note": ""})

    page = boss.get(f"/admin?qui={CLERK[0]}&element={ref}").text
    rows = audit_rows(page)
    assert len(rows) == 50  # a page of 50, newest first
    assert rows[0][1:] == [
        CLERK[0],
        "coordonnées consultées",
        f"message {ref}",
        "Service : bureau des polices administratives (armes)",
    ]
    assert "Page 1 sur 2" in page
    assert f'href="/console/admin?qui={CLERK[0]}&amp;element={ref}&amp;page=2#journal"' in page
    second = audit_rows(boss.get(f"/admin?qui={CLERK[0]}&element={ref}&page=2").text)
    assert [r[1:3] for r in second] == [[CLERK[0], "coordonnées consultées"]]
    # by reference only: the admin's view too
    assert [r[1] for r in audit_rows(boss.get(f"/admin?element={ref}").text)][:2] == [BOSS[0], CLERK[0]]
    # a booking's reference finds the views of the day's appointments that showed its contact
    day = datetime.fromisoformat(slot).strftime("%d/%m/%Y")
    pan = audit_rows(boss.get(f"/admin?element={booked['reference']}").text)
    assert [r[1:4] for r in pan] == [[CLERK[0], "coordonnées consultées", f"rendez-vous {day}"]]
    # the day's other appointments (other tests of the session book on the same first slots) listed too
    site, _, shown = pan[0][4].partition(" ; Rendez-vous : ")
    assert site == "Site : point d'accueil numérique de la préfecture (Aurillac)"
    assert booked["reference"] in shown.split(", ")
    # a review in words: status, topic, taught or not, note or not
    label = audit_rows(boss.get(f"/admin?element={sender}").text)
    assert [r[1:] for r in label] == [
        [
            CLERK[0],
            "révision d'une demande",
            f"chat {sender}",
            "Statut : Traité ; Thème : Carte grise ; Phrase apprise à l'assistant : non ; Note : non",
        ]
    ]
    assert '"mailbox"' not in page and "{" not in "".join(c for r in rows for c in r)
    # by agent only, and a filter that finds nothing
    assert {r[1] for r in audit_rows(boss.get(f"/admin?qui={BOSS[0]}").text)} == {BOSS[0]}
    assert audit_rows(boss.get("/admin?element=MSG-0000-0000").text) == []
    assert "Aucune action ne correspond à ces critères." in boss.get("/admin?element=MSG-0000-0000").text


def test_an_admin_finds_a_persons_references_by_e_mail_or_phone_and_the_search_is_logged_without_it(server, people):
    """A person asks who saw their data and gives their e-mail or mobile, not a reference: the admin
    finds their message and appointment, each a link to the log filtered by it."""
    import random
    import uuid

    from test_chat_booking import first_slots
    from test_console_messages import public_message

    email = f"Qui-A-Vu-{uuid.uuid4().hex[:8]}@Exemple.fr"
    mobile = f"06 12 {random.randint(10, 99)} {random.randint(10, 99)} {random.randint(10, 99)}"
    ref = public_message(server, "armes", "Objet", "Texte.", email)
    slot, other = first_slots(server, "aurillac", "cni_passeport")[:2]
    booking = {"site": "aurillac", "reason": "cni_passeport", "slot": slot, "email": email.lower(), "idem": uuid.uuid4().hex}
    status, booked = server.post("/rdv/api/reserver", booking)
    assert status == 200, booked
    booking = {"site": "aurillac", "reason": "cni_passeport", "slot": other, "mobile": mobile, "idem": uuid.uuid4().hex}
    status, by_mobile = server.post("/rdv/api/reserver", booking)
    assert status == 200, by_mobile

    admin, clerk = logged(server, *BOSS), logged(server, *CLERK)
    admin.get("/admin")
    assert clerk.post("/admin/contact", {"csrf": clerk.csrf, "contact": email}).status_code == 403  # admins only
    assert admin.post("/admin/contact", {"contact": email}).status_code == 403  # no CSRF token

    page = admin.post("/admin/contact", {"csrf": admin.csrf, "contact": f"  {email.upper()} "}).text
    assert "2 référence(s) pour ce contact ; choisissez-en une pour voir son journal :" in page
    links = {r: f'<a class="fr-link" href="/console/admin?element={r}#journal">{r}</a>' for r in (ref, booked["reference"])}
    assert all(link in page for link in links.values())
    assert by_mobile["reference"] not in page
    # the mobile in another spelling finds its appointment only
    page = admin.post("/admin/contact", {"csrf": admin.csrf, "contact": "+33" + mobile.replace(" ", "")[1:]}).text
    assert "1 référence(s) pour ce contact" in page and f"element={by_mobile['reference']}#journal" in page
    page = admin.post("/admin/contact", {"csrf": admin.csrf, "contact": "personne@nulle-part.fr"}).text
    assert "Aucun message ni rendez-vous conservé ne porte ce contact." in page
    r = admin.post("/admin/contact", {"csrf": admin.csrf, "contact": "pas un contact"})
    assert r.status_code == 400
    assert "Saisissez une adresse e-mail (exemple : nom@exemple.fr) ou un numéro de téléphone" in r.text

    searches = db_rows(server.db, "select agent, detail from audit_log where action = 'contact_search' order by id")
    assert searches[-3:] == [{"agent": BOSS[0], "detail": d} for d in ('{"found": 2}', '{"found": 1}', '{"found": 0}')]
    assert email.lower()[:12] not in str(db_rows(server.db, "select * from audit_log")).lower()
    log = admin.get(f"/admin?qui={BOSS[0]}").text
    assert "recherche des références d&#39;un contact" in log and "Références trouvées : 2" in log


@pytest.mark.parametrize("width", [390, 1280])
def test_the_contact_search_in_chromium_leads_to_the_log_of_each_reference(browser, server, people, width):
    import uuid

    from playwright.sync_api import expect
    from test_console_browser import console_login, new_page
    from test_console_messages import public_message

    email = f"navigateur-{uuid.uuid4().hex[:8]}@exemple.fr"
    ref = public_message(server, "armes", "Objet", "Texte.", email)
    pg = new_page(browser, server, "/console/file")
    pg.set_viewport_size({"width": width, "height": 800})
    console_login(pg, BOSS)
    pg.goto(server.url + "/console/admin")
    pg.get_by_label("Adresse e-mail ou numéro de téléphone").fill(email.upper())
    pg.get_by_role("button", name="Chercher").click()
    expect(pg.locator("#contact-found")).to_have_text(
        "1 référence(s) pour ce contact ; choisissez-en une pour voir son journal :"
    )
    assert pg.evaluate("document.documentElement.scrollWidth") == width
    assert pg.url == server.url + "/console/admin/contact#journal"  # posted: the contact in no URL
    pg.get_by_role("link", name=ref).click()
    expect(pg.locator("#element")).to_have_value(ref)
    expect(pg.locator("#journal-empty")).to_be_visible()  # nobody has seen this person's message yet
    assert pg.problems == []
    pg.context.close()
