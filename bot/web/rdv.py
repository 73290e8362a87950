"""Pages under /rdv/ (registered in credentials.yml as bot.pan_channel.BookingInput).

The chat links here instead of collecting contact details itself: the chat masks every message
before Rasa, and a contact the user gives for a confirmation must live only in the booking or
ticket row. Server-rendered DSFR forms (Jinja2 autoescape), a double-submit CSRF token (cookie
SameSite=Strict + hidden field), the chat's Content-Security-Policy, an idempotency key in each
form (a double click books once).

  GET  /rdv/                      site and reason
  GET  /rdv/creneaux?site=&motif=[&apres=|&jour=]  a page of free slots (after a slot, or from a
                                  day), the days that have some, "Créneaux suivants" + contact
  POST /rdv/reserver              book -> confirmation (reference, address, what to bring, cancel, .ics)
  GET  /rdv/ics/<reference>?t=    the calendar file (t: the booking's secret token)
  GET  /rdv/annuler, POST         cancel with the reference + the contact given
  GET  /rdv/message?service=<id>  message to a service mailbox; POST -> acknowledgement

The chat's in-page widget (web/static/chat.js) does the same through a small JSON API, with the
same functions and validations (the helpers below serve both). Its POSTs must be declared JSON and
come from this origin (bot.channels.refuse_cross_site); errors are 4xx `{"error": "<French>"}`.

Bookings, cancellations and messages are limited per client address (bot/web/client.py), and so are
wrong cancellation guesses (bot/services/throttle.py, limits in the préfecture files): over a limit,
429 with Retry-After and a French reason, on the pages and in the API (`code: "throttled"`).

  GET  /rdv/api/sites                          sites, reasons and the texts of the chat's prompts
  GET  /rdv/api/creneaux?site=&reason=&apres=  next free slots (a page; `next` = cursor of the next page)
  POST /rdv/api/reserver  {site, reason, slot, email | mobile, idem}  -> confirmation (409 + slots if taken)
  POST /rdv/api/annuler   {reference, contact}
  GET  /rdv/api/message?service=               texts and limits of the message form
  POST /rdv/api/message   {service, subject, body, email?, idem}      -> acknowledgement
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import settings
from bot.core import texts
from bot.core.clock import french_date, say_duration
from bot.core.config import format_days
from bot.services import mailer, pan, throttle, tickets
from bot.services.pan import BookingError
from bot.services.tickets import TicketError
from bot.web.http import (
    BODY_LIMITS,
    security_headers,
    json_object,
    read_body,
    refuse_cross_site,
    say,
    too_large,
)
from bot.web.client import client_address, exempt

logger = logging.getLogger(__name__)
CSRF_COOKIE = "rdv_csrf"
SLOTS_PER_PAGE = 8
# Longest value read from a form field or a JSON member (longer input is cut, then validated).
LIMITS = {
    "site": 64,
    "reason": 64,
    "slot": 20,
    "email": 254,
    "mobile": 30,
    "idem": 64,
    "service": 64,
    "subject": 1000,
    "body": 20000,
    "reference": 20,
    "contact": 254,
}


# ---- shared by the pages and the JSON API -------------------------------------------------------


def clip(value, name: str) -> str:
    return value[: LIMITS[name]] if isinstance(value, str) else ""


def site_list(pref) -> list[dict]:
    return [
        {"id": s["id"], "name": s["name"], "address": s["address"]["text"], "hours": format_days(s["days"])}
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
    """The `apres=` slot key or the `jour=` date of the slots page (BookingError when malformed)."""
    try:
        if after:
            return datetime.strptime(after, pan.STAMP), None
        if day:
            return None, date.fromisoformat(day)
    except ValueError:
        raise BookingError("bad_day" if day and not after else "bad_slot", pref) from None
    return None, None


def in_thread(fn, *args, **kwargs):
    """Run a store write in a worker thread, on that thread's own connection (runtime.thread_store),
    so that the event loop keeps answering meanwhile (issue 13)."""
    from bot.services import runtime

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


def confirmation(pref, booking: dict) -> dict:
    note = texts.say("pan.email_sent", pref) if booking["contact_kind"] == "email" and mail_configured() else None
    return dict(
        title=texts.say("pan.confirmed_title", pref),
        lines=pan.confirmation_lines(pref, booking),
        email_note=note,
        ics_url=f"/rdv/ics/{booking['reference']}?t={booking['token']}",
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


async def limit(request: Request, pref, scope: str) -> None:
    """Count one booking, cancellation or message of the client address, or raise TooMany."""
    address = client_address(request)
    if exempt(address):
        return
    wait = await in_thread(throttle.take, pref, scope, address)
    if wait:
        logger.warning("rdv: %s refused for an address over its limit (retry in %d s)", scope, wait)
        raise TooMany(pref, wait)


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
        await limit(request, pref, "cancel")
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


class BookingInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rdv"

    def url_prefix(self) -> str:
        return "/rdv"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        from bot.services import runtime

        bp = Blueprint("aiguillage_rdv", __name__)

        def page(request: Request, status: int = 200, **ctx) -> HTTPResponse:
            token = request.cookies.get(CSRF_COOKIE) or ""
            if len(token) < 20:
                token = secrets.token_urlsafe(24)
            html = runtime._templates().get_template("rdv.html").render(csrf=token, **(runtime.public_page_context() | ctx))
            resp = security_headers(response.html(html, status=status))
            resp.headers["Cache-Control"] = "no-store"
            resp.cookies[CSRF_COOKIE] = token
            resp.cookies[CSRF_COOKIE]["httponly"] = True
            resp.cookies[CSRF_COOKIE]["samesite"] = "Strict"
            resp.cookies[CSRF_COOKIE]["path"] = "/rdv"
            if (settings.public_base_url() or "").startswith("https://"):
                resp.cookies[CSRF_COOKIE]["secure"] = True
            return resp

        def csrf_ok(request: Request) -> bool:
            cookie, field = request.cookies.get(CSRF_COOKIE) or "", (request.form or {}).get("csrf") or ""
            return bool(cookie) and hmac.compare_digest(cookie.encode(), field.encode())

        def form(request: Request) -> dict:
            return {k: (request.form or {}).get(k) for k in LIMITS if k != "reason"} | {
                "reason": (request.form or {}).get("motif")
            }

        def choose_ctx(pref, site_id: str | None = None, reason: str | None = None) -> dict:
            return dict(
                page="choose",
                title=texts.say("pan.page_title", pref),
                intro=texts.say("pan.intro", pref),
                sites=site_list(pref),
                reasons=pan.reasons(pref),
                site=site_id,
                reason=reason,
            )

        def slots_ctx(
            pref, site_id: str, reason: str, slots=None, after: datetime | None = None, day: date | None = None, **extra
        ) -> dict:
            spec, store = pan.site(pref, site_id), runtime.store()
            more = False
            if slots is None:
                start = datetime.combine(day, datetime.min.time()) - timedelta(minutes=1) if day else after
                slots, more = slots_page(store, pref, site_id, reason, start)
            query = {"site": site_id, "motif": reason}
            days = free_days(store, pref, site_id, reason)
            chosen = day or (slots[0].start.date() if slots and (after or day) else None)
            return dict(
                page="slots",
                title=texts.say("pan.page_title", pref),
                slots=slot_list(pref, slots),
                slots_intro=texts.say("pan.slots_intro", pref, site=spec["name"]),
                days=[{"value": d.isoformat(), "label": day_label(d), "chosen": d == chosen} for d in days],
                day_label=texts.say("pan.day_label", pref),
                day_button=texts.say("pan.day_button", pref),
                next_url=f"/rdv/creneaux?{urlencode(query | {'apres': slots[-1].key})}" if more else None,
                next_label=texts.say("pan.next_slots", pref),
                first_url=f"/rdv/creneaux?{urlencode(query)}" if (after or day) else None,
                first_label=texts.say("pan.first_slots", pref),
                no_slots=texts.say("pan.no_slots", pref, days=pref.get("pan.booking_days_ahead")),
                contact_help=texts.say("pan.contact_help", pref),
                site=site_id,
                reason=reason,
                idem=secrets.token_urlsafe(16),
                **extra,
            )

        def too_many_page(request: Request, exc: TooMany, **ctx) -> HTTPResponse:
            resp = page(request, 429, error=exc.message, **ctx)
            resp.headers["Retry-After"] = str(exc.wait_s)
            return resp

        @bp.route("/", methods=["GET"])
        async def choose(request: Request) -> HTTPResponse:
            return page(request, **choose_ctx(runtime.prefecture()))

        @bp.route("/creneaux", methods=["GET"])
        async def slots(request: Request) -> HTTPResponse:
            pref = runtime.prefecture()
            site_id, reason = request.args.get("site") or "", request.args.get("motif") or ""
            try:
                check_choice(pref, site_id, reason)
            except BookingError as exc:
                return page(request, 400, error=exc.message, **choose_ctx(pref, site_id, reason))
            try:
                after, day = parse_position(pref, request.args.get("apres"), request.args.get("jour"))
            except BookingError as exc:
                return page(request, 400, error=exc.message, **slots_ctx(pref, site_id, reason))
            return page(request, **slots_ctx(pref, site_id, reason, after=after, day=day))

        async def form_too_large(request: Request, **ctx) -> HTTPResponse | None:
            """None once the body of a form is read within its limit, else the 413 page."""
            if request.method != "POST" or await read_body(request, BODY_LIMITS[request.path]) is not None:
                return None
            too_large(request)  # logs it
            return page(request, 413, error=say("too_large"), **ctx)

        @bp.route("/reserver", methods=["POST"], stream=True)
        async def reserve(request: Request) -> HTTPResponse:
            pref, store = runtime.prefecture(), runtime.store()
            refused = await form_too_large(request, **choose_ctx(pref))
            if refused:
                return refused
            values = form(request)
            site_id, reason = clip(values["site"], "site"), clip(values["reason"], "reason")
            if not csrf_ok(request):
                return page(request, 403, error=texts.say("pan.errors.csrf", pref), **choose_ctx(pref))
            try:
                await limit(request, pref, "book")
                booking = await make_booking(store, pref, values, "web")
            except TooMany as exc:
                return too_many_page(request, exc, **choose_ctx(pref))
            except BookingError as exc:
                if exc.code in ("unknown_site", "unknown_reason"):
                    return page(request, 400, error=exc.message, **choose_ctx(pref))
                status = 409 if exc.code in ("slot_taken", "too_many_bookings") else 400
                return page(
                    request,
                    status,
                    error=exc.message,
                    **slots_ctx(
                        pref,
                        site_id,
                        reason,
                        slots=exc.next_slots or None,
                        email=clip(values["email"], "email"),
                        mobile=clip(values["mobile"], "mobile"),
                    ),
                )
            return page(request, page="confirmed", **confirmation(pref, booking))

        @bp.route("/ics/<reference>", methods=["GET"])
        async def ics(request: Request, reference: str) -> HTTPResponse:
            booking = pan.get_booking(runtime.store(), reference)
            token = request.args.get("t") or ""
            if not booking or not hmac.compare_digest(booking["token"].encode(), token.encode()):
                return page(request, 404, page="error", title=say("not_found_title"), error=say("not_found"))
            body = pan.ics(runtime.prefecture(), booking)
            return response.raw(
                body.encode("utf-8"),
                content_type="text/calendar; charset=utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="{booking["reference"]}.ics"',
                    "X-Content-Type-Options": "nosniff",
                    "Cache-Control": "no-store",
                },
            )

        @bp.route("/annuler", methods=["GET", "POST"], stream=True)
        async def cancel(request: Request) -> HTTPResponse:
            pref = runtime.prefecture()
            ctx = dict(page="cancel", title=texts.say("pan.cancel_title", pref))
            refused = await form_too_large(request, **ctx)
            if refused:
                return refused
            if request.method == "GET":
                return page(request, **ctx)
            if not csrf_ok(request):
                return page(request, 403, error=texts.say("pan.errors.csrf", pref), **ctx)
            values = form(request)
            try:
                _, message = await limited_cancel(request, runtime.store(), pref, values["reference"], values["contact"])
            except TooMany as exc:
                return too_many_page(request, exc, reference=clip(values["reference"], "reference"), **ctx)
            except BookingError as exc:
                return page(request, 400, error=exc.message, reference=clip(values["reference"], "reference"), **ctx)
            return page(request, page="cancelled", title=ctx["title"], message=message)

        def message_ctx(pref, service_id: str, **extra) -> dict:
            return dict(page="message", idem=secrets.token_urlsafe(16), **message_form(pref, service_id), **extra)

        @bp.route("/message", methods=["GET", "POST"], stream=True)
        async def message(request: Request) -> HTTPResponse:
            pref, store = runtime.prefecture(), runtime.store()
            refused = await form_too_large(request, page="error", title=texts.say("pan.page_title", pref))
            if refused:
                return refused
            values = form(request)
            service_id = (request.args.get("service") if request.method == "GET" else clip(values["service"], "service")) or ""
            try:
                tickets.mailbox(pref, service_id)
            except TicketError as exc:
                return page(request, 404, page="error", title=exc.message, error=None)
            if request.method == "GET":
                return page(request, **message_ctx(pref, service_id))
            typed = dict(
                subject=clip(values["subject"], "subject"),
                body=clip(values["body"], "body"),
                email=clip(values["email"], "email"),
            )
            if not csrf_ok(request):
                return page(request, 403, error=texts.say("tickets.errors.csrf", pref), **message_ctx(pref, service_id, **typed))
            try:
                await limit(request, pref, "message")
                ticket = await leave_message(store, pref, values, "web")
            except TooMany as exc:
                return too_many_page(request, exc, **message_ctx(pref, service_id, **typed))
            except TicketError as exc:
                return page(request, 400, error=exc.message, **message_ctx(pref, service_id, **typed))
            return page(request, page="ack", **acknowledgement(pref, ticket))

        # ---- the JSON API of the chat's widget ---------------------------------------------------

        def api(body: dict, status: int = 200) -> HTTPResponse:
            resp = security_headers(response.json(body, status=status))
            resp.headers["Cache-Control"] = "no-store"
            return resp

        def api_error(status: int, message: str, **extra) -> HTTPResponse:
            return api({"error": message, **extra}, status)

        def api_too_many(exc: TooMany) -> HTTPResponse:
            resp = api_error(429, exc.message, code="throttled", retry_after=exc.wait_s)
            resp.headers["Retry-After"] = str(exc.wait_s)
            return resp

        async def api_values(request: Request) -> tuple[dict | None, HTTPResponse | None]:
            body = await read_body(request, BODY_LIMITS[request.path])  # first: never drain a huge body
            if body is None:
                return None, too_large(request)
            refused = refuse_cross_site(request)
            if refused:
                return None, refused
            try:
                return json_object(body, request.path), None
            except ValueError as exc:
                return None, api_error(400, str(exc))

        @bp.route("/api/sites", methods=["GET"])
        async def api_sites(request: Request) -> HTTPResponse:
            pref = runtime.prefecture()
            return api(
                {
                    "title": texts.say("pan.page_title", pref),
                    "intro": texts.say("pan.intro", pref),
                    "choose_site": texts.say("pan.chat.choose_site", pref),
                    "choose_reason": texts.say("pan.chat.choose_reason", pref),
                    "sites": site_list(pref),
                    "reasons": [{"id": k, "label": v} for k, v in pan.reasons(pref).items()],
                    "contact_help": texts.say("pan.contact_help", pref),
                    "cancel_title": texts.say("pan.cancel_title", pref),
                    "cancel_intro": texts.say("pan.chat.cancel_intro", pref),
                    "errors": {
                        code: texts.say(f"pan.errors.{code}", pref) for code in ("contact_missing", "bad_email", "bad_mobile")
                    },
                }
            )

        @bp.route("/api/creneaux", methods=["GET"])
        async def api_slots(request: Request) -> HTTPResponse:
            pref = runtime.prefecture()
            site_id, reason = request.args.get("site") or "", request.args.get("reason") or ""
            after = None
            try:
                spec = check_choice(pref, site_id, reason)
                if request.args.get("apres"):
                    try:
                        after = datetime.strptime(request.args.get("apres"), pan.STAMP)
                    except ValueError:
                        raise BookingError("bad_slot", pref) from None
            except BookingError as exc:
                return api_error(400, exc.message)
            found, more = slots_page(runtime.store(), pref, site_id, reason, after)
            return api(
                {
                    "site": site_id,
                    "reason": reason,
                    "intro": texts.say("pan.slots_intro", pref, site=spec["name"]),
                    "slots": slot_list(pref, found),
                    "next": found[-1].key if more else None,
                    "no_slots": None if found else texts.say("pan.no_slots", pref, days=pref.get("pan.booking_days_ahead")),
                }
            )

        @bp.route("/api/reserver", methods=["POST"], stream=True)
        async def api_reserve(request: Request) -> HTTPResponse:
            pref = runtime.prefecture()
            values, refused = await api_values(request)
            if refused:
                return refused
            try:
                await limit(request, pref, "book")
                booking = await make_booking(runtime.store(), pref, values, "chat")
            except TooMany as exc:
                return api_too_many(exc)
            except BookingError as exc:
                if exc.code == "slot_taken":
                    return api_error(409, exc.message, code=exc.code, slots=slot_list(pref, exc.next_slots))
                return api_error(409 if exc.code == "too_many_bookings" else 400, exc.message, code=exc.code)
            return api({"reference": booking["reference"], "created": booking["created"], **confirmation(pref, booking)})

        @bp.route("/api/annuler", methods=["POST"], stream=True)
        async def api_cancel(request: Request) -> HTTPResponse:
            pref = runtime.prefecture()
            values, refused = await api_values(request)
            if refused:
                return refused
            try:
                booking, message = await limited_cancel(
                    request, runtime.store(), pref, values.get("reference"), values.get("contact")
                )
            except TooMany as exc:
                return api_too_many(exc)
            except BookingError as exc:
                return api_error(400, exc.message, code=exc.code)
            return api({"reference": booking["reference"], "message": message})

        @bp.route("/api/message", methods=["GET"])
        async def api_message_form(request: Request) -> HTTPResponse:
            pref = runtime.prefecture()
            try:
                ctx = message_form(pref, request.args.get("service") or "")
            except TicketError as exc:
                return api_error(404, exc.message)
            return api(
                ctx
                | {
                    "errors": {
                        code: texts.say(f"tickets.errors.{code}", pref)
                        for code in ("subject_missing", "body_missing", "bad_email")
                    }
                }
            )

        @bp.route("/api/message", methods=["POST"], stream=True)
        async def api_message(request: Request) -> HTTPResponse:
            pref = runtime.prefecture()
            values, refused = await api_values(request)
            if refused:
                return refused
            try:
                await limit(request, pref, "message")
                ticket = await leave_message(runtime.store(), pref, values, "chat")
            except TooMany as exc:
                return api_too_many(exc)
            except TicketError as exc:
                return api_error(404 if exc.code == "unknown_service" else 400, exc.message, code=exc.code)
            due = short_date(ticket["due_date"])
            return api(
                {
                    "reference": ticket["reference"],
                    "service": ticket["service"],
                    "due_date": due,
                    "created": ticket["created"],
                    "due_line": texts.say("tickets.due_short", pref, due=due),
                    **acknowledgement(pref, ticket),
                }
            )

        return bp
