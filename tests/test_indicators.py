"""Quality indicators (bot/indicators.py) on a hand-built store, with the answers written out literally."""
import json
import os
import subprocess
from datetime import date
from pathlib import Path

import pytest

from bot import config as config_mod
from bot import indicators
from bot.store import Store

ROOT = Path(__file__).resolve().parent.parent
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
TODAY = date(2026, 3, 25)


def add_conversation(store, cid, started, status, turns, prefecture="cantal", channel="web"):
    store.db["conversations"].insert({"id": cid, "channel": channel, "prefecture": prefecture, "started_at": started,
                                      "updated_at": started, "turns": len(turns), "misses": 0, "status": status})
    for topic, destination, resolved in turns:
        store.db["turns"].insert({"conversation_id": cid, "ts": started, "channel": channel, "text": "x",
                                  "topic": topic, "confidence": 0.9, "destination": destination,
                                  "node": None, "action": "answer", "resolved": resolved})


def add_call(store, sid, started, outcome, unresolved, ended=True, prefecture="cantal"):
    store.db["calls"].insert({"call_sid": sid, "prefecture": prefecture, "started_at": started,
                              "updated_at": started, "ended_at": started if ended else None,
                              "outcome": outcome, "unresolved": unresolved})


def add_ticket(store, ref, created, origin, status, due, days, prefecture="cantal"):
    store.db.execute(
        "insert into tickets (reference, prefecture, mailbox, service, service_email, origin, channel, created_at,"
        " due_date, status, delivery_status, answer_working_days) values (?,?,?,?,?,?,?,?,?,?,?,?)",
        [ref, prefecture, "etrangers", "Service", "s@example.fr", origin, "web", created, due, status, "sent", days])


def add_booking(store, ref, slot, status, seat=1, prefecture="cantal"):
    store.db.execute(
        "insert into pan_bookings (reference, token, prefecture, site, slot_start, slot_end, seat, reason, channel,"
        " status, created_at, updated_at) values (?,?,?,?,?,?,?,?,?,?,?,?)",
        [ref, "tok", prefecture, "aurillac", slot, slot, seat, "permis", "web", status, "2026-02-01T10:00:00",
         "2026-02-01T10:00:00"])


def fill_phone(store):
    add_call(store, "k1", "2026-03-02T08:00:00.000+00:00", "answered", 0)
    add_call(store, "k2", "2026-03-03T08:00:00.000+00:00", "transferred", 0)
    add_call(store, "k3", "2026-03-04T08:00:00.000+00:00", "voicemail", 0)
    add_call(store, "k4", "2026-03-05T08:00:00.000+00:00", "abandoned", 1)
    add_call(store, "k5", "2026-03-31T21:00:00.000+00:00", "answered", 1)
    add_call(store, "k6", "2026-03-06T08:00:00.000+00:00", None, 0, ended=False)  # still in progress
    add_call(store, "k7", "2026-02-28T08:00:00.000+00:00", "answered", 0)  # outside the period
    add_call(store, "k8", "2026-03-02T08:00:00.000+00:00", "abandoned", 1, prefecture="vienne")  # other préfecture


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "ind.db")
    yield s
    s.close()


@pytest.fixture()
def full(store):
    add_conversation(store, "c1", "2026-03-02T09:00:00.000+00:00", "open",
                     [("carte_grise", "ants_3400", 1), ("carte_grise", "ants_3400", 1)])
    add_conversation(store, "c2", "2026-03-10T09:00:00.000+00:00", "unresolved",
                     [(None, None, 0), (None, "human", 0)])
    add_conversation(store, "c3", "2026-03-20T09:00:00.000+00:00", "open",
                     [("titre_sejour", None, 0), ("titre_sejour", "mailbox", 1)])
    add_conversation(store, "c4", "2026-03-31T23:59:00.000+00:00", "open", [("permis", "human", 1)])
    add_conversation(store, "c5", "2026-04-01T00:00:00.000+00:00", "open", [("permis", "human", 1)])
    add_conversation(store, "c6", "2026-03-05T09:00:00.000+00:00", "unresolved", [(None, None, 0)],
                     prefecture="vienne")
    fill_phone(store)
    add_ticket(store, "t1", "2026-03-02T09:00:00.000+00:00", "email", "answered", "2026-03-09", 2)
    add_ticket(store, "t2", "2026-03-03T09:00:00.000+00:00", "email", "answered", "2026-03-10", 5)
    add_ticket(store, "t3", "2026-03-04T09:00:00.000+00:00", "email", "answered", "2026-03-11", 7)
    add_ticket(store, "t4", "2026-03-05T09:00:00.000+00:00", "paper", "answered", "2026-03-19", 8)
    add_ticket(store, "t5", "2026-03-13T09:00:00.000+00:00", "email", "open", "2026-03-20", None)  # overdue
    add_ticket(store, "t6", "2026-03-26T09:00:00.000+00:00", "email", "open", "2026-04-02", None)  # not yet due
    add_ticket(store, "t7", "2026-04-02T09:00:00.000+00:00", "email", "open", "2026-04-09", None)  # outside
    add_ticket(store, "t8", "2026-03-02T09:00:00.000+00:00", "email", "open", "2026-03-09", None, prefecture="vienne")
    add_booking(store, "b1", "2026-03-03T09:00", "booked")
    add_booking(store, "b2", "2026-03-04T09:00", "no_show")
    add_booking(store, "b3", "2026-03-05T09:00", "cancelled")
    add_booking(store, "b4", "2026-03-28T09:00", "booked")  # after TODAY: not judged for no-shows
    add_booking(store, "b5", "2026-04-02T09:00", "no_show")  # outside
    add_booking(store, "b6", "2026-03-04T09:00", "no_show", seat=2, prefecture="vienne")
    return store


def by_id(result):
    return {i["id"]: i for i in result}


def compute(store, period=MARCH):
    return by_id(indicators.compute(store, config_mod.load_prefecture("cantal"), *period, today=TODAY))


def test_every_indicator_has_the_documented_shape(full):
    for ind in compute(full).values():
        assert {"id", "label", "value", "count", "target", "met", "unit"} <= set(ind)


def test_chat_indicators_on_the_hand_built_store(full):
    r = compute(full)
    assert r["chat_volume"]["value"] == 4 and r["chat_volume"]["breakdown"] == {"web": 4}
    assert r["chat_topics"]["value"] == 7
    assert r["chat_topics"]["breakdown"] == {"carte_grise": 2, "(aucun)": 2, "titre_sejour": 2, "permis": 1}
    assert r["chat_destinations"]["breakdown"] == {"ants_3400": 2, "(aucune)": 2, "human": 2, "mailbox": 1}
    assert (r["chat_self_service"]["value"], r["chat_self_service"]["count"]) == (0.5, 4)  # c1, c4
    assert (r["chat_unresolved"]["value"], r["chat_unresolved"]["count"]) == (0.25, 4)  # c2
    assert (r["chat_handoff"]["value"], r["chat_handoff"]["count"]) == (0.5, 4)  # c2, c4
    assert r["chat_self_service"]["target"] is None and r["chat_self_service"]["met"] is None


def test_phone_indicators_on_the_hand_built_store(full):
    r = compute(full)
    assert r["phone_volume"]["value"] == 6 and r["phone_volume"]["breakdown"] == {"terminés": 5, "en cours": 1}
    assert r["phone_outcomes"]["breakdown"] == {"abandoned": 1, "answered": 2, "transferred": 1, "voicemail": 1}
    reached = r["phone_reached"]
    assert (reached["value"], reached["count"], reached["target"], reached["met"], reached["unit"]) == (
        0.8, 5, 0.9, False, "%")
    assert r["phone_self_service"]["value"] == 0.4
    assert r["phone_unresolved"]["value"] == 0.4
    assert r["phone_handoff"]["value"] == 0.4
    assert r["phone_abandoned"]["value"] == 0.2


def test_ticket_indicators_on_the_hand_built_store(full):
    r = compute(full)
    assert r["tickets_volume"]["value"] == 6 and r["tickets_volume"]["breakdown"] == {"answered": 4, "open": 2}
    on_time = r["tickets_on_time"]
    # t1 (2 days), t2 (5), t4 (paper, 8 <= 10) on time; t3 (7) late; t5 overdue; t6 not yet due: 3 / 5
    assert (on_time["value"], on_time["count"], on_time["target"], on_time["met"]) == (0.6, 5, 0.8, False)
    assert (r["tickets_avg_days"]["value"], r["tickets_avg_days"]["count"]) == (5.5, 4)
    assert r["tickets_p90_days"]["value"] == 8
    assert (r["tickets_overdue"]["value"], r["tickets_overdue"]["count"]) == (1, 6)


def test_pan_indicators_on_the_hand_built_store(full):
    r = compute(full)
    assert (r["pan_bookings"]["value"], r["pan_bookings"]["count"]) == (3, 4)
    assert r["pan_bookings"]["breakdown"] == {"booked": 2, "cancelled": 1, "no_show": 1}
    assert (r["pan_no_shows"]["value"], r["pan_no_shows"]["count"]) == (0.5, 2)


def test_satisfaction_is_not_collected_yet(full):
    sat = compute(full)["satisfaction"]
    assert sat["value"] is None and sat["met"] is None and sat["target"] == 0.75
    assert "pas encore collectée" in sat["note"]


def test_a_met_target(store):
    for i in range(10):
        add_call(store, f"ok{i}", "2026-03-02T08:00:00.000+00:00", "answered", 0)
    reached = compute(store)["phone_reached"]
    assert (reached["value"], reached["met"]) == (1.0, True)


def test_an_empty_period_gives_no_figure(full):
    r = compute(full, (date(2025, 1, 1), date(2025, 12, 31)))
    assert len(r) == 21
    for ind in r.values():
        assert ind["value"] is None and ind["met"] is None, ind
        if ind["id"] != "satisfaction":
            assert ind["note"] == "pas encore de données"


def test_a_period_with_only_phone_data(store):
    fill_phone(store)
    r = compute(store)
    for key, ind in r.items():
        if key.startswith("phone_"):
            assert ind["value"] is not None and ind["note"] is None, ind
        else:
            assert ind["value"] is None, ind
    assert r["chat_volume"]["note"] == r["tickets_on_time"]["note"] == r["pan_bookings"]["note"] == \
        "pas encore de données"
    assert r["phone_reached"]["value"] == 0.8


def test_percentile_is_nearest_rank():
    assert indicators.percentile([], 0.9) is None
    assert indicators.percentile([3], 0.9) == 3
    assert indicators.percentile(list(range(1, 11)), 0.9) == 9
    assert indicators.percentile([8, 2, 7, 5], 0.9) == 8


@pytest.mark.parametrize("start,end,message", [
    ("2026-13-01", "2026-12-31", "date de début invalide"),
    ("2026-01-01", "demain", "date de fin invalide"),
    ("2026-12-31", "2026-01-01", "le début (2026-12-31) est après la fin (2026-01-01)"),
])
def test_bad_dates_are_refused_in_french(python, tmp_path, start, end, message):
    out = subprocess.run([python, "-m", "bot", "indicators", "--from", start, "--to", end], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env=os.environ | {"AIGUILLAGE_DB": str(tmp_path / "x.db"), "PREFECTURE": "cantal"})
    assert out.returncode == 2
    assert message in out.stderr and out.stdout == ""


def test_the_command_prints_a_table_and_json(python, full):
    env = os.environ | {"AIGUILLAGE_DB": str(full.path), "PREFECTURE": "cantal"}
    args = [python, "-m", "bot", "indicators", "--from", "2026-03-01", "--to", "2026-03-31"]
    out = subprocess.run(args + ["--json"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["prefecture"], data["from"], data["to"]) == ("cantal", "2026-03-01", "2026-03-31")
    r = by_id(data["indicators"])
    assert r["chat_volume"]["value"] == 4 and r["phone_reached"]["value"] == 0.8
    assert r["satisfaction"]["value"] is None
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "Indicateurs de qualité — préfecture du Cantal — du 01/03/2026 au 31/03/2026" in out.stdout
    assert "Appels aboutis (réponse, transfert ou messagerie)" in out.stdout
    assert "80,0 %" in out.stdout and "> 90 %" in out.stdout
    assert "pas encore collectée" in out.stdout
