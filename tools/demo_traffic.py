"""The demo's traffic, sent to the REAL endpoints of a running server: the HTTP client, the chat
conversations (scripts, messages to a service, PAN bookings, ratings) and the callers' side of a phone
call (tools.ivr.simulate.Call). What was created is recorded in `Made` for tools/demo_marking.py.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime

from tools.demo_phrases import (
    BOT_QUESTIONS,
    DEMO_SUBJECT_PREFIX,
    FEEDBACK_COMMENTS,
    GREETINGS,
    HUMAN,
    NOT_UNDERSTOOD,
    PHRASES,
    SPEECH,
    THANKS,
    TICKETS,
    TOPIC_WEIGHTS,
    VOICEMAIL_TEXTS,
    fold,
)


class DemoError(Exception):
    """Why the generator stopped; `message` is in French, `code` is the exit code."""

    def __init__(self, message: str, code: int = 1):
        self.message, self.code = message, code
        super().__init__(message)


def no_server_message(url: str) -> str:
    return (
        f"Aucun serveur Aiguillage ne répond sur {url} : lancez d'abord `make run` dans un autre terminal "
        "(attendez « Rasa server is up and running »), puis relancez cette commande "
        "(ou donnez l'adresse du serveur avec --url)."
    )


# --- HTTP --------------------------------------------------------------------------------------------


class Http:
    def __init__(self, url: str, timeout: float = 30):
        self.url, self.timeout = url.rstrip("/"), timeout
        self.missing: set[str] = set()  # optional routes this server does not have

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, str, dict]:
        req = urllib.request.Request(self.url + path, data=body, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read().decode("utf-8", "replace"), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace"), dict(exc.headers)

    def json(self, path: str, payload: dict) -> tuple[int, object]:
        status, text, _ = self.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        try:
            return status, json.loads(text)
        except json.JSONDecodeError:
            return status, text

    def form(self, path: str, fields: dict, cookie: str | None = None) -> tuple[int, str]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if cookie:
            headers["Cookie"] = cookie
        status, text, _ = self.request("POST", path, urllib.parse.urlencode(fields).encode(), headers)
        return status, text


def check_server(http: Http) -> None:
    try:
        status, _, _ = http.request("GET", "/chat/config")
    except (urllib.error.URLError, ConnectionError, OSError):
        raise DemoError(no_server_message(http.url), 2) from None
    if status != 200:
        raise DemoError(
            f"Le serveur {http.url} répond {status} sur /chat/config : est-ce bien Aiguillage ? "
            "Lancez `make run`, puis relancez cette commande.",
            2,
        )


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_SLOT = re.compile(r'name="slot" value="([^"]+)"')


def _rdv_page(http: Http, path: str) -> tuple[int, str, str | None]:
    status, text, _ = http.request("GET", path)
    match = _CSRF.search(text)
    return status, text, match.group(1) if match else None


# --- what the generator created ------------------------------------------------------------------


@dataclass
class Made:
    conversations: list[tuple[str, datetime]] = field(default_factory=list)  # (sender id, start)
    calls: list[tuple[str, datetime, int]] = field(default_factory=list)  # (CallSid, start, duration s)
    tickets: list[tuple[str, datetime]] = field(default_factory=list)  # (idempotency key, created)
    bookings: list[tuple[str, datetime]] = field(default_factory=list)  # (idempotency key, created)
    recordings: list[tuple[str, datetime]] = field(default_factory=list)  # (RecordingSid, when)
    ratings: list[tuple[str, str, bool, str | None]] = field(default_factory=list)  # (kind, item, useful, comment)
    turn_gaps: dict[str, list[int]] = field(default_factory=dict)  # sender -> seconds between turns
    feedback_via: str = ""
    phone_note: str | None = None


# --- chat ----------------------------------------------------------------------------------------


def _question(rng: random.Random, topic: str) -> str:
    text = rng.choice(PHRASES[topic])
    roll = rng.random()
    if roll < 0.2:
        text = fold(text)
    elif roll < 0.3:
        text = text.lower().replace("?", "").strip()
    return text


def _topic(rng: random.Random) -> str:
    return rng.choices(list(TOPIC_WEIGHTS), list(TOPIC_WEIGHTS.values()))[0]


CHAT_KINDS = ["simple", "multi", "offtopic", "not_understood", "bot", "human", "ticket", "pan"]
CHAT_WEIGHTS = [40, 24, 8, 9, 3, 4, 7, 5]
# The first sessions go through every kind once, in this order, so that even a small demo shows each
# of them (a message to a service, a PAN booking, a voicemail, a caller hanging up...); then by weight.
CHAT_FIRST = ["simple", "ticket", "pan", "multi", "not_understood", "offtopic", "human", "bot"]


def chat_script(rng: random.Random, index: int = len(CHAT_FIRST)) -> tuple[str, list[str], str | None]:
    """(kind, messages, follow-up) for conversation number `index`; follow-up: 'ticket:<mailbox>', 'pan', or None."""
    kind = CHAT_FIRST[index] if index < len(CHAT_FIRST) else rng.choices(CHAT_KINDS, CHAT_WEIGHTS)[0]
    if kind == "simple":
        msgs = [_question(rng, _topic(rng))]
        if rng.random() < 0.4:
            msgs.append(rng.choice(THANKS))
        return kind, msgs, None
    if kind == "multi":
        first, second = _topic(rng), _topic(rng)
        msgs = [rng.choice(GREETINGS), _question(rng, first), _question(rng, second), rng.choice(THANKS)]
        return kind, msgs, None
    if kind == "offtopic":
        return kind, [_question(rng, "hors_perimetre")], None
    if kind == "not_understood":
        msgs = rng.sample(NOT_UNDERSTOOD, 2)
        if rng.random() < 0.5:
            msgs.append(_question(rng, _topic(rng)))  # then they find the words
        return kind, msgs, None
    if kind == "bot":
        return kind, [rng.choice(GREETINGS), rng.choice(BOT_QUESTIONS), _question(rng, _topic(rng))], None
    if kind == "human":
        return kind, [rng.choice(HUMAN)], "ticket:courrier" if rng.random() < 0.5 else None
    if kind == "ticket":
        topic = rng.choice(["armes", "reclamation", "cni_passeport"])
        box = {"armes": "armes", "reclamation": "qualite", "cni_passeport": "titres"}[topic]
        return kind, [_question(rng, topic)], f"ticket:{box}"
    return kind, [_question(rng, "rdv_pan")], "pan"


def send_chat(http: Http, sender: str, text: str) -> list:
    status, body = http.json("/chat/webhook", {"sender": sender, "message": text})
    if status != 200:
        raise DemoError(f"Le chat a répondu {status} à « {text} » : {str(body)[:200]}")
    return body if isinstance(body, list) else []


NOTHING_TO_RATE = 409  # POST /chat/feedback on a conversation whose last turn is no answer: not rated


def rate(http: Http, made: Made, rng: random.Random, sender: str, feedback_ok: bool | None, last: list) -> bool | None:
    """The page's rating of a conversation, as a person gives it (feedback_ok: whether the server has the
    endpoint, None: not known yet; returned). A « Non » then chooses another topic among the answer's
    alternatives when `last` (the answer's messages) offers one, as the page shows them: the console's
    « Réponses corrigées par la personne » (no draw: the seed's sequence is unchanged)."""
    useful = rng.random() < 0.78
    comment = rng.choice(FEEDBACK_COMMENTS)
    status = feedback_endpoint(http, sender, useful, comment) if feedback_ok is not False else None
    if status == NOTHING_TO_RATE:  # ended on a clarification or a hand-off: the page offers no rating
        return feedback_ok
    if status is not None:
        feedback_ok = status == 200
        if feedback_ok:
            made.feedback_via = "POST /chat/feedback"
    made.ratings.append(("chat-sent" if feedback_ok else "chat", sender, useful, comment))
    instead = other_topic(last) if feedback_ok and not useful else None
    if instead:
        send_chat(http, sender, instead)
    return feedback_ok


def other_topic(messages: list) -> str | None:
    """The payload of the first other topic an answer offers after « Non » (its marker's alternatives, a
    person last: bot/core/router.py), or None (no answer, or only the person)."""
    for m in messages:
        said = ((m.get("custom") or {}) if isinstance(m, dict) else {}).get("answer")
        if isinstance(said, dict) and len(said.get("alternatives") or []) > 1:
            return said["alternatives"][0].get("payload")
    return None


def send_ticket(http: Http, pref, rng: random.Random, mailbox: str, key: str) -> bool:
    """A message to a service mailbox: the chat widget's JSON API when the server has it, else the form."""
    if mailbox not in (pref.get("mailboxes") or {}):
        return False
    subject, body = rng.choice(TICKETS.get(mailbox) or TICKETS["courrier"])
    values = {"service": mailbox, "subject": DEMO_SUBJECT_PREFIX + subject, "body": body, "idem": key}
    status, _ = http.json("/rdv/api/message", values)
    if status != 404 or "/rdv/api" in http.missing:
        return status == 200
    http.missing.add("/rdv/api")
    status, _, csrf = _rdv_page(http, "/rdv/message?" + urllib.parse.urlencode({"service": mailbox}))
    if status != 200 or not csrf:
        return False
    status, _ = http.form("/rdv/message", values | {"csrf": csrf, "email": ""}, cookie=f"rdv_csrf={csrf}")
    return status == 200


def send_booking(http: Http, pref, rng: random.Random, key: str, mobile: str) -> bool:
    """A PAN booking: the chat widget's JSON API when the server has it, else the forms of /rdv/."""
    from bot.services import pan

    site = rng.choice(pan.sites(pref))["id"]
    reason = rng.choice(["carte_grise", "carte_grise", "permis_conduire", "titre_sejour", "autre"])
    if reason not in pan.reasons(pref):
        reason = next(iter(pan.reasons(pref)))
    pick = rng.randrange(4)
    if "/rdv/api" not in http.missing:
        status, text, _ = http.request("GET", "/rdv/api/creneaux?" + urllib.parse.urlencode({"site": site, "reason": reason}))
        if status != 404:
            for _ in range(3):
                try:
                    slots = [s["key"] for s in json.loads(text).get("slots") or []]
                except (json.JSONDecodeError, AttributeError):
                    return False
                if status not in (200, 409) or not slots:
                    return False
                status, answer = http.json(
                    "/rdv/api/reserver",
                    {"site": site, "reason": reason, "idem": key, "slot": slots[min(pick, len(slots) - 1)], "mobile": mobile},
                )
                if status == 200:
                    return True
                text = json.dumps(answer) if isinstance(answer, dict) else "{}"
                if status != 409:  # 409: taken meanwhile, the answer offers the next slots
                    return False
            return False
        http.missing.add("/rdv/api")
    status, text, csrf = _rdv_page(http, "/rdv/creneaux?" + urllib.parse.urlencode({"site": site, "motif": reason}))
    for _ in range(3):
        slots = _SLOT.findall(text)
        if status not in (200, 409) or not csrf or not slots:
            return False
        status, text = http.form(
            "/rdv/reserver",
            {
                "csrf": csrf,
                "idem": key,
                "site": site,
                "motif": reason,
                "slot": slots[min(pick, len(slots) - 1)],
                "email": "",
                "mobile": mobile,
            },
            cookie=f"rdv_csrf={csrf}",
        )
        if status == 200:
            return True
        if status != 409:  # taken meanwhile: the page offers the next slots
            return False
    return False


def feedback_endpoint(http: Http, sender: str, useful: bool, comment: str | None) -> int:
    payload = {"sender": sender, "useful": useful}
    if comment:
        payload["comment"] = comment
    status, _ = http.json("/chat/feedback", payload)
    return status


# --- phone ---------------------------------------------------------------------------------------

CALL_KINDS = ["keypad", "keypad_info", "speech", "transfer", "voicemail", "abandoned", "not_understood", "pan", "silence"]
CALL_WEIGHTS = [22, 8, 20, 10, 10, 12, 6, 5, 7]
CALL_FIRST = [
    "keypad",
    "voicemail",
    "abandoned",
    "pan",
    "speech",
    "transfer",
    "keypad_info",
    "not_understood",
    "silence",
]  # see CHAT_FIRST


RATING_KINDS = ("keypad", "keypad_info", "speech")  # calls that end on an answer the caller may rate


def first_topic_key(says: list[str]) -> bool:
    """Whether key 1 of the alternatives said after « pas utile » is a topic, not the person (said last)."""
    from bot.core import tree as tree_mod

    person = str((tree_mod.current().phone.get("labels") or {}).get("human") or "")
    return any(s.endswith("tapez 1.") and not s.startswith(person) for s in says)


def play_call(call, kind: str, rng: random.Random) -> None:
    """Play one caller's side; stops early (as a caller would) when the menu goes elsewhere."""
    from bot.core import tree as tree_mod
    from tools.ivr.simulate import SimulatorError

    rates, finds_useful = rng.random() < 0.25, rng.random() < 0.7  # drawn first: the same for every path
    turn = call.start()
    try:
        if kind == "keypad":  # the phone menu (bot/tree.yml phone.menu): carte grise, permis, or CNI
            for key in rng.choice([["1", "1"], ["1", "2"], ["2"]]):
                turn = call.press(key)
            if rng.random() < 0.4:
                call.press("3")  # hear the number again
        elif kind == "keypad_info":
            call.press("5")  # autre demande
            turn = call.press("3")  # horaires et adresse
        elif kind == "speech":
            topic = rng.choice(list(SPEECH))
            turn = call.say(rng.choice(SPEECH[topic]), confidence=round(rng.uniform(0.6, 0.95), 2))
        elif kind == "transfer":
            turn = call.press("3")  # titre de séjour: the CCC, at any time
            turn = call.press("1")
            if turn.dial:
                call.dial_ended(rng.choice(["completed", "completed", "busy"]))
        elif kind == "voicemail":
            call.press("5")  # autre demande
            call.press("1")  # armes: the service's mailbox
            turn = call.press("2")
            if turn.record is not None:
                call.record(
                    rng.choice(VOICEMAIL_TEXTS), duration=rng.randrange(8, 60), recording_sid=f"RE{secrets.token_hex(16)}"
                )
        elif kind == "abandoned":
            if rng.random() < 0.5:
                call.press("1")
            # then the caller hangs up in the middle of the menu
        elif kind == "not_understood":
            for text in rng.sample(NOT_UNDERSTOOD, 3):
                turn = call.say(text, confidence=0.3)
                if turn.hangup or turn.gather is None:
                    break
            if turn.gather is not None and rng.random() < 0.5:
                turn = call.press("2")
                if turn.record is not None:
                    call.record(
                        rng.choice(VOICEMAIL_TEXTS), duration=rng.randrange(8, 40), recording_sid=f"RE{secrets.token_hex(16)}"
                    )
        elif kind == "pan":
            call.press("5")  # autre demande
            call.press("2")  # rdv_pan leaf
            turn = call.press("4")  # the next free slots
            if turn.gather is not None and "1" in (turn.text or ""):
                turn = call.press("1")
                if turn.gather is not None:
                    call.press("1")  # confirm
        elif kind == "silence":
            call.silence()
            call.silence()
        if rates and kind in RATING_KINDS and turn.route == "leaf" and turn.gather is not None:
            keys = tree_mod.current().phone  # "si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8"
            turn = call.press(str(keys["feedback_key"] if finds_useful else keys["feedback_no_key"]))
            if turn.route == "choices" and turn.gather is not None and first_topic_key(turn.says):
                call.press("1")  # another topic among the answer's alternatives: the caller's correction
    except SimulatorError:
        pass  # the menu went somewhere the script did not expect: the caller hangs up
