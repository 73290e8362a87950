"""Mask personal data before anything is written (store, tracker, logs).

The patterns, in the order they run, are the table of bot/core/masking_patterns.py; here, the second
look at each match (small words that are not a plate's letters, public phone numbers, titles that are
not names) and what every front door calls (`prepare`, `mask`, `clean`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
import yaml

from bot.core import masking_names, yaml_text
from bot.core.masking_patterns import (
    ACRONYMS,
    CIVILITY_NAME,
    COMMON_WORDS,
    LEADING,
    NAME_PARTICLES,
    NOT_A_NAME,
    NOT_PLATE_LETTERS,
    NUMBERS,
    PARTICLES,
    PATTERNS,
    PUBLIC_CUES,
    TITLES,
    UNITS,
)

# Any of the placeholders the masking writes ("[adresse]", "[immatriculation]"...), longest first: what the
# tokenizer leaves out at training and inference (bot/nlu/scoring.py), and the review export (bot/nlu/review.py).
PLACEHOLDER_RE = re.compile(
    "|".join(re.escape(label) for label in sorted({label for label, _ in PATTERNS}, key=len, reverse=True))
)


def _trim_name(name: str) -> tuple[int, str]:
    """(offset, the words of a name): leading greetings dropped, cut at the first word that cannot be in it."""
    words, offset = name.split(" "), 0
    while words and words[0] and not words[0][0].isupper() and words[0].lower().replace("’", "'") in LEADING:
        offset += len(words.pop(0)) + 1
    kept: list[str] = []
    for i, word in enumerate(words):
        low = word.lower()
        if low in NAME_PARTICLES and kept and i + 1 < len(words):
            kept.append(word)  # "yann le gall", "jean de la fontaine"
            continue
        if low in ("prénom", "prenom", "nom") or (
            not word[0].isupper() and (low in NOT_A_NAME or low.replace("’", "'").split("'")[0] in NOT_A_NAME)
        ):
            break  # a capitalised "Le" or "De" is part of a name (Le Gall); a lower-case one ends it
        kept.append(word)
    while kept and kept[-1].lower() in NAME_PARTICLES:
        kept.pop()
    return offset, " ".join(kept)


@lru_cache(maxsize=1)
def _public_numbers() -> frozenset[str]:
    """National significant numbers of every phone number in the préfecture files (public: never masked):
    the deployment's folder (AIGUILLAGE_PREFECTURES, else prefectures/), where its own préfecture is."""
    from bot.core.config import prefectures_dir  # the files, read once; config is data

    found: set[str] = set()

    def walk(node: object, under_phone: bool = False) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "number" and under_phone and isinstance(value, str):
                    found.add(re.sub(r"\D", "", value).lstrip("0"))
                walk(value, under_phone or key == "phone")
        elif isinstance(node, list):
            for value in node:
                walk(value, under_phone)

    for path in sorted(prefectures_dir().glob("*.yml")):
        try:
            walk(yaml_text.safe_load(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError):
            continue  # a bad file stops the server elsewhere (config.load_prefecture)
    return frozenset(n for n in found if n)


# The values of the words of a number said in words (masking_patterns: a phone number said by a caller).
_SPOKEN_WORDS = "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize".split()
_SPOKEN_VALUES = {word: value for value, word in enumerate(_SPOKEN_WORDS)} | {"zero": 0, "une": 1, "vingt": 20, "vingts": 20}
_SPOKEN_VALUES |= {"trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60}


def _spoken_digits(number: str) -> str:
    """The digits of a number said in words and figures: "zéro quatre soixante et onze" -> "0471"."""
    digits = []
    for token in re.sub(r"\set\s", "-", number.lower()).split():
        total = 0
        for atom in token.split("-"):
            if atom.isdigit():
                total += int(atom)
            elif atom in ("vingt", "vingts") and total == 4:
                total = 80  # quatre-vingt(s)
            else:
                total += _SPOKEN_VALUES.get(atom, 0)
        digits.append(str(total))
    return "".join(digits)


def _national(number: str) -> str:
    """A phone number's national significant number (no trunk 0, no country code), to compare with the public ones."""
    if re.search(r"[^\W\d_]", number):
        number = _spoken_digits(number)
    try:
        return str(phonenumbers.parse(number, "FR").national_number)
    except phonenumbers.NumberParseException:
        return re.sub(r"\D", "", number).lstrip("0")


def _checked(label: str, text: str, start: int, end: int) -> tuple[int, int] | None:
    """Second look at a match: the part to mask, or None to keep it."""
    value = text[start:end]
    if label in NUMBERS and _national(value) in _public_numbers():
        return None  # the préfecture's, the CCC's, the ANTS's number
    if label in ("[n° étranger]", "[numéro]") and PUBLIC_CUES.search(text, max(0, start - 25), start):
        return None  # a SIRET, an order or invoice number, a legal reference: not a person's
    if label == "[n° carte d'identité]" and PUBLIC_CUES.search(text, max(0, start - 25), start):
        if not re.search(r"(?i)identit|\bcni", text[max(0, start - 40) : start]):
            return None  # "facture n° 2024FA001": after "n°" or "numéro" alone, an invoice's, an order's
    if label == "[immatriculation]" and not value.isupper():
        groups = [g.lower() for g in re.findall(r"[A-Za-z]+", value)]
        if len(groups) == 1 and groups[0] in NOT_PLATE_LETTERS:
            return None
        if len(groups) == 2 and (any(g in UNITS for g in groups) or all(g in NOT_PLATE_LETTERS for g in groups)):
            return None  # "2 h 30", "de 800 kg", "le 100 km": small words and units, in lower case
    if label == "[n° passeport]" and not value.isupper() and re.search(r"[ -]", value):
        if re.sub(r"[\d -]", "", value).lower() in NOT_PLATE_LETTERS:
            return None  # "le 12 au 15000": a small word between numbers
    if label == "[adresse]":
        words = value.rstrip(" ,").split(" ")
        while words and words[-1].lower() in PARTICLES:
            words.pop()
        return (start, start + len(" ".join(words))) if words else None
    if label == "[nom]":
        offset, name = _trim_name(value)
        start += offset
        first = name.split(" ", 2)[:2]
        if any(w.lower() in ACRONYMS or w.lower() in TITLES for w in name.split(" ")[1:]) or (
            first and first[0].lower() in ACRONYMS
        ):
            return None  # "PASSEPORT Bonjour", "SIRET Merci"
        if first and masking_names.is_nationality(first[0]):
            return None  # "mon mari Français veut ...": a nationality, not a name
        if first and (
            first[0].lower() in TITLES or (first[0].lower() in ("le", "la") and first[1:] and first[1].lower() in TITLES)
        ):
            return None  # "Monsieur le Préfet", "Merci Madame": a title, not a name
        return (start, start + len(name)) if name else None
    return start, end


def _civility_name(start: int, value: str) -> tuple[int, int] | None:
    """The name after a civility (CIVILITY_NAME): cut at the first common word, None if it starts
    with one ("madame la préfète", "merci madame pour votre aide", "monsieur l'agent"). A capitalised
    name stops at the first word in lower case ("M. Martin prend rendez-vous": the verb is kept)."""
    kept: list[str] = []
    for word in value.split(" "):
        low = word.lower().replace("’", "'")
        head, _, rest = low.partition("'") if "'" in low else low.partition("-")
        if low in NAME_PARTICLES and kept:
            kept.append(word)  # "jean de la roche", "Jean de La Fontaine"
            continue
        if low in COMMON_WORDS or (head in COMMON_WORDS and not (head == "n" and rest not in COMMON_WORDS)):
            break  # "n'diaye" is a name, "n'est" is not
        if kept and kept[0][0].isupper() and not word[0].isupper():
            break
        kept.append(word)
    while kept and kept[-1].lower() in NAME_PARTICLES:
        kept.pop()
    return (start, start + len(" ".join(kept))) if kept else None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


# Before any regular expression, a text is cut to a few times its limit (cleaning collapses runs of
# spaces, so the cut is generous), then cleaned, then cut to the limit.
RAW_FACTOR = 4
# Characters masked beyond the limit (longer than any pattern's match).
MARGIN = 250


def drop_controls(text: str) -> str:
    """Each control or invisible character (NUL, BEL, zero-width space, BOM, text direction overrides...) as a space; tabs
    and line breaks stay (a message's lines, bot/services/tickets.py)."""
    return _CONTROL.sub(" ", text)


def clean(text: str) -> str:
    """Drop control characters and collapse whitespace (keeps accents and emoji)."""
    return re.sub(r"\s+", " ", drop_controls(text)).strip()


def find(text: str) -> list[tuple[int, int, str]]:
    """The personal data in a text: sorted, non-overlapping (start, end, label).

    Patterns run in order on the original text, then the names found by their first name
    (bot/core/masking_names.py); a match overlapping an earlier one is dropped.
    """
    found: list[tuple[int, int, str]] = []
    taken = bytearray(len(text))  # 1 where a match was kept: checking an overlap costs its length only
    for label, pattern in PATTERNS:
        for m in pattern.finditer(text):
            if pattern is CIVILITY_NAME:
                span = _civility_name(m.start("pii"), m.group("pii"))
            else:
                span = _checked(label, text, *m.span("pii" if "pii" in pattern.groupindex else 0))
            if span is None:
                continue
            start, end = span
            if end > start and taken.find(1, start, end) == -1:
                taken[start:end] = b"\x01" * (end - start)
                found.append((start, end, label))
    for start, end in masking_names.find(text):  # names with no cue, by their first name
        if taken.find(1, start, end) == -1:
            taken[start:end] = b"\x01" * (end - start)
            found.append((start, end, "[nom]"))
    return sorted(found)


def mask(text: str) -> str:
    """Replace personal data by a label. Idempotent: masking twice gives the same text."""
    out, pos = [], 0
    for start, end, label in find(text):
        out += [text[pos:start], label]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def prepare(raw: str, max_chars: int) -> tuple[str, bool]:
    """What every front door does to a message before the NLU: cut, clean, cut, mask, cut.

    Masking sees a little more than the limit (MARGIN), so that a phone number or an e-mail
    straddling the limit is masked whole before the final cut. Returns (text, truncated).
    """
    text = clean(raw[: max_chars * RAW_FACTOR])
    truncated = len(text) > max_chars or len(raw) > max_chars * RAW_FACTOR
    if not truncated:
        return mask(text), False
    text = mask(text[: max_chars + MARGIN])
    return text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars], True
