"""Demo data (tools/demo_data.py): generated through a real server's endpoints, marked demo, spread over the
last days, left out of the indicators unless asked, removed by --purge without touching real rows.
And the report benchmark's synthetic store (bench/report_bench.py) has the sizes it was asked for."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import ROOT, TWILIO_TEST_TOKEN, db_rows, free_port, launch, stop

DAYS = 14
TABLES = ("conversations", "calls", "tickets", "pan_bookings", "feedback")


def run_demo(python: str, db: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, AIGUILLAGE_DB=str(db), PREFECTURE="cantal")
    for name in ("TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL", "PORT", "SMTP_HOST"):
        env.pop(name, None)
    env.update(extra_env)
    from store_backends import redirected

    if url := redirected(db):  # AIGUILLAGE_TEST_STORE=postgresql: the server's schema (tests/store_backends.py)
        env["DATABASE_URL"] = url
    return subprocess.run(
        [python, "-m", "tools.demo_data", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def topic_counts(db: Path, run_prefix: str) -> Counter:
    return Counter(
        {
            r["topic"]: r["n"]
            for r in db_rows(
                db,
                "select coalesce(topic, '-') as topic, count(*) as n from turns where conversation_id like ? group by 1",
                [run_prefix + "%"],
            )
        }
    )


def run_prefixes(db: Path) -> list[str]:
    rows = db_rows(db, "select id from conversations where id like 'demo-%' order by started_at")
    return sorted({r["id"].rsplit("-", 1)[0] + "-" for r in rows})


@pytest.fixture(scope="module")
def demo(tmp_path_factory, python):
    """A fresh server (own SQLite file), some real traffic, then the generator twice with the same seed."""
    tmp = tmp_path_factory.mktemp("demo")
    server = launch(tmp)
    try:
        # Real traffic first (demo = 0): a conversation, a call, a rating, a message to a service.
        server.say("real-person-1", "j'ai perdu la carte grise de ma voiture")
        from tools.ivr.simulate import Call

        call = Call(server.url, TWILIO_TEST_TOKEN, call_sid="CA" + "f" * 32)
        call.start()
        call.press("1")
        call.hangup(duration=30)
        status, _ = server.post("/chat/feedback", {"sender": "real-person-1", "useful": True})
        assert status == 200
        status, _ = server.post(
            "/rdv/api/message",
            {"service": "courrier", "subject": "Vraie question", "body": "Bonjour, une vraie question.", "idem": "real-ticket-1"},
        )
        assert status == 200
        args = [
            "--url",
            server.url,
            "--token",
            TWILIO_TEST_TOKEN,
            "--conversations",
            "12",
            "--calls",
            "6",
            "--days",
            str(DAYS),
            "--seed",
            "2",
        ]
        first = run_demo(python, server.db, *args)
        assert first.returncode == 0, first.stdout + first.stderr
        snapshot = {t: db_rows(server.db, f"select * from {t}") for t in TABLES}
        second = run_demo(python, server.db, *args)
        assert second.returncode == 0, second.stdout + second.stderr
        yield {"server": server, "first": first, "second": second, "after_first": snapshot, "python": python}
    finally:
        stop(server)


def test_summary_in_french(demo):
    out = demo["first"].stdout
    assert "12 conversations écrites" in out
    assert "6 appels" in out
    calls_line = next(line for line in out.splitlines() if "6 appels" in line)
    assert "réponse donnée" in calls_line  # outcomes in French: not "answered", "abandoned"...
    assert not {"answered", "abandoned", "transferred", "voicemail"} & set(re.findall(r"[a-z]+", calls_line))
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    first = (today - timedelta(days=DAYS - 1)).isoformat()
    assert "/console/indicateurs" in out
    assert f"python -m bot report --from {first} --to {today.isoformat()} --include-demo" in out
    assert "démo" in demo["first"].stderr  # the progress bar, on stderr


def test_rows_exist_and_are_all_marked_demo(demo):
    rows = demo["after_first"]
    demo_convs = [r for r in rows["conversations"] if r["id"] != "real-person-1"]
    assert len(demo_convs) == 12 and {r["demo"] for r in demo_convs} == {1}
    demo_calls = [r for r in rows["calls"] if r["call_sid"] != "CA" + "f" * 32]
    assert len(demo_calls) == 6 and {r["demo"] for r in demo_calls} == {1}
    assert all(r["ended_at"] for r in demo_calls)  # every call got its final status callback
    demo_tickets = [r for r in rows["tickets"] if r["idempotency_key"] != "real-ticket-1"]
    demo_bookings = rows["pan_bookings"]
    demo_feedback = [r for r in rows["feedback"] if r["item_id"] != "real-person-1"]
    assert demo_tickets and demo_bookings and demo_feedback
    for table in (demo_tickets, demo_bookings, demo_feedback):
        assert {r["demo"] for r in table} == {1}
    # the real rows stay real
    assert [r["demo"] for r in rows["conversations"] if r["id"] == "real-person-1"] == [0]
    assert [r["demo"] for r in rows["calls"] if r["call_sid"] == "CA" + "f" * 32] == [0]
    assert [r["demo"] for r in rows["tickets"] if r["idempotency_key"] == "real-ticket-1"] == [0]
    db = demo["server"].db
    ids = [r["id"] for r in demo_convs]
    turns = db_rows(db, f"select * from turns where conversation_id in ({','.join('?' * len(ids))})", ids)
    assert len(turns) >= 12
    # varied: several topics, and the voice menu's voicemails became tickets of the phone channel
    assert len({t["topic"] for t in turns}) >= 5
    assert {r["channel"] for r in demo_tickets} >= {"phone"}
    assert db_rows(db, "select count(*) as n from voicemails where call_sid like 'CAde%'")[0]["n"] >= 1
    # no demo e-mail waits in the outbox for a server that would get SMTP settings later
    assert (
        db_rows(
            db,
            "select count(*) as n from outbox where status != 'sent' and (ticket_id in (select id from"
            " tickets where demo = 1) or booking_id in (select id from pan_bookings where demo = 1))",
        )[0]["n"]
        == 0
    )


def test_timestamps_are_spread_over_the_last_days(demo):
    rows = demo["after_first"]
    now = datetime.now(UTC)
    oldest = now - timedelta(days=DAYS)

    def check(value: str) -> None:
        when = datetime.fromisoformat(value)
        assert oldest <= when <= now, value

    demo_convs = [r for r in rows["conversations"] if r["demo"]]
    for r in demo_convs:
        check(r["started_at"])
        check(r["updated_at"])
    for r in [r for r in rows["calls"] if r["demo"]]:
        check(r["started_at"])
        check(r["ended_at"])
    for r in [r for r in rows["tickets"] if r["demo"]]:
        check(r["created_at"])
        assert r["due_date"] > r["created_at"][:10]
    for r in [r for r in rows["feedback"] if r["demo"]]:
        check(r["created_at"])
    ids = [r["id"] for r in demo_convs]
    for t in db_rows(demo["server"].db, f"select ts from turns where conversation_id in ({','.join('?' * len(ids))})", ids):
        check(t["ts"])
    # spread, not all at the moment of the run
    assert len({r["started_at"][:10] for r in demo_convs}) >= 3


def test_same_seed_same_topic_counts(demo):
    db = demo["server"].db
    prefixes = run_prefixes(db)
    assert len(prefixes) == 2
    first, second = (topic_counts(db, p) for p in prefixes)
    assert sum(first.values()) >= 12
    assert first == second


def test_indicators_leave_demo_out_unless_asked(demo):
    from bot.core import config
    from bot.quality import indicators
    from bot.store.database import Store

    store = Store(demo["server"].db)
    try:
        pref = config.load_prefecture("cantal")
        end = date.today() + timedelta(days=1)
        start = end - timedelta(days=DAYS + 2)
        real = {i["id"]: i for i in indicators.compute(store, pref, start, end, include_demo=False)}
        everything = {i["id"]: i for i in indicators.compute(store, pref, start, end, include_demo=True)}
    finally:
        store.close()
    # without the demo: only the one real conversation and the one real call
    assert real["chat_volume"]["value"] == 1
    assert real["phone_volume"]["value"] == 1
    # with it: the real one + 2 runs of 12 conversations and 6 calls
    assert everything["chat_volume"]["value"] == 1 + 24
    assert everything["phone_volume"]["value"] == 1 + 12


def test_without_url_it_drives_the_server_on_port(python, tmp_path):
    # `PORT=8080 make run` serves on 8080: the generator, given the same PORT and no --url, goes there
    # (no server listens on that free port here, and the message names it).
    port = free_port()
    out = run_demo(python, tmp_path / "none.db", "--conversations", "2", "--calls", "0", PORT=str(port))
    assert out.returncode == 2
    assert f"Aucun serveur Aiguillage ne répond sur http://127.0.0.1:{port} : lancez d'abord `make run`" in out.stderr


def test_no_server_exit_2_with_french_message(python, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    out = run_demo(python, tmp_path / "none.db", "--url", url, "--conversations", "2", "--calls", "0")
    assert out.returncode == 2
    assert f"Aucun serveur Aiguillage ne répond sur {url}" in out.stderr
    assert "lancez d'abord `make run`" in out.stderr


def test_sizes_out_of_range_get_a_french_reason(python, tmp_path):
    out = run_demo(
        python, tmp_path / "none.db", "--conversations", "20001", "--calls", "0", "--url", f"http://127.0.0.1:{free_port()}"
    )
    assert out.returncode == 2
    assert "--conversations et --calls : 20000 au plus" in out.stderr
    out = run_demo(python, tmp_path / "none.db", "--days", "0", "--url", f"http://127.0.0.1:{free_port()}")
    assert (out.returncode, out.stderr.strip()) == (2, "--days doit être au moins 1.")


def test_refuses_to_run_where_smtp_would_mail_the_services(python, tmp_path):
    out = run_demo(python, tmp_path / "none.db", "--conversations", "2", "--calls", "0", SMTP_HOST="127.0.0.1")
    assert out.returncode == 2
    assert "SMTP_HOST est défini" in out.stderr and "--allow-mail" in out.stderr
    assert not (tmp_path / "none.db").exists()  # refused before touching any store


def test_purge_removes_demo_rows_only(demo):
    db = demo["server"].db
    out = run_demo(demo["python"], db, "--purge")
    assert out.returncode == 0, out.stderr
    assert "24 conversations" in out.stdout and "12 appels" in out.stdout
    for table in TABLES:
        assert db_rows(db, f"select count(*) as n from {table} where demo = 1")[0]["n"] == 0, table
    assert [r["id"] for r in db_rows(db, "select id from conversations")] == ["real-person-1"]
    assert [r["call_sid"] for r in db_rows(db, "select call_sid from calls")] == ["CA" + "f" * 32]
    assert [r["idempotency_key"] for r in db_rows(db, "select idempotency_key from tickets")] == ["real-ticket-1"]
    assert [r["item_id"] for r in db_rows(db, "select item_id from feedback")] == ["real-person-1"]
    assert [r["text"] for r in db_rows(db, "select text from turns")] == ["j'ai perdu la carte grise de ma voiture"]
    assert db_rows(db, "select count(*) as n from turns where conversation_id like 'demo-%'")[0]["n"] == 0
    assert db_rows(db, "select count(*) as n from voicemails")[0]["n"] == 0
    # a demo ticket's history goes with it (a foreign key PostgreSQL enforces; left behind on SQLite before)
    assert db_rows(db, "select count(*) as n from ticket_events where ticket_id not in (select id from tickets)")[0]["n"] == 0
    assert db_rows(db, "select count(*) as n from events where sender_id like 'demo-%'")[0]["n"] == 0
    assert db_rows(db, "select count(*) as n from events where sender_id = 'real-person-1'")[0]["n"] > 0


class Unhappy:
    """A draw for tools.demo_traffic.rate that rates « Non » (`random` above the share rated useful)."""

    def random(self) -> float:
        return 0.9

    def choice(self, seq):
        return seq[0]


@pytest.mark.parametrize("every_other", [True, False])
def test_a_demo_non_chooses_another_topic_as_the_page_offers(server, every_other):
    """Every other « Non » of the demo (the answer's messages given) chooses the first other topic among
    the answer's alternatives, as the chat page offers them: the console's « Réponses corrigées par la
    personne » has demo items too. The others, and a « Non » after no answer, choose nothing."""
    from tools.demo_traffic import Http, Made, rate, send_chat

    http, sender = Http(server.url), f"demo-rate-{every_other}"
    last = send_chat(http, sender, "j'ai besoin d'aide pour refaire mon permis de conduire sur internet")
    assert rate(http, Made(), Unhappy(), sender, None, last if every_other else []) is True
    rows = db_rows(server.db, "select topic, corrects from turns where conversation_id = ? order by id", [sender])
    if every_other:
        assert [r["topic"] for r in rows] == ["permis_conduire", "rdv_pan"] and rows[1]["corrects"] is not None
    else:
        assert [r["topic"] for r in rows] == ["permis_conduire"]
    assert db_rows(server.db, "select useful from feedback where item_id = ?", [sender]) == [{"useful": 0}]


class UnhappyCaller:
    """A draw for tools.demo_traffic.play_call: rates (0.1 < 0.25), « pas utile » (0.9), the first phrase."""

    def __init__(self):
        self.draws = iter([0.1, 0.9])

    def random(self) -> float:
        return next(self.draws, 0.9)

    def choice(self, seq):
        return seq[0]

    def uniform(self, low: float, high: float) -> float:
        return high


@pytest.mark.parametrize("kind", ["speech", "keypad"])
def test_a_demo_caller_who_rates_8_chooses_another_topic_as_the_menu_offers(server, monkeypatch, kind):
    """A demo call whose words got an answer, rated « pas utile » (8), chooses the first topic the menu then
    offers among its alternatives by key (the caller's correction: the console's « Réponses corrigées par la
    personne » and the phone's indicator have demo items). An answer reached by keys has none: left there."""
    from conftest import TWILIO_TEST_TOKEN

    from tools import demo_traffic
    from tools.ivr.simulate import Call

    said = "j'ai besoin d'aide pour refaire mon permis de conduire sur internet"
    monkeypatch.setattr(demo_traffic, "SPEECH", {"permis_conduire": [said]})
    call = Call(server.url, TWILIO_TEST_TOKEN, now="2026-03-10T10:00")
    demo_traffic.play_call(call, kind, UnhappyCaller())
    row = db_rows(server.db, "select path, corrected from calls where call_sid = ?", [call.call_sid])[0]
    if kind == "speech":
        assert (json.loads(row["path"]), row["corrected"]) == (["root", "permis_conduire", "rdv_pan"], 1)
    else:  # keys 1, 1: the vehicles' menu, then carte grise
        assert (json.loads(row["path"]), row["corrected"]) == (["root", "vehicule", "carte_grise"], 0)
    assert db_rows(server.db, "select useful from feedback where item_id = ?", [call.call_sid]) == [{"useful": 0}]


def test_bench_synthetic_store_has_the_requested_rows(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import report_bench

    db = tmp_path / "year.db"
    made = report_bench.build_store(db, conversations=2000, calls=1500, seed=3, year=2025)
    counts = {
        t: db_rows(db, f"select count(*) as n from {t}")[0]["n"]
        for t in ("conversations", "turns", "calls", "tickets", "pan_bookings", "feedback")
    }
    assert counts["conversations"] == 2000
    assert counts["calls"] == 1500
    assert 2000 * 2 <= counts["turns"] <= 2000 * 4
    assert counts["tickets"] > 0 and counts["pan_bookings"] > 0 and counts["feedback"] > 0
    assert made == counts
    span = db_rows(db, "select min(started_at) as a, max(started_at) as b, sum(demo) as d from conversations")[0]
    assert span["a"].startswith("2025-01") and span["b"].startswith("2025-12") and span["d"] == 0
    topics = {r["last_topic"] for r in db_rows(db, "select distinct last_topic from conversations")}
    assert {"carte_grise", "titre_sejour", "permis_conduire"} <= topics


def test_server_without_phone_settings_gets_chat_only_and_is_told(tmp_path, python):
    """`make run`'s defaults: no Twilio token, the phone routes answer 503; the chat traffic is still made."""
    server = launch(tmp_path, phone=False)
    try:
        out = run_demo(
            python, server.db, "--url", server.url, "--conversations", "3", "--calls", "2", "--days", "7", "--seed", "5"
        )
    finally:
        stop(server)
    assert out.returncode == 0, out.stderr
    assert "3 conversations écrites" in out.stdout
    assert "0 appels" in out.stdout
    assert "relancez le serveur avec `IVR_LOCAL_DEV=1 make run`" in out.stdout
    assert db_rows(server.db, "select count(*) as n from calls")[0]["n"] == 0
    assert db_rows(server.db, "select count(*) as n from conversations where demo = 1")[0]["n"] == 3
