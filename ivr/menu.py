"""The phone's own menu: the routing tree regrouped for the keypad (tree.yml `phone.menu`).

The chat shows the tree's nine topics as buttons; a caller cannot bear nine options read aloud.
`phone.menu` lists the main menu's keys (at most five topics plus 0), `phone.groups` the phone-only
submenus ("carte grise ou permis", "autre demande") and the tree nodes the phone says as a menu
rather than an answer (a question such as "pour quel document ?"), and `phone.labels` what each
option is called. The leaves are the tree's own nodes, unchanged: the phone and the chat reach
the same answers. The result is a Tree (same API) whose `menu`, keys, parents and children are
the phone's.
"""

from __future__ import annotations

import copy
from dataclasses import replace

from bot.core.tree import Node, Tree, TreeError, check_phone

MAX_TOPIC_KEYS = 5  # the main menu: five topics at most, plus 0 for a person


def _options(raw, where: str, file: str) -> list[tuple[int, str]]:
    if not isinstance(raw, dict) or not raw:
        raise TreeError(file, where, "must map keys (0-9) to node ids")
    found = []
    for key, node_id in raw.items():
        if not str(key).isdigit() or len(str(key)) != 1:
            raise TreeError(file, f"{where}.{key}", "a key from 0 to 9")
        found.append((int(key), str(node_id)))
    return found


def phone_tree(tree: Tree) -> Tree:
    """The tree as the phone says it (see the module docstring); validated like the tree's menus."""
    phone, file = tree.phone, tree.file
    spec = phone.get("menu")
    if not isinstance(spec, dict):
        raise TreeError(file, "phone.menu", "missing section")
    groups = phone.get("groups") or {}
    labels = phone.get("labels") or {}
    nodes = {nid: replace(n, children=list(n.children), aliases=list(n.aliases)) for nid, n in tree.nodes.items()}
    for gid, g in groups.items():
        where = f"phone.groups.{gid}"
        if gid in nodes:  # a tree node said as a menu (a question): no answer, no rating
            nodes[gid] = replace(nodes[gid], destination=None, voice=g.get("voice") or nodes[gid].voice)
        else:
            voice = g.get("voice")
            if not isinstance(voice, str) or not voice.strip():
                raise TreeError(file, f"{where}.voice", "missing text")
            nodes[gid] = Node(
                id=gid, title=str(labels.get(gid) or gid), label=str(labels.get(gid) or gid), voice=voice, screen_text=""
            )
    for nid in nodes:
        nodes[nid].parent = None

    def attach(owner: str | None, options: list[tuple[int, str]], where: str) -> list[str]:
        ids = []
        for key, cid in options:
            if cid not in nodes:
                raise TreeError(file, where, f"unknown node id '{cid}'")
            nodes[cid].key = key
            nodes[cid].parent = owner
            ids.append(cid)
        return ids

    menu = attach(None, _options(spec.get("options"), "phone.menu.options", file), "phone.menu.options")
    for gid, g in groups.items():
        nodes[gid].children = attach(
            gid, _options(g.get("options"), f"phone.groups.{gid}.options", file), f"phone.groups.{gid}.options"
        )
    result = copy.copy(tree)
    result.nodes, result.menu = nodes, menu
    result.menu_voice = str(spec.get("voice") or tree.menu_voice)
    for nid, node in nodes.items():
        node.label = str(labels.get(nid) or node.label)
    # Walk the phone's menu: the tree's own submenus it keeps (cni_passeport -> passeport_urgence)
    # get their parent; a tree menu the phone does not say (titres_ants) parents nothing.
    reachable, queue = set(), list(menu)
    while queue:
        nid = queue.pop(0)
        if nid in reachable:
            continue
        reachable.add(nid)
        for cid in nodes[nid].children:
            nodes[cid].parent = nid
            queue.append(cid)
    missing = [n.id for n in tree.leaves() if n.id not in reachable]
    if missing:
        raise TreeError(file, "phone.menu", f"the tree's answer '{missing[0]}' cannot be reached by keypad")
    topics = [cid for cid in menu if nodes[cid].key != 0]
    if len(topics) > MAX_TOPIC_KEYS:
        raise TreeError(file, "phone.menu.options", f"the main menu says at most {MAX_TOPIC_KEYS} topics plus 0")
    check_phone(result)
    return result
