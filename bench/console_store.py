"""The store of bench/console_bench.py: bench/report_store.py's synthetic year of a préfecture's traffic,
moved to end two days before the run's week (48 weeks later: the same weekdays), and what a year of agents
and of Rasa adds to it: Rasa's `events` as our server writes them (4 at a session's start, 8 a turn,
about 400 bytes each), reviews of most unresolved items, ticket events and the outbox, voicemails,
contacts on bookings and tickets, 15 agents and their audit log (logins, reviews, answers, the PAN day
views with the references shown). Cached in var/bench/ by size and seed. Not imported by the product.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.report_store import CACHE, YEAR, cached_store

SHIFT_DAYS = 336  # 2025-12-03 .. 2026-12-02: a year ending two days before the audit's run (48 weeks: same weekdays)
AGENTS = [f"agent{i:02d}" for i in range(1, 16)]
TOPICS = ["carte_grise", "permis_conduire", "titre_sejour", "cni_passeport", "hors_perimetre"]
RASA_EVENTS = (
    "create table if not exists events (id integer not null, sender_id varchar(255) not null, type_name varchar(255)"
    " not null, timestamp float, intent_name varchar(255), action_name varchar(255), data text, primary key (id))"
)
# (type_name, intent: the turn's topic, action_name, length of data), as a served chat turn writes them
START = [("slot", 0, "session_started_metadata", 207), ("action", 0, "action_session_start", 257)]
START += [("session_started", 0, None, 153), ("action", 0, "action_listen", 251)]
TURN = [("user", 1, None, 1150), ("user_featurization", 0, None, 193), ("action", 0, "action_route", 256)]
TURN += [("bot", 0, None, 900), ("bot", 0, None, 400), ("slot", 0, "misses", 174), ("followup", 0, "action_listen", 171)]
TURN += [("action", 0, "action_listen", 262)]


def _shift(c: sqlite3.Connection) -> None:
    def moved(col: str, fmt: str = "%Y-%m-%dT%H:%M:%f+00:00") -> str:
        return f"{col} = case when {col} is null then null else strftime('{fmt}', {col}, '+{SHIFT_DAYS} days') end"

    columns = {
        "conversations": ["started_at", "updated_at"],
        "turns": ["ts"],
        "calls": ["started_at", "updated_at", "ended_at"],
        "tickets": ["created_at", "delivered_at", "answered_at"],
        "pan_bookings": ["created_at", "updated_at", "no_show_at"],
        "feedback": ["created_at", "updated_at"],
    }
    for table, cols in columns.items():
        c.execute(f"update {table} set " + ", ".join(moved(col) for col in cols))
    c.execute(f"update tickets set due_date = date(due_date, '+{SHIFT_DAYS} days')")
    for col in ("slot_start", "slot_end"):
        c.execute(f"update pan_bookings set {moved(col, '%Y-%m-%dT%H:%M')}")
    for table, prefix in (("tickets", "MSG"), ("pan_bookings", "PAN")):  # as the product draws them: MSG-1234-5678
        c.execute(f"update {table} set reference = '{prefix}-' || substr(reference, 5, 4) || '-' || substr(reference, 9, 4)")
    c.execute(
        "update pan_bookings set contact = '06 ' || substr('00' || (id % 100), -2) || ' 12 34 ' || substr('00' || (id % 97), -2),"
        " contact_key = lower(hex(randomblob(32)))"
    )
    c.execute("update tickets set contact_email = 'personne' || id || '@exemple.fr' where channel = 'web' and id % 10 < 7")


def _reviews(c: sqlite3.Connection, rng: random.Random, audit: list) -> None:
    """Most unresolved items reviewed by an agent within four days, each with its audit line."""
    rows = []
    for kind, sql, share in (
        ("chat", "select id, updated_at from conversations where status = 'unresolved'", 0.7),
        ("phone", "select call_sid, started_at from calls where unresolved = 1", 0.5),
    ):
        for item, at in c.execute(sql).fetchall():
            if rng.random() < share:
                when = (datetime.fromisoformat(at) + timedelta(hours=rng.randrange(2, 96))).isoformat(timespec="milliseconds")
                teach = kind == "chat" and rng.random() < 0.2
                example = c.execute(
                    "select text from turns where conversation_id = ? and resolved = 0 order by id limit 1", [item]
                ).fetchone()
                agent, topic = rng.choice(AGENTS), rng.choice(TOPICS)
                rows.append([kind, item, "done", topic, example[0] if example and teach else None, int(teach), None, agent, when])
                detail = {"status": "done", "topic": topic, "as_training": int(teach), "with_note": False}
                audit.append([when, agent, "label", kind, item, json.dumps(detail)])
    c.executemany(
        "insert into reviews (kind, item_id, status, topic, example, as_training, note, reviewer, updated_at)"
        " values (?,?,?,?,?,?,?,?,?)",
        rows,
    )


def _corrections(c: sqlite3.Connection, rng: random.Random) -> None:
    """One answer to a person's words in fifty corrected by the person's next turn (the topic chosen among
    its alternatives: `turns.corrects`, migration 015), when the store has the column."""
    if "corrects" not in {row[1] for row in c.execute("pragma table_info(turns)")}:
        return
    answered = c.execute(
        "select t.id, (select n.id from turns n where n.conversation_id = t.conversation_id and n.id > t.id order by n.id"
        " limit 1) from turns t where t.action = 'answer' and t.text not like '/%' order by t.id"
    ).fetchall()
    c.executemany("update turns set corrects = ? where id = ?", [(a, n) for a, n in answered if n and rng.random() < 0.02])


def _tickets(c: sqlite3.Connection, rng: random.Random, audit: list) -> None:
    """Each message's history and e-mails; an answered one by a reply (an address given) or a note."""
    events, outbox = [], []
    sent = ["sent", 1, None]
    for tid, ref, created, status, answered, email, box in c.execute(
        "select id, reference, created_at, status, answered_at, contact_email, mailbox from tickets"
    ).fetchall():
        events.append([tid, created, "created", None, None, json.dumps({"mailbox": box})])
        outbox.append(["ticket", tid, None, *sent, created, created, created])
        if email:
            outbox.append(["ticket_ack", tid, None, *sent, created, created, created])
        if status == "answered" and answered:
            agent = rng.choice(AGENTS)
            if email:
                outbox.append(["ticket_reply", tid, None, *sent, answered, answered, answered])
                events.append([tid, answered, "reply", agent, "Bonjour, voici la réponse du service. " * 6, "{}"])
                audit.append([answered, agent, "ticket_reply", "ticket", ref, json.dumps({"mailbox": box, "characters": 230})])
                audit.append([answered, agent, "contact_viewed", "ticket", ref, json.dumps({"mailbox": box})])
            else:
                audit.append([answered, agent, "ticket_answered", "ticket", ref, json.dumps({"mailbox": box})])
            events.append([tid, answered, "answered", agent, None if email else "Répondu par téléphone.", "{}"])
    for bid, created in c.execute("select id, created_at from pan_bookings").fetchall():
        outbox.append(["booking_confirmation", None, bid, *sent, created, created, created])
    c.executemany("insert into ticket_events (ticket_id, ts, kind, agent, body, detail) values (?,?,?,?,?,?)", events)
    c.executemany(
        "insert into outbox (kind, ticket_id, booking_id, status, attempts, last_error, created_at, updated_at, sent_at)"
        " values (?,?,?,?,?,?,?,?,?)",
        outbox,
    )
    c.execute(
        "insert into voicemails (call_sid, recording_sid, mailbox, service, path, caller, recording_url, duration_s,"
        " transcription, transcription_status, created_at, updated_at, status) select call_sid, 'RE' || substr(call_sid, 3),"
        " 'courrier', 'service', '[]', caller, 'https://api.twilio.com/rec/RE' || substr(call_sid, 3), 40,"
        " 'bonjour je vous appelle au sujet de mon dossier', 'completed', ended_at, ended_at, 'transcribed'"
        " from calls where outcome = 'voicemail'"
    )


def _days(c: sqlite3.Connection, rng: random.Random, audit: list) -> None:
    """Each working day: 10 agents sign in and out; each site's day of appointments is opened 4 times
    (the references shown logged); now and then an indicators CSV."""
    shown: dict[tuple[str, str], list[str]] = {}
    for ref, site, slot in c.execute("select reference, site, slot_start from pan_bookings where status != 'cancelled'"):
        shown.setdefault((slot[:10], site), []).append(ref)
    sites = sorted({site for _, site in shown})
    first, last = (
        date.fromisoformat(v[:10]) for v in c.execute("select min(started_at), max(started_at) from conversations").fetchone()
    )
    day = first
    while day <= last:
        if day.weekday() < 5:
            for agent in rng.sample(AGENTS, 10):
                at = datetime(day.year, day.month, day.day, 7, rng.randrange(60), tzinfo=UTC)
                audit.append([at.isoformat(timespec="milliseconds"), agent, "login", "agent", agent, "{}"])
                audit.append(
                    [(at + timedelta(hours=8)).isoformat(timespec="milliseconds"), agent, "logout", "agent", agent, "{}"]
                )
            for site in sites:
                refs = shown.get((day.isoformat(), site), [])
                for k in range(4 if refs else 0):
                    at = datetime(day.year, day.month, day.day, 8 + 2 * k, rng.randrange(60), tzinfo=UTC)
                    detail = json.dumps({"site": site, "bookings": refs})
                    audit.append(
                        [
                            at.isoformat(timespec="milliseconds"),
                            rng.choice(AGENTS),
                            "contact_viewed",
                            "pan",
                            day.isoformat(),
                            detail,
                        ]
                    )
        day += timedelta(days=1)


def _events(c: sqlite3.Connection) -> None:
    """Rasa's events of every turn, in one insert (about 4 million rows for 150,000 conversations)."""
    c.execute(RASA_EVENTS)
    c.execute("create index if not exists ix_events_sender_id on events (sender_id)")
    c.execute("create index if not exists ix_events_sender_type_name on events (sender_id, type_name, action_name, id)")
    pad = "x" * 1200

    def rows():
        current = None
        for cid, ts, topic in c.execute("select conversation_id, ts, topic from turns order by conversation_id, id").fetchall():
            epoch = datetime.fromisoformat(ts).timestamp()
            if cid != current:
                current = cid
                for k, (name, _, action, size) in enumerate(START):
                    yield cid, name, epoch - 0.01 + k * 1e-5, None, action, f'{{"event": "{name}", "p": "{pad[: size - 30]}"}}'
            for k, (name, intent, action, size) in enumerate(TURN):
                data = f'{{"event": "{name}", "p": "{pad[: size - 30]}"}}'
                yield cid, name, epoch + k * 1e-4, topic if intent else None, action, data

    c.executemany(
        "insert into events (sender_id, type_name, timestamp, intent_name, action_name, data) values (?,?,?,?,?,?)", rows()
    )


def build(source: Path, db: Path, seed: int = 7) -> dict:
    """`source` (bench/report_store.py's) copied to `db` and completed; the row count of each table."""
    shutil.copy(source, db)
    rng = random.Random(f"console-bench:{seed}")
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("pragma journal_mode = wal")
    c.execute("pragma synchronous = off")
    c.execute("begin")
    _shift(c)
    c.executemany(
        "insert or ignore into agents (name, role, password_hash, active, created_at) values (?, 'agent', 'x', 1, ?)",
        [[a, f"{YEAR}-12-01T08:00:00.000+00:00"] for a in AGENTS],
    )
    audit: list = []
    _reviews(c, rng, audit)
    _tickets(c, rng, audit)
    _days(c, rng, audit)
    c.executemany("insert into audit_log (ts, agent, action, kind, item_id, detail) values (?,?,?,?,?,?)", sorted(audit))
    _corrections(c, rng)
    _events(c)
    c.execute("commit")
    c.execute("analyze")
    c.execute("pragma wal_checkpoint(truncate)")
    tables = ("conversations", "turns", "calls", "tickets", "pan_bookings", "reviews", "audit_log", "outbox", "events")
    counts = {t: c.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}
    c.close()
    return counts


def console_store(conversations: int, calls: int, seed: int = 1) -> tuple[Path, dict]:
    """The completed store of that size, built once (var/bench/console-*.db): (path, row counts)."""
    source, _, _ = cached_store(conversations, calls, seed)
    db = CACHE / f"console-{source.stem}.db"
    meta = db.with_suffix(".json")
    if db.exists() and meta.exists():
        return db, json.loads(meta.read_text())
    tmp = db.with_suffix(".tmp.db")
    counts = build(source, tmp)
    tmp.replace(db)
    meta.write_text(json.dumps(counts))
    return db, counts
