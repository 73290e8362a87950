"""The state of a call (saved in its `calls` row between two webhooks), one caller's input, and one
answer to a Gather as its webhook carries it (`Step`).

Pure data: ivr/flow.py moves a CallState on an Input; ivr/calls.py stores it; ivr/call_hooks.py reads a Step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from bot.core.decision import Decision
from bot.core.tree import KEY_CHARS
from ivr.voice import ROOT

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from ivr.hours import OpenAt

PROMPT_STATES = (
    "menu",
    "leaf",
    "choices",
    "offer",
    "pan_slots",
    "pan_confirm",
    "confirm",
    "pan_booked",
    "pan_cancel_ref",
    "pan_cancel_confirm",
)
PAN_STATES = ("pan_slots", "pan_confirm", "pan_booked", "pan_cancel_ref", "pan_cancel_confirm")
# Prompts whose speech is not a topic: the channel passes it as said (no NLU, see ivr/channel.py).
RAW_SPEECH_STATES = ("pan_booked", "pan_cancel_ref")
REFERENCE_DIGITS = 8  # PAN-1234-5678
SMS_DONE = ("sent", "pending", "no_mobile", "refused")  # outcomes after which the link is not offered again


@dataclass
class CallState:
    call_sid: str
    step: int = 0  # inputs processed; the next action URL carries this number
    state: str = "menu"  # menu | leaf | choices | offer | transfer | voicemail | ended
    node: str = ROOT
    back: str = ROOT  # where '#' leads from the likely-topics menu or the offer
    retries: int = 0  # misses in a row, of any kind
    misses: int = 0  # speech not understood, in a row
    offer_retries: int = 0
    path: list[str] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    confidence: float | None = None  # last speech: the NLU's confidence
    mailbox: str | None = None
    reached_leaf: bool = False  # an answer was said (a leaf other than the person's "je vous mets en relation")
    transferred: bool = False
    voicemail: bool = False
    unmatched: bool = False  # the last speech was not understood and nothing was reached since
    transfer_failed: bool = False
    pan_slots: list[dict] = field(default_factory=list)  # PAN slots offered: [{"site", "start"}]
    pan_choice: dict | None = None  # the slot the caller chose, not booked until confirmed
    pan_booking: str | None = None  # the reference booked by this call
    # The appointment this call is about, no contact in it: {"reference", "site", "start", "node"}
    # (+ "hidden": booked from a hidden number), once booked (repeated on the repeat key) or to cancel.
    pan_target: dict | None = None
    # Booking refused to this call (key 4: the number holds the most appointments, or hidden numbers are
    # capped): "shown" (it may still cancel one) or "hidden"; the PAN leaf then offers no booking again.
    pan_refused: str | None = None
    rated: bool = False  # the caller rated an answer (feedback_key / feedback_no_key); offered once per call
    # The answer to the caller's words just said: its other likely topics and the person (node ids, the
    # router's `alternatives`), offered as keys if the caller says it did not help (key 8, "non").
    alternatives: list[str] = field(default_factory=list)
    # While those are offered: the topic of the answer said wrong. A topic then chosen by key is the
    # caller's own label for the words (an input {"corrects": that topic, "topic": the one chosen}).
    correcting: str | None = None
    called: str | None = None  # the préfecture's number the caller dialled (Twilio's To): the callerId of a transfer
    sms_done: list[str] = field(default_factory=list)  # SMS targets (leaf ids, "booking") no longer offered
    # Twilio's From is a French mobile (bot.services.sms.french_mobile, the rule the send applies): the
    # link by SMS may be offered; a landline, a hidden or a foreign number is never offered it.
    mobile: bool = True
    # The step of a Dial whose transfer was reported not answered before the row had reached that Dial
    # (a call the store could not record then: ivr/kept_steps.py); the transfer is undone when it does.
    unanswered_dial: int | None = None

    @property
    def outcome(self) -> str | None:
        if self.voicemail:
            return "voicemail"
        if self.transferred:
            return "transferred"
        if self.reached_leaf:
            return "answered"
        return None

    def final_outcome(self) -> tuple[str, int]:
        """(outcome, unresolved) when the call ends. A call whose last transfer nobody answered, and
        that left no message nor reached anything since, is unresolved too (the agents review it)."""
        outcome = self.outcome or "abandoned"
        missed = self.unmatched or self.transfer_failed
        unresolved = int(outcome == "abandoned" or (missed and outcome not in ("transferred", "voicemail")))
        return outcome, unresolved

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Input:
    digits: str = ""
    speech: str = ""  # already cleaned, cut and masked (bot.core.masking.prepare)
    asr_confidence: float | None = None
    decision: Decision | None = None  # the router's decision on `speech`
    pan: Any = None  # the PAN desk of this request (slots(), book(slot), identified(), find(ref), cancel(ref)); None: no booking by phone
    feedback: Any = None  # the rating desk of this request (record(node_id, useful)); None: not recorded
    sms: str | None = None  # the outcome of the SMS the channel sent for this input (bot.services.sms.OUTCOMES, "pending")


@dataclass
class Step:
    """One answer to a Gather, as the request carries it (read on the event loop: ivr/call_hooks.py)."""

    call_sid: str
    step: int | None
    params: dict
    inp: Input
    speech: str
    nlu: bool  # a sentence for the NLU (not a key, not a word the tree lists), unless the prompt takes it as said
    open_now: OpenAt
    when: datetime
    caller: str
    route: str = ""  # the Gather's route and node, as its action URL names them
    node: str | None = None
    # Set on the event loop once the caller was answered without this step (the store did not answer in
    # time): the pool task still under way then applies nothing (`_apply`), or the caller's next key,
    # at the step they were told, would only replay the answer to this one.
    answered: bool = False
    rating: list = field(default_factory=list)  # a rating a full disk refused, [node, useful]: kept (FeedbackDesk)


def key_of(inp: Input) -> str:
    """The key pressed; a lone digit, '*' or '#' recognised as speech counts as a key too."""
    digits = (inp.digits or "").strip()
    if digits:
        return digits[0] if digits[0] in KEY_CHARS else "?"
    spoken = (inp.speech or "").strip().rstrip(".")
    return spoken if len(spoken) == 1 and spoken in KEY_CHARS else ""
