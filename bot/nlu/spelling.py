"""Typos in words the model never saw, read as the training word they almost are (docs/pipeline.md,
fifteenth pass): "mon pasesport" -> "mon passeport", "carrte grisse" -> "carte grise".

A word unseen in training, of `min_length` letters or more and without digits, that is one edit away
from words of the training vocabulary (a letter dropped, added, replaced, doubled, or two neighbours
swapped: rapidfuzz's Damerau-Levenshtein distance) is replaced by the most common of them (the lowest
IDF). Training words are never changed and nothing two edits away is guessed; a word nothing is near
stays unseen, so the classifier's familiarity still falls ("zorglub wintz"). Inference only: the
vocabulary is the trained word TF-IDF's, so a change here needs no retraining (bot/nlu/fingerprint.py)."""

from __future__ import annotations

import re

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

WORD = re.compile(r"(?u)\b\w+\b")  # the word TF-IDF's token pattern (bot/nlu/components.py)
CACHE_SIZE = 20000  # words looked up; cleared when full (a chat server's lifetime of typos)


class Speller:
    def __init__(self, idf: dict[str, float], min_length: int):
        self.known = idf
        self.words = sorted(idf, key=lambda w: (idf[w], w))  # most common first: the first at one edit wins
        self.min_length = min_length
        self._cache: dict[str, str] = {}

    def correct(self, text: str) -> str:
        return WORD.sub(lambda m: self.spell(m.group(0)), text) if self.min_length > 0 else text

    def spell(self, word: str) -> str:
        if word in self.known or len(word) < self.min_length or any(c.isdigit() for c in word):
            return word
        if word not in self._cache:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            found = process.extractOne(word, self.words, scorer=DamerauLevenshtein.distance, score_cutoff=1)
            self._cache[word] = found[0] if found else word
        return self._cache[word]
