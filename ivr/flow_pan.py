"""The PAN appointment in the call state machine (a part of ivr.flow.Flow).

After a PAN leaf, `pan_key` offers the next free slots (state pan_slots, keys 1-3), then asks for a
confirmation (pan_confirm, key 1); only the confirmation books, through `Input.pan` (the channel's
PanDesk); the booked message (pan_booked: when, where, the reference digit by digit, what to bring,
how to cancel) is said again on the repeat key, 0 goes to the main menu, and silence ends the call;
a number that already holds pan.max_future_bookings appointments to come is told so, with how to
cancel one, and hears the PAN leaf's options again (a hidden number: the call is the person, and
hidden numbers together are capped, bot.services.pan.book). `pan_cancel_key` after the PAN leaf, or "annuler
un rendez-vous" said anywhere (`phone.spoken_pan_cancel`), asks for the reference's eight digits,
typed or said (pan_cancel_ref); a booking made from the caller's own number is said and cancelled
after a confirmation (pan_cancel_confirm, key 1).
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr.state import REFERENCE_DIGITS, CallState, Input, key_of
from ivr.voice import BOOKING, ROOT, Option


class PanFlow:
    """The PAN transitions (uses Flow's `sp`, `tree`, `max_retries`, `render`, `_goto`, `_choose`)."""

    def _pan(self, st: CallState, option: Option, open_now: bool, desk) -> VoiceResponse:
        """The PAN offer: the next slots by key, a confirmation, then the booking (never before)."""
        if option.kind == "pan_slot":
            st.pan_choice, st.state = st.pan_slots[int(option.target)], "pan_confirm"
            return self.render(st, open_now)
        if option.kind == "pan_details":  # after the booking: what to bring and how to cancel
            return self.sp.pan_booked(st.pan_target, st.step, sms=self._sms(st, BOOKING), details=True)
        if option.kind == "pan_back":
            st.state, st.pan_choice = "pan_slots", None
            return self.render(st, open_now)
        if option.kind == "pan_book":
            booked, result = desk.book(st.pan_choice) if desk is not None else (False, [])
            if booked:
                st.state, st.pan_booking, st.pan_choice, st.retries = "pan_booked", result["reference"], None, 0
                st.pan_target = {
                    "reference": result["reference"],
                    "site": result["site"],
                    "start": result["slot_start"],
                    "node": st.node,
                    "hidden": not result.get("contact_key"),
                }
                return self.render(st, open_now)
            if result in ("too_many_bookings", "hidden_numbers_full"):  # the caller may book no more now
                return self._pan_too_many(st, open_now, result, hidden=not desk.identified())
            preface = [self.sp.pan_text("taken")]
            slots = result
        elif option.kind == "pan_cancel":  # the reference of the appointment to cancel
            st.pan_choice, st.pan_target = None, None
            if desk is None or not desk.identified():
                return self._pan_return(st, open_now, "cancel_hidden")
            st.state, st.retries = "pan_cancel_ref", 0
            return self.render(st, open_now)
        elif option.kind == "pan_cancel_do":
            return self._pan_cancel(st, open_now, desk)
        else:  # "pan": the offer after the leaf; a caller who may book no more is told so at once
            refused = desk.refusal() if desk is not None else None
            if refused:
                return self._pan_too_many(st, open_now, refused, hidden=not desk.identified())
            preface, slots = [], desk.slots() if desk is not None else []
        st.pan_choice = None
        if not slots:
            st.state, st.pan_slots = "leaf", []
            return self.render(st, open_now, preface + [self.sp.pan_text("none")])
        st.state, st.pan_slots = "pan_slots", slots
        return self.render(st, open_now, preface)

    def _pan_too_many(self, st: CallState, open_now: bool, code: str, hidden: bool) -> VoiceResponse:
        """Refused: this number (a hidden one: this call) already holds pan.max_future_bookings
        appointments to come, or hidden numbers together booked the most lately (`code`
        hidden_numbers_full). Said (with how to cancel one, when the number is shown), then the PAN
        leaf's options again; nothing booked."""
        st.state, st.pan_choice, st.pan_slots = "leaf", None, []
        st.pan_refused = "hidden" if hidden else "shown"
        if code == "hidden_numbers_full":
            said = self.sp.pan_text("hidden_full")
        elif hidden:
            said = self.sp.pan_text("too_many_hidden")
        else:
            said = self.sp.pan_text("too_many", cancel_key=self.sp.key_word(self.sp.keys["pan_cancel_key"]))
        return self.sp.leaf(st.node, st.step, open_now, [said], answer=False, **self._for_call(st))

    def _pan_booked_answer(self, st: CallState, inp: Input, open_now: bool) -> VoiceResponse:
        """After the booking: the repeat key says it all again, 0 the main menu, "un agent" the person;
        anything else ends the call."""
        key = key_of(inp)
        spoken = self.sp.spoken_input(inp.speech) if not key and inp.speech.strip() else None
        if spoken is not None and spoken[0] == "key":
            key = spoken[1]
        elif spoken is not None and spoken[0] == "person":  # "un agent": a person, as at every prompt
            st.inputs.append({"step": st.step, "spoken": "person"})
            return self._goto(st, self.sp.human_id, open_now)
        option = self._find(st, key, open_now) if key else None
        st.inputs.append({"step": st.step, "digits": key} if key else {"step": st.step, "silence": not inp.speech.strip()})
        if option is None:
            st.state = "ended"
            return self.sp.goodbye()
        return self._choose(st, option, open_now, inp)

    def _pan_reference(self, st: CallState, inp: Input, open_now: bool) -> VoiceResponse:
        """The reference of the appointment to cancel, typed (eight keys) or said; a lone '*', '#' or
        '0' is a key as anywhere else. The booking must have been made from the caller's number."""
        digits = "".join(c for c in (inp.digits or "") if c.isdigit() or c in "*#")
        if not digits and inp.speech.strip():
            spoken = self.sp.spoken_input(inp.speech)
            if spoken is not None and spoken[0] == "person":
                return self._goto(st, self.sp.human_id, open_now)
            digits = spoken[1] if spoken is not None and spoken[0] == "key" else self.sp.spoken_digits(inp.speech)
        if (len(digits) == 1 and not digits.isdigit()) or digits == self.sp.keys["main_menu_key"]:
            st.inputs.append({"step": st.step, "digits": digits})
            if digits == self.sp.keys["repeat_key"]:
                return self.render(st, open_now)
            if digits == self.sp.keys["back_key"]:
                return self._goto(st, st.node, open_now)
            return self._goto(st, ROOT, open_now)
        if not digits:  # nothing said, or words without a digit ("attendez, je cherche")
            st.inputs.append({"step": st.step, "silence": not inp.speech.strip()})
            return self._pan_reference_miss(st, open_now, "reference_no_digits" if inp.speech.strip() else "reprompt_silence")
        st.inputs.append({"step": st.step, "reference": len(digits)})  # how many digits, never which
        target = None
        if len(digits) == REFERENCE_DIGITS and digits.isdigit() and inp.pan is not None:
            target = inp.pan.find(f"PAN-{digits[:4]}-{digits[4:]}")
        if target is None:
            return self._pan_reference_miss(st, open_now, None, self.sp.pan_text("cancel_not_found"))
        if target["status"] == "cancelled":
            return self._pan_return(st, open_now, "cancel_already")
        if target["past"]:
            return self._pan_return(st, open_now, "cancel_past")
        st.state, st.retries = "pan_cancel_confirm", 0
        st.pan_target = {"reference": target["reference"], "site": target["site"], "start": target["slot_start"], "node": st.node}
        return self.render(st, open_now)

    def _pan_reference_miss(self, st: CallState, open_now: bool, reprompt: str | None, said: str = "") -> VoiceResponse:
        st.retries += 1
        preface = ([self.sp.text(reprompt)] if reprompt else []) + ([said] if said else [])
        if st.retries >= self.max_retries:  # as after any three misses: a person or a message
            st.state, st.back, st.offer_retries = "offer", st.node, 0
            return self.sp.offer(st.node, st.step, open_now, preface, not st.transfer_failed)
        return self.render(st, open_now, preface)

    def _pan_cancel(self, st: CallState, open_now: bool, desk) -> VoiceResponse:
        """The confirmed cancellation: said, then goodbye; refused (cancelled meanwhile): back to the leaf."""
        target, st.pan_target = st.pan_target, None
        code = desk.cancel(target["reference"]) if desk is not None and target else "not_found"
        if code is None:
            st.state = "ended"
            when = self.sp.pan_slot_words({"site": target["site"], "start": target["start"]})["when"]
            return self.sp.goodbye([self.sp.pan_text("cancelled", when=when)])
        return self._pan_return(
            st, open_now, {"already_cancelled": "cancel_already", "past_slot": "cancel_past"}.get(code, "cancel_not_found")
        )

    def _pan_return(self, st: CallState, open_now: bool, text: str) -> VoiceResponse:
        """Back where the cancellation began (the PAN leaf's options, or the menu), saying why."""
        st.pan_target, st.retries = None, 0
        preface = [self.sp.pan_text(text)]
        if st.node == ROOT or self.tree.node(st.node).destination is None:
            st.state = "menu"
            return self.sp.menu(st.node, st.step, preface)
        st.state = "leaf"
        return self.sp.leaf(st.node, st.step, open_now, preface, answer=False, **self._for_call(st))
