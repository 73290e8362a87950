"""Every text a user reads lives in bot/tree.yml or the préfecture files, not in the code (issue 12).

The guard covers bot/**, ivr/**, actions/** (Python string literals, docstrings aside),
web/static/*.js and web/templates/** for phone numbers, URLs, e-mail addresses, French sentences,
and the French words of dates, times and waits however short (day and month names, "à", "heures").
What it accepts is listed, file by file with the reason, in tests/data/texts_in_code_allowlist.yml;
a new text fails, and so does an allowlisted one that has left the code (the list only shrinks).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from texts_scan import javascript_strings, kinds, python_strings, scan, template_strings

ROOT = Path(__file__).resolve().parent.parent
ALLOWLIST = yaml.safe_load((ROOT / "tests" / "data" / "texts_in_code_allowlist.yml").read_text(encoding="utf-8"))["files"]


def test_the_scanner_finds_each_kind_where_it_hides():
    """Planted texts are found (so an empty result below means clean code, not a blind scanner)."""
    python = (
        'def f():\n    """Une docstring en français pour les lecteurs."""\n    return "Votre demande est bien enregistrée."\n'
    )
    assert [text for _, text in python_strings(python) if kinds(text)] == ["Votre demande est bien enregistrée."]
    assert kinds("Appelez le 04 71 46 23 00") == ["phone"]
    assert kinds("voir https://www.ants.gouv.fr") == ["url"]
    assert kinds("pref-courrier@cantal.gouv.fr") == ["url", "email"]
    assert kinds("log: could not record the turn") == []
    # Dates, times and waits in French, however short: a day or month name, " à ", "heures", " h ".
    when = 'def f(start):\n    return f"{DAYS[start.weekday()]} {start.day}, à {start.hour} h {start.minute}"\n'
    assert [text for _, text in python_strings(when) if kinds(text)] == [", à ", " h "]
    assert [kinds(t) for t in ("vendredi", "secondes", "aujourd'hui", " heures")] == [["french"]] * 4
    # ...and no alarm on what merely looks alike: format letters, keys, English words, a bare "h".
    assert [kinds(t) for t in ("%H:%M", "h", "jour", "ms", "mars", "second", "minute", "hour")] == [[]] * 8
    script = "// un commentaire pour les lecteurs de ce code\nconst a = 'Merci pour votre avis sur la réponse';\n"
    assert [text for _, text in javascript_strings(script) if kinds(text)] == ["Merci pour votre avis sur la réponse"]
    template = '{# une note pour les lecteurs de ce modèle #}<p title="Aller à la page des rendez-vous">{{ t.x }}</p>\n'
    assert [text for _, text in template_strings(template) if kinds(text)] == ["Aller à la page des rendez-vous"]


def test_no_text_in_the_code_that_is_not_allowlisted():
    hits = scan(ROOT)
    # The scan read the code, not an empty folder: the masking patterns (bot/core/masking_patterns.py) are found.
    assert len([path for path, *_ in hits if path == "bot/core/masking_patterns.py"]) >= 10
    new = [
        f"{path}:{line}: {'/'.join(found)}: {text[:100]}"
        for path, line, found, text in hits
        if text not in (ALLOWLIST.get(path) or {}).get("texts", [])
    ]
    assert new == [], "texts belong in bot/tree.yml or prefectures/*.yml:\n" + "\n".join(new)


def test_every_allowlisted_text_is_still_in_the_code_and_has_a_reason():
    found = {(path, text) for path, _, _, text in scan(ROOT)}
    stale = [f"{path}: {text[:100]}" for path, entry in ALLOWLIST.items() for text in entry["texts"] if (path, text) not in found]
    assert stale == [], "remove these entries from tests/data/texts_in_code_allowlist.yml:\n" + "\n".join(stale)
    assert all(entry.get("why") for entry in ALLOWLIST.values())
    assert set(ALLOWLIST) <= {"bot/core/masking.py", "bot/core/masking_patterns.py"} | {
        p for p in ALLOWLIST if not p.startswith(("ivr/", "actions/", "web/static/"))
    }
