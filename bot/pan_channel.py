"""Pages under /rdv/ (registered in credentials.yml as bot.pan_channel.BookingInput).

The chat links here instead of collecting contact details itself: the chat masks every message
before Rasa, and a contact the user gives for a confirmation must live only in the booking or
ticket row. Server-rendered DSFR forms (Jinja2 autoescape), a double-submit CSRF token (cookie
SameSite=Strict + hidden field), the chat's Content-Security-Policy, an idempotency key in each
form (a double click books once).

  GET  /rdv/                      site and reason
  GET  /rdv/creneaux?site=&motif= next free slots + contact
  POST /rdv/reserver              book -> confirmation (reference, address, what to bring, cancel, .ics)
  GET  /rdv/ics/<reference>?t=    the calendar file (t: the booking's secret token)
  GET  /rdv/annuler, POST         cancel with the reference + the contact given
  GET  /rdv/message?service=<id>  message to a service mailbox; POST -> acknowledgement
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from datetime import datetime
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import mailer, pan, texts, tickets
from bot.channels import _security_headers
from bot.config import format_days
from bot.pan import BookingError
from bot.tickets import TicketError

logger = logging.getLogger(__name__)
CSRF_COOKIE = "rdv_csrf"


def _deliver_now(path) -> dict:
    """Send what waits in the outbox, on a connection of its own (runs in a worker thread)."""
    from bot.store import Store

    store = Store(path)
    try:
        return mailer.deliver_pending(store)
    finally:
        store.close()


async def deliver(store) -> None:
    try:
        await asyncio.wait_for(asyncio.to_thread(_deliver_now, store.path), timeout=30)
    except Exception:  # noqa: BLE001 - a delivery problem never costs the user the confirmation
        logger.exception("outbox delivery failed")


class BookingInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rdv"

    def url_prefix(self) -> str:
        return "/rdv"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        from bot import runtime

        bp = Blueprint("aiguillage_rdv", __name__)

        def page(request: Request, status: int = 200, **ctx) -> HTTPResponse:
            pref = runtime.prefecture()
            token = request.cookies.get(CSRF_COOKIE) or ""
            if len(token) < 20:
                token = secrets.token_urlsafe(24)
            html = runtime._templates().get_template("rdv.html").render(
                name=texts.render("{prefecture.name}", pref), csrf=token, **ctx)
            resp = _security_headers(response.html(html, status=status))
            resp.headers["Cache-Control"] = "no-store"
            resp.cookies[CSRF_COOKIE] = token
            resp.cookies[CSRF_COOKIE]["httponly"] = True
            resp.cookies[CSRF_COOKIE]["samesite"] = "Strict"
            resp.cookies[CSRF_COOKIE]["path"] = "/rdv"
            return resp

        def csrf_ok(request: Request) -> bool:
            cookie, field = request.cookies.get(CSRF_COOKIE) or "", (request.form or {}).get("csrf") or ""
            return bool(cookie) and hmac.compare_digest(cookie.encode(), field.encode())

        def field(request: Request, name: str, limit: int = 300) -> str:
            value = (request.form or {}).get(name) or ""
            return value[:limit]

        def choose_ctx(pref, site_id: str | None = None, reason: str | None = None) -> dict:
            return dict(
                page="choose", title=texts.say("pan.page_title", pref), intro=texts.say("pan.intro", pref),
                sites=[{"id": s["id"], "name": s["name"], "address": s["address"]["text"], "hours": format_days(s["days"])}
                       for s in pan.sites(pref)],
                reasons=pan.reasons(pref), site=site_id, reason=reason)

        def slots_ctx(pref, site_id: str, reason: str, slots=None, **extra) -> dict:
            spec = pan.site(pref, site_id)
            if slots is None:
                slots = pan.free_slots(runtime.store(), pref, site_id, reason=reason, limit=8)
            foreigners = texts.say("pan.foreigners_slot", pref)
            return dict(
                page="slots", title=texts.say("pan.page_title", pref),
                slots=[{"key": s.key, "label": pan.say_when(s.start) + (f" ({foreigners})" if s.foreigners else "")}
                       for s in slots],
                slots_intro=texts.say("pan.slots_intro", pref, site=spec["name"]),
                no_slots=texts.say("pan.no_slots", pref, days=pref.get("pan.booking_days_ahead")),
                contact_help=texts.say("pan.contact_help", pref), site=site_id, reason=reason,
                idem=secrets.token_urlsafe(16), **extra)

        @bp.route("/", methods=["GET"])
        async def choose(request: Request) -> HTTPResponse:
            return page(request, **choose_ctx(runtime.prefecture()))

        @bp.route("/creneaux", methods=["GET"])
        async def slots(request: Request) -> HTTPResponse:
            pref = runtime.prefecture()
            site_id, reason = request.args.get("site") or "", request.args.get("motif") or ""
            try:
                pan.site(pref, site_id)
                if reason not in pan.reasons(pref):
                    raise BookingError("unknown_reason", pref)
            except BookingError as exc:
                return page(request, 400, error=exc.message, **choose_ctx(pref, site_id, reason))
            return page(request, **slots_ctx(pref, site_id, reason))

        @bp.route("/reserver", methods=["POST"])
        async def reserve(request: Request) -> HTTPResponse:
            pref, store = runtime.prefecture(), runtime.store()
            site_id, reason = field(request, "site", 64), field(request, "motif", 64)
            if not csrf_ok(request):
                return page(request, 403, error=texts.say("pan.errors.csrf", pref), **choose_ctx(pref))
            email, mobile = field(request, "email", 254), field(request, "mobile", 30)
            try:
                booking = pan.book(store, pref, site_id, field(request, "slot", 20), reason, email=email,
                                   mobile=mobile, channel="web", idempotency_key=field(request, "idem", 64) or None)
            except BookingError as exc:
                if exc.code in ("unknown_site", "unknown_reason"):
                    return page(request, 400, error=exc.message, **choose_ctx(pref))
                status = 409 if exc.code == "slot_taken" else 400
                return page(request, status, error=exc.message, **slots_ctx(
                    pref, site_id, reason, slots=exc.next_slots or None, email=email, mobile=mobile))
            if booking["contact_kind"] == "email":
                await deliver(store)
            return page(request, **confirmed_ctx(pref, booking))

        def confirmed_ctx(pref, booking: dict) -> dict:
            note = texts.say("pan.email_sent", pref) if booking["contact_kind"] == "email" else None
            return dict(page="confirmed", title=texts.say("pan.confirmed_title", pref),
                        lines=pan.confirmation_lines(pref, booking), email_note=note,
                        ics_url=f"/rdv/ics/{booking['reference']}?t={booking['token']}",
                        ics_label=texts.say("pan.ics_link", pref))

        @bp.route("/ics/<reference>", methods=["GET"])
        async def ics(request: Request, reference: str) -> HTTPResponse:
            booking = pan.get_booking(runtime.store(), reference)
            token = request.args.get("t") or ""
            if not booking or not hmac.compare_digest(booking["token"].encode(), token.encode()):
                return response.text("Rendez-vous introuvable.", status=404)
            body = pan.ics(runtime.prefecture(), booking)
            return response.raw(body.encode("utf-8"), content_type="text/calendar; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="{booking["reference"]}.ics"',
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})

        @bp.route("/annuler", methods=["GET", "POST"])
        async def cancel(request: Request) -> HTTPResponse:
            pref = runtime.prefecture()
            ctx = dict(page="cancel", title=texts.say("pan.cancel_title", pref))
            if request.method == "GET":
                return page(request, **ctx)
            if not csrf_ok(request):
                return page(request, 403, error=texts.say("pan.errors.csrf", pref), **ctx)
            reference = field(request, "reference", 20)
            try:
                booking = pan.cancel(runtime.store(), pref, reference, field(request, "contact", 254))
            except BookingError as exc:
                return page(request, 400, error=exc.message, reference=reference, **ctx)
            await deliver(runtime.store())
            when = pan.say_when(datetime.strptime(booking["slot_start"], pan.STAMP))
            return page(request, page="cancelled", title=ctx["title"],
                        message=texts.say("pan.cancelled", pref, reference=booking["reference"], when=when))

        def message_ctx(pref, service_id: str, **extra) -> dict:
            box = tickets.mailbox(pref, service_id)
            return dict(page="message", title=texts.say("tickets.page_title", pref, service=box["service"]),
                        intro=texts.say("tickets.intro", pref, service=box["service"]),
                        privacy=texts.say("tickets.privacy", pref), service_id=service_id,
                        subject_max=pref.get("tickets.subject_max_chars"), body_max=pref.get("tickets.max_chars"),
                        idem=secrets.token_urlsafe(16), **extra)

        @bp.route("/message", methods=["GET", "POST"])
        async def message(request: Request) -> HTTPResponse:
            pref, store = runtime.prefecture(), runtime.store()
            service_id = (request.args.get("service") if request.method == "GET" else field(request, "service", 64)) or ""
            try:
                tickets.mailbox(pref, service_id)
            except TicketError as exc:
                return page(request, 404, page="error", title=exc.message, error=None)
            if request.method == "GET":
                return page(request, **message_ctx(pref, service_id))
            subject, body, email = field(request, "subject", 1000), field(request, "body", 20000), field(request, "email", 254)
            if not csrf_ok(request):
                return page(request, 403, error=texts.say("tickets.errors.csrf", pref),
                            **message_ctx(pref, service_id, subject=subject, body=body, email=email))
            try:
                ticket = tickets.create_ticket(store, pref, service_id, subject, body, email or None, channel="web",
                                               idempotency_key=field(request, "idem", 64) or None)
            except TicketError as exc:
                return page(request, 400, error=exc.message,
                            **message_ctx(pref, service_id, subject=subject, body=body, email=email))
            await deliver(store)  # this ticket, and any earlier one still waiting (retry at each new ticket)
            lines = tickets.ack_lines(pref, ticket)[:-1]  # the France Services line is a link on the page
            if ticket["contact_email"]:
                lines.append(texts.say("tickets.ack_email_sent", pref))
            if mailer.SmtpSettings.from_env() is None:
                lines.append(texts.say("tickets.pending", pref))
            return page(request, page="ack", title=texts.say("tickets.ack_title", pref), lines=lines,
                        france_services_url=pref.get("france_services.url"),
                        france_services_link=texts.say("tickets.france_services_link", pref))

        return bp
