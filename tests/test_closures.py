"""Closure days (ponts, exceptional closures; issue 11 §4): declared in the préfecture file under
`prefecture.phone_hours.closures`, checked when the file is loaded, honoured by the phone (no
transfer to the standard that day, the voicemail offered) and said by the chat's hours answers
(today, or within `prefecture.phone_hours.closures_notice_days`).

No préfecture declares any yet (neither the seeds nor the domain facts give one): these tests run a
temporary copy of cantal.yml, through `AIGUILLAGE_PREFECTURES` (the folder of the préfecture files).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import MODEL, ROOT, TWILIO_TEST_TOKEN, bot_texts, db_rows, free_port, launch, stop

from bot.core.clock import PARIS, is_holiday
from bot.core.config import ConfigError, load_prefecture
from tools.ivr.simulate import Call

PREFECTURES = ROOT / "prefectures"
PONT = "2026-05-15"  # the Friday after Ascension (Thursday 14 May 2026)


def open_day_from(day: date) -> date:
    """`day`, or the first day after it when Aurillac's PAN and the standard are open (Monday to Friday,
    not a public holiday)."""
    while day.weekday() >= 5 or is_holiday(day):
        day += timedelta(days=1)
    return day


# A closure day within the PAN's booking window of the real date (the /rdv pages run on the real
# clock): an open day at least 3 days ahead, so that the window has open days before and after it.
AHEAD = open_day_from(datetime.now(PARIS).date() + timedelta(days=3))
AFTER_AHEAD = open_day_from(AHEAD + timedelta(days=1))


def prefectures_with(folder: Path, **phone_hours) -> Path:
    """A copy of the préfecture files where cantal.yml's `prefecture.phone_hours` has these keys added."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PREFECTURES / "_national.yml", folder / "_national.yml")
    text = (PREFECTURES / "cantal.yml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["prefecture"]["phone_hours"].update(phone_hours)
    (folder / "cantal.yml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def test_a_closure_day_that_is_not_an_iso_date_is_refused_with_the_file_and_the_value(tmp_path):
    # Unquoted, YAML reads 2026-05-15 as a date; quoted, "2026-05-15" is a string: both are fine.
    good = prefectures_with(tmp_path / "good", closures=["2026-05-15"])
    (good / "cantal.yml").write_text(
        (good / "cantal.yml").read_text(encoding="utf-8").replace("- '2026-05-15'", "- 2026-05-15\n    - '2026-12-24'"),
        encoding="utf-8",
    )
    assert load_prefecture("cantal", good).get("prefecture.phone_hours.closures") == ["2026-05-15", "2026-12-24"]
    bad = prefectures_with(tmp_path / "bad", closures=["2026-05-15", "15/05/2026"])
    with pytest.raises(ConfigError) as refused:
        load_prefecture("cantal", bad)
    assert str(refused.value) == (
        f"{bad / 'cantal.yml'}: key 'prefecture.phone_hours.closures': '15/05/2026' is not a date written YYYY-MM-DD"
    )
    for value, problem in (
        ("2026-02-30", "'2026-02-30' is not a date written YYYY-MM-DD"),
        ("20260515", "'20260515' is not a date written YYYY-MM-DD"),
    ):
        with pytest.raises(ConfigError, match=problem):
            load_prefecture("cantal", prefectures_with(tmp_path / value, closures=[value]))
    with pytest.raises(ConfigError, match="must be a list of dates"):
        load_prefecture("cantal", prefectures_with(tmp_path / "one", closures="2026-05-15"))
    with pytest.raises(ConfigError, match="closures_notice_days': must be a whole number of days"):
        load_prefecture("cantal", prefectures_with(tmp_path / "notice", closures_notice_days=-1))


def test_bot_check_and_the_server_start_refuse_a_bad_closure_day(tmp_path):
    bad = prefectures_with(tmp_path / "bad", closures=["15/05/2026"])
    env = {"AIGUILLAGE_PREFECTURES": str(bad), "PREFECTURE": "cantal"}
    checked = subprocess.run(
        [sys.executable, "-m", "bot", "check"], cwd=ROOT, env=dict(os.environ, **env), capture_output=True, text=True
    )
    assert (checked.returncode, checked.stderr.strip()) == (
        1,
        f"configuration error: {bad / 'cantal.yml'}: key 'prefecture.phone_hours.closures': "
        "'15/05/2026' is not a date written YYYY-MM-DD",
    )
    serve = [sys.executable, "-m", "bot", "serve", "--model", str(MODEL), "--port", str(free_port())]
    env = dict(os.environ, AIGUILLAGE_DB=str(tmp_path / "aiguillage.db"), RASA_TELEMETRY_ENABLED="false", **env)
    served = subprocess.run(
        serve + ["--credentials", "credentials.yml"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert served.returncode != 0
    assert "'15/05/2026' is not a date written YYYY-MM-DD" in served.stdout + served.stderr


@pytest.fixture(scope="module")
def closing(tmp_path_factory):
    """A server of a Cantal that closes on the pont of 15 May 2026 and on AHEAD (a day of the real
    date's booking window), telling it 7 days ahead."""
    tmp = tmp_path_factory.mktemp("closures")
    folder = prefectures_with(tmp / "prefectures", closures=[PONT, AHEAD.isoformat()], closures_notice_days=7)
    server = launch(tmp, extra_env={"AIGUILLAGE_PREFECTURES": str(folder)})
    yield server
    stop(server)


def chat_at(server, sender: str, message: str, now: str) -> str:
    """The chat's answer to `message` with the test clock (X-Ivr-Now, honoured with IVR_TEST_CLOCK=1) at `now`."""
    req = urllib.request.Request(
        server.url + "/chat/webhook",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json", "X-Ivr-Now": now},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return bot_texts(json.loads(resp.read().decode()))


def test_the_chats_hours_answer_says_the_closure_today_and_days_ahead(closing):
    notice = "Attention : la préfecture du Cantal sera fermée le vendredi 15 mai 2026."
    today = "Attention : la préfecture du Cantal est fermée aujourd'hui, vendredi 15 mai 2026."
    ahead = chat_at(closing, "closures-1", "quels sont les horaires de la préfecture ?", "2026-05-11T10:00")
    assert ahead.startswith(notice)
    assert today not in ahead
    on_the_day = chat_at(closing, "closures-2", "quels sont les horaires de la préfecture ?", "2026-05-15T10:00")
    assert on_the_day.startswith(today)
    too_early = chat_at(closing, "closures-3", "quels sont les horaires de la préfecture ?", "2026-05-07T10:00")
    after = chat_at(closing, "closures-4", "quels sont les horaires de la préfecture ?", "2026-05-18T10:00")
    assert ("Attention" in too_early, "Attention" in after) == (False, False)
    assert "du lundi au vendredi de 8 h 30 à 12 h et de 13 h 30 à 16 h 30" in too_early
    # Another answer that gives the standard's hours (the person to talk to) says it too.
    human = chat_at(closing, "closures-5", "je veux parler à un agent", "2026-05-15T10:00")
    assert human.startswith(today)


def test_the_phone_does_not_transfer_to_the_standard_on_a_closure_day(closing):
    open_day = Call(closing.url, TWILIO_TEST_TOKEN, now="2026-05-13T10:00")
    open_day.start()
    assert open_day.press("0").dial is not None  # a Wednesday at 10:00: the standard answers
    pont = Call(closing.url, TWILIO_TEST_TOKEN, now=f"{PONT}T10:00")
    pont.start()
    turn = pont.press("0")
    assert turn.dial is None
    said = " ".join(turn.says)
    assert "Pour laisser un message au service concerné, courrier de la préfecture, tapez 2." in said
    assert "du lundi au vendredi de 8 h 30 à 12 h et de 13 h 30 à 16 h 30" in said
    assert pont.press("2").record is not None  # the voicemail


def test_the_phones_hours_answer_says_the_closure_today_and_days_ahead(closing):
    """The phone's own hours answer (5, then 3: les horaires et l'adresse) says the closure the way the
    chat's does: on the day, and `closures_notice_days` days before, first, then the answer."""
    today = "Préfecture fermée aujourd'hui."
    ahead = "Préfecture fermée le vendredi 15 mai."
    answer = "La préfecture du Cantal se trouve "
    heard = {}
    for now in ("2026-05-07T10:00", "2026-05-11T10:00", f"{PONT}T10:00", "2026-05-18T10:00"):
        call = Call(closing.url, TWILIO_TEST_TOKEN, now=now)
        call.start()
        call.press("5")
        heard[now] = call.press("3").says
        assert call.last.node == "horaires_contact"
    assert heard["2026-05-11T10:00"][0] == ahead
    assert heard[f"{PONT}T10:00"][0] == today
    # On the day, "fermée aujourd'hui" says the standard is closed: not again in other words.
    assert "Le standard de la préfecture est fermé en ce moment." not in heard[f"{PONT}T10:00"]
    assert "Pour laisser un message au service concerné, courrier de la préfecture, tapez 2." in heard[f"{PONT}T10:00"]
    saturday = Call(closing.url, TWILIO_TEST_TOKEN, now="2026-05-16T10:00")
    saturday.start()
    saturday.press("5")
    assert "Le standard de la préfecture est fermé en ce moment." in saturday.press("3").says
    assert heard["2026-05-11T10:00"][1].startswith(answer) and heard[f"{PONT}T10:00"][1].startswith(answer)
    assert [says[0].startswith(answer) for says in (heard["2026-05-07T10:00"], heard["2026-05-18T10:00"])] == [True, True]
    assert not any("Attention" in s for s in heard["2026-05-07T10:00"] + heard["2026-05-18T10:00"])
    # The person's leaf, which says the standard's hours when it cannot transfer, says it too.
    pont = Call(closing.url, TWILIO_TEST_TOKEN, now=f"{PONT}T10:00")
    pont.start()
    assert pont.press("0").says[0] == today


def test_several_closure_days_ahead_are_said_in_one_sentence(tmp_path):
    from datetime import date

    from bot.core.closures import notice

    folder = prefectures_with(tmp_path / "p", closures=["2026-05-15", "2026-05-18", "2026-12-24"], closures_notice_days=7)
    pref = load_prefecture("cantal", folder)
    assert notice(pref, date(2026, 5, 11)) == (
        "Attention : la préfecture du Cantal sera fermée le vendredi 15 mai 2026 et le lundi 18 mai 2026."
    )
    assert notice(pref, date(2026, 5, 15)) == (
        "Attention : la préfecture du Cantal est fermée aujourd'hui, vendredi 15 mai 2026. "
        "Attention : la préfecture du Cantal sera fermée le lundi 18 mai 2026."
    )
    assert (notice(pref, date(2026, 5, 19)), notice(pref, date(2026, 12, 16))) == ("", "")


def test_the_phone_names_one_closure_day_today_first_then_the_nearest_ahead(tmp_path):
    """The phone's prompts are timed (tests/test_ivr_durations.py): a second day named would take the
    offer of a person past its 25 s, so the phone names one (`phone.closures.days_said`), where the
    chat names them all. Days declared out of order are still said nearest first."""
    from datetime import date

    from bot.core import tree
    from bot.core.clock import french_date_voice
    from bot.core.closures import notice

    folder = prefectures_with(tmp_path / "p", closures=["2026-05-15", "2026-05-12"], closures_notice_days=7)
    pref = load_prefecture("cantal", folder)
    phone = tree.current().phone["closures"]
    said = {day: notice(pref, date(2026, 5, day), phone, french_date_voice) for day in (11, 12, 13, 15, 16)}
    assert said == {
        11: "Préfecture fermée le mardi 12 mai.",
        12: "Préfecture fermée aujourd'hui.",
        13: "Préfecture fermée le vendredi 15 mai.",
        15: "Préfecture fermée aujourd'hui.",
        16: "",
    }
    assert notice(pref, date(2026, 5, 11)) == (
        "Attention : la préfecture du Cantal sera fermée le mardi 12 mai 2026 et le vendredi 15 mai 2026."
    )


def test_the_phones_other_sentences_that_say_the_hours_say_the_closure_too(closing):
    """Issue 11 (helper brief left11, item 4). The offer of a person after three misses while the
    standard is closed ("Standard fermé, ouvert …") and the closing words after the misses
    at that offer ("Je n'ai pas pu vous orienter. Le standard … répond …") say the standard's hours:
    on the closure day and the days before it, the closure notice comes first, as in the hours answer.
    Before: only the hours answer (and the person's leaf) said it."""
    today = "Préfecture fermée aujourd'hui."
    ahead = "Préfecture fermée le vendredi 15 mai."
    closed = "Standard fermé, ouvert du lundi au vendredi de 8 h 30 à 12 h et de 13 h 30 à 16 h 30, sauf jours fériés."
    closing_words = (
        "Je n'ai pas pu vous orienter. Le standard répond du lundi au vendredi de 8 h 30 à 12 h et de 13 h 30 à 16 h 30."
    )
    heard = {}
    # 4 days before in the evening (closed: the offer says the hours), the day itself, a week after
    for now in ("2026-05-11T19:00", f"{PONT}T10:00", "2026-05-22T19:00"):
        call = Call(closing.url, TWILIO_TEST_TOKEN, now=now)
        call.start()
        call.silence()
        call.silence()
        offer = call.silence()  # the third miss: a person, or the voicemail (the standard is closed)
        assert offer.route == "offer" and closed in offer.says
        call.silence()
        goodbye = call.silence()  # two misses at the offer: the call is closed politely, with the hours
        assert goodbye.hangup and closing_words in goodbye.says
        heard[now] = (offer.says, goodbye.says)
    offer, goodbye = heard["2026-05-11T19:00"]
    assert offer[offer.index(closed) - 1] == ahead and goodbye[goodbye.index(closing_words) - 1] == ahead
    offer, goodbye = heard[f"{PONT}T10:00"]
    assert offer[offer.index(closed) - 1] == today and goodbye[goodbye.index(closing_words) - 1] == today
    offer, goodbye = heard["2026-05-22T19:00"]
    assert not any(s.startswith("Attention") for s in offer + goodbye)


def test_no_pan_slot_is_offered_nor_booked_on_a_closure_day(closing):
    """The préfecture closed (the chat says « la préfecture du Cantal est fermée … ») offers no PAN
    appointment that day, by phone, on the /rdv pages and in their API. Before: the slots of the closure
    day were offered and booked like any other (only public holidays were skipped)."""
    # By phone on Wednesday 13 May 2026 at 10:00 (too late for that morning): Thursday is Ascension,
    # Friday the pont, so the next slots are on Monday 18 May (Aurillac and Mauriac open on Mondays).
    call = Call(closing.url, TWILIO_TEST_TOKEN, now="2026-05-13T10:00")
    call.start()
    call.press("5")
    call.press("2")
    assert " ".join(call.press("4").says).startswith(
        "Voici les prochains créneaux libres au point d'accueil numérique."
        " Le lundi 18 mai, à 9 heures, Aurillac (préfecture) : tapez 1."
        " Le lundi 18 mai, à 9 heures, Mauriac (sous-préfecture) : tapez 2."
        " Le lundi 18 mai, à 9 heures 30, Aurillac (préfecture) : tapez 3."
    )
    # Online (the real clock): the slots after the day before AHEAD go on with the open day after it.
    before = (AHEAD - timedelta(days=1)).isoformat()
    status, body, _ = closing.get(f"/rdv/api/creneaux?site=aurillac&reason=autre&apres={before}T11:30")
    keys = [slot["key"] for slot in json.loads(body)["slots"]]
    assert (status, keys[0]) == (200, f"{AFTER_AHEAD.isoformat()}T09:00")
    assert not [key for key in keys if key.startswith(AHEAD.isoformat())]
    # The page without JavaScript: the closure day is not among the days to choose, nor its slots shown.
    status, page, _ = closing.get(f"/rdv/creneaux?site=aurillac&motif=autre&jour={AHEAD.isoformat()}")
    assert status == 200 and f'value="{AHEAD.isoformat()}' not in page
    assert f'value="{AFTER_AHEAD.isoformat()}T09:00"' in page
    # A slot of the closure day sent all the same is refused, and nothing is booked.
    slot = {"site": "aurillac", "reason": "autre", "slot": f"{AHEAD.isoformat()}T09:00", "idem": uuid.uuid4().hex}
    status, answer = closing.post("/rdv/api/reserver", slot | {"email": "fermeture@example.org"})
    assert (status, answer["error"]) == (400, "Ce créneau n'existe pas : choisissez un des créneaux proposés.")


def test_a_message_is_due_five_working_days_after_it_came_the_closure_days_not_counted(closing, tmp_path):
    """« Réponse sous 5 jours ouvrés »: a day the préfecture is closed is no working day of its services,
    like a public holiday. Before: the pont counted as a working day, and a message was due a day early.
    Written first: online (the real clock, the closure AHEAD), by phone (a voicemail at the test clock),
    and the time to answer kept for the indicators."""
    from bot.core.clock import french_date
    from bot.quality import indicators
    from bot.services import tickets
    from bot.store.database import Store

    # Online, now: due the 5th open day after today, AHEAD (a closure within them) not counted.
    today = datetime.now(PARIS).date()
    open_days = [day for day in (today + timedelta(days=n) for n in range(1, 20)) if open_day_from(day) == day]
    assert AHEAD in open_days[:5]  # the closure falls within the five days
    due = [day for day in open_days if day != AHEAD][4]
    status, ack = closing.post(
        "/rdv/api/message", {"service": "armes", "subject": "Un pont", "body": "Bonjour, une question.", "idem": uuid.uuid4().hex}
    )
    assert status == 200 and ack["due_date"] == due.strftime("%d/%m/%Y")
    assert f"qui vous répondra au plus tard le {french_date(due)}." in ack["lines"][0]
    # By phone on Wednesday 13 May 2026 at 18:00 (Thursday Ascension, Friday the pont): due Friday 22 May.
    call = Call(closing.url, TWILIO_TEST_TOKEN, now="2026-05-13T18:00")
    call.start()
    call.press("5")
    call.press("1")
    call.press("2")
    call.record(recording_sid="RE" + call.call_sid[2:])
    row = db_rows(closing.db, "select due_date from tickets where idempotency_key = ?", ["voicemail:RE" + call.call_sid[2:]])
    assert row == [{"due_date": "2026-05-22"}]
    # Answered on its due date, it was answered on time: 5 working days, the target met.
    pref = load_prefecture("cantal", prefectures_with(tmp_path / "p", closures=[PONT]))
    store = Store(tmp_path / "store.db")
    when = datetime(2026, 5, 13, 18, 0, tzinfo=PARIS)
    ticket = tickets.create_ticket(store, pref, "armes", "Un pont", "Bonjour.", None, now=when)
    assert ticket["due_date"] == "2026-05-22"
    done = tickets.mark_answered(store, ticket["reference"], now=datetime(2026, 5, 22, 10, 0, tzinfo=PARIS), pref=pref)
    assert done["answer_working_days"] == 5
    on_time = next(
        i for i in indicators.compute(store, pref, date(2026, 5, 1), date(2026, 5, 31)) if i["id"] == "tickets_on_time"
    )
    assert (on_time["value"], on_time["met"]) == (1.0, True)


def test_on_a_public_holiday_the_chats_hours_answer_says_the_prefecture_is_closed_today(closing):
    """On a public holiday that falls on a day the standard answers, the chat's answers that give the
    standard's hours say first that the préfecture is closed today, as on a closure day (the phone says
    « Le standard de la préfecture est fermé en ce moment. » and does not transfer). Before: the chat gave
    « répond du lundi au vendredi … » as on any day, and people called a closed standard."""
    hours = "La préfecture du Cantal se trouve Cours Monthyon, 15000 Aurillac. Son standard téléphonique"
    question = "quels sont les horaires de la préfecture ?"
    ascension = chat_at(closing, "holiday-1", question, "2026-05-14T10:00")  # Thursday; the pont is the next day
    assert ascension.startswith(
        "Attention : la préfecture du Cantal est fermée aujourd'hui, jeudi 14 mai 2026."
        " Attention : la préfecture du Cantal sera fermée le vendredi 15 mai 2026. " + hours
    )
    for now, day in (("2026-05-25T10:00", "lundi 25 mai 2026"), ("2027-03-29T10:00", "lundi 29 mars 2027")):
        answer = chat_at(closing, f"holiday-{now[:10]}", question, now)  # lundi de Pentecôte, lundi de Pâques
        assert answer.startswith(f"Attention : la préfecture du Cantal est fermée aujourd'hui, {day}. {hours}")
    # A holiday on a Saturday (the standard is closed anyway) and the day after a holiday: the answer alone.
    for now in ("2026-08-15T10:00", "2026-05-26T10:00"):
        assert chat_at(closing, f"holiday-{now[:10]}", question, now).startswith(hours)
    # The phone on Whit Monday: no transfer, and its hours answer says the standard is closed now.
    call = Call(closing.url, TWILIO_TEST_TOKEN, now="2026-05-25T10:00")
    call.start()
    call.press("5")
    assert "Le standard de la préfecture est fermé en ce moment." in call.press("3").says
