"""The routing tree's model: its vocabulary (topics, destinations, message ids), the Node, Referral and
Tree it loads into, and `render`, which fills a text's {placeholders} from the préfecture's file.

bot/core/tree.py loads bot/tree.yml into these (and re-exports them: import from there).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.config import ConfigError, Prefecture, get_path
from bot.core.ranking import VAGUE_INTENT

TREE_FILE = Path(__file__).resolve().parents[1] / "tree.yml"
TOPICS = [
    "carte_grise",
    "permis_conduire",
    "cni_passeport",
    "titre_sejour",
    "armes",
    "rdv_pan",
    "horaires_contact",
    "reclamation",
    "suivi_dossier",
    "hors_perimetre",
]
# What an agent may teach the bot a sentence is (the console's review, bot/nlu/review.py's export): a
# topic, or a request that names no procedure (the model's own intent, bot/core/ranking.VAGUE_INTENT:
# the bot asks which procedure).
REVIEW_LABELS = [*TOPICS, VAGUE_INTENT]
CONVERSATION_INTENTS = [
    "greet",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
    "bot_challenge",
    "human_handoff",
    "other_language",
]
# Politeness and small talk, not questions: left out of "Questions les plus posées", and a
# conversation's status ("non résolu", bot/store/database.py) follows its last message that is not one
# of them ("ok", "non" or "êtes-vous un robot ?" after a clarifying question answer nothing either).
SOCIAL_INTENTS = ["greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge"]
DESTINATIONS = ["ants_3400", "ccc_0806", "pan_rdv", "mailbox", "info", "other", "human"]
MESSAGE_IDS = [
    "welcome",
    "greet",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
    "not_that",
    "bot_challenge",
    "other_language",
    "empty",
    "not_text",
    "too_long",
    "clarify",
    "vague",
    "fallback",
    "menu",
    "unavailable",
    "anything_else",
]
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*)\}")
MAX_MENU_OPTIONS = 9
# `screen.items: pan_sites`: the short list is one line per PAN site of the préfecture, with its hours.
ITEMS_PAN_SITES = "pan_sites"


class TreeError(Exception):
    def __init__(self, file: str, where: str, problem: str):
        self.file, self.where, self.problem = file, where, problem
        super().__init__(f"{file}: {where}: {problem}")


@dataclass
class Node:
    id: str
    title: str
    label: str
    voice: str
    screen_text: str
    key: int | None = None
    topic: str | None = None
    destination: str | None = None
    mailbox: str | None = None
    contact: str | None = None
    links: list[dict] = field(default_factory=list)
    buttons: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parent: str | None = None
    transfer: bool = False  # phone: the contact may be dialled (see tree.yml)
    lead: str = ""  # chat: the one sentence shown first (screen.lead)
    items: list[str] | str = field(default_factory=list)  # chat: the short list (screen.items)
    # phone only: `useful` (the words of `voice` that say where to go or which number),
    # `unspoken_urls` ({placeholder: why} for a chat address the phone does not say) and
    # `closed_mailbox` (the service a message goes to when the node's line cannot be reached)
    phone: dict = field(default_factory=dict)

    @property
    def is_leaf(self) -> bool:
        return not self.children or self.destination is not None


@dataclass
class Referral:
    """What an answer says first when the message names it (tree section `referrals`): by default, who
    handles a question that is not a préfecture matter; with `nodes`, a case of those nodes' topic that
    their general answer does not fit (an asylum claim is not made on ANEF's site)."""

    id: str
    aliases: list[str]
    screen: str
    voice: str
    link: dict
    nodes: list[str] = field(default_factory=list)  # empty: the answers for another body (destination `other`)


@dataclass
class Tree:
    settings: dict
    messages: dict[str, dict]
    menu_voice: str
    menu: list[str]
    nodes: dict[str, Node]
    file: str = str(TREE_FILE)
    phone: dict = field(default_factory=dict)
    referrals: list[Referral] = field(default_factory=list)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def button_target(self, payload: str) -> Node | None:
        """The node a router button's payload ('/navigate{"node": "armes"}') leads to; None for a
        payload that names no node of this tree."""
        start = payload.find("{")
        try:
            node_id = json.loads(payload[start:]).get("node") if start >= 0 else None
        except (ValueError, AttributeError):
            return None
        return self.nodes.get(node_id) if isinstance(node_id, str) else None

    def referral(self, referral_id: str) -> Referral | None:
        """The referral of that id (section `referrals`), or None."""
        return next((ref for ref in self.referrals if ref.id == referral_id), None)

    def children(self, node_id: str | None) -> list[Node]:
        ids = self.menu if node_id is None else self.nodes[node_id].children
        return [self.nodes[i] for i in ids]

    def topic_node(self, topic: str) -> Node | None:
        """The node that answers a topic intent: the top-most node carrying it."""
        for node in self.nodes.values():
            parent = self.nodes.get(node.parent) if node.parent else None
            if node.topic == topic and (parent is None or parent.topic != topic):
                return node
        return None

    def leaves(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.destination is not None]

    def path_to(self, node_id: str) -> list[str]:
        path = [node_id]
        while self.nodes[path[0]].parent:
            path.insert(0, self.nodes[path[0]].parent)
        return path


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text or "")


def render(text: str, pref: Prefecture, extra: dict[str, Any] | None = None) -> str:
    """Fill {a.b.c} placeholders from the préfecture config; collapse whitespace.

    `extra` fills local placeholders first (the phone templates' {key}, {label}...).
    """

    def repl(match: re.Match) -> str:
        if extra and match.group(1) in extra:
            return str(extra[match.group(1)])
        try:
            value = get_path(pref.data, match.group(1))
        except KeyError:
            raise ConfigError(pref.file, match.group(1), "placeholder used by the routing tree is missing") from None
        if isinstance(value, (dict, list)):
            raise ConfigError(pref.file, match.group(1), "placeholder must name a text value, not a mapping")
        return str(value)

    # Runs of spaces and line breaks collapse; a no-break space (U+00A0) written in the texts stays.
    return re.sub(r"[ \t\r\n]+", " ", PLACEHOLDER.sub(repl, text or "")).strip(" ")


def required_text(raw: Any, where: str, file: str) -> str:
    """`raw` when it is a non-empty text, else TreeError naming where it is missing."""
    if not isinstance(raw, str) or not raw.strip():
        raise TreeError(file, where, "missing text")
    return raw
