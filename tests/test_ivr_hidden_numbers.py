"""PAN bookings by phone from a hidden number ("anonymous" From/Caller, as Twilio sends a withheld
caller id): the number has no hash, so the per-person limit cannot follow it. A call is one person
(at most pan.max_future_bookings appointments to come per CallSid), and hidden numbers together book
at most pan.hidden_numbers.max_bookings in pan.hidden_numbers.window_hours, so that a robocaller
cannot empty the agenda. Whole calls through a server of their own (the window counts every
hidden-number booking of its store), each request a complete signed Twilio body."""

from __future__ import annotations

import pytest
from conftest import TWILIO_TEST_TOKEN, db_rows, launch, stop

from bot.core.config import load_prefecture
from tools.ivr.simulate import Call

PAN_NOW = "2026-05-04T10:00"  # a Monday (Cantal): the next slots are on Tuesday 5 May
HIDDEN = "anonymous"
PER_CALL = (
    "Vous avez déjà pris 2 rendez-vous pendant cet appel : c'est le nombre maximum par personne."
    " Votre numéro étant masqué, seul un agent de la préfecture pourra les annuler."
)
PERIOD = (
    "Trop de rendez-vous ont été pris ces dernières heures depuis des numéros masqués. Pour prendre"
    " rendez-vous, rappelez sans masquer votre numéro."
)
OFFER = "Pour le prochain créneau disponible, tapez 4 ; pour annuler un rendez-vous, tapez 6."


@pytest.fixture(scope="module")
def hidden_server(tmp_path_factory):
    running = launch(tmp_path_factory.mktemp("hidden"))
    yield running
    stop(running)


def pan_leaf(server, caller: str) -> Call:
    call = Call(server.url, TWILIO_TEST_TOKEN, caller=caller, now=PAN_NOW)
    call.start()
    call.press("5")
    assert call.press("2").node == "rdv_pan"
    return call


def book_next(call: Call):
    """From the PAN leaf: 4 (slots), 1 (the first), 1 (confirm); the answer to the confirmation."""
    call.press("4")
    call.press("1")
    return call.press("1")


def booked(server) -> list[dict]:
    return db_rows(server.db, "select idempotency_key, contact_key from pan_bookings where status = 'booked' order by id")


def test_the_caps_are_in_the_prefecture_files():
    cantal = load_prefecture("cantal")
    assert (cantal.get("pan.max_future_bookings"), cantal.get("pan.hidden_numbers.max_bookings")) == (2, 4)
    assert cantal.get("pan.hidden_numbers.window_hours") == 24


def test_a_hidden_number_books_two_per_call_and_four_in_a_day_with_the_others(hidden_server):
    first = pan_leaf(hidden_server, HIDDEN)
    for _ in range(2):
        assert book_next(first).says[0].startswith("Votre rendez-vous est confirmé le ")
        assert first.press("0").node == "root"
        first.press("5")
        first.press("2")
    refused = first.press("4")  # a call is one person: the third is refused, before any slot is offered
    assert refused.says[0] == PER_CALL
    # Neither booking nor cancelling is offered again to this call: a hidden number cancels nothing.
    assert OFFER not in refused.says and not any("annuler un rendez-vous, tapez" in said for said in refused.says)
    assert (refused.route, refused.node) == ("leaf", "rdv_pan")
    assert len(booked(hidden_server)) == 2

    second = pan_leaf(hidden_server, HIDDEN)  # another call: another person
    for _ in range(2):
        assert book_next(second).says[0].startswith("Votre rendez-vous est confirmé le ")
        second.press("0")
        second.press("5")
        second.press("2")
    assert len(booked(hidden_server)) == 4

    third = pan_leaf(hidden_server, HIDDEN)  # hidden numbers together: four in 24 hours
    refused = third.press("4")
    assert refused.says[0] == PERIOD and OFFER not in refused.says
    assert (refused.route, refused.node) == ("leaf", "rdv_pan")
    rows = booked(hidden_server)
    assert len(rows) == 4 and all(r["contact_key"] is None for r in rows)
    assert not [r for r in rows if third.call_sid in r["idempotency_key"]]

    # A caller who shows their number is not concerned: their own limit applies.
    shown = pan_leaf(hidden_server, "+33612345601")
    assert book_next(shown).says[0].startswith("Votre rendez-vous est confirmé le ")
    assert len(booked(hidden_server)) == 5


def test_the_caps_hold_in_the_store_on_both_backends(tmp_path, store_backend):
    """bot.services.pan.book_by_phone, as the phone's PanDesk calls it, on SQLite and PostgreSQL."""
    from datetime import datetime

    from bot.services import pan
    from bot.store.database import Store

    cantal, monday = load_prefecture("cantal"), datetime(2026, 7, 13, 8, 0)
    store = Store(tmp_path / "s.db")
    try:
        slots = pan.free_slots(store, cantal, "aurillac", now=monday, limit=6)
        codes = []
        for call, slot in zip(["CA1", "CA1", "CA1", "CA2", "CA2", "CA3"], slots, strict=True):
            try:
                pan.book_by_phone(store, cantal, slot, HIDDEN, call, now=monday)
                codes.append("booked")
            except pan.BookingError as exc:
                codes.append(exc.code)
        assert codes == ["booked", "booked", "too_many_bookings", "booked", "booked", "hidden_numbers_full"]
        pan.book_by_phone(store, cantal, slots[5], "+33612345602", "CA4", now=monday)  # a number shown: its own limit
    finally:
        store.close()
