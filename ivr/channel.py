"""The phone front door: a Rasa input channel serving Twilio's voice webhooks under /webhooks/ivr/.

  POST voice       incoming call (the URL a Twilio number points at): welcome + main menu
  POST menu        answer to a menu's Gather          POST leaf     answer to a leaf's Gather
  POST choices     answer to the likely-topics menu   POST offer    answer to the person/voicemail offer
  POST dialed      end of a transfer (Dial action)    POST voicemail end of a Record (Record action)
  POST recording   transcription callback             POST status   call status callback

Every request must carry a valid X-Twilio-Signature computed on PUBLIC_BASE_URL + path + query
(403 otherwise). Without TWILIO_AUTH_TOKEN the routes answer 503 unless IVR_LOCAL_DEV=1. Keys
never reach the NLU; speech is cleaned, cut and masked (bot.masking.prepare) then parsed by the
server's own agent (NLU only, no tracker) and routed by bot.router, as the chat does. Any
internal error still answers valid TwiML: an apology with the préfecture's hours.
"""
from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core.masking import prepare
from ivr import hours, signature
from ivr.calls import Calls
from ivr.flow import CallState, Flow, Input, key_of
from ivr.twiml import ROOT, Speaker

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
    """PAN slots and bookings for one phone request (bot/pan.py), at the call's clock."""

    def __init__(self, phone: "Phone", call_sid: str, now):
        self.phone, self.call_sid, self.now = phone, call_sid, now

    def slots(self) -> list[dict]:
        from bot.services import pan

        found = pan.next_slots_any_site(self.phone.runtime.store(), self.phone.pref, pan.naive(self.now))
        return [{"site": s.site, "start": s.key} for s in found]

    def book(self, choice: dict) -> tuple[bool, object]:
        """(True, the booking) or (False, the next free slots) when the slot was taken meanwhile."""
        from datetime import datetime, timedelta

        from bot.services import pan

        store, pref = self.phone.runtime.store(), self.phone.pref
        start = datetime.strptime(choice["start"], pan.STAMP)
        slot = pan.Slot(choice["site"], start, start + timedelta(minutes=int(pref.get("pan.slot_minutes"))))
        caller = (self.phone.calls.row(self.call_sid) or {}).get("caller") or ""
        try:
            booking = pan.book_by_phone(store, pref, slot, caller, self.call_sid, now=pan.naive(self.now))
        except pan.BookingError:
            return False, self.slots()
        return True, booking


class FeedbackDesk:
    """The caller's "cette réponse m'a aidé" or not (bot/feedback.py): one rating per call, a replay rewrites the same row."""

    def __init__(self, phone: "Phone", call_sid: str):
        self.phone, self.call_sid = phone, call_sid

    def record(self, node_id: str, useful: bool = True) -> None:
        from bot.services import feedback

        node = self.phone.tree.node(node_id)
        feedback.record(self.phone.runtime.store(), "phone", self.call_sid, self.phone.pref.id, useful,
                        topic=node.topic, destination=node.destination)


_BACKGROUND: set = set()


def _deliver_soon(phone: "Phone") -> None:
    """Send the voicemail's ticket to the service mailbox in the background (the caller does not wait)."""
    import asyncio

    from bot.web.rdv import deliver

    try:
        task = asyncio.get_running_loop().create_task(deliver(phone.runtime.store()))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)
    except RuntimeError:  # pragma: no cover - no loop (called outside the server)
        pass


class Phone:
    """What the handlers share: settings, texts, flow, store (built once, at start)."""

    def __init__(self, settings: signature.Settings):
        from bot.services import runtime

        self.settings = settings
        self.runtime = runtime
        self.pref = runtime.prefecture()
        self.tree = runtime.tree()
        self.router = runtime.router()
        self.speaker = Speaker(self.tree, self.pref, settings.base_url or "")
        self.flow = Flow(self.speaker)
        self._calls: Calls | None = None

    @property
    def calls(self) -> Calls:
        if self._calls is None:
            self._calls = Calls(self.runtime.store(), self.pref, self.tree)
        return self._calls

    def open_now(self, request: Request) -> bool:
        when = hours.now(request.headers.get(hours.CLOCK_HEADER))
        return hours.is_open(self.pref.get("prefecture.phone_hours.days"), when)

    async def decide(self, request: Request, raw: str):
        text, _ = prepare(raw, self.router.max_chars)
        text = text.lstrip("/")  # a leading '/' would make Rasa read an intent payload
        parse: dict = {"text": text, "intent": {"name": None, "confidence": 0.0}, "intent_ranking": [], "entities": []}
        agent = getattr(request.app.ctx, "agent", None)
        if text and agent is not None and agent.is_ready():
            parse = await agent.parse_message(text)
        # The phone runs its own ladder (rephrase, likely topics, then a person): each utterance
        # is judged on its own by the router, which then always offers its likely topics.
        return text, self.router.decide(text, parse, 0)


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
            logger.warning("Phone channel (ivr) NOT serving calls: %s. Every /webhooks/ivr/ route answers 503.",
                           settings.problem)
        else:
            if settings.local_dev:
                logger.warning(
                    "!!! IVR_LOCAL_DEV=1: the phone channel accepts requests signed with %s, base URL %s. "
                    "NEVER use this switch on a server reachable from the internet. !!!",
                    "the local development token" if settings.token == signature.LOCAL_DEV_TOKEN else "TWILIO_AUTH_TOKEN",
                    settings.base_url)
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
                        logger.warning("ivr: rejected %s with a %s Twilio signature (from %s)", request.path,
                                       "bad" if request.headers.get(signature.HEADER) else "missing", request.ip)
                        return response.text("Invalid Twilio signature.", status=403)
                    try:
                        return await handler(request, params)
                    except Exception:  # noqa: BLE001 - Twilio must always get TwiML, never a 500
                        logger.exception("ivr: %s failed for call %s", route, _first(params, "CallSid", "?"))
                        if kind == "callback":
                            return _xml(phone.speaker.empty())
                        return _xml(phone.speaker.apology())

                bp.add_route(endpoint, f"/{route}", methods=["POST"], name=f"ivr_{route}")
                return handler

            return decorate

        @webhook("voice")
        async def voice(request: Request, params: dict) -> HTTPResponse:
            call_sid = _first(params, "CallSid")
            if not call_sid:
                return _xml(phone.speaker.apology())
            calls = phone.calls
            st, last = calls.load(call_sid)
            if st is not None and last:
                return _raw_xml(last)  # Twilio retried the first webhook
            st = CallState(call_sid)
            twiml = phone.flow.welcome(st).to_xml()
            if not calls.create(st, phone.pref.id, _first(params, "From") or _first(params, "Caller"), twiml):
                _, last = calls.load(call_sid)
                return _raw_xml(last or twiml)
            return _raw_xml(twiml)

        async def gathered(request: Request, params: dict) -> HTTPResponse:
            call_sid = _first(params, "CallSid")
            calls = phone.calls
            st, last = calls.load(call_sid)
            if st is None:  # unknown call (store lost): start over at the main menu
                st = CallState(call_sid, path=[ROOT])
                twiml = phone.speaker.menu(ROOT, st.step).to_xml()
                calls.create(st, phone.pref.id, _first(params, "From"), twiml)
                return _raw_xml(twiml)
            step = _int(request.args.get("step"))
            if step != st.step:  # a duplicated or late webhook: answer as before, change nothing
                return _raw_xml(last) if last else _xml(phone.flow.render(st, phone.open_now(request)))
            inp = Input(digits=_first(params, "Digits"), asr_confidence=_float(_first(params, "Confidence")))
            speech = _first(params, "SpeechResult")
            if speech.strip() and not key_of(Input(speech=speech)) and not inp.digits.strip():
                inp.speech, inp.decision = await phone.decide(request, speech)
            elif speech.strip():
                inp.speech = speech.strip()
            open_now = phone.open_now(request)
            inp.pan = PanDesk(phone, call_sid, hours.now(request.headers.get(hours.CLOCK_HEADER)))
            inp.feedback = FeedbackDesk(phone, call_sid)
            twiml = phone.flow.handle(st, inp, open_now).to_xml()
            if not calls.save(st, step, twiml):
                _, last = calls.load(call_sid)
                return _raw_xml(last or twiml)
            return _raw_xml(twiml)

        for route in ("menu", "leaf", "choices", "offer"):
            webhook(route)(gathered)

        @webhook("dialed")
        async def dialed(request: Request, params: dict) -> HTTPResponse:
            call_sid = _first(params, "CallSid")
            calls = phone.calls
            st, last = calls.load(call_sid)
            step = _int(request.args.get("step"))
            if st is None or step != st.step:
                return _raw_xml(last) if last else _xml(phone.speaker.goodbye())
            twiml = phone.flow.dialed(st, _first(params, "DialCallStatus"), phone.open_now(request)).to_xml()
            if not calls.save(st, step, twiml):
                _, last = calls.load(call_sid)
                return _raw_xml(last or twiml)
            return _raw_xml(twiml)

        @webhook("voicemail")
        async def voicemail(request: Request, params: dict) -> HTTPResponse:
            call_sid = _first(params, "CallSid")
            calls = phone.calls
            st, last = calls.load(call_sid)
            mailbox = (st.mailbox if st is not None else None) or request.args.get("mailbox")
            if mailbox not in (phone.pref.get("mailboxes") or {}):
                mailbox = phone.speaker.default_mailbox
            recording_sid = _first(params, "RecordingSid")
            recorded = bool(recording_sid) and (_int(_first(params, "RecordingDuration"), 1) or 0) > 0
            if recorded:  # keep the message whatever the step: one row per RecordingSid
                calls.add_voicemail(call_sid, recording_sid, mailbox, phone.speaker.service(mailbox),
                                    _first(params, "RecordingUrl"), _int(_first(params, "RecordingDuration")),
                                    when=hours.now(request.headers.get(hours.CLOCK_HEADER)))
                _deliver_soon(phone)
            step = _int(request.args.get("step"))
            if st is None or step != st.step:
                return _raw_xml(last) if last else _xml(phone.speaker.voicemail_done(mailbox))
            twiml = phone.flow.recorded(st, mailbox, recorded).to_xml()
            if not calls.save(st, step, twiml):
                _, last = calls.load(call_sid)
                return _raw_xml(last or twiml)
            return _raw_xml(twiml)

        @webhook("recording", kind="callback")
        async def recording(request: Request, params: dict) -> HTTPResponse:
            call_sid = _first(params, "CallSid")
            recording_sid = _first(params, "RecordingSid")
            if recording_sid:
                mailbox = request.args.get("mailbox")
                if mailbox not in (phone.pref.get("mailboxes") or {}):
                    mailbox = phone.speaker.default_mailbox
                phone.calls.set_transcription(
                    call_sid, recording_sid, mailbox, phone.speaker.service(mailbox), _first(params, "RecordingUrl"),
                    prepare(_first(params, "TranscriptionText"), 10_000)[0], _first(params, "TranscriptionStatus"))
            return _xml(phone.speaker.empty())

        @webhook("status", kind="callback")
        async def status(request: Request, params: dict) -> HTTPResponse:
            call_sid = _first(params, "CallSid")
            if call_sid:
                phone.calls.end(call_sid, _first(params, "CallStatus"), _int(_first(params, "CallDuration")),
                                phone.pref.id, _first(params, "From"))
            return _xml(phone.speaker.empty())

        return bp
