"""Texts of the booking and message pages, e-mails and phone offer, the destinations' names and the
answers to refused requests, the chat page: the `pan`, `tickets`, `destinations`, `requests` and `chat` sections of bot/tree.yml,
rendered with the préfecture's {placeholders} plus local ones; and the agents' console's texts,
bot/console_texts.yml, with local placeholders only."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml
from markupsafe import Markup, escape

from bot.core import yaml_text
from bot.core.config import Prefecture, get_path
from bot.core.tree import PLACEHOLDER, TREE_FILE, TreeError, render

SECTIONS = ("pan", "tickets", "destinations", "requests", "chat")


@lru_cache(maxsize=1)
def sections() -> dict:
    raw = yaml_text.safe_load(TREE_FILE.read_text(encoding="utf-8"))
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


def check_placeholders(pref: Prefecture) -> None:
    """Every {a.b.c} of these sections' texts (the pages, e-mails, the chat page: `chat.page.tagline`
    names the département) is a text of the préfecture's files: raises ConfigError naming the missing
    key, at `python -m bot check` and at the server's start rather than a page that fails. The pages'
    own placeholders ({max}, {reference}...) have no dot and are filled where the text is said."""
    for path in all_texts():
        for name in PLACEHOLDER.findall(str(raw(path))):
            if "." in name:
                render("{" + name + "}", pref)


def page_texts(dotted: str, pref: Prefecture, **keep) -> dict[str, str]:
    """{key: text} of one section of texts (`pan.page`...), rendered for this préfecture; `keep`
    maps the page's own placeholders to themselves ({max}) so that the template fills them."""
    return {key: say(f"{dotted}.{key}", pref, **keep) for key in raw(dotted)}


def chat_texts(pref: Prefecture) -> dict:
    """The chat page's texts ({"page": {...}, "script": {...}}), rendered for this préfecture; the
    page's own placeholders ({max}) are left for chat.js to fill."""
    keep = {"max": "{max}"}
    return {part: {key: say(f"chat.{part}.{key}", pref, **keep) for key in raw(f"chat.{part}")} for part in ("page", "script")}


# The agents' console's texts: bot/console_texts.yml, apart from the public's routing tree.
CONSOLE_FILE = TREE_FILE.parent / "console_texts.yml"
CONSOLE_LABEL = "bot/console_texts.yml"
CONSOLE_SECTIONS = (
    "ticket_done",
    "ticket_refused",
    "turn_actions",
    "spoken_inputs",
    "audit_actions",
    "audit_details",
    "audit_values",
    "confidence",
    "errors",
    "messages",
    "pages",
    "report",
    "statuses",
    "channels",
    "call_outcomes",
    "accounts",
    "quality",
    "retrain",
)


def read_texts_file(path: Path, label: str) -> dict:
    """A YAML file of texts as a mapping; a TreeError naming the file (`label`) when it cannot be
    read or holds no mapping."""
    try:
        data = yaml_text.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TreeError(label, "-", f"unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise TreeError(label, "-", "missing texts")
    return data


@lru_cache(maxsize=1)
def console_texts() -> dict:
    """bot/console_texts.yml, checked: every section present, every text a non-empty string."""
    raw_file = read_texts_file(CONSOLE_FILE, CONSOLE_LABEL)
    for name in CONSOLE_SECTIONS:
        if not isinstance(raw_file.get(name), dict):
            raise TreeError(CONSOLE_LABEL, name, "missing section")

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            elif not isinstance(value, str) or not value.strip():
                raise TreeError(CONSOLE_LABEL, f"{prefix}{key}", "missing text")

    walk(raw_file, "")
    return raw_file


def console_section(name: str) -> dict[str, str]:
    """{key: text} of one section of the console's texts (`audit_actions`...), as written."""
    return dict(console_texts()[name])


def console_say(dotted: str, **values) -> str:
    """The console text at `messages.x` / `errors.x.title`, its {placeholders} filled from `values`
    (a placeholder without a value is a TreeError: a text and its caller disagree)."""
    try:
        text = get_path(console_texts(), dotted)
    except KeyError:
        raise TreeError(CONSOLE_LABEL, dotted, "missing text") from None
    return fill(str(text), CONSOLE_LABEL, dotted, values)


def fill(text: str, file: str, dotted: str, values: dict) -> str:
    """`text` (the one at `dotted` in `file`) with its {placeholders} filled from `values`: the text's
    own line breaks collapse, the values are put in as they are; a placeholder without a value is a
    TreeError naming the file and the text."""

    def one(match) -> str:
        if match.group(1) not in values:
            raise TreeError(file, dotted, f"placeholder {{{match.group(1)}}} has no value")
        return str(values[match.group(1)])

    return PLACEHOLDER.sub(one, re.sub(r"[ \t\r\n]+", " ", text).strip(" "))


def _trusted(node):
    return {k: _trusted(v) for k, v in node.items()} if isinstance(node, dict) else Markup(node)


@lru_cache(maxsize=8)
def html_section(name: str) -> dict:
    """A section of the console's texts for a template (`pages`, `report`): the file is trusted like
    a template, so its texts are not escaped again (« l'agent » stays as written)."""
    return _trusted(console_texts()[name])


def html_say(dotted: str, **values) -> Markup:
    """A console text with {placeholders} for a template: the values escaped, the text as written."""
    return Markup(console_say(dotted, **{key: escape(value) for key, value in values.items()}))
