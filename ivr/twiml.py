"""TwiML for the phone menu, built with twilio's VoiceResponse objects (never string templates).

Pure: a tree node + the call's state in, a VoiceResponse out; no Sanic, no store. Every text
comes from bot/tree.yml (the `phone:` section and the nodes' `voice` answers) rendered for the
préfecture; every Say carries the préfecture's voice and language, every Gather listens to the
keypad and to speech in that language, with hints from the tree and an absolute action URL on
PUBLIC_BASE_URL whose query carries only the node and the step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, VoiceResponse

from bot.core.config import Prefecture, e164
from bot.core.masking import clean
from bot.core.text import norm
from bot.core.tree import PHONE_KEYS, PLACEHOLDER, Node, Tree, rates_answer, render, website_named
from ivr.menu import phone_tree

ROOT = "root"  # the main menu (the tree's `menu` section)
WEBHOOK_PREFIX = "/webhooks/ivr"
MAX_OPTIONS = 9
MAX_SAY_CHARS = 4000  # Twilio reads at most 4 096 characters per <Say>
MAX_HINT_CHARS = 100  # Twilio: each hint phrase at most 100 characters
MAX_HINTS = 100
BOOKING = "booking"  # the target of the SMS offered after a booking by phone
# Characters XML 1.0 cannot carry at all (ElementTree would write them and break the document).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str, limit: int = MAX_SAY_CHARS) -> str:
    """Text fit for a TwiML element: no control characters, bounded length (escaping is ElementTree's)."""
    text = clean(_NOT_XML.sub(" ", str(text or "")))
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return text


@dataclass(frozen=True)
class Option:
    """One key of a prompt: what it does, and what is said for it (empty: accepted, not said)."""

    key: str
    kind: str  # node | transfer | voicemail | number | repeat | back | main | pan* | feedback | feedback_no | sms
    target: str | None = None  # node id (node, back, main, sms), mailbox id (voicemail), contact path (transfer);
    # sms: the leaf whose link is sent, or BOOKING (the booking just confirmed)
    text: str = ""


@dataclass(frozen=True)
class Contact:
    path: str  # config path, e.g. "ccc.phone"
    number: str | None
    kind: str  # regular | short
    days: dict | None = None  # its own published hours ({"mon": ["09:00-17:00"], ...}); None: the standard's

    @property
    def dialable(self) -> bool:
        return bool(self.number) and self.kind == "regular"


class Speaker:
    """Renders the phone texts of one préfecture and builds the TwiML of each prompt."""

    def __init__(self, tree: Tree, pref: Prefecture, base_url: str, sms: bool = False):
        """`sms`: the SMS is configured (bot.settings.sms): answers naming a website and bookings offer it."""
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
        for key, phrases in (self.phone.get("spoken_keys") or {}).items():
            for phrase in phrases:
                spoken[norm(str(phrase))] = ("key", str(key))
        for kind in ("yes", "no", "person", "pan_cancel"):
            for phrase in self.phone.get(f"spoken_{kind}") or []:
                spoken[norm(str(phrase))] = (kind, None)
        self.spoken_words = spoken

    def spoken_input(self, speech: str) -> tuple[str, str | None] | None:
        """What a short utterance means at any prompt: ("key", "1"), ("yes"|"no"|"person"|"pan_cancel", None) or None."""
        return self.spoken_words.get(norm(speech or ""))

    # ---- texts -----------------------------------------------------------------------------
    def text(self, tid: str, **local) -> str:
        if "key" in local:
            local["key"] = self.key_word(str(local["key"]))
        return render(self.phone[tid], self.pref, local)

    def key_word(self, key: str) -> str:
        return str(self.phone["key_names"].get(key, key))

    def contact(self, path: str | None) -> Contact | None:
        if not path:
            return None
        data = self.pref.get(path)
        return Contact(path, data.get("number"), data.get("kind", "regular"), data.get("days") or None)

    def contact_name(self, path: str) -> str:
        return render(self.phone["contacts"][path], self.pref)

    def service(self, mailbox: str) -> str:
        return render("{mailboxes.%s.service}" % mailbox, self.pref)

    def spoken_groups(self, number: str) -> list[str]:
        """A number said group by group as written: '12 05' -> ['douze', 'zéro cinq']."""
        words = self.phone["number_words"]
        groups = []
        for group in number.split():
            digits = "".join(c for c in group if c.isdigit())
            if not digits:
                continue
            if len(digits) == 2 and digits[0] != "0":
                groups.append(words[int(digits)])
            else:
                groups.append(" ".join(words[int(d)] for d in digits))
        return groups

    def spoken_number(self, number: str) -> str:
        return ", ".join(self.spoken_groups(number))

    def spoken_url(self, url: str) -> str:
        """An address as it is said (tree `phone.url_words`): scheme and "www." dropped, "." -> "point"."""
        words = self.phone.get("url_words") or {}
        url = url.split("://", 1)[-1].rstrip("/")
        url = url[4:] if url.startswith("www.") else url
        parts = re.split("(%s)" % "|".join(re.escape(c) for c in words), url) if words else [url]
        return " ".join(words.get(p, p) for p in parts if p)

    def spoken(self, text: str) -> str:
        """The tree's text as the phone says it: {x.number} group by group, {x.url} spelt out."""
        extra: dict = {"referral": ""}
        for name in PLACEHOLDER.findall(text or ""):
            if name.endswith(".number") or name.endswith(".url"):
                value = render("{%s}" % name, self.pref)
                extra[name] = self.spoken_number(value) if name.endswith(".number") else self.spoken_url(value)
        return render(text, self.pref, extra)

    def node_voice(self, node: Node) -> str:
        # {referral} names the body that handles an off-topic question in the chat; the phone
        # keeps the general answer (the state of a call does not carry the caller's words).
        return self.spoken(node.voice)

    def says_number(self, node: Node) -> bool:
        """Whether the leaf's answer itself says its contact's number."""
        return bool(node.contact) and "{%s.number}" % node.contact in (node.voice or "")

    # ---- URLs ------------------------------------------------------------------------------
    def url(self, route: str, **query) -> str:
        query = {k: v for k, v in query.items() if v is not None}
        return f"{self.base_url}{WEBHOOK_PREFIX}/{route}" + (f"?{urlencode(query)}" if query else "")

    # ---- options ---------------------------------------------------------------------------
    def _structural(self, back_target: str, at_root_level: bool, say_back: bool = True) -> list[Option]:
        # '*' is announced once, in the main menu; after an answer only '0' is said ('#' still works).
        k = self.keys
        options = [Option(k["repeat_key"], "repeat")]
        if at_root_level or not say_back:  # '#' and '0' both lead to the main menu: say one of them
            options.append(Option(k["back_key"], "back", back_target if not at_root_level else ROOT))
        else:
            options.append(Option(k["back_key"], "back", back_target, self.text("back", key=k["back_key"])))
        options.append(Option(k["main_menu_key"], "main", ROOT, self.text("main_menu", key=k["main_menu_key"])))
        return options

    def _node_options(self, nodes: list[Node], keys: list[str] | None = None) -> list[Option]:
        if len(nodes) > MAX_OPTIONS:
            raise ValueError(f"a phone menu says at most {MAX_OPTIONS} options, got {len(nodes)}")
        keys = keys or [str(n.key) for n in nodes]
        return [
            Option(key, "node", n.id, self.text("option", label=render(n.label, self.pref), key=key))
            for key, n in zip(keys, nodes)
        ]

    def menu_options(self, node_id: str) -> list[Option]:
        if node_id == ROOT:
            k = self.keys
            return self._node_options(self.tree.children(None)) + [
                Option(k["repeat_key"], "repeat", text=self.text("repeat", key=k["repeat_key"])),
                Option(k["back_key"], "repeat"),
            ]
        node = self.tree.node(node_id)
        return self._node_options(self.tree.children(node_id)) + self._structural(node.parent or ROOT, node.parent is None)

    def can_dial(self, node: Node, open_now) -> bool:
        """A transfer only to a regular number, and only when that line answers: the standard in its
        hours (never on a public holiday); another line (the CCC) in its own published hours
        (`days` in its config, `open_now.contact_open`), or the standard's when it has none."""
        contact = self.contact(node.contact)
        if not node.transfer or contact is None or not contact.dialable:
            return False
        if contact.path == self.standard.path:
            return bool(open_now)
        contact_open = getattr(open_now, "contact_open", None)
        return contact_open(contact.days) if contact_open is not None else bool(open_now)

    def leaf_notice(self, node: Node, open_now) -> str | None:
        """Why a transfer is not offered (closed, or no known number); a message can be left instead."""
        contact = self.contact(node.contact)
        if not node.transfer or contact is None or self.can_dial(node, open_now):
            return None
        if contact.path == self.standard.path:
            if not contact.number:
                return self.text("no_transfer_voicemail")
            # The hours are said once: by the person's leaf; the other answers only say it is closed.
            return self.text("closed_voicemail" if node.id == self.human_id else "closed_now_voicemail")
        if contact.dialable:
            return self.text("contact_closed_voicemail", contact=self.contact_name(contact.path))
        return None

    def voicemail_option(self, mailbox: str) -> Option:
        """ "Pour laisser un message au service …, tapez N": the voicemail of `mailbox`."""
        key = self.keys["voicemail_key"]
        return Option(key, "voicemail", mailbox, self.text("voicemail_offer", service=self.service(mailbox), key=key))

    def leaf_mailbox(self, node: Node, open_now) -> str | None:
        if node.mailbox:
            return node.mailbox
        if self.leaf_notice(node, open_now):  # the line cannot be reached now: a message instead
            return self.default_mailbox
        return None

    def leaf_number(self, node: Node) -> Contact | None:
        contact = self.contact(node.contact)
        if not contact or not contact.number:
            return None
        if contact.kind == "short" or (node.transfer and self.can_dial(node, True)):
            return contact
        return None

    # ---- the link by SMS ---------------------------------------------------------------------
    def sms_link(self, node: Node) -> str | None:
        """The website a leaf's answer names aloud ({ants.url}), as the address to send."""
        name = website_named(node)
        return render("{%s}" % name, self.pref) if name else None

    def sms_body(self, node: Node) -> str:
        """The SMS of a leaf: the tree's `phone.sms_body` with the leaf's label and link."""
        return self.text("sms_body", label=render(node.label, self.pref), url=self.sms_link(node))

    def booking_sms_body(self, booking: dict) -> str:
        """The SMS after a booking: when, where, the reference and the calendar link (`pan.phone.sms_body`)."""
        from datetime import datetime

        from bot.services import pan

        spec = pan.site(self.pref, booking["site"])
        return self.pan_text(
            "sms_body",
            when=pan.say_when(datetime.strptime(booking["slot_start"], pan.STAMP)),
            site=spec["name"],
            address=spec["address"]["text"],
            reference=booking["reference"],
            url=f"{self.base_url}/rdv/ics/{booking['reference']}?t={booking['token']}",
        )

    def sms_option(self, target: str) -> Option:
        return Option(self.keys["sms_key"], "sms", target, self.text("sms_offer", key=self.keys["sms_key"]))

    def leaf_options(self, node: Node, open_now: bool, rate: bool = True, sms: bool = True) -> list[Option]:
        """Children (a leaf may have some), then transfer, voicemail, number, PAN, the link by SMS (when
        configured and the answer names a website; `sms` False once sent), then * # 0, then the rating
        ("si cette réponse vous a aidé", said last; `rate` False once the call has rated)."""
        k = self.keys
        options = self._node_options(self.tree.children(node.id)) if node.children else []
        if self.can_dial(node, open_now):
            options.append(
                Option(
                    k["transfer_key"],
                    "transfer",
                    node.contact,
                    self.text("transfer_offer", contact=self.contact_name(node.contact), key=k["transfer_key"]),
                )
            )
        mailbox = self.leaf_mailbox(node, open_now)
        if mailbox:
            options.append(self.voicemail_option(mailbox))
        if self.leaf_number(node) and (self.contact(node.contact).kind == "short" or self.can_dial(node, open_now)):
            options.append(Option(k["number_key"], "number", node.contact, self.text("hear_number", key=k["number_key"])))
        if node.destination == "pan_rdv" and self.pref.get("pan.sites"):
            offer = self.pan_text("offer", key=k["pan_key"], cancel_key=self.key_word(k["pan_cancel_key"]))
            options.append(Option(k["pan_key"], "pan", None, offer))
            options.append(Option(k["pan_cancel_key"], "pan_cancel", None))  # said in the same sentence
        if self.sms and sms and self.sms_link(node):
            options.append(self.sms_option(node.id))
        options += self._structural(node.parent or ROOT, node.parent is None, say_back=False)
        if rate and rates_answer(node):
            options.append(
                Option(
                    k["feedback_key"],
                    "feedback",
                    node.id,
                    self.text("feedback_offer", key=k["feedback_key"], no_key=k["feedback_no_key"]),
                )
            )
            options.append(Option(k["feedback_no_key"], "feedback_no", node.id))  # said in the same sentence
        return options

    # ---- the PAN offer by phone (slots chosen by key, confirmed, reference read digit by digit) ----
    def pan_text(self, tid: str, **local) -> str:
        from bot.core import texts

        if "key" in local:
            local["key"] = self.key_word(str(local["key"]))
        return texts.say(f"pan.phone.{tid}", self.pref, **local)

    def pan_slot_words(self, slot: dict) -> dict:
        from datetime import datetime

        from bot.services import pan

        return {
            "when": pan.say_when_voice(datetime.strptime(slot["start"], pan.STAMP)),
            "site": pan.site(self.pref, slot["site"])["name"],
        }

    def pan_slot_options(self, slots: list[dict], node_id: str) -> list[Option]:
        options = [
            Option(str(i), "pan_slot", str(i - 1), self.pan_text("choice", key=str(i), **self.pan_slot_words(s)))
            for i, s in enumerate(slots, start=1)
        ]
        return options + self._structural(node_id, False)

    def pan_confirm_options(self, choice: dict, node_id: str) -> list[Option]:
        k = self.keys
        return [
            Option("1", "pan_book", None, self.pan_text("confirm", key="1", **self.pan_slot_words(choice))),
            Option(k["back_key"], "pan_back", None, self.text("back", key=k["back_key"])),
            Option(k["main_menu_key"], "main", ROOT, self.text("main_menu", key=k["main_menu_key"])),
        ]

    def pan_slots(self, node_id: str, slots: list[dict], step: int, preface: list[str] = ()) -> VoiceResponse:
        return self._prompt(
            "leaf", node_id, step, preface, [self.pan_text("slots_intro")], self.pan_slot_options(slots, node_id), [node_id]
        )

    def pan_confirm(self, node_id: str, choice: dict, step: int, preface: list[str] = ()) -> VoiceResponse:
        return self._prompt("leaf", node_id, step, preface, [], self.pan_confirm_options(choice, node_id), [node_id])

    def pan_place(self, site_id: str) -> str:
        """Where an appointment is: the site's name, then the parts of its address the name does not
        say already ("Sous-préfecture, 15200 Mauriac" after "... de la sous-préfecture de Mauriac":
        "15200 Mauriac")."""
        from bot.services import pan

        spec = pan.site(self.pref, site_id)
        name, address = str(spec["name"]), str((spec.get("address") or {}).get("text") or "").strip()
        parts = [p.strip() for p in address.split(",") if p.strip() and norm(p) not in norm(name)]
        return ", ".join([name, *parts])

    def reference_digits(self, reference: str) -> str:
        from bot.services import pan

        return pan.reference_digits(reference, list(self.phone["number_words"]))

    def pan_booked_options(self, target: dict | None = None, sms: bool = True) -> list[Option]:
        """After a booking: its link by SMS (when configured, the number is not hidden, and `sms`: not
        yet sent), the repeat key, the main menu."""
        k = self.keys
        options = [self.sms_option(BOOKING)] if self.sms and sms and not (target or {}).get("hidden") else []
        return options + [
            Option(k["repeat_key"], "repeat", text=self.text("repeat", key=k["repeat_key"])),
            Option(k["main_menu_key"], "main", ROOT, self.text("main_menu", key=k["main_menu_key"])),
        ]

    def pan_booked(
        self, target: dict, step: int, preface: list[str] = (), sms: bool = True, message: bool = True
    ) -> VoiceResponse:
        """The booking said (unless `message` is False: after the SMS's outcome): when, where (the
        site's address), the reference digit by digit, what to bring, how to cancel; then the link by
        SMS (see pan_booked_options), the repeat key and the main menu (silence ends the call, see Flow)."""
        from datetime import datetime

        from bot.core import texts
        from bot.services import pan

        when = pan.say_when_voice(datetime.strptime(target["start"], pan.STAMP))
        said = [
            self.pan_text(
                "booked", when=when, site=self.pan_place(target["site"]), digits=self.reference_digits(target["reference"])
            ),
            self.pan_text("booked_hidden") if target.get("hidden") else "",
            texts.say("pan.bring", self.pref),
            "" if target.get("hidden") else self.pan_text("booked_cancel_how"),
        ]
        node = target.get("node") or ROOT
        intro = [t for t in said if t] if message else []
        return self._prompt("leaf", node, step, preface, intro, self.pan_booked_options(target, sms), [node])

    def pan_cancel_ask(self, node_id: str, step: int, preface: list[str] = ()) -> VoiceResponse:
        """Asks for the reference of the appointment to cancel: eight digits typed, or said."""
        resp = VoiceResponse()
        g = resp.gather(
            input="dtmf speech",
            action=self.url("leaf", node=node_id, step=step),
            method="POST",
            language=self.language,
            timeout=int(self.settings.get("reference_timeout", self.settings["gather_timeout"])),
            speech_timeout=str(self.settings.get("speech_timeout", "auto")),
            action_on_empty_result=True,
            num_digits=8,
            finish_on_key="",
            hints=self.hints([node_id]),
        )
        for text in list(preface) + [self.pan_text("cancel_ask")]:
            self.say(g, text)
        self.fallback(resp, "leaf", node_id, step)
        return resp

    def spoken_digits(self, speech: str) -> str:
        """The digits in what a caller said: '12 45 67 89', '1 2 4 5', 'douze quarante-cinq' (the
        tree's number_words, 0 to 99) -> '12456789', '1245', '1245'; anything else is dropped."""
        words = {norm(w): i for i, w in enumerate(self.phone["number_words"])}
        out = []
        for token in re.findall(r"[\w'-]+", speech or ""):
            if token.isdigit():
                out.append(token)
            elif norm(token) in words:
                value = words[norm(token)]
                out.append(str(value) if value < 10 else f"{value:02d}")
        return "".join(out)

    def pan_cancel_confirm_options(self, target: dict) -> list[Option]:
        from datetime import datetime

        from bot.services import pan

        k = self.keys
        when = pan.say_when_voice(datetime.strptime(target["start"], pan.STAMP))
        site = pan.site(self.pref, target["site"])["name"]
        return [
            Option("1", "pan_cancel_do", None, self.pan_text("cancel_confirm", key="1", when=when, site=site)),
            Option(k["back_key"], "pan_cancel", None, self.text("back", key=k["back_key"])),
            Option(k["main_menu_key"], "main", ROOT, self.text("main_menu", key=k["main_menu_key"])),
        ]

    def pan_cancel_confirm(self, node_id: str, target: dict, step: int, preface: list[str] = ()) -> VoiceResponse:
        return self._prompt("leaf", node_id, step, preface, [], self.pan_cancel_confirm_options(target), [node_id])

    def choices_options(self, choices: list[str], back: str) -> list[Option]:
        nodes = [self.tree.node(c) for c in choices][: MAX_OPTIONS - 1]
        at_root = back == ROOT
        return self._node_options(nodes, [str(i) for i in range(1, len(nodes) + 1)]) + self._structural(back, at_root)

    def confirm_options(self, node_id: str, back: str) -> list[Option]:
        """After speech heard with a low confidence: 1 (or "oui") goes there, 2 (or "non") asks again."""
        label = render(self.tree.node(node_id).label, self.pref)
        label = label[:1].lower() + label[1:]  # said inside a sentence: "vous avez dit : titre de séjour..."
        return [
            Option("1", "node", node_id, self.text("confirm", label=label, key="1")),
            Option("2", "reject", back),
        ] + self._structural(back, back == ROOT, say_back=False)

    def confirm(self, node_id: str, back: str, step: int, preface: list[str] = ()) -> VoiceResponse:
        return self._prompt("choices", back, step, preface, [], self.confirm_options(node_id, back), [node_id])

    def offer_options(self, node_id: str, open_now: bool, allow_transfer: bool = True) -> list[Option]:
        k = self.keys
        options = []
        if allow_transfer and open_now and self.standard.dialable:
            options.append(
                Option(
                    k["transfer_key"],
                    "transfer",
                    self.standard.path,
                    self.text("transfer_offer", contact=self.contact_name(self.standard.path), key=k["transfer_key"]),
                )
            )
        mailbox = self.offer_mailbox(node_id)
        options.append(self.voicemail_option(mailbox))
        options.append(Option(k["repeat_key"], "repeat", text=self.text("repeat", key=k["repeat_key"])))
        options.append(Option(k["main_menu_key"], "main", ROOT, self.text("main_menu", key=k["main_menu_key"])))
        return options

    def offer_notice(self, open_now: bool, allow_transfer: bool = True) -> str | None:
        if not allow_transfer:
            return None
        if not self.standard.number:
            return self.text("no_transfer_voicemail")
        return None if open_now else self.text("closed_voicemail")

    def offer_mailbox(self, node_id: str) -> str:
        node = self.tree.nodes.get(node_id)
        return (node.mailbox if node is not None and node.mailbox else None) or self.default_mailbox

    # ---- hints -----------------------------------------------------------------------------
    def hints(self, first: list[str] | None = None) -> str:
        """Speech hints of one prompt: the vocabulary of its own node and options (`phone.hints`, else
        their spoken labels), then the words every prompt understands (`phone.hints_always`)."""
        table = self.phone.get("hints") or {}
        phrases: list[str] = []
        for node_id in first or []:
            node = self.tree.nodes.get(node_id)
            if node is None:
                continue
            for phrase in table.get(node_id) or [render(node.label, self.pref)]:
                phrase = xml_safe(str(phrase).replace(",", " "), MAX_HINT_CHARS).strip()
                if phrase and phrase.lower() not in (p.lower() for p in phrases):
                    phrases.append(phrase)
        for phrase in self.phone.get("hints_always") or []:
            if phrase.lower() not in (p.lower() for p in phrases):
                phrases.append(str(phrase))
        return ", ".join(phrases[:MAX_HINTS])

    # ---- TwiML -----------------------------------------------------------------------------
    def say(self, parent, text: str) -> None:
        text = xml_safe(text)
        if text:
            parent.say(text, voice=self.voice, language=self.language)

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
        after: list | None = None,
    ) -> VoiceResponse:
        resp = VoiceResponse()
        g = self.gather(resp, route, node, step, hint_nodes)
        for text in list(preface) + list(intro):
            self.say(g, text)
        for item in after or []:
            item(g)
        for option in options:
            if option.text:
                self.say(g, option.text)
        self.fallback(resp, route, node, step)
        return resp

    def menu(self, node_id: str, step: int, preface: list[str] = ()) -> VoiceResponse:
        intro = render(self.tree.menu_voice, self.pref) if node_id == ROOT else self.node_voice(self.tree.node(node_id))
        options = self.menu_options(node_id)
        targets = [o.target for o in options if o.kind == "node"]
        # A menu listens for its options and what lies under them ("carte grise" at the main menu).
        hint_nodes = ([] if node_id == ROOT else [node_id]) + targets
        hint_nodes += [c for t in targets for c in self.tree.node(t).children]
        return self._prompt("menu", node_id, step, preface, [intro], options, hint_nodes)

    def welcome(self, step: int) -> VoiceResponse:
        return self.menu(ROOT, step, [self.text("automated_welcome")])

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
    ) -> VoiceResponse:
        """The leaf's answer (unless `answer` is False: only its options), its number, its options."""
        node = self.tree.node(node_id)
        options = self.leaf_options(node, open_now, rate, sms)
        intro = [] if number_only or not answer else [self.node_voice(node)]
        if node.id == self.human_id and not self.can_dial(node, open_now):
            intro = []  # "je vous mets en relation" would be untrue: the notice says why not
        notice = self.leaf_notice(node, open_now)
        contact = self.leaf_number(node)
        after = []
        if contact and (number_only or (answer and contact.kind == "short" and not self.says_number(node))):
            after.append(lambda g: self.say_number(g, contact.number))
        if notice and not number_only and answer:
            after.append(lambda g: self.say(g, notice))
        return self._prompt(
            "leaf", node_id, step, preface, intro, options, [o.target for o in options if o.kind == "node"] + [node_id], after
        )

    def choices(self, choices: list[str], back: str, step: int, preface: list[str] = ()) -> VoiceResponse:
        options = self.choices_options(choices, back)
        return self._prompt("choices", back, step, preface, [self.text("likely_topics")], options, choices)

    def offer(
        self, node_id: str, step: int, open_now: bool, preface: list[str] = (), allow_transfer: bool = True
    ) -> VoiceResponse:
        options = self.offer_options(node_id, open_now, allow_transfer)
        notice = self.offer_notice(open_now, allow_transfer)
        # After a failed transfer the preface says why; otherwise the caller missed three times.
        intro = ([self.text("offer_person_or_voicemail")] if allow_transfer else []) + ([notice] if notice else [])
        return self._prompt("offer", node_id, step, preface, intro, options, [self.human_id])

    def rephrase(self, route: str, node_id: str, step: int, hint_nodes: list[str] | None = None) -> VoiceResponse:
        resp = VoiceResponse()
        g = self.gather(resp, route, node_id, step, hint_nodes)
        self.say(g, self.text("rephrase"))
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

    def record(self, node_id: str, mailbox: str, step: int) -> VoiceResponse:
        resp = VoiceResponse()
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

    def apology(self) -> VoiceResponse:
        """Only where no call can be served at all (the incoming call itself failed)."""
        resp = VoiceResponse()
        self.say(resp, self.text("apology"))
        resp.hangup()
        return resp

    def hold(self, preface: str = "store_busy") -> VoiceResponse:
        """A technical problem in mid-call: one sentence, then the call's current prompt again
        (the incoming-call route replays a known call's last answer), never a hang-up."""
        resp = VoiceResponse()
        self.say(resp, self.text(preface))
        resp.pause(length=1)
        resp.redirect(self.url("voice"), method="POST")
        return resp

    def hangup(self) -> VoiceResponse:
        """The answer to a webhook for a call that is over: nothing to say, nothing changed."""
        resp = VoiceResponse()
        resp.hangup()
        return resp

    def keypad_only(self, resp: VoiceResponse) -> VoiceResponse:
        """The same prompt listening to keys only (speech cannot be understood right now), without
        the main menu's invitation to speak."""
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


def button_node(payload: str) -> str | None:
    """The node id of a router button payload ('/navigate{"node": "armes"}')."""
    start = payload.find("{")
    if start < 0:
        return None
    try:
        return json.loads(payload[start:]).get("node")
    except (json.JSONDecodeError, AttributeError):
        return None


def to_xml(resp: VoiceResponse) -> str:
    return resp.to_xml()
