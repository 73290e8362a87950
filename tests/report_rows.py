"""Known rows for the committee report and the console's indicators page (March 2024, Cantal).

March 2024 (31 days) has as previous period 30/01/2024 – 29/02/2024. Expected figures:
  chat: 4 conversations (a 5th is demo data), 1 before: « +300,0 % »; 1 unresolved (titre de séjour)
  phone: 4 ended calls, 3 reached: « 75,0 % » (target « > 90,0 % », not met); before 1 of 2: « 50,0 % »
  top questions: « Carte grise perdue » 4 times (case, accents and punctuation folded), an e-mail masked.
"""

from __future__ import annotations

import json
from datetime import date

START, END = date(2024, 3, 1), date(2024, 3, 31)
PAYLOAD = '/navigate{"node":"carte_grise"}'

CONVERSATIONS = [
    # id, started, status, last_topic, demo, turns (text, topic, destination, resolved)
    (
        "rep-c1",
        "2024-03-04T09:15:00.000+00:00",
        "open",
        "carte_grise",
        0,
        [("Carte grise perdue", "carte_grise", "ants_3400", 1), (PAYLOAD, "carte_grise", "ants_3400", 1)],
    ),
    (
        "rep-c2",
        "2024-03-05T10:00:00.000+00:00",
        "open",
        "carte_grise",
        0,
        [
            ("carte grise perdue !", "carte_grise", "ants_3400", 1),
            ("Mon e-mail : jean.dupont@example.fr", "carte_grise", "ants_3400", 1),
        ],
    ),
    (
        "rep-c3",
        "2024-03-06T14:30:00.000+00:00",
        "unresolved",
        "titre_sejour",
        0,
        [("CARTE GRISÉ PERDUE", "carte_grise", "ants_3400", 1), ("zorglub titre", "titre_sejour", None, 0)],
    ),
    (
        "rep-c4",
        "2024-03-07T08:05:00.000+00:00",
        "open",
        "titre_sejour",
        0,
        [("Carte grise perdue", "carte_grise", "ants_3400", 1), ("titre de séjour", "titre_sejour", "ccc_0806", 1)],
    ),
    (
        "rep-c5",
        "2024-03-08T08:05:00.000+00:00",
        "open",
        "carte_grise",
        1,
        [("question de démonstration", "carte_grise", "ants_3400", 1)],
    ),
    ("rep-c0", "2024-02-10T08:05:00.000+00:00", "open", "horaires_contact", 0, [("horaires", "horaires_contact", "info", 1)]),
]
CALLS = [
    # sid, started, outcome, unresolved, node
    ("REPk1", "2024-03-04T09:00:00.000+00:00", "answered", 0, "carte_grise"),
    ("REPk2", "2024-03-05T09:00:00.000+00:00", "answered", 0, "carte_grise"),
    ("REPk3", "2024-03-06T09:00:00.000+00:00", "transferred", 0, "carte_grise"),
    ("REPk4", "2024-03-07T09:00:00.000+00:00", "abandoned", 1, None),
    ("REPk5", "2024-02-12T09:00:00.000+00:00", "answered", 0, "carte_grise"),
    ("REPk6", "2024-02-13T09:00:00.000+00:00", "abandoned", 0, None),
]


def fill(store) -> None:
    db = store.db
    with db.conn:
        for cid, started, status, topic, demo, turns in CONVERSATIONS:
            db["conversations"].insert(
                {
                    "id": cid,
                    "channel": "web",
                    "prefecture": "cantal",
                    "started_at": started,
                    "updated_at": started,
                    "turns": len(turns),
                    "misses": 0,
                    "last_topic": topic,
                    "last_destination": None,
                    "status": status,
                    "demo": demo,
                }
            )
            for text, t, dest, resolved in turns:
                db["turns"].insert(
                    {
                        "conversation_id": cid,
                        "ts": started,
                        "channel": "web",
                        "text": text,
                        "topic": t,
                        "confidence": 0.9,
                        "destination": dest,
                        "node": t,
                        "action": "answer" if resolved else "fallback",
                        "resolved": resolved,
                    }
                )
        for sid, started, outcome, unresolved, node in CALLS:
            db["calls"].insert(
                {
                    "call_sid": sid,
                    "prefecture": "cantal",
                    "caller": "[téléphone]",
                    "started_at": started,
                    "updated_at": started,
                    "ended_at": started,
                    "node": node,
                    "path": json.dumps([node] if node else []),
                    "inputs": "[]",
                    "outcome": outcome,
                    "unresolved": unresolved,
                    "duration_s": 60,
                    "demo": 0,
                }
            )
