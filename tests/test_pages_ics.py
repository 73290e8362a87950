"""The booking's calendar file (issue 14, item 17): a VTIMEZONE whose rules give the same Paris
times as the tz database, and a postal address in LOCATION."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar

from bot.core import config
from bot.services import pan

PARIS = ZoneInfo("Europe/Paris")
BOOKING = dict(
    reference="PAN-1234-5678", site="mauriac", slot_start="2026-12-08T09:30", slot_end="2026-12-08T10:00", status="booked"
)


def transitions_from_vtimezone(vtimezone, first_year: int, last_year: int) -> list[tuple[datetime, int]]:
    """(UTC instant of the change, new offset in hours) from the VTIMEZONE's RRULEs, read as RFC 5545
    says: DTSTART and its recurrences are local times in the TZOFFSETFROM offset."""
    out = []
    for sub in vtimezone.subcomponents:
        start = sub.decoded("dtstart")
        before, after = sub.decoded("tzoffsetfrom"), sub.decoded("tzoffsetto")
        rule = rrulestr(sub["rrule"].to_ical().decode(), dtstart=start)
        for local in rule.between(datetime(first_year, 1, 1), datetime(last_year, 12, 31), inc=True):
            out.append(((local - before).replace(tzinfo=ZoneInfo("UTC")), int(after / timedelta(hours=1))))
    return sorted(out)


def transitions_from_zoneinfo(first_year: int, last_year: int) -> list[tuple[datetime, int]]:
    out, utc = [], ZoneInfo("UTC")
    t = datetime(first_year, 1, 1, tzinfo=utc)
    offset = t.astimezone(PARIS).utcoffset()
    while t.year <= last_year:
        nxt = t + timedelta(hours=1)
        new = nxt.astimezone(PARIS).utcoffset()
        if new != offset:
            out.append((nxt, int(new / timedelta(hours=1))))
            offset = new
        t = nxt
    return out


def test_the_ics_carries_a_paris_vtimezone_that_matches_the_tz_database():
    text = pan.ics(config.load_prefecture("cantal"), BOOKING)
    cal = Calendar.from_ical(text)
    (vtimezone,) = cal.walk("VTIMEZONE")
    assert str(vtimezone["tzid"]) == "Europe/Paris"
    assert [c.name for c in vtimezone.subcomponents] == ["DAYLIGHT", "STANDARD"]
    assert transitions_from_vtimezone(vtimezone, 2026, 2032) == transitions_from_zoneinfo(2026, 2032)
    # 2027: summer time from 28 March 01:00 UTC, winter time from 31 October 01:00 UTC.
    assert transitions_from_vtimezone(vtimezone, 2027, 2027) == [
        (datetime(2027, 3, 28, 1, 0, tzinfo=ZoneInfo("UTC")), 2),
        (datetime(2027, 10, 31, 1, 0, tzinfo=ZoneInfo("UTC")), 1),
    ]
    assert "DTSTART;TZID=Europe/Paris:20261208T093000" in text
    assert "DTEND;TZID=Europe/Paris:20261208T100000" in text


def test_the_ics_location_is_the_sites_postal_address():
    cal = Calendar.from_ical(pan.ics(config.load_prefecture("cantal"), BOOKING))
    (event,) = cal.walk("VEVENT")
    assert str(event["location"]) == "point d'accueil numérique de la sous-préfecture de Mauriac, Sous-préfecture, 15200 Mauriac"


def test_every_site_of_every_prefecture_has_a_postal_address():
    for pref_id in config.available():
        pref = config.load_prefecture(pref_id)
        for site in pan.sites(pref):
            assert config.POSTAL_ADDRESS.search(site["address"]["text"]), (pref_id, site["id"])
            assert site["address"]["confirmed"] in (True, False), (pref_id, site["id"])
