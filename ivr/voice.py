"""The phone's words: texts of the tree's `phone:` section rendered for the préfecture, numbers and
addresses as they are said, what a short utterance means (spoken keys), speech hints, action URLs.

Also the small values every part of the phone's TwiML shares: the option of a prompt (`Option`), a
contact (`Contact`) and `xml_safe`. Pure: no Sanic, no store. Part of `ivr.twiml.Speaker`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

from bot.core.masking import clean
from bot.core.text import norm
from bot.core.tree import PLACEHOLDER, Node, render

ROOT = "root"  # the main menu (the tree's `menu` section)
WEBHOOK_PREFIX = "/webhooks/ivr"
MAX_OPTIONS = 9
MAX_SAY_CHARS = 4000  # Twilio reads at most 4 096 characters per <Say>
MAX_HINT_CHARS = 100  # Twilio: each hint phrase at most 100 characters
MAX_HINTS = 100
BOOKING = "booking"  # the target of the SMS offered after a booking by phone
# Characters XML 1.0 cannot carry at all (ElementTree would write them and break the document).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@lru_cache(maxsize=4096)  # the same tree texts, prompt after prompt
def xml_safe(text: str, limit: int = MAX_SAY_CHARS) -> str:
    """Text fit for a TwiML element: no control characters, bounded length (escaping is ElementTree's)."""
    text = clean(_NOT_XML.sub(" ", str(text or "")))
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return text


def filler_pattern(words: list | None) -> re.Pattern | None:
    """The words of `phone.spoken_fillers` as whole words of a normalised utterance (longest first)."""
    said = sorted({norm(str(w)) for w in words or []} - {""}, key=len, reverse=True)
    return re.compile(r"\b(?:%s)\b" % "|".join(re.escape(w) for w in said)) if said else None


@dataclass(frozen=True)
class Foreign:
    """A sentence said in another language than the préfecture's, by a voice of that language (an item
    of a prompt's preface: `Speaker.say` gives it its own <Say voice language>)."""

    text: str
    language: str
    voice: str


@dataclass(frozen=True)
class Option:
    """One key of a prompt: what it does, and what is said for it (empty: accepted, not said)."""

    key: str
    kind: str  # node | transfer | voicemail | number | repeat | back | main | pan* | feedback | feedback_no | sms
    target: str | None = None  # node id (node, back, main, sms), mailbox id (voicemail), contact path (transfer);
    # sms: the leaf whose link is sent, or BOOKING (the booking just confirmed)
    text: str = ""


@dataclass(frozen=True)
class Contact:
    path: str  # config path, e.g. "ccc.phone"
    number: str | None
    kind: str  # regular | short
    days: dict | None = None  # its own published hours ({"mon": ["09:00-17:00"], ...}); None: the standard's

    @property
    def dialable(self) -> bool:
        return bool(self.number) and self.kind == "regular"


class Voice:
    """The words of the phone (a part of Speaker: `self.tree`, `self.pref`, `self.phone`, `self.keys`,
    and what Speaker makes once of the tree's spoken words: `spoken_words`, `option_words`...)."""

    def spoken_option(self, speech: str) -> str | None:
        """The kind of an answer's own option a short utterance asks for (`phone.spoken_options`):
        "number" ("pouvez-vous répéter le numéro ?"), "sms" ("envoyez-moi le lien par SMS"), else None."""
        said = norm(speech or "")
        words = (self.fillers.sub(" ", said) if self.fillers is not None else said).split()
        if not words or len(words) > self.option_max_words or set(words) & self.option_words["not"]:
            return None
        return next((kind for kind in ("number", "sms") if set(words) & self.option_words[kind]), None)

    def spoken_input(self, speech: str) -> tuple[str, str | None] | None:
        """What a short utterance means at any prompt: ("key", "1"), ("yes"|"no"|"done"|"person"|"pan_cancel", None) or None.
        The utterance as said, else without the words said around it (`phone.spoken_fillers`: "euh oui",
        "trois s'il vous plaît"); what is left must be one of the tree's words exactly."""
        said = norm(speech or "")
        found = self.spoken_words.get(said)
        if found is None and said and self.fillers is not None:
            bare = " ".join(self.fillers.sub(" ", said).split())
            found = self.spoken_words.get(bare) if bare else None
        return found

    # ---- texts -----------------------------------------------------------------------------
    def conversation(self, topic: str | None, voice: str) -> list:
        """What the phone says for a conversation message (the router's `voice`, in French), then the
        tree's English sentence for it (`phone.also_in_english`), said by the English voice."""
        said: list = [voice] if voice else []
        english = (self.phone.get("also_in_english") or {}).get(topic or "")
        if english:
            said.append(
                Foreign(render(english, self.pref), self.pref.get("voice.english.language"), self.pref.get("voice.english.voice"))
            )
        return said

    def text(self, tid: str, **local) -> str:
        """The tree's phone text `tid` for the préfecture. Those that take nothing but a key and a
        label (the same few sentences, prompt after prompt) are rendered once and kept."""
        memo = self._texts
        kept = (tid, *sorted(local.items())) if local.keys() <= {"key", "label"} else None
        said = memo.get(kept) if kept is not None else None
        if said is not None:
            return said
        if "key" in local:
            local["key"] = self.key_word(str(local["key"]))
        said = render(self.phone[tid], self.pref, local)
        if kept is not None:
            memo[kept] = said
        return said

    def key_word(self, key: str) -> str:
        return str(self.phone["key_names"].get(key, key))

    def contact(self, path: str | None) -> Contact | None:
        if not path:
            return None
        data = self.pref.get(path)
        # Its own hours are followed only once confirmed (`hours_confirmed`); until then, the standard's.
        days = (data.get("days") or None) if data.get("hours_confirmed") is True else None
        return Contact(path, data.get("number"), data.get("kind", "regular"), days)

    def contact_name(self, path: str) -> str:
        return render(self.phone["contacts"][path], self.pref)

    def service(self, mailbox: str) -> str:
        return render("{mailboxes.%s.service}" % mailbox, self.pref)

    def spoken_groups(self, number: str) -> list[str]:
        """A number said group by group as written: '12 05' -> ['douze', 'zéro cinq']."""
        words = self.phone["number_words"]
        groups = []
        for group in number.split():
            digits = "".join(c for c in group if c.isdigit())
            if not digits:
                continue
            if len(digits) == 2 and digits[0] != "0":
                groups.append(words[int(digits)])
            else:
                groups.append(" ".join(words[int(d)] for d in digits))
        return groups

    def spoken_number(self, number: str) -> str:
        return ", ".join(self.spoken_groups(number))

    def spoken_url(self, url: str) -> str:
        """An address as it is said (tree `phone.url_words`): scheme and "www." dropped, "." -> "point"."""
        words = self.phone.get("url_words") or {}
        url = url.split("://", 1)[-1].rstrip("/")
        url = url[4:] if url.startswith("www.") else url
        parts = re.split("(%s)" % "|".join(re.escape(c) for c in words), url) if words else [url]
        return " ".join(words.get(p, p) for p in parts if p)

    def spoken(self, text: str, referral: str = "") -> str:
        """The tree's text as the phone says it: {x.number} group by group, {x.url} spelt out, {referral}
        the referral's own voice text said the same way (rendered once per text and kept: they are the tree's own)."""
        memo = self._spoken_texts
        said = memo.get((text, referral))
        if said is None:
            said = memo[(text, referral)] = self._spoken(text, referral)
        return said

    def _spoken(self, text: str, referral: str) -> str:
        extra: dict = {"referral": self.spoken(referral) if referral else ""}
        for name in PLACEHOLDER.findall(text or ""):
            if name.endswith(".number") or name.endswith(".url"):
                value = render("{%s}" % name, self.pref)
                extra[name] = self.spoken_number(value) if name.endswith(".number") else self.spoken_url(value)
        return render(text, self.pref, extra)

    def node_voice(self, node: Node, referral: str | None = None) -> str:
        """The leaf's answer as said; with `referral` (an id of the tree's referrals: what the caller's words
        named, bot/core/router.py `Decision.referral`), the answer as the chat words it for that message.
        Said again later ("*"), it is the general answer: the state of a call does not carry the words."""
        ref = self.tree.referral(referral) if referral else None
        return self.spoken(node.voice, ref.voice if ref is not None else "")

    def says_number(self, node: Node) -> bool:
        """Whether the leaf's answer itself says its contact's number."""
        return bool(node.contact) and "{%s.number}" % node.contact in (node.voice or "")

    # ---- URLs ------------------------------------------------------------------------------
    def url(self, route: str, **query) -> str:
        query = {k: v for k, v in query.items() if v is not None}
        return f"{self.base_url}{WEBHOOK_PREFIX}/{route}" + (f"?{urlencode(query)}" if query else "")

    def spoken_digits(self, speech: str) -> str:
        """The digits in what a caller said: '12 45 67 89', '1 2 4 5', 'douze quarante-cinq' (the
        tree's number_words, 0 to 99) -> '12456789', '1245', '1245'; anything else is dropped."""
        words = {norm(w): i for i, w in enumerate(self.phone["number_words"])}
        out = []
        for token in re.findall(r"[\w'-]+", speech or ""):
            if all(part.isdigit() for part in token.split("-")):  # "12", and "12-34-56-78" as some write it
                out.extend(token.split("-"))
            elif norm(token) in words:
                value = words[norm(token)]
                out.append(str(value) if value < 10 else f"{value:02d}")
        return "".join(out)

    # ---- hints -----------------------------------------------------------------------------
    def hints(self, first: list[str] | None = None) -> str:
        """Speech hints of one prompt: the vocabulary of its own node and options (`phone.hints`, else
        their spoken labels), then the words every prompt understands (`phone.hints_always`). They
        depend only on the tree: made once per list of nodes."""
        key = tuple(first or ())
        if key not in self._hints:
            self._hints[key] = self._make_hints(key)
        return self._hints[key]

    def _make_hints(self, first: tuple) -> str:
        table = self.phone.get("hints") or {}
        phrases: list[str] = []
        seen: set[str] = set()
        for node_id in first:
            node = self.tree.nodes.get(node_id)
            if node is None:
                continue
            for phrase in table.get(node_id) or [render(node.label, self.pref)]:
                phrase = xml_safe(str(phrase).replace(",", " "), MAX_HINT_CHARS).strip()
                if phrase and phrase.lower() not in seen:
                    phrases.append(phrase)
                    seen.add(phrase.lower())
        for phrase in self.phone.get("hints_always") or []:
            if phrase.lower() not in seen:
                phrases.append(str(phrase))
                seen.add(phrase.lower())
        return ", ".join(phrases[:MAX_HINTS])
