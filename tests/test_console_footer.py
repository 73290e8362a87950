"""Every console page's footer says what that page shows of people's data, truly: chats and calls
masked, messages as written (addresses and numbers only on request, each view audit-logged), PAN
contacts shown (each view audit-logged). Real server, the pages as an agent or an admin gets them."""

from __future__ import annotations

import re

import pytest
from test_console import cli, unresolved_chat
from test_console_messages import http_login, public_message

ADMIN = ("footer-admin", "footer-admin-pass-1")
BASE = "Console interne d'Aiguillage : réservée aux agents de la préfecture du Cantal."
MASKED = (
    "Les textes des personnes sont masqués : leurs données personnelles sont remplacées par leur nature ([nom], [téléphone]…)."
)
AS_WRITTEN = (
    "Les messages sont affichés tels que les personnes les ont écrits, pour pouvoir y répondre ; leurs adresses et"
    " numéros restent cachés jusqu'à ce que vous les demandiez, et chaque consultation est inscrite au journal des actions."
)
CONTACTS = "Les coordonnées données pour un rendez-vous sont affichées ; chaque consultation est inscrite au journal des actions."
QUESTIONS = "Les questions citées sont masquées : leurs données personnelles sont remplacées par leur nature."
AUDIT = "Le journal des actions ne garde ni les textes des personnes ni leurs coordonnées : qui a fait quoi, et quand."


@pytest.fixture(scope="module")
def admin(server, python):
    done = cli(python, server.db, "agents", "add", ADMIN[0], "--role", "admin", "--password-stdin", stdin=ADMIN[1] + "\n")
    assert done.returncode == 0, done.stderr
    return ADMIN


def footer(html: str) -> str:
    found = re.search(r'<p class="fr-footer__content-desc" id="footer-data">(.*?)</p>', html, re.S)
    return " ".join(found.group(1).split()).replace("&#39;", "'") if found else ""


def test_each_page_footer_says_what_it_shows_of_peoples_data(server, admin):
    sender = unresolved_chat(server, "zorglub cède sa guimbarde")
    ref = public_message(server, "armes", "Objet", "Bonjour, je suis M. Martin, 06 12 34 56 78.", "martin@exemple.fr")
    c = http_login(server, admin)
    expected = {
        "/file": MASKED,
        f"/element/chat/{sender}": MASKED,
        "/messages": AS_WRITTEN,
        f"/messages/{ref}": AS_WRITTEN,
        "/courrier": AS_WRITTEN,
        "/rdv": CONTACTS,
        "/indicateurs": QUESTIONS,
        "/admin": AUDIT,
    }
    for path, words in expected.items():
        page = c.get(path).text
        assert footer(page) == f"{BASE} {words}", path
        assert "Les textes affichés sont masqués" not in page, path
    assert "Bonjour, je suis M. Martin, 06 12 34 56 78." in c.get(f"/messages/{ref}").text  # as written, indeed
    assert footer(c.get("/nimporte").text) == BASE  # a page without people's data says nothing of it
