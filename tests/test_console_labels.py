"""An agent's note on an unresolved question, as the review form sends it: masked before it is stored,
never copied into the audit log (kept a year, shown on /console/admin), which says that a label was
given, not its text. Real server, real SQLite, the form as the page gives it."""

from __future__ import annotations

import json

import pytest
from conftest import db_rows
from test_console import cli, unresolved_chat
from test_console_messages import http_login
from test_console_replies import submit

AGENT, ADMIN = ("label-agent", "label-agent-pass-1"), ("label-admin", "label-admin-pass-1")
NOTE = "Rappeler Mme Durand au 06 11 22 33 44 (mail durand@exemple.fr)"
MASKED = "Rappeler Mme [nom] au [téléphone] (mail [e-mail])"


@pytest.fixture(scope="module")
def accounts(server, python):
    for (name, password), role in ((AGENT, "agent"), (ADMIN, "admin")):
        done = cli(python, server.db, "agents", "add", name, "--role", role, "--password-stdin", stdin=password + "\n")
        assert done.returncode == 0, done.stderr


def test_a_note_is_masked_before_it_is_stored_and_never_copied_into_the_audit_log(server, accounts):
    sender = unresolved_chat(server, "zorglub revend sa guimbarde")
    c = http_login(server, AGENT)
    page = c.get(f"/element/chat/{sender}").text
    r = submit(c, page, "save", theme="carte_grise", exemple="1", statut="done", note=NOTE)
    assert r.status_code == 303
    assert db_rows(server.db, "select status, topic, example, as_training, note from reviews where item_id = ?", [sender]) == [
        {"status": "done", "topic": "carte_grise", "example": "zorglub revend sa guimbarde", "as_training": 1, "note": MASKED}
    ]
    assert f">{MASKED}</textarea>" in c.get(f"/element/chat/{sender}").text  # what the next agent reads
    audit = db_rows(server.db, "select agent, action, detail from audit_log where item_id = ?", [sender])
    assert [(a["agent"], a["action"], json.loads(a["detail"])) for a in audit] == [
        (AGENT[0], "label", {"status": "done", "topic": "carte_grise", "as_training": 1, "with_note": True})
    ]
    admin = http_login(server, ADMIN).get("/admin").text
    assert "Durand" not in admin and "06 11 22 33 44" not in admin and "[téléphone]" not in admin


def test_notes_and_audit_lines_written_before_are_masked_by_migration_012(tmp_path):
    import sqlite_utils

    from bot.store import database
    from bot.store.database import Store

    path = tmp_path / "before-012.db"
    db = sqlite_utils.Database(path)
    db["migrations"].create({"name": str, "applied_at": str}, pk="name")
    names = [name for name, _ in database.MIGRATIONS]
    for name, step in database.MIGRATIONS[: names.index("012_review_notes_masked")]:
        step(db)
        db["migrations"].insert({"name": name, "applied_at": "2026-01-01T00:00:00.000+00:00"})
    db["reviews"].insert(
        {"kind": "chat", "item_id": "c1", "status": "done", "topic": "carte_grise", "note": NOTE, "reviewer": "a"}
    )
    before = {"status": "done", "topic": "carte_grise", "as_training": 0, "note": NOTE}
    db["audit_log"].insert(
        {"ts": "2026-01-01", "agent": "a", "action": "label", "kind": "chat", "item_id": "c1", "detail": json.dumps(before)}
    )
    db.conn.commit()
    db.conn.close()
    store = Store(path)  # applies 012
    try:
        assert [r["note"] for r in store.db.query("select note from reviews")] == [MASKED]
        assert [json.loads(r["detail"]) for r in store.db.query("select detail from audit_log")] == [
            {"status": "done", "topic": "carte_grise", "as_training": 0, "with_note": True}
        ]
    finally:
        store.close()
