"""Typos in words the model never saw, read as the training word they almost are (docs/pipeline.md,
fifteenth pass): "mon pasesport" -> "mon passeport", "carrte grisse" -> "carte grise".

A word unseen in training, of `min_length` letters or more and without digits, that is one edit away
from training words of `min_length` letters or more (a letter dropped, added, replaced, doubled, or two
neighbours swapped: rapidfuzz's optimal string alignment distance, which at one edit is the
Damerau-Levenshtein distance, over the training words one letter longer, shorter or as long) is replaced
by the most common of them (the lowest IDF). Training words are never changed and nothing two edits
away is guessed; a word nothing is near stays unseen, so the classifier's familiarity still falls
("zorglub wintz"). A name
written with its capital inside a sentence ("à Rouen", "Marine") is left as written; the same name
typed in lower case is not told from a typo ("rouen" is read "roues").

The classifier reads the spelled words; the router's word lists read the words with their typos as written
(the parse's `text_read`: they hold names the model never saw, "orange" is one edit from "grange").

Inference only: the vocabulary is the trained word TF-IDF's, so a change here needs no retraining
(bot/nlu/fingerprint.py). With `word_stem`, `word_min_df` or `max_df` set, that vocabulary is not the
words as written, and the spelling is off (`min_length`)."""

from __future__ import annotations

import re
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.nlu.scoring import drawn_in

WORD = re.compile(r"(?u)\b\w+\b")  # the word TF-IDF's token pattern (bot/nlu/components.py)
SENTENCE_START = re.compile(r"(?:^|[.!?;:\n«\"(•*–—-])\s*$")  # what may come before a sentence's first word
CACHE_SIZE = 20000  # words looked up; cleared when full (a chat server's lifetime of typos)
LOOKUPS_PER_MESSAGE = 40  # new words looked up in one message; the rest stay as written (a flood of gibberish)


def min_length(config: dict[str, Any]) -> int:
    """The classifier config's `spelling_min_length`, or 0 when its word vocabulary is not the words as written."""
    altered = config["word_stem"] or int(config["word_min_df"]) > 1 or float(config["max_df"]) < 1.0
    return 0 if altered else int(config["spelling_min_length"])


def is_name(raw: str, start: int, end: int) -> bool:
    """The word raw[start:end] is written with a capital, not at the start of a sentence, nor all in capitals."""
    word = raw[start:end]
    return word[:1].isupper() and not word.isupper() and not SENTENCE_START.search(raw[:start])


class Speller:
    def __init__(self, idf: dict[str, float], min_length: int):
        self.known = idf
        # By length (a word one edit away is one letter longer, shorter or as long), most common first.
        ordered = sorted(idf, key=lambda w: (idf[w], w))
        self.rank = {w: i for i, w in enumerate(ordered)}
        self.by_length: dict[int, list[str]] = {}
        for word in ordered:
            if len(word) >= min_length:
                self.by_length.setdefault(len(word), []).append(word)
        self.min_length = min_length
        self._cache: dict[str, str] = {}

    def correct(self, text: str) -> str:
        """`text` (folded) as one message, each word spelled."""
        return self._spelled(text, [LOOKUPS_PER_MESSAGE])

    def correct_tokens(self, tokens: list[Any], raw: str) -> None:
        """Each token's text (folded, as the tokenizer left it) spelled, unless the raw text shows a name."""
        budget = [LOOKUPS_PER_MESSAGE]  # one message
        for token in tokens:
            if not is_name(raw, token.start, token.end):
                token.text = self._spelled(token.text, budget)

    def _spelled(self, text: str, budget: list[int]) -> str:
        return WORD.sub(lambda m: self.spell(m.group(0), budget), text) if self.min_length > 0 else text

    def spell(self, word: str, budget: list[int]) -> str:
        if word in self.known or any(c.isdigit() for c in word):
            return word
        if len(word) < self.min_length:  # too short to guess an edit; a letter held down is read once ("ouii")
            once = drawn_in(word, 1)
            return once if once in self.known else word
        found = self._cache.get(word)
        if found is None:
            if budget[0] <= 0:
                return word
            budget[0] -= 1
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            found = self._cache[word] = self._nearest(word) or word
        return found

    def _nearest(self, word: str) -> str | None:
        """The most common training word one edit from `word` (the first of each length list at one edit)."""
        near = []
        for size in (len(word) - 1, len(word), len(word) + 1):
            best = process.extractOne(word, self.by_length.get(size, ()), scorer=OSA.distance, score_cutoff=1)
            if best:
                near.append(best[0])
        return min(near, key=self.rank.get, default=None)
