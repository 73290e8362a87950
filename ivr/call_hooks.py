"""The webhooks of a call in progress: the incoming call (`voice`), the answers to a Gather (`menu`,
`leaf`, `choices`, `offer`) and the end of a transfer (`dialed`).

One visit to the store per webhook where the input allows it: an incoming call reads the call (a
replay) or inserts it in one pool task; a keypad step (keys, silence, a spoken key word) reads the
call, runs the flow and writes the new state in one task (one UPDATE, compare-and-set on the step:
a duplicated or late webhook gets the answer already given and changes nothing). A sentence goes
to the NLU on the event loop between the read and the write (two tasks), as does the SMS option
(sent before the flow runs). Fail soft: a write the store refuses leaves the step unapplied and
the caller hears the same prompt again (`store_busy`); a call whose row cannot be read (PostgreSQL
unreachable, a store not answering in time) hears the same sentence and the prompt its Gather's URL
names, at the same step (`_in_place`: menus, leaves, the offer), or, for the prompts the URL cannot
rebuild, `Speaker.hold` (one sentence, then the call's stored prompt again through `/voice`, which
waits while the row still cannot be read). A step whose caller was answered without it (the store
too slow) is not applied when its pool task ends (`Step.answered`). A call whose row can be neither
read nor created, the store answering with an error (a full disk too: `disk_full`; `_unrecorded`), is served from its Gather's URL
on the keypad, each key kept by the spool for the row (ivr/kept_steps.py); so does a call under way whose
step a full disk refuses, until its row has its keys (`Phone.unrecorded`). The end of a transfer not answered while the row cannot be read
starts the voicemail at once (`Speaker.voicemail_now`); a call still at a transfer is never dialled
again by a replay (`_transfer_over`, `_offer_unwritten`).
"""

from __future__ import annotations

import copy
import logging
import sqlite3

from sanic.request import Request
from sanic.response import HTTPResponse

from bot.services import sms
from bot.store.disk import disk_full, log_refusal
from ivr import hours, kept_steps
from ivr.calls import FINAL_STATUSES, Calls, is_over, state_from_row
from ivr.desks import FeedbackDesk, PanDesk, kept_rating
from ivr.flow import RAW_SPEECH_STATES, CallState, Input
from ivr.form import first, raw_xml, to_float, to_int, xml
from ivr.phone import Phone, StoreBusy
from ivr.state import Step
from ivr.twiml import ROOT

logger = logging.getLogger(__name__)


def mobile(params: dict) -> bool:
    """Whether the caller's number (Twilio's From) can receive the link by SMS: a French mobile."""
    return sms.french_mobile(first(params, "From") or first(params, "Caller")) is not None


def over(row: dict | None, params: dict) -> bool:
    """The caller is gone (status callback received, or CallStatus final in this request)."""
    return is_over(row) or first(params, "CallStatus") in FINAL_STATUSES


def load(calls: Calls, call_sid: str) -> dict | None:
    return calls.row(call_sid)


def create(calls: Calls, st: CallState, prefecture: str, caller: str, twiml: str) -> str | None:
    """Insert a new call; None when created, else the answer already given (a replayed webhook)."""
    if calls.create(st, prefecture, caller, twiml):
        return None
    return (calls.row(st.call_sid) or {}).get("last_twiml") or twiml


def save(calls: Calls, st: CallState, step: int, twiml: str) -> str:
    """Save the new state (compare-and-set on the step); a duplicate gets the answer already given."""
    if calls.save(st, step, twiml):
        return twiml
    return (calls.row(st.call_sid) or {}).get("last_twiml") or twiml


class Answered(Exception):
    """The caller was answered without this step (Step.answered): it is not applied."""


class CallHooks:
    def __init__(self, phone: Phone):
        self.phone = phone
        phone.kept.update(unanswered=kept_steps.transfer_unanswered, unrecorded=kept_steps.add_unrecorded, rating=kept_rating)

    # ---- the incoming call -------------------------------------------------------------------
    def _arrival(self, call_sid: str, params: dict) -> tuple[CallState, str, str]:
        st = CallState(call_sid, called=first(params, "To") or first(params, "Called") or None, mobile=mobile(params))
        return st, self.phone.flow.welcome_xml(st), first(params, "From") or first(params, "Caller")

    def _start(self, calls: Calls, call_sid: str, params: dict, replay: bool, open_now=False) -> tuple[str, object]:
        """(on the pool) A known call's last answer (`replay`: Twilio retried the first webhook, or a
        hold came back) — but never its Dial again: a call still in a transfer is back here because that
        transfer ended unheard (`_transfer_over`) —, else the welcome, the call recorded; ("later", ...)
        when the store refuses it."""
        if replay:
            row = calls.row(call_sid)
            if row is not None and row.get("state") == "transfer" and not over(row, params):
                return "xml", self._transfer_over(calls, row, open_now)
            if row is not None and row.get("last_twiml"):
                return "xml", row["last_twiml"]
        st, twiml, caller = self._arrival(call_sid, params)
        try:
            with self.phone.stores.writing():
                return "xml", create(calls, st, self.phone.pref.id, caller, twiml) or twiml
        except sqlite3.OperationalError as exc:
            if disk_full(exc):  # an error, not a lock: the keypad welcome, the keys served from the URLs
                raise
            return "later", (st, caller, twiml)

    def _transfer_over(self, calls: Calls, row: dict, open_now) -> str:
        """(on the pool) A hold come back for a call whose last answer was a transfer (its Dial action
        came while the row could not be read, and no message was left): the offer after a failed
        transfer (the voicemail), saved, rather than dial the line again."""
        st = state_from_row(row)
        step = st.step
        twiml = self.phone.flow.dialed(st, "no-answer", open_now).to_xml()
        with self.phone.stores.writing():
            return save(calls, st, step, twiml)

    def _started(self, call_sid: str, kind: str, value) -> HTTPResponse:
        if kind == "later":
            st, caller, twiml = value
            self.phone.later(f"call {call_sid}", create, st, self.phone.pref.id, caller, twiml)
            return raw_xml(twiml)
        return raw_xml(value)

    async def voice(self, request: Request, params: dict) -> HTTPResponse:
        """The automated-service notice and the main menu; the call is recorded (later if the store is
        busy). A known call's last answer again (a replayed first webhook, or a hold come back: `held`);
        a held call whose row cannot be read waits for it (`Speaker.waiting`), `store_waits` times at most."""
        phone, call_sid, held = self.phone, first(params, "CallSid"), to_int(request.args.get("held"), 0)
        if not call_sid:
            return xml(phone.speaker.apology(phone.open_now(request)))
        try:
            kind, value = await phone.db(self._start, call_sid, params, True, phone.open_now(request))
        except StoreBusy:
            if 0 < held <= phone.store_waits:
                return xml(phone.speaker.waiting(held))
            st, twiml, caller = self._arrival(call_sid, params)
            kind, value = "later", (st, caller, twiml)
        return self._started(call_sid, kind, value)

    # ---- an answer to a Gather ---------------------------------------------------------------
    def _read(self, request: Request, params: dict) -> Step:
        phone = self.phone
        inp = Input(digits=first(params, "Digits"), asr_confidence=to_float(first(params, "Confidence")))
        speech = first(params, "SpeechResult")
        nlu = bool(speech.strip()) and not phone.speaker.spoken_input(speech) and not inp.digits.strip()
        return Step(
            call_sid=first(params, "CallSid"),
            step=to_int(request.args.get("step")),
            params=params,
            inp=inp,
            speech=speech,
            nlu=nlu,
            open_now=phone.open_now(request),
            when=hours.now(request.headers.get(hours.CLOCK_HEADER)),
            caller=first(params, "From") or first(params, "Caller"),
            route=request.path.rstrip("/").rsplit("/", 1)[-1],
            node=request.args.get("node"),
        )

    def _visit(self, calls: Calls, s: Step) -> tuple[str, object]:
        """(on the pool) Read the call; for a keypad step, also run the flow and save: ("xml", twiml).
        ("nlu", state) or ("sms", (state, option)) when the event loop has work to do first."""
        phone = self.phone
        try:
            row, started = self._known(calls, s)
        except Exception as exc:  # noqa: BLE001 - the store answers with an error: serve the caller without it
            if isinstance(exc, sqlite3.OperationalError) and not disk_full(exc):
                raise  # locked or unreachable: StoreBusy, the prompt repeated (`_in_place`)
            log_refusal(logger, exc, "ivr: call %s cannot be recorded; its %s prompt served from the URL", s.call_sid, s.route)
            return "unrecorded", self._unrecorded(calls, s)
        if row is None:
            return started
        if over(row, s.params):  # the caller is gone: nothing is booked, rated or changed
            return "xml", phone.speaker.hangup().to_xml()
        st, last = state_from_row(row), row.get("last_twiml")
        if s.step == st.step + 1 and st.state == "transfer":  # the offer after it, not written yet
            return "xml", self._offer_unwritten(st, s).to_xml()
        if s.call_sid in phone.unrecorded and (s.step or 0) > st.step:  # on the keypad since a full disk: so on
            return "unrecorded", self._unrecorded(calls, s)
        phone.unrecorded.discard(s.call_sid)  # its row has caught up (the spool's keys written), or never fell behind
        if s.step != st.step:  # a duplicated or late webhook: answer as before, change nothing
            return "xml", last or phone.flow.render(st, s.open_now).to_xml()
        if s.speech.strip():
            if s.nlu and st.state not in RAW_SPEECH_STATES:  # a reference said, or words after a booking: no NLU
                return "nlu", st
            s.inp.speech = s.speech.strip()
        option = phone.flow.chosen(st, s.inp, s.open_now)
        if option is not None and option.kind == "sms":  # sent before the flow runs; the flow says the outcome
            return "sms", (st, option)
        try:
            return "xml", self._apply(calls, st, s)
        except sqlite3.OperationalError as exc:
            if disk_full(exc):  # no lock to wait for: the key served from the URL and kept, as for a call unrecorded
                phone.unrecorded.add(s.call_sid)
                return "unrecorded", self._unrecorded(calls, s)
            return "xml", self._unapplied(state_from_row(row), s, exc).to_xml()

    def _offer_unwritten(self, st: CallState, s: Step):
        """A key at the offer after a transfer not answered, whose state is still to be written (the
        store was locked: `Phone.later`): not applied, that offer again with the apology (the caller
        answers again), never the row's last answer, which is the Dial."""
        phone = self.phone
        phone.flow.dialed(st, "no-answer", s.open_now)  # the state the write under way brings
        logger.warning("ivr: call %s step %s: the end of its transfer is not written yet; offer repeated", s.call_sid, s.step)
        return phone.flow.render(st, s.open_now, [phone.speaker.text("store_busy"), phone.speaker.text("transfer_failed")])

    def _known(self, calls: Calls, s: Step) -> tuple[dict | None, tuple | None]:
        """(on the pool) (the call's row, None); for a call the store does not know (lost, or never
        recorded), (None, the welcome with the notice: the call starts over) — except at the welcome
        itself (menu, root, step 0: the caller heard the notice), where the call is recorded at its
        welcome and the input applies to it."""
        row = calls.row(s.call_sid)
        if row is not None:
            return row, None
        started = self._start(calls, s.call_sid, s.params, False)
        if started[0] != "xml" or (s.route, s.node, s.step) != ("menu", ROOT, 0):
            return None, started
        row = calls.row(s.call_sid)
        return row, (None if row is not None else started)

    def _unrecorded(self, calls: Calls, s: Step) -> tuple[str, dict | None]:
        """(on the pool) The call's row can be neither read nor created, the store answering with an
        error (not busy: then `_in_place`): the key applied to the prompt the Gather's URL names, on the
        keypad only (no NLU), the call's row written later from the spool (the PAN slots are asked of the store
        as in any call, and fail the same way if it refuses them too; a rating a full disk refuses is thanked
        and kept, `FeedbackDesk`, `gathered`); speech there
        gets that prompt again on the keypad; a prompt the URL cannot rebuild (the likely topics, the
        PAN steps, whose keys live in the row), the keypad welcome. With the answer, what the key did
        (`unrecorded_step`), for the spool: the call's row gets it once the store takes rows again."""
        phone = self.phone
        if first(s.params, "CallStatus") in FINAL_STATUSES:
            return phone.speaker.hangup().to_xml(), None
        st = phone.flow.placed(s.call_sid, s.route, s.node, s.step)
        if st is None:
            return phone.keypad_welcome, None
        st.called, st.mobile = first(s.params, "To") or first(s.params, "Called") or None, mobile(s.params)
        if s.speech.strip() and not s.inp.digits.strip():
            said = phone.flow.render(st, s.open_now, [phone.speaker.text("speech_unavailable")])
            return phone.speaker.keypad_only(said).to_xml(), None
        inp = Input(digits=s.inp.digits)
        inp.pan = PanDesk(phone, calls.store, s.call_sid, s.when, s.caller)
        inp.feedback = FeedbackDesk(phone, calls.store, s.call_sid, s.rating)
        said = phone.flow.handle(st, inp, s.open_now)
        return phone.speaker.keypad_only(said).to_xml(), kept_steps.unrecorded_step(st, s.step)

    def _apply(self, calls: Calls, st: CallState, s: Step) -> str:
        """(on the pool) The flow on this input, then the new state saved: the answer to give. Nothing
        once the caller was answered without it (Step.answered: checked before the flow and the save)."""
        self._unanswered(s)
        s.inp.pan = PanDesk(self.phone, calls.store, s.call_sid, s.when, s.caller)
        s.inp.feedback = FeedbackDesk(self.phone, calls.store, s.call_sid, s.rating)
        twiml = self.phone.flow.handle(st, s.inp, s.open_now).to_xml()
        with self.phone.stores.writing():
            self._unanswered(s)
            return save(calls, st, s.step, twiml)

    @staticmethod
    def _unanswered(s: Step) -> None:
        if s.answered:
            logger.warning("ivr: call %s step %s came too late: the caller was answered without it", s.call_sid, s.step)
            raise Answered(s.call_sid)

    def _unapplied(self, before: CallState, s: Step, exc: Exception):
        # Nothing was applied: the caller hears the same prompt again and answers again.
        logger.warning("ivr: call %s step %s not applied (%s); prompt repeated", s.call_sid, s.step, exc)
        return self.phone.flow.render(before, s.open_now, [self.phone.speaker.text("store_busy")])

    def _in_place(self, request: Request, s: Step):
        """The call's row cannot be read (the store unreachable, or not answering in time): one apology
        and the prompt the Gather's URL names (its route and node), at the same step, so that the next
        key, once the store answers, is read against the stored step; nothing is applied or written.
        A prompt the URL cannot rebuild (`Flow.placed`: likely topics, confirmations, PAN steps): the
        hold, which replays the stored prompt as soon as the row can be read."""
        phone = self.phone
        route = request.path.rstrip("/").rsplit("/", 1)[-1]
        st = phone.flow.placed(s.call_sid, route, request.args.get("node"), s.step)
        if st is None:
            logger.warning("ivr: call %s unreadable at a %s prompt; held until it can be read", s.call_sid, route)
            return phone.speaker.hold()
        logger.warning("ivr: call %s unreadable; its %s prompt at %s repeated from the URL", s.call_sid, route, st.node)
        st.mobile = mobile(s.params)
        return phone.flow.render(st, s.open_now, [phone.speaker.text("store_busy")])

    async def gathered(self, request: Request, params: dict) -> HTTPResponse:
        s = self._read(request, params)
        answer = await self._gathered(request, s)
        if s.rating:  # refused by a full disk: the caller is thanked, the spool writes it once space is freed
            await self.phone.keep("rating", f"the rating of call {s.call_sid}", s.call_sid, *s.rating)
        return answer

    async def _gathered(self, request: Request, s: Step) -> HTTPResponse:
        phone = self.phone
        try:
            kind, value = await phone.db(self._visit, s)
        except StoreBusy:
            s.answered = True  # a task still under way (the store slow, not refusing) applies nothing
            return xml(self._in_place(request, s))
        if kind in ("xml", "later"):
            return self._started(s.call_sid, kind, value)
        if kind == "unrecorded":
            twiml, step = value
            if step is not None:  # kept on disk, written to the call's row once the store takes it
                what = f"the key of step {s.step} of unrecorded call {s.call_sid}"
                await phone.keep("unrecorded", what, s.call_sid, phone.pref.id, s.caller, step)
            return raw_xml(twiml)
        if kind == "sms":
            st, option = value
            return await self._finish(st, s, option)
        st, before = value, copy.deepcopy(value)
        try:
            s.inp.speech, s.inp.decision = await phone.decide(request, s.speech)
        except Exception:  # noqa: BLE001 - the keypad still works: offer it, never hang up
            logger.exception("ivr: the NLU failed for call %s; keypad menu offered", s.call_sid)
            sp = phone.speaker
            return xml(sp.keypad_only(phone.flow.render(before, s.open_now, [sp.text("speech_unavailable")])))
        return await self._finish(st, s, phone.flow.chosen(st, s.inp, s.open_now))

    async def _finish(self, st: CallState, s: Step, option) -> HTTPResponse:
        """After the event loop's part (NLU, SMS): the flow and the save, in a second pool task."""
        phone = self.phone
        if option is not None and option.kind == "sms":
            s.inp.sms = await phone.send_sms(st, option.target, s.caller)
        before = copy.deepcopy(st)
        try:
            return raw_xml(await phone.db(self._apply, st, s))
        except StoreBusy as exc:
            if s.inp.sms is None:
                s.answered = True  # "Je répète": the step must not land later
                return xml(self._unapplied(before, s, exc))
            # The SMS went out: say so, and write the step when the store accepts it.
            st = copy.deepcopy(before)
            twiml = phone.flow.handle(st, s.inp, s.open_now).to_xml()
            phone.later(f"call {s.call_sid} after its SMS", save, st, s.step, twiml)
            return raw_xml(twiml)

    # ---- the end of a transfer ---------------------------------------------------------------
    def _dialed(self, calls: Calls, call_sid: str, params: dict, step: int | None, open_now) -> tuple[str, object]:
        row = calls.row(call_sid)
        if over(row, params):  # the caller hung up (while the line rang, unless it answered): nothing to say
            if row is not None and step is not None and first(params, "DialCallStatus") != "completed":
                with self.phone.stores.writing():  # nobody answered: not counted transferred (the outcome again if ended)
                    kept_steps.transfer_unanswered(calls, call_sid, step)
            return "xml", self.phone.speaker.hangup().to_xml()
        if row is None and first(params, "DialCallStatus") != "completed":  # unknown call: start over, notice first
            return "started", self._start(calls, call_sid, params, False)
        st, last = (state_from_row(row), row.get("last_twiml")) if row else (None, None)
        if st is None or step != st.step:
            return "xml", last or self.phone.speaker.goodbye().to_xml()
        twiml = self.phone.flow.dialed(st, first(params, "DialCallStatus"), open_now).to_xml()
        try:
            with self.phone.stores.writing():
                return "xml", save(calls, st, step, twiml)
        except sqlite3.OperationalError:
            return "later", (st, twiml)

    def _dial_node(self, request: Request) -> str:
        node = request.args.get("node")
        return node if node in self.phone.tree.nodes else self.phone.speaker.human_id

    async def dialed(self, request: Request, params: dict) -> HTTPResponse:
        phone, call_sid, step = self.phone, first(params, "CallSid"), to_int(request.args.get("step"))
        try:
            kind, value = await phone.db(self._dialed, call_sid, params, step, phone.open_now(request))
        except Exception as exc:  # noqa: BLE001 - the store busy, or answering with an error (a call it cannot record)
            if not isinstance(exc, StoreBusy):
                logger.exception("ivr: the end of the transfer of call %s could not be read or recorded", call_sid)
            if first(params, "DialCallStatus") == "completed":  # the conversation took place: the call ends
                return xml(phone.speaker.hangup())  # (its end and outcome come with the status callback)
            # The offer after a failed transfer needs the row (its keys could not be applied): the
            # voicemail at once, which the spool keeps (never the hold, whose replay dialled again).
            # That nobody answered is kept too: a caller who leaves no message is not counted transferred.
            if step is not None:
                caller = first(params, "From") or first(params, "Caller")  # for a call the store never recorded
                await phone.keep("unanswered", f"the unanswered transfer of call {call_sid}", call_sid, step, caller)
            return xml(phone.speaker.voicemail_now(self._dial_node(request), step or 0))
        if kind == "started":
            return self._started(call_sid, *value)
        if kind == "later":
            st, twiml = value
            phone.later(f"call {call_sid} after its transfer", save, st, step, twiml)
            return raw_xml(twiml)
        return raw_xml(value)
