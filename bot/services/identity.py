"""Keyed hashes of a person's contact, to recognise the same person without keeping the contact.

The same person gives the same value under any spelling of their contact: an e-mail address in any
case, a French phone number with or without spaces, national or international. The hash is an
HMAC-SHA256 under a key kept in the store (`Store.secret`), so a copy of the table alone does not
let anyone test guesses of e-mail addresses or phone numbers. Used to match a caller who booked by
phone, and to count one person's appointments and messages.
"""

from __future__ import annotations

import hmac
import re
from hashlib import sha256

import phonenumbers

from bot.store.database import Store

KEY_NAME = "contact"


def normalise_contact(value: str | None) -> str | None:
    """One spelling per contact: an e-mail address in lower case, a phone number in E.164; None
    for an empty value. Anything else is kept as typed, stripped and in lower case."""
    raw = (value or "").strip()
    if not raw:
        return None
    if "@" in raw:
        return raw.lower()
    try:
        number = phonenumbers.parse(raw, "FR")
    except phonenumbers.NumberParseException:
        return raw.lower()
    if phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return raw.lower()


def phone_number(value: str | None) -> str | None:
    """A caller's number (Twilio's `From`) in E.164 when it is a real, valid number; None for a
    hidden one ('anonymous', '+266696687', blank) or anything that is not a phone number."""
    raw = (value or "").strip()
    if not raw or "@" in raw:
        return None
    try:
        number = phonenumbers.parse(raw, "FR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def say_phone(value: str | None) -> str | None:
    """A number as an agent dials it: the national format in pairs for a French one, the
    international format otherwise."""
    e164 = phone_number(value)
    if e164 is None:
        return None
    number = phonenumbers.parse(e164, None)
    style = phonenumbers.PhoneNumberFormat.NATIONAL if number.country_code == 33 else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)


def same_contact(store: Store, value: str | None, key: str | None) -> bool:
    """Whether `value` is the contact whose keyed hash is `key` (constant-time comparison)."""
    given = contact_key(store, value)
    return bool(key) and given is not None and hmac.compare_digest(given, key)


def contact_key(store: Store, value: str | None) -> str | None:
    """The keyed hash (64 hex characters) of a contact, or None for an empty one."""
    normal = normalise_contact(value)
    if normal is None:
        return None
    return hmac.new(store.secret(KEY_NAME), normal.encode(), sha256).hexdigest()


_REFERENCE = re.compile(r"^([A-Z]{2,4})?[\s.\-_]*(\d{4})[\s.\-_]*(\d{4})$")


def written_reference(text: str | None, prefix: str = "PAN") -> str:
    """A booking's reference as it is stored ("PAN-1234-5678"), however the person typed it: lower
    case, spaces or dots for the dashes, no dash, no prefix ("pan 1234 5678", "12345678"). Anything
    else is returned stripped and in upper case (it matches no reference)."""
    said = (text or "").strip().upper()
    found = _REFERENCE.match(said)
    if found is None or (found.group(1) or prefix) != prefix:
        return said
    return f"{prefix}-{found.group(2)}-{found.group(3)}"
