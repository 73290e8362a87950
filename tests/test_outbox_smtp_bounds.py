"""How long the outbox waits on the SMTP server (bot/services/mailer.py `Bounds`): the préfecture
file's `outbox:` block (prefectures/_national.yml), as the retry's values are, not numbers in the code.

An SMTP server that accepts the connection and never answers (a hung server, or a host that drops
packets) is a real TCP server here (`Silent`): it accepts every connection and never writes a byte."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import run_async, until

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
