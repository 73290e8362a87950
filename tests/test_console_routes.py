"""Every console route is behind the one guard (issue 12: `@agent_only` / `@admin_only`, which
checks the session, the CSRF token of a POST and the admin role). The list below names each route
of the console's route tables with who may use it: a route added without its line fails here, and
each line is checked over HTTP against the real server."""

from __future__ import annotations

import os
import re
import subprocess
from urllib.parse import urlencode

import pytest
import requests
from conftest import ROOT

AGENT, ADMIN = ("routes-agent", "routes-agent-pass-1"), ("routes-admin", "routes-admin-pass-1")
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')

# (path, method): who may use it. "anyone": the login page and the home redirect.
ROUTES = {
    ("/console/", "GET"): "anyone",
    ("/console/connexion", "GET"): "anyone",
    ("/console/connexion", "POST"): "anyone",
    ("/console/deconnexion", "POST"): "agent",
    ("/console/file", "GET"): "agent",
    ("/console/file/apprendre", "POST"): "agent",
    ("/console/element/<kind>/<item_id>", "GET"): "agent",
    ("/console/element/<kind>/<item_id>", "POST"): "agent",
    ("/console/rdv", "GET"): "agent",
    ("/console/rdv/absence", "POST"): "agent",
    ("/console/messages", "GET"): "agent",
    ("/console/messages/repondu", "POST"): "agent",
    ("/console/messages/<reference>", "GET"): "agent",
    ("/console/messages/<reference>/repondre", "POST"): "agent",
    ("/console/messages/<reference>/repondu", "POST"): "agent",
    ("/console/messages/<reference>/reaffecter", "POST"): "agent",
    ("/console/messages/<reference>/rouvrir", "POST"): "agent",
    ("/console/indicateurs", "GET"): "agent",
    ("/console/indicateurs.csv", "GET"): "agent",
    ("/console/indicateurs/rapport.html", "GET"): "agent",
    ("/console/courrier", "GET"): "agent",
    ("/console/courrier", "POST"): "agent",
    ("/console/admin", "GET"): "admin",
    ("/console/admin/export", "POST"): "admin",
    ("/console/admin/comptes", "POST"): "admin",
    ("/console/admin/mot-de-passe", "POST"): "admin",
    ("/console/admin/deverrouiller", "POST"): "admin",
    ("/console/admin/contact", "POST"): "admin",
}
SAMPLE = {"<kind>": "chat", "<item_id>": "abc", "<reference>": "MSG-2026-0001"}
GUARDED = sorted(route for route, who in ROUTES.items() if who != "anyone")


def url_of(path: str) -> str:
    for placeholder, value in SAMPLE.items():
        path = path.replace(placeholder, value)
    return path


def console_routes() -> set[tuple[str, str]]:
    """(path, method) of every route the console's blueprint registers (its catch-all 404 aside)."""
    from bot.web.console import ConsoleInput

    async def ignore(message):
        return None

    blueprint = ConsoleInput().blueprint(ignore)
    return {
        ("/console" + route.uri, method)
        for route in blueprint._future_routes
        if "<rest:path>" not in route.uri
        for method in route.methods
    }


def test_every_console_route_is_listed_with_who_may_use_it():
    assert console_routes() == set(ROUTES)


@pytest.fixture(scope="module")
def accounts(server, python):
    for (name, password), role in ((AGENT, "agent"), (ADMIN, "admin")):
        done = subprocess.run(
            [python, "-m", "bot", "agents", "add", name, "--role", role, "--password-stdin"],
            cwd=ROOT,
            env=dict(os.environ, AIGUILLAGE_DB=str(server.db)),
            input=password + "\n",
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    return True


def signed_in(server, who) -> tuple[requests.Session, str]:
    """A browser session signed in as `who`, and its CSRF token."""
    http = requests.Session()
    page = http.get(server.url + "/console/connexion", timeout=60)
    form = {"csrf": CSRF_RE.search(page.text).group(1), "identifiant": who[0], "mot_de_passe": who[1]}
    assert http.post(server.url + "/console/connexion", data=form, allow_redirects=False, timeout=60).status_code == 303
    return http, CSRF_RE.search(http.get(server.url + "/console/file", timeout=60).text).group(1)


def send(http: requests.Session, server, route: tuple[str, str], form: dict | None = None) -> requests.Response:
    path, method = route
    return http.request(method, server.url + url_of(path), data=form, allow_redirects=False, timeout=60)


def test_without_a_session_a_page_sends_to_the_login_and_a_form_is_refused(server, accounts):
    http = requests.Session()
    for route in GUARDED:
        r = send(http, server, route, {"csrf": "x"} if route[1] == "POST" else None)
        if route[1] == "GET":
            assert (r.status_code, r.headers.get("Location")) == (
                303,
                "/console/connexion?" + urlencode({"suite": url_of(route[0])}),
            ), route
        else:
            assert r.status_code == 401, route
            assert "Votre session a expiré ou vous n&#39;êtes pas connecté. Reconnectez-vous." in r.text, route
    first = send(http, server, ("/console/element/<kind>/<item_id>", "GET"))
    assert first.headers["Location"] == "/console/connexion?suite=%2Fconsole%2Felement%2Fchat%2Fabc"


def test_a_form_without_the_session_csrf_token_is_refused(server, accounts):
    http, _ = signed_in(server, AGENT)
    for route in (r for r in GUARDED if r[1] == "POST"):
        r = send(http, server, route, {"note": "sans jeton"})
        assert r.status_code == 403, route
        assert "Ce formulaire n&#39;est plus valide (jeton de sécurité absent ou incorrect)." in r.text, route


def test_an_agent_is_refused_every_admin_route(server, accounts):
    http, csrf = signed_in(server, AGENT)
    for route in (r for r in GUARDED if ROUTES[r] == "admin"):
        r = send(http, server, route, {"csrf": csrf} if route[1] == "POST" else None)
        assert r.status_code == 403, route
        assert "Cette page est réservée aux administrateurs de la console." in r.text, route
    admin, _ = signed_in(server, ADMIN)
    assert send(admin, server, ("/console/admin", "GET")).status_code == 200


# The page each form is on: where signing in again leads after its session expired (the forms of a
# message's page lead back to that message, an admin form to the admin page).
FORM_PAGES = {
    "/console/deconnexion": "/console/file",
    "/console/file/apprendre": "/console/file",
    "/console/element/chat/abc": "/console/element/chat/abc",
    "/console/rdv/absence": "/console/rdv",
    "/console/messages/repondu": "/console/messages",
    "/console/messages/MSG-2026-0001/repondre": "/console/messages/MSG-2026-0001",
    "/console/messages/MSG-2026-0001/repondu": "/console/messages/MSG-2026-0001",
    "/console/messages/MSG-2026-0001/reaffecter": "/console/messages/MSG-2026-0001",
    "/console/messages/MSG-2026-0001/rouvrir": "/console/messages/MSG-2026-0001",
    "/console/courrier": "/console/courrier",
    "/console/admin/export": "/console/admin",
    "/console/admin/comptes": "/console/admin",
    "/console/admin/mot-de-passe": "/console/admin",
    "/console/admin/deverrouiller": "/console/admin",
    "/console/admin/contact": "/console/admin",
}


def test_a_form_posted_after_the_session_expired_offers_to_sign_in_back_to_its_page(server, accounts):
    assert sorted(FORM_PAGES) == sorted(url_of(path) for path, method in GUARDED if method == "POST")
    http = requests.Session()
    for path, page in FORM_PAGES.items():
        r = http.post(server.url + path, data={"csrf": "x"}, allow_redirects=False, timeout=60)
        assert r.status_code == 401, path
        link = f'<a class="fr-btn" href="/console/connexion?{urlencode({"suite": page})}">Se connecter</a>'
        assert link in r.text, path
        login = http.get(server.url + "/console/connexion", params={"suite": page}, timeout=60)
        assert f'<input type="hidden" name="suite" value="{page}">' in login.text, path
