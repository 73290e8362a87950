"""TwiML for the phone menu, built with twilio's VoiceResponse objects (never string templates).

Pure: a tree node + the call's state in, a VoiceResponse out; no Sanic, no store. Every text
comes from bot/tree.yml (the `phone:` section and the nodes' `voice` answers) rendered for the
préfecture; every Say carries the préfecture's voice and language, every Gather listens to the
keypad and to speech in that language, with hints from the tree and an absolute action URL on
PUBLIC_BASE_URL whose query carries only the node and the step.
"""

from __future__ import annotations

from twilio.twiml.voice_response import Gather, VoiceResponse

from bot.core.config import Prefecture, e164
from bot.core.text import norm
from bot.core.tree import PHONE_KEYS, Tree, render
from ivr.menu import phone_tree
from ivr.options import Options
from ivr.pan_prompts import PanPrompts
from ivr.voice import BOOKING, MAX_OPTIONS, ROOT, WEBHOOK_PREFIX, Contact, Foreign, Option, Voice, filler_pattern, xml_safe

__all__ = [
    "BOOKING",
    "MAX_OPTIONS",
    "ROOT",
    "WEBHOOK_PREFIX",
    "Contact",
    "Option",
    "Prompt",
    "Speaker",
    "xml_safe",
]

STEP_MARK = 987654321987  # the step a kept prompt is built with; the call's own replaces it in the URLs
PROMPTS_KEPT = 2048  # prompts kept per préfecture (all are forgotten at once beyond: the tree has far fewer)


class Prompt:
    """A prompt's TwiML as text, built once per préfecture and prompt (`Speaker._prompt`) and kept:
    only the step in its URLs (the Gather's action, the Redirect) changes from call to call.
    `response()` builds the VoiceResponse itself, for what changes its verbs (`keypad_only`)."""

    __slots__ = ("text", "step", "build")

    def __init__(self, text: str, step: int, build):
        self.text, self.step, self.build = text, step, build

    def to_xml(self) -> str:
        return self.text.replace(f"step={STEP_MARK}", f"step={self.step}")

    def response(self) -> VoiceResponse:
        return self.build(self.step)


class Speaker(Voice, Options, PanPrompts):
    """Renders the phone texts of one préfecture and builds the TwiML of each prompt."""

    def __init__(self, tree: Tree, pref: Prefecture, base_url: str, sms: bool = False):
        """`sms`: the SMS is configured (bot.settings.sms): answers naming a website and bookings offer it."""
        self._texts: dict[tuple, str] = {}  # Voice.text's sentences that take only a key and a label
        self._spoken_texts: dict[tuple[str, str], str] = {}  # Voice.spoken, by the tree's text and referral
        self.tree, self.pref, self.base_url = phone_tree(tree), pref, base_url.rstrip("/")
        self.sms = sms
        self.chat_tree = tree
        self.phone = tree.phone
        self.settings = tree.phone["settings"]
        self.language = pref.get("voice.language")
        self.voice = pref.get("voice.voice")
        self.keys = {k: str(tree.phone[k]) for k in PHONE_KEYS}
        human = tree.topic_node("human_handoff")
        self.human_id = human.id
        self.default_mailbox = human.mailbox
        self.standard = self.contact(human.contact)
        spoken = {}
        prefixes = [""] + [norm(str(p)) + " " for p in self.phone.get("spoken_key_prefixes") or []]
        for key, phrases in (self.phone.get("spoken_keys") or {}).items():
            for phrase in phrases:
                for prefix in prefixes:  # "1", "touche 1", "le un", "numero 3"
                    spoken.setdefault((prefix + norm(str(phrase))).strip(), ("key", str(key)))
        for kind in ("yes", "no", "done", "person", "pan_cancel"):
            for phrase in self.phone.get(f"spoken_{kind}") or []:
                spoken[norm(str(phrase))] = (kind, None)
        self.spoken_words = spoken
        table = self.phone.get("spoken_options") or {}  # an answer's own options asked for aloud (Voice.spoken_option)
        self.option_words = {k: {norm(str(w)) for w in table.get(k) or []} for k in ("number", "sms", "not")}
        self.option_max_words = int(table.get("max_words", 0))
        self.fillers = filler_pattern(self.phone.get("spoken_fillers"))
        self._hints: dict[tuple, str] = {}  # hints, by the prompt's nodes
        self._prompts: dict[tuple, str] = {}  # kept prompts' TwiML (step STEP_MARK), by what they say

    # ---- TwiML -----------------------------------------------------------------------------
    def say(self, parent, text: "str | Foreign") -> None:
        voice, language = (text.voice, text.language) if isinstance(text, Foreign) else (self.voice, self.language)
        text = xml_safe(text.text if isinstance(text, Foreign) else text)
        if text:
            parent.say(text, voice=voice, language=language)

    def gather(self, resp: VoiceResponse, route: str, node: str, step: int, hint_nodes: list[str] | None = None) -> Gather:
        return resp.gather(
            input="dtmf speech",
            action=self.url(route, node=node, step=step),
            method="POST",
            language=self.language,
            timeout=int(self.settings["gather_timeout"]),
            speech_timeout=str(self.settings.get("speech_timeout", "auto")),
            action_on_empty_result=True,
            num_digits=1,
            finish_on_key="",
            hints=self.hints(hint_nodes),
        )

    def fallback(self, resp: VoiceResponse, route: str, node: str, step: int) -> None:
        """The verb after every Gather: should the Gather ever end without requesting its action
        (Twilio skips it on some errors), the call comes back to the same action as a silence,
        instead of falling off the end of the document and hanging up."""
        resp.redirect(self.url(route, node=node, step=step), method="POST")

    def _prompt(
        self,
        route: str,
        node: str,
        step: int,
        preface: list[str],
        intro: list[str],
        options: list[Option],
        hint_nodes: list[str],
        after: tuple = (),
        keep: bool = True,
    ) -> Prompt | VoiceResponse:
        """A Gather saying the preface, the intro, `after` (("number", digits) or ("say", text)
        items) and the options, then the fallback Redirect. `keep`: the TwiML depends only on
        these arguments and the tree (not on a caller's booking), so its text is kept and reused."""
        parts = (route, node, tuple(preface), tuple(intro), tuple(options), tuple(hint_nodes), tuple(after))
        if not keep:
            return self._prompt_response(parts, step)
        text = self._prompts.get(parts)
        if text is None:
            text = self._prompt_response(parts, STEP_MARK).to_xml()
            if len(self._prompts) >= PROMPTS_KEPT:
                self._prompts.clear()
            self._prompts[parts] = text
        return Prompt(text, step, lambda s: self._prompt_response(parts, s))

    def _prompt_response(self, parts: tuple, step: int) -> VoiceResponse:
        route, node, preface, intro, options, hint_nodes, after = parts
        resp = VoiceResponse()
        g = self.gather(resp, route, node, step, list(hint_nodes))
        for text in preface + intro:
            self.say(g, text)
        for kind, value in after:
            if kind == "number":
                self.say_number(g, value)
            else:
                self.say(g, value)
        for option in options:
            if option.text:
                self.say(g, option.text)
        self.fallback(resp, route, node, step)
        return resp

    def menu(self, node_id: str, step: int, preface: list[str] = ()) -> Prompt:
        intro = render(self.tree.menu_voice, self.pref) if node_id == ROOT else self.node_voice(self.tree.node(node_id))
        options = self.menu_options(node_id)
        targets = [o.target for o in options if o.kind == "node"]
        # A menu listens for its options and what lies under them ("carte grise" at the main menu).
        hint_nodes = ([] if node_id == ROOT else [node_id]) + targets
        hint_nodes += [c for t in targets for c in self.tree.node(t).children]
        return self._prompt("menu", node_id, step, preface, [intro], options, hint_nodes)

    def welcome(self, step: int) -> Prompt:
        return self.menu(ROOT, step, [self.text("automated_welcome")])

    def welcome_xml(self, step: int) -> str:
        return self.welcome(step).to_xml()  # the kept prompt's text, this step in its URLs

    def keypad_welcome(self) -> str:
        """The answer to an incoming call that failed (the call could not be recorded): the notice, one
        apology, then the main menu on the keypad only, at step 0. Built once, at start (`Phone`): it
        needs no store and no NLU; its keys are served from the Gather's URL (ivr/call_hooks.py)."""
        preface = [self.text("automated_welcome"), self.text("incoming_failed")]
        return self.keypad_only(self.menu(ROOT, 0, preface)).to_xml()

    def say_number(self, parent, number: str) -> None:
        self.say(parent, self.text("number_is"))
        for i, group in enumerate(self.spoken_groups(number)):
            if i:
                parent.pause(length=1)
            self.say(parent, group)
        parent.pause(length=1)

    def leaf(
        self,
        node_id: str,
        step: int,
        open_now: bool,
        preface: list[str] = (),
        number_only: bool = False,
        rate: bool = True,
        answer: bool = True,
        sms: bool = True,
        pan: str = "book",
        referral: str | None = None,
    ) -> Prompt:
        """The leaf's answer (unless `answer` is False: only its options), its number, its options
        (`pan`: the PAN leaf's offer, leaf_options); `referral`: what the caller's words named (node_voice)."""
        node = self.tree.node(node_id)
        options = self.leaf_options(node, open_now, rate, sms, pan)
        intro = [] if number_only or not answer else [self.node_voice(node, referral)]
        if node.id == self.human_id and not self.can_dial(node, open_now):
            intro = []  # "je vous mets en relation" would be untrue: the notice says why not
        notice = self.leaf_notice(node, open_now) if answer and not number_only else None
        closure, notice = self.closure_notice(open_now, intro, notice)
        if closure:  # said first, as the chat puts it before its answer
            intro = [closure] + intro
        contact = self.leaf_number(node)
        after = []
        if contact and (number_only or (answer and contact.kind == "short" and not self.says_number(node))):
            after.append(("number", contact.number))
        if notice:
            after.append(("say", notice))
        return self._prompt(
            "leaf", node_id, step, preface, intro, options, [o.target for o in options if o.kind == "node"] + [node_id], after
        )

    def choices(self, choices: list[str], back: str, step: int, preface: list[str] = ()) -> Prompt:
        options = self.choices_options(choices, back)
        return self._prompt("choices", back, step, preface, [self.text("likely_topics")], options, choices)

    def confirm(self, node_id: str, back: str, step: int, preface: list[str] = ()) -> Prompt:
        return self._prompt("choices", back, step, preface, [], self.confirm_options(node_id, back), [node_id])

    def offer(self, node_id: str, step: int, open_now: bool, preface: list[str] = (), allow_transfer: bool = True) -> Prompt:
        options = self.offer_options(node_id, open_now, allow_transfer)
        notice = self.offer_notice(open_now, allow_transfer)
        # After a failed transfer the preface says why; otherwise the caller missed three times, and a
        # miss that says why ("Je n'ai rien entendu.") is not followed by "Je n'ai pas compris.".
        intro = ([self.text("offer_person_or_voicemail")] if allow_transfer and not preface else []) + (
            self.with_closure(open_now, notice) if notice else []
        )
        return self._prompt("offer", node_id, step, preface, intro, options, [self.human_id])

    def rephrase(
        self, route: str, node_id: str, step: int, hint_nodes: list[str] | None = None, question: str = ""
    ) -> VoiceResponse:
        """Speech not understood: `question` (the router's, e.g. "De quelle démarche s'agit-il ?"), else
        the phone's request to rephrase."""
        resp = VoiceResponse()
        g = self.gather(resp, route, node_id, step, hint_nodes)
        self.say(g, question or self.text("rephrase"))
        self.fallback(resp, route, node_id, step)
        return resp

    def dial(
        self,
        node_id: str,
        contact_path: str,
        step: int,
        preface: list[str] = (),
        announce: bool = True,
        caller_id: str | None = None,
    ) -> VoiceResponse:
        contact = self.contact(contact_path)
        resp = VoiceResponse()
        for text in preface:
            self.say(resp, text)
        if announce:
            self.say(resp, self.text("transfer_now", contact=self.contact_name(contact_path)))
        # callerId: the préfecture's own Twilio number the caller dialled (always accepted by Twilio);
        # no answer within dial_timeout -> the Dial action offers the voicemail.
        resp.dial(
            e164(contact.number),
            action=self.url("dialed", node=node_id, step=step),
            method="POST",
            timeout=int(self.settings["dial_timeout"]),
            caller_id=caller_id,
        )
        return resp

    def record(self, node_id: str, mailbox: str, step: int, preface: list[str] = ()) -> VoiceResponse:
        resp = VoiceResponse()
        for text in preface:
            self.say(resp, text)
        self.say(resp, self.text("voicemail_prompt", key=self.keys["back_key"]))
        resp.record(
            action=self.url("voicemail", node=node_id, mailbox=mailbox, step=step),
            method="POST",
            max_length=int(self.settings["record_max_length"]),
            timeout=int(self.settings["record_timeout"]),
            finish_on_key=self.keys["back_key"],
            play_beep=True,
            transcribe=True,
            transcribe_callback=self.url("recording", node=node_id, mailbox=mailbox),
            recording_status_callback=self.url("recording", node=node_id, mailbox=mailbox),
            recording_status_callback_method="POST",
        )
        # Nothing recorded: Twilio goes on to the next verb, which comes back to us.
        resp.redirect(self.url("voicemail", node=node_id, mailbox=mailbox, step=step), method="POST")
        return resp

    def voicemail_now(self, node_id: str, step: int) -> VoiceResponse:
        """A transfer not answered while the call's row cannot be read: why, then the voicemail the
        offer would name (`offer_mailbox`) at once, at the Dial's step (the row's, should the store
        answer again before the message ends: `Flow.recorded` then applies to it)."""
        mailbox = self.offer_mailbox(node_id)
        why = [self.text("transfer_failed"), self.text("transfer_failed_voicemail", service=self.service(mailbox))]
        return self.record(node_id, mailbox, step, why)

    def voicemail_done(self, mailbox: str, reference: str | None = None) -> VoiceResponse:
        """The thanks, then the message's reference digit by digit (when its ticket is written)."""
        resp = VoiceResponse()
        self.say(resp, self.text("voicemail_thanks", service=self.service(mailbox)))
        if reference:
            self.say(resp, self.text("voicemail_reference", digits=self.reference_digits(reference)))
        self.say(resp, self.text("goodbye"))
        resp.hangup()
        return resp

    def goodbye(self, preface: list[str] = ()) -> VoiceResponse:
        resp = VoiceResponse()
        for text in list(preface) + [self.text("goodbye")]:
            self.say(resp, text)
        resp.hangup()
        return resp

    def apology(self, open_now=None) -> VoiceResponse:
        """Only where no call can be served at all (a request without its CallSid). It says the
        standard's hours: after the closure notice on a closure day and the days before it."""
        resp = VoiceResponse()
        for text in self.with_closure(open_now, self.text("apology")):
            self.say(resp, text)
        resp.hangup()
        return resp

    def hold(self, preface: str = "store_busy") -> VoiceResponse:
        """A technical problem in mid-call: one sentence, then the call's current prompt again
        (the incoming-call route replays a known call's last answer), never a hang-up. `held=1`
        tells that route the call is known: while its row cannot be read it waits (`waiting`)
        rather than start the call over."""
        resp = VoiceResponse()
        self.say(resp, self.text(preface))
        resp.pause(length=1)
        resp.redirect(self.url("voice", held=1), method="POST")
        return resp

    def waiting(self, held: int) -> VoiceResponse:
        """A held call whose row still cannot be read: `store_wait_s` of silence, then the replay
        is tried again (the `held`-th try so far)."""
        resp = VoiceResponse()
        resp.pause(length=int(self.settings["store_wait_s"]))
        resp.redirect(self.url("voice", held=held + 1), method="POST")
        return resp

    def hangup(self) -> VoiceResponse:
        """The answer to a webhook for a call that is over: nothing to say, nothing changed."""
        resp = VoiceResponse()
        resp.hangup()
        return resp

    def keypad_only(self, resp: Prompt | VoiceResponse) -> VoiceResponse:
        """The same prompt listening to keys only (speech cannot be understood right now), without
        the main menu's invitation to speak."""
        if isinstance(resp, Prompt):
            resp = resp.response()
        invitation = xml_safe(render(self.tree.menu_voice, self.pref))
        for verb in resp.verbs:
            if getattr(verb, "name", "") == "Gather":
                verb.attrs["input"] = "dtmf"
                for attr in ("hints", "speechTimeout"):
                    verb.attrs.pop(attr, None)
                verb.verbs = [v for v in verb.verbs if getattr(v, "value", None) != invitation]
        return resp

    @staticmethod
    def empty() -> VoiceResponse:
        return VoiceResponse()


def to_xml(resp: VoiceResponse) -> str:
    return resp.to_xml()
