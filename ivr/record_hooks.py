"""The webhooks that keep what Twilio reports: the end of a Record (`voicemail`: the message, its
ticket and the thanks), the Record's callbacks (`recording`: transcription and recording status) and
the call's status callback (`status`: outcome, duration, end).

A message is never lost to a busy store, nor to one answering with an error (a trigger, a constraint,
PostgreSQL refusing): what the store refuses now is kept on local disk and
written in the background (`Phone.keep`, ivr/spool.py), even by another process if this one dies;
one voicemail per RecordingSid whatever the order or the replays of the callbacks.
"""

from __future__ import annotations

import logging

from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core.masking import prepare
from bot.store.disk import log_refusal
from ivr import hours
from ivr.call_hooks import load, over, save
from ivr.calls import Calls, state_from_row
from ivr.form import first, raw_xml, to_int, to_seconds, xml
from ivr.phone import Phone, StoreBusy, deliver_soon

# What a spooled recording callback keeps of Twilio's parameters (keep_recording reads no others).
RECORDING_FIELDS = (
    "CallSid",
    "RecordingSid",
    "RecordingUrl",
    "RecordingStatus",
    "RecordingDuration",
    "TranscriptionStatus",
    "TranscriptionText",
    "From",
)

logger = logging.getLogger(__name__)


def spooled(params: dict) -> dict:
    """The recording callback's parameters as the spool keeps them: only those used, the
    transcription masked (as the store would keep it; masking again changes nothing)."""
    kept = {name: params[name] for name in RECORDING_FIELDS if name in params}
    if "TranscriptionText" in kept:
        kept["TranscriptionText"] = [prepare(first(params, "TranscriptionText"), 10_000)[0]]
    return kept


class RecordHooks:
    def __init__(self, phone: Phone):
        self.phone = phone
        phone.kept.update(voicemail=self.keep_voicemail, recording=self.keep_recording, status=self.end_call)

    def _mailbox(self, wanted: str | None) -> str:
        return wanted if wanted in (self.phone.pref.get("mailboxes") or {}) else self.phone.speaker.default_mailbox

    def keep_voicemail(
        self, calls: Calls, call_sid: str, recording_sid: str, mailbox: str, url: str, duration: int | None, when, caller: str
    ) -> str | None:
        """Keep the message (and its ticket, with the call-back number); the ticket's reference."""
        service = self.phone.speaker.service(mailbox)
        calls.add_voicemail(call_sid, recording_sid, mailbox, service, url, duration, when=when, callback=caller)
        calls.mark_voicemail(call_sid)
        return calls.voicemail_reference(recording_sid)

    async def _keep_message(self, request: Request, params: dict, mailbox: str) -> str | None:
        """The message kept whatever the step, even after hang-up; its ticket's reference, said to the
        caller (None when nothing was recorded, or the store is busy: written later)."""
        phone, recording_sid = self.phone, first(params, "RecordingSid")
        args = (
            first(params, "CallSid"),
            recording_sid,
            mailbox,
            first(params, "RecordingUrl"),
            to_seconds(first(params, "RecordingDuration")),
            hours.now(request.headers.get(hours.CLOCK_HEADER)),
            first(params, "From") or first(params, "Caller"),
        )
        written, reference = await phone.write_or_keep("voicemail", f"voicemail {recording_sid}", *args)
        if written:
            deliver_soon(phone)
        return reference

    async def voicemail(self, request: Request, params: dict) -> HTTPResponse:
        phone, call_sid = self.phone, first(params, "CallSid")
        try:
            row = await phone.db(load, call_sid)
        except Exception as exc:  # noqa: BLE001 - busy, or an error: the message is still kept, the thanks said
            if not isinstance(exc, StoreBusy):
                log_refusal(
                    logger, exc, "ivr: the row of call %s could not be read at its voicemail; served without it", call_sid
                )
            row = None
        st, last = (state_from_row(row), row.get("last_twiml")) if row else (None, None)
        mailbox = self._mailbox((st.mailbox if st is not None else None) or request.args.get("mailbox"))
        recorded = bool(first(params, "RecordingSid")) and (to_int(first(params, "RecordingDuration"), 1) or 0) > 0
        reference = await self._keep_message(request, params, mailbox) if recorded else None
        if over(row, params):  # Digits=hangup: the caller is gone, nothing to say
            return xml(phone.speaker.hangup())
        step = to_int(request.args.get("step"))
        if st is None or step != st.step:
            if last:
                return raw_xml(last)
            if not recorded:  # a call the store does not know (or cannot read now): nothing was kept
                return xml(phone.speaker.hold("voicemail_empty"))  # then /voice: the welcome, or the call's prompt
            return xml(phone.speaker.voicemail_done(mailbox, reference))
        twiml = phone.flow.recorded(st, mailbox, recorded, reference).to_xml()
        try:
            return raw_xml(await phone.db(save, st, step, twiml, write=True))
        except Exception as exc:  # noqa: BLE001 - busy, or an error: the message is kept, the thanks said
            if not isinstance(exc, StoreBusy):
                log_refusal(logger, exc, "ivr: the store refused the step of call %s after its voicemail", call_sid)
            phone.later(f"call {call_sid} after its voicemail", save, st, step, twiml)
            return raw_xml(twiml)

    def keep_recording(self, calls: Calls, params: dict, mailbox: str) -> None:
        call_sid, recording_sid = first(params, "CallSid"), first(params, "RecordingSid")
        service, url = self.phone.speaker.service(mailbox), first(params, "RecordingUrl")
        if first(params, "TranscriptionStatus"):  # transcribeCallback
            calls.set_transcription(
                call_sid,
                recording_sid,
                mailbox,
                service,
                url,
                prepare(first(params, "TranscriptionText"), 10_000)[0],
                first(params, "TranscriptionStatus"),
                callback=first(params, "From"),
            )
        elif first(params, "RecordingStatus") == "completed" and (to_int(first(params, "RecordingDuration"), 1) or 0) > 0:
            # Twilio's recording-status callback carries no From: the Record action brings the number.
            calls.add_voicemail(call_sid, recording_sid, mailbox, service, url, to_seconds(first(params, "RecordingDuration")))
            calls.mark_voicemail(call_sid)

    async def recording(self, request: Request, params: dict) -> HTTPResponse:
        """The Record verb's callbacks: the transcription, and the recording's status."""
        if first(params, "RecordingSid"):
            mailbox = self._mailbox(request.args.get("mailbox"))
            # Written (or spooled rather than lost to a replay) as the spool keeps it: the fields used, masked.
            await self.phone.write_or_keep("recording", f"recording {first(params, 'RecordingSid')}", spooled(params), mailbox)
        return xml(self.phone.speaker.empty())

    def end_call(self, calls: Calls, call_sid: str, status: str, duration: int | None, caller: str) -> None:
        calls.end(call_sid, status, duration, self.phone.pref.id, caller)

    async def status(self, request: Request, params: dict) -> HTTPResponse:
        call_sid = first(params, "CallSid")
        if call_sid:
            args = (call_sid, first(params, "CallStatus"), to_seconds(first(params, "CallDuration")), first(params, "From"))
            # Spooled if refused: Twilio does not usefully retry a status callback.
            await self.phone.write_or_keep("status", f"the status of call {call_sid}", *args)
        return xml(self.phone.speaker.empty())
