"""Demo data (issue 6): `python -m tools.demo_data --days 90` fills a fresh install with varied traffic.

The generator does not write traffic rows itself: it drives the REAL endpoints of a running server
(`make run`) as users and callers would:

- the chat webhook (`POST /chat/webhook`): questions on every topic of the tree in the generator's own
  phrasings, off-topic questions, messages the bot cannot understand, multi-turn conversations;
- the phone webhooks (`/webhooks/ivr/*`), signed like Twilio (tools.ivr.simulate.Call): keypad and speech,
  transfers, voicemails, PAN bookings by keypad, callers hanging up mid-menu (the final status
  callback `CallStatus=completed`, as Twilio sends it);
- the forms of `/rdv/` (bot/web/rdv.py): messages to a service mailbox and PAN bookings;
- the rating endpoint `POST /chat/feedback` when the server has it (else `bot.services.feedback.record`).

Agent actions (tickets answered, no-shows) go through the console's functions (bot/services/tickets.py,
bot/services/pan.py) on the same SQLite file. Then the generator spreads the rows IT created (it knows their
sender ids, CallSids and idempotency keys) over the last N days with a weekday/hour profile, rewriting
their timestamps (due dates recomputed in working days), and marks them `demo = 1`: indicators and the
report leave them out unless asked. `--purge` deletes demo rows, and only them.

Deterministic with `--seed`: the same seed sends the same messages and calls in the same order.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import sys
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
DEFAULT_CONVERSATIONS = 300
DEFAULT_CALLS = 150
DEFAULT_DAYS = 90
DEMO_SUBJECT_PREFIX = "[Démonstration] "
MAX_SESSIONS = 20_000  # per kind: the marking step lists the ids it made in one SQL statement each
OUTCOME_LABELS = {
    "answered": "réponse donnée",
    "transferred": "transférés",
    "voicemail": "messagerie vocale",
    "abandoned": "abandonnés",
}
# Calls come from numbers of this fictitious list only (masked by the server anyway).
DEMO_CALLERS = [
    "+33612000101",
    "+33622000202",
    "+33632000303",
    "+33642000404",
    "+33652000505",
    "+33662000606",
    "+33672000707",
    "+33682000808",
    "+33692000909",
    "+33712001010",
]

# --- what people write and say (the generator's own phrasings, not the dev set's nor data/'s) -------

PHRASES: dict[str, list[str]] = {
    "carte_grise": [
        "on vient de me vendre une Clio, je fais comment pour que la carte grise soit à mon nom",
        "je viens de déménager, il faut changer l'adresse sur le certificat d'immatriculation ?",
        "on m'a volé ma carte grise, je fais quoi pour en avoir une autre",
        "je vends ma moto, comment déclarer la vente",
        "carte grise perdue que faire svp",
        "ma fille hérite de la voiture de son père décédé, comment refaire la carte grise",
        "combien de temps pour recevoir le certificat d'immatriculation après la demande",
        "un site me demande 60 euros pour ma carte grise, c'est normal ?",
    ],
    "permis_conduire": [
        "mon permis rose est abîmé, je peux le changer contre le nouveau format ?",
        "impossible de remettre la main sur mon permis depuis le week-end",
        "je rentre du Maroc, comment faire reconnaître mon permis marocain en France",
        "j'ai réussi l'examen du code et de la conduite, quand vais-je recevoir mon permis",
        "renouvellement du permis poids lourd, où faire la démarche",
        "le titre provisoire de mon permis expire bientôt",
    ],
    "cni_passeport": [
        "je voudrais refaire ma carte d'identité qui est périmée",
        "passeport pour mon fils de 8 ans, comment on fait",
        "je pars en voyage dans 5 jours pour le travail et je n'ai plus de passeport",
        "où déposer le dossier de carte d'identité dans le département",
        "faut-il remplir une pré-demande avant d'aller en mairie pour le passeport",
        "ma carte d'identité a été volée dans mon sac",
    ],
    "titre_sejour": [
        "mon titre de séjour se termine le mois prochain, comment le renouveler",
        "je suis étudiant étranger, je dois valider mon visa long séjour",
        "je voudrais demander la nationalité française",
        "mon récépissé est expiré et je n'ai toujours pas de réponse",
        "je change d'adresse, il faut le signaler pour mon titre de séjour ?",
        "mon employeur demande une autorisation de travail pour moi",
        "je n'arrive pas à me connecter au site des étrangers en France",
    ],
    "armes": [
        "je suis chasseur, comment créer mon compte pour déclarer mes fusils",
        "j'ai hérité d'une carabine de mon grand-père, que dois-je faire",
        "renouvellement d'autorisation de détention d'arme pour le tir sportif",
        "je veux vendre un fusil de chasse à un ami",
    ],
    "rdv_pan": [
        "je n'ai pas d'ordinateur, quelqu'un peut m'aider à faire ma demande sur internet ?",
        "je voudrais un rendez-vous avec un médiateur numérique",
        "je ne sais pas me servir d'internet pour les démarches",
        "est-ce qu'on peut venir à la préfecture pour être aidé sur un ordinateur",
    ],
    "horaires_contact": [
        "le lundi matin vos bureaux ouvrent à partir de quelle heure",
        "vous vous trouvez où exactement, je dois passer déposer un papier",
        "vous êtes ouverts le samedi matin ?",
        "je cherche le numéro de téléphone du standard",
    ],
    "reclamation": [
        "j'ai envoyé trois mails sans jamais avoir de réponse, je veux me plaindre",
        "je voudrais faire une réclamation sur l'accueil que j'ai reçu",
        "j'ai une suggestion pour améliorer l'accueil du public",
    ],
    "suivi_dossier": [
        "où en est mon dossier déposé il y a deux mois ?",
        "je voudrais savoir l'état d'avancement de ma demande",
        "mon dossier est bloqué en instruction depuis l'été, vous savez pourquoi",
    ],
    "hors_perimetre": [
        "je n'ai pas reçu mes APL ce mois-ci",
        "j'ai pris un PV en ville et je voudrais le contester",
        "je voudrais un extrait d'acte de naissance",
        "ma carte vitale ne marche plus",
        "quand est-ce que je vais toucher ma retraite",
    ],
}
TOPIC_WEIGHTS = {
    "carte_grise": 28,
    "permis_conduire": 15,
    "cni_passeport": 12,
    "titre_sejour": 16,
    "armes": 4,
    "rdv_pan": 6,
    "horaires_contact": 8,
    "reclamation": 3,
    "suivi_dossier": 5,
    "hors_perimetre": 3,
}
GREETINGS = [
    "bonjour, je vous écris pour une démarche",
    "bonsoir, petite question rapide",
    "salut, une petite question",
    "bonjour, excusez-moi",
]
THANKS = [
    "mille mercis pour votre aide précieuse",
    "merci, bonne journée",
    "d'accord, merci bien",
    "génial, merci pour ces infos",
    "parfait, bonne fin de journée à vous, au revoir",
]
NOT_UNDERSTOOD = [
    "euh bof truc machin",
    "xkcd qwerty",
    "???",
    "c'est pour le truc de la dernière fois",
    "zzzz",
    "mmm pas sûr",
    "il faudrait voir avec le bidule",
]
BOT_QUESTIONS = ["est-ce que je parle à un robot ?", "vous êtes une vraie personne ?"]
HUMAN = ["je voudrais parler à quelqu'un de la préfecture", "est-ce que je peux avoir un vrai agent au bout du fil"]
FEEDBACK_COMMENTS = [
    None,
    None,
    None,
    "rapide et clair",
    "je n'ai pas trouvé ma réponse",
    "merci pour le lien",
    "trop long à lire",
]
TICKETS: dict[str, list[tuple[str, str]]] = {
    "armes": [
        (
            "Compte sur le portail des armes",
            "Bonjour, je n'arrive pas à valider mon compte détenteur. Pouvez-vous m'indiquer la marche à suivre ? Cordialement.",
        )
    ],
    "qualite": [
        (
            "Accueil au guichet",
            "Bonjour, j'ai attendu longtemps au guichet mardi dernier sans être reçu. Je souhaite le signaler.",
        )
    ],
    "courrier": [
        ("Demande d'information", "Bonjour, je souhaite savoir à quel service adresser un dossier d'association. Merci d'avance.")
    ],
    "titres": [
        (
            "Passeport d'urgence",
            "Bonjour, je dois partir pour un déplacement professionnel urgent. "
            "Quelles pièces apporter pour un passeport d'urgence ?",
        )
    ],
    "etrangers": [
        ("Question sur mon rendez-vous", "Bonjour, mon rendez-vous a été annulé, comment en obtenir un nouveau ? Merci.")
    ],
}
SPEECH = {
    "carte_grise": ["c'est pour une carte grise", "changer le nom sur ma carte grise"],
    "permis_conduire": ["c'est au sujet de mon permis", "j'ai égaré mon permis"],
    "titre_sejour": ["pour ma carte de séjour", "c'est pour renouveler mon titre de séjour"],
    "horaires_contact": ["vous êtes ouverts jusqu'à quelle heure", "à quelle heure vous ouvrez"],
    "cni_passeport": ["je dois refaire un passeport", "ma carte d'identité arrive à échéance"],
}
VOICEMAIL_TEXTS = [
    "Bonjour, je rappelle pour mon dossier, merci de me recontacter.",
    "Bonjour, j'ai une question sur mon autorisation, rappelez-moi s'il vous plaît.",
]

# Traffic profile (Paris local time): weekday mornings busiest, few on weekends, almost none at night.
WEEKDAY_WEIGHTS = [1.25, 1.1, 1.0, 1.0, 0.9, 0.25, 0.1]
HOUR_WEIGHTS = [
    0.05,
    0.02,
    0.02,
    0.02,
    0.02,
    0.05,
    0.2,
    0.6,
    1.4,
    2.0,
    2.0,
    1.7,
    1.0,
    1.1,
    1.5,
    1.5,
    1.3,
    1.0,
    0.7,
    0.6,
    0.5,
    0.4,
    0.25,
    0.1,
]
PHONE_HOURS = [0.0] * 7 + [0.3, 1.8, 2.2, 2.0, 1.6, 0.7, 1.0, 1.8, 1.7, 1.4, 0.9, 0.3] + [0.0] * 5


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


def default_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('PORT') or '5005'}"


def fold(text: str) -> str:
    """Without accents (people type like that too)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# --- the traffic profile -------------------------------------------------------------------------


def spread_times(
    rng: random.Random, n: int, days: int, now: datetime, hours: list[float] | None = None, margin: timedelta = timedelta(hours=1)
) -> list[datetime]:
    """n moments (aware, UTC) in the last `days` days, drawn from the weekday/hour profile, oldest first.

    Each is at least `margin` before `now`; days not yet over are never drawn in the future."""
    hours = hours or HOUR_WEIGHTS
    today = now.astimezone(PARIS).date()
    candidates, weights = [], []
    for back in range(days):
        day = today - timedelta(days=back)
        for hour, hw in enumerate(hours):
            if hw <= 0:
                continue
            candidates.append((day, hour))
            weights.append(WEEKDAY_WEIGHTS[day.weekday()] * hw)
    limit = now - margin
    out, misses = [], 0
    while len(out) < n:
        day, hour = rng.choices(candidates, weights)[0]
        when = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=PARIS).astimezone(UTC)
        if when < limit and (now - when) < timedelta(days=days):
            out.append(when)
            continue
        misses += 1  # later today: it has not happened yet; draw again
        if misses > 100 * (n + 10):  # --days 1 just after midnight: nothing qualifies
            out.append(limit - timedelta(minutes=rng.randrange(1, 60)))
    return sorted(out)


def stamp(when: datetime) -> str:
    """The store's timestamp format (bot.store.database.now)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


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
            call.press(str(keys["feedback_key"] if finds_useful else keys["feedback_no_key"]))
    except SimulatorError:
        pass  # the menu went somewhere the script did not expect: the caller hangs up


# --- the run ---------------------------------------------------------------------------------------


def generate(
    url: str,
    days: int = DEFAULT_DAYS,
    conversations: int = DEFAULT_CONVERSATIONS,
    calls: int = DEFAULT_CALLS,
    seed: int | None = None,
    token: str | None = None,
    public_url: str | None = None,
    store_path: Path | None = None,
    progress=None,
    now: datetime | None = None,
) -> dict:
    """Drive the server at `url`, then spread and mark what was created. Returns the French summary's figures."""
    from bot.core import config as config_mod
    from bot.store.database import Store

    if days < 1:
        raise DemoError("--days doit être au moins 1.", 2)
    if conversations < 0 or calls < 0:
        raise DemoError("--conversations et --calls doivent être positifs ou nuls.", 2)
    if conversations > MAX_SESSIONS or calls > MAX_SESSIONS:
        raise DemoError(
            f"--conversations et --calls : {MAX_SESSIONS} au plus (une démonstration, pas un essai de "
            "charge : pour un an de trafic, voir bench/report_bench.py).",
            2,
        )
    http = Http(url)
    check_server(http)
    if seed is None:
        seed = secrets.randbits(32)
    # One generator per concern, so that what is sent never depends on today's date or hour.
    rng, call_rng = random.Random(f"chat:{seed}"), random.Random(f"calls:{seed}")
    time_rng, agent_rng = random.Random(f"times:{seed}"), random.Random(f"agents:{seed}")
    run = secrets.token_hex(3)  # sender ids, CallSids and keys of this run only
    now = now or datetime.now(UTC)
    made = Made()
    store = Store(store_path)
    bar = progress(total=conversations + calls, desc="démo", unit="échange") if progress else None
    state: dict = {"pref": None}
    try:
        try:
            drive(http, store, made, state, run, rng, call_rng, time_rng, days, now, conversations, calls, token, public_url, bar)
            failure = None
        except DemoError as exc:
            failure = exc
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            failure = DemoError(f"Le serveur {url} ne répond plus ({exc}) : la génération s'est arrêtée.")
        if bar:
            bar.set_postfix_str("dates et marquage")
        # Whatever happened, what was created is spread and marked demo: never left looking real.
        result = finish(store, state["pref"] or config_mod.current(), agent_rng, made, days, now)
        if failure is not None:
            done = f"{result['conversations']} conversations et {result['calls']} appels déjà créés sont marqués démo."
            raise DemoError(f"{failure.message}\n{done}", failure.code)
        return result
    finally:
        if bar:
            bar.close()
        store.close()


def drive(
    http: Http,
    store,
    made: Made,
    state: dict,
    run: str,
    rng: random.Random,
    call_rng: random.Random,
    time_rng: random.Random,
    days: int,
    now: datetime,
    conversations: int,
    calls: int,
    token: str | None,
    public_url: str | None,
    bar,
) -> None:
    """Send the chat traffic, then the calls; what is created is recorded in `made` as it goes."""
    from bot.core import config as config_mod
    from ivr.signature import LOCAL_DEV_TOKEN

    conv_times = spread_times(time_rng, conversations, days, now)
    call_times = spread_times(time_rng, calls, days, now, PHONE_HOURS)
    feedback_ok: bool | None = None
    for i, start in enumerate(conv_times):
        sender = f"demo-{run}-c{i:05d}"
        kind, msgs, follow = chat_script(rng, i)
        gaps = []
        made.conversations.append((sender, start))
        made.turn_gaps[sender] = gaps
        for text in msgs:
            send_chat(http, sender, text)
            gaps.append(rng.randrange(8, 90))
        if state["pref"] is None:
            row = store.db.execute("select prefecture from conversations where id = ?", [sender]).fetchone()
            if row is None:
                raise DemoError(
                    f"La base {store.path} ne contient pas les conversations envoyées au serveur {http.url} : lancez "
                    "cette commande avec la même AIGUILLAGE_DB que le serveur (make run : var/aiguillage.db)."
                )
            state["pref"] = config_mod.load_prefecture(row[0])
        pref = state["pref"]
        end = start + timedelta(seconds=sum(gaps))
        if follow and follow.startswith("ticket:"):
            key = f"demo-{run}-t{i:05d}"
            if send_ticket(http, pref, rng, follow.split(":", 1)[1], key):
                made.tickets.append((key, end + timedelta(minutes=rng.randrange(2, 15))))
        elif follow == "pan":
            key = f"demo-{run}-b{i:05d}"
            mobile = f"06 12 00 {rng.randrange(10, 99)} {rng.randrange(10, 99)}"
            if send_booking(http, pref, rng, key, mobile):
                made.bookings.append((key, end + timedelta(minutes=rng.randrange(2, 15))))
        if rng.random() < 0.35:
            useful = rng.random() < 0.78
            comment = rng.choice(FEEDBACK_COMMENTS)
            if feedback_ok is not False:
                feedback_ok = feedback_endpoint(http, sender, useful, comment) == 200
                if feedback_ok:
                    made.feedback_via = "POST /chat/feedback"
            made.ratings.append(("chat-sent" if feedback_ok else "chat", sender, useful, comment))
        if bar:
            bar.update(1)
    if calls:
        drive_calls(
            http,
            call_rng,
            run,
            call_times,
            token or os.environ.get("TWILIO_AUTH_TOKEN") or LOCAL_DEV_TOKEN,
            public_url or os.environ.get("PUBLIC_BASE_URL") or http.url,
            made,
            bar,
        )


def drive_calls(
    http: Http, rng: random.Random, run: str, times: list[datetime], token: str, public_url: str, made: Made, bar
) -> None:
    from tools.ivr.simulate import Call, SimulatorError

    for i, start in enumerate(times):
        kind = CALL_FIRST[i] if i < len(CALL_FIRST) else rng.choices(CALL_KINDS, CALL_WEIGHTS)[0]
        sid = "CA" + f"de{run}{i:06d}".ljust(32, "0")
        call = Call(
            http.url,
            token,
            public_url=public_url,
            caller=rng.choice(DEMO_CALLERS),
            call_sid=sid,
            now=start.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M:%S"),
        )
        sids: list[str] = []
        original = call.record

        def record(*args, _orig=original, _sids=sids, **kwargs):
            _sids.append(kwargs.get("recording_sid") or "")
            return _orig(*args, **kwargs)

        call.record = record
        made.calls.append((sid, start, 30))  # recorded before the first webhook: marked demo whatever happens
        try:
            play_call(call, kind, rng)
        except SimulatorError as exc:
            text = str(exc)
            if "answered 503" in text or "answered 403" in text:
                made.calls.pop()  # refused: nothing was stored for it
            if "answered 503" in text:
                made.phone_note = (
                    "le serveur ne sert pas le téléphone (pas de TWILIO_AUTH_TOKEN) : aucun appel "
                    "généré. Pour des appels de démonstration, relancez le serveur avec "
                    "`IVR_LOCAL_DEV=1 make run`, puis cette commande."
                )
                return
            if "answered 403" in text:
                made.phone_note = (
                    "le serveur refuse la signature des appels (403) : donnez son jeton Twilio avec "
                    "--token (ou TWILIO_AUTH_TOKEN) et son PUBLIC_BASE_URL avec --public-url. Aucun "
                    "appel généré."
                )
                return
            raise DemoError(f"Appel de démonstration interrompu : {text[:300]}") from None
        duration = max(8, 6 * max(1, call.inputs) + rng.randrange(5, 60))
        call.hangup(duration=duration, status="completed")
        made.calls[-1] = (sid, start, duration)
        made.recordings += [(r, start + timedelta(seconds=duration // 2)) for r in sids if r]
        if bar:
            bar.update(1)


def _marks(n: int) -> str:
    return ",".join("?" * n)


def working_time_after(rng: random.Random, start: datetime, max_days: int) -> datetime:
    """A moment during office hours (Paris) 0..max_days working days after `start`."""
    from bot.services.tickets import add_working_days

    day = add_working_days(start.astimezone(PARIS).date(), rng.randrange(0, max_days + 1))
    return datetime(day.year, day.month, day.day, rng.randrange(9, 17), rng.randrange(60), tzinfo=PARIS).astimezone(UTC)


def finish(store, pref, rng: random.Random, made: Made, days: int, now: datetime) -> dict:
    """Record the ratings, rewrite the timestamps of what was created, mark it demo = 1, act as agents."""
    from bot.services import feedback, pan, tickets

    conn = store.db.conn
    conv_ids = [c for c, _ in made.conversations]
    call_ids = [c for c, _, _ in made.calls]
    for kind, item, useful, comment in made.ratings:
        if kind == "chat":
            row = conn.execute("select last_topic, last_destination from conversations where id = ?", [item]).fetchone()
            feedback.record(store, "chat", item, pref.id, useful, comment, *(row or (None, None)))
            made.feedback_via = made.feedback_via or "bot.services.feedback.record (POST /chat/feedback absent)"
    has_events = "events" in store.db.table_names()
    conn.execute("begin immediate")
    try:
        # Conversations, their turns (and Rasa's events for the same sender).
        for sender, start in made.conversations:
            gaps = made.turn_gaps.get(sender, [])
            turn_ids = [r[0] for r in conn.execute("select id from turns where conversation_id = ? order by id", [sender])]
            t = last = start
            for k, tid in enumerate(turn_ids):
                last = t
                conn.execute("update turns set ts = ? where id = ?", [stamp(t), tid])
                t += timedelta(seconds=gaps[k] if k < len(gaps) else 20)
            conn.execute(
                "update conversations set started_at = ?, updated_at = ?, demo = 1 where id = ?",
                [stamp(start), stamp(last), sender],
            )
            if has_events:
                first = conn.execute("select min(timestamp) from events where sender_id = ?", [sender]).fetchone()[0]
                if first is not None:
                    conn.execute(
                        "update events set timestamp = timestamp + ? where sender_id = ?", [start.timestamp() - first, sender]
                    )
        # Calls and their voicemails.
        for sid, start, duration in made.calls:
            end = start + timedelta(seconds=duration)
            conn.execute(
                "update calls set started_at = ?, updated_at = ?, ended_at = case when ended_at is null"
                " then null else ? end, demo = 1 where call_sid = ?",
                [stamp(start), stamp(end), stamp(end), sid],
            )
            conn.execute(
                "update voicemails set created_at = ?, updated_at = ? where call_sid = ?",
                [stamp(start + timedelta(seconds=duration // 2)), stamp(end), sid],
            )
        # Tickets: the web forms' and the voicemails'.
        created = [(k, when) for k, when in made.tickets] + [(f"voicemail:{r}", when) for r, when in made.recordings]
        for key, when in created:
            row = conn.execute("select origin from tickets where idempotency_key = ?", [key]).fetchone()
            if row is None:
                continue
            due = tickets.due_date(pref, when.astimezone(PARIS).date(), row[0])
            conn.execute(
                "update tickets set created_at = ?, due_date = ?, demo = 1 where idempotency_key = ?",
                [stamp(when), due.isoformat(), key],
            )
            conn.execute(
                "update outbox set created_at = ?, updated_at = ? where ticket_id = (select id from tickets"
                " where idempotency_key = ?)",
                [stamp(when), stamp(when), key],
            )
        # PAN bookings: by the web form (moved to a free slot after the conversation) and by phone.
        for key, when in made.bookings:
            _move_booking(conn, pref, key, when)
        for sid, start, _ in made.calls:
            conn.execute(
                "update pan_bookings set created_at = ?, updated_at = ?, demo = 1 where idempotency_key like ?",
                [stamp(start), stamp(start), f"call:{sid}:%"],
            )
        # Ratings.
        for sender, start in made.conversations:
            end = conn.execute("select updated_at from conversations where id = ?", [sender]).fetchone()
            when = end[0] if end else stamp(start)
            conn.execute(
                "update feedback set created_at = ?, updated_at = ?, demo = 1 where kind = 'chat' and item_id = ?",
                [when, when, sender],
            )
        for sid, start, duration in made.calls:
            when = stamp(start + timedelta(seconds=duration))
            conn.execute(
                "update feedback set created_at = ?, updated_at = ?, demo = 1 where kind = 'phone' and item_id = ?",
                [when, when, sid],
            )
        # Demo e-mails not sent yet never will be: a server given SMTP settings later must not mail a
        # service (or anyone) about a demo ticket or booking.
        conn.execute(
            "delete from outbox where status != 'sent' and (ticket_id in (select id from tickets where"
            " demo = 1) or booking_id in (select id from pan_bookings where demo = 1))"
        )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    # Agents at work (console functions): most messages answered, a few no-shows among past appointments.
    answered = 0
    for key, _ in created:
        row = conn.execute("select reference, created_at from tickets where idempotency_key = ? and demo = 1", [key]).fetchone()
        if row is None or rng.random() >= 0.75:
            continue
        when = working_time_after(rng, datetime.fromisoformat(row[1]), rng.choice([1, 2, 3, 4, 5, 5, 7]))
        if when < now:
            tickets.mark_answered(store, row[0], now=when)
            answered += 1
    no_shows = 0
    today = now.astimezone(PARIS).strftime(pan.STAMP)
    keys = [k for k, _ in made.bookings]
    mine = conn.execute(
        f"select reference, slot_end from pan_bookings where demo = 1 and status = 'booked' and slot_end < ? and"
        f" (idempotency_key in ({_marks(len(keys))}) or substr(idempotency_key, 6, 34) in ({_marks(len(call_ids))}))"
        " order by id",
        [today, *keys, *call_ids],
    ).fetchall()
    for reference, slot_end in mine:
        if rng.random() < 0.15:
            pan.mark_no_show(store, reference)
            when = datetime.strptime(slot_end, pan.STAMP).replace(tzinfo=PARIS)
            with conn:
                conn.execute(
                    "update pan_bookings set no_show_at = ?, updated_at = ? where reference = ?",
                    [stamp(when), stamp(when), reference],
                )
            no_shows += 1
    return summary(store, conv_ids, call_ids, made, answered, no_shows, days)


def _move_booking(conn, pref, key: str, when: datetime) -> None:
    """Give a web booking a real, free slot of its site after the moment it was made (min. notice kept)."""
    from bot.services import pan

    row = conn.execute("select id, site, reason from pan_bookings where idempotency_key = ?", [key]).fetchone()
    if row is None:
        return
    bid, site_id, reason = row
    booked_at = when.astimezone(PARIS).replace(tzinfo=None)
    earliest = booked_at + timedelta(hours=int(pref.get("pan.min_notice_hours")))
    cap = pan.capacity(pref, site_id)
    for slot in pan.generate_slots(pref, site_id, earliest.date(), int(pref.get("pan.booking_days_ahead")), reason):
        if slot.start < earliest:
            continue
        taken = {
            r[0]
            for r in conn.execute(
                "select seat from pan_bookings where site = ? and slot_start = ? and status != 'cancelled' and id != ?",
                [site_id, slot.key, bid],
            )
        }
        free = [s for s in range(1, cap + 1) if s not in taken]
        if free:
            conn.execute(
                "update pan_bookings set slot_start = ?, slot_end = ?, seat = ?, created_at = ?,"
                " updated_at = ?, demo = 1 where id = ?",
                [slot.key, slot.end.strftime(pan.STAMP), free[0], stamp(when), stamp(when), bid],
            )
            return
    conn.execute("update pan_bookings set created_at = ?, updated_at = ?, demo = 1 where id = ?", [stamp(when), stamp(when), bid])


def summary(store, conv_ids: list[str], call_ids: list[str], made: Made, answered: int, no_shows: int, days: int) -> dict:
    conn = store.db.conn

    def count(sql: str, args: list) -> int:
        return conn.execute(sql, args).fetchone()[0] if args else 0

    out = {
        "days": days,
        "conversations": count(
            f"select count(*) from conversations where demo = 1 and id in ({_marks(len(conv_ids))})", conv_ids
        ),
        "turns": count(f"select count(*) from turns where conversation_id in ({_marks(len(conv_ids))})", conv_ids),
        "calls": count(f"select count(*) from calls where demo = 1 and call_sid in ({_marks(len(call_ids))})", call_ids),
        "voicemails": count(f"select count(*) from voicemails where call_sid in ({_marks(len(call_ids))})", call_ids),
        "tickets": len([1 for k, _ in made.tickets]) + len(made.recordings),
        "tickets_answered": answered,
        "bookings": 0,
        "no_shows": no_shows,
        "ratings": len(made.ratings)
        + count(f"select count(*) from feedback where kind = 'phone' and item_id in ({_marks(len(call_ids))})", call_ids),
        "feedback_via": made.feedback_via,
        "phone_note": made.phone_note,
    }
    keys = [k for k, _ in made.bookings]
    out["bookings"] = count(
        f"select count(*) from pan_bookings where demo = 1 and idempotency_key in ({_marks(len(keys))})", keys
    ) + sum(count("select count(*) from pan_bookings where idempotency_key like ?", [f"call:{sid}:%"]) for sid in call_ids)
    out["tickets"] = count(
        f"select count(*) from tickets where demo = 1 and idempotency_key in"
        f" ({_marks(len(made.tickets) + len(made.recordings))})",
        [k for k, _ in made.tickets] + [f"voicemail:{r}" for r, _ in made.recordings],
    )
    topics = {}
    if conv_ids:
        for topic, n in conn.execute(
            f"select coalesce(topic, '(aucun)'), count(*) from turns where conversation_id"
            f" in ({_marks(len(conv_ids))}) group by 1 order by 1",
            conv_ids,
        ):
            topics[topic] = n
    out["topics"] = topics
    outcomes = {}
    if call_ids:
        for outcome, n in conn.execute(
            f"select coalesce(outcome, 'en cours'), count(*) from calls where call_sid in"
            f" ({_marks(len(call_ids))}) group by 1 order by 1",
            call_ids,
        ):
            outcomes[outcome] = n
    out["outcomes"] = outcomes
    return out


def format_summary(s: dict) -> str:
    lines = [
        f"Données de démonstration créées sur les {s['days']} derniers jours (marquées « démo ») :",
        f"  {s['conversations']} conversations écrites ({s['turns']} messages)",
        f"  {s['calls']} appels"
        + (
            " (" + ", ".join(f"{OUTCOME_LABELS.get(k, k)} : {v}" for k, v in s["outcomes"].items()) + ")" if s["outcomes"] else ""
        ),
        f"  {s['voicemails']} messages vocaux",
        f"  {s['tickets']} messages aux services, dont {s['tickets_answered']} marqués répondus",
        f"  {s['bookings']} rendez-vous PAN, dont {s['no_shows']} non honorés",
        f"  {s['ratings']} avis des usagers",
    ]
    if s.get("phone_note"):
        lines.append(f"Téléphone : {s['phone_note']}")
    last = datetime.now(PARIS).date()
    first = last - timedelta(days=s["days"] - 1)
    lines += [
        "",
        "Pour les voir : la console des agents, page /console/indicateurs (case « Inclure les données de démonstration »),",
        f"ou `python -m bot report --from {first.isoformat()} --to {last.isoformat()} --include-demo` ;",
        "`python -m tools.demo_data --purge` les supprime (et seulement elles).",
    ]
    return "\n".join(lines)


# --- purge -----------------------------------------------------------------------------------------


def purge(store) -> dict:
    """Delete the demo rows (demo = 1) and what hangs off them; real rows are never touched."""
    conn = store.db.conn
    tables = set(store.db.table_names())
    out = {}
    conn.execute("begin immediate")
    try:
        demo_conv = "select id from conversations where demo = 1"
        demo_calls = "select call_sid from calls where demo = 1"
        out["turns"] = conn.execute(f"delete from turns where conversation_id in ({demo_conv})").rowcount
        if "events" in tables:
            out["events"] = conn.execute(f"delete from events where sender_id in ({demo_conv})").rowcount
        out["reviews"] = conn.execute(
            f"delete from reviews where (kind = 'chat' and item_id in ({demo_conv}))"
            f" or (kind = 'phone' and item_id in ({demo_calls}))"
        ).rowcount
        out["voicemails"] = conn.execute(f"delete from voicemails where call_sid in ({demo_calls})").rowcount
        out["outbox"] = conn.execute(
            "delete from outbox where ticket_id in (select id from tickets where demo = 1)"
            " or booking_id in (select id from pan_bookings where demo = 1)"
        ).rowcount
        for table in ("feedback", "tickets", "pan_bookings", "calls", "conversations"):
            out[table] = conn.execute(f"delete from {table} where demo = 1").rowcount
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return out


# --- CLI -------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.demo_data", description="demo traffic through the real endpoints of a running server (marked demo)"
    )
    p.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"spread over the last N days (default {DEFAULT_DAYS})")
    p.add_argument(
        "--conversations", type=int, default=DEFAULT_CONVERSATIONS, help=f"chat conversations (default {DEFAULT_CONVERSATIONS})"
    )
    p.add_argument("--calls", type=int, default=DEFAULT_CALLS, help=f"phone calls (default {DEFAULT_CALLS})")
    p.add_argument("--seed", type=int, default=None, help="the same seed sends the same messages and calls")
    p.add_argument("--url", default=None, help="the running server (default http://127.0.0.1:$PORT, PORT=5005)")
    p.add_argument(
        "--token", default=None, help="the server's Twilio auth token (default $TWILIO_AUTH_TOKEN, else the IVR_LOCAL_DEV token)"
    )
    p.add_argument("--public-url", default=None, help="the server's PUBLIC_BASE_URL, for the signatures (default --url)")
    p.add_argument("--purge", action="store_true", help="delete the demo rows (and only them), then stop")
    p.add_argument(
        "--allow-mail",
        action="store_true",
        help="run even though SMTP_HOST is set (the server would e-mail the services about demo tickets)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return cmd_demo_data(build_parser().parse_args(argv))


def cmd_demo_data(args) -> int:
    from bot.store.database import Store

    if args.purge:
        store = Store()
        try:
            done = purge(store)
        finally:
            store.close()
        print(
            f"Données de démonstration supprimées de {store.path} : {done['conversations']} conversations "
            f"({done['turns']} messages), {done['calls']} appels ({done['voicemails']} messages vocaux), "
            f"{done['tickets']} messages aux services, {done['pan_bookings']} rendez-vous PAN, "
            f"{done['feedback']} avis. Les données réelles n'ont pas été touchées."
        )
        return 0
    if os.environ.get("SMTP_HOST") and not args.allow_mail:
        print(
            "SMTP_HOST est défini : un serveur lancé avec ces réglages enverrait aux services (et aux usagers) "
            "les messages et rendez-vous de démonstration. Lancez la démonstration sur un serveur sans SMTP, "
            "ou ajoutez --allow-mail si ce serveur n'envoie vers aucune vraie boîte.",
            file=sys.stderr,
        )
        return 2
    from tqdm import tqdm

    def progress(**kw):
        return tqdm(file=sys.stderr, dynamic_ncols=True, **kw)

    try:
        result = generate(
            args.url or default_url(),
            days=args.days,
            conversations=args.conversations,
            calls=args.calls,
            seed=args.seed,
            token=args.token,
            public_url=args.public_url,
            progress=progress,
        )
    except DemoError as exc:
        print(exc.message, file=sys.stderr)
        return exc.code
    print(format_summary(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
