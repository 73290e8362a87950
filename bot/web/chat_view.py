"""The conversation drawn by the server, for the chat page without JavaScript (bot/web/chat_page.py):
the turns of chat_history.turns_of, then what the post added, as web/static/chat.js draws them
(userBubble, renderAnswer, errorBubble), for web/templates/chat.html (its `conversation`).

Each item is one bubble of the log:
- {"role": "user", "text"}: a question, masked as Rasa kept it (a button's title for a button);
- {"role": "bot", "display", "text", "buttons", "links", "actions"}: a bot message drawn from its
  `display` runs (lead, items, more; a tel: link only where a run has one), its buttons (submit buttons
  in the page: the payload is the value of `message`); an answer's links go to its last bubble, and
  where the script draws its in-page widget, `actions` link to the pages that work without it: the
  booking pages (/rdv/, with `?motif=` when the conversation's last topic is one of pan.reasons, the
  reason the script puts first) and the message form (/rdv/message?service=<id>);
- {"role": "error", "text", "phone"[, "unread"]}: a refusal (errorBubble), with the préfecture's phone for
  a 503; `unread`: the conversation could not be read to be drawn above it (its store down), said so.

After the last answer, where the script offers it (`offers_rating`), the page offers the rating as a
form; the template draws its states (web/templates/chat.html `rating_box`).

As in the script, nothing unchecked reaches an attribute: a tel: link matches TEL_RE, a link is
https, http, mailto or one of this site's paths, a button has a string title and payload.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qs, urlencode, urlsplit

from bot.web.http import RDV_PREFIX

TEL_RE = re.compile(r"^tel:\+?[0-9]{3,15}$")  # chat.js TEL_RE
LINK_SCHEMES = ("https", "http", "mailto")  # chat.js ALLOWED_PROTOCOLS
BOOKING_PATH, MESSAGE_PATH = RDV_PREFIX + "/", RDV_PREFIX + "/message"


def drawn(turns: Iterable[dict], reasons: Iterable[str], unavailable: str) -> list[dict]:
    """The bubbles of a conversation's turns ({"role": "user", "text"}, {"role": "bot", "messages"})."""
    topics: list[str] = []
    reasons = set(reasons)
    out: list[dict] = []
    for turn in turns:
        if not isinstance(turn, dict):
            continue
        if turn.get("role") == "user" and isinstance(turn.get("text"), str):
            out.append({"role": "user", "text": turn["text"]})
        elif turn.get("role") == "bot" and isinstance(turn.get("messages"), list):
            out += answer(turn["messages"], topics, reasons, unavailable)
    return out


def answer(messages: list, topics: list[str], reasons: set[str], unavailable: str) -> list[dict]:
    """One answer's bubbles (chat.js renderAnswer); `topics` (the conversation's, oldest first) gets
    its topic."""
    bubbles: list[dict] = []
    links: list = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        text = message["text"] if isinstance(message.get("text"), str) else ""
        buttons = _buttons(message.get("buttons"))
        custom = message["custom"] if isinstance(message.get("custom"), dict) else {}
        if isinstance(custom.get("links"), list):
            links += custom["links"]
        said = custom.get("answer")
        if isinstance(said, dict) and isinstance(said.get("topic"), str):
            topics.append(said["topic"])
        if text or buttons:
            shown = _display(message.get("display")) if text else None
            bubbles.append({"role": "bot", "display": shown, "text": text, "buttons": buttons, "links": [], "actions": []})
    kept = [link for link in map(_link, links) if link]
    if kept and not bubbles:
        bubbles.append({"role": "bot", "display": None, "text": "", "buttons": [], "links": [], "actions": []})
    if not bubbles:
        return [error(unavailable, phone=True)]
    bubbles[-1]["links"] = kept
    reason = next((topic for topic in reversed(topics) if topic in reasons), None)
    bubbles[-1]["actions"] = _actions(links, reason)
    return bubbles


def error(text: str, phone: bool = False, unread: bool = False) -> dict:
    """A refusal in the conversation (chat.js errorBubble): a 503 says the préfecture's phone too;
    `unread`: the conversation above it could not be read."""
    return {"role": "error", "text": text, "phone": phone} | ({"unread": True} if unread else {})


def offers_rating(messages: list) -> bool:
    """Whether the script asks « Cette réponse vous a-t-elle aidé ? » after this answer (chat.js
    renderAnswer: an answer routed to a destination, its `custom.answer` marker, actions/actions.py)."""
    for message in messages:
        custom = message.get("custom") if isinstance(message, dict) else None
        said = custom.get("answer") if isinstance(custom, dict) else None
        if isinstance(said, dict) and isinstance(said.get("destination"), str) and said["destination"]:
            return True
    return False


def alternatives(turns: Iterable[dict]) -> list[dict]:
    """The buttons offered after « Non » to the last answer (its `custom.answer` marker's alternatives: the
    other likely topics and a person, bot/core/router.py), as chat.js rate() offers them; none when the
    conversation's last turn is not an answer that has them."""
    last = next((t for t in reversed(list(turns)) if isinstance(t, dict)), None)
    if last is None or last.get("role") != "bot" or not isinstance(last.get("messages"), list):
        return []
    for message in last["messages"]:
        custom = message.get("custom") if isinstance(message, dict) else None
        said = custom.get("answer") if isinstance(custom, dict) else None
        if isinstance(said, dict):
            return _buttons(said.get("alternatives"))
    return []


def _runs(value) -> list[dict]:
    if not isinstance(value, list):
        return []
    out = []
    for run in value:
        if not isinstance(run, dict) or not isinstance(run.get("text"), str):
            continue
        tel = run.get("tel")
        out.append({"text": run["text"], "tel": tel} if isinstance(tel, str) and TEL_RE.match(tel) else {"text": run["text"]})
    return out


def _display(value) -> dict | None:
    """{lead, items, more, english} of runs (chat.js displayNodes), None without a display (the text alone)."""
    if not isinstance(value, dict):
        return None
    items = value.get("items") if isinstance(value.get("items"), list) else []
    runs = {"lead": _runs(value.get("lead")), "items": [r for r in map(_runs, items) if r], "more": _runs(value.get("more"))}
    return runs | {"english": _runs(value.get("english"))}


def _buttons(value) -> list[dict]:
    if not isinstance(value, list):
        return []
    return [
        {"title": b["title"], "payload": b["payload"]}
        for b in value
        if isinstance(b, dict) and isinstance(b.get("title"), str) and isinstance(b.get("payload"), str)
    ]


def _link(link) -> dict | None:
    """{"title", "url", "new_window"} of an answer's link (chat.js linkList), None for one not drawn."""
    if not isinstance(link, dict) or not isinstance(link.get("title"), str) or not link["title"]:
        return None
    url = link.get("url")
    if not isinstance(url, str) or not url or any(ord(c) <= 0x20 for c in url):
        return None
    scheme = urlsplit(url).scheme.lower()
    if scheme and scheme not in LINK_SCHEMES:
        return None
    return {"title": link["title"], "url": url, "new_window": scheme != "mailto"}


def _actions(links: list, reason: str | None) -> list[dict]:
    """[{"kind": "book" | "message", "url"}]: the pages for this site's booking and message links, once
    each (chat.js inChatActions draws its widget's buttons for the same links)."""
    out: dict[str, str] = {}
    for link in links:
        url = link.get("url") if isinstance(link, dict) else None
        if not isinstance(url, str) or any(ord(c) <= 0x20 for c in url):
            continue
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:  # another site's
            continue
        if parts.path == BOOKING_PATH and "book" not in out:
            out["book"] = BOOKING_PATH + (f"?{urlencode({'motif': reason})}" if reason else "")
        service = (parse_qs(parts.query).get("service") or [""])[0]
        if parts.path == MESSAGE_PATH and service and "message" not in out:
            out["message"] = f"{MESSAGE_PATH}?{urlencode({'service': service})}"
    return [{"kind": kind, "url": url} for kind, url in out.items()]
