"""Outgoing e-mail: an outbox in the store, delivered by SMTP with retries.

Every e-mail (a ticket to a service mailbox, an acknowledgement, a booking confirmation) is first
written to the `outbox` table in the same transaction as the ticket or booking it belongs to, so
nothing is lost when the SMTP server is down. `deliver_pending` sends what is waiting. It runs:
- after each new ticket, booking or agent's reply (`deliver`: that e-mail and every one still waiting);
- on the server's own schedule (`retry_every`, started with the server by bot/web/lifecycle.py): every
  `outbox.retry_every_s` it sends what is due (`Backoff`: an e-mail not tried yet, or one that failed n
  times and was last tried `outbox.retry_after_s` x 2^(n-1) seconds ago, at most
  `outbox.retry_after_max_s`; prefectures/_national.yml), so that a quiet night's failed e-mails leave
  once the SMTP server is back, without waiting for the next message;
- by hand: `python -m bot tickets retry` (every waiting e-mail, whatever its wait).
How long it waits on SMTP is the same block's (`Bounds`): `outbox.smtp_timeout_s` for the connection and
each answer of the server, `outbox.deliver_within_s` for a request's round, `outbox.stale_sending_minutes`
before a claim left by a stopped process is taken over.
A failure is `failed` (tried again) or, refused for good (`permanent`: a 5xx), `rejected` (never again).
A failure that is the SMTP server's, not the e-mail's (bot/services/smtp_failures.py `the_servers`: no
connection, no answer within the timeout, the sender refused...), ends the round there: the e-mails after
it are left as they are (not tried: no attempt counted) for the next round, so that a server that never
answers costs a round one `smtp_timeout_s`, not one per e-mail. A recipient refused does not end it.
The server's stop ends a round under way after the e-mail it is sending (`STOPPING`).
Several processes on one store send each e-mail once: a row is claimed (`_claim`, one conditional
update) before it is sent. Without SMTP_HOST nothing is sent, nor tried, and the rows stay `pending`
(the service reads tickets in the console).

Settings from the environment: SMTP_HOST, SMTP_PORT (default 25, or 587 with STARTTLS),
SMTP_STARTTLS (0/1), SMTP_USER, SMTP_PASSWORD, SMTP_FROM.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy as email_policy
from email.header import Header
from email.headerregistry import HeaderRegistry, UniqueUnstructuredHeader
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from bot import settings as env_settings
from bot.services.smtp_failures import describe, permanent, the_servers
from bot.store.database import Store, lock_key
from bot.store.disk import every

logger = logging.getLogger(__name__)

# An RFC 2047 encoded word is at most 75 characters: 76 with the space that folds the line before it.
ENCODED_LINE = 76


class Subject(UniqueUnstructuredHeader):
    """The Subject header, folded without loss and within the RFCs. Python 3.11's own folding drops
    the space where it cuts an accented subject between two encoded words (« Armeshéritées »), writes
    encoded words longer than 75 characters, and gives a long subject without accents a leading space.
    Here a subject that fits on its line without accents is written as it is; any other is encoded
    whole by email.header.Header (the standard library's RFC 2047 encoder), cut between characters
    into encoded words of at most 75 characters, one a line: readers join adjacent encoded words
    without the folding space, so every space of the subject is inside an encoded word and kept."""

    def fold(self, *, policy) -> str:
        text = str(self)
        if text.isascii() and len(self.name) + 2 + len(text) <= ENCODED_LINE:
            return f"{self.name}: {text}{policy.linesep}"
        folded = Header(text, "utf-8", maxlinelen=ENCODED_LINE, header_name=self.name).encode(linesep=policy.linesep)
        return f"{self.name}: {folded}{policy.linesep}"


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("subject", Subject)
# The messages' policy: the default one (headers folded at 78 characters, RFC 5322), with that Subject.
MAIL = email_policy.default.clone(header_factory=_HEADERS)

# Kinds whose recipient is the user: their address and text are erased once sent.
USER_KINDS = {"ticket_ack", "ticket_reply", "booking_confirmation", "booking_cancelled"}
HUMAN_KINDS = {"ticket_reply"}  # written by an agent: no "Auto-Submitted" header, so the person may answer
# Set by the server's stop (bot/web/lifecycle.py stop_background_tasks): a round running in a worker thread
# ends after the e-mail it is sending, since the process's exit waits for its worker threads.
STOPPING = threading.Event()


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool
    user: str | None
    password: str | None = field(repr=False)
    sender: str

    @classmethod
    def from_env(cls, env: dict | None = None) -> "SmtpSettings | None":
        """From SMTP_* (bot.settings.smtp); raises SettingsError naming a variable with a bad value."""
        smtp = env_settings.smtp(env)
        if smtp is None:
            return None
        return cls(
            host=smtp.host, port=smtp.port, starttls=smtp.starttls, user=smtp.user, password=smtp.password, sender=smtp.sender
        )


def build_message(settings: SmtpSettings, row: dict) -> EmailMessage:
    msg = EmailMessage(policy=MAIL)
    msg["From"] = settings.sender
    msg["To"] = row["to_addr"]
    if row.get("reply_to"):
        msg["Reply-To"] = row["reply_to"]
    msg["Subject"] = row["subject"] or ""
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=settings.sender.split("@")[-1] or "localhost")
    if row.get("kind") not in HUMAN_KINDS:
        msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row["body"] or "")
    if row.get("ics"):
        msg.add_attachment(
            row["ics"].encode("utf-8"),
            maintype="text",
            subtype="calendar",
            filename="rendez-vous.ics",
            params={"method": "PUBLISH", "charset": "utf-8"},  # RFC 5545 3.1.4: said in a MIME transport
        )
    return msg


def connect(settings: SmtpSettings, timeout_s: float) -> smtplib.SMTP:
    """An SMTP session ready for a message (connected, greeted, STARTTLS, logged in), each step waiting
    `timeout_s` at most; raises smtplib.SMTPException / OSError on failure."""
    smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout_s)
    try:
        smtp.ehlo()
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.user:
            smtp.login(settings.user, settings.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def queue(
    conn,
    kind: str,
    to_addr: str,
    subject: str,
    body: str,
    *,
    ticket_id: int | None = None,
    booking_id: int | None = None,
    reply_to: str | None = None,
    ics: str | None = None,
) -> int:
    """Add an e-mail to the outbox, inside the caller's transaction (conn: sqlite3 connection)."""
    ts = utcnow()
    cur = conn.execute(
        "insert into outbox (kind, ticket_id, booking_id, to_addr, reply_to, subject, body, ics, status,"
        " attempts, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
        [kind, ticket_id, booking_id, to_addr, reply_to, subject, body, ics, ts, ts],
    )
    return cur.lastrowid


@dataclass(frozen=True)
class Backoff:
    """When the server's own retry (`retry_every`) tries an e-mail again: the préfecture's `outbox:` block."""

    every_s: float  # how often the server looks for e-mails due
    after_s: float  # the wait after a first failure, doubled at each further one
    after_max_s: float  # the longest wait

    @classmethod
    def of(cls, prefecture) -> Backoff:
        return cls(*(float(prefecture.get(f"outbox.{name}")) for name in ("retry_every_s", "retry_after_s", "retry_after_max_s")))

    def wait_s(self, attempts: int) -> float:
        """The wait after `attempts` failures: after_s, 2 x after_s, 4 x after_s..., at most after_max_s."""
        return min(self.after_s * 2 ** min(max(attempts - 1, 0), 32), self.after_max_s)

    def due(self, status: str, attempts: int, updated_at: str, now: datetime) -> bool:
        """A failed e-mail once its wait is over; any other waiting one (pending; sending: `_claim` takes
        over a stale claim only) at once."""
        if status != "failed":
            return True
        last = datetime.fromisoformat(updated_at)
        last = last if last.tzinfo else last.replace(tzinfo=UTC)  # the product writes UTC (`utcnow`)
        return last <= now - timedelta(seconds=self.wait_s(attempts))


@dataclass(frozen=True)
class Bounds:
    """How long the outbox waits on SMTP: the préfecture's `outbox:` block (bot/core/config_checks.py OUTBOX)."""

    smtp_timeout_s: int  # the SMTP socket's timeout: the connection, then each answer of the server
    deliver_within_s: int  # `deliver`: the longest a request waits for its round (the round goes on in its thread)
    stale_sending_minutes: int  # a row left `sending` this long (its process stopped while sending it) is claimed again

    @classmethod
    def of(cls, prefecture) -> Bounds:
        return cls(**{name: int(prefecture.get(f"outbox.{name}")) for name in cls.__dataclass_fields__})

    @classmethod
    def running(cls) -> Bounds:
        """The running préfecture's (bot.services.runtime: $PREFECTURE, read once per process)."""
        from bot.services import runtime

        return cls.of(runtime.prefecture())


def _claim(conn, row_id: int, seen: str, stale_minutes: float) -> bool:
    """Mark a row `sending` unless another process holds it (a claim older than `stale_minutes` is taken
    over) or it changed since it was read (`seen`, its updated_at then: another process tried or sent it
    meanwhile)."""
    stale = (datetime.now(UTC) - timedelta(minutes=stale_minutes)).isoformat(timespec="milliseconds")
    cur = conn.execute(
        "update outbox set status = 'sending', updated_at = ? where id = ? and updated_at = ? and "
        "(status in ('pending', 'failed') or (status = 'sending' and updated_at < ?))",
        [utcnow(), row_id, seen, stale],
    )
    return cur.rowcount == 1


def _waiting(conn, limit: int, backoff: Backoff | None) -> list[tuple[int, str]]:
    """(id, updated_at) of the first `limit` rows to try: every waiting one, or those `backoff` says are due;
    the least tried first, then the oldest: a confirmation just queued is not sent after a backlog of
    failed ones, nor left beyond `limit`, and while the server is down a request's round tries its own
    e-mail, not the oldest again and again (whose attempts set its wait for the scheduled retry)."""
    rows = conn.execute(
        "select id, status, attempts, updated_at from outbox where status in ('pending', 'failed', 'sending')"
        " order by attempts, id"
    )
    now = datetime.now(UTC)
    due = [(r[0], r[3]) for r in rows if backoff is None or backoff.due(r[1], r[2], r[3], now)]
    return due[:limit]


def deliver_pending(
    store,
    settings: "SmtpSettings | None | str" = "env",
    limit: int = 200,
    backoff: Backoff | None = None,
    bounds: Bounds | None = None,
    stopping: threading.Event | None = None,
) -> dict:
    """Send the outbox rows waiting (pending or failed). Returns counts {sent, failed, waiting}.

    `settings`: "env" (default) reads the environment; None means no SMTP server (nothing sent).
    `backoff`: only the rows it says are due (the server's own retry); None: every waiting row.
    `bounds`: the SMTP timeout and the stale claim's age; None: the running préfecture's.
    `stopping`: once set, the round ends before its next e-mail (the server's stop: `STOPPING`).
    """
    settings = SmtpSettings.from_env() if settings == "env" else settings
    bounds = bounds or Bounds.running()
    conn = store.db.conn
    waiting = conn.execute("select count(*) from outbox where status in ('pending', 'failed')").fetchone()[0]
    if settings is None:
        return {"sent": 0, "failed": 0, "waiting": waiting}
    sent = failed = 0
    for row_id, seen in _waiting(conn, limit, backoff):
        if stopping is not None and stopping.is_set():
            break
        if not _claim(conn, row_id, seen, bounds.stale_sending_minutes):
            continue
        row = next(store.db.query("select * from outbox where id = ?", [row_id]), None)
        outcome = _deliver_one(store, settings, row, bounds.smtp_timeout_s)
        sent, failed = sent + (outcome == "sent"), failed + (outcome != "sent")
        if outcome == "unreachable":  # the next e-mails would meet it too: left as they are for the next round
            break
    remaining = conn.execute("select count(*) from outbox where status in ('pending', 'failed')").fetchone()[0]
    return {"sent": sent, "failed": failed, "waiting": remaining}


def _deliver_one(store, settings: SmtpSettings, row: dict, timeout_s: float) -> str:
    """Send one claimed row and write its outcome (`_after`): "sent"; "failed" (the row failed or
    rejected) for a reason of this e-mail (a recipient or the message refused, a message that cannot be
    built); "unreachable" (the row failed) for the server's (`the_servers`), which ends the round."""
    opened = False
    try:
        msg = build_message(settings, row)
        smtp = connect(settings, timeout_s)
        opened = True
        try:
            smtp.send_message(msg)
        finally:
            _end(smtp, row["id"])
    except (TimeoutError, smtplib.SMTPException, OSError, ValueError) as exc:
        error, status = describe(exc, row["to_addr"]), "rejected" if permanent(exc, opened) else "failed"
        logger.warning("outbox %s (%s): delivery %s: %s", row["id"], row["kind"], status, error)
        _after(store, row, status, error)
        return "unreachable" if the_servers(exc, opened) else "failed"
    _after(store, row, "sent", None)
    return "sent"


def _end(smtp: smtplib.SMTP, row_id: int) -> None:
    """Ends a session, whatever the server answers to QUIT: a message it took (250 after DATA) is its to
    deliver, and one it refused keeps its own reason. A 421, a timeout or a lost connection at QUIT would
    otherwise mark a message taken as failed, and send it again (`with smtplib.SMTP` raises the 421)."""
    try:
        code, _ = smtp.quit()
        if code != 221:
            logger.info("outbox %s: the SMTP server answered %s to QUIT", row_id, code)
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:  # smtplib: no answer is SMTPServerDisconnected
        logger.info("outbox %s: the SMTP session ended badly: %s", row_id, type(exc).__name__)
    finally:
        smtp.close()


def _after(store, row: dict, status: str, error: str | None) -> None:
    """The outcome of one claimed row (and of its ticket's delivery), in one transaction under the row's
    key: on PostgreSQL other writers go on meanwhile (the ticket's counters are updated in place)."""
    ts = utcnow()
    with store.transaction(lock_key("outbox", row["id"])) as conn:
        if status == "sent":
            # What was sent is kept in the ticket/booking row; the copy here is erased.
            erase_to = row["kind"] in USER_KINDS
            conn.execute(
                "update outbox set status = 'sent', attempts = attempts + 1, last_error = null, sent_at = ?,"
                " updated_at = ?, body = null, ics = null, subject = null, reply_to = null"
                + (", to_addr = null" if erase_to else "")
                + " where id = ?",
                [ts, ts, row["id"]],
            )
        else:  # failed (tried again) or rejected (never again)
            conn.execute(
                "update outbox set status = ?, attempts = attempts + 1, last_error = ?, updated_at = ? where id = ?",
                [status, error, ts, row["id"]],
            )
        if row["kind"] == "ticket" and row.get("ticket_id"):
            conn.execute(
                "update tickets set delivery_status = ?, delivery_attempts = delivery_attempts + 1, last_error = ?,"
                " delivered_at = coalesce(delivered_at, ?) where id = ?",
                [status, error, ts if status == "sent" else None, row["ticket_id"]],
            )


def failures(store) -> list[dict]:
    """E-mails not delivered (for the console): waiting, failed (tried again) or rejected for good; no
    body, no user address."""
    return list(
        store.db.query(
            "select o.id, o.kind, o.ticket_id, o.booking_id, o.status, o.attempts, o.last_error, o.created_at,"
            " o.updated_at, t.reference as ticket_reference, t.mailbox, t.service from outbox o"
            " left join tickets t on t.id = o.ticket_id where o.status in ('failed', 'rejected', 'pending', 'sending')"
            " order by o.id",
            [],
        )
    )


def _deliver_now(path, bounds: Bounds, backoff: Backoff | None = None) -> dict:
    """Send what waits in the outbox (what is due, with `backoff`), on a connection of its own (runs in
    a worker thread, which the server's stop ends after its current e-mail)."""
    store = Store(path)
    try:
        return deliver_pending(store, backoff=backoff, bounds=bounds, stopping=STOPPING)
    finally:
        store.close()


async def deliver(store, bounds: Bounds | None = None) -> None:
    """Send the outbox in a worker thread, waiting for it `bounds.deliver_within_s` at most (the round
    goes on in its thread; `bounds` None: the running préfecture's); a delivery problem is logged, never
    raised: it never costs the user a confirmation, and the rows stay `failed` for the next try."""
    bounds = bounds or Bounds.running()
    try:
        await asyncio.wait_for(asyncio.to_thread(_deliver_now, store.path, bounds), timeout=bounds.deliver_within_s)
    except Exception:  # noqa: BLE001
        logger.exception("outbox delivery failed")


async def retry_every(path, backoff: Backoff, bounds: Bounds) -> None:
    """The server's own retry, for as long as it runs: every `backoff.every_s`, what is due is sent in a
    worker thread on a connection of its own (`_deliver_now`), the event loop never waiting for SMTP; one
    round at a time (a slow SMTP server delays the next round, never doubles it). A round that fails
    (the store locked or unreachable) is logged, once until its error changes (bot/store/disk.py `every`),
    and the next one tries again: nothing stops the loop but the server's stop (bot/web/lifecycle.py stop_background_tasks)."""

    async def round_() -> None:
        done = await asyncio.to_thread(_deliver_now, path, bounds, backoff)
        if done["sent"] or done["failed"]:
            logger.info("outbox: scheduled retry: %(sent)d sent, %(failed)d failed, %(waiting)d waiting", done)

    await every(backoff.every_s, round_, logger, "outbox: the scheduled retry failed; tried again every %s s", backoff.every_s)
