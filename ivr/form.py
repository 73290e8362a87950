"""A phone webhook's request and answer: Twilio's POST parameters exactly as they were signed, and
TwiML responses (text/xml)."""

from __future__ import annotations

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


def to_int(value: Any, default: int | None = None) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def to_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
