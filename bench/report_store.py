"""The synthetic year of bench/report_bench.py: one calendar year (YEAR) of a préfecture's traffic written
directly with bulk SQL (executemany in one transaction; load data, not demo sessions, so every row has
demo = 0): conversations of ~3 turns with a topic mix taken from the routing tree, calls walking the
tree's menu (keypad and speech, answered, transferred, voicemail, abandoned), tickets, PAN bookings and
ratings in proportion, with a weekday/hour profile (tools.demo_data's). Cached in var/bench/ under a
name keyed by size, seed and generator version. Not imported by the product.
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CACHE = ROOT / "var" / "bench"
PARIS = ZoneInfo("Europe/Paris")
YEAR = 2025
PREFECTURE = "vienne"  # the préfecture whose 2020 figure (109 016 calls) sets the size
GENERATOR_VERSION = 3  # change when build_store writes different rows: the cache key changes with it
REASONS = ["carte_grise", "carte_grise", "carte_grise", "permis_conduire", "permis_conduire", "titre_sejour", "autre"]
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="fr-FR">' + "x" * 300 + "</Say></Response>"
INSERTS = {
    "conversations": "insert into conversations (id, channel, prefecture, started_at, updated_at, turns, misses,"
    " last_topic, last_destination, status, demo) values (?,?,?,?,?,?,?,?,?,?,?)",
    "turns": "insert into turns (conversation_id, ts, channel, text, topic, confidence, destination, node,"
    " action, resolved) values (?,?,?,?,?,?,?,?,?,?)",
    "calls": "insert into calls (call_sid, prefecture, caller, started_at, updated_at, ended_at, state, node,"
    " step, retries, misses, path, inputs, confidence, outcome, call_status, duration_s, unresolved,"
    " flow, last_twiml, demo) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "tickets": "insert into tickets (reference, prefecture, mailbox, service, service_email, origin, channel,"
    " subject, body, contact_email, created_at, due_date, status, delivery_status,"
    " delivery_attempts, delivered_at, answered_at, answer_seconds, answer_working_days, demo)"
    " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "pan_bookings": "insert into pan_bookings (reference, token, prefecture, site, slot_start, slot_end, seat, reason,"
    " channel, contact_kind, contact, status, created_at, updated_at, no_show_at, demo)"
    " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "feedback": "insert or ignore into feedback (kind, item_id, prefecture, useful, comment, topic, destination,"
    " created_at, updated_at, demo) values (?,?,?,?,?,?,?,?,?,?)",
}


def _tree_routes() -> tuple[dict, dict]:
    """topic -> (node, destination) of its first leaf, and node -> path from the root (menu keys)."""
    import yaml

    from bot.core import tree as tree_mod

    raw = yaml.safe_load(tree_mod.TREE_FILE.read_text(encoding="utf-8"))
    nodes = raw["nodes"]
    parent = {}
    for nid, node in nodes.items():
        for child in node.get("children") or []:
            parent[child] = nid
    paths = {}
    for nid in nodes:
        chain, cur = [nid], nid
        while cur in parent:
            cur = parent[cur]
            chain.append(cur)
        paths[nid] = ["root"] + list(reversed(chain))
    topics = {}
    for nid, node in nodes.items():
        if node.get("topic") and node.get("destination") and node["topic"] not in topics:
            topics[node["topic"]] = (nid, node["destination"], node.get("mailbox"))
    return topics, {"paths": paths, "nodes": nodes}


def _moments(rng: random.Random, n: int, year: int, hours: list[float]) -> list[datetime]:
    """n aware UTC moments of `year` following the weekday/hour profile, in time order."""
    from tools.demo_data import WEEKDAY_WEIGHTS

    first = date(year, 1, 1)
    days = [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]
    picked_days = rng.choices(days, [WEEKDAY_WEIGHTS[d.weekday()] for d in days], k=n)
    picked_hours = rng.choices(range(24), hours, k=n)
    out = [
        datetime(d.year, d.month, d.day, h, rng.randrange(60), rng.randrange(60), tzinfo=PARIS).astimezone(UTC)
        for d, h in zip(picked_days, picked_hours)
    ]
    return sorted(out)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


class Year:
    """The rows of the synthetic year, drawn from one seeded random generator (the order of the draws
    is the generator: keep it when changing this class, or bump GENERATOR_VERSION)."""

    def __init__(self, pref, seed: int):
        from tools.demo_data import PHRASES, TOPIC_WEIGHTS

        self.pref = pref
        self.rng = random.Random(f"report-bench:{seed}")
        self.seed = seed
        self.topics, self.tree = _tree_routes()
        self.topic_names, self.topic_weights = list(TOPIC_WEIGHTS), list(TOPIC_WEIGHTS.values())
        self.mailboxes = pref.get("mailboxes")
        self.sites = [s["id"] for s in pref.get("pan.sites")]
        self.due_cache: dict[tuple[date, str], str] = {}
        # People rarely type the same sentence twice: most texts get a few words of their own context, so
        # that the report's grouping of questions works on (nearly) as many distinct texts as turns.
        self.vocab = sorted({w.strip("?,.'!") for texts in PHRASES.values() for t in texts for w in t.split() if len(w) > 3})
        self.rows: dict[str, list] = {table: [] for table in INSERTS}
        self.seq = 0

    def due(self, day: date, origin: str) -> str:
        from bot.services import tickets as tickets_mod

        key = (day, origin)
        if key not in self.due_cache:
            self.due_cache[key] = tickets_mod.due_date(self.pref, day, origin).isoformat()
        return self.due_cache[key]

    def spelled(self, text: str) -> str:
        from tools.demo_data import fold

        rng = self.rng
        if rng.random() < 0.7:
            text = f"{text} {' '.join(rng.choices(self.vocab, k=rng.randrange(2, 5)))}"
        roll = rng.random()
        return fold(text) if roll < 0.2 else (text.lower() if roll < 0.3 else text)

    def ticket(self, created: datetime, origin: str, channel: str, box: str) -> None:
        from bot.services import tickets as tickets_mod

        rng = self.rng
        self.seq += 1
        answered = rng.random() < 0.8
        day = created.astimezone(PARIS).date()
        wd = rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8]) if answered else None
        answered_at = None
        if answered:
            a = tickets_mod.add_working_days(day, wd) if wd else day
            answered_at = datetime(a.year, a.month, a.day, rng.randrange(9, 17), rng.randrange(60), tzinfo=PARIS)
        mb = self.mailboxes[box]
        self.rows["tickets"].append(
            [f"MSG-{self.seq:08d}", self.pref.id, box, mb["service"], mb["email"], origin, channel, "Objet du message"]
            + ["Texte du message (masqué).", None, _iso(created), self.due(day, "paper" if origin == "paper" else "email")]
            + ["answered" if answered else "open", "sent", 1, _iso(created + timedelta(seconds=3))]
            + [_iso(answered_at) if answered_at else None, int((answered_at - created).total_seconds()) if answered_at else None]
            + [wd, 0]
        )

    def _turns(self, topic: str, dest, node) -> tuple[list[tuple], bool]:
        from tools.demo_data import GREETINGS, NOT_UNDERSTOOD, PHRASES, THANKS

        rng, turns = self.rng, []
        if rng.random() < 0.55:
            turns.append((rng.choice(GREETINGS), "greet", None, None, "answer", 1, 0.97))
        unresolved = rng.random() < 0.07
        if unresolved:
            turns.append((rng.choice(NOT_UNDERSTOOD), "hors_perimetre", None, None, "clarify", 0, 0.31))
            turns.append((rng.choice(NOT_UNDERSTOOD), "hors_perimetre", None, None, "fallback", 0, 0.12))
        else:
            turns.append(
                (self.spelled(rng.choice(PHRASES[topic])), topic, dest, node, "answer", 1, round(rng.uniform(0.6, 1.0), 4))
            )
            if rng.random() < 0.45:
                t2 = rng.choices(self.topic_names, self.topic_weights)[0]
                n2, d2, _ = self.topics[t2]
                turns.append((self.spelled(rng.choice(PHRASES[t2])), t2, d2, n2, "answer", 1, round(rng.uniform(0.6, 1), 4)))
        if rng.random() < 0.8:
            turns.append((rng.choice(THANKS), "thanks", None, None, "answer", 1, 0.95))
        return turns, unresolved

    def conversation(self, i: int, start: datetime) -> None:
        rng = self.rng
        cid = f"web-bench{i:07d}"
        topic = rng.choices(self.topic_names, self.topic_weights)[0]
        node, dest, box = self.topics[topic]
        turns, unresolved = self._turns(topic, dest, node)
        t = start
        for text, tp, d, nd, action, resolved, conf in turns:
            self.rows["turns"].append([cid, _iso(t), "web", text, tp, conf, d, nd, action, resolved])
            t += timedelta(seconds=rng.randrange(8, 90))
        last_topic = next((x[1] for x in reversed(turns) if x[2]), turns[-1][1])
        last_dest = next((x[2] for x in reversed(turns) if x[2]), None)
        self.rows["conversations"].append(
            [cid, "web", self.pref.id, _iso(start), _iso(t), len(turns), 2 if unresolved else 0]
            + [last_topic, last_dest, "unresolved" if unresolved else "open", 0]
        )
        if rng.random() < 0.12:
            self.rows["feedback"].append(
                ["chat", cid, self.pref.id, int(rng.random() < 0.78), None, last_topic, last_dest, _iso(t), _iso(t), 0]
            )
        if dest == "mailbox" and rng.random() < 0.3:
            self.ticket(t + timedelta(minutes=3), "email", "web", box or "courrier")
        if topic == "rdv_pan" or (dest == "ants_3400" and rng.random() < 0.02):
            self._booking(t)

    def _booking(self, t: datetime) -> None:
        rng = self.rng
        booked = (t + timedelta(days=rng.randrange(1, 21))).astimezone(PARIS)
        slot = booked.replace(hour=rng.choice([9, 10, 11]), minute=rng.choice([0, 30]), second=0, microsecond=0)
        self.seq += 1
        status = rng.choices(["booked", "no_show", "cancelled"], [85, 9, 6])[0]
        self.rows["pan_bookings"].append(
            [f"PAN-{self.seq:08d}", "token", self.pref.id, rng.choice(self.sites), slot.strftime("%Y-%m-%dT%H:%M")]
            + [(slot + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"), self.seq, rng.choice(REASONS), "web", "mobile"]
            + [None, status, _iso(t), _iso(t), _iso(slot) if status == "no_show" else None, 0]
        )

    def call(self, i: int, start: datetime) -> None:
        from tools.demo_data import SPEECH

        rng = self.rng
        sid = f"CA{self.seed:04d}{i:028d}"
        topic = rng.choices(self.topic_names, self.topic_weights)[0]
        node, dest, box = self.topics[topic]
        path = self.tree["paths"].get(node, ["root", node])
        outcome = rng.choices(["answered", "transferred", "voicemail", "abandoned"], [58, 13, 8, 21])[0]
        inputs = []
        if rng.random() < 0.3 and outcome != "abandoned":
            t_s = rng.choice(list(SPEECH))
            inputs.append(
                {"step": 1, "speech": rng.choice(SPEECH[t_s]), "asr": 0.8, "topic": t_s, "confidence": 0.9, "node": node}
            )
            path = ["root", node]
        else:
            inputs += [{"step": k + 1, "digits": str(self.tree["nodes"][n].get("key", 1))} for k, n in enumerate(path[1:])]
        if outcome == "abandoned":
            cut = rng.randrange(1, max(2, len(path)))
            path, inputs = path[:cut], inputs[: cut - 1]
        duration = rng.randrange(15, 400)
        end = start + timedelta(seconds=duration)
        unresolved = int(outcome == "abandoned" or rng.random() < 0.04)
        self.rows["calls"].append(
            [sid, self.pref.id, "+33 6 •• •• •• ••", _iso(start), _iso(end), _iso(end), "ended", path[-1], len(inputs), 0, 0]
            + [json.dumps(path), json.dumps(inputs, ensure_ascii=False), 0.9 if any("speech" in x for x in inputs) else None]
            + [outcome, "completed", duration, unresolved, "{}", TWIML, 0]
        )
        if outcome == "voicemail":
            self.ticket(end, "phone", "phone", box or "courrier")
        if rng.random() < 0.06:
            self.rows["feedback"].append(
                ["phone", sid, self.pref.id, int(rng.random() < 0.72), None, topic, dest, _iso(end), _iso(end), 0]
            )


def build_store(
    db: Path, conversations: int, calls: int, seed: int = 1, year: int = YEAR, prefecture: str = PREFECTURE, progress=None
) -> dict:
    """Write the synthetic year into a new SQLite file `db`; returns the row count of each table."""
    from bot.core import config as config_mod
    from bot.store.database import Store
    from tools.demo_data import HOUR_WEIGHTS, PHONE_HOURS

    if db.exists():
        db.unlink()
    Store(db).close()  # every table and index, by the product's own migrations
    gen = Year(config_mod.load_prefecture(prefecture), seed)
    for i, start in enumerate(_moments(gen.rng, conversations, year, HOUR_WEIGHTS)):
        gen.conversation(i, start)
        if progress is not None and i % 5000 == 0:
            progress.update(min(5000, conversations - i))
    for i, start in enumerate(_moments(gen.rng, calls, year, PHONE_HOURS)):
        gen.call(i, start)
        if progress is not None and i % 5000 == 0:
            progress.update(min(5000, calls - i))
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    for table in ("conversations", "turns", "calls", "tickets", "pan_bookings", "feedback"):
        conn.executemany(INSERTS[table], gen.rows[table])
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = {table: conn.execute(f"select count(*) from {table}").fetchone()[0] for table in INSERTS}
    conn.close()
    return counts


def cached_store(conversations: int, calls: int, seed: int, progress=None) -> tuple[Path, dict, float | None]:
    """The store of that size and seed, built once: (path, row counts, build seconds or None when reused)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    db = CACHE / f"report-y{YEAR}-{PREFECTURE}-c{conversations}-k{calls}-s{seed}-v{GENERATOR_VERSION}.db"
    meta = db.with_suffix(".json")
    if db.exists() and meta.exists():
        return db, json.loads(meta.read_text())["counts"], None
    tmp = db.with_suffix(".tmp.db")
    t0 = time.perf_counter()
    counts = build_store(tmp, conversations, calls, seed, progress=progress)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.replace(db)
    elapsed = time.perf_counter() - t0
    meta.write_text(json.dumps({"counts": counts, "build_s": round(elapsed, 1)}))
    return db, counts, elapsed
