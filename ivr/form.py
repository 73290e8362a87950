"""A phone webhook's request and answer: Twilio's POST parameters exactly as they were signed, and
TwiML responses (text/xml)."""

from __future__ import annotations

import math
import urllib.parse
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

XML = "text/xml; charset=utf-8"


def xml(resp) -> HTTPResponse:
    return response.text(resp.to_xml(), content_type=XML)


def raw_xml(text: str) -> HTTPResponse:
    return response.text(text, content_type=XML)


def params_of(request: Request) -> dict[str, list[str]]:
    """The POST parameters exactly as Twilio sent and signed them, blank values kept.

    Twilio signs every parameter, empty ones included (a French caller's `FromZip=`, a Gather's
    `FinishedOnKey=`); Sanic's `request.form` drops blank values, so the signature recomputed from
    it would never match a real call.
    """
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded" or not request.body:
        return {}
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return urllib.parse.parse_qs(body, keep_blank_values=True)


def first(params: dict[str, list[str]], name: str, default: str = "") -> str:
    values = params.get(name) or []
    return values[0] if values else default


# The longest duration taken as one (seconds): a call or a recording longer than a day is not one Twilio
# reports (its calls end after 4 hours at most); a larger number is a mangled body.
MAX_SECONDS = 86_400


def to_float(value: Any) -> float | None:
    """A number parameter; None for anything else, infinities and NaN included ("inf", "1e309")."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def to_int(value: Any, default: int | None = None) -> int | None:
    """A whole-number parameter; `default` for anything else, and for a number too large for the store
    (a 64-bit integer)."""
    number = to_float(value)
    return int(number) if number is not None and abs(number) < 2**63 else default


def to_seconds(value: Any) -> int | None:
    """A duration Twilio reports (CallDuration, RecordingDuration): whole seconds, None unless from 0
    to MAX_SECONDS."""
    seconds = to_int(value)
    return seconds if seconds is not None and 0 <= seconds <= MAX_SECONDS else None
