"""How long the outbox waits on the SMTP server (bot/services/mailer.py `Bounds`): the préfecture
file's `outbox:` block (prefectures/_national.yml), as the retry's values are, not numbers in the code.

A round of delivery stops at the first e-mail the SMTP server could not take for a reason of its own
(the next ones would meet it too), and the server's stop ends a round under way after the e-mail it is
sending. An SMTP server that accepts the connection and never answers (a hung server, or a host that
drops packets) is a real TCP server here (`Silent`): it accepts every connection and never writes a byte."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import MODEL, SmtpSink, db_rows, launch, run_async, stop, until
from test_outbox_retry import with_outbox

from bot.core import config
from bot.services import mailer, tickets
from bot.store.database import Store

CANTAL = config.load_prefecture("cantal")
FRIDAY = datetime(2026, 7, 10, 15, 0)


class Silent:
    """A real TCP server that accepts every connection and never answers: each connection is held open
    until `close()`. `accepted`: how many connections it took (each an e-mail the mailer tried)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                self.held.append(self.sock.accept()[0])
            except TimeoutError:
                continue

    @property
    def accepted(self) -> int:
        return len(self.held)

    @property
    def env(self) -> dict:
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.port), "SMTP_STARTTLS": "0", "SMTP_FROM": "aiguillage@localhost"}

    def settings(self) -> mailer.SmtpSettings:
        return mailer.SmtpSettings.from_env(self.env)

    def close(self) -> None:
        self.closing.set()
        self.thread.join()
        for conn in [*self.held, self.sock]:
            conn.close()


@pytest.fixture
def silent():
    server = Silent()
    yield server
    server.close()


def bounds(**values) -> mailer.Bounds:
    """The national bounds, with these changed."""
    return mailer.Bounds(**{"smtp_timeout_s": 10, "deliver_within_s": 30, "stale_sending_minutes": 10, **values})


def rows(store: Store) -> list[tuple[str, int]]:
    """(status, attempts) of every outbox row, in order."""
    return [tuple(r) for r in store.db.execute("select status, attempts from outbox order by id").fetchall()]


def test_the_bounds_are_the_prefecture_files_outbox_block():
    assert mailer.Bounds.of(CANTAL) == mailer.Bounds(smtp_timeout_s=10, deliver_within_s=30, stale_sending_minutes=10)


def test_the_bounds_are_checked_with_the_prefecture_file(tmp_path):
    """A bound that is no positive whole number (YAML's true among them) stops `python -m bot check`
    (and the start) with one line naming the key."""
    from test_new_prefecture import check, folder_with, refused

    def outbox(**values):
        return lambda data: data.update(outbox=values)

    must = "must be a positive whole number"
    refused(folder_with(tmp_path, outbox(smtp_timeout_s=True)), "outbox.smtp_timeout_s", must)
    refused(folder_with(tmp_path, outbox(deliver_within_s=0)), "outbox.deliver_within_s", must)
    refused(folder_with(tmp_path, outbox(stale_sending_minutes="10 min")), "outbox.stale_sending_minutes", must)
    assert check(folder_with(tmp_path, outbox(smtp_timeout_s=5, deliver_within_s=20, stale_sending_minutes=30)))[0] == 0
    # A claim taken over while its process may still be sending: the same e-mail sent twice. One e-mail
    # waits for at most 14 answers of the server (connection, greeting, EHLO, STARTTLS, EHLO, login's
    # three, MAIL, RCPT, DATA, the message, its end, QUIT), each up to smtp_timeout_s: 14 x 60 s = 14 min.
    refused(
        folder_with(tmp_path, outbox(smtp_timeout_s=60, stale_sending_minutes=10)),
        "outbox.stale_sending_minutes",
        "must be longer than one e-mail may take: 14 answers of the SMTP server of up to outbox.smtp_timeout_s"
        " (60 s) each, 14 minutes",
    )
    assert check(folder_with(tmp_path, outbox(smtp_timeout_s=60, stale_sending_minutes=15)))[0] == 0


@pytest.mark.usefixtures("store_backend")
def test_a_claim_left_by_a_stopped_process_is_taken_over_once_stale_sending_minutes_old(tmp_path, smtp):
    """A row left `sending` (its process stopped while sending it) is sent again once its claim is
    `stale_sending_minutes` old, not before."""
    store = Store(tmp_path / "s.db")
    email = f"reprise.{uuid.uuid4().hex[:8]}@exemple.fr"
    try:
        tickets.create_ticket(store, CANTAL, "armes", "Objet", "Texte", now=FRIDAY)
        with store.transaction() as conn:
            mailer.queue(conn, "ticket_ack", email, "Objet", "Texte")
        claimed = (datetime.now(UTC) - timedelta(minutes=12)).isoformat(timespec="milliseconds")
        store.db.execute("update outbox set status = 'sending', updated_at = ?", [claimed])
        live = mailer.SmtpSettings.from_env(smtp.env)
        assert mailer.deliver_pending(store, live, bounds=bounds(stale_sending_minutes=15))["sent"] == 0
        assert rows(store) == [("sending", 0), ("sending", 0)]
        assert mailer.deliver_pending(store, live, bounds=bounds(stale_sending_minutes=11))["sent"] == 2
        assert rows(store) == [("sent", 1), ("sent", 1)]
        assert len(smtp.to(email)) == 1
    finally:
        store.close()


def test_a_request_waits_deliver_within_s_for_its_round_not_the_smtp_server(tmp_path, silent, monkeypatch):
    """`deliver` (after a ticket, a booking, an agent's reply) stops waiting after `deliver_within_s`,
    while its round still waits on a server that never answers (`smtp_timeout_s` later); the row is then
    `failed`, for the next round."""
    for name, value in silent.env.items():
        monkeypatch.setenv(name, value)
    store = Store(tmp_path / "s.db")
    try:
        tickets.create_ticket(store, CANTAL, "armes", "Objet", "Texte", now=FRIDAY)

        async def request() -> list[tuple[str, int]]:
            await asyncio.wait_for(mailer.deliver(store, bounds(smtp_timeout_s=6, deliver_within_s=1)), timeout=30)
            return rows(store)  # before the event loop ends (it waits for its worker threads)

        assert run_async(request()) == [("sending", 0)] and silent.accepted == 1  # the round still waits on the server
        until(lambda: rows(store) == [("failed", 1)], 30, "the round's e-mail failed")
    finally:
        store.close()


# ---- a round stops at the first e-mail the server could not take -------------------------------------


def tickets_without_answer(store: Store, n: int) -> None:
    """`n` messages to the weapons service with no e-mail for the answer: one e-mail each (the ticket)."""
    for i in range(n):
        tickets.create_ticket(store, CANTAL, "armes", f"Objet {i}", "Texte", now=FRIDAY)


@pytest.mark.usefixtures("store_backend")
def test_a_round_stops_at_the_first_e_mail_a_server_that_never_answers_did_not_take(tmp_path, silent):
    """Five e-mails wait; the SMTP server accepts the connection and never answers. A round tries the
    first (it waits `smtp_timeout_s`, then it is `failed`) and stops there: the four others are not
    tried (each would have cost the same wait, and the server's stop waits for the round), and stay
    `pending`, not counted as failed attempts. The server's next round tries the next one (the first
    waits for its retry)."""
    store = Store(tmp_path / "s.db")
    quick = bounds(smtp_timeout_s=1)
    try:
        tickets_without_answer(store, 5)
        assert mailer.deliver_pending(store, silent.settings(), bounds=quick) == {"sent": 0, "failed": 1, "waiting": 5}
        assert rows(store) == [("failed", 1), ("pending", 0), ("pending", 0), ("pending", 0), ("pending", 0)]
        assert silent.accepted == 1
        backoff = mailer.Backoff(every_s=60, after_s=60, after_max_s=900)
        assert mailer.deliver_pending(store, silent.settings(), backoff=backoff, bounds=quick)["failed"] == 1
        assert rows(store) == [("failed", 1), ("failed", 1), ("pending", 0), ("pending", 0), ("pending", 0)]
        assert silent.accepted == 2
        last_error = store.db.execute("select last_error from outbox where id = 1").fetchone()[0]
        assert last_error == "SMTPServerDisconnected: Connection unexpectedly closed: timed out"
    finally:
        store.close()


def test_a_sender_refused_for_now_stops_the_round_a_recipient_refused_does_not(tmp_path, smtp):
    """A recipient refused (its mailbox full for now, or unknown for good) is that e-mail's: the round
    goes on with the next ones. Every sender refused for now (451 at MAIL FROM) is the server's: the
    round stops at the first e-mail, the others untouched."""
    store = Store(tmp_path / "s.db")
    live = mailer.SmtpSettings.from_env(smtp.env)
    tag = uuid.uuid4().hex[:8]
    try:
        for start in ("boite-pleine", "refuse", "accepte"):
            tickets.create_ticket(store, CANTAL, "armes", "Objet", "Texte", f"{start}.{tag}@exemple.fr", now=FRIDAY)
        assert mailer.deliver_pending(store, live, bounds=bounds()) == {"sent": 4, "failed": 2, "waiting": 1}
        assert rows(store) == [("sent", 1), ("failed", 1), ("sent", 1), ("rejected", 1), ("sent", 1), ("sent", 1)]
        tickets_without_answer(store, 2)
        smtp.mail_answer = "451 4.3.0 Try again later"
        try:
            assert mailer.deliver_pending(store, live, bounds=bounds()) == {"sent": 0, "failed": 1, "waiting": 3}
        finally:
            smtp.mail_answer = None
        # The least tried e-mail is tried first (one not tried yet), the others untouched.
        assert rows(store)[1] == ("failed", 1) and rows(store)[6:] == [("failed", 1), ("pending", 0)]
        last_error = store.db.execute("select last_error from outbox where id = 7").fetchone()[0]
        assert last_error == "SMTPSenderRefused: 451 4.3.0 Try again later"
        assert mailer.deliver_pending(store, live, bounds=bounds()) == {"sent": 2, "failed": 1, "waiting": 1}
    finally:
        store.close()


@pytest.mark.usefixtures("store_backend")
def test_a_new_e_mail_leaves_before_those_that_failed_and_an_outage_costs_them_no_attempt(tmp_path, smtp):
    """After an outage, e-mails wait as `failed`. While the server is still down, a booking's request
    tries its own confirmation, not the oldest e-mail again (whose attempts set its wait for the
    scheduled retry); once the server is back, the least tried leaves first (it was sent after every
    older one: behind a long backlog, or beyond the round's 200)."""
    from conftest import free_port

    store = Store(tmp_path / "s.db")
    tag = uuid.uuid4().hex[:8]
    try:
        with store.transaction() as conn:
            for name in ("ancien1", "ancien2"):
                mailer.queue(conn, "ticket_ack", f"{name}.{tag}@exemple.fr", "Objet", "Texte")
            conn.execute("update outbox set status = 'failed', attempts = 3")
            mailer.queue(conn, "booking_confirmation", f"nouveau.{tag}@exemple.fr", "Objet", "Texte")
        down = mailer.SmtpSettings.from_env(smtp.env | {"SMTP_PORT": str(free_port())})  # nothing listens
        assert mailer.deliver_pending(store, down, bounds=bounds()) == {"sent": 0, "failed": 1, "waiting": 3}
        assert rows(store) == [("failed", 3), ("failed", 3), ("failed", 1)]
        live = mailer.SmtpSettings.from_env(smtp.env)
        assert mailer.deliver_pending(store, live, bounds=bounds()) == {"sent": 3, "failed": 0, "waiting": 0}
        order = [m["to"][0].split(".")[0] for m in smtp.messages if m["to"][0].endswith(f"{tag}@exemple.fr")]
        assert order == ["nouveau", "ancien1", "ancien2"]
    finally:
        store.close()


@pytest.fixture
def own_smtp():
    """An SMTP server of the test's own (not the session's), to be told how it answers."""
    sink = SmtpSink()
    yield sink
    sink.stop()


@pytest.mark.parametrize("ending", ["hangs", "421"])
def test_an_e_mail_the_server_took_is_sent_however_the_session_then_ends(tmp_path, own_smtp, ending, caplog):
    """The server answers 250 to the message, then hangs at QUIT (longer than the SMTP timeout) or closes
    with 421: the message is the server's to deliver. It is `sent`, once, and no later round sends it
    again (the person would receive the confirmation twice); the round goes on with the next e-mail."""
    caplog.set_level(logging.INFO, logger="bot.services.mailer")
    if ending == "hangs":
        own_smtp.quit_delay_s = 3.0
    else:
        own_smtp.quit_answer = "421 4.3.2 Service shutting down"
    store = Store(tmp_path / "s.db")
    live = mailer.SmtpSettings.from_env(own_smtp.env)
    tag = uuid.uuid4().hex[:8]
    try:
        for name in ("premier", "second"):
            tickets.create_ticket(store, CANTAL, "armes", "Objet", "Texte", f"{name}.{tag}@exemple.fr", now=FRIDAY)
        assert mailer.deliver_pending(store, live, bounds=bounds(smtp_timeout_s=0.5)) == {"sent": 4, "failed": 0, "waiting": 0}
        assert rows(store) == [("sent", 1)] * 4
        assert mailer.deliver_pending(store, live, bounds=bounds(smtp_timeout_s=0.5)) == {"sent": 0, "failed": 0, "waiting": 0}
        assert len(own_smtp.messages) == 4
        said = {"hangs": "the SMTP session ended badly: SMTPServerDisconnected", "421": "the SMTP server answered 421 to QUIT"}
        assert [r.getMessage() for r in caplog.records if "QUIT" in r.getMessage() or "ended badly" in r.getMessage()] == [
            f"outbox {n}: {said[ending]}" for n in (1, 2, 3, 4)
        ]
    finally:
        store.close()


def test_which_failures_are_the_servers_and_end_the_round():
    """Before the session is open (connection, greeting, EHLO, STARTTLS, login) every failure is the
    server's; within it, only the server gone or silent, a 421 (closing) or the sender refused."""
    from smtplib import (
        SMTPAuthenticationError,
        SMTPDataError,
        SMTPNotSupportedError,
        SMTPRecipientsRefused,
        SMTPSenderRefused,
        SMTPServerDisconnected,
    )

    from bot.services.smtp_failures import the_servers

    to = "jean.dupont@exemple.fr"
    before_the_session = [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        SMTPServerDisconnected("Connection unexpectedly closed: timed out"),
        SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid"),
        SMTPNotSupportedError("STARTTLS extension not supported by server."),
    ]
    assert [the_servers(exc, opened=False) for exc in before_the_session] == [True] * 5
    within = {
        TimeoutError("timed out"): True,
        SMTPServerDisconnected("Connection unexpectedly closed"): True,
        SMTPSenderRefused(451, b"4.3.0 Try again later", "aiguillage@localhost"): True,
        # The sender is the préfecture's own address, the same in every e-mail: refused for good, every
        # e-mail after it would be refused too (a 552 at MAIL FROM is this message's size: the e-mail's).
        SMTPSenderRefused(553, b"5.1.8 Sender rejected", "aiguillage@localhost"): True,
        SMTPSenderRefused(552, b"5.3.4 Message size exceeds fixed limit", "aiguillage@localhost"): False,
        SMTPRecipientsRefused({to: (452, b"4.2.2 Mailbox full")}): False,
        SMTPRecipientsRefused({to: (550, b"5.1.1 User unknown")}): False,
        SMTPRecipientsRefused({to: (421, b"4.3.2 Service shutting down")}): True,
        SMTPDataError(554, b"5.7.1 Rejected as spam"): False,
        SMTPDataError(451, b"4.3.0 Try again later"): False,
        SMTPDataError(421, b"4.3.2 Service shutting down"): True,
        SMTPNotSupportedError("One or more source or delivery addresses require internationalized email support"): False,
    }
    assert {exc: the_servers(exc, opened=True) for exc in within} == within
    assert the_servers(ValueError("a header that cannot be written"), opened=False) is False


def test_which_failures_are_final_for_the_e_mail_and_never_tried_again():
    """`rejected` (never tried again) only when trying again cannot help this e-mail: its recipient or its
    message refused for good, a server without SMTPUTF8 for an address that needs it, a message too large
    for the server. The server's own troubles (its settings, STARTTLS, login) are tried again once mended."""
    from smtplib import SMTPAuthenticationError, SMTPDataError, SMTPNotSupportedError, SMTPRecipientsRefused, SMTPSenderRefused

    from bot.services.smtp_failures import permanent

    to = "jean.dupont@exemple.fr"
    utf8 = SMTPNotSupportedError("One or more source or delivery addresses require internationalized email support")
    assert permanent(utf8, opened=True) is True
    assert permanent(SMTPNotSupportedError("STARTTLS extension not supported by server."), opened=False) is False
    assert permanent(SMTPSenderRefused(552, b"5.3.4 Message size exceeds fixed limit", "a@localhost"), opened=True) is True
    assert permanent(SMTPSenderRefused(553, b"5.1.8 Sender rejected", "a@localhost"), opened=True) is False
    assert permanent(SMTPRecipientsRefused({to: (550, b"5.1.1 User unknown")}), opened=True) is True
    assert permanent(SMTPRecipientsRefused({to: (452, b"4.2.2 Mailbox full")}), opened=True) is False
    assert permanent(SMTPDataError(554, b"5.7.1 Rejected as spam"), opened=True) is True
    assert permanent(SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid"), opened=False) is False
    assert permanent(ValueError("a header that cannot be written"), opened=False) is True


# ---- the server's stop waits for the e-mail being sent, not for the round --------------------------


SMTP_TIMEOUT_S = 3


def stopped_mid_round(tmp_path, smtp_env: dict, waiting: int, started) -> list[tuple[str, int]]:
    """A real server (`python -m bot serve`) whose outbox holds `waiting` e-mails, its own retry every
    second with `smtp_timeout_s` SMTP_TIMEOUT_S; once `started()` (its round is on), it is stopped
    (SIGTERM, as systemd does) and must end within 3 x SMTP_TIMEOUT_S: the (status, attempts) of the
    e-mails then."""
    if not MODEL.exists():
        pytest.exit(f"No trained model at {MODEL}: run the tests with `make test` (it trains first).", returncode=2)
    db = tmp_path / "aiguillage.db"
    store = Store(db)
    tickets_without_answer(store, waiting)
    store.close()
    folder = with_outbox(tmp_path, retry_every_s=1, smtp_timeout_s=SMTP_TIMEOUT_S)
    server = launch(tmp_path, db=db, extra_env=smtp_env | {"AIGUILLAGE_PREFECTURES": str(folder)})
    try:
        until(started, 60, "the server's round under way")
        server.proc.terminate()
        try:
            server.proc.wait(timeout=3 * SMTP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not stop within {3 * SMTP_TIMEOUT_S} s: it waited for its round")
    finally:
        stop(server)
    return [(r["status"], r["attempts"]) for r in db_rows(db, "select status, attempts from outbox order by id")]


def test_the_servers_stop_does_not_wait_for_a_round_on_a_server_that_never_answers(tmp_path, silent):
    """Ten e-mails wait; the SMTP server accepts the connection and never answers. The server, stopped
    while its round waits on the first e-mail, ends after that e-mail's timeout, not after ten: each
    e-mail tried is `failed` once, the others wait, `pending`, none tried."""
    states = stopped_mid_round(tmp_path, silent.env, 10, lambda: silent.accepted >= 1)
    tried = silent.accepted
    assert states == [("failed", 1)] * tried + [("pending", 0)] * (10 - tried) and tried < 10


@pytest.fixture
def slow(own_smtp):
    """An SMTP server of its own that takes 1 s to accept each message."""
    own_smtp.data_delay_s = 1.0
    return own_smtp


def test_the_servers_stop_waits_for_the_e_mail_being_sent_not_for_the_rest_of_the_round(tmp_path, slow):
    """Forty e-mails wait; the SMTP server takes 1 s to accept each, so the server's round would take
    forty seconds. Stopped once the first has arrived, the server ends after the e-mail it is sending:
    the ones the round had not reached wait, `pending`, none left `sending` nor counted as tried."""
    states = stopped_mid_round(tmp_path, slow.env, 40, lambda: slow.messages)
    sent = len(slow.messages)
    assert states == [("sent", 1)] * sent + [("pending", 0)] * (40 - sent) and sent < 40


def test_a_round_whose_process_is_stopping_sends_nothing_more(tmp_path, smtp):
    """`stopping` set (the server's stop: mailer.STOPPING), the round ends before its next e-mail: the
    e-mails wait, untouched, for the next process."""
    store = Store(tmp_path / "s.db")
    live = mailer.SmtpSettings.from_env(smtp.env)
    stopping = threading.Event()
    stopping.set()
    try:
        tickets_without_answer(store, 3)
        assert mailer.deliver_pending(store, live, bounds=bounds(), stopping=stopping) == {"sent": 0, "failed": 0, "waiting": 3}
        assert rows(store) == [("pending", 0)] * 3
        assert mailer.deliver_pending(store, live, bounds=bounds(), stopping=threading.Event())["sent"] == 3
    finally:
        store.close()
