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

from bot.core.config import ConfigError, Prefecture, get_path

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
# Politeness, not questions: left out of "Questions les plus posées", and a conversation's status
# ("non résolu", bot/store/database.py) follows its last message that is not one of them.
SOCIAL_INTENTS = ["greet", "goodbye", "thanks"]
DESTINATIONS = ["ants_3400", "ccc_0806", "pan_rdv", "mailbox", "info", "other", "human"]
MESSAGE_IDS = [
    "welcome",
    "greet",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
    "bot_challenge",
    "other_language",
    "empty",
    "not_text",
    "too_long",
    "clarify",
    "fallback",
    "menu",
    "unavailable",
    "anything_else",
]
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*)\}")
MAX_MENU_OPTIONS = 9
# `screen.items: pan_sites`: the short list is one line per PAN site of the préfecture, with its hours.
ITEMS_PAN_SITES = "pan_sites"

# The phone section (`phone:` in tree.yml): every text the voice menu says, with the local
# placeholders each may use (besides the préfecture's dotted {a.b.c} ones).
PHONE_TEXTS: dict[str, set[str]] = {
    "automated_welcome": set(),
    "option": {"label", "key"},
    "repeat": {"key"},
    "back": {"key"},
    "main_menu": {"key"},
    "transfer_offer": {"contact", "key"},
    "transfer_now": {"contact"},
    "transfer_failed": set(),
    "voicemail_offer": {"service", "key"},
    "hear_number": {"key"},
    "number_is": set(),
    "reprompt_silence": set(),
    "reprompt_wrong_key": set(),
    "rephrase": set(),
    "likely_topics": set(),
    "offer_person_or_voicemail": set(),
    "closed_voicemail": set(),
    "closed_now_voicemail": set(),
    "confirm": {"label", "key"},
    "confirm_no": set(),
    "no_transfer_voicemail": set(),
    "voicemail_prompt": {"key"},
    "voicemail_thanks": {"service"},
    "voicemail_empty": set(),
    "voicemail_reference": {"digits"},
    "feedback_offer": {"key", "no_key"},
    "feedback_thanks": set(),
    "sms_offer": {"key"},
    "sms_body": {"label", "url"},
    "sms_sent": set(),
    "sms_pending": set(),
    "sms_no_mobile": set(),
    "sms_refused": set(),
    "sms_failed": set(),
    "goodbye": set(),
    "closing": set(),
    "apology": set(),
}
PHONE_KEYS = [
    "repeat_key",
    "back_key",
    "main_menu_key",
    "transfer_key",
    "voicemail_key",
    "number_key",
    "pan_key",
    "pan_cancel_key",
    "feedback_key",
    "feedback_no_key",
    "sms_key",
]
PHONE_SETTINGS = ["gather_timeout", "max_retries", "max_offer_retries", "record_max_length", "record_timeout", "dial_timeout"]
KEY_CHARS = "".join(str(d) for d in range(10)) + "*#"  # keys of a phone keypad


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

    @property
    def is_leaf(self) -> bool:
        return not self.children or self.destination is not None


@dataclass
class Referral:
    """Who handles a question that is not a préfecture matter (tree section `referrals`)."""

    id: str
    aliases: list[str]
    screen: str
    voice: str
    link: dict


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
    for section in ("settings", "messages", "menu", "nodes", "phone"):
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
            transfer=spec.get("transfer", False),
            lead=(screen.get("lead") if isinstance(screen, dict) else None) or "",
            items=(screen.get("items") if isinstance(screen, dict) else None) or [],
        )
        if node.items != ITEMS_PAN_SITES and (
            not isinstance(node.items, list) or not all(isinstance(i, str) and i.strip() for i in node.items)
        ):
            raise TreeError(file, f"{where}.screen.items", f"must be a list of texts or '{ITEMS_PAN_SITES}'")
        if not isinstance(node.transfer, bool):
            raise TreeError(file, f"{where}.transfer", "must be true or false")
        if node.transfer and not node.contact:
            raise TreeError(file, f"{where}.transfer", "a node the phone may transfer needs a 'contact'")
        if node.destination is not None:
            if node.destination not in DESTINATIONS:
                raise TreeError(
                    file,
                    f"{where}.destination",
                    f"unknown destination '{node.destination}' (expected one of {', '.join(DESTINATIONS)})",
                )
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
        phone=raw["phone"],
        referrals=_referrals(raw.get("referrals") or [], file),
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
    check_phone(tree)
    return tree


def leaf_action_keys(tree: Tree, node: Node) -> set[str]:
    """The phone keys a leaf may use for its own actions (transfer, voicemail, number, PAN, rating)."""
    phone = tree.phone
    keys = set()
    if node.transfer:
        keys |= {phone["transfer_key"], phone["voicemail_key"], phone["number_key"]}
    if node.mailbox:
        keys.add(phone["voicemail_key"])
    if node.contact:
        keys.add(phone["number_key"])
    if node.destination == "pan_rdv":
        keys.update((phone["pan_key"], phone["pan_cancel_key"]))
    if rates_answer(node):
        keys.update((phone["feedback_key"], phone["feedback_no_key"]))
    if website_named(node):
        keys.add(phone["sms_key"])
    return keys


def website_named(node: Node) -> str | None:
    """The placeholder of the website an answer names aloud ("sur le site officiel {ants.url}"), the
    first one; None when it names none. The phone offers to send that link by SMS (`sms_key`)."""
    if node.destination is None:
        return None
    return next((name for name in placeholders(node.voice) if name.endswith(".url")), None)


def rates_answer(node: Node) -> bool:
    """Whether the phone asks "cette réponse vous a-t-elle aidé ?" after this node: every answer but the person."""
    return node.destination is not None and node.destination != "human"


def check_phone(tree: Tree) -> None:
    """Validate the `phone` section and the tree's fitness for a keypad menu."""
    file, phone = tree.file, tree.phone
    for tid, allowed in PHONE_TEXTS.items():
        text = _text(phone.get(tid), f"phone.{tid}", file)
        for name in placeholders(text):
            if "." not in name and name not in allowed:
                allowed_text = ", ".join("{%s}" % a for a in sorted(allowed)) or "none"
                raise TreeError(
                    file, f"phone.{tid}", f"unknown placeholder '{{{name}}}' (local placeholders allowed: {allowed_text})"
                )
    keys = {}
    for kid in PHONE_KEYS:
        key = phone.get(kid)
        if not isinstance(key, str) or len(key) != 1 or key not in KEY_CHARS:
            raise TreeError(file, f"phone.{kid}", "must be one key: a digit, '*' or '#'")
        if key in keys:
            raise TreeError(file, f"phone.{kid}", f"key '{key}' already used by '{keys[key]}'")
        keys[key] = kid
    names = phone.get("key_names")
    if not isinstance(names, dict):
        raise TreeError(file, "phone.key_names", "must map '*' and '#' to the words said for them")
    for key in keys:
        if not key.isdigit():
            _text(names.get(key), f"phone.key_names.{key}", file)
    settings = phone.get("settings")
    if not isinstance(settings, dict):
        raise TreeError(file, "phone.settings", "missing section")
    for sid in PHONE_SETTINGS:
        value = settings.get(sid)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise TreeError(file, f"phone.settings.{sid}", "must be a positive whole number")
    words = phone.get("number_words")
    if not isinstance(words, list) or len(words) != 100 or not all(isinstance(w, str) and w.strip() for w in words):
        raise TreeError(file, "phone.number_words", "must list the words for 0 to 99 (100 texts)")
    contacts = phone.get("contacts")
    if not isinstance(contacts, dict):
        raise TreeError(file, "phone.contacts", "must map a node's contact to who a transfer reaches")
    structural = {phone["repeat_key"], phone["back_key"], phone["main_menu_key"]}
    menus = [("menu", None)] + [(f"nodes.{n.id}", n) for n in tree.nodes.values() if n.children]
    for where, owner in menus:
        options = tree.children(owner.id if owner else None)
        if len(options) > MAX_MENU_OPTIONS:
            raise TreeError(file, where, f"a phone menu says at most {MAX_MENU_OPTIONS} options")
        reserved = set() if owner is None else set(structural)
        if owner is not None and owner.destination is not None:
            reserved |= leaf_action_keys(tree, owner)
        for child in options:
            if owner is None and str(child.key) in (phone["repeat_key"], phone["back_key"]):
                raise TreeError(file, f"nodes.{child.id}.key", f"key {child.key} is a phone key ({keys[str(child.key)]})")
            if str(child.key) in reserved:
                raise TreeError(file, f"nodes.{child.id}.key", f"key {child.key} is also a phone key of '{owner.id}'")
    for node in tree.nodes.values():
        if node.transfer:
            _text(contacts.get(node.contact), f"phone.contacts.{node.contact}", file)


def _referrals(raw: Any, file: str) -> list[Referral]:
    if not isinstance(raw, list):
        raise TreeError(file, "referrals", "must be a list")
    found, seen = [], set()
    for i, spec in enumerate(raw):
        where = f"referrals[{i}]"
        if not isinstance(spec, dict) or not spec.get("id"):
            raise TreeError(file, where, "a referral needs an id")
        if spec["id"] in seen:
            raise TreeError(file, f"{where}.id", f"duplicate referral id '{spec['id']}'")
        seen.add(spec["id"])
        aliases = spec.get("aliases")
        if not isinstance(aliases, list) or not aliases:
            raise TreeError(file, f"{where}.aliases", "a referral needs aliases")
        link = spec.get("link")
        if not isinstance(link, dict) or not link.get("title") or not link.get("url"):
            raise TreeError(file, f"{where}.link", "a referral needs a link with a title and a url")
        found.append(
            Referral(
                id=spec["id"],
                aliases=[str(a) for a in aliases],
                screen=_text(spec.get("screen"), f"{where}.screen", file),
                voice=_text(spec.get("voice"), f"{where}.voice", file),
                link=link,
            )
        )
    return found


def check_placeholders(tree: Tree, pref: Prefecture) -> None:
    """Render every text once: raises ConfigError naming the missing key."""
    for msg in tree.messages.values():
        render(msg.get("screen", ""), pref)
        render(msg.get("voice", ""), pref)
    render(tree.menu_voice, pref)
    sample = {"key": "1", "no_key": "2", "label": "x", "contact": "x", "service": "x", "digits": "x", "url": "x"}
    for tid in PHONE_TEXTS:
        render(tree.phone[tid], pref, sample)
    for text in tree.phone["contacts"].values():
        render(text, pref)
    for ref in tree.referrals:
        for text in (ref.screen, ref.voice, ref.link["title"], ref.link["url"]):
            render(text, pref)
    for node in tree.nodes.values():
        for text in (node.voice, node.screen_text, node.label, node.title, node.lead):
            render(text, pref, {"referral": ""})
        for text in node.items if isinstance(node.items, list) else []:
            render(text, pref)
        for link in node.links:
            render(link["title"], pref)
            render(link["url"], pref)
        if node.mailbox:
            try:
                get_path(pref.data, f"mailboxes.{node.mailbox}.email")
            except KeyError:
                raise ConfigError(
                    pref.file, f"mailboxes.{node.mailbox}", f"mailbox used by tree node '{node.id}' is missing"
                ) from None
        if node.contact:
            try:
                get_path(pref.data, f"{node.contact}.number")
            except KeyError:
                raise ConfigError(pref.file, node.contact, f"contact used by tree node '{node.id}' is missing") from None


@lru_cache(maxsize=1)
def current() -> Tree:
    return load_tree()
