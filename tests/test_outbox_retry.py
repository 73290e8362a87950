"""E-mails that could not leave are tried again by the running server on its own schedule, not only at
the next message or booking (bot/services/mailer.py `retry_every`, started by bot/web/lifecycle.py).

On a quiet night a service's ticket or a person's booking confirmation that failed while the SMTP
server was down waited for the next ticket or booking, and `GET /readyz` stayed degraded all that time.
Real servers (`python -m bot serve`), two of them on one SQLite store, a real local SMTP server
(tests/conftest.py SmtpSink) stopped and started again; the retry's period and waits are set short in a
préfecture file's `outbox:` block, as an operator would (prefectures/_national.yml), never by a sleep
of minutes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import MODEL, ROOT, SmtpSink, db_rows, free_port, launch, run_async, stop, until

from bot.core import config
from bot.services import mailer, tickets
from bot.store.database import Store

CANTAL = config.load_prefecture("cantal")
FRIDAY = datetime(2026, 7, 10, 15, 0)
# A round every second; a failed e-mail waits 1 s, then 2 s at most, before its next try.
QUICK = {"retry_every_s": 1, "retry_after_s": 1, "retry_after_max_s": 2}
READY_TIMEOUT_S = 8


def with_outbox(tmp: Path, **values) -> Path:
    """A copy of prefectures/ whose cantal.yml sets these `outbox:` values."""
    folder = tmp / "prefectures"
    shutil.copytree(ROOT / "prefectures", folder)
    lines = "".join(f"  {name}: {value}\n" for name, value in values.items())
    with open(folder / "cantal.yml", "a", encoding="utf-8") as out:
        out.write(f"outbox:\n{lines}")
    return folder


@pytest.fixture(scope="module")
def sink():
    """This module's own SMTP server: its tests stop it (the session's one serves the other tests)."""
    running = SmtpSink()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory, sink):
    """Two server processes on one store (a cluster's, or two on one host), retrying every second."""
    if not MODEL.exists():
        pytest.exit(f"No trained model at {MODEL}: run the tests with `make test` (it trains first).", returncode=2)
    tmp = tmp_path_factory.mktemp("outbox-retry")
    env = sink.env | {"AIGUILLAGE_PREFECTURES": str(with_outbox(tmp, **QUICK)), "AIGUILLAGE_THROTTLE_EXEMPT": "127.0.0.1"}
    db = tmp / "aiguillage.db"
    servers = []
    try:
        for name in ("first", "second"):
            (tmp / name).mkdir()
            servers.append(launch(tmp / name, db=db, extra_env=env))
        yield servers
    finally:
        for server in servers:
            stop(server)


def message(server, service: str, email: str) -> str:
    """A message left through the public page's API with an e-mail for the answer: its reference."""
    body = {"service": service, "subject": "Question", "body": "Bonjour, ma question.", "email": email, "idem": uuid.uuid4().hex}
    status, answer = server.post("/rdv/api/message", body)
    assert status == 200, answer
    return answer["reference"]


def booking(server, email: str) -> str:
    """A PAN appointment booked through the public page's API: its reference."""
    status, text, _ = server.get("/rdv/api/creneaux?site=aurillac&reason=carte_grise")
    assert status == 200, text
    slot = json.loads(text)["slots"][0]["key"]
    body = {"site": "aurillac", "reason": "carte_grise", "slot": slot, "email": email, "mobile": "", "idem": uuid.uuid4().hex}
    status, answer = server.post("/rdv/api/reserver", body)
    assert status == 200, answer
    return answer["reference"]


def e_mails(db: Path, ticket: str | None = None, booking_ref: str | None = None) -> dict[str, tuple[str, int]]:
    """{kind: (status, attempts)} of a ticket's or a booking's e-mails, read from the store."""
    if ticket:
        sql, ref = (
            "select kind, status, attempts from outbox where ticket_id = (select id from tickets where reference = ?)",
            ticket,
        )
    else:
        sql, ref = (
            "select kind, status, attempts from outbox where booking_id = (select id from pan_bookings where reference = ?)",
            booking_ref,
        )
    return {r["kind"]: (r["status"], r["attempts"]) for r in db_rows(db, sql, [ref])}


def received(sink: SmtpSink, reference: str) -> list[str]:
    """The recipients of the e-mails the SMTP server accepted whose subject names `reference`."""
    return [to for m in sink.messages if reference in (m["message"]["Subject"] or "") for to in m["to"]]


def readiness(server) -> dict:
    """The readiness probe's outbox check (GET /readyz)."""
    status, text, _ = server.get("/readyz")
    assert status == 200, text
    return json.loads(text)["checks"]["outbox"]


def test_e_mails_that_failed_while_the_smtp_server_was_down_leave_once_it_is_back_with_no_new_message(pair, sink):
    """The SMTP server is down: a message to the weapons service (its ticket to the service mailbox and
    the acknowledgement to the person) and a booking (its confirmation) fail. The servers try them again
    on their own while it is down (no new message or booking), and once it is back every one leaves,
    each once, and both servers are ready again."""
    first, second = pair
    person, booker = (f"{who}.{uuid.uuid4().hex[:8]}@exemple.fr" for who in ("relance", "rdv"))
    sink.stop()
    try:
        ticket = message(first, "armes", person)
        booked = booking(second, booker)
        tried = lambda: {**e_mails(first.db, ticket=ticket), **e_mails(first.db, booking_ref=booked)}  # noqa: E731
        assert set(tried()) == {"ticket", "ticket_ack", "booking_confirmation"}
        # Tried again with no new message: each e-mail's attempts grow while the server is down.
        until(lambda: all(attempts >= 3 for _, attempts in tried().values()), 30, "three tries of each e-mail")
        assert all(status in ("failed", "sending") for status, _ in tried().values())
        assert received(sink, ticket) == received(sink, booked) == []
        for server in pair:
            assert until(lambda s=server: readiness(s)["status"] == "degraded", 10, "readiness degraded")
    finally:
        sink.start()
    until(lambda: all(status == "sent" for status, _ in tried().values()), 30, "the e-mails sent once the server is back")
    assert sorted(received(sink, ticket)) == sorted(["pref-armes@cantal.gouv.fr", person])
    assert received(sink, booked) == [booker]
    for server in pair:
        until(lambda s=server: readiness(s)["status"] == "ok", 10, "readiness ok again")
        assert readiness(server) | {"oldest_waiting_s": None} == {
            "status": "ok",
            "smtp": True,
            "pending": 0,
            "failed": 0,
            "rejected": 0,
            "oldest_waiting_s": None,
        }


def sent_by(server, since: int) -> int:
    """The e-mails this server's scheduled retry sent, from its log's lines past byte `since`."""
    text = server.log.read_bytes()[since:].decode("utf-8", "replace")
    return sum(int(n) for n in re.findall(r"outbox: scheduled retry: (\d+) sent", text))


def test_two_servers_on_one_store_send_each_waiting_e_mail_once(pair, sink):
    """Twelve messages (24 e-mails) wait while the SMTP server is down (each round tries one, whose
    failure ends it); it comes back slow (0.2 s to accept each message), so that both servers' rounds
    run at once over the same rows. Each e-mail arrives once: a row is claimed (mailer._claim) before it
    is sent, and a row another process tried or sent since it was read is left to it. Both servers took
    part (their logs), together 24 e-mails."""
    tag = uuid.uuid4().hex[:8]
    sink.stop()
    try:
        references = [message(pair[i % 2], "titres", f"course.{i}.{tag}@exemple.fr") for i in range(12)]
        failed = lambda: [status for ref in references for status, _ in e_mails(pair[0].db, ticket=ref).values()]  # noqa: E731
        assert len(failed()) == 24
        until(lambda: set(failed()) == {"failed", "pending"}, 30, "the e-mails tried and waiting")
        logs = [server.log.stat().st_size for server in pair]
    finally:
        sink.data_delay_s = 0.2
        sink.start()
    try:
        until(lambda: failed() == ["sent"] * 24, 60, "the 24 e-mails sent")
    finally:
        sink.data_delay_s = 0.0
    assert {ref: len(received(sink, ref)) for ref in references} == dict.fromkeys(references, 2)
    counts = [sent_by(server, since) for server, since in zip(pair, logs)]
    assert sum(counts) == 24 and min(counts) > 0, counts


def test_an_e_mail_refused_for_good_is_never_tried_again_one_refused_for_now_is(pair, sink):
    """The SMTP server refuses one person's address for good (550: `rejected`) and another's mailbox
    for now (452: `failed`). While the servers try the second again and again, the first is never
    asked for again."""
    refused, full = (f"{start}.{uuid.uuid4().hex[:8]}@exemple.fr" for start in ("refuse", "boite-pleine"))
    ref_refused = message(pair[0], "titres", refused)
    message(pair[1], "titres", full)
    until(lambda: sink.rcpts.count(full) >= 4, 30, "the full mailbox tried again by the servers")
    assert sink.rcpts.count(refused) == 1
    assert e_mails(pair[0].db, ticket=ref_refused) == {"ticket": ("sent", 1), "ticket_ack": ("rejected", 1)}


# ---- the retry's parts, without a server -----------------------------------------------------------


def test_the_wait_doubles_at_each_failure_up_to_its_longest():
    backoff = mailer.Backoff.of(CANTAL)  # prefectures/_national.yml: every 60 s, 60 s doubling to 900 s
    assert backoff == mailer.Backoff(every_s=60, after_s=60, after_max_s=900)
    assert [backoff.wait_s(n) for n in range(1, 7)] == [60, 120, 240, 480, 900, 900]
    assert backoff.wait_s(10_000) == 900


def age(store: Store, seconds: float) -> None:
    """Every outbox row last tried `seconds` ago."""
    when = (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
    store.db.execute("update outbox set updated_at = ?", [when])


def attempts(store: Store) -> list[tuple[str, str, int]]:
    return [tuple(r) for r in store.db.execute("select kind, status, attempts from outbox order by id").fetchall()]


@pytest.mark.usefixtures("store_backend")
def test_the_scheduled_retry_tries_a_failed_e_mail_once_its_wait_is_over_never_a_rejected_one(tmp_path, smtp):
    backoff = mailer.Backoff(every_s=60, after_s=60, after_max_s=900)
    down = mailer.SmtpSettings("127.0.0.1", free_port(), False, None, None, "aiguillage@localhost")
    store = Store(tmp_path / "s.db")
    try:
        tickets.create_ticket(store, CANTAL, "armes", "Objet", "Texte", "p@exemple.fr", now=FRIDAY)
        # Not tried yet: due at once. The server refuses the connection: a round ends at its first
        # failure (the next e-mail would meet it too), the acknowledgement is tried by the next round.
        assert mailer.deliver_pending(store, down, backoff=backoff) == {"sent": 0, "failed": 1, "waiting": 2}
        assert attempts(store) == [("ticket", "failed", 1), ("ticket_ack", "pending", 0)]
        assert mailer.deliver_pending(store, down, backoff=backoff) == {"sent": 0, "failed": 1, "waiting": 2}
        assert mailer.deliver_pending(store, down, backoff=backoff) == {"sent": 0, "failed": 0, "waiting": 2}
        age(store, 61)  # one failure: due after 60 s; one round, one try
        assert mailer.deliver_pending(store, down, backoff=backoff)["failed"] == 1
        assert attempts(store) == [("ticket", "failed", 2), ("ticket_ack", "failed", 1)]
        assert mailer.deliver_pending(store, down, backoff=backoff)["failed"] == 1
        age(store, 61)  # two failures: due after 120 s
        assert mailer.deliver_pending(store, down, backoff=backoff)["failed"] == 0
        assert attempts(store) == [("ticket", "failed", 2), ("ticket_ack", "failed", 2)]
        age(store, 121)
        live = mailer.SmtpSettings.from_env(smtp.env)
        assert mailer.deliver_pending(store, live, backoff=backoff) == {"sent": 2, "failed": 0, "waiting": 0}
        # Refused for good: never tried again, however long ago.
        refused = f"refuse.{uuid.uuid4().hex[:8]}@exemple.fr"
        tickets.create_ticket(store, CANTAL, "armes", "Objet", "Texte", refused, now=FRIDAY)
        assert mailer.deliver_pending(store, live, backoff=backoff) == {"sent": 1, "failed": 1, "waiting": 0}
        age(store, 10**6)
        assert mailer.deliver_pending(store, live, backoff=backoff) == {"sent": 0, "failed": 0, "waiting": 0}
        assert smtp.rcpts.count(refused) == 1
        assert attempts(store)[-1] == ("ticket_ack", "rejected", 1)
    finally:
        store.close()


def run_rounds(path, seconds: float, until_done, backoff: mailer.Backoff) -> float:
    """Run the server's retry loop on `path` until `until_done()` (at most `seconds`), beside a ticker
    that wakes every 10 ms: the longest the event loop was held, in seconds."""

    async def main() -> float:
        task = asyncio.create_task(mailer.retry_every(path, backoff, mailer.Bounds.of(CANTAL)))
        held, last, deadline = 0.0, time.monotonic(), time.monotonic() + seconds
        while not until_done() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            held, last = max(held, now - last - 0.01), now
        assert not task.done(), "the loop stopped"
        task.cancel()
        return held

    return run_async(main())


def test_a_round_that_fails_is_logged_once_and_the_next_rounds_go_on(tmp_path, smtp, monkeypatch, caplog):
    """The store cannot be opened (a file where its folder was: a disk unmounted, a wrong mount): each
    round fails, the error is logged once, and the loop goes on; the folder back, the next round sends
    what waited."""
    for name, value in smtp.env.items():
        monkeypatch.setenv(name, value)
    store = Store(tmp_path / "there" / "s.db")
    email = f"revenu.{uuid.uuid4().hex[:8]}@exemple.fr"
    tickets.create_ticket(store, CANTAL, "armes", "Objet", "Texte", email, now=FRIDAY)
    store.close()
    (tmp_path / "there").rename(tmp_path / "gone")
    (tmp_path / "there").write_text("not a folder")
    backoff = mailer.Backoff(every_s=0.05, after_s=1, after_max_s=1)
    failures = lambda: [r for r in caplog.records if "scheduled retry failed" in r.getMessage()]  # noqa: E731
    with caplog.at_level(logging.INFO, logger="bot.services.mailer"):
        run_rounds(tmp_path / "there" / "s.db", 1.0, lambda: False, backoff)  # about 20 rounds, each failing
        assert len(failures()) == 1 and failures()[0].exc_info is not None
        (tmp_path / "there").unlink()
        (tmp_path / "gone").rename(tmp_path / "there")
        sent = "outbox: scheduled retry: 2 sent, 0 failed, 0 waiting"
        run_rounds(tmp_path / "there" / "s.db", 30, lambda: sent in caplog.text, backoff)
    assert sent in caplog.text and len(failures()) == 1
    assert len(smtp.to(email)) == 1


def test_a_slow_smtp_server_never_holds_the_event_loop(tmp_path, smtp, monkeypatch):
    """Each message takes the SMTP server 0.5 s to accept: the round sends in a worker thread, and the
    event loop (the server's requests) is never held meanwhile."""
    for name, value in smtp.env.items():
        monkeypatch.setenv(name, value)
    store = Store(tmp_path / "s.db")
    email = f"lent.{uuid.uuid4().hex[:8]}@exemple.fr"
    tickets.create_ticket(store, CANTAL, "armes", "Objet", "Texte", email, now=FRIDAY)
    store.close()
    smtp.data_delay_s = 0.5
    try:
        held = run_rounds(tmp_path / "s.db", 30, lambda: smtp.to(email), mailer.Backoff(every_s=0.05, after_s=1, after_max_s=1))
    finally:
        smtp.data_delay_s = 0.0
    assert len(smtp.to(email)) == 1
    assert held < 0.2, held


def test_a_bad_smtp_setting_stops_the_start_not_the_first_retry(python, tmp_path):
    """SMTP_* are read when `bot serve` starts (the outbox's retry starts with the server), before Rasa
    loads: a bad value is one line naming the variable, not a server that never sends."""
    env = dict(os.environ, AIGUILLAGE_DB=str(tmp_path / "s.db"), SMTP_HOST="127.0.0.1", SMTP_PORT="vingt-cinq")
    out = subprocess.run([python, "-m", "bot", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr == "configuration error: SMTP_PORT: expected a port number (1-65535), got 'vingt-cinq'\n"


def test_the_retry_values_are_checked_with_the_prefecture_file(tmp_path):
    """A retry value that is no positive whole number, or a longest wait under the first, stops `python
    -m bot check` (and the start) with one line naming the key."""
    from test_new_prefecture import check, folder_with, refused

    def outbox(**values):
        return lambda data: data.update(outbox=values)

    refused(folder_with(tmp_path, outbox(retry_every_s=0)), "outbox.retry_every_s", "must be a positive whole number")
    refused(
        folder_with(tmp_path, outbox(retry_after_s=600, retry_after_max_s=300)),
        "outbox.retry_after_max_s",
        "must be at least outbox.retry_after_s (600)",
    )
    assert check(folder_with(tmp_path, outbox(retry_every_s=30, retry_after_max_s=3600)))[0] == 0
