"""Messages left by the public, in the agents' console: read, reply by e-mail (real SMTP sink),
reassign, mark answered, reopen, audit log; times shown in Paris time. Real server, real SQLite,
real Chromium."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from conftest import db_rows
from playwright.sync_api import expect
from test_console import Console, cli
from test_console_browser import new_page

AGENT = ("msg-agent", "msg-agent-pass-1")
REPLY = "Bonjour,\nvotre demande de renouvellement est complète : la carte vous sera envoyée sous 15 jours.\nCordialement."


@pytest.fixture(scope="module")
def agent(server, python):
    done = cli(python, server.db, "agents", "add", AGENT[0], "--role", "agent", "--password-stdin", stdin=AGENT[1] + "\n")
    assert done.returncode == 0, done.stderr
    return AGENT


def public_message(server, service: str, subject: str, body: str, email: str | None = None) -> str:
    """A message left through the public page's API, as a person would; returns its reference."""
    payload = {"service": service, "subject": subject, "body": body, "idem": uuid.uuid4().hex}
    if email:
        payload["email"] = email
    status, answer = server.post("/rdv/api/message", payload)
    assert status == 200, answer
    return answer["reference"]


def http_login(server, who) -> Console:
    c = Console(server.url)
    assert c.login(*who).status_code == 303
    return c


def browser_login(browser, server, who, path: str):
    pg = new_page(browser, server, path)
    expect(pg.locator("h1")).to_have_text("Connexion à la console des agents")
    pg.fill("#identifiant", who[0])
    pg.fill("#mot_de_passe", who[1])
    pg.get_by_role("button", name="Se connecter").click()
    return pg


def test_an_agent_reads_replies_reopens_and_reassigns_a_message(browser, server, smtp, agent):
    email = f"usager-{uuid.uuid4().hex[:8]}@exemple.fr"
    ref = public_message(server, "armes", "Renouvellement de ma carte", "Bonjour,\nma carte expire le 3 mars.", email)
    pg = browser_login(browser, server, agent, "/console/messages")
    expect(pg.locator("h1")).to_have_text("Messages aux services")
    row = pg.locator(f'table[data-mailbox=armes] tr[data-reference="{ref}"]')
    expect(row).to_contain_text("Renouvellement de ma carte")
    expect(row).not_to_contain_text(email)
    row.get_by_role("link", name=f"Ouvrir le message {ref}").click()

    # The message: text, service, due date; the address only on request (audit-logged)
    expect(pg.locator("h1")).to_have_text(f"Message {ref}")
    expect(pg.locator("#ticket-body")).to_have_text("Bonjour,\nma carte expire le 3 mars.")
    expect(pg.locator("#ticket-service")).to_have_text("bureau des polices administratives (armes)")
    expect(pg.locator("#ticket-status")).to_contain_text("En attente de réponse")
    expect(pg.locator("#ticket-contact")).not_to_contain_text(email)
    pg.locator("#show-contact").click()
    expect(pg.locator("#contact-email")).to_have_text(email)
    fields = pg.locator("main select, main textarea, main input:not([type=hidden])").all()
    assert len(fields) == 3  # reply, answer given, service
    for field in fields:  # every field has its label
        assert pg.locator(f"label[for='{field.get_attribute('id')}']").count() == 1

    # Reply: written, read again, sent; the person receives it with the reference in the subject
    pg.fill("#reponse", REPLY)
    pg.locator("#reply-submit").click()
    expect(pg.locator("#confirm-title")).to_have_text("Vérifier la réponse avant l'envoi")
    expect(pg.locator("#confirm-text")).to_have_text(REPLY)
    assert [m for m in smtp.to(email) if m["Subject"].startswith("Réponse")] == []  # nothing sent before the confirmation
    pg.locator("#confirm-send").click()
    expect(pg.locator("#message")).to_have_text("Réponse envoyée : le message est marqué comme répondu.")
    replies = [m for m in smtp.to(email) if m["Subject"].startswith("Réponse")]
    assert len(replies) == 1
    assert replies[0]["Subject"] == f"Réponse à votre message {ref} : Renouvellement de ma carte"
    assert replies[0]["Reply-To"] == "pref-armes@cantal.gouv.fr"
    assert replies[0]["Auto-Submitted"] is None
    text = replies[0].get_content().replace("\r\n", "\n")
    assert text.startswith(REPLY + "\n\n—\n\nService « bureau des polices administratives (armes) », préfecture du Cantal.")
    assert f"en gardant la référence {ref} dans l'objet" in text
    expect(pg.locator("#ticket-status")).to_contain_text("Répondu")
    events = pg.locator("#ticket-history > li")
    expect(events).to_have_count(3)
    assert [e.get_attribute("data-event") for e in events.all()] == ["created", "reply", "answered"]
    expect(events.nth(1)).to_contain_text(f"Réponse envoyée par e-mail par {AGENT[0]} — e-mail remis")
    expect(events.nth(1).locator(".console-turn__text")).to_have_text(REPLY)

    # Answered: no longer in the list of messages waiting
    pg.goto(server.url + "/console/messages")
    expect(pg.locator(f'tr[data-reference="{ref}"]')).to_have_count(0)
    pg.locator("#answered-toggle").click()
    expect(pg.locator(f'table[data-mailbox=armes] tr[data-reference="{ref}"]')).to_contain_text("Répondu")

    # Reopen: back in the list of its service
    pg.goto(f"{server.url}/console/messages/{ref}")
    pg.locator("#reopen-submit").click()
    expect(pg.locator("#message")).to_have_text("Message rouvert : il est de nouveau en attente de réponse.")
    pg.goto(server.url + "/console/messages")
    expect(pg.locator(f'table[data-mailbox=armes] tr[data-reference="{ref}"]')).to_have_count(1)

    # Reassign: the other service gets its copy, and the message moves to that service's list
    pg.goto(f"{server.url}/console/messages/{ref}")
    pg.select_option("#service", "qualite")
    pg.locator("#reassign-submit").click()
    expect(pg.locator("#message")).to_have_text("Message réaffecté : le service choisi en reçoit une copie.")
    expect(pg.locator("#ticket-service")).to_have_text("mission qualité de la préfecture")
    expect(pg.locator("#ticket-history > li").last).to_contain_text(
        f"Réaffecté par {AGENT[0]} : de « bureau des polices administratives (armes) » à « mission qualité de la préfecture »"
    )
    copies = [m for m in smtp.to("pref-qualite@cantal.gouv.fr") if ref in m["Subject"]]
    assert len(copies) == 1 and copies[0]["Subject"] == f"[{ref}] Renouvellement de ma carte"
    assert "Message réaffecté à votre service par le service « bureau des polices administratives (armes) »." in copies[
        0
    ].get_content().replace("\r\n", "\n")
    pg.goto(server.url + "/console/messages")
    expect(pg.locator(f'table[data-mailbox=qualite] tr[data-reference="{ref}"]')).to_have_count(1)
    expect(pg.locator(f'table[data-mailbox=armes] tr[data-reference="{ref}"]')).to_have_count(0)

    # Mark answered (no e-mail): the answer given is asked, confirmed, and kept
    pg.goto(f"{server.url}/console/messages/{ref}")
    pg.fill("#note-reponse", "Rappelée au téléphone le 2 mars : dossier complet.")
    pg.locator("#answered-submit").click()
    expect(pg.locator("#confirm-title")).to_have_text("Confirmer : marquer le message comme répondu")
    pg.locator("#confirm-answered").click()
    expect(pg.locator("#message")).to_have_text(
        "Message marqué comme répondu ; la réponse apportée est gardée dans l'historique."
    )
    expect(pg.locator("#ticket-history > li").last).to_contain_text("Rappelée au téléphone le 2 mars : dossier complet.")
    assert pg.problems == []
    pg.context.close()

    audit = db_rows(server.db, "select agent, action, kind from audit_log where item_id = ? order by id", [ref])
    assert audit == [
        {"agent": AGENT[0], "action": a, "kind": "ticket"}
        for a in ("contact_viewed", "ticket_reply", "ticket_reopened", "ticket_reassigned", "ticket_answered")
    ]
    assert db_rows(
        server.db,
        "select kind, agent, body from ticket_events where ticket_id = (select id from tickets where reference = ?) order by id",
        [ref],
    ) == [
        {"kind": "created", "agent": None, "body": None},
        {"kind": "reply", "agent": AGENT[0], "body": REPLY},
        {"kind": "answered", "agent": AGENT[0], "body": None},
        {"kind": "reopened", "agent": AGENT[0], "body": None},
        {"kind": "reassigned", "agent": AGENT[0], "body": None},
        {"kind": "answered", "agent": AGENT[0], "body": "Rappelée au téléphone le 2 mars : dossier complet."},
    ]
    # The sent reply's copy in the outbox keeps neither the person's address nor the text.
    assert db_rows(
        server.db,
        "select status, to_addr, body from outbox where kind = 'ticket_reply' and ticket_id ="
        " (select id from tickets where reference = ?)",
        [ref],
    ) == [{"status": "sent", "to_addr": None, "body": None}]


def _set_created(server, ref: str, stamp: str) -> None:
    import sqlite3

    conn = sqlite3.connect(str(server.db))
    with conn:
        conn.execute("update tickets set created_at = ? where reference = ?", [stamp, ref])
        conn.execute(
            "update ticket_events set ts = ? where kind = 'created' and ticket_id = (select id from tickets where reference = ?)",
            [stamp, ref],
        )
    conn.close()


@pytest.mark.parametrize(
    "stamp, paris",
    [
        ("2026-01-14T23:30:00.000+00:00", "15/01/2026 00:30"),  # winter: UTC+1
        ("2026-07-14T23:30:00.000+00:00", "15/07/2026 01:30"),  # summer: UTC+2
    ],
)
def test_a_utc_time_at_2330_shows_the_paris_date_and_time(browser, server, agent, stamp, paris):
    ref = public_message(server, "titres", "Passeport urgent", "Départ le 20.")
    _set_created(server, ref, stamp)
    pg = browser_login(browser, server, agent, f"/console/messages/{ref}")
    expect(pg.locator("#ticket-created")).to_have_text(paris)
    expect(pg.locator("#ticket-created time")).to_have_attribute("datetime", stamp[:19] + "Z")
    expect(pg.locator("#ticket-history [data-event=created] time")).to_have_text(paris)
    expect(pg.locator("#timezone")).to_have_text("Dates et heures en heure de Paris.")
    pg.goto(server.url + "/console/messages")
    expect(pg.locator(f'tr[data-reference="{ref}"] time')).to_have_text(paris)
    assert pg.problems == []
    pg.context.close()


@pytest.mark.parametrize(
    "stamp, day, other_day, paris",
    [
        ("2026-01-14T23:30:00.000+00:00", "2026-01-15", "2026-01-14", "15/01/2026 00:30"),
        ("2026-07-14T23:30:00.000+00:00", "2026-07-15", "2026-07-14", "15/07/2026 01:30"),
    ],
)
def test_the_queue_shows_and_filters_by_paris_days(server, agent, stamp, day, other_day, paris):
    import sqlite3

    sender = "tz-" + uuid.uuid4().hex[:10]
    server.say(sender, "zorglub troque sa guimbarde")
    conn = sqlite3.connect(str(server.db))
    with conn:
        conn.execute("update conversations set started_at = ?, updated_at = ? where id = ?", [stamp, stamp, sender])
    conn.close()
    c = http_login(server, agent)
    page = c.get(f"/file?canal=chat&du={day}&au={day}").text
    assert f'href="/console/element/chat/{sender}"' in page
    assert f">{paris}</time>" in page
    assert f'href="/console/element/chat/{sender}"' not in c.get(f"/file?canal=chat&du={other_day}&au={other_day}").text
    item = c.get(f"/element/chat/{sender}").text
    assert f'du <time datetime="{stamp[:19]}Z">{paris}</time></h1>' in item


def test_a_voicemail_message_links_its_recording_and_offers_no_reply_by_mail(server, agent):
    from bot.core import config
    from bot.store.database import Store
    from ivr.calls import Calls

    recording = "RE" + uuid.uuid4().hex
    store = Store(server.db)
    try:
        Calls(store, config.load_prefecture("cantal")).add_voicemail(
            "CA" + uuid.uuid4().hex,
            recording,
            "etrangers",
            "bureau des migrations et de l'intégration",
            f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{recording}",
            42,
        )
    finally:
        store.close()
    ref = db_rows(server.db, "select reference from tickets where idempotency_key = ?", [f"voicemail:{recording}"])[0][
        "reference"
    ]
    c = http_login(server, agent)
    page = c.get(f"/messages/{ref}").text
    assert (
        f'href="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{recording}" rel="noopener noreferrer"'
        f' target="_blank" id="recording">Écouter l\'enregistrement (42 secondes)'
    ) in page
    assert "La transcription automatique de Twilio ne reconnaît que l'anglais" in page
    assert "Aucune adresse électronique donnée : pas de réponse possible par e-mail." in page
    assert 'id="reply-form"' not in page and 'id="show-contact"' not in page
    assert 'id="answered-form"' in page  # answered by phone, noted here
    form = {"csrf": c.csrf, "reponse": "Bonjour", "confirme": "1", "idem": uuid.uuid4().hex, "vu": "0"}
    r = c.post(f"/messages/{ref}/repondre", form)
    assert r.status_code == 409
    assert "La personne n&#39;a pas donné d&#39;adresse électronique" in r.text
    assert db_rows(server.db, "select status from tickets where reference = ?", [ref]) == [{"status": "open"}]


def test_message_actions_need_their_token_valid_values_and_a_known_message(server, agent):
    ref = public_message(server, "armes", "Objet", "Texte", "quelquun@exemple.fr")
    anonymous = Console(server.url)
    for action in ("repondre", "repondu", "reaffecter", "rouvrir"):
        assert anonymous.post(f"/messages/{ref}/{action}", {"csrf": "x"}).status_code == 401, action
    assert anonymous.get(f"/messages/{ref}").status_code == 303
    c = http_login(server, agent)
    page = c.get(f"/messages/{ref}").text
    assert page.count('name="csrf"') == page.count("<form")
    for action, form in (
        ("repondre", {"reponse": "x", "confirme": "1"}),
        ("repondu", {"reponse": "x", "confirme": "1"}),
        ("reaffecter", {"service": "qualite"}),
        ("rouvrir", {}),
    ):
        assert c.post(f"/messages/{ref}/{action}", form).status_code == 403, action
        assert c.post(f"/messages/{ref}/{action}", form | {"csrf": c.csrf + "x"}).status_code == 403, action
    assert db_rows(server.db, "select status, mailbox from tickets where reference = ?", [ref]) == [
        {"status": "open", "mailbox": "armes"}
    ]
    assert c.get("/messages/MSG-0000-0000").status_code == 404
    assert c.get("/messages/<script>").status_code == 404
    assert c.post("/messages/MSG-0000-0000/rouvrir", {"csrf": c.csrf}).status_code == 404
    assert c.post("/messages/MSG-0000-0000/reaffecter", {"csrf": c.csrf, "service": "qualite"}).status_code == 404
    # invisible characters only (zero-width spaces, a BOM: an outside-in audit sent an empty e-mail)
    for bad in (
        {"reponse": ""},
        {"reponse": "   "},
        {"reponse": "x" * 10001},
        {"reponse": "\u200b\u200b"},
        {"reponse": "\ufeff \u200d"},
    ):
        r = c.post(f"/messages/{ref}/repondre", {"csrf": c.csrf, "confirme": "1"} | bad)
        assert r.status_code == 400 and "Écrivez la réponse (10000 caractères au plus)." in r.text
    for bad in ("", "paris", "armes"):
        r = c.post(f"/messages/{ref}/reaffecter", {"csrf": c.csrf, "service": bad})
        assert r.status_code in (400, 409), bad
    assert (
        "Le message est déjà affecté à ce service."
        in c.post(f"/messages/{ref}/reaffecter", {"csrf": c.csrf, "service": "armes"}).text
    )
    r = c.post(f"/messages/{ref}/rouvrir", {"csrf": c.csrf})
    assert r.status_code == 409 and "il est déjà en attente de réponse" in r.text
    r = c.post(f"/messages/{ref}/repondre", {"csrf": c.csrf, "reponse": "Réponse <b>courte</b>"})
    assert r.status_code == 200 and "Réponse &lt;b&gt;courte&lt;/b&gt;" in r.text  # the preview, escaped
    r = c.post(f"/messages/{ref}/repondre", {"csrf": c.csrf, "reponse": "Réponse courte", "confirme": "0"})
    assert r.status_code == 200 and ">Réponse courte</textarea>" in r.text  # "Modifier": back to the form, text kept
    assert db_rows(
        server.db,
        "select count(*) as n from outbox where kind = 'ticket_reply' and ticket_id ="
        " (select id from tickets where reference = ?)",
        [ref],
    ) == [{"n": 0}]
    assert db_rows(server.db, "select action from audit_log where item_id = ?", [ref]) == []


def test_the_purge_erases_replies_and_answers_with_the_message(tmp_path, smtp):
    from bot.core import config
    from bot.services import mailer, tickets
    from bot.store.database import Store

    pref = config.load_prefecture("cantal")
    store = Store(tmp_path / "purge.db")
    t = tickets.create_ticket(store, pref, "armes", "Objet", "Texte", "p@exemple.fr")
    tickets.reply(store, pref, t["reference"], "agent1", "Votre réponse personnelle")
    tickets.reopen(store, t["reference"], "agent1")
    tickets.mark_answered(store, t["reference"], agent="agent1", answer="Rappelée")
    assert mailer.deliver_pending(store, mailer.SmtpSettings.from_env(smtp.env))["sent"] == 3
    later = datetime(2040, 1, 1, tzinfo=UTC)
    assert tickets.purge(store, pref, later)["tickets"] == 1
    assert [(e["kind"], e["body"]) for e in tickets.history(store, t["id"])] == [
        ("created", None),
        ("reply", None),
        ("answered", None),
        ("reopened", None),
        ("answered", None),
    ]
    assert tickets.get_ticket(store, t["reference"])["contact_email"] is None
    store.close()


def test_a_letter_received_days_ago_shows_the_day_it_was_received(server, agent):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    received = datetime.now(ZoneInfo("Europe/Paris")).date() - timedelta(days=4)
    c = http_login(server, agent)
    idem = re.search(r'name="idem" value="([^"]+)"', c.get("/courrier").text).group(1)  # drawn with the form
    r = c.post(
        "/courrier",
        {
            "csrf": c.csrf,
            "idem": idem,
            "service": "armes",
            "received": received.isoformat(),
            "subject": "Lettre reçue",
            "body": "Texte de la lettre",
        },
    )
    assert r.status_code == 303
    ref = r.headers["Location"].split("ok=")[1]
    page = c.get(f"/messages/{ref}").text
    assert '<dd id="ticket-created"><time datetime="' in page
    assert f">{received.strftime('%d/%m/%Y')} 09:00</time></dd>" in page  # not the day it was typed in


def test_a_paper_letter_received_in_the_future_or_before_the_retention_is_refused(server, agent):
    """A letter received before the tickets' retention (tickets.retention_days, 365 days in the
    Cantal) would be purged at once, and year 1 gave « lundi 15 janvier 1 » as its due date: both
    refused, like a date in the future, with the form shown again as it was typed."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    oldest = today - timedelta(days=364)  # kept until the purge 365 days after its receipt
    too_old = (
        f"La date de réception ne peut pas être antérieure au {oldest.strftime('%d/%m/%Y')} : un courrier "
        "reçu plus tôt serait effacé aussitôt (les messages sont conservés 365 jours)."
    )
    c = http_login(server, agent)
    idem = re.search(r'name="idem" value="([^"]+)"', c.get("/courrier").text).group(1)  # drawn with the form
    typed = {"csrf": c.csrf, "service": "armes", "subject": "Lettre hors délai", "body": "Texte tapé de la lettre", "idem": idem}
    for received, reason in (
        ("0001-01-01", too_old),
        ((oldest - timedelta(days=1)).isoformat(), too_old),
        ((today + timedelta(days=1)).isoformat(), "La date de réception ne peut pas être dans le futur."),
        ("9999-12-31", "La date de réception ne peut pas être dans le futur."),
    ):
        r = c.post("/courrier", typed | {"received": received})
        assert r.status_code == 400, received
        assert reason.replace("'", "&#39;") in r.text, received
        assert f'name="received" max="{today.isoformat()}" value="{received}"' in r.text
        assert 'value="Lettre hors délai"' in r.text and ">Texte tapé de la lettre</textarea>" in r.text
        assert f'name="idem" value="{idem}"' in r.text  # the same form: its key kept while it is refused
    assert db_rows(server.db, "select count(*) as n from tickets where subject = 'Lettre hors délai'") == [{"n": 0}]
    r = c.post("/courrier", typed | {"received": oldest.isoformat(), "subject": "Lettre au bord du délai"})
    assert r.status_code == 303
    # as the refusal's example writes it, and as a browser without a date picker sends what was typed
    # (an outside-in audit: "03/12/2026" was refused with a message whose example had that form)
    idem = re.search(r'name="idem" value="([^"]+)"', c.get("/courrier").text).group(1)
    typed_fr = typed | {"idem": idem, "received": today.strftime("%d/%m/%Y"), "subject": "Lettre datée à la française"}
    assert c.post("/courrier", typed_fr).status_code == 303
    assert db_rows(server.db, "select count(*) as n from tickets where subject = 'Lettre datée à la française'") == [{"n": 1}]
