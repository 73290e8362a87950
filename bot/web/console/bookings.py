"""The PAN appointments of a day, per site (/console/rdv), and the no-shows an agent marks on them
(/console/rdv/absence). Every view of the contacts people gave is audit-logged."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core import texts
from bot.services import pan, runtime
from bot.services.accounts import Session
from bot.web.console.pages import DATE_RE, PREFIX, REFERENCE_RE, Console, agent_only


def asked_day(day_s: str | None, today: date) -> date | None:
    """The day asked for (`jour=YYYY-MM-DD`), today when none is; None for a day that does not exist
    or is not written so (2026-02-31, 31/12/2026): never silently another day."""
    if not day_s:
        return today
    try:
        return date.fromisoformat(day_s) if DATE_RE.match(day_s) else None
    except ValueError:
        return None


def rdv_page(console: Console, session: Session, day_s: str | None, site_s: str | None, message: str = "") -> HTTPResponse:
    today = pan.paris_now().date()
    day = asked_day(day_s, today)
    if day is None:  # a French 400: nothing shown, nothing audit-logged
        return console.refuse(400, session, "bad_day")
    all_sites = pan.sites(runtime.prefecture())
    ids = [s["id"] for s in all_sites]
    chosen = [site_s] if site_s in ids else ids
    groups = [(s, pan.bookings_for_day(console.store, s["id"], day)) for s in all_sites if s["id"] in chosen]
    shown = [b["reference"] for _, rows in groups for b in rows if b.get("contact")]
    if shown:  # every view of the contacts people gave is logged
        detail = {"site": site_s if site_s in ids else "", "bookings": shown}
        console.audit(session.name, "contact_viewed", "pan", day.isoformat(), detail=detail)
    return console.page(
        "rdv.html",
        session=session,
        day=day.isoformat(),
        today=today.isoformat(),
        site=site_s if site_s in ids else "",
        sites=all_sites,
        groups=groups,
        reasons=pan.reasons(runtime.prefecture()),
        message=message,
        now=pan.paris_now().strftime("%Y-%m-%dT%H:%M"),
    )


@agent_only
async def rdv_list(request: Request, console: Console, session: Session) -> HTTPResponse:
    done = {"absent": "messages.no_show", "present": "messages.no_show_undone"}.get(request.args.get("ok") or "")
    done = texts.console_say(done) if done else ""
    return rdv_page(console, session, request.args.get("jour"), request.args.get("site"), message=done)


def no_show_too_early(console: Console, session: Session, reference: str, value: str) -> HTTPResponse | None:
    """A person cannot be absent from an appointment that has not started yet (409)."""
    booking = pan.get_booking(console.store, reference)
    if booking is None or value != "1" or booking["slot_start"] <= pan.paris_now().strftime("%Y-%m-%dT%H:%M"):
        return None
    start = booking["slot_start"]
    return console.refuse(409, session, "too_early", day=f"{start[8:10]}/{start[5:7]}/{start[:4]}", time=start[11:16])


@agent_only
async def rdv_no_show(request: Request, console: Console, session: Session) -> HTTPResponse:
    form = request.form
    reference = (form.get("reference") or "").strip().upper()
    value = form.get("absent")
    day_s, site_s = form.get("jour") or "", form.get("site") or ""
    if (
        not REFERENCE_RE.match(reference)
        or value not in ("1", "0")
        or (day_s and not DATE_RE.match(day_s))
        or (site_s and site_s not in [s["id"] for s in pan.sites(runtime.prefecture())])
    ):
        return console.refuse(400, session, "bad_form")
    early = no_show_too_early(console, session, reference, value)
    if early:
        return early

    def back(booking: dict) -> str:
        args = {"jour": day_s or booking["slot_start"][:10], "site": site_s, "ok": "absent" if value == "1" else "present"}
        return f"{PREFIX}/rdv?" + urlencode({k: v for k, v in args.items() if v})

    return await console.act(
        session,
        lambda: pan.mark_no_show(console.store, reference, value == "1"),
        lambda booking: (
            "no_show" if value == "1" else "no_show_undo",
            "pan",
            reference,
            {"site": booking["site"], "slot": booking["slot_start"]},
        ),
        back,
        keys=(pan.booking_lock(reference),),  # the booking's status, read and written
    )


ROUTES = [
    ("/rdv", ("GET",), rdv_list),
    ("/rdv/absence", ("POST",), rdv_no_show),
]
