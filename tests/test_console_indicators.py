"""The console's indicators page (/console/indicateurs) over HTTP against a real server with known rows:
the same figures as the committee report, a CSV per table equal to the page, periods, access, CSP."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from conftest import launch, stop
from html_tables import read, read_csv
from playwright.sync_api import expect
from report_rows import fill
from test_console import Console, cli, login

from bot.store.database import Store

AGENT, ADMIN = ("ind-agent", "ind-agent-pass-1"), ("ind-admin", "ind-admin-pass-1")
MARCH = "/indicateurs?from=2024-03-01&to=2024-03-31"
REACHED = "Appels aboutis (réponse, transfert ou messagerie)"


@pytest.fixture(scope="module")
def ind_server(tmp_path_factory, python):
    """A server of its own: the known rows (unresolved ones too) must not reach other modules' queues."""
    tmp = tmp_path_factory.mktemp("indicators")
    store = Store(tmp / "aiguillage.db")
    fill(store)
    store.close()
    for (name, pw), role in ((AGENT, "agent"), (ADMIN, "admin")):
        done = cli(python, tmp / "aiguillage.db", "agents", "add", name, "--role", role, "--password-stdin", stdin=pw + "\n")
        assert done.returncode == 0, done.stderr
    running = launch(tmp, db=tmp / "aiguillage.db", phone=False)
    yield running
    stop(running)


def test_not_logged_in_goes_to_the_login_page(ind_server):
    c = Console(ind_server.url)
    r = c.get(MARCH)
    assert r.status_code == 303
    # the period asked comes back after signing in (its query kept since 2026-12-04)
    assert r.headers["Location"] == "/console/connexion?suite=%2Fconsole%2Findicateurs%3Ffrom%3D2024-03-01%26to%3D2024-03-31"
    for path in ("/indicateurs.csv?table=indicateurs", "/indicateurs/rapport.html"):
        assert c.get(path).status_code == 303


def test_agent_sees_the_reports_figures_charts_and_links(ind_server):
    c = login(ind_server, AGENT)
    r = c.get(MARCH)
    assert r.status_code == 200
    assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
    page = read(r.text)
    assert '<a class="fr-nav__link" href="/console/indicateurs" aria-current="page">Indicateurs</a>' in r.text
    assert "Du 01/03/2024 au 31/03/2024 (comparé au 30/01/2024 – 29/02/2024)" in page.text
    summary = page.tables["indicateurs"]
    assert [r_ for r_ in summary if r_[2] == REACHED] == [
        ["Téléphone", "Accueil téléphonique", REACHED, "75,0 %", "4", "> 90,0 %", "non", ""]
    ]
    assert "<td>75,0\u00a0%</td>" in r.text  # a no-break space before "%" (html_tables collapses it)
    assert [r_ for r_ in page.tables["evolution"] if r_[1] == REACHED] == [
        ["Téléphone", REACHED, "50,0 %", "75,0 %", "en hausse de 25,0 pts"]
    ]
    # only texts said at least report.question_min_count (3) times are cited
    assert page.tables["questions"][1:] == [["1", "Carte grise perdue", "4"]]
    assert "jean.dupont" not in r.text
    assert "Appels terminés par issue : répartition" in page.svg_titles
    assert ' style="' not in r.text.split("<main", 1)[1]  # nothing the CSP would block
    assert 'href="/console/indicateurs/rapport.html?from=2024-03-01&amp;to=2024-03-31"' in r.text
    assert 'href="/console/indicateurs?from=' in r.text and ">Mois en cours</a>" in r.text
    assert ">Année en cours</a>" in r.text


def test_an_item_s_confidence_is_written_as_the_indicators_percents(ind_server):
    """One product, one typography: before, a conversation's page said the router's confidence
    « sûr (90 %) » with a narrow no-break space (U+202F) before "%", while the indicators page wrote
    « 75,0 % » with a no-break space (U+00A0). Both now come from bot/core/numbers.py's fr_percent: a
    no-break space, the same character in both pages."""
    c = login(ind_server, AGENT)
    assert "<td>75,0\u00a0%</td>" in c.get(MARCH).text
    item = c.get("/element/chat/rep-c3")
    assert item.status_code == 200
    assert '<dd id="confidence">sûr (90\u00a0%)</dd>' in item.text  # its last turn's confidence, 0.9
    assert "\u202f%" not in item.text


def test_csv_of_every_table_equals_the_page(ind_server):
    c = login(ind_server, ADMIN)
    r = c.get(MARCH)
    page = read(r.text)
    ids = list(page.tables)
    assert ids[:3] == ["engagements", "indicateurs", "evolution"] and "questions" in ids and "non_resolus" in ids
    for table_id, rows in page.tables.items():
        resp = c.get(f"/indicateurs.csv?table={table_id}&from=2024-03-01&to=2024-03-31")
        assert resp.status_code == 200, table_id
        assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert resp.headers["Content-Disposition"] == f'attachment; filename="indicateurs-{table_id}-2024-03-01-2024-03-31.csv"'
        assert read_csv(resp.content) == rows, table_id
    body = c.get("/indicateurs.csv?table=indicateurs&from=2024-03-01&to=2024-03-31").content.decode("utf-8-sig")
    assert body.splitlines()[0] == "Thématique;Canal;Indicateur;Valeur;Base;Cible;Atteinte;Commentaire"
    # a spreadsheet's numbers: an ordinary space before "%", no digit grouping (tests/test_indicator_numbers.py)
    assert f"Téléphone;Accueil téléphonique;{REACHED};75,0 %;4;> 90,0 %;non;" in body.splitlines()
    assert c.get("/indicateurs.csv?table=inconnu&from=2024-03-01&to=2024-03-31").status_code == 404


def test_committee_report_downloads_as_html(ind_server):
    c = login(ind_server, AGENT)
    r = c.get("/indicateurs/rapport.html?from=2024-03-01&to=2024-03-31")
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == 'attachment; filename="rapport-clu-cantal-2024-03-01-2024-03-31.html"'
    page = read(r.text)
    assert "<h1>Comité local des usagers — préfecture du Cantal — rapport du 01/03/2024 au 31/03/2024</h1>" in r.text
    assert [r_ for r_ in page.tables["indicateurs"] if r_[2] == REACHED][0][3] == "75,0 %"


def test_empty_period_says_no_data(ind_server):
    c = login(ind_server, AGENT)
    r = c.get("/indicateurs?from=2023-06-01&to=2023-06-30")
    assert r.status_code == 200
    page = read(r.text)
    assert {row[3] for row in page.tables["indicateurs"][1:]} == {"pas encore de données"}
    assert 'data-empty="questions">pas encore de données' in r.text
    assert "<svg" not in r.text
    csv_rows = read_csv(c.get("/indicateurs.csv?table=indicateurs&from=2023-06-01&to=2023-06-30").content)
    assert csv_rows == page.tables["indicateurs"]


@pytest.mark.parametrize(
    "query, message",
    [
        ("from=2024-02-30&to=2024-03-31", "date de début invalide : « 2024-02-30 » (format attendu AAAA-MM-JJ, ex. 2026-01-01)"),
        ("from=2024-03-31&to=2024-03-01", "période invalide : le début (2024-03-31) est après la fin (2024-03-01)"),
        ("from=2024-03-01&to=demain", "date de fin invalide : « demain » (format attendu AAAA-MM-JJ, ex. 2026-12-31)"),
        ("from=0001-01-01&to=0001-01-02", "période hors limites : les dates doivent être comprises entre 1900 et 9998"),
    ],
)
def test_bad_period_is_a_400_in_french(ind_server, query, message):
    c = login(ind_server, AGENT)
    r = c.get("/indicateurs?" + query)
    assert r.status_code == 400
    assert "Période invalide" in r.text and message in read(r.text).text
    r = c.get("/indicateurs.csv?table=indicateurs&" + query)
    assert r.status_code == 400 and message in read(r.text).text


def test_default_period_is_the_last_30_days(ind_server):
    c = login(ind_server, AGENT)
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    r = c.get("/indicateurs")
    assert r.status_code == 200
    assert f'id="from" name="from" value="{(today - timedelta(days=29)).isoformat()}"' in r.text
    assert f'id="to" name="to" value="{today.isoformat()}"' in r.text


def test_charts_render_under_the_csp_in_chromium(browser, ind_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    pg = context.new_page()
    problems = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.goto(ind_server.url + "/console" + MARCH)
    pg.fill("#identifiant", AGENT[0])
    pg.fill("#mot_de_passe", AGENT[1])
    pg.get_by_role("button", name="Se connecter").click()
    expect(pg.locator("h1")).to_have_text("Indicateurs de qualité")  # back to the page asked for
    pg.goto(ind_server.url + "/console" + MARCH)  # (the login keeps the path, not the query string)
    chart = pg.get_by_role("img", name="Appels terminés par issue : répartition")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["width"] > 300
    fills = chart.evaluate("svg => [...svg.querySelectorAll('path[clip-path]')].map(p => getComputedStyle(p).fill)")
    assert "rgb(0, 0, 145)" in fills  # the bars keep their DSFR blue: no style blocked by the CSP
    pg.get_by_role("link", name="Mois en cours").click()
    expect(pg.locator("#periode")).to_contain_text("Du ")
    assert problems == []
    context.close()


def test_the_pan_appointments_line_says_it_counts_them_by_the_appointments_date(ind_server):
    import sqlite3

    conn = sqlite3.connect(str(ind_server.db))
    with conn:  # May 2024: one appointment in May booked in April, one booked in May for June, one cancelled
        for ref, slot, status, created in (
            ("PAN-5001-0001", "2024-05-06T09:00", "booked", "2024-04-20T08:00:00.000+00:00"),
            ("PAN-5001-0002", "2024-06-03T09:00", "booked", "2024-05-10T08:00:00.000+00:00"),
            ("PAN-5001-0003", "2024-05-13T09:00", "cancelled", "2024-05-02T08:00:00.000+00:00"),
        ):
            conn.execute(
                "insert into pan_bookings (reference, token, prefecture, site, slot_start, slot_end, seat, reason, channel,"
                " status, created_at, updated_at, demo) values (?, 't', 'cantal', 'aurillac', ?, ?, 1, 'autre', 'web', ?, ?, ?, 0)",
                [ref, slot, slot, status, created, created],
            )
    conn.close()
    page = read(login(ind_server, AGENT).get("/indicateurs?from=2024-05-01&to=2024-05-31").text)
    label = "Rendez-vous PAN prévus pendant la période (comptés à la date du rendez-vous, hors annulés)"
    assert [row[2:5] for row in page.tables["indicateurs"] if row[2].startswith("Rendez-vous PAN p")] == [[label, "1", "2"]]


def _chart(html: str, chart_id: str) -> tuple[str, list[str]]:
    """A chart of the page: (its <desc>, the values written beside its bars, the 8px texts, in order)."""
    svg = re.search(rf'<svg id="{chart_id}".*?</svg>', html, flags=re.S)
    assert svg, chart_id
    desc = re.search(rf'<desc id="{chart_id}-desc">(.*?)</desc>', svg.group(0), flags=re.S).group(1)
    return unescape(desc), re.findall(r'<text[^>]*font-size="8px"[^>]*>([^<]*)</text>', svg.group(0))


def test_a_call_added_shows_at_once_in_the_chart_and_its_table(ind_server):
    """The charts are drawn for the figures of the request: a call ended between two loads of the page
    changes its table and its chart at the next load (July 2024: no other test's rows)."""
    import sqlite3

    def add_call(sid: str, day: str, outcome: str) -> None:
        conn = sqlite3.connect(str(ind_server.db))
        with conn:
            conn.execute(
                "insert into calls (call_sid, prefecture, caller, started_at, updated_at, ended_at, node, path, inputs,"
                " outcome, unresolved, duration_s, demo) values (?, 'cantal', '[téléphone]', ?, ?, ?, 'carte_grise',"
                " '[\"carte_grise\"]', '[]', ?, 0, 60, 0)",
                [sid, f"{day}T09:00:00.000+00:00", f"{day}T09:00:00.000+00:00", f"{day}T09:01:00.000+00:00", outcome],
            )
        conn.close()

    c = login(ind_server, AGENT)
    july = "from=2024-07-01&to=2024-07-31"
    add_call("JULk1", "2024-07-02", "answered")
    r = c.get(f"/indicateurs?{july}")
    assert read(r.text).tables["phone_outcomes"][1:] == [["Réponse donnée", "1", "100,0 %"]]
    assert _chart(r.text, "graphique-phone_outcomes") == ("Réponse donnée : 1", ["1"])
    add_call("JULk2", "2024-07-03", "transferred")
    add_call("JULk3", "2024-07-04", "answered")
    r = c.get(f"/indicateurs?{july}")
    assert read(r.text).tables["phone_outcomes"][1:] == [["Réponse donnée", "2", "66,7 %"], ["Transféré", "1", "33,3 %"]]
    assert _chart(r.text, "graphique-phone_outcomes") == ("Réponse donnée : 2 ; Transféré : 1", ["2", "1"])
    report = c.get(f"/indicateurs/rapport.html?{july}")  # the committee report of the period: the same chart
    assert _chart(report.text, "graphique-phone_outcomes") == ("Réponse donnée : 2 ; Transféré : 1", ["2", "1"])
    add_call("JULk4", "2024-07-05", "transferred")
    r = c.get(f"/indicateurs?{july}")
    assert read(r.text).tables["phone_outcomes"][1:] == [["Réponse donnée", "2", "50,0 %"], ["Transféré", "2", "50,0 %"]]
    assert _chart(r.text, "graphique-phone_outcomes") == ("Réponse donnée : 2 ; Transféré : 2", ["2", "2"])
