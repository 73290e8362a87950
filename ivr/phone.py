"""What the phone's webhooks share (built once, at start): settings, texts, the call flow, the
store threads, the SMS sender, the clock and the speech understanding.

Fail soft, never freeze: store work runs off the event loop on the phone's own connections
(PhoneStore: short busy timeout) and every webhook answers within `answer_within_ms`; a write the
store refuses now is retried in the background (`Phone.later`) until `store_retry_s`; one the caller
was told is kept (a voicemail, its callbacks, a call's end: `Phone.keep`) is first put on local disk
(ivr/spool.py) and retried for as long as the process lives, or by the next one after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sanic.request import Request

from bot import settings
from bot.core.masking import prepare
from bot.store.database import Store
from bot.store.disk import disk_full, log_refusal
from bot.store.spool import phone_spool_path
from ivr import hours, signature
from ivr.calls import Calls
from ivr.flow import CallState, Flow
from ivr.spool import Spool
from ivr.twiml import BOOKING, Speaker

logger = logging.getLogger(__name__)

_BACKGROUND: set = set()


def _keep(task) -> None:
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def deliver_soon(phone: "Phone") -> None:
    """Send the voicemail's ticket to the service mailbox in the background (the caller does not wait)."""
    from bot.services.mailer import deliver

    try:
        _keep(asyncio.get_running_loop().create_task(deliver(phone.runtime.store())))
    except RuntimeError:  # pragma: no cover - no loop (called outside the server)
        pass


def spool_path() -> Path:
    """The phone's spool: beside the SQLite file AIGUILLAGE_DB (var/aiguillage.db by default), which
    every process of a host shares, also when the store is on PostgreSQL (bot/store/spool.py, where
    the readiness probe finds it too)."""
    return phone_spool_path()


class StoreBusy(Exception):
    """The store did not answer in time (locked by another writer, or slow): answer without it."""


class PhoneStore:
    """The phone's own store connections (SQLite or PostgreSQL), off the event loop.

    Store work runs in a small pool of threads, each with its own connection to the same file and a
    short busy timeout (`phone.settings.store_busy_ms`), so a writer holding the file (a console
    export, a migration, another process) never freezes the server: reads go on (WAL), a write that
    cannot get the lock fails fast, and the webhook answers within `answer_within_ms` anyway."""

    def __init__(self, busy_ms: int, workers: int = 4):
        self.busy_ms = busy_ms
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ivr-store")
        self.write_lock = threading.Lock()
        self._path: Path | str | None = None

    def path(self) -> Path | str:
        if self._path is None:
            from bot.services import runtime

            self._path = runtime.store().path  # created (and migrated) once, by the shared store
        return self._path

    def store(self) -> Store:
        store = getattr(self.local, "store", None)
        if store is None:  # the same Store API, on this thread's connection
            store = self.local.store = Store.on_connection(self.path(), self.busy_ms)
        return store

    @contextmanager
    def writing(self):
        """One phone write at a time in this process: the others wait on a plain lock, woken as soon
        as it is free, rather than in SQLite's busy handler (which sleeps 1, 2, 5, 10... ms between
        tries). Not free within the busy timeout: "database is locked", as SQLite would say."""
        if not self.write_lock.acquire(timeout=self.busy_ms / 1000):
            raise sqlite3.OperationalError("database is locked (another phone write is waiting)")
        try:
            yield
        finally:
            self.write_lock.release()

    def _call(self, fn, args: tuple, write: bool):
        if not write:
            return fn(self.store(), *args)
        with self.writing():
            return fn(self.store(), *args)

    async def run(self, timeout_s: float, fn, *args, write: bool = False):
        """fn(store, *args) on a pool thread (`write`: holding the write lock); StoreBusy when
        locked or not done within timeout_s."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, self._call, fn, args, write)
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # late failures are logged below
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError:
            raise StoreBusy(f"{getattr(fn, '__name__', fn)} took more than {timeout_s} s") from None
        except sqlite3.OperationalError as exc:  # "database is locked" after the short busy timeout
            if disk_full(exc):  # no lock to wait for: the store answers with an error (the call unrecorded)
                raise
            raise StoreBusy(str(exc)) from exc


class Phone:
    """What the handlers share: settings, texts, flow, store (built once, at start)."""

    def __init__(self, settings: signature.Settings):
        from bot.services import runtime

        self.settings = settings
        self.runtime = runtime
        self.pref = runtime.prefecture()
        self.tree = runtime.tree()
        self.router = runtime.router()
        from bot.services import sms

        self.sms = sms.Sender.from_env()  # None: no SMS offered (a bad value stops the start, naming the variable)
        self.sms_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ivr-sms")
        self.sms_busy: set[tuple[str, int]] = set()  # (call, step) being sent: a replayed webhook sends nothing more
        self.speaker = Speaker(self.tree, self.pref, settings.base_url or "", sms=self.sms is not None)
        self.tree = self.speaker.tree  # the phone's menu (ivr/menu.py); its answers are the tree's nodes
        self.flow = Flow(self.speaker)
        # The answer to an incoming call that failed: built now, so that it needs nothing then.
        self.keypad_welcome = self.speaker.keypad_welcome()
        s = self.speaker.settings
        self.answer_within = int(s["answer_within_ms"]) / 1000
        self.retry_for = int(s["store_retry_s"])
        self.store_waits = int(s["store_waits"])  # tries of a held call whose row cannot be read (Speaker.waiting)
        self.sms_wait = int(s.get("sms_wait_ms", 1000)) / 1000
        self.stores = PhoneStore(int(s["store_busy_ms"]))
        self.spool = Spool(spool_path())
        self.spool_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ivr-spool")
        self.kept: dict = {}  # kind -> fn(calls, *args): the writes the spool keeps (ivr/record_hooks.py registers them)
        self.unrecorded: set[str] = set()  # calls under way served from their Gathers' URLs since the disk filled
        self.days = self.pref.get("prefecture.phone_hours.days")
        try:
            self.closures = tuple(str(day) for day in self.pref.get("prefecture.phone_hours.closures") or ())
        except KeyError:
            self.closures = ()

    def calls(self, store: Store) -> Calls:
        return Calls(store, self.pref, self.tree)

    async def db(self, fn, *args, write: bool = False):
        """fn(calls, *args) off the event loop, answered within `answer_within_ms` (else StoreBusy);
        `write`: fn writes (it holds the phone's write lock, PhoneStore.writing)."""
        return await self.stores.run(self.answer_within, lambda store, *a: fn(self.calls(store), *a), *args, write=write)

    def later(self, what: str, fn, *args) -> None:
        """Write in the background until the store accepts it, or `store_retry_s` has passed (a
        call's place in the menu: losing it costs the caller a menu, not a message)."""
        logger.warning("ivr: the store is busy; %s will be written in the background", what)
        _keep(asyncio.get_running_loop().create_task(self._retry(what, fn, args, None)))

    async def keep(self, kind: str, what: str, *args) -> None:
        """A write the caller is told is done (a voicemail, its callbacks, a call's end): on local disk
        before the answer (ivr/spool.py), then written in the background; never given up while this
        process lives, taken over by the next process if it dies (`resume`)."""
        loop = asyncio.get_running_loop()
        try:
            entry = await loop.run_in_executor(self.spool_pool, self.spool.add, kind, args)
        except (sqlite3.Error, OSError) as exc:
            log_refusal(logger, exc, "ivr: %s could not be put in the spool %s; kept in memory only", what, self.spool.path)
            entry = None
        logger.warning("ivr: the store is busy; %s will be written in the background", what)
        _keep(loop.create_task(self._retry(what, self.kept[kind], args, entry, kept=True)))

    async def write_or_keep(self, kind: str, what: str, *args) -> tuple[bool, object]:
        """A write the caller is told is done (`kind`, one of `kept`): now if the store takes it within
        `answer_within_ms`, else spooled (`keep`) and written in the background. (True, what the write
        returned), or (False, None) when spooled; a refusal other than a busy store is logged with its
        traceback."""
        try:
            return True, await self.db(self.kept[kind], *args, write=True)
        except Exception as exc:  # noqa: BLE001 - busy, or an error: the caller is answered, the write kept
            if not isinstance(exc, StoreBusy):
                log_refusal(logger, exc, "ivr: the store refused %s; spooled", what)
            await self.keep(kind, what, *args)
            return False, None

    async def resume(self) -> None:
        """At start: write what stopped processes of this host left in the spool."""
        loop = asyncio.get_running_loop()
        for entry, kind, args in await loop.run_in_executor(self.spool_pool, self.spool.orphans):
            if kind not in self.kept:
                logger.error("ivr: spool entry %s of unknown kind %r left in %s", entry, kind, self.spool.path)
                continue
            logger.warning("ivr: a %s left in the spool by a stopped process will be written", kind)
            _keep(loop.create_task(self._retry(f"{kind} (spool entry {entry})", self.kept[kind], tuple(args), entry)))

    async def _retry(self, what: str, fn, args: tuple, entry: int | None, kept: bool = False) -> None:
        """Write until the store takes it: busy, or answering with an error (a constraint, a trigger, a
        schema being migrated, the disk full), both are tried again, every 5 s at most; a write the
        caller was told is kept (`kept`: spooled, `entry`, or in memory only when the spool could not
        take it, on a full disk beside the store) is never given up, the others after `store_retry_s`.
        An error is logged when it first appears."""
        deadline, delay, seen = time.monotonic() + self.retry_for, 0.25, ""
        while True:
            try:
                await self.stores.run(30, lambda store, *a: fn(self.calls(store), *a), *args, write=True)
                break
            except Exception as exc:  # noqa: BLE001 - kept for the caller: tried again, never dropped at once
                if not isinstance(exc, StoreBusy) and str(exc) != seen:
                    logger.error("ivr: the store refused %s (%s: %s); tried again", what, type(exc).__name__, exc)
                seen = str(exc)
                if not (kept or entry is not None) and time.monotonic() > deadline:
                    logger.error("ivr: %s NOT written after %s s: %s", what, self.retry_for, exc)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)
        logger.info("ivr: %s written after a retry", what)
        if entry is not None:
            await asyncio.get_running_loop().run_in_executor(self.spool_pool, self.spool.remove, entry)

    async def send_sms(self, st: CallState, target: str, caller: str) -> str:
        """Send the SMS of `target` (a leaf id, or BOOKING) to the caller's number; its outcome
        (bot.services.sms.OUTCOMES, or "pending" when Twilio has not answered within `sms_wait_ms`)."""
        if self.sms is None:
            return "failed"
        busy = (st.call_sid, st.step)
        if busy in self.sms_busy:  # Twilio replayed the webhook while the first one is sending
            return "pending"
        if target == BOOKING:
            from bot.services import pan

            reference = (st.pan_target or {}).get("reference") if st.state == "pan_booked" else None
            try:
                booking = await self.db(lambda calls: pan.get_booking(calls.store, reference)) if reference else None
            except StoreBusy:
                booking = None
            if not booking:
                return "failed"
            body = self.speaker.booking_sms_body(booking)
        else:
            body = self.speaker.sms_body(self.tree.node(target))
        self.sms_busy.add(busy)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.sms_pool, self.sms.send, caller, body)

        def done(f) -> None:
            self.sms_busy.discard(busy)
            if not f.cancelled() and f.exception() is None:
                result = f.result()
                logger.info("ivr: SMS of call %s (%s): %s, %s", st.call_sid, target, result.outcome, result.detail)

        future.add_done_callback(done)
        try:
            result = await asyncio.wait_for(asyncio.shield(future), self.sms_wait)
        except TimeoutError:
            logger.warning("ivr: SMS of call %s: no answer from Twilio within %s s; it goes on", st.call_sid, self.sms_wait)
            return "pending"
        return result.outcome

    def open_now(self, request: Request) -> hours.OpenAt:
        """Truthy when the standard is open now; also answers for lines with their own hours (the CCC)."""
        when = hours.now(request.headers.get(hours.CLOCK_HEADER))
        return hours.OpenAt(when, self.days, self.closures)

    async def decide(self, request: Request, raw: str):
        if settings.phone_nlu_fault():
            raise RuntimeError("IVR_TEST_FAULT=nlu: the NLU fails (test servers only)")
        text, _ = prepare(raw, self.router.max_chars)
        text = text.lstrip("/")  # a leading '/' would make Rasa read an intent payload
        parse: dict = {"text": text, "intent": {"name": None, "confidence": 0.0}, "intent_ranking": [], "entities": []}
        agent = getattr(request.app.ctx, "agent", None)
        if text and agent is not None and agent.is_ready():
            parse = await agent.parse_message(text)
        # The phone runs its own ladder (rephrase, likely topics, then a person): each utterance
        # is judged on its own by the router, which then always offers its likely topics.
        return text, self.router.decide(text, parse, 0)
