"""Quality indicators (Qual-e-pref, CLU report) computed from the store — first slice of issue 6.

Pure functions over a `Store` for a period [start, end] (dates, both included) and a préfecture.
Each indicator is a dict:

    {"id", "label" (French), "channel", "value" (or None), "count" (the denominator), "target" (or None),
     "met" (True / False / None), "unit" ("nombre" | "%" | "jours ouvrés"), "note" (or None)}

plus "breakdown" ({key: count}) for the volumes. When the source rows are absent for the period the
value is None and the note says "pas encore de données": never a made-up figure. Rates are fractions
(0.75 = 75 %). Period membership uses the date part of the stored timestamp (UTC for conversations,
calls and tickets; Paris local time for PAN slots, as stored).
"""
from __future__ import annotations

import math
from collections import Counter
from datetime import date

NO_DATA = "pas encore de données"
CALLS_REACHED_TARGET = 0.90   # Qual-e-pref: taux d'appels aboutis > 90 %
TICKETS_ON_TIME_TARGET = 0.80  # Qual-e-pref: courriels traités dans les 5 jours ouvrés > 80 %
SATISFACTION_TARGET = 0.75     # Qual-e-pref: satisfaction 75 %
HANDOFF_DESTINATION = "human"


class PeriodError(ValueError):
    """A bad period; the message is in French, for the user."""


def parse_period(start: str, end: str) -> tuple[date, date]:
    try:
        first = date.fromisoformat(start)
    except (TypeError, ValueError):
        raise PeriodError(f"date de début invalide : « {start} » (format attendu AAAA-MM-JJ, ex. 2026-01-01)") from None
    try:
        last = date.fromisoformat(end)
    except (TypeError, ValueError):
        raise PeriodError(f"date de fin invalide : « {end} » (format attendu AAAA-MM-JJ, ex. 2026-12-31)") from None
    if first > last:
        raise PeriodError(f"période invalide : le début ({first.isoformat()}) est après la fin ({last.isoformat()})")
    return first, last


def indicator(id: str, label: str, channel: str, value, count: int, *, unit: str, target: float | None = None,
              note: str | None = None, breakdown: dict | None = None, higher_is_better: bool = True) -> dict:
    if value is None:
        met = None
        note = note or NO_DATA
    elif target is None:
        met = None
    else:
        met = value > target if higher_is_better else value < target
    out = {"id": id, "label": label, "channel": channel, "value": value, "count": count, "target": target,
           "met": met, "unit": unit, "note": note}
    if breakdown is not None:
        out["breakdown"] = breakdown
    return out


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def _rows(store, sql: str, args: list) -> list[tuple]:
    return store.db.execute(sql, args).fetchall()


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least q of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def chat_indicators(store, prefecture: str, start: date, end: date) -> list[dict]:
    period = [prefecture, start.isoformat(), end.isoformat()]
    convs = _rows(store, "select id, channel, last_topic, last_destination, status from conversations"
                         " where prefecture = ? and substr(started_at, 1, 10) between ? and ?", period)
    n = len(convs)
    ids = [c[0] for c in convs]
    turns: list[tuple] = []
    if ids:
        turns = _rows(store, "select t.conversation_id, t.topic, t.destination, t.resolved from turns t"
                             " join conversations c on c.id = t.conversation_id where c.prefecture = ?"
                             " and substr(c.started_at, 1, 10) between ? and ?", period)
    unresolved_turn, handed_off = set(), set()
    topics, destinations = Counter(), Counter()
    for conv_id, topic, dest, resolved in turns:
        if not resolved:
            unresolved_turn.add(conv_id)
        if dest == HANDOFF_DESTINATION:
            handed_off.add(conv_id)
        topics[topic or "(aucun)"] += 1
        destinations[dest or "(aucune)"] += 1
    with_turns = {t[0] for t in turns}
    self_served = sum(1 for c in ids if c in with_turns and c not in unresolved_turn)
    unresolved = sum(1 for c in convs if c[4] == "unresolved")
    by_channel = dict(sorted(Counter(c[1] for c in convs).items()))
    return [
        indicator("chat_volume", "Conversations écrites (volume)", "chat", n or None, n, unit="nombre",
                  breakdown=by_channel),
        indicator("chat_topics", "Messages par thème", "chat", len(turns) or None, len(turns), unit="nombre",
                  breakdown=dict(topics.most_common())),
        indicator("chat_destinations", "Messages par orientation", "chat", len(turns) or None, len(turns),
                  unit="nombre", breakdown=dict(destinations.most_common())),
        indicator("chat_self_service", "Conversations résolues sans agent (tous les messages compris)", "chat",
                  _rate(self_served, n), n, unit="%"),
        indicator("chat_unresolved", "Conversations non résolues", "chat", _rate(unresolved, n), n, unit="%"),
        indicator("chat_handoff", "Conversations orientées vers un agent", "chat", _rate(len(handed_off), n), n,
                  unit="%"),
    ]


def phone_indicators(store, prefecture: str, start: date, end: date) -> list[dict]:
    calls = _rows(store, "select outcome, unresolved, ended_at from calls"
                         " where prefecture = ? and substr(started_at, 1, 10) between ? and ?",
                  [prefecture, start.isoformat(), end.isoformat()])
    n = len(calls)
    ended = [c for c in calls if c[2]]
    e = len(ended)
    outcomes = Counter(c[0] or "abandoned" for c in ended)
    reached = outcomes["answered"] + outcomes["transferred"] + outcomes["voicemail"]
    return [
        indicator("phone_volume", "Appels reçus (volume)", "téléphone", n or None, n, unit="nombre",
                  breakdown={"terminés": e, "en cours": n - e} if n else {}),
        indicator("phone_outcomes", "Appels terminés par issue", "téléphone", e or None, e, unit="nombre",
                  breakdown=dict(sorted(outcomes.items()))),
        indicator("phone_reached", "Appels aboutis (réponse, transfert ou messagerie)", "téléphone",
                  _rate(reached, e), e, unit="%", target=CALLS_REACHED_TARGET),
        indicator("phone_self_service", "Appels résolus par le serveur vocal (réponse donnée)", "téléphone",
                  _rate(outcomes["answered"], e), e, unit="%"),
        indicator("phone_unresolved", "Appels non résolus", "téléphone",
                  _rate(sum(1 for c in ended if c[1]), e), e, unit="%"),
        indicator("phone_handoff", "Appels transférés ou laissés en messagerie", "téléphone",
                  _rate(outcomes["transferred"] + outcomes["voicemail"], e), e, unit="%"),
        indicator("phone_abandoned", "Appels abandonnés", "téléphone", _rate(outcomes["abandoned"], e), e,
                  unit="%"),
    ]


def ticket_indicators(store, pref, start: date, end: date, today: date) -> list[dict]:
    rows = _rows(store, "select origin, status, due_date, answer_working_days from tickets"
                        " where prefecture = ? and substr(created_at, 1, 10) between ? and ?",
                 [pref.id, start.isoformat(), end.isoformat()])
    limits = {"email": int(pref.get("commitments.email_working_days")),
              "paper": int(pref.get("commitments.paper_working_days"))}
    answered = [r for r in rows if r[1] == "answered" and r[3] is not None]
    overdue = [r for r in rows if r[1] == "open" and r[2] < today.isoformat()]
    on_time = sum(1 for r in answered if r[3] <= limits.get(r[0], limits["email"]))
    judged = len(answered) + len(overdue)  # open tickets not yet due are not judged
    days = [r[3] for r in answered]
    return [
        indicator("tickets_volume", "Messages aux services (volume)", "courriel", len(rows) or None, len(rows),
                  unit="nombre", breakdown=dict(sorted(Counter(r[1] for r in rows).items()))),
        indicator("tickets_on_time", f"Messages traités dans le délai ({limits['email']} jours ouvrés, "
                  f"{limits['paper']} pour un courrier)", "courriel", _rate(on_time, judged), judged, unit="%",
                  target=TICKETS_ON_TIME_TARGET),
        indicator("tickets_avg_days", "Délai moyen de réponse", "courriel",
                  sum(days) / len(days) if days else None, len(days), unit="jours ouvrés"),
        indicator("tickets_p90_days", "Délai de réponse, 90e centile", "courriel", percentile(days, 0.9),
                  len(days), unit="jours ouvrés"),
        indicator("tickets_overdue", f"Messages en retard (ouverts, échéance avant le {today.strftime('%d/%m/%Y')})",
                  "courriel", len(overdue) if rows else None, len(rows), unit="nombre"),
    ]


def pan_indicators(store, prefecture: str, start: date, end: date, today: date) -> list[dict]:
    rows = _rows(store, "select status, slot_start from pan_bookings"
                        " where prefecture = ? and substr(slot_start, 1, 10) between ? and ?",
                 [prefecture, start.isoformat(), end.isoformat()])
    kept = [r for r in rows if r[0] != "cancelled"]
    past = [r for r in kept if r[1][:10] < today.isoformat()]
    no_shows = sum(1 for r in past if r[0] == "no_show")
    return [
        indicator("pan_bookings", "Rendez-vous PAN pris (hors annulés)", "PAN", len(kept) if rows else None,
                  len(rows), unit="nombre", breakdown=dict(sorted(Counter(r[0] for r in rows).items()))),
        indicator("pan_no_shows", "Rendez-vous PAN non honorés (créneaux passés)", "PAN",
                  _rate(no_shows, len(past)), len(past), unit="%"),
    ]


def satisfaction_indicator() -> dict:
    return indicator("satisfaction", "Satisfaction des usagers", "tous", None, 0, unit="%",
                     target=SATISFACTION_TARGET,
                     note="pas encore collectée : la notation de fin d'échange n'existe pas encore")


def compute(store, pref, start: date, end: date, today: date | None = None) -> list[dict]:
    """Every indicator of `pref` (a config.Prefecture) for [start, end]; `today` decides what is overdue."""
    today = today or date.today()
    return (chat_indicators(store, pref.id, start, end) + phone_indicators(store, pref.id, start, end)
            + ticket_indicators(store, pref, start, end, today) + pan_indicators(store, pref.id, start, end, today)
            + [satisfaction_indicator()])


def format_value(ind: dict) -> str:
    value = ind["value"]
    if value is None:
        return (ind["note"] or NO_DATA).split(" :")[0]
    if ind["unit"] == "%":
        return f"{value * 100:.1f} %".replace(".", ",")
    if ind["unit"] == "jours ouvrés":
        return f"{value:.1f} j".replace(".", ",")
    return str(value)


def format_table(indicators: list[dict], pref_name: str, start: date, end: date) -> str:
    lines = [f"Indicateurs de qualité — {pref_name} — du {start.strftime('%d/%m/%Y')} au {end.strftime('%d/%m/%Y')}",
             "",
             f"{'Canal':<10} {'Indicateur':<72} {'Valeur':>22} {'Base':>6} {'Cible':>7} {'Atteinte':>8}"]
    for ind in indicators:
        target = "" if ind["target"] is None else f"> {ind['target'] * 100:.0f} %"
        met = {True: "oui", False: "non", None: "—"}[ind["met"]]
        lines.append(f"{ind['channel']:<10} {ind['label'][:72]:<72} {format_value(ind):>22} {ind['count']:>6} "
                     f"{target:>7} {met:>8}")
        for key, count in (ind.get("breakdown") or {}).items():
            lines.append(f"{'':<10}   · {key:<68} {count:>22}")
        if ind["value"] is None and ind["note"] and ind["note"] != NO_DATA:
            lines.append(f"{'':<10}   ({ind['note']})")
    return "\n".join(lines)
