"""What a PAN booking's person receives: the confirmation's lines (e-mail, pages, chat) and the
iCalendar file of the appointment, with the Europe/Paris VTIMEZONE its times refer to.
Part of bot/services/pan.py, which re-exports it: import from there.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core import texts
from bot.core.clock import PARIS
from bot.core.config import Prefecture
from bot.services.pan_slots import STAMP, say_when, site


def confirmation_lines(pref: Prefecture, booking: dict) -> list[str]:
    spec = site(pref, booking["site"])
    start = datetime.strptime(booking["slot_start"], STAMP)
    return [
        texts.say("pan.confirmed", pref, when=say_when(start), site=spec["name"], address=spec["address"]["text"]),
        texts.say("pan.reference", pref, reference=booking["reference"]),
        texts.say("pan.bring", pref),
        texts.say("pan.cancel_how", pref),
    ]


def confirmation_text(pref: Prefecture, booking: dict) -> str:
    return "\n\n".join(confirmation_lines(pref, booking)) + "\n"


def paris_vtimezone():
    """The VTIMEZONE of Europe/Paris with its RFC 5545 rules (EU summer time since 1996): DAYLIGHT
    from the last Sunday of March at 02:00 (+01:00 -> +02:00), STANDARD from the last Sunday of
    October at 03:00 (+02:00 -> +01:00). DTSTART is the local time of the change in the offset it
    changes from, as RFC 5545 3.6.5 asks."""
    from datetime import timedelta as td

    from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

    tz = Timezone()
    tz.add("tzid", PARIS.key)
    daylight = TimezoneDaylight()
    daylight.add("dtstart", datetime(1996, 3, 31, 2, 0))
    daylight.add("rrule", {"freq": "yearly", "bymonth": 3, "byday": "-1su"})
    daylight.add("tzoffsetfrom", td(hours=1))
    daylight.add("tzoffsetto", td(hours=2))
    daylight.add("tzname", "CEST")
    standard = TimezoneStandard()
    standard.add("dtstart", datetime(1996, 10, 27, 3, 0))
    standard.add("rrule", {"freq": "yearly", "bymonth": 10, "byday": "-1su"})
    standard.add("tzoffsetfrom", td(hours=2))
    standard.add("tzoffsetto", td(hours=1))
    standard.add("tzname", "CET")
    tz.add_component(daylight)
    tz.add_component(standard)
    return tz


def ics(pref: Prefecture, booking: dict) -> str:
    """The iCalendar file of a booking (no personal data in it: reference, place and time), with
    the VTIMEZONE its Paris times refer to."""
    from icalendar import Calendar, Event

    spec = site(pref, booking["site"])
    cal = Calendar()
    cal.add("prodid", "-//Aiguillage//PAN//FR")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    cal.add_component(paris_vtimezone())
    event = Event()
    event.add("uid", f"{booking['reference']}@aiguillage")
    event.add("dtstamp", datetime.now(ZoneInfo("UTC")))
    event.add("dtstart", datetime.strptime(booking["slot_start"], STAMP).replace(tzinfo=PARIS))
    event.add("dtend", datetime.strptime(booking["slot_end"], STAMP).replace(tzinfo=PARIS))
    event.add("summary", texts.say("pan.ics_summary", pref, reference=booking["reference"]))
    event.add("location", f"{spec['name']}, {spec['address']['text']}")
    event.add("description", "\n".join(confirmation_lines(pref, booking)))
    if booking["status"] == "cancelled":
        event.add("status", "CANCELLED")
    cal.add_component(event)
    return cal.to_ical().decode("utf-8")
