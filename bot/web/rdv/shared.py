"""What the booking pages and the chat's JSON API share (bot/web/rdv/pages.py, api.py): the lists of
sites, reasons and slots, booking, cancelling and leaving a message to a service (each validated by
bot/services, written in a worker thread, then the e-mails sent), and the per-address limits."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta

from sanic.request import Request

from bot.core import display, texts
from bot.core.clock import french_date, say_duration
from bot.services import mailer, pan, runtime, throttle, tickets
from bot.services.pan import BookingError
from bot.store.disk import disk_full
from bot.web.client import client_address, exempt
from bot.web.http import BODY_LIMITS, RDV_PREFIX, say

logger = logging.getLogger(__name__)
CSRF_COOKIE = "rdv_csrf"
SLOTS_PER_PAGE = 8
# Longest value read from a form field or a JSON member (longer input is cut, then validated). A
# message's text is never cut: its request's own limit bounds it, and its refusal says its real length.
LIMITS = {
    "site": 64,
    "reason": 64,
    "slot": 20,
    "email": 254,
    "mobile": 30,
    "idem": 64,
    "service": 64,
    "subject": 1000,
    "body": max(BODY_LIMITS[RDV_PREFIX + "/message"], BODY_LIMITS[RDV_PREFIX + "/api/message"]),
    "reference": 20,
    "contact": 254,
}


# What a write refused by a full disk was, by its route's last part (/rdv/reserver, /rdv/api/reserver...).
FULL_DISK_TEXTS = {"reserver": "not_recorded_booking", "annuler": "not_recorded_cancel", "message": "not_recorded_message"}


def store_refusal(request: Request, exc: BaseException) -> tuple[str, str]:
    """The title and the text of the 503 for a request the store refused (nothing written: each write
    is one transaction). Locked past its busy timeout: « momentanément surchargé », send again in an
    instant (a page that only reads: reload it). Its disk full (bot.store.disk): not recorded for now,
    try again later or call the préfecture; sending again at once cannot help until space is freed."""
    reading = request.method in ("GET", "HEAD")
    written = FULL_DISK_TEXTS.get(request.path.rstrip("/").rsplit("/", 1)[-1])
    if written and not reading and disk_full(exc):
        return say("not_recorded_title"), say(written)
    return say("store_busy_title"), say("store_busy_reading" if reading else "store_busy")


def clip(value, name: str) -> str:
    return value[: LIMITS[name]] if isinstance(value, str) else ""


def line_runs(lines: list[str]) -> list[list[dict]]:
    """Each line as the chat's answers are drawn (bot/core/display.py runs): French typography, and
    a confirmed number of the préfecture files as a tel: link."""
    phones = runtime.phones()
    return [display.runs(line, phones) for line in lines]


def site_list(pref) -> list[dict]:
    return [
        # `hours_text`: its hours, then those kept for the foreigners' procedures (config._computed)
        {"id": s["id"], "name": s["name"], "address": s["address"]["text"], "hours": s["hours_text"]}
        for s in pan.sites(pref)
    ]


def slot_list(pref, slots) -> list[dict]:
    foreigners = texts.say("pan.foreigners_slot", pref)
    return [{"key": s.key, "label": pan.say_when(s.start) + (f" ({foreigners})" if s.foreigners else "")} for s in slots]


def check_choice(pref, site_id: str, reason: str) -> dict:
    """The site, once the site and the reason are known to exist (else BookingError)."""
    spec = pan.site(pref, site_id)
    if reason not in pan.reasons(pref):
        raise BookingError("unknown_reason", pref)
    return spec


def slots_page(store, pref, site_id: str, reason: str, after: datetime | None = None) -> tuple[list, bool]:
    """One page of free slots (strictly after `after` when given) and whether more follow."""
    found = pan.free_slots(
        store, pref, site_id, reason=reason, limit=SLOTS_PER_PAGE + 1, after=after + timedelta(minutes=1) if after else None
    )
    return found[:SLOTS_PER_PAGE], len(found) > SLOTS_PER_PAGE


def free_days(store, pref, site_id: str, reason: str) -> list[date]:
    """The days (Paris dates) that still have a free slot, for the page's choice of day."""
    limit = 10_000  # every slot of the booking window: a few hundred at most
    return sorted({s.start.date() for s in pan.free_slots(store, pref, site_id, reason=reason, limit=limit)})


def day_label(day: date) -> str:
    """'mardi 8 décembre 2026'."""
    return french_date(day)


def parse_position(pref, after: str | None, day: str | None) -> tuple[datetime | None, date | None]:
    """The `apres=` slot key or the `jour=` date of a slots page, kept inside the booking window so
    that the arithmetic on it stays in range (year 1 and 9999 are valid dates): BookingError
    `bad_slot` / `bad_day` when malformed, `too_far` past the window's last day; before today it
    is no position at all (the first page: a page opened yesterday still works)."""
    try:
        position = (datetime.strptime(after, pan.STAMP), None) if after else (None, date.fromisoformat(day) if day else None)
    except ValueError:
        raise BookingError("bad_day" if day and not after else "bad_slot", pref) from None
    now = pan.paris_now()
    when = position[0].date() if position[0] else position[1]
    if when is None or when < now.date():
        return None, None
    if when > pan.last_day(pref, now):
        raise BookingError("too_far", pref)
    return position


def in_thread(fn, *args, **kwargs):
    """Run a store write in a worker thread, on that thread's own connection (runtime.thread_store),
    so that the event loop keeps answering meanwhile (issue 13)."""
    return asyncio.to_thread(lambda: fn(runtime.thread_store(), *args, **kwargs))


async def make_booking(store, pref, values: dict, channel: str) -> dict:
    """Book from the submitted values (pan.book validates everything), then send the confirmation."""
    booking = await in_thread(
        pan.book,
        pref,
        clip(values.get("site"), "site"),
        clip(values.get("slot"), "slot"),
        clip(values.get("reason"), "reason"),
        email=clip(values.get("email"), "email"),
        mobile=clip(values.get("mobile"), "mobile"),
        channel=channel,
        idempotency_key=clip(values.get("idem"), "idem") or None,
    )
    if booking["contact_kind"] == "email":
        await mailer.deliver(store)
    return booking


def mail_configured() -> bool:
    """Whether e-mails leave at all (SMTP_HOST set): else no page says one "is sent"."""
    return mailer.SmtpSettings.from_env() is not None


def contact_help(pref) -> str:
    """What the contact fields are for: the e-mail gets the confirmation (when e-mails leave at all),
    the mobile nothing (it lets the service reach the person)."""
    return texts.say("pan.contact_help" if mail_configured() else "pan.contact_help_no_mail", pref)


def confirmation(pref, booking: dict) -> dict:
    """The confirmation's texts; `email_note` when an e-mail is sent, else `reference_note`: nothing
    is sent (a mobile, or no mail server), the reference shown is the person's only copy."""
    sent = booking["contact_kind"] == "email" and mail_configured()
    return dict(
        title=texts.say("pan.confirmed_title", pref),
        lines=pan.confirmation_lines(pref, booking),
        email_note=texts.say("pan.email_sent", pref) if sent else None,
        reference_note=None if sent else texts.say("pan.note_reference", pref, reference=booking["reference"]),
        ics_url=f"{RDV_PREFIX}/ics/{booking['reference']}?t={booking['token']}",
        ics_label=texts.say("pan.ics_link", pref),
    )


async def cancel_booking(store, pref, reference: str, contact: str) -> tuple[dict, str]:
    """Cancel (pan.cancel validates); returns the booking and the French sentence that says so.

    A retried cancellation (the booking is already cancelled, the contact matches) is answered as a
    success that says so, as a retried booking is: the person's aim is met."""
    reference, contact = clip(reference, "reference"), clip(contact, "contact")
    try:
        booking = await in_thread(pan.cancel, pref, reference, contact)
    except BookingError as exc:
        if exc.code != "already_cancelled":
            raise
        booking = pan.get_booking(store, reference)
        when = pan.say_when(datetime.strptime(booking["slot_start"], pan.STAMP))
        return booking, texts.say("pan.already_cancelled", pref, reference=booking["reference"], when=when)
    await mailer.deliver(store)
    when = pan.say_when(datetime.strptime(booking["slot_start"], pan.STAMP))
    return booking, texts.say("pan.cancelled", pref, reference=booking["reference"], when=when)


class TooMany(Exception):
    """A request over a per-address limit (bot/services/throttle.py): 429, Retry-After, a French reason."""

    def __init__(self, pref, wait_s: int, text: str = "requests.too_many"):
        self.wait_s = wait_s
        self.message = texts.say(text, pref, wait=say_duration(wait_s))
        super().__init__(self.message)


async def _take(pref, scope: str, address: str) -> int | None:
    """Count one `scope` event of the address (its id), or raise TooMany over the scope's limit."""
    wait, event = await in_thread(throttle.attempt, pref, scope, address)
    if wait:
        logger.warning("rdv: %s refused for an address over its limit (retry in %d s)", scope, wait)
        raise TooMany(pref, wait)
    return event


@asynccontextmanager
async def counted(request: Request, pref, scope: str):
    """One booking, cancellation or message of the client address, within its limits (TooMany).

    Every submission counts in the address's general guard (`submit`, refused ones included: a
    flood); only an accepted one uses one of the `scope` window's (docs/operations.md "Throttling"). That one
    is counted beforehand (parallel requests cannot all pass the check) and taken back when the
    submission is refused by validation (BookingError, TicketError: a French 4xx with its reason)."""
    address = client_address(request)
    if exempt(address):
        yield
        return
    await _take(pref, "submit", address)
    event = await _take(pref, scope, address)
    try:
        yield
    except (BookingError, tickets.TicketError):
        await in_thread(throttle.forgive, event)
        raise


async def limited_cancel(request: Request, store, pref, reference: str, contact: str) -> tuple[dict, str]:
    """cancel_booking, throttled per client address: the cancellations, and the wrong guesses (a
    reference with a contact that does not match it) that make up a search by trial and error. Each
    attempt is counted as a guess beforehand (parallel guesses cannot all pass), and taken back
    when the pair was right."""
    address = client_address(request)
    guess = None
    if not exempt(address):
        wait, guess = await in_thread(throttle.attempt, pref, "cancel_guess", address)
        if wait:
            logger.warning("rdv: cancellation refused after too many wrong guesses from one address (retry in %d s)", wait)
            raise TooMany(pref, wait, "requests.too_many_guesses")
    try:
        async with counted(request, pref, "cancel"):
            result = await cancel_booking(store, pref, reference, contact)
    except BookingError as exc:
        if exc.code != "not_found":
            await in_thread(throttle.forgive, guess)
        raise
    except TooMany:
        await in_thread(throttle.forgive, guess)
        raise
    await in_thread(throttle.forgive, guess)
    return result


def message_form(pref, service_id: str) -> dict:
    """The texts and limits of the message form of a service (TicketError when unknown)."""
    box = tickets.mailbox(pref, service_id)
    return dict(
        title=texts.say("tickets.page_title", pref, service=box["service"]),
        intro=texts.say("tickets.intro", pref, service=box["service"]),
        privacy=texts.say("tickets.privacy", pref),
        service_id=service_id,
        service=box["service"],
        email_label=texts.say("tickets.email_label", pref),
        email_help=texts.say("tickets.email_help", pref),
        subject_max=pref.get("tickets.subject_max_chars"),
        body_max=pref.get("tickets.max_chars"),
    )


async def leave_message(store, pref, values: dict, channel: str) -> dict:
    """Create the ticket from the submitted values (tickets.create_ticket validates), then send."""
    ticket = await in_thread(
        tickets.create_ticket,
        pref,
        clip(values.get("service"), "service"),
        clip(values.get("subject"), "subject"),
        clip(values.get("body"), "body"),
        clip(values.get("email"), "email") or None,
        channel=channel,
        idempotency_key=clip(values.get("idem"), "idem") or None,
    )
    await mailer.deliver(store)  # this ticket, and any earlier one still waiting (retry at each new ticket)
    return ticket


def acknowledgement(pref, ticket: dict) -> dict:
    lines = tickets.ack_lines(pref, ticket)[:-1]  # the France Services line is a link on screen
    if ticket["contact_email"] and mail_configured():
        lines.append(texts.say("tickets.ack_email_sent", pref))
    if not mail_configured():
        lines.append(texts.say("tickets.pending", pref))
    return dict(
        title=texts.say("tickets.ack_title", pref),
        lines=lines,
        france_services_url=pref.get("france_services.url"),
        france_services_link=texts.say("tickets.france_services_link", pref),
    )


def short_date(iso_day: str) -> str:
    return datetime.strptime(iso_day, "%Y-%m-%d").strftime("%d/%m/%Y")
