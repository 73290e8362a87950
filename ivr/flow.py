"""The call state machine: the call's state + one input (key, speech or silence) -> TwiML.

Pure: the channel reads the state from the store, routes speech through the NLU and the router
(`Input.decision`), calls `Flow`, and saves the state. The ladder for misses (silence, a key
that is not offered, speech not understood), counted in a row in `retries`:
  1st speech not understood -> one rephrase request; 2nd -> the menu of the likely topics
                               (a request naming no procedure: "De quelle démarche s'agit-il ?",
                               then the main menu);
  silence / wrong key       -> a reprompt (what was not heard or not offered) and the prompt again;
  (silence after an answer  -> its number once more, then goodbye: `_silent_after_answer`)
  3rd miss (max_retries)    -> a person (transfer when the standard is open) or the voicemail;
  then max_offer_retries more misses at that offer -> goodbye with the hours (never a bare hang-up).
The PAN booking and cancellation by phone: ivr/flow_pan.py. After an answer, `feedback_key` records "cette
réponse m'a aidé" (`feedback_no_key`: "elle ne m'a pas aidé") through `Input.feedback` (the channel's
FeedbackDesk), once per call: the caller hears the thanks, then the leaf's options again (without the rating);
after an answer to the caller's words, `feedback_no_key` or a "non" offers its alternatives, the other likely
topics, as keys instead (state choices, `_other_topics`).
With the SMS configured (bot.settings.sms) and the caller on a French mobile (CallState.mobile), an
answer that names a website and the booked message offer `sms_key` ("pour recevoir le lien par SMS"): the channel sends it
before the flow runs (`chosen` tells it what the input picks) and passes the outcome in `Input.sms`;
the caller hears it, then the leaf's options again (after a booking: goodbye once sent or on its way,
else the booked message's keys). A link sent, or refused for that number, is not offered again in the
call. Words the tree lists (`phone.spoken_keys`, `spoken_yes`, `spoken_no`, `spoken_person`) are keys at
every prompt ("deux", "étoile", "retour"); "un agent" goes to the person; yes/no answer a
confirmation. Speech whose Twilio Confidence is below `settings.confirm_below` is confirmed first
(state confirm: "vous avez dit : ... ?", 1 or "oui" goes there, 2 or "non" asks again). Speech the router
is unsure of gets its likely topics as keys (state choices) when its best guess has a confidence of at
least `settings.likely_topics_from`; below, one request to rephrase first.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from bot.core.decision import Decision
from bot.core.router import NAVIGATE_INTENT
from bot.core.tree import CONVERSATION_INTENTS, TOPICS
from ivr.flow_pan import PanFlow
from ivr.flow_prompts import Prompts
from ivr.state import PAN_STATES, PROMPT_STATES, RAW_SPEECH_STATES, SMS_DONE, CallState, Input, key_of
from ivr.twiml import BOOKING, ROOT, Option, Speaker

__all__ = ["RAW_SPEECH_STATES", "CallState", "Flow", "Input", "key_of"]


class Flow(Prompts, PanFlow):
    def __init__(self, speaker: Speaker):
        self.sp = speaker
        self.tree = speaker.tree
        s = speaker.settings
        self.confirm_below = float(s.get("confirm_below", 0))
        self.likely_topics_from = float(s["likely_topics_from"])
        self.max_retries = int(s["max_retries"])
        self.max_offer_retries = int(s["max_offer_retries"])

    # ---- entry points ----------------------------------------------------------------------
    def welcome(self, st: CallState) -> VoiceResponse:
        self._at_welcome(st)
        return self.sp.welcome(st.step)

    def welcome_xml(self, st: CallState) -> str:
        """`welcome` as TwiML text, built once per step number (it depends on nothing else)."""
        self._at_welcome(st)
        return self.sp.welcome_xml(st.step)

    @staticmethod
    def _at_welcome(st: CallState) -> None:
        st.state, st.node = "menu", ROOT
        if not st.path:
            st.path.append(ROOT)

    def handle(self, st: CallState, inp: Input, open_now: bool) -> VoiceResponse:
        """One answer to a Gather (keys, speech or nothing)."""
        st.step += 1
        if st.state not in PROMPT_STATES:  # a late input after a transfer or a voicemail began
            return self._goto(st, ROOT, open_now)
        if st.state == "pan_cancel_ref":
            return self._pan_reference(st, inp, open_now)
        if st.state == "pan_booked":
            return self._pan_booked_answer(st, inp, open_now)
        key = key_of(inp)
        spoken = self.sp.spoken_input(inp.speech) if not key and inp.speech.strip() else None
        if spoken is not None:
            kind, spoken_key = spoken
            if kind != "key":
                st.inputs.append({"step": st.step, "spoken": kind})
            if kind == "person":  # "un agent", wherever the caller is
                return self._goto(st, self.sp.human_id, open_now)
            if kind == "pan_cancel":  # "annuler un rendez-vous", wherever the caller is
                return self._pan(st, Option(self.sp.keys["pan_cancel_key"], "pan_cancel"), open_now, inp.pan)
            if kind == "done" and st.state == "leaf":  # "non merci" after an answer: the caller has it
                st.state = "ended"
                return self.sp.goodbye()
            kind = "no" if kind == "done" else kind  # elsewhere, a no
            if kind in ("yes", "no") and st.state == "confirm":  # "vous avez dit ... ? Dites oui ou tapez 1"
                kind, spoken_key = "key", "1" if kind == "yes" else "2"
            elif kind in ("yes", "no") and st.state in ("pan_confirm", "pan_cancel_confirm"):  # "pour confirmer ..., tapez 1"
                kind, spoken_key = "key", "1" if kind == "yes" else self.sp.keys["back_key"]
            if kind == "no" and st.state == "leaf" and st.alternatives:  # after an answer to words: the others
                return self._other_topics(st)
            if kind in ("yes", "no"):  # understood, nothing to confirm here: the same prompt again
                st.retries = st.misses = 0
                message = self.tree.messages["affirm" if kind == "yes" else "deny"].get("voice") or ""
                return self._again(st, open_now, [self.sp.spoken(message)] if message else [])
            key = spoken_key
        elif not key:
            key = self._asked_option(st, inp, open_now)
        if key:
            st.inputs.append({"step": st.step, "digits": key})
            option = self._find(st, key, open_now)
            if option is None:
                return self._miss(st, "reprompt_wrong_key", open_now)
            return self._choose(st, option, open_now, inp)
        if inp.speech.strip() and inp.decision is not None:
            d = inp.decision
            st.correcting = None  # new words: a key chosen after them corrects no earlier answer
            st.inputs.append(
                {
                    "step": st.step,
                    "speech": inp.speech,
                    "asr": inp.asr_confidence,
                    "topic": d.topic,
                    "confidence": round(d.confidence, 4),
                    "node": d.node,
                }
            )
            return self._speech(st, d, open_now, inp.asr_confidence)
        st.inputs.append({"step": st.step, "silence": True})
        if st.state == "leaf" and st.node != self.sp.human_id:
            return self._silent_after_answer(st, open_now)
        return self._miss(st, "reprompt_silence", open_now)

    def dialed(self, st: CallState, status: str, open_now: bool) -> VoiceResponse:
        """The end of a transfer: the call is over, or the line was busy / did not answer."""
        st.step += 1
        if status == "completed":
            st.state = "ended"
            resp = VoiceResponse()
            resp.hangup()
            return resp
        st.transferred, st.transfer_failed = False, True
        st.state, st.retries, st.offer_retries = "offer", 0, 0
        return self.sp.offer(st.node, st.step, open_now, [self.sp.text("transfer_failed")], allow_transfer=False)

    def recorded(self, st: CallState, mailbox: str | None, has_recording: bool, reference: str | None = None) -> VoiceResponse:
        """After the Record verb: thanks (naming the service, then the ticket's reference) or back to the main menu."""
        st.step += 1
        if has_recording and mailbox:
            st.voicemail, st.state = True, "ended"
            return self.sp.voicemail_done(mailbox, reference)
        st.state, st.node, st.retries = "menu", ROOT, 0
        st.path.append(ROOT)
        return self.sp.menu(ROOT, st.step, [self.sp.text("voicemail_empty")])

    def placed(self, call_sid: str, route: str, node: str | None, step: int | None) -> CallState | None:
        """The state a prompt's action URL alone rebuilds (its route, node and step), for when the call's
        row cannot be read: a menu, a leaf's answer, the person/voicemail offer. None for the prompts
        whose options live only in the row (the likely topics and "vous avez dit ... ?" on `choices`,
        the PAN booking and cancellation steps on `pan`): their keys mean something else there."""
        if step is None or route not in ("menu", "leaf", "offer") or not (node == ROOT or node in self.tree.nodes):
            return None
        is_menu = node == ROOT or self.tree.node(node).destination is None
        if route != "offer" and (route == "menu") != is_menu:
            return None
        return CallState(call_sid, step=step, state=route, node=node)

    def chosen(self, st: CallState, inp: Input, open_now: bool) -> Option | None:
        """The option a key (typed, or a spoken key word) picks at the current prompt, before `handle`
        runs: the channel sends an SMS first when it is the SMS option."""
        if st.state not in PROMPT_STATES:
            return None
        key = key_of(inp)
        if not key and inp.speech.strip():
            spoken = self.sp.spoken_input(inp.speech)
            key = spoken[1] if spoken is not None and spoken[0] == "key" else ""
            key = key or ("" if spoken is not None else self._asked_option(st, inp, open_now))
        return self._find(st, key, open_now) if key else None

    def _asked_option(self, st: CallState, inp: Input, open_now: bool) -> str:
        """The key of the answer's own option asked for aloud (its number, its link by SMS:
        `phone.spoken_options`), when this answer offers it; else ''."""
        kind = self.sp.spoken_option(inp.speech) if st.state == "leaf" and inp.speech.strip() else None
        option = next((o for o in self.options(st, open_now) if o.kind == kind), None) if kind else None
        return option.key if option is not None else ""

    def _again(self, st: CallState, open_now: bool, preface: list) -> VoiceResponse:
        """The same prompt after words understood that ask for nothing (oui, non, merci): after an
        answer, its options only (the answer was just said; "merci" is no wish to hear it again)."""
        if st.state == "leaf":
            return self.sp.leaf(st.node, st.step, open_now, preface, answer=False, **self._for_call(st))
        return self.render(st, open_now, preface)

    def _route(self, st: CallState) -> str:
        if st.state in PAN_STATES:
            return "pan"
        if st.state == "confirm":
            return "choices"
        return st.state if st.state in PROMPT_STATES else "menu"

    def _find(self, st: CallState, key: str, open_now: bool) -> Option | None:
        return next((o for o in self.options(st, open_now) if o.key == key), None)

    # ---- transitions -----------------------------------------------------------------------
    def _choose(self, st: CallState, option: Option, open_now: bool, inp: Input | None = None) -> VoiceResponse:
        st.retries = 0
        if option.kind.startswith("pan"):
            return self._pan(st, option, open_now, inp.pan if inp is not None else None)
        if option.kind in ("node", "back", "main"):
            chosen = self.tree.nodes.get(option.target or "")
            topic = chosen.topic if chosen and option.kind == "node" and st.state == "choices" else None
            if st.correcting and topic in TOPICS and topic != st.correcting:  # one of the answer's alternatives
                st.inputs.append({"step": st.step, "corrects": st.correcting, "topic": topic})  # the caller's correction
            return self._goto(st, option.target or ROOT, open_now)
        if option.kind == "repeat":
            return self.render(st, open_now)
        if option.kind == "reject":  # "non" to "vous avez dit ... ?": ask again where the caller was
            return self._goto(st, option.target or ROOT, open_now, [self.sp.text("confirm_no")])
        if option.kind == "number":
            return self.render(st, open_now, number_only=True)
        if option.kind == "transfer":
            st.state, st.transferred = "transfer", True
            return self.sp.dial(st.node, option.target, st.step, caller_id=st.called)
        if option.kind == "voicemail":
            st.state, st.mailbox = "voicemail", option.target
            return self.sp.record(st.node, option.target, st.step)
        if option.kind in ("feedback", "feedback_no"):
            if inp is not None and inp.feedback is not None:
                inp.feedback.record(option.target, useful=option.kind == "feedback")
            st.rated = True
            if option.kind == "feedback_no" and st.alternatives:
                return self._other_topics(st, [self.sp.text("feedback_thanks")])
            return self.sp.leaf(st.node, st.step, open_now, [self.sp.text("feedback_thanks")], answer=False, **self._for_call(st))
        if option.kind == "sms":
            return self._sent(st, option, open_now, (inp.sms if inp is not None else None) or "failed")
        raise ValueError(f"unknown option kind {option.kind}")

    def _sent(self, st: CallState, option: Option, open_now: bool, outcome: str) -> VoiceResponse:
        """After the SMS: its outcome said, then the leaf's options; after a booking, goodbye once sent
        (or on its way), else the booked message's options (without the link once it cannot be sent)."""
        st.inputs.append({"step": st.step, "sms": outcome})  # the audit of the call: the outcome, never the number
        if outcome in SMS_DONE and option.target not in st.sms_done:
            st.sms_done.append(option.target)
        preface = [self.sp.text(f"sms_{outcome}")]
        if st.state == "pan_booked":
            if outcome in ("sent", "pending"):
                st.state = "ended"
                return self.sp.goodbye(preface)
            return self.sp.pan_booked(st.pan_target, st.step, preface, self._sms(st, BOOKING), message=False)
        return self.sp.leaf(st.node, st.step, open_now, preface, answer=False, **self._for_call(st))

    def _targets(self, buttons: list[dict]) -> list[str]:
        """The nodes a decision's buttons lead to, once each."""
        return list(dict.fromkeys(n.id for n in (self.tree.button_target(b.get("payload", "")) for b in buttons) if n))

    def _other_topics(self, st: CallState, preface: list | None = None) -> VoiceResponse:
        """An answer to the caller's words that did not help: its alternatives as the likely topics' keys,
        after `preface` (by default the tree's `not_that`, for a "non")."""
        if preface is None:
            preface = [self.sp.spoken(self.tree.messages["not_that"]["voice"])]
        choices, st.alternatives = st.alternatives, []
        st.state, st.choices, st.back = "choices", choices, st.node
        st.correcting = self.tree.node(st.node).topic
        return self.sp.choices(choices, st.back, st.step, preface)

    def _goto(
        self,
        st: CallState,
        node_id: str,
        open_now: bool,
        preface: list[str] = (),
        referral: str | None = None,
        alternatives: list[str] = (),
    ) -> VoiceResponse:
        """To a menu or a leaf; `referral`: what the caller's words named, said in that leaf's answer;
        `alternatives`: the answer's other likely topics, offered if it did not help (`_other_topics`)."""
        st.retries = st.misses = st.offer_retries = 0
        st.alternatives, st.correcting = list(alternatives), None
        st.transfer_failed = False
        st.path.append(node_id)
        st.node = node_id
        if node_id == ROOT or self.tree.node(node_id).destination is None:
            st.state = "menu"
            return self.sp.menu(node_id, st.step, preface)
        node = self.tree.node(node_id)
        st.state, st.unmatched = "leaf", False
        # The person's node is no answer ("je vous mets en relation"): the transfer, or its failure, tells.
        st.reached_leaf = st.reached_leaf or node.id != self.sp.human_id
        if node.id == self.sp.human_id and self.sp.can_dial(node, open_now):
            st.state, st.transferred = "transfer", True
            # The tree's own answer ("je vous mets en relation...") announces the transfer.
            return self.sp.dial(
                node.id, node.contact, st.step, list(preface) + [self.sp.node_voice(node)], announce=False, caller_id=st.called
            )
        return self.sp.leaf(node_id, st.step, open_now, preface, referral=referral, **self._for_call(st))

    def _speech(self, st: CallState, d: Decision, open_now: bool, asr: float | None = None) -> VoiceResponse:
        st.confidence = d.confidence
        understood = d.action in ("answer", "clarify") and d.matched_by != "none"
        if understood and d.node in self.tree.nodes:
            if asr is not None and asr < self.confirm_below and d.node != self.sp.human_id:
                # Twilio was unsure of the words: "vous avez dit : titre de séjour. C'est bien cela ?"
                back = st.back if st.state in ("choices", "confirm") else st.node
                st.retries = 0
                st.state, st.choices, st.back = "confirm", [d.node], back
                return self.render(st, open_now)
            resp = self._goto(st, d.node, open_now, referral=d.referral, alternatives=self._targets(d.alternatives))
            if st.state == "leaf" and st.node != self.sp.human_id:  # the words got an answer (the correction's base)
                st.inputs[-1]["answered"] = True
            return resp
        if d.action == "answer" and d.topic == NAVIGATE_INTENT:
            return self._goto(st, ROOT, open_now)
        if d.action == "answer" and d.topic in CONVERSATION_INTENTS:
            st.retries = st.misses = 0
            if d.topic == "goodbye":
                st.state = "ended"
                resp = VoiceResponse()
                self.sp.say(resp, d.voice)
                resp.hangup()
                return resp
            if d.topic == "deny" and st.state == "leaf" and st.alternatives:  # "non, c'est pas ça"
                return self._other_topics(st)
            return self._again(st, open_now, self.sp.conversation(d.topic, d.voice))
        # Not understood.
        st.unmatched = True
        st.misses += 1
        st.retries += 1
        if st.retries >= self.max_retries or st.state == "offer":
            return self._miss(st, None, open_now, counted=True)
        if st.state in ("pan_slots", "pan_confirm", "pan_cancel_confirm"):  # "celui de 9 h 30": the keys again
            return self._miss(st, "not_a_choice", open_now, counted=True)
        choices = self._targets(d.buttons)
        guessed = bool(choices) and not d.menu and d.confidence >= self.likely_topics_from
        if st.misses == 1 and not guessed:  # nothing understood: once "reformulez", then the likely topics
            return self.sp.rephrase(
                self._route(st),
                st.node if st.state != "choices" else st.back,
                st.step,
                [o.target for o in self.options(st, open_now) if o.kind == "node"],
                question=d.voice if d.menu else "",  # "De quelle démarche s'agit-il ?"
            )
        if d.menu:  # nothing named twice: the phone's own main menu (the chat's menu buttons are not the phone's)
            st.state, st.node = "menu", ROOT
            st.path.append(ROOT)
            return self.sp.menu(ROOT, st.step)
        if not choices:
            return self.render(st, open_now, [self.sp.text("rephrase")])
        back = st.back if st.state == "choices" else st.node
        st.state, st.choices, st.back = "choices", choices, back
        return self.sp.choices(choices, back, st.step)

    def _silent_after_answer(self, st: CallState, open_now: bool) -> VoiceResponse:
        """Silence after a real answer: the caller was oriented. Its number once more (group by group,
        as key 3 says it), or the answer again when it names none; at the next miss, goodbye. Never
        the offer of a person nor "je n'ai pas pu vous orienter": the call stays answered."""
        preface = [self.sp.text("reprompt_silence")]
        if st.retries >= 1:
            st.state = "ended"
            return self.sp.goodbye(preface)
        st.retries += 1
        return self.render(st, open_now, preface, number_only=self.sp.leaf_number(self.tree.node(st.node)) is not None)

    def _miss(self, st: CallState, reprompt: str | None, open_now: bool, counted: bool = False) -> VoiceResponse:
        if not counted:
            st.retries += 1
        preface = [self.sp.text(reprompt)] if reprompt else []
        if st.state == "offer":
            st.offer_retries += 1
            if st.offer_retries >= self.max_offer_retries:
                st.state = "ended"
                return self.sp.goodbye(preface + self.sp.with_closure(open_now, self.sp.text("closing")))
            return self.render(st, open_now, preface)
        if st.retries >= self.max_retries:
            back = st.back if st.state == "choices" else st.node
            st.state, st.back, st.offer_retries = "offer", back, 0
            st.node = back
            return self.sp.offer(st.node, st.step, open_now, preface, not st.transfer_failed)
        return self.render(st, open_now, preface)
