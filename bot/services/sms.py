"""A text message with a link, sent through Twilio's Messages API (the phone's "tapez 5").

`Sender.send(to, body)` POSTs /2010-04-01/Accounts/{AccountSid}/Messages.json (To, Body,
MessagingServiceSid; basic auth) with the twilio library's REST client, pointed at
TWILIO_API_BASE_URL when set (a test's stand-in for Twilio). It blocks (an HTTP request): call it
off the event loop. It answers an outcome, never raises:

  "sent"       Twilio accepted the message (201, status "accepted" or "queued");
  "no_mobile"  the number is withheld, not French, not a mobile, or Twilio refused it as such
               (21211 invalid 'To', 21612/21614 not reachable by SMS / not a mobile);
  "refused"    the person unsubscribed from this service's messages (21610, they sent STOP);
  "failed"     anything else (20003 authentication, 429 too many requests, 5xx, timeout,
               connection refused).

The number is used for this one request only: nothing here writes it, and the log names the
outcome and Twilio's error code, never the number nor Twilio's message (which may quote it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import phonenumbers

from bot import settings as env_settings

logger = logging.getLogger(__name__)

OUTCOMES = ("sent", "no_mobile", "refused", "failed")
NOT_A_MOBILE_CODES = {21211, 21612, 21614}  # invalid 'To', not reachable by SMS, 'To' is not a mobile
UNSUBSCRIBED_CODES = {21610}  # the recipient replied STOP to this service
DEFAULT_TIMEOUT_S = 10.0  # the HTTP request's own bound; the caller does not wait that long (see ivr/)


def french_mobile(raw: str | None) -> str | None:
    """The caller's number in E.164 when it is a French mobile ("+33612345678"); None for a withheld
    number ("anonymous", "+266696687", blank), a landline, a service number or a foreign number."""
    value = (raw or "").strip()
    if not value or not any(c.isdigit() for c in value):
        return None
    try:
        number = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 33 or not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Result:
    outcome: str  # one of OUTCOMES
    sid: str | None = None  # Twilio's message SID (SM...) when accepted
    code: int | None = None  # Twilio's error code, or the HTTP status without one
    detail: str = ""  # for the log: never the number


class Sender:
    """One Twilio REST client for the process (thread safe: one HTTP session per request)."""

    def __init__(self, config: env_settings.Sms, timeout_s: float = DEFAULT_TIMEOUT_S):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.config = config
        # pool_connections=False: a fresh session per request, so pool threads never share one.
        http = TwilioHttpClient(pool_connections=False, timeout=timeout_s)
        self.client = Client(config.account_sid, config.auth_token, http_client=http)
        if config.api_base_url:
            self.client.api.base_url = config.api_base_url

    @classmethod
    def from_env(cls, env=None) -> Sender | None:
        config = env_settings.sms(env)
        return cls(config) if config is not None else None

    def send(self, to: str | None, body: str) -> Result:
        """Send `body` to `to` if it is a French mobile; the outcome, never an exception."""
        number = french_mobile(to)
        if number is None:
            return Result("no_mobile", detail="not a French mobile number (or withheld)")
        from requests import RequestException
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            message = self.client.messages.create(to=number, body=body, messaging_service_sid=self.config.messaging_service_sid)
        except TwilioRestException as exc:
            code = exc.code or exc.status
            if exc.code in NOT_A_MOBILE_CODES:
                outcome = "no_mobile"
            elif exc.code in UNSUBSCRIBED_CODES:
                outcome = "refused"
            else:
                outcome = "failed"
            return Result(outcome, code=code, detail=f"Twilio answered {exc.status} (error {exc.code})")
        except (RequestException, TwilioException, OSError) as exc:
            return Result("failed", detail=f"Twilio's API could not be reached: {type(exc).__name__}")
        except Exception as exc:  # noqa: BLE001 - an answer the library cannot read: the caller hears an apology
            return Result("failed", detail=f"unreadable answer from Twilio's API: {type(exc).__name__}")
        return Result("sent", sid=message.sid, detail=f"accepted ({message.status})")
