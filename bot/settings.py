"""The one place the product reads its environment: typed values, secrets never shown, and errors
that name the variable. Read at call time (never at import), so a test or a command can set them.

Variables (docs/prefectures.md, "Choosing a préfecture"): PREFECTURE, AIGUILLAGE_DB, AIGUILLAGE_STORE (sqlite: keep the product's
store in AIGUILLAGE_DB when DATABASE_URL is set), AIGUILLAGE_MODEL, AIGUILLAGE_REVIEW_OUT, AIGUILLAGE_REVIEWED_SET,
AIGUILLAGE_DEV_EVAL (the folder of the shared dev sets, when the Makefile finds one),
DATABASE_URL and LOCK_STORE_URL (several processes: Rasa's
tracker store on PostgreSQL, its lock store on Redis), AIGUILLAGE_CHROMIUM, AIGUILLAGE_PURGE_FIRST_S (test servers), AIGUILLAGE_TRUSTED_PROXIES,
AIGUILLAGE_THROTTLE_EXEMPT, PUBLIC_BASE_URL, SMTP_HOST, SMTP_PORT, SMTP_STARTTLS, SMTP_USER, SMTP_PASSWORD,
SMTP_FROM, AIGUILLAGE_ACTIONS_SECRET (the key Rasa sends to the in-process action endpoint; made
at start-up when unset: ensure_actions_secret), and the phone's SMS (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_MESSAGING_SERVICE_SID,
TWILIO_API_BASE_URL). The phone channel's webhook settings (TWILIO_AUTH_TOKEN, IVR_*) are read by
ivr/signature.py and ivr/hours.py.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

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


def prefectures_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """AIGUILLAGE_PREFECTURES: the folder of the préfecture files (default: prefectures/ of the checkout)."""
    return path("AIGUILLAGE_PREFECTURES", env)


def database(env: Mapping[str, str] | None = None) -> Path | None:
    value = text("AIGUILLAGE_DB", env)
    if value is not None and "://" in value:
        raise SettingsError("AIGUILLAGE_DB", "expected the SQLite file's path; a PostgreSQL URL goes in DATABASE_URL")
    return path("AIGUILLAGE_DB", env)


@dataclass(frozen=True)
class LockStore:
    """LOCK_STORE_URL split into the fields of Rasa's `lock_store: type: redis` (endpoints.yml)."""

    host: str
    port: int
    db: int
    password: str | None = field(repr=False)  # never printed


def database_url(env: Mapping[str, str] | None = None) -> str | None:
    """DATABASE_URL: where Rasa's tracker store keeps the conversations when several processes serve
    them (postgresql://USER:PASSWORD@HOST:PORT/DATABASE); None (unset): the SQLite file AIGUILLAGE_DB.
    `postgres://` is read as `postgresql://` (SQLAlchemy 1.4 knows only the latter)."""
    value = text("DATABASE_URL", env)
    if value is None:
        return None
    for scheme in ("postgres://", "postgresql+psycopg2://"):
        if value.startswith(scheme):
            value = "postgresql://" + value.removeprefix(scheme)
    parts = urlsplit(value)
    if parts.scheme != "postgresql" or not parts.hostname or not parts.path.strip("/"):
        shown = value.split("@")[-1] if "@" in value else value  # never the password
        raise SettingsError(
            "DATABASE_URL", f"expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE (unset: SQLite), got {shown!r}"
        )
    return value


def store_url(env: Mapping[str, str] | None = None) -> str | None:
    """Where the product's own store goes (bot/store, docs/store.md): the PostgreSQL of DATABASE_URL,
    unless AIGUILLAGE_STORE=sqlite keeps it in the SQLite file AIGUILLAGE_DB (Rasa's tracker store
    still on PostgreSQL); None: SQLite. AIGUILLAGE_STORE=postgresql without DATABASE_URL is an error."""
    backend = (text("AIGUILLAGE_STORE", env) or "").lower()
    if backend not in ("", "sqlite", "postgresql"):
        raise SettingsError("AIGUILLAGE_STORE", f"expected sqlite or postgresql (unset: where DATABASE_URL is), got {backend!r}")
    url = database_url(env)
    if backend == "postgresql" and url is None:
        raise SettingsError("AIGUILLAGE_STORE", "postgresql needs DATABASE_URL=postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
    return None if backend == "sqlite" else url


def lock_store(env: Mapping[str, str] | None = None) -> LockStore | None:
    """LOCK_STORE_URL: Rasa's lock store on Redis (redis://[:PASSWORD@]HOST[:PORT][/DB], db 1 by default),
    which lets only one process at a time handle a turn of a conversation; None (unset): in memory,
    one process only."""
    value = text("LOCK_STORE_URL", env)
    if value is None:
        return None
    problem = "expected redis://[:PASSWORD@]HOST[:PORT][/DB]"
    parts = urlsplit(value)
    if parts.scheme != "redis" or not parts.hostname:
        raise SettingsError("LOCK_STORE_URL", f"{problem}, got {value.split('@')[-1]!r}")
    db = parts.path.strip("/") or "1"
    try:
        port_number = parts.port or 6379
    except ValueError:
        raise SettingsError("LOCK_STORE_URL", f"{problem}: the port is not a number") from None
    if not db.isdigit():
        raise SettingsError("LOCK_STORE_URL", f"{problem}: the database is a number, got {db!r}")
    return LockStore(parts.hostname, port_number, int(db), unquote(parts.password) if parts.password else None)


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


def spool_sweep_s(env: Mapping[str, str] | None = None) -> float:
    """How often a running server takes over what stopped processes of its host left in the spools
    (bot/store/spool.py `sweep_every`): a sibling writes them without waiting for a restart."""
    value = _env(env).get("AIGUILLAGE_SPOOL_SWEEP_S") or "30"
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise SettingsError("AIGUILLAGE_SPOOL_SWEEP_S", f"expected a positive number of seconds, got {value!r}")
    return seconds


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(name: str, env: Mapping[str, str] | None = None) -> tuple[Network, ...]:
    """A comma-separated list of addresses or networks ("127.0.0.1, 10.0.0.0/8, ::1"); empty when unset."""
    out = []
    for part in (text(name, env) or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SettingsError(name, f"expected IP addresses or networks separated by commas, got {part!r}") from None
    return tuple(out)


def trusted_proxies(env: Mapping[str, str] | None = None) -> tuple[Network, ...]:
    """AIGUILLAGE_TRUSTED_PROXIES: the reverse proxies (nginx) whose X-Forwarded-For is believed.
    Unset: the client address is the socket's, whatever the headers say."""
    return networks("AIGUILLAGE_TRUSTED_PROXIES", env)


def throttle_exempt(env: Mapping[str, str] | None = None) -> tuple[Network, ...]:
    """AIGUILLAGE_THROTTLE_EXEMPT: client addresses with no per-address limit on booking,
    cancelling and messages (a reception desk that books for visitors). Login throttling still applies."""
    return networks("AIGUILLAGE_THROTTLE_EXEMPT", env)


def review_out(env: Mapping[str, str] | None = None) -> Path | None:
    return path("AIGUILLAGE_REVIEW_OUT", env)


def reviewed_set(env: Mapping[str, str] | None = None) -> Path | None:
    """AIGUILLAGE_REVIEWED_SET: the file of the taught sentences kept to measure (bot/nlu/review.py);
    None: var/public_reviewed.jsonl."""
    return path("AIGUILLAGE_REVIEWED_SET", env)


def dev_eval_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """The folder of the shared dev sets (`dev_questions.jsonl`, `dev_user_written.jsonl`), or None:
    the Makefile sets it when it finds those sets beside the checkout; the product never needs it."""
    return path("AIGUILLAGE_DEV_EVAL", env)


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


@dataclass(frozen=True)
class Sms:
    """Twilio's Messages API (the phone's "pour recevoir le lien par SMS"): the account, its token, the
    Messaging Service that sends, and the API's address (Twilio's own unless a test points it elsewhere)."""

    account_sid: str
    auth_token: str = field(repr=False)  # never printed
    messaging_service_sid: str
    api_base_url: str | None = None  # None: the twilio library's own (Twilio's API)


def sms(env: Mapping[str, str] | None = None) -> Sms | None:
    """The SMS settings, or None unless TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and
    TWILIO_MESSAGING_SERVICE_SID are all set (no SMS is offered then)."""
    account = text("TWILIO_ACCOUNT_SID", env)
    token = _env(env).get("TWILIO_AUTH_TOKEN") or None
    service = text("TWILIO_MESSAGING_SERVICE_SID", env)
    if account is None or token is None or service is None:
        return None
    if not account.startswith("AC"):
        raise SettingsError("TWILIO_ACCOUNT_SID", f"expected an account SID starting with AC, got {account!r}")
    if not service.startswith("MG"):
        raise SettingsError("TWILIO_MESSAGING_SERVICE_SID", f"expected a Messaging Service SID starting with MG, got {service!r}")
    base = text("TWILIO_API_BASE_URL", env)
    if base is not None and not base.startswith(("https://", "http://")):
        raise SettingsError("TWILIO_API_BASE_URL", f"expected an http(s):// address, got {base!r}")
    return Sms(account, token, service, base.rstrip("/") if base else None)


# ---- the phone channel (ivr/) ---------------------------------------------------------------------


def twilio_auth_token(env: Mapping[str, str] | None = None) -> str | None:
    """The Twilio account's auth token: the key of every webhook's X-Twilio-Signature."""
    return _env(env).get("TWILIO_AUTH_TOKEN") or None


def phone_local_dev(env: Mapping[str, str] | None = None) -> bool:
    """IVR_LOCAL_DEV=1: the phone channel accepts the local development token (never in production)."""
    return flag("IVR_LOCAL_DEV", env)


def phone_test_clock(env: Mapping[str, str] | None = None) -> bool:
    """Whether a request may fix "now" with the X-Ivr-Now header: IVR_LOCAL_DEV=1 or IVR_TEST_CLOCK=1."""
    return flag("IVR_LOCAL_DEV", env) or flag("IVR_TEST_CLOCK", env)


def phone_nlu_fault(env: Mapping[str, str] | None = None) -> bool:
    """IVR_TEST_FAULT=nlu: the phone's NLU raises on every utterance (honoured on test servers only,
    see phone_test_clock), to test the keypad fallback."""
    return text("IVR_TEST_FAULT", env) == "nlu" and phone_test_clock(env)


def phone_fixed_now(env: Mapping[str, str] | None = None) -> str | None:
    """IVR_NOW: an ISO time ("2026-07-14T10:00", Paris time) that fixes the phone's clock for the process."""
    return text("IVR_NOW", env)


def server_port(env: Mapping[str, str] | None = None) -> int:
    """PORT: where `rasa run` listens (the Makefile's default 5005)."""
    return port("PORT", 5005, env)
