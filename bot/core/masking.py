"""Mask personal data before anything is written (store, tracker, logs).

Order matters: the most specific patterns run first so that a social security number is not
half-eaten by the phone pattern.
"""

from __future__ import annotations

import re

# (label, pattern). Labels are French: agents read them in the console.
# Every pattern must run in linear time on any input (issue 13: an unbounded `[\w.+-]+@` before the
# "@" made a 63 KB comment cost 14 s): repetitions are bounded, as the formats themselves are
# (an e-mail's local part has at most 64 characters, a domain label 63, RFC 5321), and a match
# starts only where a run of characters starts (the look-behind), not at each of its characters.
PATTERNS: list[tuple[str, re.Pattern]] = [
    ("[e-mail]", re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}", re.UNICODE)),
    # NIR: sex, year, month (01-12, 20-99 for special cases), département (2 digits, 2A/2B),
    # commune (3), order (3), optional key (2); spaces, dots or nothing between groups.
    (
        "[n° sécurité sociale]",
        re.compile(
            r"(?<!\d)[12][ .]?\d{2}[ .]?(?:0[1-9]|1[0-2]|[2-9]\d)[ .]?(?:\d{2}|2[AB])[ .]?\d{3}[ .]?\d{3}(?:[ .]?\d{2})?(?!\d)",
            re.IGNORECASE,
        ),
    ),
    # IBAN (FR76 ...), before phone numbers.
    ("[IBAN]", re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){3,7}(?:[ ]?[A-Z0-9]{1,4})?\b")),
    # French phone numbers: 0X XX XX XX XX, +33 X XX XX XX XX, 0033..., with spaces, dots, dashes.
    ("[téléphone]", re.compile(r"(?<![\d+])(?:(?:\+|00)33[ .-]?(?:\(0\))?[ .-]?[1-9]|0[1-9])(?:[ .-]?\d){8}(?!\d)")),
    # Other international numbers: +CC followed by 8-13 digits.
    ("[téléphone]", re.compile(r"(?<![\d\w])\+\d{1,3}(?:[ .-]?\d){7,12}(?!\d)")),
    # Plates, SIV format (since 2009): AA-123-AA.
    ("[immatriculation]", re.compile(r"\b[A-HJ-NP-TV-Z]{2}[- ]?\d{3}[- ]?[A-HJ-NP-TV-Z]{2}\b", re.IGNORECASE)),
    # Plates, old FNI format: 1234 AB 15, 123 ABC 75, 12 AB 2A (letters in capitals).
    ("[immatriculation]", re.compile(r"\b\d{1,4}[- ]?[A-Z]{1,3}[- ]?(?:\d{2}|2[AB]|97[1-6])\b")),
    # Foreigner file number (AGDREF / numéro étranger): 10 digits.
    ("[n° étranger]", re.compile(r"(?<!\d)\d{10}(?!\d)")),
    # Any other long run of digits (file numbers, card numbers): 8 or more digits.
    ("[numéro]", re.compile(r"(?<!\d)\d(?:[ ]?\d){7,}(?!\d)")),
]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")


# Before any regular expression, a text is cut to a few times its limit (cleaning collapses runs of
# spaces, so the cut is generous), then cleaned, then cut to the limit.
RAW_FACTOR = 4
# Characters masked beyond the limit (longer than any pattern's match).
MARGIN = 100


def clean(text: str) -> str:
    """Drop control characters and collapse whitespace (keeps accents and emoji)."""
    return re.sub(r"\s+", " ", _CONTROL.sub(" ", text)).strip()


def find(text: str) -> list[tuple[int, int, str]]:
    """The personal data in a text: sorted, non-overlapping (start, end, label).

    Patterns run in order on the original text; a match overlapping an earlier one is dropped.
    """
    found: list[tuple[int, int, str]] = []
    taken = bytearray(len(text))  # 1 where a match was kept: checking an overlap costs its length only
    for label, pattern in PATTERNS:
        for m in pattern.finditer(text):
            start, end = m.span()
            if end > start and taken.find(1, start, end) == -1:
                taken[start:end] = b"\x01" * (end - start)
                found.append((start, end, label))
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
