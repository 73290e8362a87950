"""Issue 13, leftovers, through the real console: an action and its audit line are one transaction.
The failure is injected in the server's own store (a trigger that refuses the audit line of one
agent's action: in its SQLite file, or with AIGUILLAGE_TEST_STORE=postgresql in the PostgreSQL
schema standing for it): the action's own rows must not be left behind."""

from __future__ import annotations

import contextlib
import html
import os
import re
import sqlite3
import subprocess
import uuid
from datetime import date, timedelta

import psycopg2
import pytest
import requests
from conftest import ROOT, db_rows
from store_backends import redirected

pytestmark = pytest.mark.reliability  # part of the battery (make reliability, docs/reliability.md)

ADMIN = ("tx-admin", "tx-admin-pass-123")
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


class Console:
    def __init__(self, server):
        self.url = server.url + "/console"
        self.http = requests.Session()
        page = self.http.get(self.url + "/connexion", timeout=30)
        form = {"csrf": CSRF_RE.search(page.text).group(1), "identifiant": ADMIN[0], "mot_de_passe": ADMIN[1]}
        assert self.http.post(self.url + "/connexion", data=form, allow_redirects=False, timeout=30).status_code == 303
        self.csrf = CSRF_RE.search(self.http.get(self.url + "/file", timeout=30).text).group(1)

    def post(self, path: str, form: dict) -> requests.Response:
        return self.http.post(self.url + path, data={"csrf": self.csrf, **form}, allow_redirects=False, timeout=60)


@pytest.fixture(scope="module")
def console(server, python):
    done = subprocess.run(
        [python, "-m", "bot", "agents", "add", ADMIN[0], "--role", "admin", "--password-stdin"],
        cwd=ROOT,
        env=server_env(server),
        input=ADMIN[1] + "\n",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return Console(server)


def server_env(server) -> dict[str, str]:
    """A command's environment on the server's store (its PostgreSQL schema when the session is there)."""
    env = dict(os.environ, AIGUILLAGE_DB=str(server.db))
    if url := redirected(server.db):
        env["DATABASE_URL"] = url
    return env


@contextlib.contextmanager
def audit_line_fails(server, action: str):
    """While open, the audit line of `action` by ADMIN cannot be written (the write after the action's)."""
    url = redirected(server.db)
    if url:
        with pg_audit_line_fails(url, action):
            yield
        return
    conn = sqlite3.connect(server.db, timeout=30)
    conn.execute(
        f"create trigger tx_fail_{action} before insert on audit_log"
        f" when new.action = '{action}' and new.agent = '{ADMIN[0]}'"
        " begin select raise(abort, 'injected failure'); end"
    )
    conn.commit()
    try:
        yield
    finally:
        conn.execute(f"drop trigger tx_fail_{action}")
        conn.commit()
        conn.close()


@contextlib.contextmanager
def pg_audit_line_fails(url: str, action: str):
    """audit_line_fails on PostgreSQL: the same trigger in PL/pgSQL, in the server's schema."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    name = f"tx_fail_{action}"
    with conn.cursor() as cur:
        cur.execute(
            f"create function {name}() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$"
        )
        cur.execute(
            f"create trigger {name} before insert on audit_log for each row"
            f" when (new.action = '{action}' and new.agent = '{ADMIN[0]}') execute function {name}()"
        )
    try:
        yield
    finally:
        with conn.cursor() as cur:
            cur.execute(f"drop trigger {name} on audit_log")
            cur.execute(f"drop function {name}()")
        conn.close()


def audit(server, action: str, item_id: str) -> list[dict]:
    return db_rows(server.db, "select agent, action from audit_log where action = ? and item_id = ?", [action, item_id])


def test_a_paper_letter_whose_audit_line_fails_leaves_no_ticket_and_no_mail(server, console):
    subject = "Lettre " + uuid.uuid4().hex[:8]
    form = {
        "service": "armes",
        "received": (date.today() - timedelta(days=1)).isoformat(),
        "subject": subject,
        "body": "Texte de la lettre",
        "email": "lettre@example.org",
        # the form's key, drawn when it is shown
        "idem": re.search(r'name="idem" value="([^"]+)"', console.http.get(console.url + "/courrier").text).group(1),
    }
    with audit_line_fails(server, "paper_letter"):
        failed = console.post("/courrier", form)
    assert failed.status_code == 503
    assert "Rien n'a été enregistré : réessayez dans un instant." in html.unescape(failed.text)
    assert db_rows(server.db, "select reference from tickets where subject = ?", [subject]) == []
    assert db_rows(server.db, "select id from outbox where subject like ?", [f"%{subject}%"]) == []
    done = console.post("/courrier", form)  # the same form again, the store working: written, and logged
    assert done.status_code == 303
    reference = done.headers["Location"].split("ok=")[1]
    assert db_rows(server.db, "select subject, status from tickets where reference = ?", [reference]) == [
        {"subject": subject, "status": "open"}
    ]
    assert audit(server, "paper_letter", reference) == [{"agent": "tx-admin", "action": "paper_letter"}]


def test_an_account_whose_audit_line_fails_is_not_created(server, console):
    name = "tx-" + uuid.uuid4().hex[:8]
    form = {"identifiant": name, "role": "agent", "mot_de_passe": "mot-de-passe-123", "confirmation": "mot-de-passe-123"}
    with audit_line_fails(server, "agent_created"):
        failed = console.post("/admin/comptes", form)
    assert failed.status_code == 503
    assert db_rows(server.db, "select name from agents where name = ?", [name]) == []
    assert console.post("/admin/comptes", form).status_code == 303
    assert db_rows(server.db, "select name, role, active from agents where name = ?", [name]) == [
        {"name": name, "role": "agent", "active": 1}
    ]
    assert audit(server, "agent_created", name) == [{"agent": "tx-admin", "action": "agent_created"}]


def test_a_review_whose_audit_line_fails_is_not_saved(server, console):
    sender = "tx-" + uuid.uuid4().hex[:12]
    server.say(sender, "zorglub vend sa guimbarde")
    form = {"theme": "carte_grise", "statut": "done", "note": "revu"}
    with audit_line_fails(server, "label"):
        failed = console.post(f"/element/chat/{sender}", form)
    assert failed.status_code == 503
    assert db_rows(server.db, "select * from reviews where item_id = ?", [sender]) == []
    assert console.post(f"/element/chat/{sender}", form).status_code == 303
    assert db_rows(server.db, "select status, topic, note from reviews where item_id = ?", [sender]) == [
        {"status": "done", "topic": "carte_grise", "note": "revu"}
    ]


def test_a_message_marked_answered_whose_audit_line_fails_stays_open(server, console):
    # The ticket service's own transaction is a savepoint inside the console's: both are undone.
    payload = {"service": "armes", "subject": "Permis de chasse", "body": "Où en est mon dossier ?", "idem": uuid.uuid4().hex}
    status, answer = server.post("/rdv/api/message", payload)
    assert status == 200, answer
    reference = answer["reference"]
    form = {"reponse": "Répondu par téléphone le jour même.", "confirme": "1"}
    with audit_line_fails(server, "ticket_answered"):
        failed = console.post(f"/messages/{reference}/repondu", form)
    assert failed.status_code == 503
    ticket = "select status, answered_at from tickets where reference = ?"
    assert db_rows(server.db, ticket, [reference]) == [{"status": "open", "answered_at": None}]
    events = "select e.kind from ticket_events e join tickets t on t.id = e.ticket_id where t.reference = ? order by e.id"
    assert db_rows(server.db, events, [reference]) == [{"kind": "created"}]
    assert console.post(f"/messages/{reference}/repondu", form).status_code == 303
    assert db_rows(server.db, ticket, [reference])[0]["status"] == "answered"
    assert [r["kind"] for r in db_rows(server.db, events, [reference])] == ["created", "answered"]
    assert audit(server, "ticket_answered", reference) == [{"agent": "tx-admin", "action": "ticket_answered"}]
