"""Issue 13 §7: every kind of record is deleted after its retention period (prefectures/*.yml).

The records are written at a fixed instant, then the purge is run at instants moved past each period
(a test clock: `purge(now=...)`, `python -m bot purge --now`); the daily task of the server is run once
on records dated from before the period.
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from store_backends import connect, redirected

from bot.core import config
from bot.core.clock import PARIS
from bot.services import retention
from bot.store.database import Store

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.usefixtures("store_backend"),
]  # the battery; SQLite and PostgreSQL (tests/store_backends.py)

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TABLES = [
    "turns",
    "conversations",
    "events",
    "calls",
    "voicemails",
    "feedback",
    "audit_log",
    "sessions",
    "reviews",
    "tickets",
    "pan_bookings",
    "outbox",
]


def stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")


def fill(db: Path, when: datetime, n: int = 1) -> None:
    """One record of each kind at `when` (as the server writes them), plus Rasa's events table."""
    s, e = stamp(when), when.timestamp()
    conn = connect(db)  # the SQLite file, or the PostgreSQL schema standing for it
    with conn:
        conn.execute(
            "create table if not exists events (id integer primary key, sender_id text, type_name text,"
            " timestamp real, intent_name text, action_name text, data text)"
        )
        for i in range(n):
            cid = f"c{when.timestamp()}-{i}"
            conn.execute(
                "insert into conversations (id, channel, prefecture, started_at, updated_at, turns, misses,"
                " status) values (?, 'web', 'cantal', ?, ?, 1, 0, 'open')",
                [cid, s, s],
            )
            conn.execute(
                "insert into turns (conversation_id, ts, channel, text) values (?, ?, 'web', 'je m''appelle [nom]')", [cid, s]
            )
            conn.execute("insert into events (sender_id, type_name, timestamp, data) values (?, 'user', ?, '{}')", [cid, e])
            conn.execute(
                "insert into calls (call_sid, prefecture, caller, started_at, updated_at, ended_at, inputs)"
                " values (?, 'cantal', '[téléphone]', ?, ?, ?, '[]')",
                ["CA" + cid, s, s, s],
            )
            conn.execute(
                "insert into voicemails (call_sid, recording_sid, mailbox, created_at, updated_at, transcription)"
                " values (?, ?, 'armes', ?, ?, 'ici [nom]')",
                ["CA" + cid, "RE" + cid, s, s],
            )
            conn.execute(
                "insert into feedback (kind, item_id, prefecture, useful, comment, created_at, updated_at)"
                " values ('chat', ?, 'cantal', 1, 'merci', ?, ?)",
                [cid, s, s],
            )
            conn.execute(
                "insert into audit_log (ts, agent, action, kind, item_id) values (?, 'agent1', 'view', 'chat', ?)", [s, cid]
            )
            conn.execute(
                "insert into sessions (token_hash, agent_id, csrf, created_ts, seen_ts) values (?, 1, 'x', ?, ?)",
                ["h" + cid, e, e],
            )
            for kind, item in (("chat", cid), ("phone", "CA" + cid)):  # an agent's review of each, with a note
                conn.execute(
                    "insert into reviews (kind, item_id, status, topic, example, as_training, note, reviewer, updated_at)"
                    " values (?, ?, 'done', 'carte_grise', 'je m''appelle [nom]', 1, 'rappeler [nom]', 'agent1', ?)",
                    [kind, item, s],
                )
    conn.close()


def counts(db: Path) -> dict[str, int]:
    conn = connect(db)  # the SQLite file, or the PostgreSQL schema standing for it
    try:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()


@pytest.fixture()
def db(tmp_path) -> Path:
    path = tmp_path / "store.db"
    Store(path).close()  # migrations
    fill(path, T0)
    return path


@pytest.fixture(scope="module")
def pref() -> config.Prefecture:
    return config.load_prefecture("cantal")


def test_the_periods_come_from_the_prefecture_file(pref):
    national = yaml.safe_load((ROOT / "prefectures/_national.yml").read_text(encoding="utf-8"))["retention"]
    days = retention.periods(pref)
    for kind in ("conversations", "calls", "voicemails", "feedback", "audit_log", "sessions"):
        assert days[kind] == national[f"{kind}_days"]
    assert (days["tickets"], days["bookings"]) == (pref.get("tickets.retention_days"), pref.get("pan.retention_days"))


def test_nothing_is_deleted_before_its_period(db, pref):
    store = Store(db)
    deleted = retention.purge(store, pref, now=T0 + timedelta(days=29))
    store.close()
    assert not any(deleted.values())
    assert counts(db)["turns"] == 1 and counts(db)["sessions"] == 1


def test_each_kind_goes_once_its_period_is_past(db, pref):
    days = retention.periods(pref)
    store = Store(db)
    # past the sessions' period only
    retention.purge(store, pref, now=T0 + timedelta(days=days["sessions"], hours=1))
    c = counts(db)
    assert c["sessions"] == 0 and c["turns"] == c["conversations"] == c["events"] == c["calls"] == 1
    assert c["reviews"] == 2  # the conversation's and the call's: kept with them
    # past the conversations', calls' and voicemails' periods (180 days), not the feedback's (365)
    later = T0 + timedelta(days=max(days["conversations"], days["calls"], days["voicemails"]), hours=1)
    assert later < T0 + timedelta(days=days["feedback"])
    deleted = retention.purge(store, pref, now=later)
    c = counts(db)
    assert (c["turns"], c["conversations"], c["events"], c["calls"], c["voicemails"]) == (0, 0, 0, 0, 0)
    assert (deleted["turns"], deleted["conversations"], deleted["events"]) == (1, 1, 1)
    assert (c["reviews"], deleted["reviews"]) == (0, 2)  # the agents' reviews (sentence, note) went with them
    assert c["feedback"] == 1 and c["audit_log"] == 1 + 2  # the fixture's line, and each purge's own
    # past every period: what is left is purges' own lines (dated at the purge's time, after its deletes)
    retention.purge(store, pref, now=T0 + timedelta(days=max(days.values()) + 1))
    store.close()
    left = counts(db)
    assert left | {"audit_log": 0} == dict.fromkeys(TABLES, 0)
    conn = connect(db)
    actions = {r[0] for r in conn.execute("select action from audit_log").fetchall()}
    conn.close()
    assert left["audit_log"] >= 1 and actions == {"retention_purge"}


def test_each_purge_that_erases_leaves_a_line_in_the_audit_log(db, pref):
    """The audit log says when records were erased and how many of each kind (an outside-in audit,
    2026-12-04: nothing showed that a purge had run); a purge that erases nothing, or a dry run,
    writes none."""
    store = Store(db)
    retention.purge(store, pref, now=T0 + timedelta(days=400), dry_run=True)
    retention.purge(store, pref, now=T0 + timedelta(hours=1))  # nothing past its period yet
    assert [r["action"] for r in store.db.query("select action from audit_log")] == ["view"]  # the fixture's
    deleted = retention.purge(store, pref, now=T0 + timedelta(days=181))
    lines = list(store.db.query("select agent, action, kind, item_id, detail from audit_log where action = 'retention_purge'"))
    store.close()
    erased = {k: v for k, v in deleted.items() if v}
    assert len(lines) == 1
    assert (lines[0]["agent"], lines[0]["kind"], lines[0]["item_id"]) == ("(purge automatique)", None, None)
    assert json.loads(lines[0]["detail"]) == {"records": sum(erased.values()), "tables": dict(sorted(erased.items()))}
    assert {"turns", "conversations", "calls"} <= set(erased)
    # The admin page says it in French (bot/web/console/journal.py), not with the tables' names.
    from bot.web.console.journal import said

    shown = dict(said(lines[0]["detail"]))
    assert shown["Enregistrements effacés"] == str(sum(erased.values()))
    assert f"appels {erased['calls']}" in shown["Par table"]
    assert f"messages des conversations {erased['turns']}" in shown["Par table"]
    assert "turns" not in shown["Par table"] and "calls" not in shown["Par table"]


def test_a_returning_visitors_old_turns_go_once_their_own_period_is_past(db, pref):
    """The chat keeps its sender id in the browser: one new message within the period kept every earlier
    turn of the conversation (and the agent's review of them) for as long as the visitor came back. An
    outside-in audit found a turn with a name, an address and a passport 381 days after it was written.
    Each turn now goes at its own date; the conversation and its recent turns stay."""
    days = retention.periods(pref)["conversations"]
    cid = f"c{T0.timestamp()}-0"
    back = T0 + timedelta(days=days - 5)  # the visitor comes back before the conversation's period is over
    conn = connect(db)
    with conn:
        conn.execute(
            "insert into turns (conversation_id, ts, channel, text) values (?, ?, 'web', 'et pour mon permis ?')",
            [cid, stamp(back)],
        )
        conn.execute("update conversations set updated_at = ?, turns = 2 where id = ?", [stamp(back), cid])
    conn.close()
    store = Store(db)
    deleted = retention.purge(store, pref, now=T0 + timedelta(days=days, hours=1))
    store.close()
    conn = connect(db)
    left = conn.execute("select text from turns where conversation_id = ?", [cid]).fetchall()
    reviews = conn.execute("select count(*) from reviews where kind = 'chat' and item_id = ?", [cid]).fetchone()[0]
    kept = conn.execute("select count(*) from conversations where id = ?", [cid]).fetchone()[0]
    conn.close()
    assert [tuple(r) for r in left] == [("et pour mon permis ?",)]
    assert (deleted["turns"], kept) == (1, 1)
    assert reviews == 0  # the agent's review (the old turn's sentence, a note) was written within the old turns' time


def test_records_newer_than_the_period_are_kept(db, pref):
    fill(db, T0 + timedelta(days=100))
    store = Store(db)
    retention.purge(store, pref, now=T0 + timedelta(days=181))
    store.close()
    c = counts(db)
    assert (c["turns"], c["conversations"], c["events"], c["calls"], c["voicemails"], c["reviews"]) == (1, 1, 1, 1, 1, 2)


def test_a_review_left_without_its_conversation_or_call_goes_at_the_next_purge(db, pref):
    conn = connect(db)
    with conn:  # written before reviews went with their item: their conversation and call purged long ago
        conn.execute("delete from turns")
        conn.execute("delete from conversations")
        conn.execute("delete from calls")
    conn.close()
    store = Store(db)
    assert retention.purge(store, pref, now=T0 + timedelta(days=1), dry_run=True)["reviews"] == 2
    assert retention.purge(store, pref, now=T0 + timedelta(days=1))["reviews"] == 2
    store.close()
    assert counts(db)["reviews"] == 0


def test_a_dry_run_counts_and_deletes_nothing(db, pref):
    store = Store(db)
    before = counts(db)
    would = retention.purge(store, pref, now=T0 + timedelta(days=400), dry_run=True)
    store.close()
    assert counts(db) == before
    assert {
        k: would[k] for k in ("turns", "conversations", "events", "calls", "voicemails", "feedback", "audit_log", "sessions")
    } == dict.fromkeys(["turns", "conversations", "events", "calls", "voicemails", "feedback", "audit_log", "sessions"], 1)
    assert would["reviews"] == 2


def test_by_hand_python_m_bot_purge(db):
    # The review files the purge takes erased reviews' sentences out of: the session's (tests/conftest.py)
    review_files = {k: os.environ[k] for k in ("AIGUILLAGE_REVIEW_OUT", "AIGUILLAGE_REVIEWED_SET")}
    env = {"AIGUILLAGE_DB": str(db), "PATH": "/usr/bin:/bin", "PREFECTURE": "cantal", **review_files}
    if url := redirected(db):  # store_backend's PostgreSQL: the command opens the same schema
        env["DATABASE_URL"] = url
    run = [sys.executable, "-m", "bot", "purge", "--now", "2026-12-31T12:00"]
    dry = subprocess.run([*run, "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    out = json.loads(dry.stdout)
    assert out["dry_run"] is True and out["rows"]["turns"] == 1 and out["rows"]["feedback"] == 0
    assert counts(db)["turns"] == 1
    done = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["rows"]["turns"] == 1
    c = counts(db)
    assert c["turns"] == 0 and c["feedback"] == 1
    bad = subprocess.run([*run[:-2], "--now", "demain"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "Date invalide" in bad.stderr


def test_the_daily_task_purges_old_records(tmp_path, pref):
    path = tmp_path / "store.db"
    Store(path).close()
    fill(path, datetime.now(UTC) - timedelta(days=400))
    fill(path, datetime.now(UTC) - timedelta(days=1))
    # In a thread of its own: the session's Chromium (Playwright's sync API) keeps an event loop
    # running in the main thread once a browser test has run.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, retention.daily(path, pref, first_in_s=0, every_s=0, runs=2)).result()
    c = counts(path)
    assert c["turns"] == c["events"] == c["calls"] == c["feedback"] == c["sessions"] == 1


def test_the_daily_task_waits_for_three_in_the_morning_paris_time():
    assert retention.seconds_until(3, datetime(2026, 3, 10, 1, 0, tzinfo=UTC)) == 3600  # 02:00 in Paris (winter)
    assert retention.seconds_until(3, datetime(2026, 7, 10, 1, 30, tzinfo=UTC)) == 23 * 3600 + 1800  # 03:30 summer
    # Saturday 27 March 2027 12:00 (CET) -> Sunday 03:00 (CEST): 14 hours, the night being an hour shorter
    assert retention.seconds_until(3, datetime(2027, 3, 27, 11, 0, tzinfo=UTC)) == 14 * 3600
    # Saturday 30 October 2027 12:00 (CEST) -> Sunday 03:00 (CET): 16 hours, the night an hour longer
    assert retention.seconds_until(3, datetime(2027, 10, 30, 10, 0, tzinfo=UTC)) == 16 * 3600


@pytest.mark.parametrize(
    ("start", "days"),
    [
        # Friday 26 March 2027, 03:00 in Paris (CET); summer time from Sunday 28 March 02:00 (03:00 CEST)
        (datetime(2027, 3, 26, 2, 0, tzinfo=UTC), ["27/03", "28/03", "29/03", "30/03"]),
        # Friday 29 October 2027, 03:00 in Paris (CEST); winter time from Sunday 31 October 03:00 (02:00 CET)
        (datetime(2027, 10, 29, 1, 0, tzinfo=UTC), ["30/10", "31/10", "01/11", "02/11"]),
        # Saturday 24 October 2026, 12:00 in Paris; winter time the next night
        (datetime(2026, 10, 24, 10, 0, tzinfo=UTC), ["25/10", "26/10", "27/10", "28/10"]),
    ],
)
def test_the_daily_purge_runs_at_three_in_the_morning_paris_time_across_the_clock_changes(db, pref, monkeypatch, start, days):
    """The server's daily purge (retention.daily, on a real store) runs at 03:00 Paris time every day,
    the night of a summer-time change and every night after it. Before: the first wait was counted in
    wall-clock hours (the night of a change it woke at 04:00, or at 02:00 in winter time), then every
    24 hours (after the change, at 04:00 all summer long, or at 02:00 all winter)."""
    clock, runs = [start], []

    async def sleep(seconds: float) -> None:  # the server's waits, taken at once on the test's clock
        clock[0] += timedelta(seconds=seconds)

    class Clock(datetime):  # the module's clock (its datetime.now) reads the test's
        @classmethod
        def now(cls, tz=None):
            return clock[0].astimezone(tz)

    real_purge = retention.purge

    def purge(store, pref, *args, **kwargs):
        runs.append(clock[0].astimezone(PARIS).strftime("%d/%m %H:%M"))
        return real_purge(store, pref, *args, **kwargs)

    monkeypatch.setattr(retention, "datetime", Clock)
    monkeypatch.setattr(retention.asyncio, "sleep", sleep)
    monkeypatch.setattr(retention, "purge", purge)
    with ThreadPoolExecutor(max_workers=1) as pool:  # a thread of its own, as the other daily test
        pool.submit(asyncio.run, retention.daily(db, pref, runs=4)).result()
    assert runs == [f"{day} 03:00" for day in days]


def test_a_prefecture_may_shorten_a_period_and_a_bad_one_is_refused(tmp_path):
    for name in ("_national.yml", "cantal.yml"):
        shutil.copy(ROOT / "prefectures" / name, tmp_path / name)
    local = yaml.safe_load((tmp_path / "cantal.yml").read_text(encoding="utf-8"))
    local["retention"] = {"conversations_days": 30}
    (tmp_path / "cantal.yml").write_text(yaml.safe_dump(local, allow_unicode=True), encoding="utf-8")
    pref = config.load_prefecture("cantal", tmp_path)
    assert retention.periods(pref)["conversations"] == 30 and retention.periods(pref)["calls"] == 180
    local["retention"] = {"calls_days": 0}
    (tmp_path / "cantal.yml").write_text(yaml.safe_dump(local, allow_unicode=True), encoding="utf-8")
    with pytest.raises(config.ConfigError, match="retention.calls_days"):
        config.load_prefecture("cantal", tmp_path)


@pytest.mark.sqlite_only  # its server opens the SQLite file
def test_a_real_server_runs_the_purge_by_itself(tmp_path):
    """The daily task, in a real server: started with the test clock allowed and the first run at once."""
    import time

    from conftest import launch, stop

    path = tmp_path / "aiguillage.db"
    Store(path).close()
    fill(path, datetime.now(UTC) - timedelta(days=400))
    fill(path, datetime.now(UTC) - timedelta(hours=1))
    server = launch(tmp_path, db=path, extra_env={"AIGUILLAGE_PURGE_FIRST_S": "0"})
    try:
        # The purge deletes table after table, then logs: wait for its log line (waiting for the turns
        # alone once caught it between the conversations and the calls, in a CI run).
        deadline = time.time() + 30
        while "retention: purged" not in server.log.read_text() and time.time() < deadline:
            time.sleep(0.2)
        c = counts(path)
        assert c["turns"] == c["conversations"] == c["calls"] == c["voicemails"] == c["feedback"] == 1
        assert c["sessions"] == 1
        assert c["audit_log"] == 1 + 1  # the recent line kept, and the purge's own
        assert "retention: purged" in server.log.read_text()
    finally:
        stop(server)


def test_undelivered_e_mails_left_on_erased_records_go_with_the_daily_purge(db, pref):
    """The e-mails that could not be delivered (the outbox's failed rows, shown to agents as « Envois non
    encore remis ») keep the person's address and the text. They go with their ticket or booking when
    the purge erases it; but one queued for a record already erased stayed for ever: an agent's reply
    or reassignment checks that its ticket is not erased before it takes the ticket's key, so one sent
    while the purge erased that ticket is queued after the erasure, and the purge never looked at an
    erased record again (its dry run counted those e-mails, the purge did not delete them). Now the
    daily purge deletes every e-mail of a ticket or a booking past its retention, erased or not; an
    e-mail of a record still kept stays, failed or not."""
    from bot.core.clock import naive
    from bot.services import mailer, pan, tickets

    store = Store(db)
    now = naive(datetime.now(UTC))
    old = tickets.create_ticket(
        store, pref, "armes", "Carabine", "Mon adresse : 3 rue X", "vieux@exemple.fr", now=now - timedelta(days=400)
    )
    then = now - timedelta(days=200)  # a booking whose appointment is past pan.retention_days (90)
    slot = pan.next_slots_any_site(store, pref, then)[0]
    booking = pan.book(store, pref, slot.site, slot.key, "autre", email="rdv@exemple.fr", now=then)
    kept = tickets.create_ticket(store, pref, "armes", "Permis", "Récent", "recent@exemple.fr", now=now - timedelta(days=3))
    store.db.execute("update outbox set status = 'failed', attempts = 5, last_error = 'SMTPServerDisconnected: down'")
    retention.purge(store, pref)  # the night before: the old ticket and booking erased with their e-mails
    assert {r["ticket_id"] for r in store.db.query("select ticket_id from outbox")} == {kept["id"]}
    with store.transaction() as conn:  # queued after the erasure, then not delivered
        mailer.queue(conn, "ticket_reply", "vieux@exemple.fr", "Re: Carabine", "Votre réponse", ticket_id=old["id"])
        mailer.queue(conn, "booking_cancelled", "rdv@exemple.fr", "Annulation", "Annulé", booking_id=booking["id"])
    store.db.execute("update outbox set status = 'failed', attempts = 1, last_error = 'SMTPServerDisconnected: down'")
    assert retention.purge(store, pref, dry_run=True)["outbox"] == 2
    store.close()
    with ThreadPoolExecutor(max_workers=1) as pool:  # the server's daily task, in a thread as the other daily test
        pool.submit(asyncio.run, retention.daily(db, pref, first_in_s=0, every_s=0, runs=1)).result()
    conn = connect(db)
    left = conn.execute("select kind, ticket_id, booking_id, to_addr, status from outbox order by id").fetchall()
    conn.close()
    assert [tuple(r) for r in left] == [
        ("ticket", kept["id"], None, "pref-armes@cantal.gouv.fr", "failed"),
        ("ticket_ack", kept["id"], None, "recent@exemple.fr", "failed"),
    ]


@pytest.mark.parametrize("action", ["reply", "reassign"])
def test_an_agent_action_that_read_the_ticket_before_the_purge_erased_it_sends_nothing(db, pref, monkeypatch, action):
    """An agent's reply (or reassignment) reads the ticket, then waits for its key while the purge erases it
    (the purge holds the same key per batch). The action then ran on what it had read: the reply went into
    the outbox to the erased person's address, with the text, and the sender would deliver it. Now the
    action looks again under the key: refused as erased (« purged »), nothing queued."""
    from bot.core.clock import naive
    from bot.services import tickets

    store = Store(db)
    now = naive(datetime.now(UTC))
    old = tickets.create_ticket(
        store, pref, "armes", "Carabine", "Mon adresse : 3 rue X", "vieux@exemple.fr", now=now - timedelta(days=400)
    )
    read = tickets.get_ticket(store, old["reference"])  # what the agent's action read, before the purge
    retention.purge(store, pref)  # the purge erases it meanwhile
    assert tickets.get_ticket(store, old["reference"])["purged_at"]
    reads = iter([dict(read)])  # the action's first read is the one made before the purge; later ones are real
    real = tickets.get_ticket
    monkeypatch.setattr(tickets, "get_ticket", lambda st, ref: next(reads, None) or real(st, ref))
    with pytest.raises(tickets.ActionRefused) as refused:
        if action == "reply":
            tickets.reply(store, pref, old["reference"], "agent1", "Votre réponse personnelle")
        else:
            tickets.reassign(store, pref, old["reference"], "agent1", "courrier")
    assert refused.value.code == "purged"
    assert store.db.execute("select count(*) from outbox").fetchone()[0] == 0
    kinds = [r[0] for r in store.db.execute("select kind from ticket_events where ticket_id = ?", [old["id"]]).fetchall()]
    assert "reply" not in kinds and "reassigned" not in kinds
    store.close()
