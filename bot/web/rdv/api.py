"""The JSON API of the chat's booking widget (web/static/chat.js) under /rdv/api/: the same
functions and validations as the pages (shared.py). Its POSTs must be declared JSON and come from
this origin (refuse_cross_site); errors are 4xx `{"error": "<French>"}`, 429 with `code: "throttled"`.
A confirmation or an acknowledgement gives its `lines` and their `runs` (shared.line_runs), which the
widget draws as it draws the answers (a confirmed number is a tel: link)."""

from __future__ import annotations

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core import texts
from bot.services import pan, runtime
from bot.services.pan import BookingError
from bot.services.tickets import TicketError
from bot.web.http import BODY_LIMITS, json_object, read_body, refuse_cross_site, security_headers, too_large, too_many_requests
from bot.web.rdv.shared import (
    TooMany,
    acknowledgement,
    check_choice,
    confirmation,
    contact_help,
    counted,
    in_thread,
    leave_message,
    limited_cancel,
    line_runs,
    make_booking,
    message_form,
    parse_position,
    short_date,
    site_list,
    slot_list,
    slots_page,
)


def api(body: dict, status: int = 200) -> HTTPResponse:
    resp = security_headers(response.json(body, status=status))
    resp.headers["Cache-Control"] = "no-store"
    return resp


def api_error(status: int, message: str, **extra) -> HTTPResponse:
    return api({"error": message, **extra}, status)


def api_too_many(exc: TooMany) -> HTTPResponse:
    return too_many_requests(exc.message, exc.wait_s)


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
            "contact_help": contact_help(pref),
            "cancel_title": texts.say("pan.cancel_title", pref),
            "cancel_intro": texts.say("pan.chat.cancel_intro", pref),
            "errors": {code: texts.say(f"pan.errors.{code}", pref) for code in ("contact_missing", "bad_email", "bad_mobile")},
        }
    )


async def api_slots(request: Request) -> HTTPResponse:
    pref = runtime.prefecture()
    site_id, reason = request.args.get("site") or "", request.args.get("reason") or ""
    try:
        spec = check_choice(pref, site_id, reason)
        after, _ = parse_position(pref, request.args.get("apres"), None)
    except BookingError as exc:
        return api_error(400, exc.message)
    found, more = await in_thread(slots_page, pref, site_id, reason, after)  # off the event loop (pages.slots_ctx)
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


async def api_reserve(request: Request) -> HTTPResponse:
    pref = runtime.prefecture()
    values, refused = await api_values(request)
    if refused:
        return refused
    try:
        async with counted(request, pref, "book"):
            booking = await make_booking(runtime.store(), pref, values, "chat")
    except TooMany as exc:
        return api_too_many(exc)
    except BookingError as exc:
        if exc.code == "slot_taken":
            return api_error(409, exc.message, code=exc.code, slots=slot_list(pref, exc.next_slots))
        return api_error(409 if exc.code == "too_many_bookings" else 400, exc.message, code=exc.code)
    shown = confirmation(pref, booking)
    return api({"reference": booking["reference"], "created": booking["created"], "runs": line_runs(shown["lines"]), **shown})


async def api_cancel(request: Request) -> HTTPResponse:
    pref = runtime.prefecture()
    values, refused = await api_values(request)
    if refused:
        return refused
    try:
        booking, message = await limited_cancel(request, runtime.store(), pref, values.get("reference"), values.get("contact"))
    except TooMany as exc:
        return api_too_many(exc)
    except BookingError as exc:
        return api_error(400, exc.message, code=exc.code)
    return api({"reference": booking["reference"], "message": message})


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
                code: texts.say(f"tickets.errors.{code}", pref) for code in ("subject_missing", "body_missing", "bad_email")
            }
        }
    )


async def api_message(request: Request) -> HTTPResponse:
    pref = runtime.prefecture()
    values, refused = await api_values(request)
    if refused:
        return refused
    try:
        async with counted(request, pref, "message"):
            ticket = await leave_message(runtime.store(), pref, values, "chat")
    except TooMany as exc:
        return api_too_many(exc)
    except TicketError as exc:
        return api_error(404 if exc.code == "unknown_service" else 400, exc.message, code=exc.code)
    due = short_date(ticket["due_date"])
    shown = acknowledgement(pref, ticket)
    return api(
        {
            "reference": ticket["reference"],
            "service": ticket["service"],
            "due_date": due,
            "created": ticket["created"],
            "due_line": texts.say("tickets.due_short", pref, due=due),
            "runs": line_runs(shown["lines"]),
            **shown,
        }
    )


# The API's routes under /rdv: (path, methods, handler).
ROUTES = [
    ("/api/sites", ("GET",), api_sites),
    ("/api/creneaux", ("GET",), api_slots),
    ("/api/reserver", ("POST",), api_reserve),
    ("/api/annuler", ("POST",), api_cancel),
    ("/api/message", ("GET",), api_message_form),
    ("/api/message", ("POST",), api_message),
]
