"""The queue's list (/console/file): a page of the unresolved items (or of the answers the public rated
not useful, or of those the person corrected), newest first, with the count of each review status. The
store counts, orders and cuts the items; only the page's rows are then read in full (their excerpt, their
call's path). A year of a large préfecture is 37,000 unresolved items: they were all read, made Python
rows, sorted and cut to 20 on the server's event loop (0.35 s a page, during which the server's chat
turns and phone steps waited).
Part of bot/services/queue.py, which re-exports Filters, KINDS and STATUSES.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date

from bot.core import texts
from bot.core.clock import day_range_utc
from bot.core.tree import TOPICS, Tree

KINDS = ("chat", "phone")
# A review's statuses; their names, and those of the channels and of a call's outcomes, are in
# bot/console_texts.yml (`statuses`, `channels`, `call_outcomes`).
STATUSES = ("new", "in_review", "done")
VIEWS = ("pas_utile", "corrige")  # the queue's other views (Filters.rated)
# The chat items of each view, and the calls'.
VIEW_CHATS = {
    "": "c.status = 'unresolved'",
    "pas_utile": "c.id in (select item_id from feedback where kind = 'chat' and useful = 0)",
    # (the answer corrected still kept: each turn is purged at its own date). "> 0", not "is not null":
    # SQLite's statistics count the column's NULLs as one value, and it read every turn instead of the
    # index of the few (0.21 s, 0.02 s with it, on bench/console_bench.py's year).
    "corrige": "c.id in (select t.conversation_id from turns t join turns w on w.id = t.corrects where t.corrects > 0)",
}
# A conversation's last correction: {} one of its columns (t, the turn of the topic chosen; w, the turn
# whose answer it corrected).
LAST_CORRECTION = (
    "(select {} from turns t join turns w on w.id = t.corrects where t.conversation_id = c.id order by t.id desc limit 1)"
)
VIEW_CALLS = {
    "": "k.unresolved = 1",
    "pas_utile": "k.call_sid in (select item_id from feedback where kind = 'phone' and useful = 0)",
    "corrige": "k.corrected > 0",  # (the index read, as for the turns')
}


@dataclass
class Filters:
    channel: str = ""
    topic: str = ""
    status: str = ""
    date_from: str = ""  # YYYY-MM-DD
    date_to: str = ""
    page: int = 1
    # Instead of the unresolved items: "pas_utile", the answers rated not useful; "corrige", the answers the
    # person corrected by choosing another topic among their alternatives (a confident mistake is no
    # unresolved item).
    rated: str = ""

    @classmethod
    def from_args(cls, get) -> Filters:
        """From query arguments; unknown values are ignored (never an error)."""

        def day(v: str) -> str:
            return v if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v or "") else ""

        channel = get("canal") or ""
        topic = get("theme") or ""
        status = get("statut") or ""
        try:
            page = max(1, min(int(get("page") or 1), 100000))
        except ValueError:
            page = 1
        return cls(
            channel if channel in KINDS else "",
            topic if topic in TOPICS + ["human_handoff"] else "",
            status if status in STATUSES else "",
            day(get("du") or ""),
            day(get("au") or ""),
            page,
            get("avis") if get("avis") in VIEWS else "",
        )


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def json_list(raw: str | None) -> list:
    try:
        value = json.loads(raw or "[]")
    except (TypeError, json.JSONDecodeError):
        return []
    return value if isinstance(value, list) else []


def _sources(tree: Tree, f: Filters) -> list[tuple[str, str, list]]:
    """The items the filters keep, chats and calls: each a select of (kind, id, ts, status), its `from
    ... where ...` and their arguments. The dates of the filter are Paris days; stored times are UTC."""
    lo, hi = day_range_utc(_day(f.date_from), _day(f.date_to))
    out = []
    if f.channel in ("", "chat"):
        where = [VIEW_CHATS[f.rated]]
        # the topic guessed: in the view of the corrections, the one the words were answered (as shown)
        topic = f"{LAST_CORRECTION.format('w.topic')} = ?" if f.rated == "corrige" else "c.last_topic = ?"
        where += [w for w, v in (("c.updated_at >= ?", lo), ("c.updated_at < ?", hi), (topic, f.topic)) if v]
        out.append(
            (
                "select 'chat' as kind, c.id as id, c.updated_at as ts, coalesce(r.status, 'new') as status",
                " from conversations c left join reviews r on r.kind = 'chat' and r.item_id = c.id where " + " and ".join(where),
                [v for v in (lo, hi, f.topic) if v],
            )
        )
    # A call's topic is its node's (bot/tree.yml): the nodes of the topic asked for; in the view of the
    # corrections, the topic its words were answered (calls.corrected_topic, migration 017).
    nodes = [nid for nid, node in tree.nodes.items() if node.topic == f.topic] if f.topic and f.rated != "corrige" else []
    answered = [f.topic] if f.topic and f.rated == "corrige" else []
    if f.channel in ("", "phone") and (nodes or answered or not f.topic):
        where = [VIEW_CALLS[f.rated]]
        where += [w for w, v in (("k.started_at >= ?", lo), ("k.started_at < ?", hi)) if v]
        if nodes:
            where.append(f"k.node in ({', '.join('?' * len(nodes))})")
        if answered:
            where.append("k.corrected_topic = ?")
        out.append(
            (
                "select 'phone' as kind, k.call_sid as id, k.started_at as ts, coalesce(r.status, 'new') as status",
                " from calls k left join reviews r on r.kind = 'phone' and r.item_id = k.call_sid where " + " and ".join(where),
                [v for v in (lo, hi) if v] + nodes + answered,
            )
        )
    return out


def listing(db, tree: Tree, f: Filters, per_page: int) -> dict:
    """{"rows": the page's items (kind, id, ts, topic, destination, status, label, excerpt; in the view of
    the corrections, topic is the one answered and chosen the one the person chose instead), "total",
    "counts" (per review status, before the status filter), "page", "pages"}. The page is one compound
    select ordered by time and cut by the store: each part read backwards along its index (conversations
    by status and time, calls by unresolved and time) and merged, so that page 1 reads 20 rows, not the
    whole queue."""
    parts = _sources(tree, f)
    counts = dict.fromkeys(STATUSES, 0)
    for _, source, args in parts:
        for status, n in db.execute(f"select coalesce(r.status, 'new'), count(*){source} group by 1", args).fetchall():
            counts[status] = counts.get(status, 0) + n
    total = counts.get(f.status, 0) if f.status else sum(counts.values())
    pages = max(1, math.ceil(total / per_page))
    page = min(f.page, pages)
    found = []
    if parts and total:
        status = " and coalesce(r.status, 'new') = ?" if f.status else ""
        union = " union all ".join(select + source + status for select, source, _ in parts)
        args = [a for _, _, part in parts for a in [*part, *([f.status] if f.status else [])]]
        found = db.execute(f"{union} order by ts desc limit ? offset ?", [*args, per_page, (page - 1) * per_page]).fetchall()
    rows = _details(db, tree, found, f.rated)
    return {"rows": rows, "total": total, "counts": counts, "page": page, "pages": pages}


def corrected(turns: list[dict]) -> dict | None:
    """The person's last correction of an answer ({said: the words answered wrong, answered: that
    answer's topic, chosen: the topic they chose among its alternatives}), or None (no correction, or
    the corrected turn already purged: each turn goes at its own date)."""
    by_id = {t["id"]: t for t in turns}
    for t in reversed(turns):
        wrong = by_id.get(t.get("corrects"))
        if wrong is not None:
            return {"said": wrong["text"], "answered": wrong["topic"], "chosen": t["topic"]}
    return None


def corrected_call(inputs: list[dict]) -> dict | None:
    """A call's last correction ({said: the words answered wrong, answered: that answer's topic, chosen:
    the topic the caller chose by key among its alternatives}: ivr/flow.py), or None."""
    for n, i in reversed(list(enumerate(inputs))):
        if i.get("corrects"):
            said = next((w["speech"] for w in reversed(inputs[:n]) if w.get("speech") and w.get("topic") == i["corrects"]), "")
            return {"said": said, "answered": i["corrects"], "chosen": i.get("topic")}
    return None


def _details(db, tree: Tree, found: list, view: str) -> list[dict]:
    """The page's items in full, in the order found: a chat's topic, destination and excerpt (the rating's
    comment, or the words whose answer the person corrected, else its first question: for the queue, the
    first one left unanswered), a call's topic and destination (its node's) and excerpt (the first
    sentence said, else its outcome)."""
    chats = [i for k, i, _, _ in found if k == "chat"]
    calls = [i for k, i, _, _ in found if k == "phone"]
    shown: dict[tuple[str, str], dict] = {}
    if chats:
        first = "" if view else "t.resolved = 0 and "
        # The last correction's words answered wrong, the topic they were answered (the topic guessed, in
        # that view: the conversation's last is the one chosen) and the topic the person chose instead.
        comment, guessed, chosen = {
            "pas_utile": (
                "(select b.comment from feedback b where b.kind = 'chat' and b.item_id = c.id)",
                "c.last_topic",
                "null",
            ),
            "corrige": tuple(LAST_CORRECTION.format(column) for column in ("w.text", "w.topic", "t.topic")),
        }.get(view, ("null", "c.last_topic", "null"))
        for cid, started, topic, dest, label, said, person, text in db.execute(
            f"select c.id, c.started_at, {guessed}, c.last_destination, r.topic, {comment}, {chosen}, (select t.text from turns t"
            f" where t.conversation_id = c.id and {first}t.text not like '/%' order by t.id limit 1) from conversations c"
            " left join reviews r on r.kind = 'chat' and r.item_id = c.id"
            f" where c.id in ({', '.join('?' * len(chats))})",
            chats,
        ).fetchall():
            shown[("chat", cid)] = {
                "topic": topic,
                "destination": dest,
                "label": label,
                "excerpt": said or text or "",
                "chosen": person,
                "at": started,
            }
    if calls:
        outcomes = texts.console_section("call_outcomes")
        for sid, node_id, outcome, inputs, label in db.execute(
            "select k.call_sid, k.node, k.outcome, k.inputs, r.topic from calls k left join reviews r on r.kind = 'phone'"
            f" and r.item_id = k.call_sid where k.call_sid in ({', '.join('?' * len(calls))})",
            calls,
        ).fetchall():
            node = tree.nodes.get(node_id or "")
            steps = [i for i in json_list(inputs) if isinstance(i, dict)]
            speech = [i["speech"] for i in steps if i.get("speech")]
            # the words answered wrong, in the view of the corrections
            correction = (corrected_call(steps) if view == "corrige" else None) or {}
            wrong = correction.get("said")
            heard = outcomes.get(outcome, outcome) if outcome else texts.console_say("messages.call_in_progress")
            excerpt = wrong or (speech[0] if speech else texts.console_say("messages.call_excerpt", outcome=heard))
            shown[("phone", sid)] = {
                "topic": correction.get("answered") or (node.topic if node else None),
                "destination": node.destination if node else None,
                "label": label,
                "excerpt": excerpt,
                "chosen": correction.get("chosen"),
            }
    rows = []
    for kind, item_id, ts, status in found:
        row = {"kind": kind, "id": item_id, "ts": ts, "status": status} | shown.get((kind, item_id), {})
        started = row.pop("at", None)  # a conversation never written to since it started: its start
        rows.append(row | {"ts": ts or started or ""})
    return rows
