"""What a message's words say, read with the word lists of the tree's settings (bot/tree.yml):
vague words, help or appointment words, another body's words, the document a message names.

Pure logic on normalised text (`bot.core.text.norm`: lowercase, no accents); the router asks these
questions on its ladder (bot/core/router.py).
"""

from __future__ import annotations

from bot.core.text import norm


def _norms(words) -> list[str]:
    return [norm(w) for w in words or [] if norm(w)]


def has_word(padded: str, word: str) -> bool:
    """`word` starts a word of `padded` (" " + normalised text + " "). Short words must be whole
    ("ct" is not "acte"), words of 4 or 5 letters whole or plural ("ameli" is not "ameliorer")."""
    ends = ("",) if len(word) <= 3 else ("", "s", "x") if len(word) <= 5 else None
    return " " + word in padded if ends is None else any(f" {word}{end} " in padded for end in ends)


class Wording:
    def __init__(self, settings: dict):
        self.pan_words = _norms(settings.get("pan_vocabulary"))
        self.document_words = {doc: _norms(words) for doc, words in (settings.get("suivi_document_words") or {}).items()}
        others = settings.get("other_bodies") or {}
        self.other_words = _norms(others.get("words"))
        self.other_sure = float(others.get("sure") or 1.0)
        self.our_words = _norms(others.get("ours"))
        self.other_guess_below = float(others.get("guess_below") or 0.0)
        vague = settings.get("vague_messages") or {}
        self.vague_max = int(vague.get("max_words") or 0)
        self.filler = set(_norms(vague.get("filler")))
        self.vague = set(_norms(vague.get("vague")))
        self.vague_set_aside_below = float(vague.get("intent_set_aside_below") or 0.0)

    def is_vague(self, text: str) -> bool:
        """A short message made only of vague words (settings.vague_messages)."""
        words = [w for w in norm(text).split() if w not in self.filler]
        return 0 < len(words) <= self.vague_max and all(w in self.vague for w in words)

    def asks_for_help(self, text: str) -> bool:
        """The message uses appointment or help vocabulary (settings.pan_vocabulary)."""
        padded = " " + norm(text)
        return any(" " + word in padded for word in self.pan_words)

    def names_other_body(self, text: str) -> bool:
        """The message uses the words of what another body handles (settings.other_bodies)."""
        padded = " " + norm(text) + " "
        return any(has_word(padded, w) for w in self.other_words)

    def names_ours(self, text: str) -> bool:
        """The message names the préfecture itself (settings.other_bodies.ours)."""
        padded = " " + norm(text) + " "
        return any(has_word(padded, w) for w in self.our_words)

    def complains_about_another_body(self, name: str | None, text: str) -> bool:
        """A complaint that names another body's words and none of the préfecture's (settings.other_bodies.ours)."""
        return name == "reclamation" and self.names_other_body(text) and not self.names_ours(text)

    def document_by_words(self, text: str) -> str | None:
        """The document a message names with settings.suivi_document_words (most words wins)."""
        padded = " " + norm(text) + " "
        counts = {doc: sum(has_word(padded, w) for w in words) for doc, words in self.document_words.items()}
        best = max(counts, key=lambda doc: counts[doc], default=None)
        return best if best is not None and counts[best] > 0 else None
