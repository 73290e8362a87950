"""How an answer is shown on the chat page: French typography, tappable phone numbers, and the
short form of an answer (issue 14, items 9 and 10).

Pure functions, no Rasa or Sanic import:
- `typeset(text)`: non-breaking spaces inside times ("9 h 30") and numbers ("NN NN NN NN NN"),
  before ; : ? ! » and "%" (as bot/core/numbers.py writes a percentage) and after «, so that none of
  them breaks across two lines.
- `confirmed_phones(pref)`: the numbers of the préfecture file marked `confirmed: true`, the only
  ones that become `tel:` links.
- `runs(text, phones)`: a text cut into runs `{"text"}` and `{"text", "tel"}` (a link to call).
- `answer_parts(node, pref, text)`: the lead sentence, the short list and the full text of a leaf
  (tree.yml `screen.lead`, `screen.items`), at most `display.max_words` words before the disclosure.
- `shape(messages, pref, labels)`: the bot messages of one turn as the page draws them: each text
  gets a `display` {lead, items, more} of runs.
"""

from __future__ import annotations

import re
from typing import Any

from bot.core.config import Prefecture, e164, format_days
from bot.core.numbers import PERCENT_SPACE

NBSP = "\u00a0"

# A time: "9 h", "12 h 30" (config.format_days writes them so).
_TIME = re.compile(r"\b(\d{1,2}) h(?: (\d{2}))?\b")
# A number written in groups of digits: "NN NN NN NN NN", "NNNN NNN NNN", "NN NN", "15 000".
_GROUPED = re.compile(r"\b\d{1,4}(?: \d{2,3})+\b")
# A space before the high punctuation, the closing quote and "%" (the space of every percentage the
# product writes, bot/core/numbers.py PERCENT_SPACE), after the opening quote.
_BEFORE = re.compile(r"[ \u00a0\u202f]+([;:?!»%])")
_AFTER = re.compile(r"(«)[ \u00a0\u202f]+")
_URL = re.compile(r"\b(?:https?|mailto|tel):\S+")


def typeset(text: str) -> str:
    """French typography for the screen: '9 h 30' -> '9\\u00a0h\\u00a030', a number 'NN NN NN NN NN' keeps
    its groups together, 'ici ; là' -> 'ici\\u00a0; là', '« PAN »' -> '«\\u00a0PAN\\u00a0»'.
    A colon inside an address (https://...) is left alone."""
    if not text:
        return text or ""
    urls: list[str] = []

    def keep(match: re.Match) -> str:
        urls.append(match.group(0))
        return f"\x00{len(urls) - 1}\x00"

    out = _URL.sub(keep, text)
    out = _TIME.sub(lambda m: m.group(1) + NBSP + "h" + (NBSP + m.group(2) if m.group(2) else ""), out)
    out = _GROUPED.sub(lambda m: m.group(0).replace(" ", NBSP), out)

    def before(match: re.Match) -> str:
        start = match.start()
        if start == 0 or out[start - 1] == "\n":
            return match.group(1)
        return (PERCENT_SPACE if match.group(1) == "%" else NBSP) + match.group(1)

    out = _BEFORE.sub(before, out)
    out = _AFTER.sub(lambda m: m.group(1) + NBSP, out)
    return re.sub("\x00(\\d+)\x00", lambda m: urls[int(m.group(1))], out)


def _phones(node: Any, path: str = "") -> list[tuple[str, dict]]:
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("number"), str) and "kind" in node:
            found.append((path, node))
        for key, value in node.items():
            found += _phones(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _phones(value, f"{path}[{i}]")
    return found


def tel_uri(number: str, kind: str = "regular") -> str:
    """A regular French number -> 'tel:+33...' (E.164); a short number 'NN NN' -> 'tel:NNNN'."""
    if kind == "short":
        return "tel:" + re.sub(r"\D", "", number)
    return "tel:" + e164(number)


def confirmed_phones(pref: Prefecture) -> list[dict]:
    """[{"text": the number as written in answers (typeset), "tel": "tel:+33..."}] for every phone
    of the préfecture's files marked `confirmed: true`, longest first."""
    out, seen = [], set()
    for _path, phone in _phones(pref.data):
        if phone.get("confirmed") is not True:
            continue
        shown = typeset(phone["number"])
        if shown in seen:
            continue
        seen.add(shown)
        out.append({"text": shown, "tel": tel_uri(phone["number"], phone.get("kind", "regular"))})
    return sorted(out, key=lambda p: -len(p["text"]))


def runs(text: str, phones: list[dict]) -> list[dict]:
    """The typeset text cut into runs; each confirmed number becomes {"text", "tel"}."""
    text = typeset(text)
    if not text:
        return []
    if not phones:
        return [{"text": text}]
    pattern = re.compile("|".join(re.escape(p["text"]) for p in phones))
    tel = {p["text"]: p["tel"] for p in phones}
    out, last = [], 0
    for match in pattern.finditer(text):
        before = text[max(0, match.start() - 1) : match.start()]
        after = text[match.end() : match.end() + 1]
        if before.isdigit() or after.isdigit():  # part of a longer number
            continue
        if match.start() > last:
            out.append({"text": text[last : match.start()]})
        out.append({"text": match.group(0), "tel": tel[match.group(0)]})
        last = match.end()
    if last < len(text):
        out.append({"text": text[last:]})
    return out


def words(text: str) -> int:
    """Words as a reader counts them: punctuation alone is none, a number's groups count one each."""
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def site_items(pref: Prefecture) -> list[str]:
    """One line per PAN site: its short name (`short_name`, else its name) and its hours."""
    return [f"{site.get('short_name') or site['name']} : {format_days(site['days'])}" for site in pref.data["pan"]["sites"]]


def answer_parts(lead: str, items: list[str], text: str, max_words: int) -> dict:
    """{lead, items, more} of strings: the lead sentence and the short list shown at once (at most
    `max_words` words together), the full text behind the disclosure. Without a lead, a text of at
    most `max_words` words is shown whole; a longer one shows its first sentence."""
    if not lead:
        if words(text) <= max_words:
            return {"lead": text, "items": [], "more": ""}
        first = re.match(r"^(.+?[.!?])\s", text + " ")
        lead = first.group(1) if first else text
    # The list stops before the line that would pass the budget: the rest is in the full text.
    shown, budget = [], max_words - words(lead)
    for item in items:
        if words(item) > budget:
            break
        shown.append(item)
        budget -= words(item)
    more = "" if text.strip() == lead.strip() and len(shown) == len(items) else text
    return {"lead": lead, "items": shown, "more": more}


def shape(messages: list[dict], pref: Prefecture, phones: list[dict] | None = None) -> list[dict]:
    """The bot messages of one turn, as the page draws them.

    The action sends a leaf's short form as `custom.display` {lead, items, more} with its text; it
    is attached to that text (or to the text before it, when Rasa split the message in two). Every
    other text gets {lead: text}. Each string becomes runs (typeset, confirmed numbers as links).
    """
    phones = confirmed_phones(pref) if phones is None else phones
    out: list[dict] = []
    for raw in messages:
        if not isinstance(raw, dict):
            continue
        msg = dict(raw)
        custom = msg.get("custom")
        display = None
        if isinstance(custom, dict) and isinstance(custom.get("display"), dict):
            display = custom["display"]
            rest = {k: v for k, v in custom.items() if k != "display"}
            if rest:
                msg["custom"] = rest
            else:
                msg.pop("custom")
            if not msg.get("text"):
                target = next((m for m in reversed(out) if m.get("text")), None)
                if target is not None:
                    target["display"] = _runs_of(display, phones)
                if "custom" not in msg and not msg.get("buttons"):
                    continue
        if msg.get("text"):
            msg["display"] = _runs_of(display or {"lead": msg["text"]}, phones)
        out.append(msg)
    return out


def _runs_of(display: dict, phones: list[dict]) -> dict:
    items = display.get("items") or []
    shown = {
        "lead": runs(str(display.get("lead") or ""), phones),
        "items": [runs(str(i), phones) for i in items if i],
        "more": runs(str(display.get("more") or ""), phones),
    }
    # A message's English part (tree.yml messages.<id>.english): its own paragraph, marked lang="en".
    return shown | ({"english": runs(str(display["english"]), phones)} if display.get("english") else {})
