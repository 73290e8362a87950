"""Closure days (ponts, exceptional closures) in the chat's answers.

A préfecture lists them under `prefecture.phone_hours.closures` (days written YYYY-MM-DD, checked
when the file is loaded: bot/core/config.py). The phone does not transfer to the standard on those
days (ivr/hours.py); the chat puts a notice before every answer that gives the standard's hours, on
the day itself and `closures_notice_days` days before it. The notice's words are the tree's
`chat.closures` texts; the day is said in French (bot/core/clock.py `french_date`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from bot.core import texts
from bot.core.clock import french_date
from bot.core.config import Prefecture
from bot.core.router import Decision


def notice(pref: Prefecture, today: date) -> str:
    """What the chat says of the closure days of `today` and the `closures_notice_days` days after
    it; "" when there are none."""
    hours = pref.get("prefecture.phone_hours")
    last = today + timedelta(days=int(hours["closures_notice_days"]))
    days = [date.fromisoformat(day) for day in hours.get("closures") or []]
    said = []
    if today in days:
        said.append(texts.say("chat.closures.today", pref, when=french_date(today)))
    ahead = [french_date(day) for day in days if today < day <= last]
    if ahead:
        more, final = str(texts.raw("chat.closures.and_more")), str(texts.raw("chat.closures.and_last"))
        when = more.join(ahead[:-1]) + final + ahead[-1] if len(ahead) > 1 else ahead[0]
        said.append(texts.say("chat.closures.ahead", pref, when=when))
    return " ".join(said)


def with_closures(decision: Decision, pref: Prefecture, today: date) -> Decision:
    """The chat's answer with the closure notice first (in its text and its short form) when it gives
    the standard's hours; the same answer otherwise."""
    if pref.get("prefecture.phone_hours_text") not in decision.answer:
        return decision
    said = notice(pref, today)
    if not said:
        return decision
    shown = dict(decision.display)
    if shown:
        shown["lead"] = f"{said} {shown.get('lead') or ''}".strip()
    return replace(decision, answer=f"{said} {decision.answer}", display=shown)
