"""What Twilio really POSTs to each webhook: complete request bodies, one JSON file per shape.

The shapes live in `tests/fixtures/twilio/*.json` (one place for the tests, `python -m tools.ivr simulate`
and `python -m tools.ivr audit`); each names the Twilio documentation page it follows:

    {"doc": "<Twilio documentation URL>", "route": "voice|menu|voicemail|recording|dialed|status|any",
     "query": {<the action URL's query in the example>}, "notes": "...", "params": {<every POST parameter>}}

The parameters are those of a caller on a French mobile: the geographic fields (FromCity, FromZip,
CalledState, ...) are present and blank, as Twilio sends and signs them. `body()` fills in the call's
own values (CallSid, caller, number called) and the step's (Digits, SpeechResult, ...).

Only the tools and the tests read these files; the phone channel itself never does.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "twilio"
CALLER_FIELDS = ("From", "Caller")
CALLED_FIELDS = ("To", "Called")


@cache
def _read(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text(encoding="utf-8")


def load(name: str) -> dict:
    """One shape: {"doc", "route", "query", "notes", "params"} (a fresh copy)."""
    return json.loads(_read(name))


def names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def body(
    name: str, call_sid: str | None = None, caller: str | None = None, to: str | None = None, **values: str | None
) -> dict[str, str]:
    """The complete POST parameters of shape `name` for one call.

    `values` set parameters (a value None removes the parameter, e.g. DialCallDuration when the line
    did not answer); a parameter the shape does not have is added."""
    params = load(name)["params"]
    if call_sid is not None:
        params["CallSid"] = call_sid
    for fields, value in ((CALLER_FIELDS, caller), (CALLED_FIELDS, to)):
        if value is not None:
            for f in fields:
                if f in params:
                    params[f] = value
    for key, value in values.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return params
