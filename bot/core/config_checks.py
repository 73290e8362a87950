"""The checks of a préfecture file (bot/core/config.py loads, merges and computes it): required keys,
types, phone numbers, hours, closure days, mailboxes, PAN sites. Each problem raises ConfigError naming
the file, the key and the problem, never another exception.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

import phonenumbers

from bot.core import config_voice
from bot.core.clock import DAYS
from bot.core.text import EMAIL

_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_SHORT_NUMBER = re.compile(r"^3\d \d\d$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CLOSURES = "prefecture.phone_hours.closures"

# The retention periods, the login limits and the per-address scopes: named once here, read by these
# checks and by the schema of known keys (bot/core/config_schema.py).
RETENTION = ("conversations", "calls", "voicemails", "feedback", "audit_log", "sessions", "throttle")
LOGIN_LIMITS = (
    "account_free_failures",
    "address_free_failures",
    "first_delay_s",
    "max_delay_s",
    "lockout_after",
    "account_window_minutes",
    "address_window_minutes",
)
THROTTLE_SCOPES = ("book", "cancel", "message", "cancel_guess", "submit", "chat")
# The readiness probe's timeout and thresholds (bot/services/health.py), each a positive whole number.
HEALTH = (
    "check_timeout_ms",
    "disk_degraded_below_mb",
    "disk_failing_below_mb",
    "spool_degraded_rows",
    "spool_degraded_age_s",
    "outbox_degraded_failed",
    "outbox_degraded_age_minutes",
)
# The outbox's scheduled retry (bot/services/mailer.py Backoff) and how long it waits on SMTP (Bounds),
# each a positive whole number.
OUTBOX = ("retry_every_s", "retry_after_s", "retry_after_max_s", "smtp_timeout_s", "deliver_within_s", "stale_sending_minutes")
# The SMTP server's answers one e-mail waits for at most (bot/services/mailer.py connect, then the message):
# the connection, the greeting, EHLO, STARTTLS, EHLO again, a login's three, MAIL FROM, RCPT TO, DATA, the
# message sent, its end, QUIT; each waits `outbox.smtp_timeout_s` at most.
SMTP_ANSWERS = 14
# Keys every merged configuration must have (dotted paths).
RETENTION_KEYS = tuple(f"retention.{k}_days" for k in RETENTION)
THROTTLE_KEYS = (
    *(f"throttle.login.{k}" for k in LOGIN_LIMITS),
    *(f"throttle.per_address.{scope}.{k}" for scope in THROTTLE_SCOPES for k in ("max", "window_minutes")),
)
# Keys whose value is a positive whole number.
POSITIVE_KEYS = (
    "pan.slot_minutes",
    "pan.capacity",
    "pan.booking_days_ahead",
    "pan.retention_days",
    "pan.max_future_bookings",
    "tickets.retention_days",
    "tickets.max_chars",
    "tickets.subject_max_chars",
    "report.question_min_count",
    "retention.rows_per_statement",
    "console.queue_per_page",
    "console.messages_per_page",
    "console.page_links_around",
    "console.label_words",
    *RETENTION_KEYS,
    *THROTTLE_KEYS,
    *(f"health.{k}" for k in HEALTH),
    *(f"outbox.{k}" for k in OUTBOX),
)
REQUIRED_KEYS = [
    "id",
    "wording.phone_call",
    "wording.phone_call_unknown",
    "wording.phone_display_unknown",
    "wording.foreigners_summary",
    "wording.foreigners_sites",
    "wording.foreigners_site",
    "wording.pan_places_one",
    "wording.pan_places_many",
    "wording.pan_places_last",
    "prefecture.name",
    "prefecture.website",
    "prefecture.address.text",
    "prefecture.phone",
    "prefecture.phone_hours.days",
    "mailboxes.etrangers.email",
    "mailboxes.armes.email",
    "mailboxes.titres.email",
    "mailboxes.qualite.email",
    "mailboxes.courrier.email",
    "pan.summary",
    "pan.sites",
    "voice.language",
    "voice.voice",
    "ants.url",
    "ants.phone.number",
    "anef.url",
    "ccc.phone.number",
    "sia.url",
    "service_public.url",
    "france_services.url",
    "commitments.email_working_days",
    "commitments.paper_working_days",
    "commitments.pan_appointment_days",
    "pan.min_notice_hours",
    "retention.pause_ms",
    "console.measure_every",
    "pan.what_to_bring",
    *POSITIVE_KEYS,
]


class ConfigError(Exception):
    """A configuration file is invalid. The message names the file, the key and the problem."""

    def __init__(self, file: str, key: str | None, problem: str):
        self.file, self.key, self.problem = file, key, problem  # key None: the file as a whole (its phone prompts)
        super().__init__(f"{file}: key '{key}': {problem}" if key else f"{file}: {problem}")


def whole(value: Any, least: int = 1) -> bool:
    """Whether a configured value is a whole number of at least `least` (YAML's true and false are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def get_path(data: Any, dotted: str) -> Any:
    """Return the value at a dotted path, or raise KeyError naming the first missing part."""
    node = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(part)
    return node


def _check_days(file: str, key: str, days: Any) -> None:
    if not isinstance(days, dict):
        raise ConfigError(file, key, "must map days (mon..sun) to lists of 'HH:MM-HH:MM'")
    for day, ranges in days.items():
        if day not in DAYS:
            raise ConfigError(file, f"{key}.{day}", f"unknown day (expected one of {', '.join(DAYS)})")
        if not isinstance(ranges, list):
            raise ConfigError(file, f"{key}.{day}", "must be a list of 'HH:MM-HH:MM'")
        for n, r in enumerate(ranges):
            m = _RANGE.match(str(r))
            if not m or (m.group(1), m.group(2)) >= (m.group(3), m.group(4)):
                raise ConfigError(file, f"{key}.{day}", f"'{r}' is not a time range like '08:30-12:00'")
            if n and str(r).split("-")[0] < str(ranges[n - 1]).split("-")[1]:  # 'HH:MM' texts compare as times
                problem = f"'{r}' starts before '{ranges[n - 1]}' ends: write the ranges in order, without overlap"
                raise ConfigError(file, f"{key}.{day}", problem)


def _check_foreigners_days(file: str, key: str, site: dict) -> None:
    """A site's hours kept for the foreigners' procedures do not overlap its other hours (the slots
    of a titre de séjour are both)."""
    for day, ranges in site["foreigners_days"].items():
        for r in ranges:
            for other in site["days"].get(day) or []:
                if str(r).split("-")[0] < str(other).split("-")[1] and str(other).split("-")[0] < str(r).split("-")[1]:
                    raise ConfigError(file, f"{key}.{day}", f"'{r}' overlaps the site's other hours that day ('{other}')")


def _minutes(span: str) -> int:
    """How long a checked range 'HH:MM-HH:MM' lasts, in minutes."""
    (h1, m1), (h2, m2) = (map(int, end.split(":")) for end in span.split("-"))
    return (h2 - h1) * 60 + m2 - m1


def _check_open_hours(file: str, data: dict) -> None:
    """The standard has opening hours; each PAN site a capacity and hours that hold at least one slot
    (a site without them was offered on the /rdv pages and never had a free slot)."""
    if not any(get_path(data, "prefecture.phone_hours.days").values()):
        raise ConfigError(file, "prefecture.phone_hours.days", "lists no opening hours")
    slot = data["pan"]["slot_minutes"]
    for i, site in enumerate(data["pan"]["sites"]):
        capacity = site.get("capacity", 1)
        if not whole(capacity):
            raise ConfigError(file, f"pan.sites[{i}].capacity", "must be a positive whole number")
        if not any(_minutes(str(r)) >= slot for ranges in site["days"].values() for r in ranges):
            problem = f"holds no slot of {slot} minutes (pan.slot_minutes): give the site its hours"
            raise ConfigError(file, f"pan.sites[{i}].days", problem)


def iso_day(value: Any) -> str | None:
    """A closure day as 'YYYY-MM-DD' (YAML reads an unquoted 2026-05-15 as a date), or None."""
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(value).isoformat() if _ISO_DATE.match(str(value)) else None
    except ValueError:
        return None


def _check_closures(file: str, hours: dict) -> None:
    """`closures`: days written YYYY-MM-DD; `closures_notice_days`: how many days ahead the chat tells."""
    if not isinstance(days := hours.get("closures") or [], list):
        raise ConfigError(file, CLOSURES, "must be a list of dates written YYYY-MM-DD")
    for day in (d for d in days if iso_day(d) is None):
        raise ConfigError(file, CLOSURES, f"'{day}' is not a date written YYYY-MM-DD")
    notice = hours.get("closures_notice_days")
    if not whole(notice, 0):
        raise ConfigError(file, f"{CLOSURES}_notice_days", "must be a whole number of days (0 or more)")


def _check_phone(file: str, key: str, phone: Any) -> None:
    if not isinstance(phone, dict):
        raise ConfigError(file, key, "must be a mapping with 'number' and 'kind'")
    number, kind = phone.get("number"), phone.get("kind", "regular")
    if isinstance(number, int) and not isinstance(number, bool):  # a number written without quotes
        raise ConfigError(file, f"{key}.number", f"must be written in quotes (without them YAML reads the whole number {number})")
    if not isinstance(number, str):
        raise ConfigError(file, f"{key}.number", "missing phone number")
    if kind == "short":
        if not _SHORT_NUMBER.match(number):
            raise ConfigError(file, f"{key}.number", f"'{number}' is not a French 4-digit short number written 'NN NN'")
    elif kind == "regular":
        try:
            parsed = phonenumbers.parse(number, "FR")
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            raise ConfigError(file, f"{key}.number", f"'{number}' is not a valid French phone number")
    else:
        raise ConfigError(file, f"{key}.kind", f"'{kind}' must be 'regular' or 'short'")


_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Texts the pages and answers show as they are written (a number there became "42" on the page).
TEXT_KEYS = ("prefecture.name", "prefecture.department", "prefecture.address.text", "pan.summary", "pan.what_to_bring")


def _check_voice(file: str, voice: dict) -> None:
    """voice.language and voice.voice: a French language and voice Twilio's <Say> speaks, matching."""
    wrong = config_voice.problem(voice)
    if wrong is not None:
        raise ConfigError(file, *wrong)


def _check_texts_and_ids(file: str, data: dict) -> None:
    """Texts are text (in quotes), site ids slugs (they are in the /rdv pages' URLs)."""
    for key in TEXT_KEYS:
        try:
            value = get_path(data, key)
        except KeyError:
            continue  # a required key is named missing above; the department, by the tree's placeholders
        if not isinstance(value, str):
            raise ConfigError(file, key, f"must be text (in quotes), not {value}")
    for i, site in enumerate(data["pan"]["sites"]):
        for field in ("name", "short_name"):
            if field in site and not isinstance(site[field], str):
                raise ConfigError(file, f"pan.sites[{i}].{field}", f"must be text (in quotes), not {site[field]}")
        if not _SLUG.match(str(site["id"])):
            problem = f"'{site['id']}' is not a slug (lowercase letters, digits and hyphens): site ids appear in URLs"
            raise ConfigError(file, f"pan.sites[{i}].id", problem)


def _check_standard_line(file: str, number: str) -> None:
    """The standard's number is one the public can call at the price of a call: no mobile, no 08 9x."""
    kind = phonenumbers.number_type(phonenumbers.parse(number, "FR"))
    if kind == phonenumbers.PhoneNumberType.MOBILE:
        raise ConfigError(file, "prefecture.phone.number", f"'{number}' is a mobile number: give the standard's landline")
    if kind == phonenumbers.PhoneNumberType.PREMIUM_RATE:
        problem = f"'{number}' is a premium-rate number (08 9x): the public must reach the standard without a surcharge"
        raise ConfigError(file, "prefecture.phone.number", problem)


# A site's postal address ends with a French postal code and the town ("…, 15200 Mauriac"), maybe
# with its Cedex ("…, 42022 Saint-Étienne Cedex 1"), which is no part of the town the phone says.
# The préfecture's own address (prefecture.address.text) is not held to it (loire, indre-et-loire
# write theirs with its Cedex).
POSTAL_ADDRESS = re.compile(r"\b\d{5} ([^\d,]+?)(?: cedex(?: \d{1,2})?)?$", re.IGNORECASE)


def _check_bounds(file: str, data: dict) -> None:
    """Two numbers that bound each other: the disk's degraded limit at least its failing one, the outbox's
    longest wait between two tries at least its first, and a stale claim older than one e-mail may take
    (taken over while its process may still be sending it, the same e-mail would leave twice)."""
    for key, bound in (
        ("health.disk_degraded_below_mb", "health.disk_failing_below_mb"),
        ("outbox.retry_after_max_s", "outbox.retry_after_s"),
    ):
        if get_path(data, key) < get_path(data, bound):
            raise ConfigError(file, key, f"must be at least {bound} ({get_path(data, bound)})")
    timeout_s = get_path(data, "outbox.smtp_timeout_s")
    one_e_mail_s = SMTP_ANSWERS * timeout_s
    if get_path(data, "outbox.stale_sending_minutes") * 60 <= one_e_mail_s:
        problem = (
            f"must be longer than one e-mail may take: {SMTP_ANSWERS} answers of the SMTP server of up to"
            f" outbox.smtp_timeout_s ({timeout_s} s) each, {math.ceil(one_e_mail_s / 60)} minutes"
        )
        raise ConfigError(file, "outbox.stale_sending_minutes", problem)


def validate(data: dict, file: str) -> None:
    for key in REQUIRED_KEYS:
        try:
            value = get_path(data, key)
        except KeyError:
            raise ConfigError(file, key, "missing") from None
        if value is None or value == "":
            raise ConfigError(file, key, "empty")
    for key in ("prefecture.phone", "ants.phone", "ccc.phone"):
        phone = get_path(data, key)
        if (
            key == "prefecture.phone"
            and isinstance(phone, dict)
            and phone.get("number") is None
            and phone.get("confirmed") is False
        ):
            continue  # unknown standard number, said so in the file: answers point to the website
        _check_phone(file, key, phone)
        if key == "prefecture.phone" and phone.get("kind", "regular") == "regular":
            _check_standard_line(file, phone["number"])
    _check_days(file, "prefecture.phone_hours.days", get_path(data, "prefecture.phone_hours.days"))
    _check_closures(file, data["prefecture"]["phone_hours"])
    for mid, box in data["mailboxes"].items():
        if not isinstance(box, dict) or not EMAIL.match(str(box.get("email", ""))):
            raise ConfigError(file, f"mailboxes.{mid}.email", "not a valid e-mail address")
        if not box.get("service"):
            raise ConfigError(file, f"mailboxes.{mid}.service", "missing service name")
    for key in ("prefecture.website", "ants.url", "anef.url", "sia.url", "service_public.url", "france_services.url"):
        if not str(get_path(data, key)).startswith("https://"):
            raise ConfigError(file, key, "must be an https:// URL")
    sites = data["pan"]["sites"]
    if not isinstance(sites, list) or not sites:
        raise ConfigError(file, "pan.sites", "must list at least one site")
    seen = set()
    for i, site in enumerate(sites):
        if not isinstance(site, dict):
            raise ConfigError(file, f"pan.sites[{i}]", "must be a mapping with id, name, address and days")
        for field in ("id", "name", "days"):
            if not site.get(field):
                raise ConfigError(file, f"pan.sites[{i}].{field}", "missing")
        if site["id"] in seen:
            raise ConfigError(file, f"pan.sites[{i}].id", f"duplicate site id '{site['id']}'")
        seen.add(site["id"])
        _check_days(file, f"pan.sites[{i}].days", site["days"])
        address = site.get("address")
        if not isinstance(address, dict) or not POSTAL_ADDRESS.search(str(address.get("text") or "")):
            raise ConfigError(
                file, f"pan.sites[{i}].address.text", "must be a postal address ending with the postal code and the town"
            )
        if "confirmed" not in address:
            raise ConfigError(file, f"pan.sites[{i}].address.confirmed", "missing (true once checked on an official page)")
        if "foreigners_days" in site:
            _check_days(file, f"pan.sites[{i}].foreigners_days", site["foreigners_days"])
            _check_foreigners_days(file, f"pan.sites[{i}].foreigners_days", site)
    for key in POSITIVE_KEYS:
        value = get_path(data, key)
        if not whole(value):
            raise ConfigError(file, key, "must be a positive whole number")
    _check_bounds(file, data)
    for key, what in (("pan.min_notice_hours", "hours"), ("retention.pause_ms", "milliseconds")):
        value = get_path(data, key)
        if not whole(value, 0):
            raise ConfigError(file, key, f"must be a whole number of {what} (0 or more)")
    if get_path(data, "console.measure_every") == 1 or not whole(get_path(data, "console.measure_every"), 0):
        raise ConfigError(
            file,
            "console.measure_every",
            "must be 0 (every taught sentence teaches) or a whole number from 2 (one in that many measures)",
        )
    _check_open_hours(file, data)
    _check_texts_and_ids(file, data)
    _check_voice(file, data["voice"])
    for key in ("commitments.email_working_days", "commitments.paper_working_days"):
        value = get_path(data, key)
        if not whole(value):
            raise ConfigError(file, key, "must be a positive number of working days")
    value = get_path(data, "commitments.pan_appointment_days")
    if not whole(value):
        raise ConfigError(file, "commitments.pan_appointment_days", "must be a positive number of days")
