"""The audit log on the administration page (/console/admin#journal): filtered by agent (`qui`) and by
reference (`element`: a message, a booking, a conversation, a call, an account — a booking is also
found in the views of its day's appointments that showed its contact, so "who saw this person's
data?" has one answer), PAGE_SIZE lines a page (`page`), newest first; each line's detail in French
words (bot/console_texts.yml `audit_details`), never its JSON. A person known by their contact only
(an e-mail, a phone number) is found through the references still holding it: references_of_contact."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlencode

from bot.core import texts
from bot.services import identity, pan, runtime
from bot.web.console.pages import ITEM_ID_RE, PREFIX, topic_label

PAGE_SIZE = 50
AGENT_RE = re.compile(r"^[^\x00-\x1f]{1,64}$")  # who wrote a line: an account, "—", the CLI's user
SLOT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Filter:
    agent: str = ""
    item: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, get) -> "Filter":
        """From the page's query arguments; a value that cannot be one is ignored (never an error)."""
        agent, item = (get("qui") or "").strip(), (get("element") or "").strip()
        try:
            page = max(1, min(int(get("page") or 1), 100000))
        except ValueError:
            page = 1
        return cls(agent if AGENT_RE.match(agent) else "", item if ITEM_ID_RE.match(item) else "", page)

    def link(self, page: int) -> str:
        args = {"qui": self.agent, "element": self.item, "page": page if page > 1 else ""}
        return f"{PREFIX}/admin?" + urlencode({k: v for k, v in args.items() if v}) + "#journal"


def lines(store, f: Filter) -> dict:
    """{"rows": the page's lines (ts, agent, action, kind, item_id, detail: [(label, value)]), "total",
    "page", "pages", "agents": every agent of the log (the filter's choices), "previous", "next"}."""
    where, args = [], []
    if f.agent:
        where.append("agent = ?")
        args.append(f.agent)
    if f.item:  # the reference itself, or a JSON string of the detail equal to it (a day's bookings)
        where.append("(item_id = ? or detail like ? escape '!')")
        args += [f.item, '%"' + re.sub(r"([!%_])", r"!\1", f.item) + '"%']
    sql_where = f" where {' and '.join(where)}" if where else ""
    db = store.db
    total = db.execute(f"select count(*) from audit_log{sql_where}", args).fetchone()[0]
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(f.page, pages)
    rows = db.execute(
        f"select ts, agent, action, kind, item_id, detail from audit_log{sql_where} order by id desc limit ? offset ?",
        [*args, PAGE_SIZE, (page - 1) * PAGE_SIZE],
    ).fetchall()
    agents = [r[0] for r in db.execute("select distinct agent from audit_log where agent is not null order by agent")]
    return {
        "rows": [(ts, agent, action, kind, item, said(detail)) for ts, agent, action, kind, item, detail in rows],
        "total": total,
        "page": page,
        "pages": pages,
        "agents": agents,
        "previous": f.link(page - 1) if page > 1 else None,
        "next": f.link(page + 1) if page < pages else None,
    }


def said(detail: str | None) -> list[tuple[str, str]]:
    """A line's detail (JSON) as [(French label, value in words)], empty values left out."""
    try:
        values = json.loads(detail or "{}")
    except json.JSONDecodeError:
        return []
    if not isinstance(values, dict):
        return []
    keys = texts.console_section("audit_details")
    return [(keys.get(k, k), word(k, v)) for k, v in values.items() if v not in (None, "", [], {})]


def word(key: str, value: object) -> str:
    """One value in words: a service, a site, a topic, a status, a role, yes or no, a date, a list."""
    words = texts.console_section("audit_values")
    if isinstance(value, bool):
        return words["yes" if value else "no"]
    if key == "as_training":
        return words["yes" if value else "no"]
    if isinstance(value, list):
        return ", ".join(word(key, v) for v in value)
    if isinstance(value, dict):  # an export's counts: {topic or reason: n}
        return ", ".join(f"{word('topic', k) if key == 'written' else words.get(k, k)} {n}" for k, n in value.items())
    text = str(value)
    pref = runtime.prefecture()
    if key in ("mailbox", "from", "to") and text in (pref.get("mailboxes") or {}):
        return pref.get("mailboxes")[text]["service"]
    if key == "site":
        return next((s["name"] for s in pan.sites(pref) if s["id"] == text), text)
    if key == "topic":
        return topic_label(text)
    if key == "status":
        return texts.console_section("statuses").get(text, text)
    if key == "role":
        return words.get(f"role_{text}", text)
    if SLOT_RE.match(text):
        return datetime.fromisoformat(text).strftime("%d/%m/%Y %H:%M")
    if DAY_RE.match(text):
        return day(text)
    return words.get(text, text)


def day(value: str) -> str:
    """An ISO day as it is read (dd/mm/yyyy); anything else as it is."""
    try:
        return date.fromisoformat(value).strftime("%d/%m/%Y") if DAY_RE.match(value or "") else value
    except ValueError:
        return value


def references_of_contact(store, value: str) -> list[str] | None:
    """The references of the messages and appointments that still hold this contact, newest first:
    an e-mail address in any case, a phone number in any spelling (a message's address or the
    number a voicemail was left from; an appointment's keyed hash, bot.services.identity). None when
    `value` is neither an e-mail address nor a phone number. A purged record holds no contact any
    more: only its reference stays in the log."""
    value = (value or "").strip()
    phone = identity.phone_number(value)
    if phone is None and not pan.EMAIL.match(value):
        return None
    db = store.db
    found = db.execute(
        "select reference, created_at from tickets where lower(contact_email) = ? or callback = ?",
        [value.lower(), identity.say_phone(phone) or ""],  # a voicemail's number is kept as it is dialled
    ).fetchall()
    found += db.execute(
        "select reference, created_at from pan_bookings where contact_key = ?", [identity.contact_key(store, value)]
    ).fetchall()
    return [reference for reference, _ in sorted(found, key=lambda row: row[1] or "", reverse=True)]
