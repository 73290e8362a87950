"""The prompts of the call state machine (a part of ivr.flow.Flow): the options a state offers, and its
TwiML, from the call's state (ivr/state.py) through the Speaker (ivr/twiml.py)."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr.state import CallState
from ivr.voice import BOOKING, Option


class Prompts:
    """What each state offers and says (uses Flow's `sp` and `tree`)."""

    def options(self, st: CallState, open_now: bool) -> list[Option]:
        if st.state == "menu":
            return self.sp.menu_options(st.node)
        if st.state == "leaf":
            return self.sp.leaf_options(self.tree.node(st.node), open_now, **self._for_call(st))
        if st.state == "choices":
            return self.sp.choices_options(st.choices, st.back)
        if st.state == "offer":
            return self.sp.offer_options(st.node, open_now, not st.transfer_failed)
        if st.state == "pan_slots":
            return self.sp.pan_slot_options(st.pan_slots, st.node)
        if st.state == "pan_confirm":
            return self.sp.pan_confirm_options(st.pan_choice, st.node)
        if st.state == "pan_booked":
            return self.sp.pan_booked_options(st.pan_target, self._sms(st, BOOKING))
        if st.state == "pan_cancel_confirm":
            return self.sp.pan_cancel_confirm_options(st.pan_target)
        if st.state == "confirm":
            return self.sp.confirm_options(st.choices[0], st.back)
        return []

    def render(self, st: CallState, open_now: bool, preface: list[str] = (), number_only: bool = False) -> VoiceResponse:
        if st.state == "leaf":
            return self.sp.leaf(st.node, st.step, open_now, preface, number_only, **self._for_call(st))
        if st.state == "choices":
            return self.sp.choices(st.choices, st.back, st.step, preface)
        if st.state == "offer":
            return self.sp.offer(st.node, st.step, open_now, preface, not st.transfer_failed)
        if st.state == "pan_slots":
            return self.sp.pan_slots(st.node, st.pan_slots, st.step, preface)
        if st.state == "pan_confirm":
            return self.sp.pan_confirm(st.node, st.pan_choice, st.step, preface)
        if st.state == "pan_booked":
            return self.sp.pan_booked(st.pan_target, st.step, preface, self._sms(st, BOOKING))
        if st.state == "pan_cancel_ref":
            return self.sp.pan_cancel_ask(st.node, st.step, preface)
        if st.state == "pan_cancel_confirm":
            return self.sp.pan_cancel_confirm(st.node, st.pan_target, st.step, preface)
        if st.state == "confirm":
            return self.sp.confirm(st.choices[0], st.back, st.step, preface)
        return self.sp.menu(st.node, st.step, preface)

    @staticmethod
    def _sms(st: CallState, target: str | None = None) -> bool:
        """Whether the current leaf (or `target`: BOOKING) may still offer its link by SMS: the caller's
        number can receive one (`CallState.mobile`) and it was not sent or refused yet."""
        return st.mobile and (target or st.node) not in st.sms_done

    def _for_call(self, st: CallState) -> dict:
        """A leaf's options as this call may still have them (Speaker.leaf_options): the rating until it
        rated, the link by SMS until sent, the PAN's booking until refused at key 4 (a hidden number: nothing)."""
        pan = {None: "book", "shown": "cancel"}.get(st.pan_refused, "none")
        return {"rate": not st.rated, "sms": self._sms(st), "pan": pan}
