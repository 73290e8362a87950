"""Issue 11, part 5: a caller's own bookings and messages, through the real webhooks of a real Rasa
server, every request a complete, correctly signed Twilio body (tools/ivr/twilio_bodies.py).

A PAN appointment booked by phone keeps only a keyed hash of the caller's number: it is cancelled
online with the reference + that number (any spelling), or by phone from that number, and never
with the masked placeholder '[téléphone]' or another number. The booked message says the site's
address and what to bring, and is repeated on '*'. A voicemail's call-back number is kept in its
ticket only: shown in the console on request (audit-logged), absent from the calls, voicemails and
turns tables, erased by the retention purge. The caller hears the ticket's reference.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timedelta

import pytest
from conftest import db_rows
from test_console import Console, cli

from bot.core import config
from bot.core.clock import PARIS
from bot.services import pan

CALLER = "+33612345678"
OTHER = "+33698765432"
WORDS = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"]
# Where each Cantal site is, as the booked message says it (prefectures/cantal.yml: name, then the
# parts of the address the name does not already say).
PLACES = {
    "aurillac": "point d'accueil numérique de la préfecture (Aurillac), Cours Monthyon, 15000 Aurillac",
    "mauriac": "point d'accueil numérique de la sous-préfecture de Mauriac, 15200 Mauriac",
    "saint-flour": "point d'accueil numérique de la sous-préfecture de Saint-Flour, 15100 Saint-Flour",
}
BRING = (
    "À apporter : une pièce d'identité, les justificatifs de votre démarche, et si vous en avez un, votre téléphone "
    "portable ou votre adresse électronique (certaines démarches envoient un code)."
)
CANCEL_HOW = "Pour l'annuler, rappelez depuis ce numéro et dites « annuler un rendez-vous »."
DETAILS = "Pour savoir quoi apporter et comment annuler, tapez 1."
MAIN = "Pour revenir au menu principal, tapez 0."
GOODBYE = "Merci de votre appel. Au revoir."
AGENT = ("rappel-agent", "rappel-agent-pass-1")


def monday_ahead(weeks: int) -> str:
    """A Monday 10:00 some weeks ahead of the real date: the online cancellation runs at the real
    time, so the appointment booked at the call's (test) time must still be to come."""
    today = datetime.now(PARIS).date()
    day = today + timedelta(days=7 * weeks - today.weekday())
    return f"{day.isoformat()}T10:00"


def digits(reference: str) -> str:
    return ", ".join(WORDS[int(d)] for d in reference if d.isdigit())


def booking_of(server, call) -> dict:
    rows = db_rows(server.db, "select * from pan_bookings where idempotency_key like ?", [f"call:{call.call_sid}:%"])
    assert len(rows) == 1, rows
    return rows[0]


def book_by_phone(server, phone, caller: str, now: str):
    """A caller books the first slot offered: 5 (autre), 2 (PAN), 4 (slots), 1 (first), 1 (confirm)."""
    call = phone(now=now, caller=caller)
    call.start()
    call.press("5")
    assert call.press("2").node == "rdv_pan"
    call.press("4")
    call.press("1")
    done = call.press("1")
    return call, done, booking_of(server, call)


def booked_says(booking: dict, hidden: bool = False) -> list[str]:
    when = pan.say_when_voice(datetime.strptime(booking["slot_start"], pan.STAMP))
    ref = digits(booking["reference"])
    first = (
        f"Votre rendez-vous est confirmé le {when}, {PLACES[booking['site']]}. Notez votre référence : {ref}. Je répète : {ref}."
    )
    hidden_notice = ["Votre numéro étant masqué, seul un agent de la préfecture pourra annuler ce rendez-vous."]
    return [first] + (hidden_notice if hidden else []) + [DETAILS, MAIN]  # what to bring, how to cancel: key 1


def details_says(hidden: bool = False) -> list[str]:
    cancel = "Votre numéro étant masqué, seul un agent de la préfecture pourra annuler ce rendez-vous." if hidden else CANCEL_HOW
    return [BRING, cancel, DETAILS, MAIN]


def status_of(server, reference: str) -> str:
    return db_rows(server.db, "select status from pan_bookings where reference = ?", [reference])[0]["status"]


def everything_in(server, table: str, where: str, args: list) -> str:
    """Every value of the matching rows of `table`, as one text (to look for a number in it)."""
    return json.dumps(db_rows(server.db, f"select * from {table} where {where}", args), ensure_ascii=False)


def number_spellings(number: str) -> list[str]:
    national = "0" + number[3:]
    return [number, number[1:], national, " ".join(national[i : i + 2] for i in range(0, 10, 2)), number[3:]]


# ---- booked by phone, cancelled online -------------------------------------------------------


def test_booked_by_phone_the_caller_hears_the_address_what_to_bring_and_can_repeat(server, phone):
    call, done, booking = book_by_phone(server, phone, CALLER, monday_ahead(4))
    assert done.says == booked_says(booking)
    assert done.gather["action"] == f"{server.url}/webhooks/ivr/pan?node=rdv_pan&step=5" and not done.hangup
    assert call.press("*").says == booked_says(booking)  # '*' works, announced in the main menu only
    assert call.say("répéter").says == booked_says(booking)  # the same, said
    assert call.press("1").says == details_says()  # what to bring and how to cancel, on its key
    assert call.press("*").says == booked_says(booking)
    bye = call.silence()
    assert (bye.says, bye.hangup) == ([GOODBYE], True)
    # The row keeps no number: a keyed hash of it (64 hex characters), no placeholder
    assert (booking["channel"], booking["contact_kind"], booking["contact"], booking["status"]) == (
        "phone",
        "caller",
        None,
        "booked",
    )
    assert re.fullmatch("[0-9a-f]{64}", booking["contact_key"])
    stored = everything_in(server, "pan_bookings", "id = ?", [booking["id"]])
    stored += everything_in(server, "calls", "call_sid = ?", [call.call_sid])
    for spelling in number_spellings(CALLER):
        assert spelling not in stored


def test_a_phone_booking_is_cancelled_online_with_its_number_never_with_the_placeholder(server, phone):
    _, _, booking = book_by_phone(server, phone, CALLER, monday_ahead(4))
    ref = booking["reference"]
    refused = "Aucun rendez-vous ne correspond à cette référence et à ce contact."
    for contact in ("[téléphone]", "06 98 76 54 32", "", "appel@exemple.fr", "0612345679"):
        status, body = server.post("/rdv/api/annuler", {"reference": ref, "contact": contact})
        assert (status, body) == (400, {"error": refused, "code": "not_found"}), contact
    assert status_of(server, ref) == "booked"
    status, body = server.post("/rdv/api/annuler", {"reference": ref.lower(), "contact": "06 12 34 56 78"})
    when = pan.say_when(datetime.strptime(booking["slot_start"], pan.STAMP))
    assert (status, body) == (
        200,
        {
            "reference": ref,
            "message": f"Le rendez-vous {ref} du {when} est annulé. Le créneau est libéré pour une autre personne.",
        },
    )
    assert status_of(server, ref) == "cancelled"


def test_the_cancel_page_cancels_a_phone_booking_with_the_number_in_any_spelling(server, phone):
    import requests

    _, _, booking = book_by_phone(server, phone, CALLER, monday_ahead(4))
    ref = booking["reference"]
    http = requests.Session()
    page = http.get(server.url + "/rdv/annuler", timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    wrong = http.post(server.url + "/rdv/annuler", data={"csrf": csrf, "reference": ref, "contact": "[téléphone]"}, timeout=30)
    assert wrong.status_code == 400
    assert "Aucun rendez-vous ne correspond à cette référence et à ce contact." in wrong.text
    done = http.post(
        server.url + "/rdv/annuler", data={"csrf": csrf, "reference": ref, "contact": "+33 6 12 34 56 78"}, timeout=30
    )
    assert done.status_code == 200, done.text
    assert f"Le rendez-vous {ref} du" in done.text
    assert status_of(server, ref) == "cancelled"


# ---- cancelled by phone ------------------------------------------------------------------------


def test_the_same_caller_cancels_by_phone_with_the_reference_typed(server, phone):
    _, _, booking = book_by_phone(server, phone, CALLER, monday_ahead(5))
    ref = booking["reference"]
    when = pan.say_when_voice(datetime.strptime(booking["slot_start"], pan.STAMP))
    site = config.load_prefecture("cantal")
    site_name = pan.site(site, booking["site"])["name"]

    call = phone(now=monday_ahead(5), caller=CALLER)
    call.start()
    call.press("5")
    leaf = call.press("2")
    assert "Pour le prochain créneau disponible, tapez 4 ; pour annuler un rendez-vous, tapez 6." in leaf.says
    ask = call.press("6")
    assert ask.says == [
        "Pour annuler un rendez-vous pris depuis ce numéro de téléphone, tapez ou dites les huit chiffres de sa référence."
    ]
    assert (ask.gather["numDigits"], ask.gather["input"], ask.gather["timeout"]) == ("8", "dtmf speech", "10")
    confirm = call.press(ref[4:8] + ref[9:])
    assert confirm.says == [
        f"Vous allez annuler le rendez-vous du {when}, {site_name}. Pour confirmer l'annulation, tapez 1.",
        "Pour revenir au menu précédent, tapez dièse.",
        MAIN,
    ]
    assert status_of(server, ref) == "booked"  # nothing cancelled before the confirmation
    done = call.press("1")
    assert done.says == [f"Le rendez-vous du {when} est annulé. Le créneau est libéré pour une autre personne.", GOODBYE]
    assert done.hangup
    assert status_of(server, ref) == "cancelled"
    row = db_rows(server.db, "select inputs, flow from calls where call_sid = ?", [call.call_sid])[0]
    assert ref[4:8] + ref[9:] not in row["inputs"] + row["flow"]  # the digits typed are not kept


def test_a_caller_cancels_by_saying_so_and_the_reference_aloud(server, phone):
    _, _, booking = book_by_phone(server, phone, CALLER, monday_ahead(5))
    ref = booking["reference"]
    call = phone(now=monday_ahead(5), caller="0612345678")  # the same number, as some carriers present it
    call.start()
    ask = call.say("annuler un rendez-vous")  # at the main menu
    assert ask.says[-1].startswith("Pour annuler un rendez-vous pris depuis ce numéro")
    spoken = f"{ref[4:6]} {ref[6:8]} {ref[9:11]} {ref[11:13]}"  # "12 34 56 78", as Twilio writes numbers said
    confirm = call.say(spoken)
    assert confirm.says[0].startswith("Vous allez annuler le rendez-vous du")
    done = call.say("1")
    assert done.says[0].endswith("est annulé. Le créneau est libéré pour une autre personne.")
    assert status_of(server, ref) == "cancelled"


def test_oui_confirms_a_cancellation_and_non_asks_for_the_reference_again(server, phone):
    # "Pour confirmer l'annulation, tapez 1." - many callers answer "oui", as at the booking's confirmation
    _, _, booking = book_by_phone(server, phone, CALLER, monday_ahead(5))
    ref = booking["reference"]
    call = phone(now=monday_ahead(5), caller=CALLER)
    call.start()
    call.say("annuler un rendez-vous")
    spoken = f"{ref[4:6]} {ref[6:8]} {ref[9:11]} {ref[11:13]}"
    assert call.say(spoken).says[0].startswith("Vous allez annuler le rendez-vous du")
    again = call.say("Euh non.")  # not that one: the reference is asked again, nothing cancelled
    assert again.says == [
        "Pour annuler un rendez-vous pris depuis ce numéro de téléphone, tapez ou dites les huit chiffres de sa référence."
    ]
    assert status_of(server, ref) == "booked"
    assert call.say(spoken).says[0].startswith("Vous allez annuler le rendez-vous du")
    done = call.say("Oui, s'il vous plaît.")
    assert done.says[0].endswith("est annulé. Le créneau est libéré pour une autre personne.")
    assert done.hangup
    assert status_of(server, ref) == "cancelled"


@pytest.mark.parametrize(
    "said",
    ["Euh, je voudrais annuler un rendez-vous.", "Annuler un rendez-vous, s'il vous plaît.", "Bonjour, annuler un rendez vous."],
)
def test_annuler_un_rendez_vous_said_with_the_words_around_it_asks_for_the_reference(server, phone, said):
    call = phone(now=monday_ahead(5), caller=CALLER)
    call.start()
    ask = call.say(said)  # at the main menu
    assert ask.says == [
        "Pour annuler un rendez-vous pris depuis ce numéro de téléphone, tapez ou dites les huit chiffres de sa référence."
    ]
    assert (ask.route, ask.gather["numDigits"]) == ("pan", "8")
    row = db_rows(server.db, "select inputs from calls where call_sid = ?", [call.call_sid])[0]
    assert json.loads(row["inputs"]) == [{"step": 1, "spoken": "pan_cancel"}]  # never sent to the NLU


def test_another_number_or_a_hidden_one_cancels_nothing_by_phone(server, phone):
    _, _, booking = book_by_phone(server, phone, CALLER, monday_ahead(6))
    ref = booking["reference"]
    call = phone(now=monday_ahead(6), caller=OTHER)
    call.start()
    call.press("5")
    call.press("2")
    call.press("6")
    again = call.press(ref[4:8] + ref[9:])
    assert again.says == [
        "Aucun rendez-vous pris depuis ce numéro ne correspond à cette référence.",
        "Pour annuler un rendez-vous pris depuis ce numéro de téléphone, tapez ou dites les huit chiffres de sa référence.",
    ]
    assert again.gather["numDigits"] == "8"
    back = call.press("#")  # back to the PAN answer
    assert back.node == "rdv_pan"
    assert status_of(server, ref) == "booked"

    hidden = phone(now=monday_ahead(6), caller="anonymous")
    hidden.start()
    hidden.press("5")
    hidden.press("2")
    turn = hidden.press("6")
    assert turn.says[0] == (
        "Votre numéro est masqué : je ne peux pas retrouver votre rendez-vous. Rappelez sans masquer votre numéro, "
        "depuis celui utilisé pour la réservation."
    )
    assert turn.node == "rdv_pan" and turn.gather["numDigits"] == "1"
    assert status_of(server, ref) == "booked"


def test_a_booking_from_a_hidden_number_says_only_an_agent_can_cancel_it(server, phone):
    call, done, booking = book_by_phone(server, phone, "anonymous", monday_ahead(6))
    assert booking["contact_key"] is None and booking["contact"] is None
    assert done.says == booked_says(booking, hidden=True)
    assert call.press("1").says == details_says(hidden=True)
    for contact in ("anonymous", "[téléphone]", ""):
        status, _ = server.post("/rdv/api/annuler", {"reference": booking["reference"], "contact": contact})
        assert status == 400
    assert status_of(server, booking["reference"]) == "booked"


def test_a_number_holding_the_most_appointments_is_told_so_and_how_to_cancel_one(server, phone):
    """pan.max_future_bookings (2) appointments to come from one number: key 4 says at once why no
    slot is offered and how to cancel one (not after the slots and a confirmation that books nothing,
    nor "ce créneau vient d'être pris"), then the PAN answer's keys; 6 goes on to the cancellation."""
    caller, now = "+33611223399", monday_ahead(8)
    for _ in range(2):
        book_by_phone(server, phone, caller, now)
    call = phone(now=now, caller=caller)
    call.start()
    call.press("5")
    call.press("2")
    refused = call.press("4")
    assert refused.says[0] == (
        "Vous avez déjà 2 rendez-vous à venir pris depuis ce numéro : c'est le nombre maximum par personne. "
        "Pour en prendre un autre, annulez d'abord l'un d'eux : tapez 6, puis les huit chiffres de sa référence."
    )
    # Booking is not offered again to this call (it was, and 4 said the refusal again); cancelling is.
    assert "Pour annuler un rendez-vous, tapez 6." in refused.says
    assert not any("tapez 4" in said for said in refused.says)
    assert not any("vient d'être pris" in said for said in refused.says)
    assert refused.node == "rdv_pan" and refused.gather is not None and not refused.hangup
    again = call.press("4")  # no longer a key of this prompt
    assert again.says[0] != refused.says[0] and not any("tapez 4" in said for said in again.says)
    assert "Pour annuler un rendez-vous, tapez 6." in again.says
    assert call.press("0").node == "root"  # back to the PAN leaf by the menu: still no booking offered
    call.press("5")
    leaf = call.press("2")
    assert leaf.node == "rdv_pan" and not any("tapez 4" in said for said in leaf.says)
    assert db_rows(server.db, "select id from pan_bookings where idempotency_key like ?", [f"call:{call.call_sid}:%"]) == []
    assert call.press("6").says[-1].startswith("Pour annuler un rendez-vous pris depuis ce numéro")


# ---- a voicemail's call-back number ----------------------------------------------------------


@pytest.fixture(scope="module")
def agent(server, python):
    done = cli(python, server.db, "agents", "add", AGENT[0], "--role", "agent", "--password-stdin", stdin=AGENT[1] + "\n")
    assert done.returncode == 0, done.stderr
    return AGENT


def leave_voicemail(phone, caller: str):
    """A message to the arms service (5, 1, 2), ended with '#', then Twilio's two callbacks."""
    call = phone(now="2026-07-10T10:00", caller=caller)
    call.start()
    call.press("5")
    call.press("1")
    call.press("2")
    rsid = "RE" + call.call_sid[2:]
    done = call.record("Hello, please call me back.", recording_sid=rsid)
    call.hangup()
    return call, rsid, done


def test_a_voicemail_keeps_its_call_back_number_for_agents_only_and_the_caller_hears_the_reference(
    server, phone, agent, tmp_path
):
    call, rsid, done = leave_voicemail(phone, CALLER)
    ticket = db_rows(server.db, "select * from tickets where idempotency_key = ?", [f"voicemail:{rsid}"])[0]
    ref = ticket["reference"]
    assert done.says == [
        "Merci. Votre message a été transmis au service concerné, bureau des polices administratives (armes), qui "
        "vous répondra sous 5 jours ouvrés.",
        f"Notez la référence de votre message : {digits(ref)}. Je répète : {digits(ref)}.",
        GOODBYE,
    ]
    assert ticket["callback"] == "06 12 34 56 78"
    # Nowhere else: not in the call, the voicemail, the ticket's text (e-mailed), the outbox, the turns
    elsewhere = everything_in(server, "calls", "call_sid = ?", [call.call_sid])
    elsewhere += everything_in(server, "voicemails", "recording_sid = ?", [rsid])
    elsewhere += json.dumps({k: v for k, v in ticket.items() if k != "callback"}, ensure_ascii=False)
    elsewhere += everything_in(server, "outbox", "ticket_id = ?", [ticket["id"]])
    elsewhere += everything_in(server, "turns", "1 = 1", [])
    for spelling in number_spellings(CALLER):
        assert spelling not in elsewhere, spelling
    assert CALLER not in server.log.read_text(encoding="utf-8", errors="replace")

    # The console: the number only on request, each view in the audit log (without the number)
    console = Console(server.url)
    assert console.login(*agent).status_code == 303
    page = console.get(f"/messages/{ref}")
    assert page.status_code == 200
    assert "06 12 34 56 78" not in page.text and 'id="show-callback"' in page.text
    assert "La transcription automatique de Twilio ne reconnaît que l'anglais" in page.text
    assert f'href="{call.recording_url(rsid)}"' in page.text
    assert db_rows(server.db, "select * from audit_log where action = 'callback_viewed' and item_id = ?", [ref]) == []
    shown = console.get(f"/messages/{ref}?rappel=1")
    assert '<span id="callback-number">06 12 34 56 78</span>' in shown.text
    console.get(f"/messages/{ref}?rappel=1")
    audit = db_rows(
        server.db,
        "select agent, action, kind, item_id, detail from audit_log where action = 'callback_viewed' and item_id = ?",
        [ref],
    )
    assert (
        audit
        == [{"agent": AGENT[0], "action": "callback_viewed", "kind": "ticket", "item_id": ref, "detail": '{"mailbox": "armes"}'}]
        * 2
    )

    # The retention purge erases it with the ticket's text (on a copy of the server's store)
    copy = tmp_path / "copy.db"
    with sqlite3.connect(server.db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    from bot.services import retention
    from bot.store.database import Store

    store = Store(copy)
    try:
        created = datetime.fromisoformat(ticket["created_at"])
        retention.purge(store, config.load_prefecture("cantal"), now=created + timedelta(days=366))
    finally:
        store.close()
    purged = db_rows(copy, "select callback, body, purged_at from tickets where reference = ?", [ref])[0]
    assert (purged["callback"], purged["body"]) == (None, None) and purged["purged_at"]


def test_the_call_back_number_is_kept_when_the_recording_callback_comes_before_the_record_action(server, phone):
    """Twilio's recording-status callback carries no From; it may make the ticket first."""
    call = phone(now="2026-07-10T10:00", caller=CALLER)
    call.start()
    call.press("5")
    call.press("1")
    record = call.press("2").record
    rsid = "RE" + call.call_sid[2:]
    rurl = call.recording_url(rsid)
    status, _ = call.request(
        record["recordingStatusCallback"],
        call.body("recording_status", RecordingSid=rsid, RecordingUrl=rurl, RecordingDuration="9"),
    )
    assert status == 200
    first = db_rows(server.db, "select reference, callback from tickets where idempotency_key = ?", [f"voicemail:{rsid}"])
    assert len(first) == 1 and first[0]["callback"] is None
    status, body = call.request(
        record["action"], call.body("record_hash", RecordingSid=rsid, RecordingUrl=rurl, RecordingDuration="9")
    )
    assert status == 200
    ref = first[0]["reference"]
    assert f"Notez la référence de votre message : {digits(ref)}. Je répète : {digits(ref)}." in body
    after = db_rows(server.db, "select reference, callback from tickets where idempotency_key = ?", [f"voicemail:{rsid}"])
    assert after == [{"reference": ref, "callback": "06 12 34 56 78"}]


def test_a_hidden_number_leaves_a_message_without_a_call_back_number(server, phone, agent):
    _, rsid, _ = leave_voicemail(phone, "anonymous")
    ticket = db_rows(server.db, "select reference, callback from tickets where idempotency_key = ?", [f"voicemail:{rsid}"])[0]
    assert ticket["callback"] is None
    console = Console(server.url)
    assert console.login(*agent).status_code == 303
    page = console.get(f"/messages/{ticket['reference']}?rappel=1")
    assert "Numéro masqué par l'appelant : pas de rappel possible." in page.text
    assert (
        db_rows(server.db, "select 1 from audit_log where action = 'callback_viewed' and item_id = ?", [ticket["reference"]])
        == []
    )


# ---- bookings made before the keyed hashes (migration 009_phone_contacts) ----------------------


def test_migration_009_leaves_old_phone_bookings_to_agents_and_old_online_ones_cancellable(tmp_path):
    import sqlite_utils

    from bot.store import database
    from bot.store.database import Store

    path = tmp_path / "before-009.db"
    db = sqlite_utils.Database(path)
    db["migrations"].create({"name": str, "applied_at": str}, pk="name")
    names = [name for name, _ in database.MIGRATIONS]
    for name, step in database.MIGRATIONS[: names.index("009_phone_contacts")]:
        step(db)
        db["migrations"].insert({"name": name, "applied_at": "2026-01-01T00:00:00.000+00:00"})
    rows = [  # as the code before 009 wrote them: the masked caller, the mobile in national format
        ("PAN-1111-1111", "phone", "caller", "[téléphone]", "2030-01-08T09:00"),
        ("PAN-2222-2222", "web", "mobile", "06 12 34 56 78", "2030-01-08T09:30"),
    ]
    for ref, channel, kind, contact, start in rows:
        db.execute(
            "insert into pan_bookings (reference, token, prefecture, site, slot_start, slot_end, seat, reason, channel,"
            " contact_kind, contact, status, created_at, updated_at) values (?, 't', 'cantal', 'aurillac', ?, ?, 1,"
            " 'autre', ?, ?, ?, 'booked', '2026-01-01', '2026-01-01')",
            [ref, start, start, channel, kind, contact],
        )
    db.conn.commit()
    db.conn.close()
    store = Store(path)  # applies 009
    cantal = config.load_prefecture("cantal")
    try:
        old_phone = pan.get_booking(store, "PAN-1111-1111")
        assert (old_phone["contact"], old_phone["contact_key"]) == (None, None)
        for contact in ("[téléphone]", "06 12 34 56 78", "+33612345678"):
            with pytest.raises(pan.BookingError) as refused:
                pan.cancel(store, cantal, "PAN-1111-1111", contact)
            assert refused.value.code == "not_found"
        assert pan.get_booking(store, "PAN-1111-1111")["status"] == "booked"
        with pytest.raises(pan.BookingError):
            pan.cancel(store, cantal, "PAN-2222-2222", "[téléphone]")
        assert pan.cancel(store, cantal, "PAN-2222-2222", "+33612345678")["status"] == "cancelled"
    finally:
        store.close()
