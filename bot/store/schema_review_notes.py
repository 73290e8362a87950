"""Migration 012 (applied by bot/store/database.py): the agents' notes on unresolved questions, masked.

A note was stored as typed and copied whole into the audit log's `label` line (kept a year, shown on
the admin page). Notes are now masked before they are stored and the audit line only says whether
there was one (bot/services/queue.py label): the rows written before are brought in line.
"""

from __future__ import annotations

import json

from bot.core.masking import mask


def m012_review_notes_masked(db) -> None:
    for kind, item_id, note in db.execute("select kind, item_id, note from reviews where note is not null").fetchall():
        if mask(note) != note:
            db.execute("update reviews set note = ? where kind = ? and item_id = ?", [mask(note), kind, item_id])
    for line_id, detail in db.execute("select id, detail from audit_log where action = 'label'").fetchall():
        try:
            values = json.loads(detail or "{}")
        except json.JSONDecodeError:
            values = {}
        if isinstance(values, dict) and "note" in values:
            values = {k: v for k, v in values.items() if k != "note"} | {"with_note": bool(values["note"])}
            db.execute("update audit_log set detail = ? where id = ?", [json.dumps(values, ensure_ascii=False), line_id])
