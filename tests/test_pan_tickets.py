"""PAN appointments and service-mailbox tickets: pure modules against real SQLite files and a
real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from store_backends import command_env

from bot.core import config, texts
from bot.services import identity, mailer, pan, tickets
from bot.services.pan import BookingError
from bot.services.tickets import TicketError
from bot.store.database import MIGRATIONS, Store

pytestmark = pytest.mark.usefixtures("store_backend")  # SQLite and PostgreSQL (tests/store_backends.py)

CANTAL = config.load_prefecture("cantal")
MONDAY = datetime(2026, 7, 6, 8, 0)  # a week before the week of 14 July


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def keys(slots):
    return [s.key for s in slots]


# ---- slots -------------------------------------------------------------------------------


def test_migration_004_follows_the_console_and_creates_the_tables(store):
    names = [n for n, _ in MIGRATIONS]
    assert names[3] == "004_pan_and_tickets"
    assert {"pan_bookings", "tickets", "outbox"} <= set(store.db.table_names())


def test_slots_across_the_week_of_14_july_skip_the_holiday():
    week = pan.generate_slots(CANTAL, "aurillac", date(2026, 7, 13), 7)
    days = sorted({s.start.date().isoformat() for s in week})
    assert days == ["2026-07-13", "2026-07-15", "2026-07-16", "2026-07-17"]  # 14 July closed, no weekend
    assert len(week) == 24  # 4 mornings of 09:00-12:00 in 30-minute slots
    assert keys(week)[:6] == [
        "2026-07-13T09:00",
        "2026-07-13T09:30",
        "2026-07-13T10:00",
        "2026-07-13T10:30",
        "2026-07-13T11:00",
        "2026-07-13T11:30",
    ]
    assert keys(pan.generate_slots(CANTAL, "saint-flour", date(2026, 7, 13), 7)) == [
        "2026-07-17T09:00",
        "2026-07-17T09:30",
        "2026-07-17T10:00",
        "2026-07-17T10:30",
        "2026-07-17T11:00",
        "2026-07-17T11:30",
    ]  # Tuesday is the holiday, Friday remains
    assert len(pan.generate_slots(CANTAL, "mauriac", date(2026, 7, 13), 7)) == 12


def test_tuesday_afternoon_is_offered_only_for_a_titre_de_sejour():
    plain = pan.generate_slots(CANTAL, "aurillac", date(2026, 7, 21), 1)
    foreign = pan.generate_slots(CANTAL, "aurillac", date(2026, 7, 21), 1, reason="titre_sejour")
    assert len(plain) == 6 and len(foreign) == 10
    assert [s.key for s in foreign if s.foreigners] == [
        "2026-07-21T14:00",
        "2026-07-21T14:30",
        "2026-07-21T15:00",
        "2026-07-21T15:30",
    ]


def test_free_slots_start_after_the_notice_and_skip_booked_ones(store):
    now = datetime(2026, 7, 13, 9, 40)  # Monday 9:40; 2 hours of notice -> first slot 11:40 or later
    first = pan.free_slots(store, CANTAL, "aurillac", now, limit=3)
    assert keys(first) == ["2026-07-15T09:00", "2026-07-15T09:30", "2026-07-15T10:00"]
    pan.book(store, CANTAL, "aurillac", "2026-07-15T09:00", "carte_grise", email="a@exemple.fr", now=now)
    assert keys(pan.free_slots(store, CANTAL, "aurillac", now, limit=2)) == ["2026-07-15T09:30", "2026-07-15T10:00"]


# ---- booking -----------------------------------------------------------------------------


def test_a_booking_has_a_reference_and_only_the_contact_given(store):
    b = pan.book(store, CANTAL, "aurillac", "2026-07-15T10:00", "permis_conduire", mobile="06 12 34 56 78", now=MONDAY)
    assert b["created"] is True and b["status"] == "booked"
    assert b["reference"].startswith("PAN-") and len(b["reference"]) == 13
    assert (b["contact_kind"], b["contact"], b["slot_end"], b["seat"]) == ("mobile", "06 12 34 56 78", "2026-07-15T10:30", 1)
    # no e-mail given: nothing queued
    assert store.db.execute("select count(*) from outbox").fetchone()[0] == 0


def test_twenty_parallel_bookings_of_one_slot_give_exactly_one_success(tmp_path):
    path = tmp_path / "race.db"
    Store(path).close()
    barrier = threading.Barrier(20)
    results: list = []

    def attempt(i):
        s = Store(path)  # one connection per thread, as separate requests or processes would have
        barrier.wait()
        try:
            results.append(
                pan.book(s, CANTAL, "aurillac", "2026-07-16T09:00", "carte_grise", email=f"user{i}@exemple.fr", now=MONDAY)
            )
        except BookingError as exc:
            results.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if isinstance(r, dict)]
    losses = [r for r in results if isinstance(r, BookingError)]
    assert (len(wins), len(losses)) == (1, 19)
    assert {e.code for e in losses} == {"slot_taken"}
    assert keys(losses[0].next_slots)[:2] == ["2026-07-16T09:30", "2026-07-16T10:00"]
    assert "vient d'être pris" in losses[0].message
    s = Store(path)
    assert s.db.execute("select count(*) from pan_bookings where slot_start = '2026-07-16T09:00'").fetchone()[0] == 1
    assert s.db.execute("select count(*) from outbox").fetchone()[0] == 1  # one confirmation only


def test_the_same_idempotency_key_books_once(store):
    first = pan.book(
        store, CANTAL, "aurillac", "2026-07-17T11:00", "autre", email="x@exemple.fr", idempotency_key="k-1", now=MONDAY
    )
    again = pan.book(
        store, CANTAL, "aurillac", "2026-07-17T11:00", "autre", email="x@exemple.fr", idempotency_key="k-1", now=MONDAY
    )
    assert again["created"] is False and again["reference"] == first["reference"]
    assert store.db.execute("select count(*) from pan_bookings").fetchone()[0] == 1
    assert store.db.execute("select count(*) from outbox").fetchone()[0] == 1


def test_capacity_two_gives_two_seats(store):
    data = dict(CANTAL.data, pan=dict(CANTAL.data["pan"], capacity=2))
    pref = config.Prefecture("cantal", data, CANTAL.file)
    a = pan.book(store, pref, "mauriac", "2026-07-16T09:00", "autre", email="a@exemple.fr", now=MONDAY)
    b = pan.book(store, pref, "mauriac", "2026-07-16T09:00", "autre", email="b@exemple.fr", now=MONDAY)
    assert (a["seat"], b["seat"]) == (1, 2)
    with pytest.raises(BookingError) as exc:
        pan.book(store, pref, "mauriac", "2026-07-16T09:00", "autre", email="c@exemple.fr", now=MONDAY)
    assert exc.value.code == "slot_taken"


def test_the_last_free_slot_taken_meanwhile_says_none_is_left_not_here_are_the_next(store):
    """Two people on the last free slot of a site: the second was told "Voici les prochains créneaux
    libres" and shown none. A slot taken with free ones before it offers those."""
    data = dict(CANTAL.data, pan=dict(CANTAL.data["pan"], booking_days_ahead=3))
    pref = config.Prefecture("cantal", data, CANTAL.file)
    free = pan.free_slots(store, pref, "mauriac", MONDAY, limit=100)
    assert len(free) >= 3
    for i, slot in enumerate(free[1:-1]):
        pan.book(store, pref, "mauriac", slot.key, "autre", email=f"p{i}@exemple.fr", now=MONDAY)
    # the last slot taken, the first still free: offered
    pan.book(store, pref, "mauriac", free[-1].key, "autre", email="a@exemple.fr", now=MONDAY)
    with pytest.raises(BookingError) as exc:
        pan.book(store, pref, "mauriac", free[-1].key, "autre", email="b@exemple.fr", now=MONDAY)
    assert exc.value.code == "slot_taken"
    assert (
        exc.value.message == "Désolé, ce créneau vient d'être pris par une autre personne. Voici les prochains créneaux libres."
    )
    assert keys(exc.value.next_slots) == [free[0].key]
    # the first one taken too: nothing left, and said so
    pan.book(store, pref, "mauriac", free[0].key, "autre", email="c@exemple.fr", now=MONDAY)
    with pytest.raises(BookingError) as exc:
        pan.book(store, pref, "mauriac", free[0].key, "autre", email="d@exemple.fr", now=MONDAY)
    assert (exc.value.code, exc.value.next_slots) == ("slot_taken", [])
    assert exc.value.message == (
        "Désolé, ce créneau vient d'être pris par une autre personne, et aucun autre n'est libre dans les 3 "
        "prochains jours à cet endroit. Choisissez un autre lieu, ou appelez la préfecture (04 71 46 23 00, "
        "du lundi au vendredi de 8 h 30 à 12 h et de 13 h 30 à 16 h 30)."
    )


@pytest.mark.parametrize(
    "kwargs, code",
    [
        (dict(site_id="paris"), "unknown_site"),
        (dict(slot_start="2026-07-06T09:00"), "past_slot"),  # earlier the same morning: too late
        (dict(slot_start="2026-07-01T09:00"), "past_slot"),
        (dict(slot_start="2026-07-14T09:00"), "bad_slot"),  # 14 July
        (dict(slot_start="2026-07-15T09:10"), "bad_slot"),  # not a slot boundary
        (dict(slot_start="2026-07-15T14:00"), "bad_slot"),  # afternoon: closed
        (dict(slot_start="demain"), "bad_slot"),
        (dict(reason="impots"), "unknown_reason"),
        (dict(email="pas-une-adresse"), "bad_email"),
        (dict(email="a@b"), "bad_email"),
        (dict(email=None, mobile="04 71 46 23 00"), "bad_mobile"),  # a landline cannot receive a text
        (dict(email=None, mobile="06 12"), "bad_mobile"),
        (dict(email=None, mobile=None), "contact_missing"),
    ],
)
def test_bad_booking_inputs_are_refused_with_a_french_message_and_nothing_written(store, kwargs, code):
    args = dict(site_id="aurillac", slot_start="2026-07-15T09:00", reason="carte_grise", email="a@exemple.fr")
    args.update(kwargs)
    with pytest.raises(BookingError) as exc:
        pan.book(
            store,
            CANTAL,
            args.pop("site_id"),
            args.pop("slot_start"),
            args.pop("reason"),
            now=datetime(2026, 7, 6, 8, 30),
            **args,
        )
    assert exc.value.code == code
    assert exc.value.message == texts.say(f"pan.errors.{code}", CANTAL)
    assert store.db.execute("select count(*) from pan_bookings").fetchone()[0] == 0
    assert store.db.execute("select count(*) from outbox").fetchone()[0] == 0


def test_error_messages_are_plain_french():
    assert pan.BookingError("bad_mobile", CANTAL).message.startswith("Le numéro de téléphone portable n'est pas valide")
    assert pan.BookingError("past_slot", CANTAL).message.startswith("Ce créneau est déjà passé")


def test_cancel_needs_the_reference_and_the_contact_and_frees_the_slot(store):
    b = pan.book(store, CANTAL, "aurillac", "2026-07-15T09:00", "carte_grise", mobile="0612345678", now=MONDAY)
    with pytest.raises(BookingError) as exc:
        pan.cancel(store, CANTAL, b["reference"], "07 00 00 00 00", now=MONDAY)
    assert exc.value.code == "not_found"
    with pytest.raises(BookingError):
        pan.cancel(store, CANTAL, "PAN-0000-0000", "06 12 34 56 78", now=MONDAY)
    done = pan.cancel(store, CANTAL, b["reference"].lower(), "+33 6 12 34 56 78", now=MONDAY)
    assert done["status"] == "cancelled" and done["cancelled_at"]
    with pytest.raises(BookingError) as exc:
        pan.cancel(store, CANTAL, b["reference"], "06 12 34 56 78", now=MONDAY)
    assert exc.value.code == "already_cancelled"
    again = pan.book(store, CANTAL, "aurillac", "2026-07-15T09:00", "carte_grise", email="z@exemple.fr", now=MONDAY)
    assert again["seat"] == 1  # the seat is free again


@pytest.mark.parametrize("written", ["PAN {a} {b}", "{a}{b}", "pan.{a}.{b}", " PAN-{a}-{b} ", "{a} {b}", "PAN{a}{b}"])
def test_the_reference_is_found_however_its_dashes_are_written(store, written):
    """An outside-in audit (2026-12-04): "PAN 7070 0716" and "70700716" were refused, and each try
    counted as a wrong guess. The eight digits, with or without "PAN" and the dashes, are the reference."""
    b = pan.book(store, CANTAL, "aurillac", "2026-07-16T09:00", "carte_grise", mobile="0612345679", now=MONDAY)
    a, rest = b["reference"][4:8], b["reference"][9:]
    done = pan.cancel(store, CANTAL, written.format(a=a, b=rest), "06 12 34 56 79", now=MONDAY)
    assert (done["reference"], done["status"]) == (b["reference"], "cancelled")


def test_ten_cancellations_of_one_booking_at_once_cancel_it_once_with_one_email(store):
    """The person presses "Annuler" on two devices, or a retried request arrives beside the first: the
    status is read again under the booking's key, so one cancellation is done and one e-mail queued;
    the others are told it is already cancelled (they all read it booked before)."""
    b = pan.book(store, CANTAL, "aurillac", "2026-07-15T11:00", "autre", email="deux@exemple.fr", now=MONDAY)
    barrier = threading.Barrier(10)
    outcomes: list[str] = []

    def cancel() -> None:
        own = Store(store.path)
        barrier.wait()
        try:
            outcomes.append(pan.cancel(own, CANTAL, b["reference"], "deux@exemple.fr", now=MONDAY)["status"])
        except BookingError as exc:
            outcomes.append(exc.code)
        finally:
            own.close()

    threads = [threading.Thread(target=cancel) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already_cancelled"] * 9 + ["cancelled"]
    mails = store.db.execute("select to_addr from outbox where kind = 'booking_cancelled'").fetchall()
    assert [m[0] for m in mails] == ["deux@exemple.fr"]


def test_day_view_and_no_show_for_the_console(store):
    a = pan.book(store, CANTAL, "aurillac", "2026-07-15T10:00", "carte_grise", email="a@exemple.fr", now=MONDAY)
    b = pan.book(store, CANTAL, "aurillac", "2026-07-15T09:00", "permis_conduire", email="b@exemple.fr", now=MONDAY)
    pan.book(store, CANTAL, "aurillac", "2026-07-16T09:00", "autre", email="c@exemple.fr", now=MONDAY)
    day = pan.bookings_for_day(store, "aurillac", date(2026, 7, 15))
    assert [r["reference"] for r in day] == [b["reference"], a["reference"]]
    assert pan.mark_no_show(store, a["reference"])["status"] == "no_show"
    assert pan.mark_no_show(store, "PAN-0000-0000") is None


def test_ics_file_of_a_booking():
    from icalendar import Calendar

    booking = {
        "reference": "PAN-1234-5678",
        "site": "aurillac",
        "slot_start": "2026-07-15T09:00",
        "slot_end": "2026-07-15T09:30",
        "status": "booked",
    }
    cal = Calendar.from_ical(pan.ics(CANTAL, booking))
    event = cal.walk("VEVENT")[0]
    assert str(event["uid"]) == "PAN-1234-5678@aiguillage"
    assert event.decoded("dtstart").isoformat() == "2026-07-15T09:00:00+02:00"
    assert event.decoded("dtend").isoformat() == "2026-07-15T09:30:00+02:00"
    assert "Cours Monthyon, 15000 Aurillac" in str(event["location"])


def test_french_dates():
    assert pan.say_when(datetime(2026, 7, 15, 9, 0)) == "mercredi 15 juillet 2026 à 9 h"
    assert pan.say_when(datetime(2026, 7, 15, 9, 30)) == "mercredi 15 juillet 2026 à 9 h 30"


# ---- due dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "received, origin, due",
    [
        ("2026-07-10", "email", "2026-07-20"),  # Friday before 14 July: 13, 15, 16, 17, 20
        ("2026-07-10", "paper", "2026-07-27"),  # 10 working days
        ("2026-05-13", "email", "2026-05-21"),  # Wednesday before Ascension (Thu 14 May): 15, 18, 19, 20, 21
        ("2026-05-20", "email", "2026-05-28"),  # over Whit Monday (25 May)
        ("2026-07-11", "email", "2026-07-20"),  # a Saturday
        ("2026-07-06", "email", "2026-07-13"),  # plain week
    ],
)
def test_due_dates_count_working_days_with_holidays(received, origin, due):
    assert tickets.due_date(CANTAL, date.fromisoformat(received), origin).isoformat() == due


# ---- tickets -----------------------------------------------------------------------------

FRIDAY = datetime(2026, 7, 10, 15, 0)


def test_a_ticket_names_its_service_and_due_date(store):
    t = tickets.create_ticket(
        store, CANTAL, "armes", "Renouvellement carte européenne", "Bonjour, ma carte expire.", "jean@exemple.fr", now=FRIDAY
    )
    assert t["reference"].startswith("MSG-") and t["created"] is True
    assert (t["service"], t["service_email"], t["due_date"], t["status"], t["delivery_status"]) == (
        "bureau des polices administratives (armes)",
        "pref-armes@cantal.gouv.fr",
        "2026-07-20",
        "open",
        "pending",
    )
    ack = tickets.ack_lines(CANTAL, t)
    assert ack[0] == (
        f"Votre message {t['reference']} est transmis au service « bureau des polices administratives "
        "(armes) », qui vous répondra au plus tard le lundi 20 juillet 2026."
    )
    assert ack[-1].endswith("https://www.france-services.gouv.fr")
    kinds = [r[0] for r in store.db.execute("select kind from outbox order by id")]
    assert kinds == ["ticket", "ticket_ack"]


@pytest.mark.parametrize(
    "mailbox, subject, body, email, code",
    [
        ("inconnu", "Objet", "Texte", None, "unknown_service"),
        ("armes", "  ", "Texte", None, "subject_missing"),
        ("armes", "x" * 151, "Texte", None, "subject_too_long"),
        ("armes", "Objet", "   ", None, "body_missing"),
        ("armes", "Objet", "a" * 10000, None, "body_too_long"),
        ("armes", "Objet", "Texte", "jean@", "bad_email"),
    ],
)
def test_bad_ticket_inputs_are_refused_and_nothing_is_written(store, mailbox, subject, body, email, code):
    with pytest.raises(TicketError) as exc:
        tickets.create_ticket(store, CANTAL, mailbox, subject, body, email, now=FRIDAY)
    assert exc.value.code == code
    assert store.db.execute("select count(*) from tickets").fetchone()[0] == 0
    assert store.db.execute("select count(*) from outbox").fetchone()[0] == 0


def test_a_10000_character_message_gets_a_clear_french_error(store):
    with pytest.raises(TicketError) as exc:
        tickets.create_ticket(store, CANTAL, "qualite", "Réclamation", "a" * 10000, now=FRIDAY)
    assert exc.value.message == (
        "Votre message est trop long (10000 caractères) : 5000 caractères au plus. Résumez-le en quelques phrases."
    )


def test_ticket_idempotency(store):
    a = tickets.create_ticket(store, CANTAL, "titres", "Passeport", "Texte", idempotency_key="t-1", now=FRIDAY)
    b = tickets.create_ticket(store, CANTAL, "titres", "Passeport", "Texte", idempotency_key="t-1", now=FRIDAY)
    assert b["created"] is False and a["reference"] == b["reference"]
    assert store.db.execute("select count(*) from tickets").fetchone()[0] == 1


def test_tickets_by_service_overdue_first_and_answer_time(store):
    old = tickets.create_ticket(store, CANTAL, "armes", "Ancien", "Texte", now=datetime(2026, 7, 1, 10, 0))
    new = tickets.create_ticket(store, CANTAL, "armes", "Récent", "Texte", now=FRIDAY)
    tickets.create_ticket(store, CANTAL, "qualite", "Autre", "Texte", now=FRIDAY)
    # created_at is the real clock; due dates follow `now`
    view = tickets.tickets_by_service(store, today=date(2026, 7, 13))
    assert [t["reference"] for t in view["armes"]] == [old["reference"], new["reference"]]
    assert [t["overdue"] for t in view["armes"]] == [True, False]
    assert set(view) == {"armes", "qualite"}
    done = tickets.mark_answered(store, new["reference"])
    assert done["status"] == "answered" and done["answer_seconds"] >= 0 and done["answered_at"]
    assert [t["reference"] for t in tickets.tickets_by_service(store, today=date(2026, 7, 13))["armes"]] == [old["reference"]]


def test_purge_erases_personal_data_after_the_retention(store):
    t = tickets.create_ticket(store, CANTAL, "armes", "Objet", "Texte perso", "p@exemple.fr", now=FRIDAY)
    b = pan.book(store, CANTAL, "aurillac", "2026-07-15T09:00", "autre", email="p@exemple.fr", now=MONDAY)
    assert tickets.purge(store, CANTAL, datetime(2026, 7, 20, tzinfo=pan.PARIS)) == {"tickets": 0, "bookings": 0, "outbox": 0}
    later = datetime.now(pan.PARIS) + timedelta(days=2 * 366)  # never .replace(year=…): 29 February
    counts = tickets.purge(store, CANTAL, later)
    assert counts == {"tickets": 1, "bookings": 1, "outbox": 3}
    row = tickets.get_ticket(store, t["reference"])
    assert (row["subject"], row["body"], row["contact_email"], row["due_date"]) == (None, None, None, "2026-07-20")
    assert pan.get_booking(store, b["reference"])["contact"] is None


def test_a_message_erased_unanswered_leaves_the_waiting_queue(store):
    """A message still open when its retention period ends is erased (subject, text, contact): nothing
    is left to answer it with nor anyone to answer, so the agents' waiting queue no longer lists it
    (before, a row with no subject stayed there, overdue for ever, and its page offered no action);
    the list with the answered ones still shows it, marked as erased."""
    kept = tickets.create_ticket(store, CANTAL, "armes", "Récent", "Texte", now=FRIDAY)
    erased = tickets.create_ticket(store, CANTAL, "armes", "Ancien", "Texte perso", "p@exemple.fr", now=FRIDAY)
    old = (datetime.now(UTC) - timedelta(days=400)).isoformat(timespec="milliseconds")
    store.db.execute("update tickets set created_at = ? where reference = ?", [old, erased["reference"]])
    assert tickets.purge(store, CANTAL)["tickets"] == 1
    waiting = tickets.tickets_by_service(store, today=date(2026, 7, 13))
    assert [t["reference"] for t in waiting["armes"]] == [kept["reference"]]
    everything = tickets.tickets_by_service(store, today=date(2026, 7, 13), include_answered=True)
    rows = {t["reference"]: t for t in everything["armes"]}
    assert set(rows) == {kept["reference"], erased["reference"]}
    assert rows[erased["reference"]]["purged_at"] and rows[erased["reference"]]["subject"] is None
    assert rows[erased["reference"]]["overdue"] is False and rows[kept["reference"]]["purged_at"] is None


# ---- SMTP delivery (a real local SMTP server) --------------------------------------------


def test_smtp_delivery_and_retry_after_an_outage(store, smtp):
    settings = mailer.SmtpSettings.from_env(smtp.env)
    smtp.stop()  # the SMTP server is down
    t = tickets.create_ticket(
        store, CANTAL, "qualite", "Pas de réponse", "Bonjour,\nj'attends depuis 3 mois.", "marie@exemple.fr", now=FRIDAY
    )
    # The first e-mail fails and ends the round (the server is down: the next would fail too); the
    # acknowledgement, not tried, waits for the next round.
    assert mailer.deliver_pending(store, settings) == {"sent": 0, "failed": 1, "waiting": 2}
    row = tickets.get_ticket(store, t["reference"])
    assert (row["delivery_status"], row["delivery_attempts"]) == ("failed", 1) and row["last_error"]
    failures = [(f["kind"], f["status"], f["attempts"]) for f in tickets.delivery_failures(store)]
    assert failures == [("ticket", "failed", 1), ("ticket_ack", "pending", 0)]
    smtp.start()  # back up: the retry delivers everything
    assert mailer.deliver_pending(store, settings) == {"sent": 2, "failed": 0, "waiting": 0}
    row = tickets.get_ticket(store, t["reference"])
    assert (row["delivery_status"], row["delivery_attempts"]) == ("sent", 2) and row["delivered_at"]
    to_service = smtp.to("pref-qualite@cantal.gouv.fr")[-1]
    assert to_service["Subject"] == f"[{t['reference']}] Pas de réponse"
    assert to_service["Reply-To"] == "marie@exemple.fr"
    body = to_service.get_content()
    assert "j'attends depuis 3 mois." in body and "lundi 20 juillet 2026" in body
    ack = smtp.to("marie@exemple.fr")[-1]
    assert ack["Subject"] == f"Accusé de réception de votre message {t['reference']}"
    assert "mission qualité de la préfecture" in ack.get_content()
    assert tickets.delivery_failures(store) == []
    # once sent, the outbox keeps no copy of the text nor the user's address
    assert (
        store.db.execute(
            "select count(*) from outbox where body is not null or (kind = 'ticket_ack' and to_addr is not null)"
        ).fetchone()[0]
        == 0
    )


def test_booking_confirmation_email_has_the_ics(store, smtp):
    b = pan.book(store, CANTAL, "mauriac", "2026-07-16T10:00", "titre_sejour", email="ali@exemple.fr", now=MONDAY)
    mailer.deliver_pending(store, mailer.SmtpSettings.from_env(smtp.env))
    msg = smtp.to("ali@exemple.fr")[-1]
    assert b["reference"] in msg["Subject"]
    parts = {p.get_content_type(): p for p in msg.walk()}
    assert "jeudi 16 juillet 2026 à 10 h" in parts["text/plain"].get_content()
    assert b["reference"] in parts["text/calendar"].get_content()


def test_without_smtp_host_tickets_stay_pending(store):
    assert mailer.SmtpSettings.from_env({}) is None
    tickets.create_ticket(store, CANTAL, "armes", "Objet", "Texte", now=FRIDAY)
    assert mailer.deliver_pending(store, None) == {"sent": 0, "failed": 0, "waiting": 1}


def test_every_text_renders_for_every_prefecture():
    sample = dict(
        site="x",
        address="x",
        when="x",
        reference="x",
        digits="x",
        key="1",
        cancel_key="6",
        days="1",
        max="1",
        length="1",
        service="x",
        due="x",
        created="x",
        email="x",
        subject="x",
        call_sid="x",
        path="x",
        caller="x",
        url="x",
        seconds="1",
        wait="1 minute",
    )
    for pid in config.available():
        pref = config.load_prefecture(pid)
        for path in texts.all_texts():
            assert "{" not in texts.say(path, pref, **sample), (pid, path)


def test_cli_retry_delivers_what_waits(tmp_path, smtp, python):
    import subprocess

    db = tmp_path / "cli.db"
    s = Store(db)
    t = tickets.create_ticket(s, CANTAL, "courrier", "Objet CLI", "Texte", now=FRIDAY)
    s.close()
    env = command_env(s, **smtp.env)  # the command opens the same store (SQLite file or PostgreSQL schema)
    out = subprocess.run([python, "-m", "bot", "tickets", "retry"], env=env, capture_output=True, text=True, cwd=str(config.ROOT))
    assert out.returncode == 0, out.stderr
    assert '"sent": 1' in out.stdout
    assert smtp.to("pref-courrier@cantal.gouv.fr")[-1]["Subject"] == f"[{t['reference']}] Objet CLI"


def test_phone_building_blocks(store):
    from bot.core.tree import current

    now = datetime(2026, 7, 13, 8, 0)  # Monday 8:00: Aurillac and Mauriac open at 9:00 (2 h notice: 10:00)
    three = pan.next_slots_any_site(store, CANTAL, now)
    assert [(s.site, s.key) for s in three] == [
        ("aurillac", "2026-07-13T10:00"),
        ("mauriac", "2026-07-13T10:00"),
        ("aurillac", "2026-07-13T10:30"),
    ]
    a = pan.book_by_phone(store, CANTAL, three[0], "+33612345678", "CA123", now=now)
    b = pan.book_by_phone(store, CANTAL, three[0], "+33612345678", "CA123", now=now)  # replayed webhook
    assert a["reference"] == b["reference"] and b["created"] is False
    # no number in the row: its keyed hash, the one of the same number in any spelling
    assert (a["channel"], a["contact_kind"], a["contact"]) == ("phone", "caller", None)
    assert a["contact_key"] == identity.contact_key(store, "06 12 34 56 78")
    assert (
        pan.reference_digits("PAN-1204-5678", current().phone["number_words"]) == "un, deux, zéro, quatre, cinq, six, sept, huit"
    )


def test_a_contact_finds_the_references_still_holding_it_newest_first(store):
    """The admin's "who saw my data?" search (bot/web/console/journal.py): a message's e-mail in any
    case, the number a voicemail was left from in any spelling, a booking's keyed hash."""
    from bot.web.console.journal import references_of_contact

    mail = tickets.create_ticket(store, CANTAL, "armes", "Objet", "Texte", "Jean.Dupont@Exemple.fr", now=MONDAY)
    voicemail = tickets.create_ticket(
        store, CANTAL, "armes", "Message vocal", "[message vocal]", None, origin="phone", channel="phone",
        now=MONDAY + timedelta(hours=1), callback=identity.say_phone("+33612345678"),
    )  # fmt: skip
    later = MONDAY + timedelta(hours=2)
    booked = pan.book(store, CANTAL, "aurillac", "2026-07-15T11:00", "permis_conduire", email="jean.dupont@exemple.fr", now=later)
    assert references_of_contact(store, " JEAN.DUPONT@exemple.fr ") == [booked["reference"], mail["reference"]]
    assert references_of_contact(store, "06.12.34.56.78") == [voicemail["reference"]]
    assert references_of_contact(store, "autre@exemple.fr") == []
    assert references_of_contact(store, "Jean Dupont") is None  # neither an e-mail nor a number
