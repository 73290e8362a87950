"""The one place the product reads its environment: typed values, secrets never shown, and errors
that name the variable. Read at call time (never at import), so a test or a command can set them.

Variables (README, "Settings"): PREFECTURE, AIGUILLAGE_DB, AIGUILLAGE_MODEL, AIGUILLAGE_REVIEW_OUT,
AIGUILLAGE_CHROMIUM, AIGUILLAGE_PURGE_FIRST_S (test servers), PUBLIC_BASE_URL, SMTP_HOST, SMTP_PORT, SMTP_STARTTLS, SMTP_USER, SMTP_PASSWORD,
SMTP_FROM, AIGUILLAGE_ACTIONS_SECRET (the key Rasa sends to the in-process action endpoint; made
at start-up when unset: ensure_actions_secret). The phone channel's (TWILIO_AUTH_TOKEN, IVR_*) are read by ivr/signature.py and
ivr/hours.py.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CHROMIUM = "/usr/bin/chromium"
DEFAULT_SENDER = "aiguillage@localhost"
ACTIONS_SECRET = "AIGUILLAGE_ACTIONS_SECRET"
ACTIONS_SECRET_MIN_CHARS = 32


class SettingsError(ValueError):
    """A variable of the environment has a value the product cannot use."""

    def __init__(self, name: str, problem: str):
        self.name = name
        super().__init__(f"{name}: {problem}")


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def text(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The variable's value, stripped; None when unset or blank."""
    value = (_env(env).get(name) or "").strip()
    return value or None


def path(name: str, env: Mapping[str, str] | None = None) -> Path | None:
    value = text(name, env)
    return Path(value) if value else None


def flag(name: str, env: Mapping[str, str] | None = None) -> bool:
    value = text(name, env) or "0"
    if value not in ("0", "1"):
        raise SettingsError(name, f"expected 0 or 1, got {value!r}")
    return value == "1"


def port(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    value = text(name, env)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise SettingsError(name, f"expected a port number (1-65535), got {value!r}")
    return int(value)


def prefecture(env: Mapping[str, str] | None = None) -> str | None:
    return text("PREFECTURE", env)


def database(env: Mapping[str, str] | None = None) -> Path | None:
    return path("AIGUILLAGE_DB", env)


def model(env: Mapping[str, str] | None = None) -> Path | None:
    return path("AIGUILLAGE_MODEL", env)


def purge_first_s(env: Mapping[str, str] | None = None) -> float | None:
    """Test servers only (IVR_TEST_CLOCK=1 or IVR_LOCAL_DEV=1): run the daily retention purge this many
    seconds after the start instead of at 03:00 Paris time."""
    e = _env(env)
    value = e.get("AIGUILLAGE_PURGE_FIRST_S")
    if not value or not (e.get("IVR_TEST_CLOCK") == "1" or e.get("IVR_LOCAL_DEV") == "1"):
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        raise SettingsError("AIGUILLAGE_PURGE_FIRST_S", f"expected a number of seconds, got {value!r}") from None


def review_out(env: Mapping[str, str] | None = None) -> Path | None:
    return path("AIGUILLAGE_REVIEW_OUT", env)


def chromium(env: Mapping[str, str] | None = None) -> str:
    return text("AIGUILLAGE_CHROMIUM", env) or DEFAULT_CHROMIUM


def public_base_url(env: Mapping[str, str] | None = None) -> str | None:
    return text("PUBLIC_BASE_URL", env)


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    starttls: bool
    user: str | None
    password: str | None = field(repr=False)  # never printed
    sender: str


def smtp(env: Mapping[str, str] | None = None) -> Smtp | None:
    """The SMTP settings, or None without SMTP_HOST (nothing is sent)."""
    host = text("SMTP_HOST", env)
    if host is None:
        return None
    starttls = flag("SMTP_STARTTLS", env)
    return Smtp(
        host=host,
        port=port("SMTP_PORT", 587 if starttls else 25, env),
        starttls=starttls,
        user=text("SMTP_USER", env),
        password=_env(env).get("SMTP_PASSWORD") or None,
        sender=text("SMTP_FROM", env) or DEFAULT_SENDER,
    )


def actions_secret(env: Mapping[str, str] | None = None) -> str | None:
    """The key Rasa sends (header X-Aiguillage-Actions-Key, endpoints.yml) with each call to the
    in-process action endpoint; None when unset. An operator's value must be long enough to guess at."""
    value = text(ACTIONS_SECRET, env)
    if value is not None and len(value) < ACTIONS_SECRET_MIN_CHARS:
        raise SettingsError(ACTIONS_SECRET, f"expected at least {ACTIONS_SECRET_MIN_CHARS} characters (a random key)")
    return value


def ensure_actions_secret(env: dict[str, str] | None = None) -> str:
    """The action endpoint's key, made now (random, this process only) unless the operator set one,
    and put in the environment (os.environ by default) BEFORE Rasa reads endpoints.yml, which names
    it as `${AIGUILLAGE_ACTIONS_SECRET}`: `python -m bot serve` calls this first."""
    target = os.environ if env is None else env
    value = actions_secret(target)
    if value is None:
        value = target[ACTIONS_SECRET] = secrets.token_urlsafe(32)
    return value
