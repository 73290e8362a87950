"""Text helpers with one definition each: accent folding, the matching key, the e-mail address check, the
typo-tolerant alias matcher."""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz, process

# The key of a parse that holds the NLU's reading of the message: its words folded, spoken fillers dropped,
# SMS spellings written out, typos left as written (bot/nlu/components.py). The router reads its word lists in it.
READING = "text_read"

# An e-mail address as a user or a préfecture file gives it (validation, not search: the masking
# of free text has its own, looser, pattern). The apostrophe is RFC 5322's too: « helene.o'connor@… ».
EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


UNMARKED_KEPT = 8192  # characters _UNMARKED keeps: every European script's and more, 0.5 MB at most


class _Memo(dict):
    """A str.translate table filled in as characters are met (a C lookup per character, not a Python call)
    with what `one(code)` says of each, up to UNMARKED_KEPT characters: beyond, a character is worked out
    each time, so that texts written in every script do not make the table grow without bound."""

    def __init__(self, one) -> None:
        super().__init__()
        self.one = one

    def __missing__(self, code: int):
        kept = self.one(code)
        if len(self) < UNMARKED_KEPT:
            self[code] = kept
        return kept


# fold's table: combining marks (`unicodedata.combining` not 0) dropped, every other character kept.
_UNMARKED = _Memo(lambda code: None if unicodedata.combining(chr(code)) else code)


def fold(text: str) -> str:
    """Lowercase and drop diacritics ("Récépissé" -> "recepisse"); œ/æ are expanded ("sœur" -> "soeur").

    That is: the lowercase text, œ/æ written out, decomposed (NFKD), without its combining marks. ASCII
    text has neither marks nor decompositions: it is returned as lowered (the committee report folds
    every distinct text of a year, 12 million characters)."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    if text.isascii():
        return text
    return unicodedata.normalize("NFKD", text).translate(_UNMARKED)


KEY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _keyed(code: int) -> str:
    """What a character of lowered text is in norm's matching key: its fold (œ/æ written out, NFKD,
    combining marks dropped) with every character other than a-z and 0-9 made a space."""
    folded = unicodedata.normalize("NFKD", chr(code).replace("œ", "oe").replace("æ", "ae")).translate(_UNMARKED)
    return "".join(c if c in KEY_CHARACTERS else " " for c in folded)


_KEYED = _Memo(_keyed)  # norm's table


def norm(text: str) -> str:
    """The matching key: folded, every run of other characters than a-z and 0-9 made one space.

    That is `re.sub(r"[^a-z0-9]+", " ", fold(text)).strip()`, character by character in one translate
    (the committee report keys every distinct text of a year): lowering is the whole text's (a final
    sigma), and NFKD only reorders the combining marks fold drops, so each character folds on its own."""
    return " ".join(text.lower().translate(_KEYED).split())


def best_alias(text: str, aliases: list[tuple[str, str, int]], cutoff: float) -> tuple[str, float] | None:
    """The best (target, score) of `aliases` ((normalised alias, target, word count)) against the windows
    of as many words of `text`, scored by `fuzz.ratio` from `cutoff` up; None when nothing reaches it.

    Alias by alias in the given order, the first best window of each (`process.extractOne`); a later
    alias wins only with a strictly higher score. Short aliases (CNI, SIA, PAN) must match exactly.
    """
    words = norm(text).split()
    windows = {n: [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)] for n in {a[2] for a in aliases}}
    best: tuple[str, float] | None = None
    for alias, target, n in aliases:
        choices = windows[n]
        if not choices:
            continue
        if len(alias) <= 4:
            score = 100.0 if alias in choices else None
        else:
            hit = process.extractOne(alias, choices, scorer=fuzz.ratio, score_cutoff=max(cutoff, best[1] if best else 0.0))
            score = hit[1] if hit else None
        if score is not None and (best is None or score > best[1]):
            best = (target, score)
    return best
