"""E-mails the SMTP server refuses, as agents see them in the console's « Envois non encore remis »
table: no person's address in the error stored, shown or logged, and a permanent refusal not retried.
Real server, real SQLite, the session's local SMTP server (tests/conftest.py SmtpSink, which refuses
"refuse…" addresses for good and "boite-pleine…" ones for now)."""

from __future__ import annotations

import re
import uuid

import pytest
from conftest import db_rows
from test_console import cli
from test_console_messages import http_login, public_message

AGENT = ("outbox-agent", "outbox-agent-pass-1")


@pytest.fixture(scope="module")
def agent(server, python):
    done = cli(python, server.db, "agents", "add", AGENT[0], "--role", "agent", "--password-stdin", stdin=AGENT[1] + "\n")
    assert done.returncode == 0, done.stderr
    return AGENT


def outbox_rows(server, reference: str) -> list[dict]:
    return db_rows(
        server.db,
        "select kind, status, attempts, last_error from outbox where ticket_id = (select id from tickets where reference = ?)"
        " order by id",
        [reference],
    )


def failure_row(page: str, reference: str, kind: str) -> list[str]:
    """The cells of the failures table's row of `reference`'s e-mail of `kind` (its French name)."""
    table = page[page.index('id="failures"') :]
    for row in re.findall(r"<tr data-outbox=\"\d+\">(.*?)</tr>", table, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if cells[0] == kind and cells[1] == reference:
            return cells
    raise AssertionError(f"no row {kind} {reference} in the failures table")


def test_a_refused_address_is_never_stored_shown_or_logged_only_seen_through_the_audited_view(server, smtp, agent):
    email = f"refuse.{uuid.uuid4().hex[:8]}@exemple.fr"
    ref = public_message(server, "titres", "Question permis", "Bonjour, ma question.", email)
    assert email in smtp.rcpts  # the SMTP server was asked, and refused it
    ack = [r for r in outbox_rows(server, ref) if r["kind"] == "ticket_ack"]
    assert [r["last_error"] for r in ack] == ["SMTPRecipientsRefused: 550 [e-mail]"]

    c = http_login(server, agent)
    page = c.get("/messages").text
    assert email not in page
    cells = failure_row(page, ref, "Accusé de réception")
    assert cells[5] == "SMTPRecipientsRefused: 550 [e-mail]"
    assert email not in server.log.read_text(encoding="utf-8")
    assert "SMTPRecipientsRefused: 550 [e-mail]" in server.log.read_text(encoding="utf-8")

    # The address is seen through the message's audited contact view, and only there.
    assert email not in c.get(f"/messages/{ref}").text
    assert f'<span id="contact-email">{email}</span>' in c.get(f"/messages/{ref}?contact=1").text
    assert db_rows(server.db, "select agent, action from audit_log where item_id = ? order by id", [ref]) == [
        {"agent": AGENT[0], "action": "contact_viewed"}
    ]


def test_every_delivery_error_keeps_its_type_and_code_never_an_address():
    import smtplib

    from bot.services.mailer import describe

    to = "jean.dupont@exemple.fr"
    assert describe(smtplib.SMTPRecipientsRefused({to: (550, b"5.1.1 <jean.dupont@exemple.fr>: unknown")}), to) == (
        "SMTPRecipientsRefused: 550 [e-mail]"
    )
    data = smtplib.SMTPDataError(554, b"5.7.1 Message to <jean.dupont@exemple.fr> rejected as spam")
    assert describe(data, to) == "SMTPDataError: 554 5.7.1 Message to <[e-mail]> rejected as spam"
    sender = smtplib.SMTPSenderRefused(553, b"5.1.8 <aiguillage@localhost>: sender rejected", "aiguillage@localhost")
    assert describe(sender, to) == "SMTPSenderRefused: 553 5.1.8 <[e-mail]>: sender rejected"
    assert (
        describe(ConnectionRefusedError(111, "Connection refused"), to)
        == "ConnectionRefusedError: [Errno 111] Connection refused"
    )
    assert describe(TimeoutError("timed out"), None) == "TimeoutError: timed out"


def test_a_permanent_refusal_is_not_retried_and_says_so_a_temporary_one_is_retried(server, smtp, agent):
    refused, full = (f"{start}.{uuid.uuid4().hex[:8]}@exemple.fr" for start in ("refuse", "boite-pleine"))
    ref_refused = public_message(server, "titres", "Question permis", "Bonjour, ma question.", refused)
    ref_full = public_message(server, "titres", "Question carte grise", "Bonjour, une autre question.", full)
    public_message(server, "armes", "Question armes", "Bonjour, une troisième question.")
    # Each new message's delivery tries again what waits: the mailbox full twice, the unknown user once.
    assert (smtp.rcpts.count(refused), smtp.rcpts.count(full)) == (1, 2)
    assert [r for r in outbox_rows(server, ref_refused) if r["kind"] == "ticket_ack"] == [
        {"kind": "ticket_ack", "status": "rejected", "attempts": 1, "last_error": "SMTPRecipientsRefused: 550 [e-mail]"}
    ]
    assert [r for r in outbox_rows(server, ref_full) if r["kind"] == "ticket_ack"] == [
        {"kind": "ticket_ack", "status": "failed", "attempts": 2, "last_error": "SMTPRecipientsRefused: 452 [e-mail]"}
    ]

    page = http_login(server, agent).get("/messages").text
    assert failure_row(page, ref_refused, "Accusé de réception")[3:6] == [
        "refusé par le serveur de messagerie : pas de nouvel essai",
        "1",
        "SMTPRecipientsRefused: 550 [e-mail]",
    ]
    assert failure_row(page, ref_full, "Accusé de réception")[3:6] == [
        "échec",
        "2",
        "SMTPRecipientsRefused: 452 [e-mail]",
    ]
