"""Issue 13, part 5 (leftovers): every console POST reads at most its form limit (Sanic's default is
100 MB) and refuses a larger body with a 413 and a French page, before anything is written."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from conftest import ROOT, db_rows
from raw_http import request

from bot.web.console import FORM_LIMIT, FORM_LIMITS

pytestmark = pytest.mark.reliability  # part of the battery (make reliability, docs/reliability.md)

ADMIN = ("lim-admin", "lim-admin-pass-123")
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
TOO_LARGE = "Votre envoi est trop volumineux : raccourcissez votre texte et recommencez."

# Every POST route of the console, with its form limit.
POSTS = [
    ("/console/connexion", FORM_LIMIT),
    ("/console/deconnexion", FORM_LIMIT),
    ("/console/element/chat/abc", FORM_LIMIT),
    ("/console/rdv/absence", FORM_LIMIT),
    ("/console/messages/repondu", FORM_LIMITS["ticket_answered"]),
    ("/console/messages/MSG-2026-0001/repondre", FORM_LIMITS["ticket_reply"]),
    ("/console/messages/MSG-2026-0001/repondu", FORM_LIMITS["ticket_answered_page"]),
    ("/console/messages/MSG-2026-0001/reaffecter", FORM_LIMIT),
    ("/console/messages/MSG-2026-0001/rouvrir", FORM_LIMIT),
    ("/console/courrier", FORM_LIMITS["paper_register"]),
    ("/console/admin/export", FORM_LIMIT),
    ("/console/admin/comptes", FORM_LIMIT),
    ("/console/admin/mot-de-passe", FORM_LIMIT),
    ("/console/nimporte/quoi", FORM_LIMIT),
]


@pytest.fixture(scope="module")
def admin(server, python):
    env = dict(os.environ, AIGUILLAGE_DB=str(server.db))
    done = subprocess.run(
        [python, "-m", "bot", "agents", "add", ADMIN[0], "--role", "admin", "--password-stdin"],
        cwd=ROOT,
        env=env,
        input=ADMIN[1] + "\n",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    http = requests.Session()
    page = http.get(server.url + "/console/connexion", timeout=30)
    token = CSRF_RE.search(page.text).group(1)
    form = {"csrf": token, "identifiant": ADMIN[0], "mot_de_passe": ADMIN[1], "suite": "/console/file"}
    r = http.post(server.url + "/console/connexion", data=form, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    csrf = CSRF_RE.search(http.get(server.url + "/console/file", timeout=30).text).group(1)
    return http, csrf


def written(server) -> dict:
    tables = ("audit_log", "reviews", "tickets", "agents", "sessions")
    found = {t["name"] for t in db_rows(server.db, "select name from sqlite_master where type = 'table'")}
    return {t: db_rows(server.db, f"select count(*) as n from {t}")[0]["n"] for t in tables if t in found}


@pytest.mark.parametrize("path, limit", POSTS)
def test_a_console_form_over_its_limit_gets_a_413_in_french_and_writes_nothing(server, admin, path, limit):
    http, csrf = admin
    url = urlsplit(server.url)
    cookies = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies}
    before = written(server)
    form = urlencode({"csrf": csrf, "note": "é" * limit}).encode()  # a real form, too long
    # Declared too long (85 MB announced): refused on the Content-Length, nothing read.
    declared = request(url.hostname, url.port, "POST", path, form[:65536], headers, declared=85_000_000)
    assert declared.status == 413
    assert TOO_LARGE in declared.text()
    assert "Envoi trop volumineux" in declared.text()
    assert declared.seconds < 2
    # Sent in chunks, no declared length: refused on what arrives, one byte over the limit.
    chunked = request(url.hostname, url.port, "POST", path, form[: limit + 1], headers, chunked=True)
    assert chunked.status == 413
    assert TOO_LARGE in chunked.text()
    assert written(server) == before


def test_a_form_at_its_limit_is_still_read(server, admin):
    # A review note of MAX_NOTE accented characters (6 bytes each once URL-encoded) is under 16 kB.
    http, csrf = admin
    sender = "lim-" + uuid.uuid4().hex[:12]
    r = requests.post(server.url + "/chat/webhook", json={"sender": sender, "message": "zorglub vend sa guimbarde"}, timeout=30)
    assert r.status_code == 200
    form = {"csrf": csrf, "theme": "carte_grise", "statut": "done", "note": "é" * 2000}
    assert len(urlencode(form)) < FORM_LIMIT
    r = http.post(server.url + f"/console/element/chat/{sender}", data=form, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text[:500]
    assert db_rows(server.db, "select topic, status, note from reviews where item_id = ?", [sender]) == [
        {"topic": "carte_grise", "status": "done", "note": "é" * 2000}
    ]
