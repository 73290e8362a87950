"""Process-wide objects, built on first use (never at import time)."""

from __future__ import annotations

import threading
from datetime import datetime
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot import settings
from bot.core import clock, config, display, texts
from bot.core import tree as tree_mod
from bot.core.config import ROOT
from bot.core.router import Router
from bot.core.tree import render
from bot.store.database import Store


def opening_now(header: str | None = None) -> datetime:
    """Paris time now, for opening hours and closure days (phone and chat): a request's test clock
    header (clock.TEST_CLOCK_HEADER, honoured only with IVR_TEST_CLOCK=1 or IVR_LOCAL_DEV=1), else
    IVR_NOW (the whole process), else the real clock."""
    if header and settings.phone_test_clock():
        try:
            return clock.parse_paris(header)
        except ValueError:
            pass
    fixed = settings.phone_fixed_now()
    if fixed:
        try:
            return clock.parse_paris(fixed)
        except ValueError:
            pass
    return datetime.now(clock.PARIS)


@lru_cache(maxsize=1)
def prefecture() -> config.Prefecture:
    return config.current()


@lru_cache(maxsize=1)
def tree() -> tree_mod.Tree:
    return tree_mod.current()


def startup_check() -> None:
    """Load and validate the tree and the préfecture; raises TreeError / ConfigError."""
    tree_mod.check_placeholders(tree(), prefecture())
    texts.check_placeholders(prefecture())  # the pages' and e-mails' texts too (chat.page names the département)


@lru_cache(maxsize=1)
def router() -> Router:
    startup_check()
    return Router(tree(), prefecture())


@lru_cache(maxsize=1)
def store() -> Store:
    return Store()


@lru_cache(maxsize=1)
def loop_store() -> Store:
    """The store of the work done on the event loop itself (the agents' console): a connection of its
    own that waits at most `settings.store_busy_ms` for another writer's lock, so that a locked store
    holds one request a moment, never every request of the server for the whole busy timeout."""
    return Store.on_connection(store().path, busy_ms=int(tree().settings.get("store_busy_ms", 250)))


@lru_cache(maxsize=1)
def turn_writer():
    """The chat's writer of turns: short busy timeout, background retry (bot.services.deferred)."""
    from bot.services.deferred import Writer

    return Writer(store().path, busy_ms=int(tree().settings.get("store_busy_ms", 250)), spool=chat_spool)


@lru_cache(maxsize=1)
def chat_spool():
    """The chat's spool (bot/store/spool.py), made on first use: the turns and the tracker events that
    wait for the store, on local disk."""
    from bot.store.spool import Spool, chat_spool_path

    return Spool(chat_spool_path())


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


@lru_cache(maxsize=1)
def phones() -> list[dict]:
    """The préfecture's confirmed numbers, the only ones the chat page makes tappable (tel:)."""
    return display.confirmed_phones(prefecture())


def page_config() -> dict:
    """What the chat page needs to start: names, welcome text, topic buttons, every text of the page
    (tree.yml `chat`), the préfecture's phone for the error messages."""
    pref, r = prefecture(), router()
    number = pref.get("prefecture.phone.number")
    confirmed = pref.get("prefecture.phone").get("confirmed") is True
    return {
        "prefecture": pref.id,
        "name": render("{prefecture.name}", pref),
        "department": render("{prefecture.department}", pref),
        "welcome": r.message("welcome"),
        "welcome_display": display.shape([{"text": r.message("welcome")}], pref, phones())[0]["display"],
        "buttons": r.topic_buttons(),
        "texts": texts.chat_texts(pref),
        "unavailable": r.message("unavailable"),
        "phone": {
            "text": display.typeset(number) if number else "",
            "tel": display.tel_uri(number) if number and confirmed else "",
            "hours": display.typeset(render("{prefecture.phone_hours_text}", pref)),
        },
    }


def public_page_context() -> dict:
    """What the public pages' layout (web/templates/layout.html) shows in its header and footer, and
    the texts of the pages without JavaScript (`t`, tree.yml `pan.page`)."""
    pref = prefecture()
    return {
        "name": render("{prefecture.name}", pref),
        "website": render("{prefecture.website}", pref),
        "phone": render("{prefecture.phone.display}", pref),
        "phone_number": pref.get("prefecture.phone.number"),
        "phone_hours": render("{prefecture.phone_hours_text}", pref),
        "t": texts.page_texts("pan.page", pref, max="{max}"),
    }


def render_page(no_script: bool = False, typed: str = "", **drawn) -> str:
    """The chat page; `no_script`: its form was posted without JavaScript (bot/web/chat_page.py), the
    notice shown in place of its <noscript> copy, `typed` given back in the field; `drawn`: what the
    server draws then (`sender`, the conversation's id; `conversation`, its bubbles: bot/web/chat_view.py;
    `start`, the bubble to show first; `token`, the page's token, bot/web/chat_form.py; `rating`, the
    rating's box after the last answer, bot/web/chat_page.py)."""
    cfg = page_config()
    pref = prefecture()
    return (
        _templates()
        .get_template("chat.html")
        .render(
            config=cfg,
            t=cfg["texts"]["page"],
            s=cfg["texts"]["script"],
            website=render("{prefecture.website}", pref),
            phone=render("{prefecture.phone.display}", pref),
            no_script=no_script,
            typed=typed,
            sender=drawn.get("sender", ""),
            conversation=drawn.get("conversation", []),
            start=drawn.get("start", 0),
            token=drawn.get("token", ""),
            rating=drawn.get("rating"),
        )
    )


def apology() -> str:
    """The answer when a message could not be handled (tree.yml `requests.apology`)."""
    return texts.say("requests.apology", prefecture())
