"""The phone front door: a Rasa input channel serving Twilio's voice webhooks under /webhooks/ivr/.

  POST voice       incoming call (the URL a Twilio number points at): welcome + main menu
  POST menu        answer to a menu's Gather          POST leaf     answer to a leaf's Gather
  POST choices     answer to the likely-topics menu   POST offer    answer to the person/voicemail offer
  POST pan         answer to a PAN booking or cancellation step (slots, confirmation, reference...)
  POST dialed      end of a transfer (Dial action)    POST voicemail end of a Record (Record action)
  POST recording   the Record's transcription and recording-status callbacks
  POST status      call status callback

The handlers live in ivr/call_hooks.py (voice, menu, leaf, choices, offer, pan, dialed) and
ivr/record_hooks.py (voicemail, recording, status), on what ivr/phone.py builds once at start.

Every request must carry a valid X-Twilio-Signature computed on PUBLIC_BASE_URL + path + query
and every POST parameter as sent, blank ones included (403 otherwise), and a CallSid (400 otherwise:
Twilio sends one with every voice webhook). Without TWILIO_AUTH_TOKEN
the routes answer 503 unless IVR_LOCAL_DEV=1. Keys never reach the NLU; speech is cleaned, cut
and masked (bot.core.masking.prepare) then parsed by the server's own agent (NLU only, no tracker) and
routed by bot.core.router, as the chat does.

Fail soft, never freeze: store work runs off the event loop on the phone's own connections
(PhoneStore: short busy timeout) and every webhook answers within `answer_within_ms`; when the
store is locked the caller hears the same prompt again (nothing applied: they answer again), and a
voicemail, transcription or call record is written in the background as soon as the store accepts
it; when the call's row cannot be read at all (PostgreSQL unreachable), the prompt the Gather's URL
names, or a hold (ivr/call_hooks.py). The NLU failing gives the current prompt on the keypad only;
any other error in mid-call says one apology and the current prompt again (`/voice?held=1` replays a
known call's last answer, never a Dial). An incoming call that fails gets the notice, one apology and
the main menu on the keypad (`Phone.keypad_welcome`, built at start), never a hang-up; its keys are
served from the Gather's URL while the call cannot be recorded. A call the
store does not know gets the welcome with the automated-service notice (a key at the welcome itself
is applied); webhooks for a call that is
over (status callback received, or CallStatus=completed in the request) change nothing (a
recorded message is still kept).

The link by SMS (TWILIO_ACCOUNT_SID + TWILIO_MESSAGING_SERVICE_SID set, bot.settings.sms): when an
input picks the SMS option, the message goes to the request's own `From` (used for this request only,
never stored: the call keeps its masked form) through bot.services.sms on a thread of its own; the
webhook waits at most `sms_wait_ms` for Twilio's answer, then says "en cours d'envoi" and lets the
request finish in the background.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_cors.core import SANIC_CORS_EVALUATED

from bot import settings as bot_settings
from bot.store.disk import log_refusal
from bot.store.spool import sweep_every
from ivr import signature
from ivr.call_hooks import CallHooks
from ivr.form import first, params_of, raw_xml, xml
from ivr.phone import Phone
from ivr.record_hooks import RecordHooks

logger = logging.getLogger(__name__)
ROUTES = ("voice", "menu", "leaf", "choices", "offer", "pan", "dialed", "voicemail", "recording", "status")


def routes(phone: Phone) -> list[tuple[str, Callable, str]]:
    """(route, handler, kind): "twiml" answers a caller, "callback" only informs (empty TwiML on error)."""
    calls, records = CallHooks(phone), RecordHooks(phone)
    return [
        ("voice", calls.voice, "twiml"),
        ("menu", calls.gathered, "twiml"),
        ("leaf", calls.gathered, "twiml"),
        ("choices", calls.gathered, "twiml"),
        ("offer", calls.gathered, "twiml"),
        ("pan", calls.gathered, "twiml"),
        ("dialed", calls.dialed, "twiml"),
        ("voicemail", records.voicemail, "twiml"),
        ("recording", records.recording, "callback"),
        ("status", records.status, "callback"),
    ]


def endpoint(settings: signature.Settings, phone: Phone | None, route: str, handler, kind: str):
    """POST /<route>: 503 when not serving, 403 on a bad signature, never a 500."""

    async def serve(request: Request) -> HTTPResponse:
        # Twilio calls from its servers, never from a page: no Origin, so Rasa's CORS (sanic-cors) has
        # nothing to add to the answer. Marked as done, as sanic-cors's own per-route decorator does,
        # its response middleware returns at once instead of matching the path against its resources.
        setattr(request.ctx, SANIC_CORS_EVALUATED, "1")
        if phone is None:
            return response.text(f"Phone channel not configured: {settings.problem}", status=503)
        params = params_of(request)
        url = signature.public_url(settings.base_url, request.path, request.query_string)
        if not signature.is_valid(settings.token, url, params, request.headers.get(signature.HEADER)):
            logger.warning(
                "ivr: rejected %s with a %s Twilio signature (from %s)",
                request.path,
                "bad" if request.headers.get(signature.HEADER) else "missing",
                request.ip,
            )
            return response.text("Invalid Twilio signature.", status=403)
        if not first(params, "CallSid").strip():  # Twilio sends it with every voice webhook: no call to serve
            logger.warning("ivr: refused %s: a signed request without CallSid (from %s)", request.path, request.ip)
            return response.text("Missing CallSid: every Twilio voice webhook carries one.", status=400)
        try:
            return await handler(request, params)
        except Exception as exc:  # noqa: BLE001 - Twilio must always get TwiML, never a 500
            log_refusal(logger, exc, "ivr: %s failed for call %s", route, first(params, "CallSid", "?"))
            if kind == "callback":
                return xml(phone.speaker.empty())
            if route == "voice":  # no call recorded to go back to: the main menu on the keypad, built at start
                return raw_xml(phone.keypad_welcome)
            return xml(phone.speaker.hold())  # one apology, then the current prompt again

    serve.__name__ = f"ivr_{route}"
    return serve


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
            resume = phone.resume

            @bp.listener("after_server_start")
            async def take_over_the_spool(app, loop) -> None:  # what a crashed process had promised callers
                await resume()  # at the start, then every AIGUILLAGE_SPOOL_SWEEP_S (a sibling killed meanwhile)
                app.ctx.phone_spool_sweep = loop.create_task(sweep_every(bot_settings.spool_sweep_s(), resume, "ivr"))

            @bp.listener("before_server_stop")
            async def stop_the_sweep(app, loop) -> None:
                task = getattr(app.ctx, "phone_spool_sweep", None)
                if task is not None:
                    task.cancel()

        table = routes(phone) if phone is not None else [(r, None, "twiml") for r in ROUTES]
        for route, handler, kind in table:
            bp.add_route(endpoint(settings, phone, route, handler, kind), f"/{route}", methods=["POST"], name=f"ivr_{route}")
        return bp
