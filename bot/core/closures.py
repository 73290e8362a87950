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
from bot.core.clock import french_date
from bot.core.config import Prefecture
from bot.core.router import Decision
from bot.core.tree import render


def closed_on(pref: Prefecture, day: date) -> bool:
    """Whether `day` is one of the préfecture's closure days."""
    return day.isoformat() in (pref.get("prefecture.phone_hours").get("closures") or [])


def notice(pref: Prefecture, today: date, words: dict | None = None, say_day: Callable[[date], str] = french_date) -> str:
    """What the chat says of the closure days of `today` and the `closures_notice_days` days after
    it; "" when there are none. `words`: the texts `today`, `ahead`, `and_more`, `and_last` (the
    chat's `chat.closures` by default; the phone passes its own), and optionally `days_said`, the
    most days named (today first, then the nearest ahead: the phone names one, its prompts being
    timed); `say_day`: how a day is said."""
    words = words if words is not None else dict(texts.raw("chat.closures"))
    hours = pref.get("prefecture.phone_hours")
    last = today + timedelta(days=int(hours["closures_notice_days"]))
    days = [date.fromisoformat(day) for day in hours.get("closures") or []]  # sorted when the file loads
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
