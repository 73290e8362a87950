"""The options of each phone prompt: which key does what, and the sentence said for it.

A menu's children, a leaf's transfer / voicemail / number / PAN / SMS / rating keys, the likely
topics, the confirmation of low-confidence speech and the offer of a person or a message. Pure; part
of `ivr.twiml.Speaker` (uses its texts, `ivr.voice.Voice`).
"""

from __future__ import annotations

from bot.core import closures
from bot.core.clock import french_date_voice, paris_date
from bot.core.tree import Node, rates_answer, render, website_named
from ivr.voice import MAX_OPTIONS, ROOT, Contact, Option


class Options:
    """The keys of each prompt (a part of Speaker)."""

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
            # Its hours stated as a fact only once confirmed; else the préfecture file's own wording
            # (`hours_text`, which then says where to find them), in the tree's sentence for that case.
            data = self.pref.get(contact.path)
            tid = "contact_closed_voicemail" if data.get("hours_confirmed") is True else "contact_closed_unconfirmed"
            return self.text(tid, contact=self.contact_name(contact.path), hours=data.get("hours_text") or "")
        return None

    def closure_notice(self, open_now, said: list[str], notice: str | None) -> tuple[str, str | None]:
        """(The closure days' notice, the leaf's notice): the first (tree `phone.closures`, as the
        chat's `chat.closures`) when what is said (`said`, `notice`) gives the standard's hours and a
        closure day is today or within `closures_notice_days`, "" otherwise and when `open_now`
        carries no moment (a bare True/False); on the day itself, "fermée aujourd'hui" already says
        the standard is closed, so the leaf's "fermé en ce moment" is left out (None)."""
        when = getattr(open_now, "when", None)
        hours = render("{prefecture.phone_hours_text}", self.pref)
        if when is None or not any(hours in text for text in said + ([notice] if notice else [])):
            return "", notice
        day = paris_date(when)
        if notice == self.text("closed_now_voicemail") and closures.closed_on(self.pref, day):
            notice = None
        return closures.notice(self.pref, day, self.phone["closures"], french_date_voice), notice

    def with_closure(self, open_now, text: str) -> list[str]:
        """`text`, a sentence that says the standard's hours (the offer's "le standard est fermé", the
        closing words, the apology), after the closure notice when one applies (`closure_notice`: on a
        closure day and the `closures_notice_days` before it), as the hours answer says it."""
        closure, _ = self.closure_notice(open_now, [text], None)
        return [closure, text] if closure else [text]

    def voicemail_option(self, mailbox: str) -> Option:
        """ "Pour laisser un message au service …, tapez N": the voicemail of `mailbox`."""
        key = self.keys["voicemail_key"]
        return Option(key, "voicemail", mailbox, self.text("voicemail_offer", service=self.service(mailbox), key=key))

    def leaf_mailbox(self, node: Node, open_now) -> str | None:
        if node.mailbox:
            return node.mailbox
        if self.leaf_notice(node, open_now):  # the line cannot be reached now: a message instead
            return self.closed_mailbox(node)
        return None

    def closed_mailbox(self, node: Node | None) -> str:
        """Where a message goes when the node's line cannot be reached: its own mailbox, else the
        service the tree names for it (`phone.closed_mailbox`, where the préfecture has that mailbox),
        else the general one."""
        if node is None:
            return self.default_mailbox
        wanted = node.mailbox or node.phone.get("closed_mailbox")
        return wanted if wanted in (self.pref.get("mailboxes") or {}) else self.default_mailbox

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

    def sms_option(self, target: str) -> Option:
        return Option(self.keys["sms_key"], "sms", target, self.text("sms_offer", key=self.keys["sms_key"]))

    def leaf_options(self, node: Node, open_now: bool, rate: bool = True, sms: bool = True, pan: str = "book") -> list[Option]:
        """Children (a leaf may have some), then transfer, voicemail, number, PAN, the link by SMS (when
        configured and the answer names a website; `sms` False once sent), then * # 0, then the rating
        ("si cette réponse vous a aidé", said last; `rate` False once the call has rated). `pan`: the
        PAN leaf's offer, "book" (the next slot, or cancel one), "cancel" (cancel one only: booking was
        refused to this call) or "none" (a hidden number refused: it can cancel nothing either)."""
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
        if node.destination == "pan_rdv" and self.pref.get("pan.sites") and pan == "book":
            offer = self.pan_text("offer", key=k["pan_key"], cancel_key=self.key_word(k["pan_cancel_key"]))
            options.append(Option(k["pan_key"], "pan", None, offer))
            options.append(Option(k["pan_cancel_key"], "pan_cancel", None))  # said in the same sentence
        elif node.destination == "pan_rdv" and self.pref.get("pan.sites") and pan == "cancel":
            offer = self.pan_text("offer_cancel_only", cancel_key=self.key_word(k["pan_cancel_key"]))
            options.append(Option(k["pan_cancel_key"], "pan_cancel", None, offer))
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
        options.append(Option(k["repeat_key"], "repeat"))  # '*' is announced once, in the main menu
        options.append(Option(k["main_menu_key"], "main", ROOT, self.text("main_menu", key=k["main_menu_key"])))
        return options

    def offer_notice(self, open_now: bool, allow_transfer: bool = True) -> str | None:
        if not allow_transfer:
            return None
        if not self.standard.number:
            return self.text("no_transfer_voicemail")
        return None if open_now else self.text("closed_voicemail")

    def offer_mailbox(self, node_id: str) -> str:
        return self.closed_mailbox(self.tree.nodes.get(node_id))
