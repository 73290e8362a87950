"""The PAN appointment by phone: the next slots by key, the confirmation, the booking said (the
reference digit by digit), its SMS, and the cancellation by reference. Pure; part of
`ivr.twiml.Speaker` (its texts come from the préfecture file's `pan.phone` section). Their Gathers
post to the `pan` route (not `leaf`): the URL alone tells a booking step from a leaf's answer, whose
keys mean other things (ivr/call_hooks.py, when the call's row cannot be read).
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from bot.core.text import norm
from ivr.voice import BOOKING, ROOT, Option


class PanPrompts:
    """The PAN prompts and their options (a part of Speaker)."""

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
        """The choices name each site by its short name (`short_name`, as the chat's list does; its
        full name and address come with the confirmation), so that three choices fit in 25 s."""
        from bot.services import pan

        options = []
        for i, slot in enumerate(slots, start=1):
            spec = pan.site(self.pref, slot["site"])
            words = {**self.pan_slot_words(slot), "site": spec.get("short_name") or spec["name"]}
            options.append(Option(str(i), "pan_slot", str(i - 1), self.pan_text("choice", key=str(i), **words)))
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
            "pan",
            node_id,
            step,
            preface,
            [self.pan_text("slots_intro")],
            self.pan_slot_options(slots, node_id),
            [node_id],
            keep=False,
        )

    def pan_confirm(self, node_id: str, choice: dict, step: int, preface: list[str] = ()) -> VoiceResponse:
        return self._prompt("pan", node_id, step, preface, [], self.pan_confirm_options(choice, node_id), [node_id], keep=False)

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
        details = self.phone["pan_details_key"]
        options = [Option(details, "pan_details", None, self.pan_text("details_offer", key=details))]
        if self.sms and sms and not (target or {}).get("hidden"):
            options.append(self.sms_option(BOOKING))
        return options + [
            Option(k["repeat_key"], "repeat"),  # '*' is announced once, in the main menu
            Option(k["main_menu_key"], "main", ROOT, self.text("main_menu", key=k["main_menu_key"])),
        ]

    def pan_booked(
        self, target: dict, step: int, preface: list[str] = (), sms: bool = True, message: bool = True, details: bool = False
    ) -> VoiceResponse:
        """The booking said (unless `message` is False: after the SMS's outcome): when, where (the
        site's address), the reference digit by digit; `details` (its key): what to bring and how to
        cancel instead. Then the details' key, the link by SMS (see pan_booked_options) and the main
        menu ('*' says it again; silence ends the call, see Flow)."""
        from datetime import datetime

        from bot.core import texts
        from bot.services import pan

        when = pan.say_when_voice(datetime.strptime(target["start"], pan.STAMP))
        if details:  # what to bring and how to cancel: said on its key, not in the first message
            said = [
                texts.say("pan.bring", self.pref),
                self.pan_text("booked_hidden") if target.get("hidden") else self.pan_text("booked_cancel_how"),
            ]
        else:
            digits = self.reference_digits(target["reference"])
            said = [self.pan_text("booked", when=when, site=self.pan_place(target["site"]), digits=digits)]
            if target.get("hidden"):  # they cannot cancel it themselves: said at once, not only on the key
                said.append(self.pan_text("booked_hidden"))
        node = target.get("node") or ROOT
        intro = [t for t in said if t] if message else []
        return self._prompt("pan", node, step, preface, intro, self.pan_booked_options(target, sms), [node], keep=False)

    def pan_cancel_ask(self, node_id: str, step: int, preface: list[str] = ()) -> VoiceResponse:
        """Asks for the reference of the appointment to cancel: eight digits typed, or said."""
        resp = VoiceResponse()
        g = resp.gather(
            input="dtmf speech",
            action=self.url("pan", node=node_id, step=step),
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
        self.fallback(resp, "pan", node_id, step)
        return resp

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
        return self._prompt("pan", node_id, step, preface, [], self.pan_cancel_confirm_options(target), [node_id], keep=False)

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
