"""The keys a préfecture file and prefectures/_national.yml may hold: one declared schema.

A key the schema does not declare is refused (ConfigError naming the file, the key's path and, when a
declared key is close, the key meant): a misspelt key was silently ignored, the product then used the
national default or nothing. Each file is checked on its own, before the merge, so that the error
names the file that holds the key. The values themselves are checked by bot/core/config_checks.py.

The schema is nested mappings: a mapping is a block of known keys (each block may also carry the notes
`source` and `confirmed`, for the people who keep the file), `ANY` a value, `FreeMap(schema)` a map
whose keys are ids chosen by the file (the mailboxes, the other administrations), each value checked
against `schema`, `ListOf(schema)` a list of such blocks (the PAN sites).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process

from bot.core.clock import DAYS
from bot.core.config_checks import HEALTH, LOGIN_LIMITS, OUTBOX, RETENTION, THROTTLE_SCOPES, ConfigError

ANY = None
NOTES = ("source", "confirmed")
# rapidfuzz ratio (0-100) from which a declared key is named as the key meant ("adress" -> "address": 92).
CLOSE = 75


@dataclass(frozen=True)
class FreeMap:
    value: Any


@dataclass(frozen=True)
class ListOf:
    item: Any


def block(*names: str, **blocks: Any) -> dict:
    """A block: `names` hold values, `blocks` their own schema; the notes too."""
    return {**dict.fromkeys((*names, *NOTES), ANY), **blocks}


DAYS_MAP = dict.fromkeys(DAYS, ANY)  # mon..sun, each a list of "HH:MM-HH:MM"
# A number the tree names (`contact:`): its hours said (`hours_text`) and, once confirmed, followed (`days`).
CONTACT = block("number", "kind", "hours_text", "hours_confirmed", days=DAYS_MAP)
SITE = block(
    "id",
    "name",
    "short_name",
    "capacity",
    "hours_confirmed",
    address=block("text"),
    days=DAYS_MAP,
    foreigners_days=DAYS_MAP,
)
WORDING = (
    "phone_call",
    "phone_call_unknown",
    "phone_display_unknown",
    "foreigners_summary",
    "foreigners_sites",
    "foreigners_site",
    "pan_places_one",
    "pan_places_many",
    "pan_places_last",
    "foreigners_hours",
)

SCHEMA = {
    "id": ANY,
    "prefecture": block(
        "name",
        "department",
        "website",
        address=block("text"),
        phone=block("number", "kind"),
        phone_hours=block("closures", "closures_notice_days", days=DAYS_MAP),
    ),
    "mailboxes": FreeMap(block("service", "email")),
    "pan": block(
        "summary",
        "slot_minutes",
        "capacity",
        "booking_days_ahead",
        "min_notice_hours",
        "what_to_bring",
        "what_to_bring_confirmed",
        "retention_days",
        "max_future_bookings",
        hidden_numbers=block("max_bookings", "window_hours"),
        sites=ListOf(SITE),
    ),
    "tickets": block("retention_days", "max_chars", "subject_max_chars"),
    "voice": block("language", "voice", english=block("language", "voice")),
    "ants": block("name", "url", "cni_passeport_url", "mairies_url", phone=CONTACT),
    "anef": block("name", "url"),
    "ccc": block("name", phone=CONTACT),
    "sia": block("name", "url"),
    "asylum": block("first_reception"),
    "service_public": block("url", "points_url"),
    "france_services": block("url"),
    "wording": block(*WORDING),
    "commitments": block("email_working_days", "paper_working_days", "pan_appointment_days"),
    "others": FreeMap(block("name", "url")),
    "report": block("question_min_count"),
    "retention": block(*(f"{what}_days" for what in RETENTION), "rows_per_statement", "pause_ms"),
    "console": block("queue_per_page", "messages_per_page", "page_links_around", "label_words", "measure_every"),
    "health": block(*HEALTH),
    "outbox": block(*OUTBOX),
    "throttle": block(
        login=block(*LOGIN_LIMITS),
        per_address=block(**{scope: block("max", "window_minutes") for scope in THROTTLE_SCOPES}),
    ),
}

# Keys the product once read and no longer does, with what to do instead.
RETIRED = {
    "pan.foreigners_summary": "is no longer read: the foreigners' hours are said from each site's foreigners_days; remove the key",
}


def declared(dotted: str, schema: Any = None) -> bool:
    """Whether the schema declares the dotted path ('pan.sites.id': a list's items are passed through)."""
    node = SCHEMA if schema is None else schema
    for part in dotted.split("."):
        while isinstance(node, ListOf):
            node = node.item
        if isinstance(node, FreeMap):
            node = node.value
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


def check_keys(data: Any, file: str, schema: Any = SCHEMA, path: str = "") -> None:
    """Raise ConfigError on the first key of `data` the schema does not declare. A value of another
    shape than the schema's (a text where a block is expected) is left to the checks of values."""
    if isinstance(schema, ListOf):
        for i, item in enumerate(data if isinstance(data, list) else []):
            check_keys(item, file, schema.item, f"{path}[{i}]")
        return
    if not isinstance(data, dict) or schema is ANY:
        return
    for key, value in data.items():
        dotted = f"{path}.{key}" if path else str(key)
        if isinstance(schema, FreeMap):
            check_keys(value, file, schema.value, dotted)
        elif key in schema:
            check_keys(value, file, schema[key], dotted)
        else:
            raise ConfigError(file, dotted, _unknown(dotted, str(key), sorted(schema)))


def _unknown(dotted: str, key: str, known: list[str]) -> str:
    if dotted in RETIRED:
        return RETIRED[dotted]
    meant = process.extractOne(key, known, scorer=fuzz.ratio, score_cutoff=CLOSE)
    if meant:
        return f"unknown key (the product does not read it): did you mean '{meant[0]}'?"
    return f"unknown key (the product does not read it); this block's keys: {', '.join(known)}"
