"""The phone front door: a Rasa input channel serving Twilio's voice webhooks under /webhooks/ivr/.

  POST voice       incoming call (the URL a Twilio number points at): welcome + main menu
  POST menu        answer to a menu's Gather          POST leaf     answer to a leaf's Gather
  POST choices     answer to the likely-topics menu   POST offer    answer to the person/voicemail offer
  POST dialed      end of a transfer (Dial action)    POST voicemail end of a Record (Record action)
  POST recording   the Record's transcription and recording-status callbacks
  POST status      call status callback

Every request must carry a valid X-Twilio-Signature computed on PUBLIC_BASE_URL + path + query
and every POST parameter as sent, blank ones included (403 otherwise). Without TWILIO_AUTH_TOKEN
the routes answer 503 unless IVR_LOCAL_DEV=1. Keys never reach the NLU; speech is cleaned, cut
and masked (bot.core.masking.prepare) then parsed by the server's own agent (NLU only, no tracker) and
routed by bot.core.router, as the chat does.

Fail soft, never freeze: store work runs off the event loop on the phone's own connections
(PhoneStore: short busy timeout) and every webhook answers within `answer_within_ms`; when the
store is locked the caller hears the same prompt again (nothing applied: they answer again), and a
voicemail, transcription or call record is written in the background as soon as the store accepts
it. The NLU failing gives the current prompt on the keypad only; any other error in mid-call says
one apology and the current prompt again (`/voice` replays a known call's last answer). A call the
store does not know gets the welcome with the automated-service notice; webhooks for a call that is
over (status callback received, or CallStatus=completed in the request) change nothing (a
recorded message is still kept).

The link by SMS (TWILIO_ACCOUNT_SID + TWILIO_MESSAGING_SERVICE_SID set, bot.settings.sms): when an
input picks the SMS option, the message goes to the request's own `From` (used for this request only,
never stored: the call keeps its masked form) through bot.services.sms on a thread of its own; the
webhook waits at most `sms_wait_ms` for Twilio's answer, then says "en cours d'envoi" and lets the
request finish in the background.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import wraps
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core.masking import prepare
from bot.store.database import Store
from ivr import hours, signature
from ivr.calls import FINAL_STATUSES, Calls, is_over, state_from_row
from ivr.flow import RAW_SPEECH_STATES, CallState, Flow, Input
from ivr.twiml import BOOKING, Speaker

logger = logging.getLogger(__name__)

XML = "text/xml; charset=utf-8"


def _xml(resp) -> HTTPResponse:
    return response.text(resp.to_xml(), content_type=XML)


def _raw_xml(text: str) -> HTTPResponse:
    return response.text(text, content_type=XML)


def _params(request: Request) -> dict[str, list[str]]:
    """The POST parameters exactly as Twilio sent and signed them, blank values kept.

    Twilio signs every parameter, empty ones included (a French caller's `FromZip=`, a Gather's
    `FinishedOnKey=`); Sanic's `request.form` drops blank values, so the signature recomputed from
    it would never match a real call.
    """
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded" or not request.body:
        return {}
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return urllib.parse.parse_qs(body, keep_blank_values=True)


def _first(params: dict[str, list[str]], name: str, default: str = "") -> str:
    values = params.get(name) or []
    return values[0] if values else default


def _int(value: Any, default: int | None = None) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class PanDesk:
    """PAN slots, bookings and cancellations for one phone request (bot/services/pan.py), at the
    call's clock. `caller` is Twilio's `From` of this request: never stored as such, only its keyed
    hash on a booking (bot.services.identity), to find the caller's own bookings again."""

    def __init__(self, phone: "Phone", store, call_sid: str, now, caller: str = ""):
        self.phone, self.store, self.call_sid, self.now, self.caller = phone, store, call_sid, now, caller

    def slots(self) -> list[dict]:
        from bot.services import pan

        found = pan.next_slots_any_site(self.store, self.phone.pref, pan.naive(self.now))
        return [{"site": s.site, "start": s.key} for s in found]

    def book(self, choice: dict) -> tuple[bool, object]:
        """(True, the booking), (False, the next free slots) when the slot was taken meanwhile, or
        (False, "too_many_bookings") when the caller's number already holds pan.max_future_bookings
        appointments to come."""
        from datetime import datetime, timedelta

        from bot.services import pan

        store, pref = self.store, self.phone.pref
        start = datetime.strptime(choice["start"], pan.STAMP)
        slot = pan.Slot(choice["site"], start, start + timedelta(minutes=int(pref.get("pan.slot_minutes"))))
        try:
            booking = pan.book_by_phone(store, pref, slot, self.caller, self.call_sid, now=pan.naive(self.now))
        except pan.BookingError as exc:
            return False, exc.code if exc.code == "too_many_bookings" else self.slots()
        return True, booking

    def identified(self) -> bool:
        """Whether the caller's number is known (not hidden): their bookings can be found."""
        from bot.services import identity

        return identity.phone_number(self.caller) is not None

    def find(self, reference: str) -> dict | None:
        """The booking with this reference made from the caller's number, with `past` (its time has
        come); None when there is none (another number's booking is never found)."""
        from datetime import datetime

        from bot.services import pan

        booking = pan.find_own(self.store, self.phone.pref, reference, self.caller)
        if booking is None:
            return None
        return booking | {"past": datetime.strptime(booking["slot_start"], pan.STAMP) < pan.naive(self.now)}

    def cancel(self, reference: str) -> str | None:
        """Cancel the caller's booking: None when done, else the refusal's code (not_found, already_cancelled, past_slot)."""
        from bot.services import pan

        try:
            pan.cancel(self.store, self.phone.pref, reference, self.caller, now=pan.naive(self.now))
        except pan.BookingError as exc:
            return exc.code
        return None


class FeedbackDesk:
    """The caller's "cette réponse m'a aidé" or not (bot/feedback.py): one rating per call, a replay rewrites the same row."""

    def __init__(self, phone: "Phone", store, call_sid: str):
        self.phone, self.store, self.call_sid = phone, store, call_sid

    def record(self, node_id: str, useful: bool = True) -> None:
        from bot.services import feedback

        node = self.phone.tree.node(node_id)
        feedback.record(
            self.store, "phone", self.call_sid, self.phone.pref.id, useful, topic=node.topic, destination=node.destination
        )


_BACKGROUND: set = set()


def _keep(task) -> None:
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def _deliver_soon(phone: "Phone") -> None:
    """Send the voicemail's ticket to the service mailbox in the background (the caller does not wait)."""
    from bot.services.mailer import deliver

    try:
        _keep(asyncio.get_running_loop().create_task(deliver(phone.runtime.store())))
    except RuntimeError:  # pragma: no cover - no loop (called outside the server)
        pass


class StoreBusy(Exception):
    """The store did not answer in time (locked by another writer, or slow): answer without it."""


class PhoneStore:
    """The phone's own SQLite connections, off the event loop.

    Store work runs in a small pool of threads, each with its own connection to the same file and a
    short busy timeout (`phone.settings.store_busy_ms`), so a writer holding the file (a console
    export, a migration, another process) never freezes the server: reads go on (WAL), a write that
    cannot get the lock fails fast, and the webhook answers within `answer_within_ms` anyway."""

    def __init__(self, busy_ms: int, workers: int = 4):
        self.busy_ms = busy_ms
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ivr-store")
        self._path: Path | str | None = None

    def path(self) -> Path | str:
        if self._path is None:
            from bot.services import runtime

            self._path = runtime.store().path  # created (and migrated) once, by the shared store
        return self._path

    def store(self) -> Store:
        store = getattr(self.local, "store", None)
        if store is None:  # the same Store API on this thread's connection, short lock wait (SQLite or PostgreSQL)
            store = self.local.store = Store.on_connection(self.path(), self.busy_ms)
        return store

    async def run(self, timeout_s: float, fn, *args):
        """fn(store, *args) on a pool thread; StoreBusy when locked or not done within timeout_s."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, lambda: fn(self.store(), *args))
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # late failures are logged below
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError:
            raise StoreBusy(f"{getattr(fn, '__name__', fn)} took more than {timeout_s} s") from None
        except sqlite3.OperationalError as exc:  # "database is locked" after the short busy timeout
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
        s = self.speaker.settings
        self.answer_within = int(s["answer_within_ms"]) / 1000
        self.retry_for = int(s["store_retry_s"])
        self.sms_wait = int(s.get("sms_wait_ms", 1000)) / 1000
        self.stores = PhoneStore(int(s["store_busy_ms"]))

    def calls(self, store: Store) -> Calls:
        return Calls(store, self.pref, self.tree)

    async def db(self, fn, *args):
        """fn(calls, *args) off the event loop, answered within `answer_within_ms` (else StoreBusy)."""
        return await self.stores.run(self.answer_within, lambda store, *a: fn(self.calls(store), *a), *args)

    def later(self, what: str, fn, *args) -> None:
        """Write in the background until the store accepts it (a voicemail is never lost to a lock)."""

        async def retry() -> None:
            deadline, delay = time.monotonic() + self.retry_for, 0.25
            while True:
                try:
                    await self.stores.run(30, lambda store, *a: fn(self.calls(store), *a), *args)
                    logger.info("ivr: %s written after a retry", what)
                    return
                except StoreBusy as exc:
                    if time.monotonic() > deadline:
                        logger.error("ivr: %s NOT written after %s s: %s", what, self.retry_for, exc)
                        return
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5)

        logger.warning("ivr: the store is busy; %s will be written in the background", what)
        _keep(asyncio.get_running_loop().create_task(retry()))

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
        return hours.OpenAt(when, self.pref.get("prefecture.phone_hours.days"), self.closures)

    @property
    def closures(self) -> tuple:
        try:
            return tuple(str(day) for day in self.pref.get("prefecture.phone_hours.closures") or ())
        except KeyError:
            return ()

    async def decide(self, request: Request, raw: str):
        if os.environ.get("IVR_TEST_FAULT") == "nlu" and hours.clock_override_allowed():
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


# ---- store work of each webhook (run on the pool, with the thread's own connection) ------------


def _load(calls: Calls, call_sid: str) -> dict | None:
    return calls.row(call_sid)


def _create(calls: Calls, st: CallState, prefecture: str, caller: str, twiml: str) -> str | None:
    """Insert a new call; None when created, else the answer already given (a replayed webhook)."""
    if calls.create(st, prefecture, caller, twiml):
        return None
    return (calls.row(st.call_sid) or {}).get("last_twiml") or twiml


def _save(calls: Calls, st: CallState, step: int, twiml: str) -> str:
    """Save the new state (compare-and-set on the step); a duplicate gets the answer already given."""
    if calls.save(st, step, twiml):
        return twiml
    return (calls.row(st.call_sid) or {}).get("last_twiml") or twiml


class IvrInput(InputChannel):
    """Twilio voice webhooks: the préfecture's phone menu on the routing tree."""

    @classmethod
    def name(cls) -> str:
        return "ivr"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        settings = signature.settings_from_env()
        bp = Blueprint("aiguillage_ivr", __name__)
        phone: Phone | None = None
        if not settings.serving:
            logger.warning("Phone channel (ivr) NOT serving calls: %s. Every /webhooks/ivr/ route answers 503.", settings.problem)
        else:
            if settings.local_dev:
                logger.warning(
                    "!!! IVR_LOCAL_DEV=1: the phone channel accepts requests signed with %s, base URL %s. "
                    "NEVER use this switch on a server reachable from the internet. !!!",
                    "the local development token" if settings.token == signature.LOCAL_DEV_TOKEN else "TWILIO_AUTH_TOKEN",
                    settings.base_url,
                )
            phone = Phone(settings)

        def webhook(route: str, kind: str = "twiml"):
            """Register POST /<route>: 503 when not serving, 403 on a bad signature, never a 500."""

            def decorate(handler):
                @wraps(handler)
                async def endpoint(request: Request) -> HTTPResponse:
                    if phone is None:
                        return response.text(f"Phone channel not configured: {settings.problem}", status=503)
                    params = _params(request)
                    url = signature.public_url(settings.base_url, request.path, request.query_string)
                    if not signature.is_valid(settings.token, url, params, request.headers.get(signature.HEADER)):
                        logger.warning(
                            "ivr: rejected %s with a %s Twilio signature (from %s)",
                            request.path,
                            "bad" if request.headers.get(signature.HEADER) else "missing",
                            request.ip,
                        )
                        return response.text("Invalid Twilio signature.", status=403)
                    try:
                        return await handler(request, params)
                    except Exception:  # noqa: BLE001 - Twilio must always get TwiML, never a 500
                        logger.exception("ivr: %s failed for call %s", route, _first(params, "CallSid", "?"))
                        if kind == "callback":
                            return _xml(phone.speaker.empty())
                        if route == "voice":  # no call to go back to: the hours, then goodbye
                            return _xml(phone.speaker.apology())
                        return _xml(phone.speaker.hold())  # one apology, then the current prompt again

                bp.add_route(endpoint, f"/{route}", methods=["POST"], name=f"ivr_{route}")
                return handler

            return decorate

        def over(row: dict | None, params: dict) -> bool:
            return is_over(row) or _first(params, "CallStatus") in FINAL_STATUSES

        @webhook("voice")
        async def voice(request: Request, params: dict) -> HTTPResponse:
            call_sid = _first(params, "CallSid")
            if not call_sid:
                return _xml(phone.speaker.apology())
            try:
                row = await phone.db(_load, call_sid)
            except StoreBusy:
                row = None
            if row is not None and row.get("last_twiml"):
                return _raw_xml(row["last_twiml"])  # Twilio retried the first webhook (or a hold came back)
            return await welcome(call_sid, params)

        async def welcome(call_sid: str, params: dict) -> HTTPResponse:
            """The automated-service notice and the main menu; the call is recorded (later if the store is busy)."""
            st = CallState(call_sid, called=_first(params, "To") or _first(params, "Called") or None)
            twiml = phone.flow.welcome(st).to_xml()
            caller = _first(params, "From") or _first(params, "Caller")
            try:
                earlier = await phone.db(_create, st, phone.pref.id, caller, twiml)
            except StoreBusy:
                phone.later(f"call {call_sid}", _create, st, phone.pref.id, caller, twiml)
                return _raw_xml(twiml)
            return _raw_xml(earlier or twiml)

        async def gathered(request: Request, params: dict) -> HTTPResponse:
            call_sid = _first(params, "CallSid")
            try:
                row = await phone.db(_load, call_sid)
            except StoreBusy:
                return _xml(phone.speaker.hold())
            if row is None:
                # A call the store does not know (lost, or never recorded): start it over, notice first.
                return await welcome(call_sid, params)
            st, last = state_from_row(row), row.get("last_twiml")
            if over(row, params):  # the caller is gone: nothing is booked, rated or changed
                return _xml(phone.speaker.hangup())
            step = _int(request.args.get("step"))
            open_now = phone.open_now(request)
            if step != st.step:  # a duplicated or late webhook: answer as before, change nothing
                return _raw_xml(last) if last else _xml(phone.flow.render(st, open_now))
            before = copy.deepcopy(st)
            inp = Input(digits=_first(params, "Digits"), asr_confidence=_float(_first(params, "Confidence")))
            speech = _first(params, "SpeechResult")
            topic_speech = st.state not in RAW_SPEECH_STATES  # a reference said, or words after a booking: no NLU
            if topic_speech and speech.strip() and not phone.speaker.spoken_input(speech) and not inp.digits.strip():
                try:
                    inp.speech, inp.decision = await phone.decide(request, speech)
                except Exception:  # noqa: BLE001 - the keypad still works: offer it, never hang up
                    logger.exception("ivr: the NLU failed for call %s; keypad menu offered", call_sid)
                    return _xml(
                        phone.speaker.keypad_only(phone.flow.render(before, open_now, [phone.speaker.text("speech_unavailable")]))
                    )
            elif speech.strip():
                inp.speech = speech.strip()
            when = hours.now(request.headers.get(hours.CLOCK_HEADER))
            caller = _first(params, "From") or _first(params, "Caller")
            option = phone.flow.chosen(st, inp, open_now)
            if option is not None and option.kind == "sms":  # sent before the flow runs; the flow says the outcome
                inp.sms = await phone.send_sms(st, option.target, caller)

            def apply(calls: Calls) -> str:
                inp.pan = PanDesk(phone, calls.store, call_sid, when, caller)
                inp.feedback = FeedbackDesk(phone, calls.store, call_sid)
                twiml = phone.flow.handle(st, inp, open_now).to_xml()
                return _save(calls, st, step, twiml)

            try:
                return _raw_xml(await phone.db(apply))
            except StoreBusy as exc:
                if inp.sms is not None:  # the SMS went out: say so, and write the step when the store accepts it
                    st = copy.deepcopy(before)
                    twiml = phone.flow.handle(st, inp, open_now).to_xml()
                    phone.later(f"call {call_sid} after its SMS", _save, st, step, twiml)
                    return _raw_xml(twiml)
                # Nothing was applied: the caller hears the same prompt again and answers again.
                logger.warning("ivr: call %s step %s not applied (%s); prompt repeated", call_sid, step, exc)
                return _xml(phone.flow.render(before, open_now, [phone.speaker.text("store_busy")]))

        for route in ("menu", "leaf", "choices", "offer"):
            webhook(route)(gathered)

        @webhook("dialed")
        async def dialed(request: Request, params: dict) -> HTTPResponse:
            call_sid = _first(params, "CallSid")
            try:
                row = await phone.db(_load, call_sid)
            except StoreBusy:
                return _xml(phone.speaker.hold())
            if over(row, params):
                return _xml(phone.speaker.hangup())
            st, last = (state_from_row(row), row.get("last_twiml")) if row else (None, None)
            step = _int(request.args.get("step"))
            if st is None or step != st.step:
                return _raw_xml(last) if last else _xml(phone.speaker.goodbye())
            open_now = phone.open_now(request)
            twiml = phone.flow.dialed(st, _first(params, "DialCallStatus"), open_now).to_xml()
            try:
                return _raw_xml(await phone.db(_save, st, step, twiml))
            except StoreBusy:
                phone.later(f"call {call_sid} after its transfer", _save, st, step, twiml)
                return _raw_xml(twiml)

        def keep_voicemail(
            calls: Calls, call_sid: str, recording_sid: str, mailbox: str, url: str, duration: int | None, when, caller: str
        ) -> str | None:
            """Keep the message (and its ticket, with the call-back number); the ticket's reference."""
            service = phone.speaker.service(mailbox)
            calls.add_voicemail(call_sid, recording_sid, mailbox, service, url, duration, when=when, callback=caller)
            calls.mark_voicemail(call_sid)
            return calls.voicemail_reference(recording_sid)

        @webhook("voicemail")
        async def voicemail(request: Request, params: dict) -> HTTPResponse:
            call_sid = _first(params, "CallSid")
            try:
                row = await phone.db(_load, call_sid)
            except StoreBusy:
                row = None
            st, last = (state_from_row(row), row.get("last_twiml")) if row else (None, None)
            mailbox = (st.mailbox if st is not None else None) or request.args.get("mailbox")
            if mailbox not in (phone.pref.get("mailboxes") or {}):
                mailbox = phone.speaker.default_mailbox
            recording_sid = _first(params, "RecordingSid")
            recorded = bool(recording_sid) and (_int(_first(params, "RecordingDuration"), 1) or 0) > 0
            reference = None  # the ticket's, said to the caller (unless the store is busy: written later)
            if recorded:  # keep the message whatever the step, even after hang-up: one row per RecordingSid
                args = (
                    call_sid,
                    recording_sid,
                    mailbox,
                    _first(params, "RecordingUrl"),
                    _int(_first(params, "RecordingDuration")),
                    hours.now(request.headers.get(hours.CLOCK_HEADER)),
                    _first(params, "From") or _first(params, "Caller"),
                )
                try:
                    reference = await phone.db(keep_voicemail, *args)
                    _deliver_soon(phone)
                except StoreBusy:
                    phone.later(f"voicemail {recording_sid}", keep_voicemail, *args)
            if over(row, params):  # Digits=hangup: the caller is gone, nothing to say
                return _xml(phone.speaker.hangup())
            step = _int(request.args.get("step"))
            if st is None or step != st.step:
                return _raw_xml(last) if last else _xml(phone.speaker.voicemail_done(mailbox, reference))
            twiml = phone.flow.recorded(st, mailbox, recorded, reference).to_xml()
            try:
                return _raw_xml(await phone.db(_save, st, step, twiml))
            except StoreBusy:
                phone.later(f"call {call_sid} after its voicemail", _save, st, step, twiml)
                return _raw_xml(twiml)

        def keep_recording(calls: Calls, params: dict, mailbox: str) -> None:
            call_sid, recording_sid = _first(params, "CallSid"), _first(params, "RecordingSid")
            service, url = phone.speaker.service(mailbox), _first(params, "RecordingUrl")
            if _first(params, "TranscriptionStatus"):  # transcribeCallback
                calls.set_transcription(
                    call_sid,
                    recording_sid,
                    mailbox,
                    service,
                    url,
                    prepare(_first(params, "TranscriptionText"), 10_000)[0],
                    _first(params, "TranscriptionStatus"),
                    callback=_first(params, "From"),
                )
            elif _first(params, "RecordingStatus") == "completed" and (_int(_first(params, "RecordingDuration"), 1) or 0) > 0:
                # Twilio's recording-status callback carries no From: the Record action brings the number.
                calls.add_voicemail(call_sid, recording_sid, mailbox, service, url, _int(_first(params, "RecordingDuration")))
                calls.mark_voicemail(call_sid)

        @webhook("recording", kind="callback")
        async def recording(request: Request, params: dict) -> HTTPResponse:
            """The Record verb's callbacks: the transcription, and the recording's status."""
            if _first(params, "RecordingSid"):
                mailbox = request.args.get("mailbox")
                if mailbox not in (phone.pref.get("mailboxes") or {}):
                    mailbox = phone.speaker.default_mailbox
                try:
                    await phone.db(keep_recording, params, mailbox)
                except StoreBusy:
                    phone.later(f"recording {_first(params, 'RecordingSid')}", keep_recording, params, mailbox)
            return _xml(phone.speaker.empty())

        def end_call(calls: Calls, call_sid: str, status: str, duration: int | None, caller: str) -> None:
            calls.end(call_sid, status, duration, phone.pref.id, caller)

        @webhook("status", kind="callback")
        async def status(request: Request, params: dict) -> HTTPResponse:
            call_sid = _first(params, "CallSid")
            if call_sid:
                args = (call_sid, _first(params, "CallStatus"), _int(_first(params, "CallDuration")), _first(params, "From"))
                try:
                    await phone.db(end_call, *args)
                except StoreBusy:
                    phone.later(f"status of call {call_sid}", end_call, *args)
            return _xml(phone.speaker.empty())

        return bp
