"""A paper letter registered in the console (/console/courrier) is one ticket however often its form is
posted: the form's idempotency key is drawn when the form is shown, as the booking form's. Real server,
real SQLite, the session's SMTP server, the form as the page gives it."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from conftest import db_rows
from test_console import cli
from test_console_messages import http_login
from test_console_replies import Forms, submit

AGENT = ("paper-double-agent", "paper-double-agent-pass")


@pytest.fixture(scope="module")
def agent(server, python):
    done = cli(python, server.db, "agents", "add", AGENT[0], "--role", "agent", "--password-stdin", stdin=AGENT[1] + "\n")
    assert done.returncode == 0, done.stderr
    return AGENT


def test_a_letter_submitted_twice_is_one_message_with_one_copy_and_one_acknowledgement(server, smtp, agent):
    email = f"courrier-{uuid.uuid4().hex[:8]}@exemple.fr"
    subject = f"Courrier de M. Test double clic {uuid.uuid4().hex[:6]}"
    c = http_login(server, agent)
    form = c.get("/courrier").text
    letter = {"service": "armes", "subject": subject, "body": "Lettre reçue.", "email": email}
    with ThreadPoolExecutor(max_workers=2) as pool:  # a double click on « Enregistrer le courrier »
        answers = list(pool.map(lambda _: submit(c, form, "paper-submit", **letter), range(2)))
    rows = db_rows(server.db, "select reference from tickets where subject = ?", [subject])
    assert len(rows) == 1
    ref = rows[0]["reference"]
    assert [(r.status_code, r.headers["Location"]) for r in answers] == [(303, f"/console/courrier?ok={ref}")] * 2
    assert len([m for m in smtp.to("pref-armes@cantal.gouv.fr") if ref in m["Subject"]]) == 1
    assert len(smtp.to(email)) == 1
    assert [a["action"] for a in db_rows(server.db, "select action from audit_log where item_id = ?", [ref])] == ["paper_letter"]

    # The page after it draws a new key: the next letter is a new message.
    again = c.get(f"/courrier?ok={ref}").text
    assert Forms(again).forms[-1]["fields"]["idem"] != Forms(form).forms[-1]["fields"]["idem"]
    r = submit(c, again, "paper-submit", **letter)
    assert r.status_code == 303 and r.headers["Location"] != f"/console/courrier?ok={ref}"
    assert len(db_rows(server.db, "select reference from tickets where subject = ?", [subject])) == 2


def test_a_letter_form_without_its_key_is_shown_again_and_registers_nothing(server, agent):
    subject = f"Courrier sans clé {uuid.uuid4().hex[:6]}"
    c = http_login(server, agent)
    c.get("/courrier")
    received = (date.today() - timedelta(days=3)).isoformat()  # inside the retention window
    r = c.post("/courrier", {"csrf": c.csrf, "service": "armes", "received": received, "subject": subject, "body": "x"})
    assert r.status_code == 400 and "Ce formulaire n&#39;est plus valide" in r.text
    assert f'value="{subject}"' in r.text  # what was typed is kept
    assert db_rows(server.db, "select count(*) as n from tickets where subject = ?", [subject]) == [{"n": 0}]
    assert submit(c, r.text, "paper-submit").status_code == 303
    assert db_rows(server.db, "select count(*) as n from tickets where subject = ?", [subject]) == [{"n": 1}]
