"""Texts of the booking and message pages, e-mails and phone offer, the destinations' names and the
answers to refused requests, the chat page: the `pan`, `tickets`, `destinations`, `requests` and `chat` sections of bot/tree.yml,
rendered with the préfecture's {placeholders} plus local ones."""

from __future__ import annotations

from functools import lru_cache

import yaml

from bot.core.config import Prefecture, get_path
from bot.core.tree import TREE_FILE, TreeError, render

SECTIONS = ("pan", "tickets", "destinations", "requests", "chat")


@lru_cache(maxsize=1)
def sections() -> dict:
    raw = yaml.safe_load(TREE_FILE.read_text(encoding="utf-8"))
    for name in SECTIONS:
        if not isinstance(raw.get(name), dict):
            raise TreeError("bot/tree.yml", name, "missing section")
    return {name: raw[name] for name in SECTIONS}


def raw(dotted: str) -> object:
    section, _, rest = dotted.partition(".")
    try:
        return get_path(sections()[section], rest)
    except KeyError:
        raise TreeError("bot/tree.yml", dotted, "missing text") from None


def destination_labels() -> dict[str, str]:
    """{destination: its French name}, from the `destinations` section of bot/tree.yml."""
    return dict(sections()["destinations"])


def say(dotted: str, pref: Prefecture, **extra) -> str:
    """The text at `pan.x.y` / `tickets.x` / `requests.x` rendered for this préfecture."""
    return render(str(raw(dotted)), pref, {k: v for k, v in extra.items()})


def all_texts(node=None, prefix: str = "") -> list[str]:
    """Every dotted text path (to check they all render for every préfecture)."""
    out = []
    node = sections() if node is None else node
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out += all_texts(value, path + ".")
        else:
            out.append(path)
    return out


def chat_texts(pref: Prefecture) -> dict:
    """The chat page's texts ({"page": {...}, "script": {...}}), rendered for this préfecture; the
    page's own placeholders ({max}) are left for chat.js to fill."""
    keep = {"max": "{max}"}
    return {part: {key: say(f"chat.{part}.{key}", pref, **keep) for key in raw(f"chat.{part}")} for part in ("page", "script")}
