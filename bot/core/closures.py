"""Closure days (ponts, exceptional closures) in the chat's answers and the phone's.

A préfecture lists them under `prefecture.phone_hours.closures` (days written YYYY-MM-DD, checked
when the file is loaded: bot/core/config.py). The phone does not transfer to the standard on those
days (ivr/hours.py); the chat puts a notice before every answer that gives the standard's hours, on
the day itself and `closures_notice_days` days before it. The notice's words are the tree's
`chat.closures` texts; the day is said in French (bot/core/clock.py `french_date`). The phone says
the same notice before its answers that say the standard's hours, with its own texts
(`phone.closures`) and days said without the year (`french_date_voice`): ivr/options.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

from bot.core import texts
from bot.core.clock import DAYS, french_date, is_holiday
from bot.core.config import Prefecture
from bot.core.decision import Decision
from bot.core.tree import render


def closed_on(pref: Prefecture, day: date) -> bool:
    """Whether `day` is one of the préfecture's closure days."""
    return day.isoformat() in (pref.get("prefecture.phone_hours").get("closures") or [])


def holiday_closed(pref: Prefecture, day: date) -> bool:
    """Whether `day` is a public holiday on which the standard would otherwise answer (a weekday of its
    `prefecture.phone_hours.days`): closed that day, unlike what its hours say."""
    return is_holiday(day) and bool((pref.get("prefecture.phone_hours").get("days") or {}).get(DAYS[day.weekday()]))


def notice(
    pref: Prefecture, today: date, words: dict | None = None, say_day: Callable[[date], str] = french_date, holidays: bool = False
) -> str:
    """What the chat says of the closure days of `today` and the `closures_notice_days` days after
    it; "" when there are none. `words`: the texts `today`, `ahead`, `and_more`, `and_last` (the
    chat's `chat.closures` by default; the phone passes its own), and optionally `days_said`, the
    most days named (today first, then the nearest ahead: the phone names one, its prompts being
    timed); `say_day`: how a day is said; `holidays`: a public holiday today is said as a closure
    today (the chat: its hours answer knows no "now", where the phone says the standard is closed now)."""
    words = words if words is not None else dict(texts.raw("chat.closures"))
    hours = pref.get("prefecture.phone_hours")
    last = today + timedelta(days=int(hours["closures_notice_days"]))
    days = [date.fromisoformat(day) for day in hours.get("closures") or []]  # sorted when the file loads
    if holidays and today not in days and holiday_closed(pref, today):
        days.insert(0, today)
    most = int(words.get("days_said") or len(days))
    said = []
    if today in days:
        said.append(render(str(words["today"]), pref, {"when": say_day(today)}))
    ahead = [say_day(day) for day in days if today < day <= last][: max(most - len(said), 0)]
    if len(ahead) == 1:
        said.append(render(str(words["ahead"]), pref, {"when": ahead[0]}))
    elif ahead:
        when = str(words["and_more"]).join(ahead[:-1]) + str(words["and_last"]) + ahead[-1]
        said.append(render(str(words["ahead"]), pref, {"when": when}))
    return " ".join(said)


def with_closures(decision: Decision, pref: Prefecture, today: date) -> Decision:
    """The chat's answer with the closure notice first (in its text and its short form) when it gives
    the standard's hours, a public holiday today said as a closure today; the same answer otherwise."""
    if pref.get("prefecture.phone_hours_text") not in decision.answer:
        return decision
    said = notice(pref, today, holidays=True)
    if not said:
        return decision
    shown = dict(decision.display)
    if shown:
        shown["lead"] = f"{said} {shown.get('lead') or ''}".strip()
    return replace(decision, answer=f"{said} {decision.answer}", display=shown)
