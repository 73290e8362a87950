"""Process-wide objects, built on first use (never at import time)."""

from __future__ import annotations

import threading
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.core import config
from bot.core import tree as tree_mod
from bot.core.config import ROOT
from bot.core.router import Router
from bot.core.tree import render
from bot.store.database import Store


@lru_cache(maxsize=1)
def prefecture() -> config.Prefecture:
    return config.current()


@lru_cache(maxsize=1)
def tree() -> tree_mod.Tree:
    return tree_mod.current()


def startup_check() -> None:
    """Load and validate the tree and the préfecture; raises TreeError / ConfigError."""
    tree_mod.check_placeholders(tree(), prefecture())


@lru_cache(maxsize=1)
def router() -> Router:
    startup_check()
    return Router(tree(), prefecture())


@lru_cache(maxsize=1)
def store() -> Store:
    return Store()


_thread = threading.local()


def thread_store() -> Store:
    """The store of the calling worker thread, on a connection of its own.

    Routes hand their writes (and the masking of long texts) to a thread pool, so that the event
    loop keeps answering (issue 13). One connection per thread: SQLite serialises the writers
    (BEGIN IMMEDIATE, busy timeout), and no thread's transaction ever takes in another's statements.
    """
    own = getattr(_thread, "store", None)
    if own is None:
        own = _thread.store = Store(store().path)
    return own


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(loader=FileSystemLoader(str(ROOT / "web" / "templates")), autoescape=select_autoescape(["html"]))


def page_config() -> dict:
    """What the chat page needs to start: names, welcome text, topic buttons."""
    pref, r = prefecture(), router()
    return {
        "prefecture": pref.id,
        "name": render("{prefecture.name}", pref),
        "department": render("{prefecture.department}", pref),
        "welcome": r.message("welcome"),
        "buttons": r.topic_buttons(),
    }


def public_page_context() -> dict:
    """What the public pages' layout (web/templates/layout.html) shows in its header and footer."""
    pref = prefecture()
    return {
        "name": render("{prefecture.name}", pref),
        "website": render("{prefecture.website}", pref),
        "phone": render("{prefecture.phone.display}", pref),
        "phone_number": pref.get("prefecture.phone.number"),
        "phone_hours": render("{prefecture.phone_hours_text}", pref),
    }


def render_page() -> str:
    cfg = page_config()
    pref = prefecture()
    return (
        _templates()
        .get_template("chat.html")
        .render(
            config=cfg,
            website=render("{prefecture.website}", pref),
            phone=render("{prefecture.phone.display}", pref),
            phone_number=pref.get("prefecture.phone.number"),
            unavailable=router().message("unavailable"),
            phone_hours=render("{prefecture.phone_hours_text}", pref),
        )
    )


def apology() -> str:
    pref = prefecture()
    return render(
        "Désolé, une erreur technique m'empêche de répondre. Vous pouvez joindre la "
        "{prefecture.name} : {prefecture.phone.display} ({prefecture.phone_hours_text}).",
        pref,
    )
