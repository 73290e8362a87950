"""The booking pages without JavaScript under /rdv/: choose a site and a reason, a page of free
slots, book, the calendar file, cancel, leave a message to a service. Server-rendered DSFR forms
(web/templates/rdv.html) with a double-submit CSRF token (cookie SameSite=Strict + hidden field)."""

from __future__ import annotations

import hmac
import logging
import secrets
import sqlite3
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core import texts
from bot.services import accounts, pan, runtime, tickets
from bot.services.pan import BookingError
from bot.services.tickets import TicketError
from bot.web import chat_way_back
from bot.web.http import (
    BODY_LIMITS,
    RDV_PREFIX,
    form_readable,
    read_body,
    retry_after_store_busy,
    say,
    security_headers,
    set_cookie,
    too_large,
)
from bot.web.rdv.shared import (
    LIMITS,
    TooMany,
    acknowledgement,
    check_choice,
    clip,
    confirmation,
    contact_help,
    counted,
    day_label,
    free_days,
    in_thread,
    leave_message,
    limited_cancel,
    make_booking,
    message_form,
    parse_position,
    site_list,
    slot_list,
    slots_page,
    store_refusal,
)

CSRF_COOKIE = "rdv_csrf"
logger = logging.getLogger(__name__)

# The field a refusal is about (its id on the page), by the refusal's code: rdv.html marks it invalid,
# says the reason under it (aria-describedby) and gives it the focus, as the chat's widget does.
FIELD_OF = {
    "contact_missing": "email",
    "bad_email": "email",
    "bad_mobile": "mobile",
    "not_found": "reference",
    "subject_missing": "subject",
    "subject_too_long": "subject",
    "body_missing": "body",
    "body_too_long": "body",
}


def page(request: Request, status: int = 200, **ctx) -> HTTPResponse:
    """A page of /rdv/; « Retour à l'assistant » posts the conversation the person came from (the chat
    page without JavaScript keeps its id in a cookie for these pages: bot/web/chat_way_back.py)."""
    token = request.cookies.get(CSRF_COOKIE) or ""
    if len(token) < 20:
        token = secrets.token_urlsafe(24)
    context = runtime.public_page_context() | {"chat_sender": chat_way_back.of(request)} | ctx
    html = runtime._templates().get_template("rdv.html").render(csrf=token, **context)
    resp = security_headers(response.html(html, status=status))
    resp.headers["Cache-Control"] = "no-store"
    set_cookie(resp, CSRF_COOKIE, token, RDV_PREFIX)
    return resp


def csrf_ok(request: Request) -> bool:
    """The form's token equals the cookie's (double submit), compared as the console compares its own."""
    return accounts.csrf_ok(request.cookies.get(CSRF_COOKIE), (request.form or {}).get("csrf"))


def form(request: Request) -> dict:
    return {k: (request.form or {}).get(k) for k in LIMITS if k != "reason"} | {"reason": (request.form or {}).get("motif")}


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


async def slots_ctx(
    pref,
    site_id: str,
    reason: str,
    slots=None,
    after: datetime | None = None,
    day: date | None = None,
    idem: str | None = None,
    checked_slot: str = "",
    **extra,
) -> dict:
    """The slots page's context. The free slots and days are read in a worker thread, on its own
    connection (in_thread): a store that waits (a locked table, a frozen database) holds this page, never
    the event loop and with it every other request of the process (an outside-in audit of the cluster)."""
    spec = pan.site(pref, site_id)
    start = datetime.combine(day, datetime.min.time()) - timedelta(minutes=1) if day else after

    def read(store) -> tuple[list, bool, list]:
        found, more = (slots, False) if slots is not None else slots_page(store, pref, site_id, reason, start)
        return found, more, free_days(store, pref, site_id, reason)

    slots, more, days = await in_thread(read)
    query = {"site": site_id, "motif": reason}
    chosen = day or (slots[0].start.date() if slots and (after or day) else None)
    return dict(
        page="slots",
        title=texts.say("pan.page_title", pref),
        slots=slot_list(pref, slots),
        slots_intro=texts.say("pan.slots_intro", pref, site=spec["name"]),
        days=[{"value": d.isoformat(), "label": day_label(d), "chosen": d == chosen} for d in days],
        day_label=texts.say("pan.day_label", pref),
        day_button=texts.say("pan.day_button", pref),
        next_url=f"{RDV_PREFIX}/creneaux?{urlencode(query | {'apres': slots[-1].key})}" if more else None,
        next_label=texts.say("pan.next_slots", pref),
        first_url=f"{RDV_PREFIX}/creneaux?{urlencode(query)}" if (after or day) else None,
        first_label=texts.say("pan.first_slots", pref),
        no_slots=texts.say("pan.no_slots", pref, days=pref.get("pan.booking_days_ahead")),
        contact_help=contact_help(pref),
        site=site_id,
        reason=reason,
        idem=idem or secrets.token_urlsafe(16),
        checked_slot=checked_slot,  # the slot checked (the first when it is not among them)
        **extra,
    )


def too_many_page(request: Request, exc: TooMany, **ctx) -> HTTPResponse:
    resp = page(request, 429, error=exc.message, **ctx)
    resp.headers["Retry-After"] = str(exc.wait_s)
    return resp


async def choose(request: Request) -> HTTPResponse:
    """The first step; `?site=` and `?motif=` choose beforehand (the chat page without JavaScript links
    here with the conversation's reason: bot/web/chat_view.py). Only compared with the known ones."""
    site_id, reason = clip(request.args.get("site") or "", "site"), clip(request.args.get("motif") or "", "reason")
    return page(request, **choose_ctx(runtime.prefecture(), site_id or None, reason or None))


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
        return page(request, 400, error=exc.message, **(await slots_ctx(pref, site_id, reason)))
    return page(request, **(await slots_ctx(pref, site_id, reason, after=after, day=day)))


async def form_refused(request: Request, **ctx) -> HTTPResponse | None:
    """None once the body of a form is read within its limit and can be read (http.form_readable),
    else the 413 or the 400 page."""
    if request.method != "POST":
        return None
    if await read_body(request, BODY_LIMITS[request.path]) is None:
        too_large(request)  # logs it
        return page(request, 413, error=say("too_large"), **ctx)
    return None if form_readable(request) else page(request, 400, error=say("bad_request"), **ctx)


async def reserve(request: Request) -> HTTPResponse:
    pref, store = runtime.prefecture(), runtime.store()
    refused = await form_refused(request, **choose_ctx(pref))
    if refused:
        return refused
    values = form(request)
    site_id, reason = clip(values["site"], "site"), clip(values["reason"], "reason")
    if not csrf_ok(request):
        return page(request, 403, error=texts.say("pan.errors.csrf", pref), **choose_ctx(pref))
    contact = dict(email=clip(values["email"], "email"), mobile=clip(values["mobile"], "mobile"))  # shown again if refused
    try:
        async with counted(request, pref, "book"):
            booking = await make_booking(store, pref, values, "web")
    except TooMany as exc:
        return too_many_page(request, exc, **choose_ctx(pref))
    except sqlite3.Error as exc:
        typed = contact | dict(checked_slot=clip(values["slot"], "slot"), idem=clip(values["idem"], "idem"))
        return store_busy_form(request, exc, **(await slots_ctx(pref, site_id, reason, **typed)))
    except BookingError as exc:
        if exc.code in ("unknown_site", "unknown_reason"):
            return page(request, 400, error=exc.message, **choose_ctx(pref))
        status = 409 if exc.code in ("slot_taken", "too_many_bookings") else 400
        return page(
            request,
            status,
            error=exc.message,
            invalid=FIELD_OF.get(exc.code),
            **(await slots_ctx(pref, site_id, reason, slots=exc.next_slots or None, **contact)),
        )
    return page(request, page="confirmed", **confirmation(pref, booking))


async def ics(request: Request, reference: str) -> HTTPResponse:
    booking = await in_thread(pan.get_booking, reference)
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


async def cancel(request: Request) -> HTTPResponse:
    pref = runtime.prefecture()
    ctx = dict(page="cancel", title=texts.say("pan.cancel_title", pref))
    refused = await form_refused(request, **ctx)
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
        reference = clip(values["reference"], "reference")
        return page(request, 400, error=exc.message, invalid=FIELD_OF.get(exc.code), reference=reference, **ctx)
    return page(request, page="cancelled", title=ctx["title"], message=message)


def message_ctx(pref, service_id: str, idem: str | None = None, **extra) -> dict:
    return dict(page="message", idem=idem or secrets.token_urlsafe(16), **message_form(pref, service_id), **extra)


def store_busy_form(request: Request, exc: sqlite3.Error, **ctx) -> HTTPResponse:
    """The form again, as it was typed, when the store stayed locked for the whole busy timeout or its
    disk is full: 503, Retry-After and the French reason (shared.store_refusal); nothing was written
    (one transaction), and the form keeps its idempotency key, so sending it again goes through once
    (the JSON API: bot/web/rdv/__init__.py)."""
    logger.error("rdv: store error on %s %s: %r", request.method, request.path, exc)
    return retry_after_store_busy(page(request, 503, error=store_refusal(request, exc)[1], **ctx))


async def message(request: Request) -> HTTPResponse:
    pref, store = runtime.prefecture(), runtime.store()
    refused = await form_refused(request, page="error", title=texts.say("pan.page_title", pref))
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
        async with counted(request, pref, "message"):
            ticket = await leave_message(store, pref, values, "web")
    except TooMany as exc:
        return too_many_page(request, exc, **message_ctx(pref, service_id, **typed))
    except TicketError as exc:
        return page(request, 400, error=exc.message, invalid=FIELD_OF.get(exc.code), **message_ctx(pref, service_id, **typed))
    except sqlite3.Error as exc:
        return store_busy_form(request, exc, **message_ctx(pref, service_id, clip(values["idem"], "idem"), **typed))
    return page(request, page="ack", **acknowledgement(pref, ticket))


# The pages' routes under /rdv: (path, methods, handler).
ROUTES = [
    ("/", ("GET",), choose),
    ("/creneaux", ("GET",), slots),
    ("/reserver", ("POST",), reserve),
    ("/ics/<reference>", ("GET",), ics),
    ("/annuler", ("GET", "POST"), cancel),
    ("/message", ("GET", "POST"), message),
]
