"""Twilio request signatures (X-Twilio-Signature) and the channel's token configuration.

Twilio signs each webhook with HMAC-SHA1 of the full URL it called plus the sorted POST
parameters, keyed by the account's auth token. Behind a TLS proxy the server does not see that
URL, so it is rebuilt from PUBLIC_BASE_URL + the request path + the query string.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from twilio.request_validator import RequestValidator

from bot import settings as env_settings

logger = logging.getLogger(__name__)

LOCAL_DEV_TOKEN = "aiguillage-local-dev"
HEADER = "X-Twilio-Signature"


@dataclass(frozen=True)
class Settings:
    """What the phone channel needs from the environment; `problem` set = not serving calls."""

    token: str | None
    base_url: str | None
    local_dev: bool
    problem: str | None = None

    @property
    def serving(self) -> bool:
        return self.problem is None


def settings_from_env(environ: dict | None = None) -> Settings:
    """The phone channel's settings, read through bot.settings (`environ`: a test's own mapping)."""
    token = env_settings.twilio_auth_token(environ)
    local_dev = env_settings.phone_local_dev(environ)
    base = (env_settings.public_base_url(environ) or "").rstrip("/") or None
    if token is None and local_dev:
        token = LOCAL_DEV_TOKEN
    if local_dev and base is None:
        base = f"http://127.0.0.1:{env_settings.server_port(environ)}"
    if token is None:
        return Settings(
            None, base, False, "TWILIO_AUTH_TOKEN is not set (set it, or IVR_LOCAL_DEV=1 to try the phone menu locally)"
        )
    if base is None:
        return Settings(token, None, local_dev, "PUBLIC_BASE_URL is not set (the public https:// address Twilio calls)")
    if not base.startswith(("https://", "http://")):
        return Settings(token, None, local_dev, f"PUBLIC_BASE_URL '{base}' must start with https://")
    return Settings(token, base, local_dev)


def public_url(base_url: str, path: str, query_string: str = "") -> str:
    """The URL Twilio called: public base + path (+ ?query)."""
    return base_url.rstrip("/") + path + (f"?{query_string}" if query_string else "")


def sign(token: str, url: str, params: dict[str, str]) -> str:
    """The X-Twilio-Signature Twilio would send (twilio's own algorithm)."""
    return RequestValidator(token).compute_signature(url, params)


class _MultiParams(dict):
    """Form parameters as name -> list of values, read by RequestValidator through getall()."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def is_valid(token: str, url: str, params: dict[str, list[str]], signature: str | None) -> bool:
    """Twilio's rule (twilio's RequestValidator.validate: the URL with or without its port). The URL
    as called is tried first, with one HMAC; only a signature that does not match it pays for
    Twilio's two variants."""
    if not signature:
        return False
    validator, multi = RequestValidator(token), _MultiParams(params)
    if hmac.compare_digest(validator.compute_signature(url, multi).encode(), signature.encode("utf-8", "replace")):
        return True
    return validator.validate(url, multi, signature)
