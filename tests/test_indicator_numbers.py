"""The indicators' figures in French writing (the console page, the committee report, its charts and
the command's table): thousands grouped by a narrow no-break space (U+202F), a decimal comma, a
no-break space (U+00A0) between a number and "%" or its unit, so that "3 194" or "97,3 %" never
breaks across two lines. The CSV export is read by a spreadsheet: its numbers are not grouped, so
that "3194" stays a number there (and "%" follows an ordinary space, as before).

The expected cells are written out with their exact characters; tests/html_tables.py collapses
whitespace, so these tests read the tables' cells and the HTML as they are.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from bot.core import config as config_mod
from bot.quality import indicators, report
from bot.store.database import Store

NNBSP, NBSP = "\u202f", "\u00a0"
MARCH = (date(2026, 3, 1), date(2026, 3, 31))  # previous period: 29/01/2026 – 28/02/2026
TODAY = date(2026, 4, 2)
REACHED = "Appels aboutis (réponse, transfert ou messagerie)"
VOLUME = "Conversations écrites (volume)"


def add_conversations(store, n: int, day: str, text: str, status: str, topic: str, start: int = 0) -> None:
    resolved = int(status != "unresolved")
    store.db["conversations"].insert_all(
        {
            "id": f"{day}-{i}",
            "channel": "web",
            "prefecture": "cantal",
            "started_at": f"{day}T09:00:00.000+00:00",
            "updated_at": f"{day}T09:00:00.000+00:00",
            "turns": 1,
            "misses": 0,
            "last_topic": topic,
            "status": status,
            "demo": 0,
        }
        for i in range(start, start + n)
    )
    store.db["turns"].insert_all(
        {
            "conversation_id": f"{day}-{i}",
            "ts": f"{day}T09:00:00.000+00:00",
            "channel": "web",
            "text": text,
            "topic": topic,
            "confidence": 0.9,
            "destination": "ants_3400" if resolved else None,
            "node": topic,
            "action": "answer" if resolved else "fallback",
            "resolved": resolved,
        }
        for i in range(start, start + n)
    )


def add_calls(store, n: int, outcome: str, start: int = 0) -> None:
    store.db["calls"].insert_all(
        {
            "call_sid": f"CA{i:05d}",
            "prefecture": "cantal",
            "caller": "[téléphone]",
            "started_at": "2026-03-10T08:00:00.000+00:00",
            "updated_at": "2026-03-10T08:00:00.000+00:00",
            "ended_at": "2026-03-10T08:02:00.000+00:00",
            "node": "carte_grise" if outcome == "answered" else None,
            "path": json.dumps(["root", "carte_grise"] if outcome == "answered" else ["root"]),
            "inputs": "[]",
            "outcome": outcome,
            "unresolved": int(outcome == "abandoned"),
            "duration_s": 95,
            "demo": 0,
        }
        for i in range(start, start + n)
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A month of a busy préfecture: 3 194 conversations (1 200 unresolved) against 250 the month
    before, 1 000 calls of which 973 reached an answer."""
    store = Store(tmp_path_factory.mktemp("numbers") / "numbers.db")
    with store.db.conn:
        add_conversations(store, 1994, "2026-03-09", "Carte grise perdue", "open", "carte_grise")
        add_conversations(store, 1200, "2026-03-16", "titre de séjour", "unresolved", "titre_sejour", start=1994)
        add_conversations(store, 250, "2026-02-10", "Carte grise perdue", "open", "carte_grise")
        add_calls(store, 973, "answered")
        add_calls(store, 27, "abandoned", start=973)
    try:
        yield report.collect(store, config_mod.load_prefecture("cantal"), *MARCH, today=TODAY)
    finally:
        store.close()


def row(table, label: str, column: int = 2) -> list[str]:
    found = [r for r in table.rows if r[column] == label]
    assert len(found) == 1, (label, table.rows)
    return found[0]


def test_a_figure_in_its_unit_is_written_the_french_way():
    def shown(unit, value):
        return indicators.format_value({"unit": unit, "value": value, "note": None})

    assert shown(indicators.COUNT, 3194) == f"3{NNBSP}194"
    assert shown(indicators.COUNT, 1234567) == f"1{NNBSP}234{NNBSP}567"
    assert shown(indicators.COUNT, 250) == "250"
    assert shown(indicators.PERCENT, 0.973) == f"97,3{NBSP}%"
    assert shown(indicators.PERCENT, 1.0) == f"100,0{NBSP}%"
    assert shown(indicators.SECONDS, 1234.4) == f"1{NNBSP}234{NBSP}s"
    assert shown(indicators.DAYS, 12.25) == f"12,2{NBSP}j"  # the nearest tenth, halves to the even one
    assert shown(indicators.WORKING_DAYS, 6.0) == f"6,0{NBSP}j ouvrés"
    assert shown(indicators.STEPS, 2.5) == f"2,5{NBSP}étapes"


def test_the_report_tables_group_thousands_and_keep_percent_with_its_number(data):
    summary = data["summary"]
    assert row(summary, VOLUME) == ["Volumes", "Accueil écrit (chat)", VOLUME, f"3{NNBSP}194", f"3{NNBSP}194", "—", "—", ""]
    assert row(summary, REACHED) == [
        "Téléphone",
        "Accueil téléphonique",
        REACHED,
        f"97,3{NBSP}%",
        f"1{NNBSP}000",
        f"> 90,0{NBSP}%",
        "oui",
        "",
    ]
    assert row(summary, "Conversations non résolues")[3:5] == [f"37,6{NBSP}%", f"3{NNBSP}194"]  # 1 200 / 3 194
    assert row(data["commitments"], REACHED, 1)[2:] == [f"> 90,0{NBSP}%", "pas encore de données", f"97,3{NBSP}%", "oui"]
    # (3 194 − 250) / 250 = +1 177,6 %
    assert row(data["evolution"], VOLUME, 1) == ["Volumes", VOLUME, "250", f"3{NNBSP}194", f"en hausse de 1{NNBSP}177,6{NBSP}%"]
    phone_volume = next(t for t in data["breakdowns"] if t.id == "phone_volume")
    assert phone_volume.rows == [["terminés", f"1{NNBSP}000", f"100,0{NBSP}%"], ["en cours", "0", f"0,0{NBSP}%"]]
    outcomes = next(t for t in data["breakdowns"] if t.id == "phone_outcomes")
    assert outcomes.rows == [["Abandonné", "27", f"2,7{NBSP}%"], ["Réponse donnée", "973", f"97,3{NBSP}%"]]
    assert data["questions"].rows == [["1", "Carte grise perdue", f"1{NNBSP}994"], ["2", "titre de séjour", f"1{NNBSP}200"]]
    assert data["themes"].rows == [
        ["Titre de séjour, naturalisation", f"1{NNBSP}200", "0", f"1{NNBSP}200"],
        ["(thème non reconnu)", "0", "27", "27"],
    ]


def test_the_report_html_and_its_charts_show_the_same_french_figures(data):
    html = report.render_html(data)
    assert f">3{NNBSP}194</td>" in html and f">97,3{NBSP}%</td>" in html and f">&gt; 90,0{NBSP}%</td>" in html
    assert ">3194<" not in html and ">97,3 %<" not in html
    phone_volume = next(t for t in data["breakdowns"] if t.id == "phone_volume")
    assert f"terminés : 1{NNBSP}000 ; en cours : 0</desc>" in phone_volume.chart


def test_the_csv_keeps_numbers_a_spreadsheet_reads(data):
    lines = data["summary"].csv().lstrip("\ufeff").splitlines()
    assert f"Volumes;Accueil écrit (chat);{VOLUME};3194;3194;—;—;" in lines
    assert f"Téléphone;Accueil téléphonique;{REACHED};97,3 %;1000;> 90,0 %;oui;" in lines
    assert f"Volumes;{VOLUME};250;3194;en hausse de 1177,6 %" in data["evolution"].csv().splitlines()
    assert data["questions"].csv().splitlines()[1:] == ["1;Carte grise perdue;1994", "2;titre de séjour;1200"]


def test_the_command_s_table_groups_thousands(data):
    table = indicators.format_table(data["indicators"], "préfecture du Cantal", *MARCH).splitlines()
    reached = next(line for line in table if REACHED in line)
    assert f" 97,3{NBSP}% " in reached and f" 1{NNBSP}000 " in reached and f" > 90{NBSP}% " in reached
    assert reached.endswith(" oui")
    volume = next(line for line in table if VOLUME in line)
    assert f" 3{NNBSP}194 " in volume and "3194" not in volume
    ended = next(line for line in table if "· terminés" in line)
    assert ended.endswith(f" 1{NNBSP}000")
