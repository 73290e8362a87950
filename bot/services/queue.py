"""The queue of unresolved items (chat conversations and phone calls), transcripts and reviews.

An item is an unresolved chat conversation (`conversations.status = 'unresolved'`: its last turn
got no answer of the tree) or an unresolved phone call (`calls.unresolved = 1`): the one definition
of "non résolu" (bot/store/database.py), shared with the indicators and the report. Its review state lives in `reviews` (no row = "new");
every action of an agent is appended to `audit_log`.
"""

from __future__ import annotations

import json

from bot.core import config
from bot.core.masking import mask
from bot.core.tree import REVIEW_LABELS, SOCIAL_INTENTS, Tree
from bot.services.queue_list import KINDS, STATUSES, Filters, corrected, corrected_call, json_list, listing  # noqa: F401 - re-exported
from bot.store.database import Store, lock_key, now


class NotFound(LookupError):
    pass


class ReviewConflict(Exception):
    """Another review of the item was saved after the page the agent saved from was shown."""

    def __init__(self, current: dict):
        super().__init__(current.get("reviewer"))
        self.current = current


def _node_info(tree: Tree, node_id: str | None) -> tuple[str | None, str | None, str | None]:
    node = tree.nodes.get(node_id or "")
    return (node.topic, node.destination, node.title) if node else (None, None, None)


def shown_reply(tree: Tree, turn: dict) -> dict:
    """What the person saw in answer to a chat turn: {"texts", "buttons", "links"} as recorded
    (turns.reply), or, for a turn recorded before replies were kept, the title of the node given."""
    try:
        reply = json.loads(turn.get("reply") or "null")
    except (TypeError, json.JSONDecodeError):
        reply = None
    if isinstance(reply, dict):
        return {
            "texts": [t for t in reply.get("texts") or [] if isinstance(t, str)],
            "buttons": [b for b in reply.get("buttons") or [] if isinstance(b, str)],
            "links": [l for l in reply.get("links") or [] if isinstance(l, dict) and l.get("url")],
            "recorded": True,
        }
    title = _node_info(tree, turn.get("node"))[2]
    return {"texts": [], "buttons": [], "links": [], "recorded": False, "node_title": title}


def clicked_button(tree: Tree, text: str) -> str | None:
    """The title of the button a chat turn was a click on (its payload '/navigate{"node": …}'), else None."""
    if not text.startswith("/"):
        return None
    node = tree.button_target(text)
    return (node.title if node else None) or "un bouton"


def heard(tree: Tree, pref, node_id: str) -> str:
    """What a caller heard at a step of the phone menu: the menu's question and its options, or the
    node's spoken answer (bot/tree.yml `phone` and `voice`, with the préfecture's values)."""
    from bot.core.tree import render

    phone = tree.phone or {}
    groups = phone.get("groups") or {}
    labels = phone.get("labels") or {}
    spec = phone.get("menu") if node_id == "root" else groups.get(node_id)
    node = tree.nodes.get(node_id)
    if spec is None or (node is not None and not spec.get("options")):
        return render(node.voice, pref) if node is not None and pref is not None else ""
    parts = [spec.get("voice") or ""]
    template = phone.get("option") or "{label} : {key}."
    for key, option in (spec.get("options") or {}).items():
        label = labels.get(option) or (tree.nodes[option].label if option in tree.nodes else option)
        parts.append(render(template, pref, {"label": label, "key": key}) if pref is not None else f"{label} : {key}.")
    text = " ".join(p for p in parts if p)
    return render(text, pref) if pref is not None else text


class Queue:
    def __init__(self, store: Store, tree: Tree, pref=None):
        self.store = store
        self.db = store.db
        self.tree = tree
        self.pref = pref  # to say the phone menu's texts with the préfecture's values (item pages)

    # ---- listing ----------------------------------------------------------------------------
    def page(self, f: Filters, per_page: int | None = None) -> dict:
        """A page of the queue (bot/services/queue_list.py): `console.queue_per_page` items unless given."""
        size = per_page or int((self.pref or config.current()).get("console.queue_per_page"))
        return listing(self.db, self.tree, f, size)

    def _rating(self, kind: str, item_id: str) -> dict | None:
        """The public's rating of the item's answer ({useful, comment}: masked when written), or None."""
        row = self.db.execute("select useful, comment from feedback where kind = ? and item_id = ?", [kind, item_id]).fetchone()
        return {"useful": row[0], "comment": row[1]} if row else None

    # ---- one item ---------------------------------------------------------------------------
    def item(self, kind: str, item_id: str) -> dict:
        if kind == "chat":
            rows = list(self.db["conversations"].rows_where("id = ?", [item_id]))
            if not rows:
                raise NotFound(item_id)
            conv = rows[0]
            turns = list(self.db["turns"].rows_where("conversation_id = ?", [item_id], order_by="id"))
            for t in turns:
                t["shown"] = shown_reply(self.tree, t)
                t["clicked"] = clicked_button(self.tree, t.get("text") or "")
            # The last question's: not the "merci" or "bonjour" after it (its status follows it too).
            last = next(
                (t for t in reversed(turns) if t["topic"] and t["topic"] not in SOCIAL_INTENTS), turns[-1] if turns else {}
            )
            sentences = [t["text"] for t in turns if t["text"] and not t["text"].startswith("/")]
            # The sentence offered to teach: the last one left unanswered (the need is told after the
            # context and the greeting), else the first.
            last_unresolved = next(
                (t["text"] for t in reversed(turns) if not t["resolved"] and t["text"] and not t["text"].startswith("/")),
                sentences[0] if sentences else "",
            )
            correction = corrected(turns)
            item = {
                "kind": kind,
                "id": item_id,
                "started_at": conv["started_at"],
                "ts": conv["updated_at"],
                "topic": conv["last_topic"],
                "destination": conv["last_destination"],
                "confidence": last.get("confidence"),
                "turns": turns,
                "sentences": sentences,
                "default_example": correction["said"] if correction else last_unresolved,
                "correction": correction,
                "conversation_status": conv["status"],
                "rating": self._rating("chat", item_id),
            }
        elif kind == "phone":
            if "calls" not in self.db.table_names():
                raise NotFound(item_id)
            rows = list(self.db["calls"].rows_where("call_sid = ?", [item_id]))
            if not rows:
                raise NotFound(item_id)
            call = rows[0]
            topic, dest, _ = _node_info(self.tree, call["node"])
            labels = (self.tree.phone or {}).get("labels") or {}
            path = [
                {"id": n, "title": _node_info(self.tree, n)[2] or labels.get(n) or n, "heard": heard(self.tree, self.pref, n)}
                for n in json_list(call["path"])
            ]
            inputs = [i for i in json_list(call["inputs"]) if isinstance(i, dict)]
            sentences = [i["speech"] for i in inputs if i.get("speech")]
            correction = corrected_call(inputs)
            item = {
                "kind": kind,
                "id": item_id,
                "started_at": call["started_at"],
                "ts": call["started_at"],
                "topic": topic,
                "destination": dest,
                "confidence": call["confidence"],
                "path": path,
                "inputs": inputs,
                "outcome": call["outcome"],
                "duration_s": call["duration_s"],
                "caller": call["caller"],
                "sentences": sentences,
                "default_example": (correction or {}).get("said") or (sentences[0] if sentences else ""),
                "correction": correction,
                "rating": self._rating("phone", item_id),
            }
            if "voicemails" in self.db.table_names():
                item["voicemails"] = list(self.db["voicemails"].rows_where("call_sid = ?", [item_id], order_by="id"))
        else:
            raise NotFound(kind)
        item["review"] = self.review(kind, item_id)
        item["audit"] = list(self.db["audit_log"].rows_where("kind = ? and item_id = ?", [kind, item_id], order_by="id"))
        return item

    def review(self, kind: str, item_id: str) -> dict | None:
        rows = list(self.db["reviews"].rows_where("kind = ? and item_id = ?", [kind, item_id]))
        return rows[0] if rows else None

    def label(
        self,
        kind: str,
        item_id: str,
        agent: str,
        topic: str,
        status: str,
        note: str,
        as_training: bool,
        example: str,
        seen: str | None = None,
        person_choice: bool = False,
        item: dict | None = None,
    ) -> dict:
        """Save the review of an item and log it. Values must be validated by the caller. The note is
        masked before it is stored (an agent may write a name or a number in it), and the audit line
        says whether there is one, never its text. `seen`: the review's `updated_at` when the page was
        shown ("-": none yet); another review saved since raises ReviewConflict (nothing written).
        `person_choice`: the topic and the example are the person's correction, learned without the item's
        page (« Apprendre les choix cochés »): the audit line says so. `item`: the item, when the caller read it."""
        item = item or self.item(kind, item_id)  # NotFound for an unknown id
        if example and example not in item["sentences"]:
            raise ValueError("example")
        note = mask(note) if note else note
        row = {
            "kind": kind,
            "item_id": item_id,
            "status": status,
            "topic": topic or None,
            "example": example or None,
            "as_training": int(bool(as_training and example and topic)),
            "note": note or None,
            "reviewer": agent,
            "updated_at": now(),
        }
        # The review and its audit line: both or neither; other items' reviews are written beside it.
        with self.store.transaction(lock_key("review", kind, item_id)):
            current = self.review(kind, item_id)
            if seen is not None and ((current or {}).get("updated_at") or "-") != seen:
                raise ReviewConflict(current or {})
            self.db["reviews"].upsert(row, pk=("kind", "item_id"))
            detail = {k: row[k] for k in ("status", "topic", "as_training")} | {"with_note": bool(note)}
            if person_choice:
                detail["person_choice"] = True
            self.audit(agent, "label", kind, item_id, detail)
        return row

    def learn_choices(self, agent: str, items: list[tuple[str, str]]) -> tuple[int, int]:
        """« Apprendre les choix cochés » (the view of the answers the person corrected): each item gets the
        review an agent would give it from its page: treated, the topic the person chose, the words
        answered wrong to learn. Left as they are: an item already reviewed (its agent's review stands),
        one with no correction left (none, or its words purged), one unknown. (learned, left)."""
        learned = 0
        for kind, item_id in items:
            try:
                item = self.item(kind, item_id)
            except NotFound:
                continue
            correction = item["correction"] or {}
            if item["review"] or not correction.get("said") or correction.get("chosen") not in REVIEW_LABELS:
                continue
            try:
                self.label(kind, item_id, agent, correction["chosen"], "done", "", True, correction["said"], "-", True, item)
            except ReviewConflict:  # another agent's review saved meanwhile: theirs stands
                continue
            learned += 1
        return learned, len(items) - learned

    def audit(
        self,
        agent: str,
        action: str,
        kind: str | None = None,
        item_id: str | None = None,
        detail: dict | None = None,
    ) -> None:
        """One line of the audit log; inside an open transaction (the change it records), a part of it."""
        entry = {
            "ts": now(),
            "agent": agent,
            "action": action,
            "kind": kind,
            "item_id": item_id,
            "detail": json.dumps(detail or {}, ensure_ascii=False),
        }
        # One insert: atomic alone, and a part of the caller's transaction when one is open (no
        # transaction of its own, so none nested unkeyed in a keyed one: docs/store.md).
        self.db["audit_log"].insert(entry)

    def audit_log(self, limit: int = 100) -> list[dict]:
        return list(
            self.db.execute(
                "select ts, agent, action, kind, item_id, detail from audit_log order by id desc limit ?", [limit]
            ).fetchall()
        )
