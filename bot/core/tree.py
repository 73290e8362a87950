"""The routing tree: one file (bot/tree.yml) read by the chat and the phone channel.

Loading validates the structure (ids, keys, destinations, texts, placeholders) and raises
TreeError naming the file, the node and the problem. The tree's model (Node, Tree, the topics,
`render`) is in bot/core/tree_model.py and its phone side in bot/core/tree_phone.py; both are
re-exported here, so `from bot.core.tree import ...` is the one import path.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.core import yaml_text
from bot.core.config import ConfigError, Prefecture, get_path
from bot.core.config_checks import whole
from bot.core.text import norm
from bot.core.tree_model import (  # noqa: F401 - re-exported: bot.core.tree is the one import path
    CONVERSATION_INTENTS,
    DESTINATIONS,
    ITEMS_PAN_SITES,
    MAX_MENU_OPTIONS,
    MESSAGE_IDS,
    PLACEHOLDER,
    REVIEW_LABELS,
    SOCIAL_INTENTS,
    TOPICS,
    TREE_FILE,
    Node,
    Referral,
    Tree,
    TreeError,
    placeholders,
    render,
    required_text,
)
from bot.core.tree_phone import (  # noqa: F401 - re-exported
    KEY_CHARS,
    PHONE_KEYS,
    PHONE_SETTINGS,
    PHONE_TEXTS,
    check_phone,
    leaf_action_keys,
    rates_answer,
    website_named,
)


def load_tree(path: Path | None = None) -> Tree:
    path = path or TREE_FILE
    file = f"bot/{path.name}" if path == TREE_FILE else str(path)
    raw = _read(path, file)
    messages = _messages(raw["messages"], file)
    nodes = {nid: _node(nid, spec, file) for nid, spec in raw["nodes"].items()}
    menu = raw["menu"]
    tree = Tree(
        settings=raw["settings"],
        messages=messages,
        menu_voice=required_text(menu.get("voice"), "menu.voice", file),
        menu=list(menu.get("children") or []),
        nodes=nodes,
        file=file,
        phone=raw["phone"],
        referrals=_referrals(raw.get("referrals") or [], file),
    )
    _check_structure(tree)
    _check_settings(tree.settings, file)
    check_phone(tree)
    return tree


# `settings` the chat's routes read without a default: each a positive whole number.
CHAT_SETTINGS = ("chat_answer_within_ms",)


def _check_settings(settings: dict, file: str) -> None:
    for sid in CHAT_SETTINGS:
        if not whole(settings.get(sid)):
            raise TreeError(file, f"settings.{sid}", "must be a positive whole number")


def _read(path: Path, file: str) -> dict:
    """The file's mapping, with its five sections present."""
    try:
        raw = yaml_text.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TreeError(file, "-", "file not found") from None
    except yaml.YAMLError as exc:
        raise TreeError(file, "-", f"not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise TreeError(file, "-", "the file must hold a mapping")
    for section in ("settings", "messages", "menu", "nodes", "phone"):
        if not isinstance(raw.get(section), dict):
            raise TreeError(file, section, "missing section")
    return raw


def _messages(messages: dict, file: str) -> dict:
    """The `messages` section, each one with a screen and a voice text."""
    for mid in MESSAGE_IDS:
        msg = messages.get(mid)
        if not isinstance(msg, dict) or "screen" not in msg or "voice" not in msg:
            raise TreeError(file, f"messages.{mid}", "needs a 'screen' and a 'voice' text")
        if mid != "too_long":
            required_text(msg["screen"], f"messages.{mid}.screen", file)
    return messages


def _node(nid: str, spec: Any, file: str) -> Node:
    """One entry of `nodes`, checked on its own (its links, items, destination, topic)."""
    where = f"nodes.{nid}"
    if not isinstance(spec, dict):
        raise TreeError(file, where, "must be a mapping")
    screen = spec.get("screen") if isinstance(spec.get("screen"), dict) else {}
    node = Node(
        id=nid,
        title=required_text(spec.get("title"), f"{where}.title", file),
        label=required_text(spec.get("label"), f"{where}.label", file),
        voice=required_text(spec.get("voice"), f"{where}.voice", file),
        screen_text=screen.get("text") or "",
        key=spec.get("key"),
        topic=spec.get("topic"),
        destination=spec.get("destination"),
        mailbox=spec.get("mailbox"),
        contact=spec.get("contact"),
        links=list(screen.get("links") or []),
        buttons=list(screen.get("buttons") or []),
        aliases=list(spec.get("aliases") or []),
        documents=list(spec.get("documents") or []),
        children=list(spec.get("children") or []),
        transfer=spec.get("transfer", False),
        lead=screen.get("lead") or "",
        items=screen.get("items") or [],
        phone=spec.get("phone") or {},
    )
    if not isinstance(node.phone, dict) or not set(node.phone) <= {"useful", "unspoken_urls", "closed_mailbox"}:
        raise TreeError(file, f"{where}.phone", "may only hold 'useful', 'unspoken_urls' and 'closed_mailbox'")
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
        required_text(node.screen_text, f"{where}.screen.text", file)
    if node.topic is not None and node.topic not in TOPICS + ["human_handoff"]:
        raise TreeError(file, f"{where}.topic", f"unknown topic '{node.topic}'")
    for i, link in enumerate(node.links):
        if not isinstance(link, dict) or not link.get("title") or not link.get("url"):
            raise TreeError(file, f"{where}.screen.links[{i}]", "a link needs a title and a url")
    return node


def _check_menu(file: str, nodes: dict[str, Node], owner: str, child_ids: list[str]) -> None:
    """One menu: at most 9 options plus 0, known ids, one key from 0 to 9 each, no key twice."""
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


def _check_structure(tree: Tree) -> None:
    """References resolve, every node has exactly one parent (set here), keys unique per menu, every
    topic answered, every node a destination or children."""
    file, nodes = tree.file, tree.nodes
    _check_menu(file, nodes, "menu", tree.menu)
    seen_parent = set(tree.menu)
    for node in nodes.values():
        for cid in node.children:
            if cid in seen_parent:
                raise TreeError(file, f"nodes.{cid}", f"listed under two menus (one of them '{node.id}')")
            seen_parent.add(cid)
        if node.children:
            _check_menu(file, nodes, node.id, node.children)
            for cid in node.children:
                nodes[cid].parent = node.id
        for bid in node.buttons:
            if bid not in nodes:
                raise TreeError(file, f"nodes.{node.id}.screen.buttons", f"unknown node id '{bid}'")
        for doc in node.documents:
            if doc not in TOPICS:
                raise TreeError(file, f"nodes.{node.id}.documents", f"unknown topic '{doc}'")
    for ref in tree.referrals:
        for nid in ref.nodes:
            if nid not in nodes:
                raise TreeError(file, f"referrals.{ref.id}.nodes", f"unknown node id '{nid}'")
    orphans = [nid for nid in nodes if nid not in seen_parent]
    if orphans:
        raise TreeError(file, f"nodes.{orphans[0]}", "not reachable from the menu")
    for topic in TOPICS + ["human_handoff"]:
        if tree.topic_node(topic) is None:
            raise TreeError(file, "nodes", f"no node answers the topic '{topic}'")
    for nid, node in nodes.items():
        if node.destination is None and not node.children:
            raise TreeError(file, f"nodes.{nid}", "a node needs a destination or children")


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
                screen=required_text(spec.get("screen"), f"{where}.screen", file),
                voice=required_text(spec.get("voice"), f"{where}.voice", file),
                link=link,
                nodes=[str(n) for n in spec.get("nodes") or []],
            )
        )
    return found


def referral_aliases(tree: Tree) -> dict[str, list[tuple[str, str, int]]]:
    """The referrals' (normalised alias, referral id, word count), by the id of the node whose answer says
    them (a referral without `nodes`: the answers for another body, destination `other`), for
    bot/core/text.py `best_alias`."""
    elsewhere = [node.id for node in tree.nodes.values() if node.destination == "other"]
    found: dict[str, list[tuple[str, str, int]]] = {}
    for ref in tree.referrals:
        for owner in ref.nodes or elsewhere:
            found.setdefault(owner, []).extend((norm(a), ref.id, len(norm(a).split())) for a in ref.aliases)
    return found


def check_placeholders(tree: Tree, pref: Prefecture) -> None:
    """Render every text once: raises ConfigError naming the missing key."""
    for msg in tree.messages.values():
        render(msg.get("screen", ""), pref)
        render(msg.get("english", ""), pref)
        render(msg.get("voice", ""), pref)
    render(tree.menu_voice, pref)
    sample = {"key": "1", "no_key": "2", "label": "x", "contact": "x", "service": "x", "digits": "x", "url": "x", "hours": "x"}
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
