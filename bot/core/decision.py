"""A routing decision: what the router (bot/core/router.py) decided for one message, as the chat, the
phone and the CLI read it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Decision:
    text: str
    topic: str | None
    destination: str | None
    confidence: float
    action: str  # answer | clarify | fallback
    answer: str
    node: str | None = None
    links: list[dict] = field(default_factory=list)
    buttons: list[dict] = field(default_factory=list)
    voice: str = ""
    resolved: bool = False
    misses: int = 0
    matched_by: str = "nlu"  # nlu | fuzzy | button | none
    # chat: {lead, items, more} of a leaf (bot/core/display.py); {lead, english} of a message with an English part
    display: dict = field(default_factory=dict)
    fallback_destination: str | None = None  # a fallback: the destination of the node it gives
    menu: bool = False  # a clarification with the menu of topics: a request without a subject
    referral: str | None = None  # the id of the tree's referral the answer says first (the message named it)
    # an answer to the person's words: the buttons offered if it did not help (the other likely topics, a person)
    alternatives: list[dict] = field(default_factory=list)

    @property
    def destination_given(self) -> str | None:
        """Where the person was actually sent, as stored with the turn: nothing for a clarifying
        question (`destination` keeps the best guess, for evaluation), the node given (a person)
        for a fallback."""
        if self.action == "clarify":
            return None
        if self.action == "fallback":
            return self.fallback_destination
        return self.destination

    def public(self) -> dict:
        """The fields of `python -m bot route`."""
        return {
            "text": self.text,
            "topic": self.topic,
            "destination": self.destination,
            "confidence": round(self.confidence, 4),
            "action": self.action,
            "answer": self.answer,
        }

    def as_dict(self) -> dict:
        return asdict(self)
