"""The indicators of what follows a conversation or a call: messages to the services (volume, on time,
delays, overdue), PAN appointments (bookings, no-shows, lead time, held within the commitment) and the
users' satisfaction (ratings, all channels). bot/quality/indicators.py re-exports them: import from there.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from bot.core.clock import PARIS
from bot.quality.indicator_common import (
    COUNT,
    DAYS,
    PAN_WITHIN_TARGET,
    PERCENT,
    SATISFACTION_TARGET,
    TICKETS_ON_TIME_TARGET,
    WORKING_DAYS,
    Period,
    indicator,
    label,
    mean,
    median_of_counts,
    percentile,
    rate,
    rows,
)


def ticket_indicators(store, pref, period: Period, today: date) -> list[dict]:
    where, args = period.where("created_at")
    found = rows(
        store,
        f"select origin, status, due_date < ?, answer_working_days, count(*) from tickets where {where} group by 1, 2, 3, 4",
        [today.isoformat(), *args],
    )
    limits = {"email": int(pref.get("commitments.email_working_days")), "paper": int(pref.get("commitments.paper_working_days"))}
    total = sum(r[4] for r in found)
    statuses: Counter = Counter()
    for r in found:
        statuses[r[1]] += r[4]
    answered = [r for r in found if r[1] == "answered" and r[3] is not None]
    overdue = sum(r[4] for r in found if r[1] == "open" and r[2])
    on_time = sum(r[4] for r in answered if r[3] <= limits.get(r[0], limits["email"]))
    n_answered = sum(r[4] for r in answered)
    judged = n_answered + overdue  # open tickets not yet due are not judged
    days = [r[3] for r in answered for _ in range(r[4])]

    def ticket(id: str, value, count: int, unit: str, values: dict | None = None, **kw) -> dict:
        return indicator(id, label(id, **(values or {})), "courriel", value, count, unit=unit, group="tickets", **kw)

    limit_days = {"days": limits["email"], "paper_days": limits["paper"]}
    return [
        ticket("tickets_volume", total or None, total, COUNT, breakdown=dict(sorted(statuses.items()))),
        ticket("tickets_on_time", rate(on_time, judged), judged, PERCENT, limit_days, target=TICKETS_ON_TIME_TARGET),
        ticket("tickets_avg_days", mean(sum(days), len(days)), len(days), WORKING_DAYS),
        ticket("tickets_p90_days", percentile(days, 0.9), len(days), WORKING_DAYS),
        ticket("tickets_overdue", overdue if total else None, total, COUNT, {"day": today.strftime("%d/%m/%Y")}),
    ]


def _paris_date(stamp: str) -> date | None:
    try:
        when = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None
    return (when.astimezone(PARIS) if when.tzinfo else when).date()


def _lead_times(store, period: Period, past_before: str) -> tuple[Counter, Counter]:
    """({days from booking to appointment: n} of the appointments given in the period — the bookings
    made in it, cancelled ones aside: a booking the person cancelled is no appointment given, as
    `pan_bookings` leaves it aside; a no-show was given —, the same of the appointments that took
    place: slot passed (before `past_before`, pan_indicators), not absent)."""
    # created_at is UTC, read by range on the UTC day bounds widened by a day, then cut on the Paris date.
    demo = "" if period.include_demo else " and demo = 0"
    made = rows(
        store,
        "select created_at, slot_start, status, count(*) from pan_bookings"
        f" where prefecture = ? and created_at >= ? and created_at < ? and status != 'cancelled'{demo} group by 1, 2, 3",
        [period.prefecture, (period.start - timedelta(days=1)).isoformat(), (period.end + timedelta(days=2)).isoformat()],
    )
    leads: Counter = Counter()
    held: Counter = Counter()
    for created, slot_start, status, count in made:
        booked_on = _paris_date(created)
        try:
            slot_on = date.fromisoformat(str(slot_start)[:10])
        except (TypeError, ValueError):
            continue
        if booked_on is None or not period.start <= booked_on <= period.end:
            continue
        leads[(slot_on - booked_on).days] += count
        if status == "booked" and str(slot_start) < past_before:
            held[(slot_on - booked_on).days] += count
    return leads, held


def pan_indicators(store, period: Period, past_before: str, within_days: int) -> list[dict]:
    """PAN appointments whose date falls in the period (their count and no-shows: by slot_start, not by
    the day they were booked), and the bookings made in the period (lead times, held within N days),
    cancelled ones aside in all of them.
    A slot is past when its start (Paris, "YYYY-MM-DDTHH:MM") sorts before `past_before`: a Paris
    time, or a day ("YYYY-MM-DD": the slots of the days before it)."""
    where, args = period.where("slot_start")
    found = rows(
        store,
        f"select status, slot_start < ?, count(*) from pan_bookings where {where} group by 1, 2",
        [past_before, *args],
    )
    total = sum(r[2] for r in found)
    statuses: Counter = Counter()
    for r in found:
        statuses[r[0]] += r[2]
    kept = total - statuses["cancelled"]
    past = sum(r[2] for r in found if r[0] != "cancelled" and r[1])
    no_shows = sum(r[2] for r in found if r[0] == "no_show" and r[1])
    leads, held = _lead_times(store, period, past_before)
    n_leads, n_held = sum(leads.values()), sum(held.values())

    def pan(id: str, value, count: int, unit: str, values: dict | None = None, **kw) -> dict:
        return indicator(id, label(id, **(values or {})), "PAN", value, count, unit=unit, group="pan", **kw)

    return [
        pan("pan_bookings", kept if total else None, total, COUNT, breakdown=dict(sorted(statuses.items()))),
        pan("pan_no_shows", rate(no_shows, past), past, PERCENT),
        pan("pan_lead_time_avg", mean(sum(d * c for d, c in leads.items()), n_leads), n_leads, DAYS),
        pan("pan_lead_time_median", median_of_counts(leads), n_leads, DAYS),
        # No figure before an appointment took place: a booking for next week is not yet "tenu".
        pan(
            "pan_within_days",
            rate(sum(c for d, c in held.items() if d <= within_days), n_held),
            n_held,
            PERCENT,
            {"days": within_days},
            target=PAN_WITHIN_TARGET,
        ),
    ]


def satisfaction_indicators(store, period: Period, phone_heard: int, phone_rated: int, phone_useful: int) -> list[dict]:
    """Share of « utile » among the ratings given (chat: « Oui / Non » after an answer; phone: key 9 or
    8 after an answer), per channel and pooled (the Qual-e-pref satisfaction, target 75 %); and, by
    phone, how many of the calls that heard an answer rated it. Phone ratings count with their call's
    period. A channel without any rating in the period has no figure."""
    where, args = period.where("created_at")
    chat = dict(rows(store, f"select useful, count(*) from feedback where {where} and kind = 'chat' group by useful", args))
    chat_n = sum(chat.values())
    chat_useful = chat.get(1, 0)

    def rated(id: str, channel: str, value, count: int, **kw) -> dict:
        return indicator(id, label(id), channel, value, count, unit=PERCENT, group="satisfaction", **kw)

    both = chat_n + phone_rated
    return [
        rated("satisfaction", "tous", rate(chat_useful + phone_useful, both), both, target=SATISFACTION_TARGET),
        rated("satisfaction_chat", "chat", rate(chat_useful, chat_n), chat_n, target=SATISFACTION_TARGET),
        rated("satisfaction_phone", "téléphone", rate(phone_useful, phone_rated), phone_rated, target=SATISFACTION_TARGET),
        rated("satisfaction_phone_participation", "téléphone", rate(phone_rated, phone_heard), phone_heard),
    ]
