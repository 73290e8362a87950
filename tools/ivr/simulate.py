"""A call simulator: plays Twilio's part against the real webhooks, with valid signatures.

`python -m tools.ivr simulate` lets a person walk the menu in a terminal (type a key, a sentence, or
nothing for silence, and read what would be said); the tests and `python -m tools.ivr audit` drive
`Call` the same way. Each answer is parsed with xml.etree.ElementTree; the simulator follows the
Gather actions, Redirects, Dial and Record verbs exactly as Twilio would, signing each request
with twilio's RequestValidator algorithm on the URL Twilio would call. Every request carries the
complete body Twilio sends for that webhook (tools/ivr/twilio_bodies.py: blank geographic fields,
FinishedOnKey, Timestamp...), not only the parameters the channel reads.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from bot.core.tree import KEY_CHARS
from ivr.hours import CLOCK_HEADER
from ivr.signature import HEADER, LOCAL_DEV_TOKEN, sign
from tools.ivr import twilio_bodies


def default_url() -> str:
    """The server `make run` starts: its PORT (5005 unless set), as tools/demo_data.py does."""
    return f"http://127.0.0.1:{os.environ.get('PORT') or '5005'}"


VOICE_PATH = "/webhooks/ivr/voice"
STATUS_PATH = "/webhooks/ivr/status"
# What Twilio's transcription (English only) writes for a French message: the fixture's own text.
TRANSCRIPTION = twilio_bodies.load("transcription")["params"]["TranscriptionText"]


class SimulatorError(Exception):
    pass


@dataclass
class Turn:
    """One TwiML answer, parsed."""

    xml: str
    says: list[str] = field(default_factory=list)
    gather: dict | None = None  # the Gather's attributes
    dial: str | None = None  # the number dialled
    dial_action: str | None = None
    record: dict | None = None  # the Record's attributes
    redirect: str | None = None
    hangup: bool = False
    pauses: int = 0

    @property
    def action(self) -> str | None:
        """Where the next input goes (Gather, Record or Dial action)."""
        if self.gather is not None:
            return self.gather.get("action")
        if self.record is not None:
            return self.record.get("action")
        return self.dial_action

    @property
    def query(self) -> dict[str, str]:
        url = self.action or self.redirect or ""
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))

    @property
    def route(self) -> str | None:
        url = self.action or self.redirect
        return urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] if url else None

    @property
    def node(self) -> str | None:
        return self.query.get("node")

    @property
    def text(self) -> str:
        return " ".join(self.says)


def parse_twiml(text: str) -> Turn:
    root = ET.fromstring(text)
    if root.tag != "Response":
        raise SimulatorError(f"not TwiML: root element <{root.tag}>")
    turn = Turn(xml=text)

    def walk(el: ET.Element) -> None:
        for child in el:
            if child.tag == "Say":
                turn.says.append(child.text or "")
            elif child.tag == "Pause":
                turn.pauses += 1
            elif child.tag == "Gather":
                turn.gather = dict(child.attrib)
                walk(child)
            elif child.tag == "Dial":
                turn.dial = (child.text or "").strip()
                turn.dial_action = child.attrib.get("action")
            elif child.tag == "Record":
                turn.record = dict(child.attrib)
            elif child.tag == "Redirect":
                turn.redirect = (child.text or "").strip()
            elif child.tag == "Hangup":
                turn.hangup = True

    walk(root)
    return turn


class Call:
    """One simulated call. `url`: where to send requests; `public_url`: what Twilio would call
    (PUBLIC_BASE_URL of the server, default `url`), which the signatures are computed on."""

    def __init__(
        self,
        url: str | None = None,
        token: str = LOCAL_DEV_TOKEN,
        public_url: str | None = None,
        caller: str = "+33612345678",
        to: str = "+33400000000",
        call_sid: str | None = None,
        now: str | None = None,
        timeout: float = 30,
    ):
        url = url or default_url()
        self.url = url.rstrip("/")
        self.public_url = (public_url or url).rstrip("/")
        self.token, self.caller, self.to, self.now, self.timeout = token, caller, to, now, timeout
        self.call_sid = call_sid or "CA" + uuid.uuid4().hex
        self.turns: list[Turn] = []
        self.recordings = 0
        self.ended = False
        self.inputs = 0

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    # ---- HTTP ------------------------------------------------------------------------------
    def body(self, shape: str, **values: str | None) -> dict[str, str]:
        """The complete parameters Twilio sends for `shape` (tools/ivr/twilio_bodies.py), for this call."""
        return twilio_bodies.body(shape, self.call_sid, self.caller, self.to, **values)

    def recording_url(self, recording_sid: str) -> str:
        """Where Twilio keeps a recording (the RecordingUrl it sends)."""
        shape = twilio_bodies.load("record_hash")["params"]  # Twilio's URL, with this recording's SID
        return shape["RecordingUrl"].replace(shape["RecordingSid"], recording_sid)

    def _params(self, extra: dict[str, str]) -> dict[str, str]:
        """The call's standard parameters (as Twilio sends with every request) plus `extra`."""
        return self.body("redirect") | extra

    def request(
        self, public_url: str, params: dict[str, str], signature: str | None = "auto", headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """POST like Twilio: form-encoded, signed on `public_url`, sent to the same path on `url`."""
        parts = urllib.parse.urlsplit(public_url)
        target = self.url + parts.path + (f"?{parts.query}" if parts.query else "")
        body = urllib.parse.urlencode(params).encode()
        hdrs = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        if signature == "auto":
            signature = sign(self.token, public_url, params)
        if signature is not None:
            hdrs[HEADER] = signature
        if self.now:
            hdrs[CLOCK_HEADER] = self.now
        req = urllib.request.Request(target, data=body, headers=hdrs, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def _twiml(self, public_url: str, params: dict[str, str]) -> Turn:
        status, text = self.request(public_url, params)
        if status != 200:
            raise SimulatorError(f"{urllib.parse.urlsplit(public_url).path} answered {status}: {text[:300]}")
        turn = parse_twiml(text)
        self.turns.append(turn)
        if turn.hangup:
            self.ended = True
        # Twilio follows a Redirect when nothing else waits for the caller.
        if turn.redirect and turn.gather is None and turn.record is None and turn.dial is None and not turn.hangup:
            return self._twiml(turn.redirect, self.body("redirect"))
        return turn

    # ---- the caller's side -----------------------------------------------------------------
    def start(self) -> Turn:
        return self._twiml(self.public_url + VOICE_PATH, self.body("incoming_call"))

    def _gather_action(self) -> str:
        turn = self.last
        if turn is None or turn.gather is None:
            raise SimulatorError("the call is not waiting for a key or speech")
        return turn.gather["action"]

    def press(self, key: str) -> Turn:
        self.inputs += 1
        return self._twiml(self._gather_action(), self.body("gather_digits", Digits=key))

    def say(self, text: str, confidence: float = 0.9) -> Turn:
        self.inputs += 1
        return self._twiml(self._gather_action(), self.body("gather_speech", SpeechResult=text, Confidence=str(confidence)))

    def silence(self) -> Turn:
        self.inputs += 1
        return self._twiml(self._gather_action(), self.body("gather_empty"))

    def record(
        self,
        transcription: str | None = TRANSCRIPTION,
        duration: int = 12,
        recording_sid: str | None = None,
        hangup: bool = False,
    ) -> Turn:
        """Finish the Record verb: a message (then its recording and transcription callbacks), or
        nothing said. `hangup`: the caller hangs up instead of pressing # (Twilio still requests the
        action, with Digits=hangup, and the call is over)."""
        turn = self.last
        if turn is None or turn.record is None:
            raise SimulatorError("the call is not recording a message")
        if transcription is None:  # nothing recorded: Twilio goes on to the Redirect
            return self._twiml(turn.redirect, self.body("redirect")) if turn.redirect else turn
        self.recordings += 1
        rsid = recording_sid or f"RE{uuid.uuid4().hex}"
        rurl = self.recording_url(rsid)
        # The caller ends the message with '#' (finishOnKey) and hears the thanks.
        shape = "record_hangup" if hangup else "record_hash"
        params = self.body(shape, RecordingSid=rsid, RecordingUrl=rurl, RecordingDuration=str(duration))
        result = self._twiml(turn.record["action"], params)
        if hangup:
            self.ended = True
        callback = turn.record.get("recordingStatusCallback")
        if callback:
            self.request(
                callback, self.body("recording_status", RecordingSid=rsid, RecordingUrl=rurl, RecordingDuration=str(duration))
            )
        callback = turn.record.get("transcribeCallback")
        if callback:
            tsid = f"TR{uuid.uuid4().hex}"
            self.request(
                callback,
                self.body(
                    "transcription",
                    RecordingSid=rsid,
                    RecordingUrl=rurl,
                    TranscriptionText=transcription,
                    TranscriptionSid=tsid,
                    TranscriptionUrl=f"{rurl}/Transcriptions/{tsid}",
                ),
            )
        return result

    def dial_ended(self, status: str = "completed", hung_up: bool = False) -> Turn:
        """The Dial action: `status` is Twilio's DialCallStatus; `hung_up`: the caller hung up while the
        line rang (the parent call's CallStatus is then `completed`)."""
        turn = self.last
        if turn is None or turn.dial is None:
            raise SimulatorError("the call is not being transferred")
        if status == "completed":
            params = self.body("dial_completed")
        else:
            params = self.body("dial_no_answer", DialCallStatus=status)
        if hung_up:
            params["CallStatus"] = "completed"
            self.ended = True
        return self._twiml(turn.dial_action, params)

    def hangup(self, duration: int = 42, status: str = "completed") -> int:
        """The status callback Twilio sends when the call ends."""
        self.ended = True
        code, _ = self.request(
            self.public_url + STATUS_PATH, self.body("status_completed", CallStatus=status, CallDuration=str(duration))
        )
        return code


# ---- the terminal ------------------------------------------------------------------------------


def _show(turn: Turn, out) -> None:
    for text in turn.says:
        out.write(f"  🔊 {text}\n")
    if turn.dial:
        out.write(f"  ☎  transfer to {turn.dial}\n")
    if turn.record is not None:
        out.write("  ⏺  recording a message (max %s s)\n" % turn.record.get("maxLength"))
    if turn.hangup:
        out.write("  ✆  the service hangs up\n")


HELP = """Type a key (0-9, * or #), a sentence (speech), an empty line (silence), or /quit (hang up).
While recording: type the message (it becomes the transcription) or an empty line (nothing said).
While transferring: answer 'y' if the line answers, anything else if it is busy."""


def interactive(
    url: str, token: str, public_url: str | None = None, now: str | None = None, stdin=sys.stdin, out=sys.stdout
) -> int:
    call = Call(url, token, public_url=public_url, now=now)
    out.write(f"Calling {call.public_url}{VOICE_PATH} as Twilio (CallSid {call.call_sid}).\n{HELP}\n\n")
    try:
        turn = call.start()
        while True:
            _show(turn, out)
            if turn.hangup:
                break
            if turn.dial:
                out.write("line answers? [y/n] > ")
                out.flush()
                answer = stdin.readline()
                turn = call.dial_ended("completed" if answer.strip().lower().startswith(("y", "o")) else "busy")
                continue
            out.write("message > " if turn.record is not None else "> ")
            out.flush()
            line = stdin.readline()
            if not line or line.strip() == "/quit":
                break
            text = line.strip()
            if turn.record is not None:
                turn = call.record(text or None)
            elif not text:
                turn = call.silence()
            elif len(text) == 1 and text in KEY_CHARS:
                turn = call.press(text)
            else:
                turn = call.say(text)
    except SimulatorError as exc:
        out.write(f"error: {exc}\n")
        return 1
    finally:
        if call.turns:
            call.hangup()
    out.write("Call ended.\n")
    return 0


def default_token() -> str:
    return os.environ.get("TWILIO_AUTH_TOKEN") or LOCAL_DEV_TOKEN
