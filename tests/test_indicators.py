"""Quality indicators (bot/quality/indicators.py) on a hand-built store, with the answers written out literally."""

import json
import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from store_backends import command_env

from bot.core import config as config_mod
from bot.core.clock import PARIS
from bot.quality import indicators
from bot.store.database import Store

pytestmark = pytest.mark.usefixtures("store_backend")  # SQLite and PostgreSQL (tests/store_backends.py)

ROOT = Path(__file__).resolve().parent.parent
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
TODAY = date(2026, 3, 25)


def add_conversation(store, cid, started, status, turns, prefecture="cantal", channel="web", demo=0):
    store.db["conversations"].insert(
        {
            "id": cid,
            "channel": channel,
            "prefecture": prefecture,
            "started_at": started,
            "updated_at": started,
            "turns": len(turns),
            "misses": 0,
            "status": status,
            "demo": demo,
        }
    )
    for topic, destination, resolved in turns:
        store.db["turns"].insert(
            {
                "conversation_id": cid,
                "ts": started,
                "channel": channel,
                "text": "x",
                "topic": topic,
                "confidence": 0.9,
                "destination": destination,
                "node": None,
                "action": "answer",
                "resolved": resolved,
            }
        )


def add_call(store, sid, started, outcome, unresolved, ended=True, prefecture="cantal", path=("root",), duration=None, demo=0):
    store.db["calls"].insert(
        {
            "call_sid": sid,
            "prefecture": prefecture,
            "started_at": started,
            "updated_at": started,
            "ended_at": started if ended else None,
            "outcome": outcome,
            "unresolved": unresolved,
            "path": json.dumps(list(path)),
            "node": path[-1],
            "duration_s": duration,
            "demo": demo,
        }
    )


def add_ticket(store, ref, created, origin, status, due, days, prefecture="cantal", demo=0):
    store.db.execute(
        "insert into tickets (reference, prefecture, mailbox, service, service_email, origin, channel, created_at,"
        " due_date, status, delivery_status, answer_working_days, demo) values (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [ref, prefecture, "etrangers", "Service", "s@example.fr", origin, "web", created, due, status, "sent", days, demo],
    )


def add_booking(store, ref, slot, status, seat=1, prefecture="cantal", created="2026-02-01T10:00:00.000+00:00", demo=0):
    store.db.execute(
        "insert into pan_bookings (reference, token, prefecture, site, slot_start, slot_end, seat, reason, channel,"
        " status, created_at, updated_at, demo) values (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [ref, "tok", prefecture, "aurillac", slot, slot, seat, "permis", "web", status, created, created, demo],
    )


def add_feedback(store, kind, item, useful, created, prefecture="cantal", demo=0):
    store.db.execute(
        "insert into feedback (kind, item_id, prefecture, useful, created_at, updated_at, demo) values (?,?,?,?,?,?,?)",
        [kind, item, prefecture, useful, created, created, demo],
    )


def fill_phone(store):
    # Paris time: k1 Monday 9 h (CET), k2 Tuesday, k3 Wednesday, k4 Thursday, k6 Friday 9 h; k5 Tuesday 23 h (CEST)
    add_call(
        store, "k1", "2026-03-02T08:00:00.000+00:00", "answered", 0, path=["root", "titres_ants", "carte_grise"], duration=60
    )
    add_call(store, "k2", "2026-03-03T08:00:00.000+00:00", "transferred", 0, path=["root", "titre_sejour"], duration=120)
    add_call(store, "k3", "2026-03-04T08:00:00.000+00:00", "voicemail", 0, path=["root", "armes"], duration=90)
    add_call(store, "k4", "2026-03-05T08:00:00.000+00:00", "abandoned", 1, path=["root", "titres_ants"], duration=15)
    add_call(
        store,
        "k5",
        "2026-03-31T21:00:00.000+00:00",
        "answered",
        1,
        path=["root", "titres_ants", "root", "horaires_contact"],
        duration=45,
    )
    add_call(
        store, "k6", "2026-03-06T08:00:00.000+00:00", None, 0, ended=False, path=["root", "titres_ants"]
    )  # still in progress
    add_call(store, "k7", "2026-02-28T08:00:00.000+00:00", "answered", 0)  # outside the period
    store.db.execute("update calls set spoken_answer = 1, corrected = 0 where call_sid = 'k1'")  # its words answered
    add_call(store, "k8", "2026-03-02T08:00:00.000+00:00", "abandoned", 1, prefecture="vienne")  # other préfecture


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "ind.db")
    yield s
    s.close()


@pytest.fixture()
def full(store):
    add_conversation(
        store, "c1", "2026-03-02T09:00:00.000+00:00", "open", [("carte_grise", "ants_3400", 1), ("carte_grise", "ants_3400", 1)]
    )
    add_conversation(store, "c2", "2026-03-10T09:00:00.000+00:00", "unresolved", [(None, None, 0), (None, "human", 0)])
    add_conversation(
        store, "c3", "2026-03-20T09:00:00.000+00:00", "open", [("titre_sejour", None, 0), ("titre_sejour", "mailbox", 1)]
    )
    # The period is made of Paris days: 31/03 21:59 UTC is 23:59 in Paris (CEST) and counts in March;
    # 31/03 22:00 UTC is already 1 April 00:00 in Paris and does not.
    add_conversation(store, "c4", "2026-03-31T21:59:00.000+00:00", "open", [("permis", "human", 1)])
    add_conversation(store, "c5", "2026-03-31T22:00:00.000+00:00", "open", [("permis", "human", 1)])
    add_conversation(store, "c6", "2026-03-05T09:00:00.000+00:00", "unresolved", [(None, None, 0)], prefecture="vienne")
    fill_phone(store)
    add_ticket(store, "t1", "2026-03-02T09:00:00.000+00:00", "email", "answered", "2026-03-09", 2)
    add_ticket(store, "t2", "2026-03-03T09:00:00.000+00:00", "email", "answered", "2026-03-10", 5)
    add_ticket(store, "t3", "2026-03-04T09:00:00.000+00:00", "email", "answered", "2026-03-11", 7)
    add_ticket(store, "t4", "2026-03-05T09:00:00.000+00:00", "paper", "answered", "2026-03-19", 8)
    add_ticket(store, "t5", "2026-03-13T09:00:00.000+00:00", "email", "open", "2026-03-20", None)  # overdue
    add_ticket(store, "t6", "2026-03-26T09:00:00.000+00:00", "email", "open", "2026-04-02", None)  # not yet due
    add_ticket(store, "t7", "2026-04-02T09:00:00.000+00:00", "email", "open", "2026-04-09", None)  # outside
    add_ticket(store, "t8", "2026-03-02T09:00:00.000+00:00", "email", "open", "2026-03-09", None, prefecture="vienne")
    # Lead times (booked on, Paris date -> appointment): b1 2 days, b2 2, b4 8; b3 (3 days: booked 23:30 UTC =
    # next day in Paris) is cancelled; b5 booked 31/03 22:30 UTC = 1 April in Paris: not a March booking.
    add_booking(store, "b1", "2026-03-03T09:00", "booked", created="2026-03-01T10:00:00.000+00:00")
    add_booking(store, "b2", "2026-03-04T09:00", "no_show", created="2026-03-02T10:00:00.000+00:00")
    add_booking(store, "b3", "2026-03-05T09:00", "cancelled", created="2026-03-01T23:30:00.000+00:00")
    add_booking(
        store,
        "b4",
        "2026-03-28T09:00",
        "booked",  # after TODAY: not judged for no-shows
        created="2026-03-20T09:00:00.000+00:00",
    )
    add_booking(store, "b5", "2026-04-02T09:00", "no_show", created="2026-03-31T22:30:00.000+00:00")  # outside
    add_booking(store, "b6", "2026-03-04T09:00", "no_show", seat=2, prefecture="vienne", created="2026-03-02T10:00:00.000+00:00")
    add_feedback(store, "chat", "c1", 1, "2026-03-02T09:05:00.000+00:00")
    add_feedback(store, "chat", "c2", 0, "2026-03-10T09:05:00.000+00:00")
    add_feedback(store, "chat", "c3", 1, "2026-03-20T09:05:00.000+00:00")
    add_feedback(store, "chat", "c5", 1, "2026-04-01T00:05:00.000+00:00")  # outside
    add_feedback(store, "chat", "c6", 1, "2026-03-05T09:05:00.000+00:00", prefecture="vienne")
    add_feedback(store, "phone", "k1", 1, "2026-03-02T08:01:00.000+00:00")
    return store


def by_id(result):
    return {i["id"]: i for i in result}


def compute(store, period=MARCH):
    return by_id(indicators.compute(store, config_mod.load_prefecture("cantal"), *period, today=TODAY))


def test_every_indicator_has_the_documented_shape(full):
    for ind in compute(full).values():
        assert {"id", "group", "label", "channel", "value", "count", "target", "met", "unit", "note"} <= set(ind)
        assert ind["group"] in indicators.GROUPS


def test_chat_indicators_on_the_hand_built_store(full):
    r = compute(full)
    assert r["chat_volume"]["value"] == 4 and r["chat_volume"]["breakdown"] == {"web": 4}
    assert r["chat_topics"]["value"] == 7
    assert r["chat_topics"]["breakdown"] == {"carte_grise": 2, "(aucun)": 2, "titre_sejour": 2, "permis": 1}
    assert r["chat_destinations"]["breakdown"] == {"ants_3400": 2, "(aucune)": 2, "human": 2, "mailbox": 1}
    assert (r["chat_self_service"]["value"], r["chat_self_service"]["count"]) == (
        0.5,
        4,
    )  # c1, c3 (c3 ended with an answer; c4 was handed to a person)
    assert (r["chat_unresolved"]["value"], r["chat_unresolved"]["count"]) == (0.25, 4)  # c2
    assert (r["chat_handoff"]["value"], r["chat_handoff"]["count"]) == (0.5, 4)  # c2, c4
    assert r["chat_self_service"]["target"] is None and r["chat_self_service"]["met"] is None


def test_the_phone_volume_breakdown_says_its_labels_from_the_console_texts(full):
    """The calls "terminés" / "en cours" of the phone's volume are `quality.call_states` in
    bot/console_texts.yml, as the other indicator labels (they were Python literals)."""
    import yaml

    texts = yaml.safe_load((Path(__file__).resolve().parent.parent / "bot" / "console_texts.yml").read_text(encoding="utf-8"))
    assert texts["quality"]["call_states"] == {"ended": "terminés", "in_progress": "en cours"}
    assert compute(full)["phone_volume"]["breakdown"] == {"terminés": 5, "en cours": 1}
    source = (Path(indicators.__file__).parent / "indicators_chat_phone.py").read_text(encoding="utf-8")
    assert '"terminés"' not in source and '"en cours"' not in source


def test_phone_indicators_on_the_hand_built_store(full):
    r = compute(full)
    assert r["phone_volume"]["value"] == 6 and r["phone_volume"]["breakdown"] == {"terminés": 5, "en cours": 1}
    assert r["phone_outcomes"]["breakdown"] == {"abandoned": 1, "answered": 2, "transferred": 1, "voicemail": 1}
    reached = r["phone_reached"]
    assert (reached["value"], reached["count"], reached["target"], reached["met"], reached["unit"]) == (0.8, 5, 0.9, False, "%")
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


def test_a_no_show_marked_today_counts_in_the_rate(store):
    """An agent marks a 9:00 appointment absent at 14:46 the same day: the rate of past slots counts
    it (an outside-in audit saw "Absent 1" in the breakdown and "pas encore de données" as the rate:
    only days before today counted); a later slot of the day is not judged yet."""
    add_booking(store, "n1", "2026-03-25T09:00", "no_show", created="2026-03-20T08:00:00.000+00:00")
    add_booking(store, "n2", "2026-03-25T16:00", "booked", seat=2, created="2026-03-20T08:00:00.000+00:00")
    now = datetime(2026, 3, 25, 14, 46, tzinfo=PARIS)
    r = by_id(indicators.compute(store, config_mod.load_prefecture("cantal"), *MARCH, now=now))
    assert r["pan_bookings"]["breakdown"] == {"booked": 1, "no_show": 1}
    assert (r["pan_no_shows"]["value"], r["pan_no_shows"]["count"]) == (1.0, 1)


@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_today_is_the_paris_date_whatever_the_machines_time_zone(python, full, tz):
    """What is overdue is judged on the Paris date, not the machine's (a server in UTC was a day
    behind every night until 1:00 or 2:00; one far east, a day ahead). At any hour one of the two
    zones is on another date than Paris."""
    from bot.core.clock import paris_today

    env = command_env(full, PREFECTURE="cantal") | {"TZ": tz}
    args = [python, "-m", "bot", "indicators", "--from", "2026-03-01", "--to", "2026-03-31", "--json"]
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    overdue = by_id(json.loads(out.stdout)["indicators"])["tickets_overdue"]
    assert overdue["label"] == f"Messages en retard (ouverts, échéance avant le {paris_today():%d/%m/%Y})"


def test_satisfaction_by_channel_pooled_and_phone_participation(full):
    r = compute(full)
    chat = r["satisfaction_chat"]  # c1, c3 useful; c2 not useful
    assert (chat["value"], chat["count"], chat["target"], chat["met"], chat["unit"]) == (2 / 3, 3, 0.75, False, "%")
    phone = r["satisfaction_phone"]  # k1 pressed 9 (useful)
    assert (phone["value"], phone["count"], phone["target"], phone["met"]) == (1.0, 1, 0.75, True)
    overall = r["satisfaction"]  # 3 useful of 4 ratings: 75 % is not above the 75 % target
    assert (overall["value"], overall["count"], overall["target"], overall["met"]) == (0.75, 4, 0.75, False)
    assert overall["channel"] == "tous"
    took_part = r["satisfaction_phone_participation"]  # k1 rated; k1, k2, k3, k5 heard an answer
    assert (took_part["value"], took_part["count"], took_part["target"]) == (0.25, 4, None)
    assert {i["group"] for i in (chat, phone, overall, took_part)} == {"satisfaction"}


def test_satisfaction_target_met_by_chat_ratings_alone(store):
    for i, useful in enumerate([1, 1, 1, 1, 0]):
        add_feedback(store, "chat", f"c{i}", useful, "2026-03-02T09:05:00.000+00:00")
    r = compute(store)
    assert (r["satisfaction_chat"]["value"], r["satisfaction_chat"]["met"]) == (0.8, True)
    assert (r["satisfaction"]["value"], r["satisfaction"]["count"], r["satisfaction"]["met"]) == (0.8, 5, True)
    assert r["satisfaction"]["note"] is None
    assert (r["satisfaction_phone"]["value"], r["satisfaction_phone"]["note"]) == (None, "pas encore de données")
    assert r["satisfaction_phone_participation"]["value"] is None


def test_weekday_and_hour_are_paris_time_with_every_key(full):
    r = compute(full)
    # c1 Monday 10 h, c2 Tuesday 10 h, c3 Friday 10 h (CET); c4 31/03 21:59 UTC = Tuesday 31 March 23 h (CEST)
    assert r["chat_by_weekday"]["breakdown"] == {
        "lundi": 1,
        "mardi": 2,
        "mercredi": 0,
        "jeudi": 0,
        "vendredi": 1,
        "samedi": 0,
        "dimanche": 0,
    }
    assert list(r["chat_by_hour"]["breakdown"]) == [f"{h} h" for h in range(24)]
    assert {k: v for k, v in r["chat_by_hour"]["breakdown"].items() if v} == {"10 h": 3, "23 h": 1}
    assert (r["chat_by_hour"]["value"], r["chat_by_hour"]["group"], r["chat_by_hour"]["unit"]) == (4, "volumes", "nombre")
    assert r["phone_by_weekday"]["breakdown"] == {
        "lundi": 1,
        "mardi": 2,
        "mercredi": 1,
        "jeudi": 1,
        "vendredi": 1,
        "samedi": 0,
        "dimanche": 0,
    }
    assert {k: v for k, v in r["phone_by_hour"]["breakdown"].items() if v} == {"9 h": 5, "23 h": 1}


def test_the_utc_day_boundary_and_the_summer_time_change(store):
    add_conversation(store, "late", "2026-03-02T23:30:00.000+00:00", "open", [("permis", "ants_3400", 1)])
    add_conversation(store, "before", "2026-03-29T00:30:00.000+00:00", "open", [])  # 01:30 CET, Sunday
    add_conversation(store, "after", "2026-03-29T01:30:00.000+00:00", "open", [])  # 03:30 CEST, Sunday
    r = compute(store)
    weekdays = r["chat_by_weekday"]["breakdown"]
    assert (weekdays["lundi"], weekdays["mardi"], weekdays["dimanche"]) == (0, 1, 2)
    assert {k: v for k, v in r["chat_by_hour"]["breakdown"].items() if v} == {"0 h": 1, "1 h": 1, "3 h": 1}


def test_the_period_is_made_of_paris_days_in_winter_and_in_summer(store):
    add_conversation(store, "first", "2026-02-28T23:30:00.000+00:00", "open", [])  # 1 March 00:30 in Paris (CET)
    add_conversation(store, "feb", "2026-02-28T22:30:00.000+00:00", "open", [])  # 28 February 23:30 in Paris
    add_conversation(store, "last", "2026-03-31T21:30:00.000+00:00", "open", [])  # 31 March 23:30 in Paris (CEST)
    add_conversation(store, "apr", "2026-03-31T22:30:00.000+00:00", "open", [])  # 1 April 00:30 in Paris
    r = compute(store)
    assert r["chat_volume"]["value"] == 2
    # Sunday 1 March and Tuesday 31 March (UTC days would have counted Tuesday 31 and Wednesday 1 April)
    assert {k: v for k, v in r["chat_by_weekday"]["breakdown"].items() if v} == {"dimanche": 1, "mardi": 1}


def test_phone_topics_destinations_path_and_duration(full):
    r = compute(full)
    topics = r["phone_topics"]  # the last answer of k1, k2, k3, k5; k4 and k6 never reached one
    assert (topics["value"], topics["count"]) == (4, 6)
    assert topics["breakdown"] == {"armes": 1, "carte_grise": 1, "horaires_contact": 1, "titre_sejour": 1}
    assert r["phone_destinations"]["breakdown"] == {"ants_3400": 1, "ccc_0806": 1, "info": 1, "mailbox": 1}
    path = r["phone_path_length"]  # ended calls: 2 + 1 + 1 + 1 + 3 steps after the welcome
    assert (path["value"], path["count"], path["unit"]) == (1.6, 5, "étapes")
    assert (r["phone_duration_avg"]["value"], r["phone_duration_avg"]["count"]) == (66, 5)  # 60 120 90 15 45
    assert (r["phone_duration_median"]["value"], r["phone_duration_median"]["unit"]) == (60, "secondes")
    points = r["phone_abandon_points"]
    assert (points["value"], points["count"]) == (1, 5)
    assert points["breakdown"] == {"Carte grise, permis, carte d'identité ou passeport": 1}


def test_abandon_points_name_the_menu_in_french(store):
    add_call(store, "a1", "2026-03-02T08:00:00.000+00:00", "abandoned", 1)
    add_call(store, "a2", "2026-03-02T09:00:00.000+00:00", "abandoned", 1, path=["root"], duration=4)
    add_call(store, "a3", "2026-03-02T10:00:00.000+00:00", "abandoned", 1, path=["root", "titres_ants"])
    add_call(store, "a4", "2026-03-02T11:00:00.000+00:00", "answered", 0, path=["root", "armes"])
    # The phone's own submenus (phone.groups, not nodes of the tree): their label, not their id.
    add_call(store, "a6", "2026-03-02T13:00:00.000+00:00", "abandoned", 1, path=["root", "vehicule"])
    add_call(store, "a7", "2026-03-02T14:00:00.000+00:00", "abandoned", 1, path=["root", "autre"])
    add_call(
        store, "a5", "2026-03-02T12:00:00.000+00:00", None, 0, ended=False, path=["root", "suivi_dossier", "suivi_titre_sejour"]
    )
    r = compute(store)
    assert r["phone_abandon_points"]["breakdown"] == {
        "Menu principal": 2,
        "Autre demande": 1,
        "Carte grise ou permis": 1,
        "Carte grise, permis, carte d'identité ou passeport": 1,
    }
    assert r["phone_topics"]["breakdown"] == {"armes": 1, "suivi_dossier": 1}
    assert (r["phone_duration_median"]["value"], r["phone_duration_median"]["count"]) == (4, 1)


def test_message_delays_say_working_days_and_pan_delays_calendar_days():
    """An outside-in audit: the messages' delays (working days) and the PAN's (calendar days) were both
    shown "6,0 j", and the evolution "en baisse de 1,0 j": the unit now says which."""
    from bot.quality.report_tables import evolution_text

    assert indicators.format_value({"unit": indicators.WORKING_DAYS, "value": 6.0, "note": None}) == "6,0\u00a0j ouvrés"
    assert indicators.format_value({"unit": indicators.DAYS, "value": 6.0, "note": None}) == "6,0\u00a0j"
    now, before = {"unit": indicators.WORKING_DAYS, "value": 5.0}, {"unit": indicators.WORKING_DAYS, "value": 6.0}
    assert evolution_text(now, before) == "en baisse de 1,0\u00a0j ouvrés"


def test_an_hour_stamp_is_read_as_strptime_reads_it():
    """indicator_common.utc_hour reads the stamps the product writes field by field: it accepts and refuses
    what datetime.strptime(stamp, "%Y-%m-%dT%H") does (a malformed stamp is placed in no weekday nor hour)."""
    stamps = ["2026-03-02T23", "2026-03-29T01", "2024-02-29T00", "2026-02-30T10", "2026-13-01T10", "2026-00-01T10"]
    stamps += ["2026-03-02T24", "0000-01-01T00", "9999-12-31T23", "2026-03-02 23", "2026-3-2T5", "2026-03-02T2", ""]
    stamps += ["2026-03-02T23:00", "\uff12\uff10\uff12\uff16-03-02T23", "2026-03-02t23", None, 2026]

    def strptime(stamp):
        try:
            return datetime.strptime(stamp, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        except (TypeError, ValueError):
            return None

    assert [indicators.utc_hour(s) for s in stamps] == [strptime(s) for s in stamps]
    assert indicators.utc_hour("2026-03-02T23") == datetime(2026, 3, 2, 23, tzinfo=UTC)
    assert strptime("2026-3-2T5") is not None and strptime("2026-03-02 23") is None  # both ways are exercised


def test_median_of_counts():
    assert indicators.median_of_counts({}) is None
    assert indicators.median_of_counts({7: 1}) == 7
    assert indicators.median_of_counts({2: 2, 3: 1, 8: 1}) == 2.5
    assert indicators.median_of_counts({10: 3, 1: 1, 50: 1}) == 10


def test_pan_lead_time_over_bookings_made_in_the_period(full):
    r = compute(full)
    avg, median = r["pan_lead_time_avg"], r["pan_lead_time_median"]
    assert (avg["value"], avg["count"], avg["unit"]) == (4.0, 3, "jours")  # 2, 2, 8 (b3 cancelled)
    assert (median["value"], median["count"]) == (2, 3)
    assert "pris pendant la période" in avg["label"]
    within = r["pan_within_days"]  # held: only b1 (b2 absent, b3 cancelled, b4 after TODAY): 2 days
    assert (within["value"], within["count"], within["target"], within["met"]) == (1.0, 1, 0.8, True)
    assert within["label"].startswith("Rendez-vous PAN tenus dans les 10 jours")


def test_a_cancelled_booking_is_no_appointment_given_in_the_lead_time(store):
    """A booking the person cancelled is no appointment given: it counts neither in the lead time nor
    in « tenus dans les 10 jours » (as the appointments line leaves it aside); a no-show was given."""
    booked = "2026-03-02T08:00:00.000+00:00"  # Monday 2 March, Paris
    add_booking(store, "l1", "2026-03-04T09:00", "booked", created=booked)  # 2 days, held
    add_booking(store, "l2", "2026-03-06T09:00", "no_show", created=booked)  # 4 days, given but not held
    add_booking(store, "l3", "2026-03-12T09:00", "booked", created=booked)  # 10 days, held
    add_booking(store, "l4", "2026-03-16T09:00", "booked", created=booked)  # 14 days, held
    add_booking(store, "l5", "2026-03-22T09:00", "cancelled", created=booked)  # 20 days: cancelled
    add_booking(store, "l6", "2026-03-14T09:00", "cancelled", seat=2, created=booked)  # 12 days: cancelled
    r = compute(store)
    avg, median, within = r["pan_lead_time_avg"], r["pan_lead_time_median"], r["pan_within_days"]
    assert (avg["value"], avg["count"]) == (7.5, 4)  # (2 + 4 + 10 + 14) / 4, not (… + 20 + 12) / 6
    assert (median["value"], median["count"]) == (7.0, 4)  # between 4 and 10
    assert (within["value"], within["count"]) == (2 / 3, 3)  # l1 and l3 of l1, l3, l4
    assert (r["pan_bookings"]["value"], r["pan_bookings"]["count"]) == (4, 6)  # cancelled aside, the same way
    assert "hors annulés" in avg["label"] and "hors annulés" in median["label"]


def test_no_appointment_held_yet_gives_no_figure(store):
    add_booking(store, "f1", "2026-03-27T09:00", "booked", created="2026-03-24T08:00:00.000+00:00")  # after TODAY
    add_booking(store, "f2", "2026-03-10T09:00", "cancelled", created="2026-03-02T08:00:00.000+00:00")
    within = compute(store)["pan_within_days"]
    assert (within["value"], within["count"], within["met"], within["note"]) == (None, 0, None, "pas encore de données")


def test_pan_appointments_within_the_préfecture_s_days(store):
    # booked on Monday 2 March 2026 (Paris) for 1, 5, 10 and 11 days later: 3 of 4 within 10 days
    for i, slot in enumerate(["2026-03-03T09:00", "2026-03-07T09:00", "2026-03-12T09:00", "2026-03-13T09:00"]):
        add_booking(store, f"w{i}", slot, "booked", created="2026-03-02T08:00:00.000+00:00")
    within = compute(store)["pan_within_days"]
    assert (within["value"], within["count"], within["met"]) == (0.75, 4, False)


def test_demo_rows_are_left_out_unless_asked(full):
    add_conversation(full, "d1", "2026-03-03T09:00:00.000+00:00", "unresolved", [(None, None, 0)], demo=1)
    add_call(full, "d2", "2026-03-03T09:00:00.000+00:00", "abandoned", 1, demo=1)
    add_ticket(full, "d3", "2026-03-03T09:00:00.000+00:00", "email", "open", "2026-03-10", None, demo=1)
    add_booking(full, "d4", "2026-03-10T09:00", "booked", seat=3, created="2026-03-03T09:00:00.000+00:00", demo=1)
    add_feedback(full, "chat", "d1", 0, "2026-03-03T09:05:00.000+00:00", demo=1)
    r = compute(full)
    assert (r["chat_volume"]["value"], r["phone_volume"]["value"], r["tickets_volume"]["value"]) == (4, 6, 6)
    assert (r["pan_bookings"]["value"], r["pan_lead_time_avg"]["count"], r["satisfaction_chat"]["count"]) == (3, 3, 3)
    r = by_id(indicators.compute(full, config_mod.load_prefecture("cantal"), *MARCH, today=TODAY, include_demo=True))
    assert (r["chat_volume"]["value"], r["phone_volume"]["value"], r["tickets_volume"]["value"]) == (5, 7, 7)
    assert (r["pan_bookings"]["value"], r["pan_lead_time_avg"]["count"], r["satisfaction_chat"]["count"]) == (4, 4, 4)
    assert (r["chat_unresolved"]["value"], r["phone_abandoned"]["value"]) == (0.4, 2 / 6)
    assert r["tickets_overdue"]["value"] == 2


def test_a_met_target(store):
    for i in range(10):
        add_call(store, f"ok{i}", "2026-03-02T08:00:00.000+00:00", "answered", 0)
    reached = compute(store)["phone_reached"]
    assert (reached["value"], reached["met"]) == (1.0, True)


def test_an_empty_period_gives_no_figure(full):
    r = compute(full, (date(2025, 1, 1), date(2025, 12, 31)))
    assert len(r) == 39
    for ind in r.values():
        assert ind["value"] is None and ind["met"] is None, ind
        assert ind["note"] == "pas encore de données"
    # Charts stay stable: every weekday and hour is there, at zero.
    assert r["phone_by_weekday"]["breakdown"] == {
        "lundi": 0,
        "mardi": 0,
        "mercredi": 0,
        "jeudi": 0,
        "vendredi": 0,
        "samedi": 0,
        "dimanche": 0,
    }
    assert sum(r["chat_by_hour"]["breakdown"].values()) == 0 and len(r["chat_by_hour"]["breakdown"]) == 24


def test_a_period_with_only_phone_data(store):
    fill_phone(store)
    r = compute(store)
    for key, ind in r.items():
        if key.startswith("phone_") or key == "satisfaction_phone_participation":
            assert ind["value"] is not None and ind["note"] is None, ind
        else:
            assert ind["value"] is None and ind["note"] == "pas encore de données", ind
    assert r["phone_reached"]["value"] == 0.8
    assert r["phone_by_weekday"]["value"] == 6
    assert r["phone_path_length"]["value"] == 1.6
    assert r["satisfaction_phone_participation"]["value"] == 0.0  # answers heard, nobody rated: a real 0 %


def test_indicators_come_in_report_sections(full):
    result = indicators.compute(full, config_mod.load_prefecture("cantal"), *MARCH, today=TODAY)
    groups = [i["group"] for i in result]
    assert list(dict.fromkeys(groups)) == ["volumes", "routing", "phone", "tickets", "pan", "satisfaction"]
    assert [i["id"] for i in result if i["group"] == "volumes"] == [
        "chat_volume",
        "chat_by_weekday",
        "chat_by_hour",
        "phone_volume",
        "phone_by_weekday",
        "phone_by_hour",
    ]
    assert len({i["id"] for i in result}) == len(result)


def test_percentile_is_nearest_rank():
    assert indicators.percentile([], 0.9) is None
    assert indicators.percentile([3], 0.9) == 3
    assert indicators.percentile(list(range(1, 11)), 0.9) == 9
    assert indicators.percentile([8, 2, 7, 5], 0.9) == 8


@pytest.mark.parametrize(
    "start,end,message",
    [
        ("2026-13-01", "2026-12-31", "date de début invalide"),
        ("2026-01-01", "demain", "date de fin invalide"),
        ("2026-12-31", "2026-01-01", "le début (2026-12-31) est après la fin (2026-01-01)"),
    ],
)
def test_bad_dates_are_refused_in_french(python, tmp_path, start, end, message):
    out = subprocess.run(
        [python, "-m", "bot", "indicators", "--from", start, "--to", end],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"AIGUILLAGE_DB": str(tmp_path / "x.db"), "PREFECTURE": "cantal"},
    )
    assert out.returncode == 2
    assert message in out.stderr and out.stdout == ""


def test_the_command_prints_a_table_and_json(python, full):
    env = command_env(full, PREFECTURE="cantal")  # the same SQLite file or PostgreSQL schema
    args = [python, "-m", "bot", "indicators", "--from", "2026-03-01", "--to", "2026-03-31"]
    out = subprocess.run(args + ["--json"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["prefecture"], data["from"], data["to"]) == ("cantal", "2026-03-01", "2026-03-31")
    r = by_id(data["indicators"])
    assert r["chat_volume"]["value"] == 4 and r["phone_reached"]["value"] == 0.8
    assert r["satisfaction_chat"]["value"] == 2 / 3 and r["chat_by_weekday"]["breakdown"]["lundi"] == 1
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "Indicateurs de qualité — préfecture du Cantal — du 01/03/2026 au 31/03/2026" in out.stdout
    assert "Appels aboutis (réponse, transfert ou messagerie)" in out.stdout
    assert "80,0\u00a0%" in out.stdout and "> 90\u00a0%" in out.stdout  # French typography: tests/test_indicator_numbers.py
    assert "## Satisfaction" in out.stdout and "66,7\u00a0%" in out.stdout and "> 75\u00a0%" in out.stdout
    assert "1,6\u00a0étapes" in out.stdout and "· mardi" in out.stdout


def test_the_command_counts_demo_rows_only_when_asked(python, full):
    add_conversation(full, "d1", "2026-03-03T09:00:00.000+00:00", "open", [("permis", "ants_3400", 1)], demo=1)
    env = command_env(full, PREFECTURE="cantal")  # the same SQLite file or PostgreSQL schema
    args = [python, "-m", "bot", "indicators", "--from", "2026-03-01", "--to", "2026-03-31", "--json"]
    for extra, expected in (([], 4), (["--include-demo"], 5)):
        out = subprocess.run(args + extra, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
        assert out.returncode == 0, out.stderr
        assert by_id(json.loads(out.stdout)["indicators"])["chat_volume"]["value"] == expected


@pytest.mark.sqlite_only  # its own server opens the SQLite file
def test_a_caller_says_the_answer_helped_then_the_indicator_reads_it(tmp_path):
    """Signed Twilio webhooks against a real server with its own store: key 9 after an answer, replayed once."""
    from conftest import TWILIO_TEST_TOKEN, db_rows, launch, stop

    from tools.ivr.simulate import Call

    server = launch(tmp_path)
    try:
        rated = Call(server.url, TWILIO_TEST_TOKEN)
        rated.start()
        rated.press("1")
        leaf = rated.press("1")  # carte grise
        assert leaf.says[-2:] == [
            "Pour revenir au menu principal, tapez 0.",
            "Si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8.",
        ]
        thanks = rated.press("9")
        assert thanks.says == [
            "Merci pour votre avis.",
            "Pour entendre le numéro, tapez 3.",
            "Pour revenir au menu principal, tapez 0.",
        ]
        assert thanks.route == "leaf" and thanks.node == "carte_grise"
        # Twilio replays the webhook: the same answer, still one rating.
        status, body = rated.request(leaf.gather["action"], rated._params({"Digits": "9", "CallStatus": "in-progress"}))
        assert (status, body) == (200, thanks.xml)
        # Once rated, 9 is no longer offered in this call.
        assert rated.press("9").says[0] == "Touche non valide."
        assert rated.press("0").says[-1] == "Pour réécouter, tapez étoile."  # the main menu
        rated.press("5")  # autre demande
        assert rated.press("3").says[-1] == "Pour revenir au menu principal, tapez 0."  # horaires: no rating again
        rated.hangup(duration=50)
        heard = Call(server.url, TWILIO_TEST_TOKEN)  # hears an answer, does not rate
        heard.start()
        heard.press("5")  # autre demande
        assert heard.press("1").says[-1] == "Si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8."  # armes
        heard.hangup(duration=30)
        unhelped = Call(server.url, TWILIO_TEST_TOKEN)  # hears the permis answer, says it did not help (8)
        unhelped.start()
        unhelped.press("1")
        unhelped.press("2")
        assert unhelped.press("8").says[0] == "Merci pour votre avis."
        unhelped.hangup(duration=40)
        rows = db_rows(
            server.db, "select kind, item_id, prefecture, useful, comment, topic, destination, demo from feedback order by id"
        )
        assert rows == [
            {
                "kind": "phone",
                "item_id": rated.call_sid,
                "prefecture": "cantal",
                "useful": 1,
                "comment": None,
                "topic": "carte_grise",
                "destination": "ants_3400",
                "demo": 0,
            },
            {
                "kind": "phone",
                "item_id": unhelped.call_sid,
                "prefecture": "cantal",
                "useful": 0,
                "comment": None,
                "topic": "permis_conduire",
                "destination": "ants_3400",
                "demo": 0,
            },
        ]
    finally:
        stop(server)
    from datetime import datetime, timedelta

    today = datetime.now(UTC).date()
    store = Store(server.db)
    try:
        r = by_id(
            indicators.compute(
                store, config_mod.load_prefecture("cantal"), today - timedelta(days=1), today + timedelta(days=1), today=today
            )
        )
    finally:
        store.close()
    assert (r["satisfaction_phone"]["value"], r["satisfaction_phone"]["count"]) == (0.5, 2)  # one 9, one 8
    assert (r["satisfaction"]["value"], r["satisfaction"]["count"], r["satisfaction"]["met"]) == (0.5, 2, False)
    assert (r["satisfaction_chat"]["value"], r["satisfaction_chat"]["note"]) == (None, "pas encore de données")
    assert (r["satisfaction_phone_participation"]["value"], r["satisfaction_phone_participation"]["count"]) == (2 / 3, 3)
    # A call counts under the last answer it heard: horaires_contact for the first one.
    assert r["phone_topics"]["breakdown"] == {"armes": 1, "horaires_contact": 1, "permis_conduire": 1}
    assert r["phone_outcomes"]["breakdown"] == {"answered": 3}


PINNED = ROOT / "tests" / "data" / "indicators_pinned.json"
PINNED_PERIODS = {
    "march": MARCH,
    "a monday": (date(2026, 3, 2), date(2026, 3, 2)),
    "the summer time change": (date(2026, 3, 29), date(2026, 3, 31)),
    "three months": (date(2026, 2, 1), date(2026, 4, 30)),
    "an empty year": (date(2025, 1, 1), date(2025, 12, 31)),
}


def pinned_figures(store) -> dict:
    """Every indicator (its whole dict, breakdowns in their order) of each period of PINNED_PERIODS, demo
    rows left out and counted, and the CSV of every table of the console's page and the committee report."""
    from bot.quality import report

    cantal = config_mod.load_prefecture("cantal")
    out = {}
    for name, (start, end) in PINNED_PERIODS.items():
        for demo in (False, True):
            key = f"{name}{', demo' if demo else ''}"
            out[key] = indicators.compute(store, cantal, start, end, today=TODAY, include_demo=demo)
            data = report.collect(store, cantal, start, end, include_demo=demo, today=TODAY, with_charts=False)
            out[key + ", tables"] = {t.id + ":" + t.title: t.csv() for t in report.tables(data)}
    return out


def fill_pinned(store) -> None:
    """`full`'s rows and more: questions with several spellings, buttons, demo rows, and timestamps written
    with a space instead of the T (in the period by their text, placed in no weekday nor hour)."""
    texts = ["Carte grise perdue", "carte  GRISE perdue !", "Récépissé ?", "récépissé", "RÉCÉPISSÉ", "/restart", ""]
    for i, text in enumerate(texts * 2):
        add_conversation(store, f"q{i}", f"2026-03-{2 + i:02d}T1{i % 10}:30:00.000+00:00", "open", [("carte_grise", None, 1)])
        store.db.execute("update turns set text = ? where conversation_id = ?", [text, f"q{i}"])
    add_conversation(store, "sp", "2026-03-10 09:00:00.000+00:00", "unresolved", [(None, "human", 0)])
    add_call(store, "ksp", "2026-03-11 08:00:00.000+00:00", "abandoned", 1, path=["root", "titre_sejour"], duration=33)
    add_conversation(store, "dm", "2026-03-03T09:00:00.000+00:00", "unresolved", [("permis", "human", 0)], demo=1)
    add_call(store, "kdm", "2026-03-03T09:00:00.000+00:00", "voicemail", 1, path=["root", "armes"], duration=20, demo=1)
    add_feedback(store, "phone", "k2", 0, "2026-03-03T08:05:00.000+00:00")
    add_feedback(store, "chat", "dm", 1, "2026-03-03T09:05:00.000+00:00", demo=1)
    # three calls' words got an answer; one caller chose another topic among its alternatives
    store.db.execute("update calls set spoken_answer = 1 where call_sid in ('k1', 'k2', 'k3', 'kdm')")
    store.db.execute("update calls set corrected = 1 where call_sid in ('k2', 'kdm')")


def test_every_figure_is_the_one_pinned(full):
    """The indicators and the report's tables of a store with known rows, to the last digit and in their
    order, on both backends: tests/data/indicators_pinned.json, written by the code before the
    indicators were made faster (docs/store.md). A change of a figure is a change of this file, said."""
    fill_pinned(full)
    got = json.loads(json.dumps(pinned_figures(full), ensure_ascii=False))
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert list(got) == list(pinned)
    for key in pinned:
        assert json.dumps(got[key], ensure_ascii=False) == json.dumps(pinned[key], ensure_ascii=False), key


@pytest.mark.sqlite_only
def test_a_callers_correction_counts_in_the_phone_indicator(tmp_path):
    """Signed Twilio webhooks against a real server with its own store. Two callers' words get the licence's
    answer; one says « non c'est pas ça » and chooses « Aide pour une démarche en ligne » by key (the
    correction), the other hangs up. A third reaches the same answer by keys: words answered are the base,
    as a chat's clicks are not. « Réponses corrigées par l'appelant »: 1 of 2."""
    from conftest import TWILIO_TEST_TOKEN, db_rows, launch, stop

    from tools.ivr.simulate import Call

    said = "j'ai besoin d'aide pour refaire mon permis de conduire sur internet"
    server = launch(tmp_path)
    try:
        corrected, kept, keys = (Call(server.url, TWILIO_TEST_TOKEN, now="2026-03-10T10:00") for _ in range(3))
        for call in (corrected, kept):
            call.start()
            assert call.say(said).node == "permis_conduire"
        corrected.say("non c'est pas ça")
        assert corrected.press("1").node == "rdv_pan"
        keys.start()
        keys.press("1")
        assert keys.press("2").node == "permis_conduire"
        for call in (corrected, kept, keys):
            call.hangup(duration=40)
        rows = db_rows(server.db, "select call_sid, spoken_answer, corrected from calls order by started_at")
        assert [(r["call_sid"], r["spoken_answer"], r["corrected"]) for r in rows] == [
            (corrected.call_sid, 1, 1),
            (kept.call_sid, 1, 0),
            (keys.call_sid, 0, 0),
        ]
    finally:
        stop(server)
    from datetime import timedelta

    today = datetime.now(UTC).date()
    store = Store(server.db)
    try:
        days = (today - timedelta(days=1), today + timedelta(days=1))  # the calls' Paris day, whatever the hour
        r = by_id(indicators.compute(store, config_mod.load_prefecture("cantal"), *days, today=today))
    finally:
        store.close()
    assert (r["phone_corrected"]["value"], r["phone_corrected"]["count"]) == (0.5, 2)
    assert r["phone_corrected"]["label"] == "Réponses corrigées par l'appelant (autre thème choisi parmi les propositions)"
