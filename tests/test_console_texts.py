"""The agents' console's and the committee report's texts live in bot/console_texts.yml (issue 12), apart from the public tree;
the public pages without JavaScript take theirs from bot/tree.yml's `pan.page`."""

from __future__ import annotations

import pytest

from bot.core import config, texts
from bot.core.tree import TreeError, render

# Every local placeholder a console text uses, with a value.
SAMPLE = {
    "name": "marie.dupont",
    "max": 10000,
    "hour": 9,
    "reference": "MSG-2026-0001",
    "reason": "la date de fin précède la date de début",
    "day": "10/07/2026",
    "time": "14:30",
    "percent": 42,
    "prefecture": "préfecture du Cantal",
    "code": 404,
    "count": 3,
    "when": "10/07/2026 14:30",
    "page": 2,
    "number": 3,
    "pages": 3,
    "start": "01/07/2026",
    "typed": "hier",
    "end": "31/07/2026",
    "title": "Accueil écrit",
    "service": "Service des étrangers",
    "site": "Aurillac",
    "channel": "chat",
    "topic": "Carte grise",
    "label": "Carte grise",
    "chosen": "Titre de séjour",
    "answered": "Hors périmètre",
    "digits": "1",
    "word": "« oui »",
    "words": "j'ai perdu mon permis…",
    "outcome": "raccroché",
    "seconds": 12,
    "caller": "[téléphone]",
    "days": 2,
    "agent": "marie.dupont",
    "source": "Accueil",
    "target": "Service des étrangers",
    "known": 1,
    "duplicate": 0,
    "near": 0,
    "invalid": 0,
    "file": "data/nlu_review.yml",
    "aside": "var/nlu_review.refused.yml",
    "every": 5,
    "generated": "01/08/2026 à 09:00",
    "demo": "exclues",
    "min": 10,
    "what": "Appels reçus",
    "paper_days": 15,
    "oldest": "03/12/2025",
    "value": "12,5",
    "path": "/usr/bin/chromium",
    "error": "crashed",
    "scores": "heldout 0.800 -> 0.820",
    "sets": "heldout (120 questions)",
    "totals": "en tout 96 -> 98 questions bien orientées sur 120 : 0 perdues, 2 gagnées",
    "before": 96,
    "after": 98,
    "total": 120,
    "lost": 0,
    "won": 2,
    "previous": "models/aiguillage.previous.tar.gz",
    "overdue": 1,
}


def leaves(node: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in node.items():
        out += leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return out


def test_every_console_text_renders_with_its_values():
    paths = leaves(texts.console_texts())
    assert len(paths) > 300  # the whole console, pages included
    unfilled = [path for path in paths if "{" in texts.console_say(path, **SAMPLE)]
    assert unfilled == []


def test_console_messages_read_as_before():
    assert texts.console_say("errors.csrf.title") == "Formulaire refusé"
    assert texts.console_say("messages.account_created", name="marie.dupont") == (
        "Compte « marie.dupont » créé. Donnez-lui son mot de passe en main propre ; il pourra se connecter tout de suite."
    )
    assert texts.console_say("messages.answer_missing", max=10000) == (
        "Notez la réponse apportée (par téléphone, par courrier…) avant de marquer le message comme "
        "répondu (10000 caractères au plus)."
    )
    assert texts.console_section("audit_actions")["committee_report"] == "rapport du comité téléchargé"
    assert texts.console_section("spoken_inputs")["yes"] == "« oui »"


def test_a_page_text_is_kept_as_written_and_its_values_escaped():
    assert texts.html_section("pages")["login"]["help"] == (
        "Pas encore de compte, ou mot de passe oublié ? Demandez à un administrateur de la console. "
        "La session se ferme après 30 minutes d'inactivité."
    )
    assert str(texts.html_say("pages.item.clicked", label="<b>Carte grise</b>")) == (
        "a cliqué sur le bouton « &lt;b&gt;Carte grise&lt;/b&gt; »"
    )
    # A value keeps its own spacing; the file's line breaks collapse.
    assert texts.console_say("errors.bad_period.message", reason="a  b") == "a  b"


def test_a_placeholder_without_a_value_is_an_error_naming_the_text():
    with pytest.raises(TreeError) as exc:
        texts.console_say("messages.not_locked")
    assert str(exc.value) == "bot/console_texts.yml: messages.not_locked: placeholder {name} has no value"


@pytest.mark.parametrize(
    "content, message",
    [
        ("ticket_done: {}\n", "bot/console_texts.yml: ticket_refused: missing section"),
        ("[unclosed\n", None),
    ],
)
def test_a_broken_console_texts_file_is_reported(tmp_path, monkeypatch, content, message):
    broken = tmp_path / "console_texts.yml"
    broken.write_text(content, encoding="utf-8")
    monkeypatch.setattr(texts, "CONSOLE_FILE", broken)
    texts.console_texts.cache_clear()
    try:
        with pytest.raises(TreeError) as exc:
            texts.console_texts()
        assert str(exc.value).startswith(message or "bot/console_texts.yml: -: unreadable:")
    finally:
        monkeypatch.undo()
        texts.console_texts.cache_clear()


def test_an_empty_console_text_is_reported(tmp_path, monkeypatch):
    good = texts.CONSOLE_FILE.read_text(encoding="utf-8")
    broken = tmp_path / "console_texts.yml"
    broken.write_text(good.replace('bad_login: "Identifiant ou mot de passe incorrect."', 'bad_login: ""'), encoding="utf-8")
    monkeypatch.setattr(texts, "CONSOLE_FILE", broken)
    texts.console_texts.cache_clear()
    try:
        with pytest.raises(TreeError) as exc:
            texts.console_texts()
        assert str(exc.value) == "bot/console_texts.yml: messages.bad_login: missing text"
    finally:
        monkeypatch.undo()
        texts.console_texts.cache_clear()


def test_the_booking_pages_texts_come_from_the_tree():
    pref = config.load_prefecture("cantal")
    t = texts.page_texts("pan.page", pref, max="{max}")
    assert t["body_hint"] == "{max} caractères au plus"
    assert t["book_submit"] == "Réserver ce créneau"
    assert t["service_title"] == "Aiguillage — assistant de la préfecture du Cantal"
    # The no-break spaces before « ; » and « : » survive rendering, as they were in the template.
    assert "bon service\u00a0; pour toute autre question, joignez la préfecture\u00a0:" in t["footer_text"]


def test_rendering_collapses_spaces_and_line_breaks_but_keeps_a_no_break_space():
    pref = config.load_prefecture("cantal")
    assert render("  a\u00a0;   b\n   c  ", pref) == "a\u00a0; b c"
