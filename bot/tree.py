"""The routing tree: one file (bot/tree.yml) read by the chat and the phone channel.

Loading validates the structure (ids, keys, destinations, texts, placeholders) and raises
TreeError naming the file, the node and the problem.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.config import ConfigError, Prefecture, get_path

TREE_FILE = Path(__file__).resolve().parent / "tree.yml"

TOPICS = [
    "carte_grise", "permis_conduire", "cni_passeport", "titre_sejour", "armes", "rdv_pan",
    "horaires_contact", "reclamation", "suivi_dossier", "hors_perimetre",
]
CONVERSATION_INTENTS = [
    "greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge", "human_handoff", "other_language",
]
DESTINATIONS = ["ants_3400", "ccc_0806", "pan_rdv", "mailbox", "info", "other", "human"]
MESSAGE_IDS = [
    "welcome", "greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge", "other_language",
    "empty", "not_text", "too_long", "clarify", "fallback", "menu", "unavailable", "anything_else",
]
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*)\}")
MAX_MENU_OPTIONS = 9


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

    @property
    def is_leaf(self) -> bool:
        return not self.children or self.destination is not None


@dataclass
class Tree:
    settings: dict
    messages: dict[str, dict]
    menu_voice: str
    menu: list[str]
    nodes: dict[str, Node]
    file: str = str(TREE_FILE)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

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


def render(text: str, pref: Prefecture) -> str:
    """Fill {a.b.c} placeholders from the préfecture config; collapse whitespace."""

    def repl(match: re.Match) -> str:
        try:
            value = get_path(pref.data, match.group(1))
        except KeyError:
            raise ConfigError(pref.file, match.group(1), "placeholder used by the routing tree is missing") from None
        if isinstance(value, (dict, list)):
            raise ConfigError(pref.file, match.group(1), "placeholder must name a text value, not a mapping")
        return str(value)

    return re.sub(r"\s+", " ", PLACEHOLDER.sub(repl, text or "")).strip()


def _text(raw: Any, where: str, file: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise TreeError(file, where, "missing text")
    return raw


def load_tree(path: Path | None = None) -> Tree:
    path = path or TREE_FILE
    file = path.name if path == TREE_FILE else str(path)
    file = f"bot/{file}" if path == TREE_FILE else file
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TreeError(file, "-", "file not found") from None
    except yaml.YAMLError as exc:
        raise TreeError(file, "-", f"not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise TreeError(file, "-", "the file must hold a mapping")
    for section in ("settings", "messages", "menu", "nodes"):
        if not isinstance(raw.get(section), dict):
            raise TreeError(file, section, "missing section")

    messages = raw["messages"]
    for mid in MESSAGE_IDS:
        msg = messages.get(mid)
        if not isinstance(msg, dict) or "screen" not in msg or "voice" not in msg:
            raise TreeError(file, f"messages.{mid}", "needs a 'screen' and a 'voice' text")
        if mid != "too_long":
            _text(msg["screen"], f"messages.{mid}.screen", file)

    nodes: dict[str, Node] = {}
    for nid, spec in raw["nodes"].items():
        where = f"nodes.{nid}"
        if not isinstance(spec, dict):
            raise TreeError(file, where, "must be a mapping")
        screen = spec.get("screen") or {}
        node = Node(
            id=nid,
            title=_text(spec.get("title"), f"{where}.title", file),
            label=_text(spec.get("label"), f"{where}.label", file),
            voice=_text(spec.get("voice"), f"{where}.voice", file),
            screen_text=(screen.get("text") if isinstance(screen, dict) else None) or "",
            key=spec.get("key"),
            topic=spec.get("topic"),
            destination=spec.get("destination"),
            mailbox=spec.get("mailbox"),
            contact=spec.get("contact"),
            links=list(screen.get("links") or []) if isinstance(screen, dict) else [],
            buttons=list(screen.get("buttons") or []) if isinstance(screen, dict) else [],
            aliases=list(spec.get("aliases") or []),
            documents=list(spec.get("documents") or []),
            children=list(spec.get("children") or []),
        )
        if node.destination is not None:
            if node.destination not in DESTINATIONS:
                raise TreeError(file, f"{where}.destination", f"unknown destination '{node.destination}' (expected one of {', '.join(DESTINATIONS)})")
            _text(node.screen_text, f"{where}.screen.text", file)
        if node.topic is not None and node.topic not in TOPICS + ["human_handoff"]:
            raise TreeError(file, f"{where}.topic", f"unknown topic '{node.topic}'")
        for i, link in enumerate(node.links):
            if not isinstance(link, dict) or not link.get("title") or not link.get("url"):
                raise TreeError(file, f"{where}.screen.links[{i}]", "a link needs a title and a url")
        nodes[nid] = node

    menu = raw["menu"]
    menu_ids = list(menu.get("children") or [])
    tree = Tree(
        settings=raw["settings"],
        messages=messages,
        menu_voice=_text(menu.get("voice"), "menu.voice", file),
        menu=menu_ids,
        nodes=nodes,
        file=file,
    )

    # Structure: references resolve, every node has exactly one parent, keys unique per menu.
    def check_menu(owner: str, child_ids: list[str]) -> None:
        if len(child_ids) > MAX_MENU_OPTIONS + 1:  # keys 1-9 plus 0
            raise TreeError(file, owner, f"a menu has at most {MAX_MENU_OPTIONS} options plus 0")
        keys: dict[int, str] = {}
        for cid in child_ids:
            if cid not in nodes:
                raise TreeError(file, owner, f"unknown node id '{cid}'")
            child = nodes[cid]
            if not isinstance(child.key, int) or not 0 <= child.key <= 9:
                raise TreeError(file, f"nodes.{cid}.key", "a menu option needs a key from 0 to 9")
            if child.key in keys:
                raise TreeError(file, f"nodes.{cid}.key", f"key {child.key} already used by '{keys[child.key]}' in the same menu")
            keys[child.key] = cid

    check_menu("menu", menu_ids)
    seen_parent = set(menu_ids)
    for node in nodes.values():
        for cid in node.children:
            if cid in seen_parent:
                raise TreeError(file, f"nodes.{cid}", f"listed under two menus (one of them '{node.id}')")
            seen_parent.add(cid)
        if node.children:
            check_menu(node.id, node.children)
            for cid in node.children:
                nodes[cid].parent = node.id
        for bid in node.buttons:
            if bid not in nodes:
                raise TreeError(file, f"nodes.{node.id}.screen.buttons", f"unknown node id '{bid}'")
        for doc in node.documents:
            if doc not in TOPICS:
                raise TreeError(file, f"nodes.{node.id}.documents", f"unknown topic '{doc}'")
    orphans = [nid for nid in nodes if nid not in seen_parent]
    if orphans:
        raise TreeError(file, f"nodes.{orphans[0]}", "not reachable from the menu")
    for topic in TOPICS + ["human_handoff"]:
        if tree.topic_node(topic) is None:
            raise TreeError(file, "nodes", f"no node answers the topic '{topic}'")
    for nid, node in nodes.items():
        if node.destination is None and not node.children:
            raise TreeError(file, f"nodes.{nid}", "a node needs a destination or children")
    return tree


def check_placeholders(tree: Tree, pref: Prefecture) -> None:
    """Render every text once: raises ConfigError naming the missing key."""
    for mid, msg in tree.messages.items():
        render(msg.get("screen", ""), pref)
        render(msg.get("voice", ""), pref)
    render(tree.menu_voice, pref)
    for node in tree.nodes.values():
        for text in (node.voice, node.screen_text, node.label, node.title):
            render(text, pref)
        for link in node.links:
            render(link["title"], pref)
            render(link["url"], pref)
        if node.mailbox:
            try:
                get_path(pref.data, f"mailboxes.{node.mailbox}.email")
            except KeyError:
                raise ConfigError(pref.file, f"mailboxes.{node.mailbox}", f"mailbox used by tree node '{node.id}' is missing") from None
        if node.contact:
            try:
                get_path(pref.data, f"{node.contact}.number")
            except KeyError:
                raise ConfigError(pref.file, node.contact, f"contact used by tree node '{node.id}' is missing") from None


@lru_cache(maxsize=1)
def current() -> Tree:
    return load_tree()
