"""The users' committee report (bot/quality/report.py, bot/quality/charts.py) on a hand-built store, values written out literally."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from html_tables import read
from report_rows import END, START, fill
from store_backends import command_env

from bot import settings
from bot.core import config as config_mod
from bot.core.masking import clean
from bot.core.text import norm
from bot.quality import charts, report
from bot.store.database import Store

pytestmark = pytest.mark.usefixtures("store_backend")  # SQLite and PostgreSQL (tests/store_backends.py)

TITLE = "Comité local des usagers — préfecture du Cantal — rapport du 01/03/2024 au 31/03/2024"
REACHED = "Appels aboutis (réponse, transfert ou messagerie)"


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "report.db")
    fill(s)
    yield s
    s.close()


@pytest.fixture(scope="module")
def cantal():
    return config_mod.load_prefecture("cantal")


def row(table: list[list[str]], label: str, column: int = 2) -> list[str]:
    found = [r for r in table if r[column] == label]
    assert len(found) == 1, (label, table)
    return found[0]


def test_report_html_has_the_indicators_targets_questions_and_evolution(store, cantal, tmp_path):
    result = report.build(store, cantal, START, END, tmp_path / "out", pdf=False)
    assert result["html"] == tmp_path / "out" / "rapport-clu-cantal-2024-03-01-2024-03-31.html"
    assert result["pdf"] is None and result["pdf_note"] == "pas de PDF : demandé avec --no-pdf"
    html = result["html"].read_text(encoding="utf-8")
    page = read(html)
    assert f"<title>{TITLE}</title>" in html and f"<h1>{TITLE}</h1>" in html
    for section in (
        "Ordre du jour",
        "I – Présentation du bilan qualité",
        "II – Évolution par rapport à la période précédente",
        "III – Répartitions",
        "IV – Questions les plus posées par les usagers",
        "V – Thèmes non résolus",
    ):
        assert section in page.text
    commitments = page.tables["engagements"]  # only what Qual-e-pref sets a target for, first
    assert commitments[0] == [
        "Canal",
        "Engagement",
        "Cible",
        "Du 30/01/2024 au 29/02/2024",
        "Du 01/03/2024 au 31/03/2024",
        "Atteinte",
    ]
    assert commitments[1] == ["Accueil téléphonique", REACHED, "> 90,0 %", "50,0 %", "75,0 %", "non"]
    assert [(r[0], r[2], r[3], r[4], r[5]) for r in commitments[2:]] == [
        ("Courriels", "> 80,0 %", "pas encore de données", "pas encore de données", "—"),
        ("Accueil au PAN", "> 80,0 %", "pas encore de données", "pas encore de données", "—"),
        ("Tous canaux", "> 75,0 %", "pas encore de données", "pas encore de données", "—"),
        ("Accueil écrit (chat)", "> 75,0 %", "pas encore de données", "pas encore de données", "—"),
        ("Accueil téléphonique", "> 75,0 %", "pas encore de données", "pas encore de données", "—"),
    ]
    assert list(page.tables)[:2] == ["engagements", "indicateurs"]
    summary = page.tables["indicateurs"]
    assert summary[0] == ["Thématique", "Canal", "Indicateur", "Valeur", "Base", "Cible", "Atteinte", "Commentaire"]
    assert row(summary, REACHED) == ["Téléphone", "Accueil téléphonique", REACHED, "75,0 %", "4", "> 90,0 %", "non", ""]
    assert row(summary, "Conversations écrites (volume)") == [
        "Volumes",
        "Accueil écrit (chat)",
        "Conversations écrites (volume)",
        "4",
        "4",
        "—",
        "—",
        "",
    ]
    assert row(summary, "Messages aux services (volume)")[3] == "pas encore de données"
    evolution = page.tables["evolution"]
    assert evolution[0] == ["Thématique", "Indicateur", "Du 30/01/2024 au 29/02/2024", "Du 01/03/2024 au 31/03/2024", "Évolution"]
    assert row(evolution, REACHED, 1) == ["Téléphone", REACHED, "50,0 %", "75,0 %", "en hausse de 25,0 pts"]
    assert row(evolution, "Appels abandonnés", 1) == [
        "Téléphone",
        "Appels abandonnés",
        "50,0 %",
        "25,0 %",
        "en baisse de 25,0 pts",
    ]
    assert row(evolution, "Conversations écrites (volume)", 1)[2:] == ["1", "4", "en hausse de 300,0 %"]
    assert row(evolution, "Messages aux services (volume)", 1)[2:] == ["pas encore de données", "pas encore de données", "—"]
    # A text is cited only once asked 3 times (report.question_min_count): a message written once may name
    # its author in words the masking does not know, and the report goes to the users' committee.
    assert page.tables["questions"] == [
        ["Rang", "Question (texte masqué)", "Nombre"],
        ["1", "Carte grise perdue", "4"],  # « carte grise perdue ! », « CARTE GRISÉ PERDUE » folded in
    ]
    assert "seuls les textes posés au moins 3 fois sont cités" in page.text
    assert "zorglub titre" not in html
    assert "jean.dupont" not in html and "question de démonstration" not in html and "navigate" not in html
    assert page.tables["non_resolus"] == [
        ["Thème", "Conversations écrites", "Appels", "Total"],
        ["(thème non reconnu)", "0", "1", "1"],
        ["Titre de séjour, naturalisation", "1", "0", "1"],
    ]
    assert page.tables["phone_outcomes"] == [
        ["Répartition", "Nombre", "Part"],
        ["Abandonné", "1", "25,0 %"],
        ["Réponse donnée", "2", "50,0 %"],
        ["Transféré", "1", "25,0 %"],
    ]


def test_report_is_self_contained_with_accessible_svg_charts(store, cantal, tmp_path):
    html = report.build(store, cantal, START, END, tmp_path, pdf=False)["html"].read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert not re.search(r"""(href|url\()\s*=?\s*["']?https?:""", html)
    assert "<style>" in html and "@page" in html  # the CSS is inlined
    page = read(html)
    assert "Appels terminés par issue : répartition" in page.svg_titles
    svgs = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    assert len(svgs) == len(page.svg_titles) >= 5
    for svg in svgs:
        assert 'role="img"' in svg and "<desc id=" in svg and " style=" not in svg
    # weekday charts keep their key order, zeros included
    assert re.search(
        r'<desc id="graphique-chat_by_weekday-desc">lundi : 1 ; mardi : 1 ; mercredi : 1 ; jeudi : 1 ;'
        r" vendredi : 0 ; samedi : 0 ; dimanche : 0</desc>",
        html,
    )
    assert '<text fill="#3a3a3a" font-size="10px"' in html  # text stays text, colours as attributes


def test_demo_rows_are_left_out_unless_asked(store, cantal, tmp_path):
    import dataclasses

    every = dataclasses.replace(cantal, data={**cantal.data, "report": {"question_min_count": 1}})  # cites a text said once
    without = read(report.build(store, every, START, END, tmp_path / "a", pdf=False)["html"].read_text())
    with_demo = read(report.build(store, every, START, END, tmp_path / "b", pdf=False, include_demo=True)["html"].read_text())
    assert row(without.tables["indicateurs"], "Conversations écrites (volume)")[3] == "4"
    assert row(with_demo.tables["indicateurs"], "Conversations écrites (volume)")[3] == "5"
    assert ["3", "question de démonstration", "1"] in with_demo.tables["questions"]
    assert "Données de démonstration : incluses." in with_demo.text
    assert "Données de démonstration : exclues." in without.text


def test_empty_period_says_no_data_everywhere(store, cantal, tmp_path):
    from datetime import date

    html = report.build(store, cantal, date(2023, 6, 1), date(2023, 6, 30), tmp_path, pdf=False)["html"].read_text()
    page = read(html)
    values = [r[3] for r in page.tables["indicateurs"][1:]]
    assert values and set(values) == {"pas encore de données"}
    assert {r[4] for r in page.tables["evolution"][1:]} == {"—"}
    assert "questions" not in page.tables and 'data-empty="questions">pas encore de données' in html
    assert 'data-empty="non_resolus">pas encore de données' in html
    assert "<svg" not in html


@pytest.mark.skipif(not Path(settings.chromium()).exists(), reason="Chromium is not installed (make test installs it)")
def test_pdf_is_printed_and_its_pages_render_non_empty(store, cantal, tmp_path):
    import pypdfium2 as pdfium

    result = report.build(store, cantal, START, END, tmp_path, pdf=True)
    assert result["pdf_note"] is None
    assert result["pdf"] == tmp_path / "rapport-clu-cantal-2024-03-01-2024-03-31.pdf"
    pdf = pdfium.PdfDocument(str(result["pdf"]))
    try:
        assert len(pdf) >= 2
        text = ""
        for i in range(len(pdf)):
            image = pdf[i].render(scale=1).to_pil().convert("L")
            assert image.size == (595, 842)  # A4 at 72 dpi
            dark = sum(image.histogram()[:200])  # pixels clearly darker than the white page
            assert dark > 1000, f"page {i + 1} is blank"
            text += pdf[i].get_textpage().get_text_range()
        flat = " ".join(text.split())
        assert "Comité local des usagers — préfecture du Cantal" in flat
        assert "75,0 %" in flat and "Carte grise perdue" in flat
    finally:
        pdf.close()


def test_without_chromium_the_report_is_html_only_and_says_so(store, cantal, tmp_path, monkeypatch):
    monkeypatch.setenv("AIGUILLAGE_CHROMIUM", str(tmp_path / "no-chromium"))
    result = report.build(store, cantal, START, END, tmp_path, pdf=True)
    assert result["html"].exists() and result["pdf"] is None
    assert result["pdf_note"] == (
        f"pas de PDF : Chromium est absent de cette machine ({tmp_path / 'no-chromium'}) ; rapport écrit en HTML seulement"
    )
    assert not list(tmp_path.glob("*.pdf"))


def run_cli(python, store, *args):
    env = command_env(store, PREFECTURE="cantal")  # the same SQLite file or PostgreSQL schema
    return subprocess.run([python, "-m", "bot", "report", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_cli_writes_the_report_and_prints_its_path(store, python, tmp_path):
    done = run_cli(
        python, store, "--from", "2024-03-01", "--to", "2024-03-31", "--out", str(tmp_path / "r"), "--no-pdf", "--quiet"
    )
    assert done.returncode == 0, done.stderr
    path = tmp_path / "r" / "rapport-clu-cantal-2024-03-01-2024-03-31.html"
    assert done.stdout == f"{path}\n"
    assert "75,0\u00a0%" in path.read_text(encoding="utf-8")
    assert "Rapport du comité" not in done.stderr  # no progress bar when not a terminal


@pytest.mark.parametrize(
    "start, end, message",
    [
        (
            "2024-13-01",
            "2024-03-31",
            "Erreur : date de début invalide : « 2024-13-01 » (format attendu AAAA-MM-JJ, ex. 2026-01-01)",
        ),
        ("2024-03-31", "2024-03-01", "Erreur : période invalide : le début (2024-03-31) est après la fin (2024-03-01)"),
        ("0001-01-01", "0001-12-31", "Erreur : période hors limites : les dates doivent être comprises entre 1900 et 9998"),
    ],
)
def test_cli_bad_period_is_a_french_error(store, python, tmp_path, start, end, message):
    done = run_cli(python, store, "--from", start, "--to", end, "--out", str(tmp_path), "--no-pdf")
    assert done.returncode == 2
    assert done.stderr == message + "\n"
    assert not list(tmp_path.glob("*.html"))


def test_bar_chart_keeps_key_order_and_escapes_labels():
    svg = charts.bar_chart("essai", "Essai <b>", {"z": 3, "a": 1, "prix en $ <x>": 2})
    assert svg.startswith('<svg id="essai" class="chart-svg" role="img" aria-labelledby="essai-title essai-desc"')
    assert '<title id="essai-title">Essai &lt;b&gt;</title>' in svg
    assert '<desc id="essai-desc">z : 3 ; a : 1 ; prix en $ &lt;x&gt; : 2</desc>' in svg
    assert "<b>" not in svg and "<x>" not in svg and " style=" not in svg and "<metadata" not in svg
    texts = re.findall(r"<text [^>]*>([^<]*)</text>", svg)
    assert texts.index("z") < texts.index("a")


def test_a_chart_asked_again_is_the_one_drawn_and_other_figures_are_drawn_anew():
    """charts.bar_chart keeps what it drew by everything the chart shows: the same figures give the same
    SVG without drawing again; another value, label or title gives its own chart."""

    def values_beside_bars(svg: str) -> list[str]:
        return re.findall(r'<text[^>]*font-size="8px"[^>]*>([^<]*)</text>', svg)

    charts._drawn.cache_clear()
    first = charts.bar_chart("essai-cache", "Essai", {"a": 1, "b": 2})
    assert charts.bar_chart("essai-cache", "Essai", {"a": 1, "b": 2}) is first  # kept, not drawn again
    assert charts._drawn.cache_info().hits == 1
    other = charts.bar_chart("essai-cache", "Essai", {"a": 1, "b": 3})
    assert '<desc id="essai-cache-desc">a : 1 ; b : 3</desc>' in other and values_beside_bars(other) == ["1", "3"]
    labelled = charts.bar_chart("essai-cache", "Essai", {"a": 1, "b": 2}, labels={"b": "Bureau"})
    assert '<desc id="essai-cache-desc">a : 1 ; Bureau : 2</desc>' in labelled and ">Bureau</text>" in labelled
    retitled = charts.bar_chart("essai-cache", "Autre titre", {"a": 1, "b": 2})
    assert '<title id="essai-cache-title">Autre titre</title>' in retitled
    charts._drawn.cache_clear()
    assert charts.bar_chart("essai-cache", "Essai", {"a": 1, "b": 2}) == first  # the same SVG as drawn afresh


def test_a_chart_is_the_svg_drawn_with_savefig_s_own_layout_pass(monkeypatch):
    """The chart leaves out the layout pass savefig makes after tight_layout (charts._drawn): the SVG is the
    one drawn with it, byte for byte, for columns (weekdays, 24 hours) and bars (long labels, many keys)."""
    cases = [
        ("essai-jours", {d: i * 3 for i, d in enumerate(["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"])}),
        ("essai-heures", {f"{h} h": (h * 7) % 13 for h in range(24)}),
        ("essai-barres", {f"Une destination au libellé assez long n° {i}": 1000 * i for i in range(15)}),
        ("essai-seule", {"Carte grise": 12345}),
    ]
    charts._drawn.cache_clear()
    fast = [charts.bar_chart(chart_id, "Essai", data) for chart_id, data in cases]
    charts._drawn.cache_clear()
    engine = charts.Figure.set_layout_engine  # tight_layout's own calls kept, the chart's (None) left out

    def with_savefig_pass(fig, layout=None, **kw):
        if layout is not None:
            engine(fig, layout, **kw)

    monkeypatch.setattr(charts.Figure, "set_layout_engine", with_savefig_pass)
    redrawn = charts.Figure.draw
    draws = []
    monkeypatch.setattr(charts.Figure, "draw", lambda fig, renderer: draws.append(1) or redrawn(fig, renderer))
    assert [charts.bar_chart(chart_id, "Essai", data) for chart_id, data in cases] == fast
    assert len(draws) == 2 * len(cases)  # savefig's layout pass and its drawing, as before the change
    charts._drawn.cache_clear()
    monkeypatch.undo()
    monkeypatch.setattr(charts.Figure, "draw", lambda fig, renderer: draws.append(1) or redrawn(fig, renderer))
    draws.clear()
    assert [charts.bar_chart(chart_id, "Essai", data) for chart_id, data in cases] == fast
    assert len(draws) == len(cases)  # the drawing only
    charts._drawn.cache_clear()


def test_one_table_asked_is_the_page_s_and_computes_only_what_it_shows(store, cantal, monkeypatch):
    """collect(table=...) (the console's CSV export): the table is the one of the whole collect; the
    previous period, the questions and the themes are computed only for the tables that show them."""
    whole = {t.id: t for t in report.tables(report.collect(store, cantal, START, END, with_charts=False))}
    assert {report.COMMITMENTS, report.SUMMARY, report.EVOLUTION, report.QUESTIONS, report.THEMES} < set(whole)
    computed = []
    for name in ("compute_indicators", "top_questions", "unresolved_themes"):
        real = getattr(report, name)
        monkeypatch.setattr(report, name, lambda *a, _real=real, _name=name, **kw: computed.append(_name) or _real(*a, **kw))
    needs = {
        report.COMMITMENTS: ["compute_indicators", "compute_indicators"],  # this period and the previous one
        report.EVOLUTION: ["compute_indicators", "compute_indicators"],
        report.QUESTIONS: ["compute_indicators", "top_questions"],
        report.THEMES: ["compute_indicators", "unresolved_themes"],
    }
    for table_id, table in whole.items():
        computed.clear()
        data = report.collect(store, cantal, START, END, with_charts=False, table=table_id)
        assert computed == needs.get(table_id, ["compute_indicators"]), table_id
        asked = [t for t in report.tables(data) if t.id == table_id]
        assert len(asked) == 1 and asked[0].csv() == table.csv(), table_id
    assert [t.id for t in report.tables(report.collect(store, cantal, START, END, table="inconnu"))] == [
        t.id for t in whole.values() if t.id not in needs
    ]


def test_user_text_cannot_become_a_spreadsheet_formula(store, cantal, tmp_path):
    for i in range(3):  # asked three times: cited (report.question_min_count)
        store.db["conversations"].insert(
            {
                "id": f"rep-f{i}",
                "channel": "web",
                "prefecture": "cantal",
                "status": "open",
                "started_at": "2024-03-09T10:00:00.000+00:00",
                "demo": 0,
            }
        )
        store.db["turns"].insert(
            {
                "conversation_id": f"rep-f{i}",
                "ts": "2024-03-09T10:00:00.000+00:00",
                "channel": "web",
                "text": '=HYPERLINK("x";"carte")',
                "topic": None,
                "resolved": 0,
            }
        )
    data = report.collect(store, cantal, START, END, with_charts=False)
    assert ["2", '\'=HYPERLINK("x";"carte")', "3"] in data["questions"].rows
    assert data["questions"].csv().splitlines()[2] == '2;"\'=HYPERLINK(""x"";""carte"")";3'
    zero = "0,0\u00a0%"
    assert ["Orientation", "Conversations orientées vers un agent", zero, zero, "stable"] in data["evolution"].rows


def test_every_conversation_intent_has_a_french_label_in_the_charts():
    from bot.core.tree import CONVERSATION_INTENTS
    from bot.quality import report

    labels = report.key_labels("chat_topics")
    assert [labels.get(i) for i in CONVERSATION_INTENTS] == [
        "Salutation",
        "Au revoir",
        "Remerciement",
        "Oui (confirmation)",
        "Non (refus)",
        "« Êtes-vous un robot ? »",
        "Demande à parler à une personne",
        "Autre langue",
    ]


def test_texts_apart_by_spaces_or_control_characters_are_one_question_in_its_most_frequent_spelling(store):
    """The top questions group texts by their matching key and cite a group by its most frequent spelling
    once cleaned (controls and runs of spaces made one space): here « Carte grise volée », 4 times, with
    the text that only differs by a zero-width space, a double space or a line break."""
    said = ["Carte grise volée", "Carte  grise volée", "Carte grise\nvolée", "carte\u200bgrise volée", "CARTE GRISE VOLÉE"]
    for i, text in enumerate(said):
        store.db["conversations"].insert(
            {"id": f"rep-v{i}", "channel": "web", "prefecture": "cantal", "status": "open"}
            | {"started_at": "2024-03-10T10:00:00.000+00:00", "demo": 0}
        )
        store.db["turns"].insert(
            {"conversation_id": f"rep-v{i}", "ts": "2024-03-10T10:00:00.000+00:00", "channel": "web", "text": text}
            | {"topic": "carte_grise", "resolved": 1}
        )
    assert report.top_questions(store, "cantal", START, END, min_count=3) == [("Carte grise volée", 5), ("Carte grise perdue", 4)]


def test_a_text_s_key_is_the_key_of_its_cleaned_text():
    """top_questions keys a text by norm(text), not norm(clean(text)): the same for every character that
    clean changes (controls, spaces, invisible marks), between letters, accents and a Greek final sigma."""
    changed = [chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i <= 0xDFFF and clean(f"a{chr(i)}b") != f"a{chr(i)}b"]
    assert len(changed) == 67
    for c in changed:
        for t in (f"É{c}\u0301x{c}{c}ΑΣ{c}", f"{c}a{c}", f"ΑΣ{c}Α", f"e{c}\u0327\u0301{c}", f"{c}{c}"):
            assert norm(clean(t)) == norm(t), (hex(ord(c)), t)


def test_a_csv_is_computed_while_another_request_draws_its_charts(store, cantal, monkeypatch):
    """The console's CSV export draws no chart: it does not wait behind another agent's indicators page
    drawing its charts (matplotlib's settings are process-wide, so only the drawing is one at a time)."""
    import asyncio
    from types import SimpleNamespace

    from conftest import run_async

    from bot.services import runtime
    from bot.web.console import indicators as console_indicators

    monkeypatch.setattr(runtime, "prefecture", lambda: cantal)
    console = SimpleNamespace(store=store)
    asked = console_indicators.indicators_data(console, START, END, False, with_charts=False, table=report.SUMMARY)
    with charts.DRAWING:  # another request is drawing a chart
        data = run_async(asyncio.wait_for(asked, 60))
    assert [t.id for t in report.tables(data) if t.id == report.SUMMARY] == [report.SUMMARY]
