"""The /rdv/ pages through the real server, with e-mails read from a real local SMTP server."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request

from conftest import bot_links, db_rows


class Browser:
    """A client with its own cookies (the CSRF cookie), like one person's browser."""

    def __init__(self, server):
        self.url = server.url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def _open(self, req):
        try:
            with self.opener.open(req, timeout=60) as resp:
                return resp.status, resp.read().decode(), {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), {k.lower(): v for k, v in exc.headers.items()}

    def get(self, path):
        return self._open(urllib.request.Request(self.url + path))

    def post(self, path, fields):
        data = urllib.parse.urlencode(fields).encode()
        return self._open(
            urllib.request.Request(
                self.url + path, data=data, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
        )


def hidden(html, name):
    m = re.search(r'name="%s" value="([^"]*)"' % name, html)
    return m.group(1) if m else None


def slot_values(html):
    return re.findall(r'name="slot" value="([^"]+)"', html)


def unescape(html):
    import html as h

    return h.unescape(html)


def open_slots(server, site="aurillac", reason="carte_grise"):
    b = Browser(server)
    status, html, headers = b.get(f"/rdv/creneaux?site={site}&motif={reason}")
    assert status == 200, html
    return b, html, headers


def test_the_chat_links_to_the_booking_and_message_pages(server):
    messages = server.say(
        "pan-chat-1", "je n'ai pas d'ordinateur, je voudrais l'aide d'un médiateur au point d'accueil numérique"
    )
    assert "/rdv/" in bot_links(messages)
    messages = server.say("pan-chat-2", "j'ai une question sur la détention d'une arme de chasse")
    assert "/rdv/message?service=armes" in bot_links(messages)


def test_booking_confirmation_email_ics_replay_and_cancel(server, smtp):
    b, html, headers = open_slots(server)
    assert "default-src 'self'" in headers["content-security-policy"]
    slot, csrf, idem = slot_values(html)[0], hidden(html, "csrf"), hidden(html, "idem")
    form = {
        "csrf": csrf,
        "idem": idem,
        "site": "aurillac",
        "motif": "carte_grise",
        "slot": slot,
        "email": "usager.rdv@exemple.fr",
        "mobile": "",
    }
    status, page, _ = b.post("/rdv/reserver", form)
    page = unescape(page)
    assert status == 200, page
    reference = re.search(r"PAN-\d{4}-\d{4}", page).group(0)
    assert "Cours Monthyon, 15000 Aurillac" in page and "À apporter : une pièce d'identité" in page
    assert "Pour annuler" in page and "Une confirmation vous est envoyée par courriel." in page
    # the confirmation e-mail, with the calendar file
    mail = smtp.to("usager.rdv@exemple.fr")[-1]
    assert reference in mail["Subject"]
    calendar = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
    # RFC 5545 3.1.4: the charset is said in a MIME transport; without it a mail reader takes the
    # attachment for US-ASCII and shows "num��rique" (the .ics download said it already).
    assert calendar.get_content_charset() == "utf-8"
    assert f"SUMMARY:Rendez-vous au point d'accueil numérique ({reference})" in calendar.get_content()
    # the .ics download needs the booking's token
    ics_url = re.search(r'href="(/rdv/ics/[^"]+)"', page).group(1)
    status, ics, headers = b.get(ics_url)
    assert status == 200 and headers["content-type"].startswith("text/calendar") and reference in ics
    assert b.get(f"/rdv/ics/{reference}?t=wrong")[0] == 404
    # a double click (same form, same idempotency key) books once
    status, again, _ = b.post("/rdv/reserver", form)
    assert status == 200 and reference in again
    assert len(db_rows(server.db, "select * from pan_bookings where idempotency_key = ?", [idem])) == 1
    # the contact lives in the booking row only, never in the conversation logs
    assert db_rows(server.db, "select contact from pan_bookings where reference = ?", [reference]) == [
        {"contact": "usager.rdv@exemple.fr"}
    ]
    assert db_rows(server.db, "select count(*) as n from turns where text like '%@exemple.fr%'") == [{"n": 0}]
    # cancel: the wrong contact is refused, the right one cancels
    status, html, _ = b.get("/rdv/annuler")
    csrf = hidden(html, "csrf")
    status, page, _ = b.post("/rdv/annuler", {"csrf": csrf, "reference": reference, "contact": "autre@exemple.fr"})
    assert status == 400 and "Aucun rendez-vous ne correspond" in unescape(page)
    status, page, _ = b.post("/rdv/annuler", {"csrf": csrf, "reference": reference, "contact": "usager.rdv@exemple.fr"})
    assert status == 200 and f"Le rendez-vous {reference}" in page and "est annulé" in unescape(page)
    assert db_rows(server.db, "select status from pan_bookings where reference = ?", [reference]) == [{"status": "cancelled"}]


def test_parallel_http_bookings_of_one_slot_give_one_success(server):
    browsers = []
    for _ in range(20):
        b, html, _ = open_slots(server, site="mauriac", reason="autre")
        browsers.append((b, html))
    slot = slot_values(browsers[0][1])[-1]
    results = []

    def go(i, b, html):
        results.append(
            b.post(
                "/rdv/reserver",
                {
                    "csrf": hidden(html, "csrf"),
                    "idem": hidden(html, "idem"),
                    "site": "mauriac",
                    "motif": "autre",
                    "slot": slot,
                    "mobile": f"06 12 34 56 {i:02d}",
                },
            )
        )

    threads = [threading.Thread(target=go, args=(i, b, h)) for i, (b, h) in enumerate(browsers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r[0] for r in results)
    assert statuses == [200] + [409] * 19
    taken = next(unescape(r[1]) for r in results if r[0] == 409)
    assert "vient d'être pris" in taken and slot not in slot_values(taken)
    assert (
        len(
            db_rows(
                server.db, "select * from pan_bookings where site = 'mauriac' and slot_start = ? and status = 'booked'", [slot]
            )
        )
        == 1
    )


def test_bad_booking_inputs_get_french_errors_and_nothing_is_written(server):
    b = Browser(server)
    status, page, _ = b.get("/rdv/creneaux?site=paris&motif=carte_grise")
    assert status == 400 and "Ce lieu n'existe pas" in unescape(page)
    b, html, _ = open_slots(server, site="saint-flour")
    before = db_rows(server.db, "select count(*) as n from pan_bookings")
    base = {
        "csrf": hidden(html, "csrf"),
        "idem": hidden(html, "idem"),
        "site": "saint-flour",
        "motif": "carte_grise",
        "slot": slot_values(html)[0],
    }
    status, page, _ = b.post("/rdv/reserver", dict(base, email="pas-une-adresse"))
    assert status == 400 and "L'adresse électronique n'est pas valide" in unescape(page)
    status, page, _ = b.post("/rdv/reserver", dict(base, mobile="04 71 46 23 00"))
    assert status == 400 and "Le numéro de téléphone portable n'est pas valide" in unescape(page)
    status, page, _ = b.post("/rdv/reserver", dict(base, email="a@exemple.fr", slot="2020-01-06T09:00"))
    assert status == 400 and ("Ce créneau" in unescape(page))
    status, page, _ = b.post("/rdv/reserver", dict(base, email="a@exemple.fr", csrf="forged"))
    assert status == 403 and "Le formulaire a expiré" in unescape(page)
    assert db_rows(server.db, "select count(*) as n from pan_bookings") == before


def test_a_slot_beyond_the_booking_window_is_refused_without_javascript(server):
    from test_chat_booking import TOO_FAR, first_open_day_beyond_the_window

    b, html, _ = open_slots(server, site="aurillac", reason="autre")
    before = db_rows(server.db, "select count(*) as n from pan_bookings")
    base = {"csrf": hidden(html, "csrf"), "site": "aurillac", "motif": "autre", "email": "far.page@example.fr"}
    for slot in (f"{first_open_day_beyond_the_window().isoformat()}T09:00", "9999-12-31T09:00"):
        status, page, _ = b.post("/rdv/reserver", dict(base, idem=f"far-page-{slot}", slot=slot))
        assert status == 400 and TOO_FAR in unescape(page), slot
        assert slot_values(page)  # the slots offered are shown again
    assert db_rows(server.db, "select count(*) as n from pan_bookings") == before


def test_slot_positions_at_the_ends_of_the_calendar_get_a_french_page_never_a_500(server):
    from test_chat_booking import TOO_FAR, first_open_day_beyond_the_window

    b, first, _ = open_slots(server, site="aurillac", reason="autre")
    offered = slot_values(first)
    far = first_open_day_beyond_the_window().isoformat()
    for query in ("apres=9999-12-31T23:59", "jour=9999-12-31", f"jour={far}", f"apres={far}T09:00"):
        status, page, _ = b.get(f"/rdv/creneaux?site=aurillac&motif=autre&{query}")
        assert (status, TOO_FAR in unescape(page)) == (400, True), query
        assert slot_values(page) == offered, query  # and the first free slots
    for query in ("apres=0001-01-01T00:00", "jour=0001-01-01", "jour=2020-01-01"):  # before today: the first page
        status, page, _ = b.get(f"/rdv/creneaux?site=aurillac&motif=autre&{query}")
        assert (status, slot_values(page)) == (200, offered), query


def test_a_message_to_a_service_is_delivered_and_acknowledged(server, smtp):
    b = Browser(server)
    status, html, _ = b.get("/rdv/message?service=armes")
    assert status == 200 and "bureau des polices administratives (armes)" in unescape(html)
    base = {"csrf": hidden(html, "csrf"), "service": "armes", "subject": "Carte européenne", "email": "chasseur@exemple.fr"}
    status, page, _ = b.post("/rdv/message", dict(base, idem="m-long", body="a" * 10000))
    assert status == 400 and "Votre message est trop long (10000 caractères)" in unescape(page)
    status, page, _ = b.post("/rdv/message", dict(base, idem="m-longer", body="a" * 30000))
    assert status == 400 and "Votre message est trop long (30000 caractères) : 5000 caractères au plus." in unescape(page)
    assert db_rows(server.db, "select count(*) as n from tickets where idempotency_key in ('m-long', 'm-longer')") == [{"n": 0}]
    status, page, _ = b.post("/rdv/message", dict(base, idem="m-bad", body="Bonjour", email="chasseur@"))
    assert status == 400 and "L'adresse électronique n'est pas valide" in unescape(page)
    status, page, _ = b.post("/rdv/message", dict(base, idem="m-ok", body="Ma carte expire le mois prochain."))
    page = unescape(page)
    assert status == 200, page
    reference = re.search(r"MSG-\d{4}-\d{4}", page).group(0)
    assert "bureau des polices administratives (armes)" in page and "au plus tard le" in page
    assert "https://www.france-services.gouv.fr" in page
    to_service = smtp.to("pref-armes@cantal.gouv.fr")[-1]
    assert to_service["Subject"] == f"[{reference}] Carte européenne"
    assert "Ma carte expire le mois prochain." in to_service.get_content()
    assert reference in smtp.to("chasseur@exemple.fr")[-1]["Subject"]
    row = db_rows(server.db, "select delivery_status, mailbox, status from tickets where reference = ?", [reference])
    assert row == [{"delivery_status": "sent", "mailbox": "armes", "status": "open"}]


def test_a_message_of_control_characters_is_refused_without_javascript(server):
    b = Browser(server)
    status, html, _ = b.get("/rdv/message?service=armes")
    base = {"csrf": hidden(html, "csrf"), "service": "armes"}
    cases = [
        ("\u0000\u0000", "\u0000", "Indiquez l'objet de votre message."),
        ("Objet", "\u200b\u0007", "Écrivez votre message."),
    ]
    for i, (subject, body, error) in enumerate(cases):
        status, page, _ = b.post("/rdv/message", dict(base, idem=f"m-invisible-{i}", subject=subject, body=body))
        assert (status, error in unescape(page)) == (400, True), error
    assert db_rows(server.db, "select count(*) as n from tickets where idempotency_key like 'm-invisible-%'") == [{"n": 0}]


def test_an_unknown_service_is_a_404(server):
    status, page, _ = Browser(server).get("/rdv/message?service=impots")
    assert status == 404 and "Ce service n'existe pas" in unescape(page)
