"""Replies to a message, as agents send them: one e-mail per confirmation however often the confirmation
is posted, and no second reply from a page opened before another agent answered (unless the agent,
shown that answer, sends a complement on purpose). Real server, real SQLite, the session's SMTP server,
the forms as the pages give them (HTTP) and real Chromium."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import pytest
from conftest import db_rows
from playwright.sync_api import expect
from store_backends import connect
from test_console import cli
from test_console_messages import browser_login, http_login, public_message
from test_mail_subjects import ENCODED_WORD

AGENTS = (("reply-agent-a", "reply-agent-a-pass"), ("reply-agent-b", "reply-agent-b-pass"))


@pytest.fixture(scope="module")
def agents(server, python):
    for name, password in AGENTS:
        done = cli(python, server.db, "agents", "add", name, "--role", "agent", "--password-stdin", stdin=password + "\n")
        assert done.returncode == 0, done.stderr
    return AGENTS


class Forms(HTMLParser):
    """The forms of a page: [{"action", "id", "fields": {name: value}, "buttons": {id: (name, value)}}],
    the values a browser would send untouched (a select's selected option, else its first)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.textarea: str | None = None
        self.select: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "id": a.get("id"), "fields": {}, "buttons": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""
        elif tag == "select" and self.forms:
            self.select = a["name"]
            self.forms[-1]["fields"][self.select] = None
        elif tag == "option" and self.select and (self.forms[-1]["fields"][self.select] is None or "selected" in a):
            self.forms[-1]["fields"][self.select] = a.get("value") or ""
        elif tag == "textarea" and self.forms:
            self.textarea = a["name"]
            self.forms[-1]["fields"][self.textarea] = ""
        elif tag == "button" and self.forms and a.get("id"):
            self.forms[-1]["buttons"][a["id"]] = (a.get("name"), a.get("value"))

    def handle_data(self, data):
        if self.textarea:
            self.forms[-1]["fields"][self.textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self.textarea = None
        elif tag == "select":
            self.select = None


def submit(c, html: str, button: str, **typed) -> "requests.Response":  # noqa: F821
    """What the browser posts when `button` (its id) is clicked on the page `html`, the fields `typed` filled."""
    form = next(f for f in Forms(html).forms if button in f["buttons"])
    name, value = form["buttons"][button]
    data = form["fields"] | typed | ({name: value} if name else {})
    return c.http.post(c.url.removesuffix("/console") + form["action"], data=data, allow_redirects=False, timeout=30)


def sign_in(pg, who) -> None:
    """The login page shown: the name and password typed, « Se connecter » clicked."""
    expect(pg.locator("h1")).to_have_text("Connexion à la console des agents")
    pg.fill("#identifiant", who[0])
    pg.fill("#mot_de_passe", who[1])
    pg.get_by_role("button", name="Se connecter").click()


def age_sessions(server, who) -> None:
    """31 minutes without a request for every session of `who`, as tests/test_console.py ages a session."""
    conn = connect(server.db)
    with conn:
        agent_id = "(select id from agents where name = ?)"
        conn.execute(f"update sessions set seen_ts = seen_ts - ? where agent_id = {agent_id}", [31 * 60, who[0]])
    conn.close()


def replies_to(smtp, email: str) -> list[str]:
    texts = [m.get_content().replace("\r\n", "\n") for m in smtp.to(email) if m["Subject"].startswith("Réponse")]
    return [text.split("\n\n—\n\n")[0] for text in texts]


def test_a_confirmation_posted_twice_sends_one_email(server, smtp, agents):
    email = f"double-{uuid.uuid4().hex[:8]}@exemple.fr"
    ref = public_message(server, "armes", "Détention d'une arme", "Bonjour, ma question.", email)
    c = http_login(server, agents[0])
    page = c.get(f"/messages/{ref}").text
    preview = submit(c, page, "reply-submit", reponse="Votre dossier est complet.")
    assert preview.status_code == 200 and 'id="confirm-send"' in preview.text
    # A double click on « Envoyer la réponse »: the same confirmation, twice at once.
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: submit(c, preview.text, "confirm-send"), range(2)))
    assert [(r.status_code, r.headers["Location"]) for r in answers] == [(303, f"/console/messages/{ref}?ok=reply")] * 2
    assert replies_to(smtp, email) == ["Votre dossier est complet."]
    events = "select kind from ticket_events where ticket_id = (select id from tickets where reference = ?) order by id"
    assert [e["kind"] for e in db_rows(server.db, events, [ref])] == ["created", "reply", "answered"]
    assert db_rows(server.db, "select agent, action from audit_log where item_id = ?", [ref]) == [
        {"agent": agents[0][0], "action": "ticket_reply"}
    ]


def test_a_reply_from_a_page_opened_before_another_answer_is_refused_and_shows_that_answer(browser, server, smtp, agents):
    email = f"deux-agents-{uuid.uuid4().hex[:8]}@exemple.fr"
    ref = public_message(server, "titres", "Passeport", "Bonjour, où en est mon passeport ?", email)
    first = browser_login(browser, server, agents[0], f"/console/messages/{ref}")
    second = browser_login(browser, server, agents[1], f"/console/messages/{ref}")
    second.fill("#reponse", "Votre passeport est prêt.")
    second.locator("#reply-submit").click()
    expect(second.locator("#confirm-title")).to_have_text("Vérifier la réponse avant l'envoi")

    first.fill("#reponse", "Votre passeport sera prêt lundi.")
    first.locator("#reply-submit").click()
    first.locator("#confirm-send").click()
    expect(first.locator("#message")).to_have_text("Réponse envoyée : le message est marqué comme répondu.")

    # The second agent, whose page predates that answer, is stopped and shown it.
    second.locator("#confirm-send").click()
    expect(second.locator("#erreur")).to_contain_text(
        f"Ce message a reçu une réponse de {agents[0][0]} après l'ouverture de votre page : la vôtre n'a pas été envoyée."
    )
    expect(second.locator("#already-answered .console-turn__text")).to_have_text("Votre passeport sera prêt lundi.")
    expect(second.locator("#reponse")).to_have_value("Votre passeport est prêt.")
    expect(second.locator("#reply-title")).to_have_text("Envoyer un complément par e-mail")
    assert replies_to(smtp, email) == ["Votre passeport sera prêt lundi."]

    # Having read it, they may still send theirs, as a complement, on purpose: read again, then send.
    second.locator("#reply-submit").click()
    second.locator("#confirm-send").click()
    expect(second.locator("#message")).to_have_text("Réponse envoyée : le message est marqué comme répondu.")
    assert replies_to(smtp, email) == ["Votre passeport sera prêt lundi.", "Votre passeport est prêt."]
    assert first.problems == []
    assert second.problems == ["Failed to load resource: the server responded with a status of 409 (Conflict)"]
    first.context.close()
    second.context.close()


def test_a_confirmation_without_its_key_is_shown_again_and_sends_nothing(server, smtp, agents):
    email = f"sans-cle-{uuid.uuid4().hex[:8]}@exemple.fr"
    ref = public_message(server, "armes", "Détention", "Bonjour.", email)
    c = http_login(server, agents[0])
    c.get(f"/messages/{ref}")
    r = c.post(f"/messages/{ref}/repondre", {"csrf": c.csrf, "reponse": "Réponse", "confirme": "1"})
    assert r.status_code == 400
    assert "Ce formulaire de réponse n&#39;est plus valide" in r.text and 'id="confirm-send"' in r.text
    assert replies_to(smtp, email) == []
    assert submit(c, r.text, "confirm-send").status_code == 303  # the preview shown again sends it
    assert replies_to(smtp, email) == ["Réponse"]


def test_an_answered_message_cannot_be_reassigned(server, smtp, agents):
    ref = public_message(server, "armes", "Détention", "Bonjour, ma question.", f"reaff-{uuid.uuid4().hex[:8]}@exemple.fr")
    a, b = http_login(server, agents[0]), http_login(server, agents[1])
    page = b.get(f"/messages/{ref}").text  # open when the second agent's page is drawn
    answered = submit(a, a.get(f"/messages/{ref}").text, "answered-submit", reponse="Répondu au guichet.")
    assert submit(a, answered.text, "confirm-answered").status_code == 303
    r = submit(b, page, "reassign-submit", service="qualite")
    assert r.status_code == 409
    assert "Ce message a déjà reçu une réponse : il ne peut plus être réaffecté. Rouvrez-le d&#39;abord" in r.text
    assert db_rows(server.db, "select mailbox, status from tickets where reference = ?", [ref]) == [
        {"mailbox": "armes", "status": "answered"}
    ]
    assert [m for m in smtp.to("pref-qualite@cantal.gouv.fr") if ref in m["Subject"]] == []


def test_the_reply_subject_keeps_every_space_of_an_accented_subject(server, smtp, agents):
    # Python's header folding dropped the space where it cut an accented subject between two encoded
    # words: the person received « Armeshéritées — démarche à suivre ? ».
    email = f"objet-{uuid.uuid4().hex[:8]}@exemple.fr"
    subject = "Armes héritées — démarche à suivre ?"
    ref = public_message(server, "armes", subject, "Bonjour, mon père m'a laissé deux fusils.", email)
    copy = [m for m in smtp.to("pref-armes@cantal.gouv.fr") if ref in m["Subject"]]
    assert [m["Subject"] for m in copy] == [f"[{ref}] {subject}"]
    c = http_login(server, agents[0])
    preview = submit(c, c.get(f"/messages/{ref}").text, "reply-submit", reponse="Déclarez-les sur le SIA.")
    assert submit(c, preview.text, "confirm-send").status_code == 303
    received = [m["Subject"] for m in smtp.to(email) if m["Subject"].startswith("Réponse")]
    assert received == [f"Réponse à votre message {ref} : Armes héritées — démarche à suivre ?"]
    # ... in encoded words a strict mail reader accepts (RFC 2047: 75 characters at most), in lines of
    # 78 at most (RFC 5322), for the acknowledgement and the reply alike (tests/test_mail_subjects.py)
    raws = smtp.raw_to(email)
    assert len(raws) == 2
    assert [w for raw in raws for w in ENCODED_WORD.findall(raw) if len(w) > 75] == []
    assert [line for raw in raws for line in raw.split(b"\r\n") if len(line) > 78] == []


def test_an_address_with_an_apostrophe_leaves_a_message_and_gets_the_reply(server, smtp, agents):
    # « helene.o'connor@… » is a valid address (RFC 5322 allows ' in the local part): it was refused
    # as « L'adresse électronique n'est pas valide », and the person could not leave the message.
    email = f"helene.o'connor-{uuid.uuid4().hex[:6]}@exemple.fr"
    ref = public_message(server, "armes", "Détention d'armes", "Bonjour,\nJe m'appelle Hélène O'Connor-Lefèvre.", email)
    c = http_login(server, agents[0])
    shown = email.replace("'", "&#39;")  # as Jinja escapes it
    assert f'<span id="contact-email">{shown}</span>' in c.get(f"/messages/{ref}?contact=1").text
    preview = submit(c, c.get(f"/messages/{ref}").text, "reply-submit", reponse="Bonjour Madame O'Connor-Lefèvre,\nc'est noté.")
    assert submit(c, preview.text, "confirm-send").status_code == 303
    assert replies_to(smtp, email) == ["Bonjour Madame O'Connor-Lefèvre,\nc'est noté."]


def test_an_answer_typed_when_the_session_expires_is_given_back_not_lost(browser, server, smtp, agents):
    # The session ended (30 minutes without a request) while the agent wrote: « Vérifier la réponse »
    # gave the 401 page and nothing else, and the answer typed was lost without a word.
    email = f"expire-{uuid.uuid4().hex[:8]}@exemple.fr"
    ref = public_message(server, "armes", "Carte européenne", "Je voudrais une carte européenne d'arme à feu.", email)
    pg = browser_login(browser, server, agents[1], f"/console/messages/{ref}")
    answer = "Bonjour,\nla carte européenne se demande sur le SIA.\nCordialement."
    pg.fill("#reponse", answer)
    age_sessions(server, agents[1])
    pg.locator("#reply-submit").click()
    expect(pg.locator("h1")).to_have_text("Session expirée")
    expect(pg.locator("#kept-text-label")).to_have_text(
        "Ce que vous aviez écrit n'a pas été envoyé. Copiez-le avant de vous reconnecter :"
    )
    expect(pg.locator("#kept-text")).to_have_value(answer)
    assert replies_to(smtp, email) == []
    pg.context.close()


def test_signing_in_again_after_the_session_expired_returns_to_the_message(browser, server, smtp, agents):
    # The session ended on a message's page: signing in again led to the queue (« File des demandes
    # non résolues ») when the agent had just posted its reply form, and they had to find the message again.
    email = f"retour-{uuid.uuid4().hex[:8]}@exemple.fr"
    ref = public_message(server, "armes", "Carte européenne", "Je voudrais une carte européenne d'arme à feu.", email)
    pg = browser_login(browser, server, agents[1], f"/console/messages/{ref}")
    expect(pg.locator("h1")).to_have_text(f"Message {ref}")

    # Expired while reading: the page reloaded asks to sign in, then shows the message again.
    age_sessions(server, agents[1])
    pg.reload()
    sign_in(pg, agents[1])
    expect(pg.locator("h1")).to_have_text(f"Message {ref}")
    assert pg.url == f"{server.url}/console/messages/{ref}"

    # Expired while answering: the answer is given back, and signing in again leads to the message.
    pg.fill("#reponse", "Bonjour,\nla carte européenne se demande sur le SIA.")
    age_sessions(server, agents[1])
    pg.locator("#reply-submit").click()
    expect(pg.locator("h1")).to_have_text("Session expirée")
    expect(pg.locator("#kept-text")).to_have_value("Bonjour,\nla carte européenne se demande sur le SIA.")
    pg.get_by_role("link", name="Se connecter").click()
    sign_in(pg, agents[1])
    expect(pg.locator("h1")).to_have_text(f"Message {ref}")
    assert pg.url == f"{server.url}/console/messages/{ref}"
    assert replies_to(smtp, email) == []
    assert pg.problems == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
    pg.context.close()
