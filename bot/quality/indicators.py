"""Quality indicators (Qual-e-pref, CLU report) computed from the store — issue 6.

Pure functions over a `Store` for a period [start, end] (dates, both included) and a préfecture.
`compute(store, pref, start, end, today=None, *, include_demo=False)` returns a list of dicts, in a
stable order, each of this shape:

    {"id":        stable identifier, e.g. "phone_reached",
     "group":     section: one of GROUPS ("volumes", "routing", "phone", "tickets", "pan", "satisfaction"),
     "label":     French text for the committee,
     "channel":   "chat" | "téléphone" | "courriel" | "PAN" | "tous",
     "value":     a number, or None when the source has no row for the period (never a made-up figure),
     "count":     the base of the value (the denominator of a rate, the rows it was computed on),
     "target":    the Qual-e-pref target (a fraction for a rate) or None when there is none,
     "met":       True / False against the target, None without a target or without a value,
     "unit":      "nombre" | "%" | "jours ouvrés" | "jours" | "secondes" | "étapes",
     "note":      None, or a French remark ("pas encore de données" when value is None),
     "breakdown": optional {French key: number}: an ordered table the report draws as a bar chart.
                  Weekday ("lundi"…"dimanche") and hour ("0 h"…"23 h") breakdowns always carry
                  every key, zeros included, so charts stay comparable between periods.}

Rates are fractions (0.75 = 75 %); a target is met when the value is above it (strictly).

The period is made of Paris days, read by range on the stored ISO timestamps (`>= midnight of the
first day` and `< midnight after the last`), so the (prefecture, time) indexes of migration 005 are
used: conversations, calls, tickets and ratings are stored in UTC, so the bounds are Paris midnights
written in UTC (summer time included); PAN slots are stored in Paris time and compared as such.
Weekdays and hours are Paris local time. Everything is aggregated in SQL (GROUP BY);
Python only folds the grouped rows. Rows marked `demo = 1` (python -m tools.demo_data) are left out
unless `include_demo`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from bot.core.clock import PARIS, WEEKDAYS, day_start_utc

NO_DATA = "pas encore de données"
CALLS_REACHED_TARGET = 0.90  # Qual-e-pref: taux d'appels aboutis > 90 %
TICKETS_ON_TIME_TARGET = 0.80  # Qual-e-pref: courriels traités dans les 5 jours ouvrés > 80 %
SATISFACTION_TARGET = 0.75  # Qual-e-pref: satisfaction 75 %
PAN_WITHIN_TARGET = 0.80  # Qual-e-pref: rendez-vous dans les 10 jours > 80 % (days: commitments.pan_appointment_days)
HANDOFF_DESTINATION = "human"
HOURS = [f"{h} h" for h in range(24)]
ROOT_LABEL = "Menu principal"
# Sections of the report, in order, with their French titles.
GROUPS = {
    "volumes": "Volumes",
    "routing": "Orientation",
    "phone": "Téléphone",
    "tickets": "Messages aux services",
    "pan": "Points d'accueil numérique (PAN)",
    "satisfaction": "Satisfaction",
}


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


def indicator(
    id: str,
    label: str,
    channel: str,
    value,
    count: int,
    *,
    unit: str,
    group: str,
    target: float | None = None,
    note: str | None = None,
    breakdown: dict | None = None,
    higher_is_better: bool = True,
) -> dict:
    if value is None:
        met = None
        note = note or NO_DATA
    elif target is None:
        met = None
    else:
        met = value > target if higher_is_better else value < target
    out = {
        "id": id,
        "group": group,
        "label": label,
        "channel": channel,
        "value": value,
        "count": count,
        "target": target,
        "met": met,
        "unit": unit,
        "note": note,
    }
    if breakdown is not None:
        out["breakdown"] = breakdown
    return out


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def _mean(total: float, n: int) -> float | None:
    return total / n if n else None


class Period:
    """The SQL range of a period on one timestamp column, with the demo filter."""

    PARIS_COLUMNS = ("slot_start",)  # stored in Paris local time; every other time is stored in UTC

    def __init__(self, prefecture: str, start: date, end: date, include_demo: bool):
        self.prefecture, self.start, self.end = prefecture, start, end
        self.lo, self.hi = start.isoformat(), (end + timedelta(days=1)).isoformat()
        self.utc_lo, self.utc_hi = day_start_utc(start), day_start_utc(end + timedelta(days=1))
        self.include_demo = include_demo

    def where(self, column: str, alias: str = "") -> tuple[str, list]:
        a = f"{alias}." if alias else ""
        sql = f"{a}prefecture = ? and {a}{column} >= ? and {a}{column} < ?"
        if not self.include_demo:
            sql += f" and {a}demo = 0"
        lo, hi = (self.lo, self.hi) if column in self.PARIS_COLUMNS else (self.utc_lo, self.utc_hi)
        return sql, [self.prefecture, lo, hi]


def _rows(store, sql: str, args: list) -> list[tuple]:
    return store.db.execute(sql, args).fetchall()


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least q of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def median_of_counts(counts: dict) -> float | None:
    """The median of values given as {value: how many times} (the middle two averaged)."""
    n = sum(counts.values())
    if not n:
        return None
    ordered = sorted(counts.items())

    def nth(k: int):  # the k-th value, 0-based
        seen = 0
        for value, c in ordered:
            seen += c
            if k < seen:
                return value
        return ordered[-1][0]

    return nth(n // 2) if n % 2 else (nth(n // 2 - 1) + nth(n // 2)) / 2


def local_buckets(hour_counts: list[tuple[str, int]]) -> tuple[dict, dict]:
    """Counts by UTC hour ('2026-03-02T23', n) -> ({weekday: n}, {hour: n}) in Paris time, all keys present."""
    weekdays = dict.fromkeys(WEEKDAYS, 0)
    hours = dict.fromkeys(HOURS, 0)
    for stamp, n in hour_counts:
        try:
            when = datetime.strptime(stamp, "%Y-%m-%dT%H").replace(tzinfo=UTC).astimezone(PARIS)
        except (TypeError, ValueError):
            continue  # a malformed timestamp is not placed rather than placed wrongly
        weekdays[WEEKDAYS[when.weekday()]] += n
        hours[HOURS[when.hour]] += n
    return weekdays, hours


def time_indicators(prefix: str, channel: str, what: str, hour_counts: list[tuple[str, int]]) -> list[dict]:
    weekdays, hours = local_buckets(hour_counts)
    total = sum(weekdays.values())
    return [
        indicator(
            f"{prefix}_by_weekday",
            f"{what} par jour de la semaine (heure de Paris)",
            channel,
            total or None,
            total,
            unit="nombre",
            group="volumes",
            breakdown=weekdays,
        ),
        indicator(
            f"{prefix}_by_hour",
            f"{what} par heure de la journée (heure de Paris)",
            channel,
            total or None,
            total,
            unit="nombre",
            group="volumes",
            breakdown=hours,
        ),
    ]


def chat_indicators(store, period: Period) -> list[dict]:
    where, args = period.where("started_at", "c")
    # One row per conversation (its turns aggregated through the turns(conversation_id) index),
    # folded again by channel and UTC hour: what reaches Python is a few thousand groups.
    groups = _rows(
        store,
        f"""
        with conv as (
            select c.channel as channel, c.status as status, substr(c.started_at, 1, 13) as hour,
                   count(t.id) as turns, coalesce(sum(t.destination = ?), 0) as handoffs
            from conversations c left join turns t on t.conversation_id = c.id
            where {where} group by c.id)
        select channel, hour, count(*), sum(turns > 0 and status != 'unresolved' and handoffs = 0),
               sum(status = 'unresolved'), sum(handoffs > 0)
        from conv group by channel, hour""",
        [HANDOFF_DESTINATION, *args],
    )
    n = sum(g[2] for g in groups)
    self_served = sum(g[3] for g in groups)
    unresolved = sum(g[4] for g in groups)
    handed_off = sum(g[5] for g in groups)
    by_channel: Counter = Counter()
    by_hour: Counter = Counter()
    for channel, hour, count, *_ in groups:
        by_channel[channel] += count
        by_hour[hour] += count
    pairs = _rows(
        store,
        f"""
        select t.topic, t.destination, count(*), min(t.id) from conversations c
        join turns t on t.conversation_id = c.id where {where} group by t.topic, t.destination""",
        args,
    )
    topics, destinations = _ordered_counts(pairs)
    turns = sum(p[2] for p in pairs)
    return [
        indicator(
            "chat_volume",
            "Conversations écrites (volume)",
            "chat",
            n or None,
            n,
            unit="nombre",
            group="volumes",
            breakdown=dict(sorted(by_channel.items())),
        ),
        *time_indicators("chat", "chat", "Conversations écrites", sorted(by_hour.items())),
        indicator(
            "chat_topics", "Messages par thème", "chat", turns or None, turns, unit="nombre", group="routing", breakdown=topics
        ),
        indicator(
            "chat_destinations",
            "Messages par orientation",
            "chat",
            turns or None,
            turns,
            unit="nombre",
            group="routing",
            breakdown=destinations,
        ),
        indicator(
            "chat_self_service",
            "Conversations résolues sans agent",
            "chat",
            _rate(self_served, n),
            n,
            unit="%",
            group="routing",
        ),
        indicator("chat_unresolved", "Conversations non résolues", "chat", _rate(unresolved, n), n, unit="%", group="routing"),
        indicator(
            "chat_handoff", "Conversations orientées vers un agent", "chat", _rate(handed_off, n), n, unit="%", group="routing"
        ),
    ]


def _ordered_counts(pairs: list[tuple]) -> tuple[dict, dict]:
    """(topic, destination, count, first id) groups -> two {key: count}, most frequent first (ties: seen first)."""
    topics: dict = {}
    destinations: dict = {}
    for topic, dest, count, first in pairs:
        for table, key in ((topics, topic or "(aucun)"), (destinations, dest or "(aucune)")):
            c, f = table.get(key, (0, first))
            table[key] = (c + count, min(f, first))
    order = lambda table: {k: v[0] for k, v in sorted(table.items(), key=lambda kv: (-kv[1][0], kv[1][1]))}  # noqa: E731
    return order(topics), order(destinations)


def _by_count(counts: Counter) -> dict:
    """Most frequent first, ties in alphabetical order (stable whatever the order rows came in)."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _last_leaf(tree, path: list[str]):
    """The last node of a call's path that is an answer (a node with a destination), or None."""
    for node_id in reversed(path):
        node = tree.nodes.get(node_id)
        if node is not None and node.destination is not None:
            return node
    return None


def _node_label(tree, node_id: str | None) -> str:
    if not node_id or node_id == "root":
        return ROOT_LABEL
    node = tree.nodes.get(node_id)
    return node.title if node is not None else node_id


def phone_indicators(store, period: Period, tree) -> list[dict]:
    from bot.core.tree import rates_answer

    where, args = period.where("started_at")
    hours = _rows(store, f"select substr(started_at, 1, 13), count(*) from calls where {where} group by 1", args)
    n = sum(h[1] for h in hours)
    status = _rows(
        store,
        f"select ended_at is not null, coalesce(outcome, 'abandoned'), unresolved, count(*)"
        f" from calls where {where} group by 1, 2, 3",
        args,
    )
    e = sum(s[3] for s in status if s[0])
    outcomes: Counter = Counter()
    for ended, outcome, _, count in status:
        if ended:
            outcomes[outcome] += count
    unresolved = sum(s[3] for s in status if s[0] and s[2])
    reached = outcomes["answered"] + outcomes["transferred"] + outcomes["voicemail"]

    # Topics, destinations, path length and ratings: one group per distinct path in the menu.
    where_c, args_c = period.where("started_at", "c")
    demo_f = "" if period.include_demo else " and f.demo = 0"
    paths = _rows(
        store,
        f"""
        select c.path, c.ended_at is not null, count(*), coalesce(sum(f.useful = 1), 0), count(f.id)
        from calls c left join feedback f on f.kind = 'phone' and f.item_id = c.call_sid{demo_f}
        where {where_c} group by c.path, c.ended_at is not null""",
        args_c,
    )
    topics: Counter = Counter()
    destinations: Counter = Counter()
    steps_total = steps_n = heard = useful = rated = 0
    for raw, ended, count, rated_useful, rated_any in paths:
        try:
            path = [p for p in json.loads(raw or "[]") if isinstance(p, str)]
        except (TypeError, ValueError):
            path = []
        leaf = _last_leaf(tree, path)
        if leaf is not None:
            topics[leaf.topic or "(aucun)"] += count
            destinations[leaf.destination] += count
        if ended and path:
            steps_total += (len(path) - 1) * count  # the welcome's main menu is not a step
            steps_n += count
        if any(rates_answer(tree.nodes[p]) for p in path if p in tree.nodes):
            heard += count
        useful += rated_useful
        rated += rated_any
    with_leaf = sum(topics.values())

    abandoned = _rows(
        store,
        f"select node, count(*) from calls where {where} and ended_at is not null"
        f" and coalesce(outcome, 'abandoned') = 'abandoned' group by node",
        args,
    )
    points: Counter = Counter()
    for node_id, count in abandoned:
        points[_node_label(tree, node_id)] += count
    durations = dict(
        _rows(
            store,
            f"select duration_s, count(*) from calls where {where} and ended_at is not null"
            f" and duration_s is not null group by duration_s",
            args,
        )
    )
    d_n = sum(durations.values())
    return [
        indicator(
            "phone_volume",
            "Appels reçus (volume)",
            "téléphone",
            n or None,
            n,
            unit="nombre",
            group="volumes",
            breakdown={"terminés": e, "en cours": n - e} if n else {},
        ),
        *time_indicators("phone", "téléphone", "Appels reçus", sorted(hours)),
        indicator(
            "phone_topics",
            "Appels par thème (dernière réponse entendue dans le menu)",
            "téléphone",
            with_leaf or None,
            n,
            unit="nombre",
            group="routing",
            breakdown=_by_count(topics),
        ),
        indicator(
            "phone_destinations",
            "Appels par orientation (dernière réponse entendue dans le menu)",
            "téléphone",
            with_leaf or None,
            n,
            unit="nombre",
            group="routing",
            breakdown=_by_count(destinations),
        ),
        indicator(
            "phone_outcomes",
            "Appels terminés par issue",
            "téléphone",
            e or None,
            e,
            unit="nombre",
            group="phone",
            breakdown=dict(sorted(outcomes.items())),
        ),
        indicator(
            "phone_reached",
            "Appels aboutis (réponse, transfert ou messagerie)",
            "téléphone",
            _rate(reached, e),
            e,
            unit="%",
            group="phone",
            target=CALLS_REACHED_TARGET,
        ),
        indicator(
            "phone_self_service",
            "Appels résolus par le serveur vocal (réponse donnée)",
            "téléphone",
            _rate(outcomes["answered"], e),
            e,
            unit="%",
            group="routing",
        ),
        indicator("phone_unresolved", "Appels non résolus", "téléphone", _rate(unresolved, e), e, unit="%", group="routing"),
        indicator(
            "phone_handoff",
            "Appels transférés ou laissés en messagerie",
            "téléphone",
            _rate(outcomes["transferred"] + outcomes["voicemail"], e),
            e,
            unit="%",
            group="routing",
        ),
        indicator(
            "phone_abandoned", "Appels abandonnés", "téléphone", _rate(outcomes["abandoned"], e), e, unit="%", group="phone"
        ),
        indicator(
            "phone_abandon_points",
            "Appels abandonnés, par étape du menu où l'appelant a raccroché",
            "téléphone",
            outcomes["abandoned"] or None,
            e,
            unit="nombre",
            group="phone",
            breakdown=_by_count(points),
        ),
        indicator(
            "phone_path_length",
            "Nombre moyen d'étapes dans le menu (menus et réponses après l'accueil)",
            "téléphone",
            _mean(steps_total, steps_n),
            steps_n,
            unit="étapes",
            group="phone",
        ),
        indicator(
            "phone_duration_avg",
            "Durée moyenne d'un appel",
            "téléphone",
            _mean(sum(d * c for d, c in durations.items()), d_n),
            d_n,
            unit="secondes",
            group="phone",
        ),
        indicator(
            "phone_duration_median",
            "Durée médiane d'un appel",
            "téléphone",
            median_of_counts(durations),
            d_n,
            unit="secondes",
            group="phone",
        ),
    ], (heard, rated, useful)


def ticket_indicators(store, pref, period: Period, today: date) -> list[dict]:
    where, args = period.where("created_at")
    rows = _rows(
        store,
        f"select origin, status, due_date < ?, answer_working_days, count(*) from tickets where {where} group by 1, 2, 3, 4",
        [today.isoformat(), *args],
    )
    limits = {"email": int(pref.get("commitments.email_working_days")), "paper": int(pref.get("commitments.paper_working_days"))}
    total = sum(r[4] for r in rows)
    statuses: Counter = Counter()
    for r in rows:
        statuses[r[1]] += r[4]
    answered = [r for r in rows if r[1] == "answered" and r[3] is not None]
    overdue = sum(r[4] for r in rows if r[1] == "open" and r[2])
    on_time = sum(r[4] for r in answered if r[3] <= limits.get(r[0], limits["email"]))
    n_answered = sum(r[4] for r in answered)
    judged = n_answered + overdue  # open tickets not yet due are not judged
    days = [r[3] for r in answered for _ in range(r[4])]
    return [
        indicator(
            "tickets_volume",
            "Messages aux services (volume)",
            "courriel",
            total or None,
            total,
            unit="nombre",
            group="tickets",
            breakdown=dict(sorted(statuses.items())),
        ),
        indicator(
            "tickets_on_time",
            f"Messages traités dans le délai ({limits['email']} jours ouvrés, {limits['paper']} pour un courrier)",
            "courriel",
            _rate(on_time, judged),
            judged,
            unit="%",
            group="tickets",
            target=TICKETS_ON_TIME_TARGET,
        ),
        indicator(
            "tickets_avg_days",
            "Délai moyen de réponse",
            "courriel",
            _mean(sum(days), len(days)),
            len(days),
            unit="jours ouvrés",
            group="tickets",
        ),
        indicator(
            "tickets_p90_days",
            "Délai de réponse, 90e centile",
            "courriel",
            percentile(days, 0.9),
            len(days),
            unit="jours ouvrés",
            group="tickets",
        ),
        indicator(
            "tickets_overdue",
            f"Messages en retard (ouverts, échéance avant le {today.strftime('%d/%m/%Y')})",
            "courriel",
            overdue if total else None,
            total,
            unit="nombre",
            group="tickets",
        ),
    ]


def _paris_date(stamp: str) -> date | None:
    try:
        when = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None
    return (when.astimezone(PARIS) if when.tzinfo else when).date()


def pan_indicators(store, period: Period, today: date, within_days: int) -> list[dict]:
    where, args = period.where("slot_start")
    rows = _rows(
        store,
        f"select status, substr(slot_start, 1, 10) < ?, count(*) from pan_bookings where {where} group by 1, 2",
        [today.isoformat(), *args],
    )
    total = sum(r[2] for r in rows)
    statuses: Counter = Counter()
    for r in rows:
        statuses[r[0]] += r[2]
    kept = total - statuses["cancelled"]
    past = sum(r[2] for r in rows if r[0] != "cancelled" and r[1])
    no_shows = sum(r[2] for r in rows if r[0] == "no_show" and r[1])
    # Lead time: bookings made in the period (created_at, UTC, read by range on the UTC day bounds
    # widened by a day, then cut on the Paris date), appointment date minus booking date, in days.
    demo = "" if period.include_demo else " and demo = 0"
    made = _rows(
        store,
        "select created_at, substr(slot_start, 1, 10), status, count(*) from pan_bookings"
        f" where prefecture = ? and created_at >= ? and created_at < ?{demo} group by 1, 2, 3",
        [period.prefecture, (period.start - timedelta(days=1)).isoformat(), (period.end + timedelta(days=2)).isoformat()],
    )
    leads: Counter = Counter()
    held: Counter = Counter()  # appointments that took place (day passed, not cancelled, not absent): lead -> n
    for created, slot_day, status, count in made:
        booked_on = _paris_date(created)
        try:
            slot_on = date.fromisoformat(slot_day)
        except (TypeError, ValueError):
            continue
        if booked_on is None or not period.start <= booked_on <= period.end:
            continue
        leads[(slot_on - booked_on).days] += count
        if status == "booked" and slot_on < today:
            held[(slot_on - booked_on).days] += count
    n_leads, n_held = sum(leads.values()), sum(held.values())
    return [
        indicator(
            "pan_bookings",
            "Rendez-vous PAN pris (hors annulés)",
            "PAN",
            kept if total else None,
            total,
            unit="nombre",
            group="pan",
            breakdown=dict(sorted(statuses.items())),
        ),
        indicator(
            "pan_no_shows",
            "Rendez-vous PAN non honorés (créneaux passés)",
            "PAN",
            _rate(no_shows, past),
            past,
            unit="%",
            group="pan",
        ),
        indicator(
            "pan_lead_time_avg",
            "Délai moyen entre la prise du rendez-vous PAN et le rendez-vous (rendez-vous pris pendant la période)",
            "PAN",
            _mean(sum(d * c for d, c in leads.items()), n_leads),
            n_leads,
            unit="jours",
            group="pan",
        ),
        indicator(
            "pan_lead_time_median",
            "Délai médian entre la prise du rendez-vous PAN et le rendez-vous (rendez-vous pris pendant la période)",
            "PAN",
            median_of_counts(leads),
            n_leads,
            unit="jours",
            group="pan",
        ),
        # No figure before an appointment took place: a booking for next week is not yet "tenu".
        indicator(
            "pan_within_days",
            f"Rendez-vous PAN tenus dans les {within_days} jours suivant leur prise "
            "(rendez-vous pris pendant la période et déjà passés, absences exclues)",
            "PAN",
            _rate(sum(c for d, c in held.items() if d <= within_days), n_held),
            n_held,
            unit="%",
            group="pan",
            target=PAN_WITHIN_TARGET,
        ),
    ]


def satisfaction_indicators(store, period: Period, phone_heard: int, phone_rated: int, phone_useful: int) -> list[dict]:
    """Share of « utile » among the ratings given (chat: « Oui / Non » after an answer; phone: key 9 or
    8 after an answer), per channel and pooled (the Qual-e-pref satisfaction, target 75 %); and, by
    phone, how many of the calls that heard an answer rated it. Phone ratings count with their call's
    period. A channel without any rating in the period has no figure."""
    where, args = period.where("created_at")
    chat = dict(_rows(store, f"select useful, count(*) from feedback where {where} and kind = 'chat' group by useful", args))
    chat_n = sum(chat.values())
    chat_useful = chat.get(1, 0)
    return [
        indicator(
            "satisfaction",
            "Satisfaction des usagers : réponses jugées utiles, tous canaux (avis donnés à l'écrit et au téléphone)",
            "tous",
            _rate(chat_useful + phone_useful, chat_n + phone_rated),
            chat_n + phone_rated,
            unit="%",
            group="satisfaction",
            target=SATISFACTION_TARGET,
        ),
        indicator(
            "satisfaction_chat",
            "Réponses jugées utiles à la fin d'une conversation écrite",
            "chat",
            _rate(chat_useful, chat_n),
            chat_n,
            unit="%",
            group="satisfaction",
            target=SATISFACTION_TARGET,
        ),
        indicator(
            "satisfaction_phone",
            "Réponses jugées utiles au téléphone (touche 9 ; 8 : pas utile)",
            "téléphone",
            _rate(phone_useful, phone_rated),
            phone_rated,
            unit="%",
            group="satisfaction",
            target=SATISFACTION_TARGET,
        ),
        indicator(
            "satisfaction_phone_participation",
            "Appels où l'appelant a donné son avis, sur les appels ayant entendu une réponse",
            "téléphone",
            _rate(phone_rated, phone_heard),
            phone_heard,
            unit="%",
            group="satisfaction",
        ),
    ]


def compute(
    store, pref, start: date, end: date, today: date | None = None, *, include_demo: bool = False, tree=None
) -> list[dict]:
    """Every indicator of `pref` (a config.Prefecture) for [start, end]; `today` decides what is overdue."""
    from bot.core import tree as tree_mod

    today = today or date.today()
    tree = tree or tree_mod.current()
    period = Period(pref.id, start, end, include_demo)
    phone, (heard, rated, useful) = phone_indicators(store, period, tree)
    result = (
        chat_indicators(store, period)
        + phone
        + ticket_indicators(store, pref, period, today)
        + pan_indicators(store, period, today, int(pref.get("commitments.pan_appointment_days")))
        + satisfaction_indicators(store, period, heard, rated, useful)
    )
    order = list(GROUPS)
    return sorted(result, key=lambda ind: order.index(ind["group"]))  # stable: chat, then phone, in a group


def format_value(ind: dict) -> str:
    value = ind["value"]
    if value is None:
        return (ind["note"] or NO_DATA).split(" :")[0]
    unit = ind["unit"]
    if unit == "%":
        return f"{value * 100:.1f} %".replace(".", ",")
    if unit in ("jours ouvrés", "jours"):
        return f"{value:.1f} j".replace(".", ",")
    if unit == "secondes":
        return f"{value:.0f} s"
    if unit == "étapes":
        return f"{value:.1f} étapes".replace(".", ",")
    return str(value)


def format_table(indicators: list[dict], pref_name: str, start: date, end: date) -> str:
    lines = [f"Indicateurs de qualité — {pref_name} — du {start.strftime('%d/%m/%Y')} au {end.strftime('%d/%m/%Y')}"]
    group = None
    for ind in indicators:
        if ind.get("group") != group:
            group = ind.get("group")
            lines += [
                "",
                f"## {GROUPS.get(group, group or '')}",
                f"{'Canal':<10} {'Indicateur':<72} {'Valeur':>22} {'Base':>6} {'Cible':>7} {'Atteinte':>8}",
            ]
        target = "" if ind["target"] is None else f"> {ind['target'] * 100:.0f} %"
        met = {True: "oui", False: "non", None: "—"}[ind["met"]]
        lines.append(
            f"{ind['channel']:<10} {ind['label'][:72]:<72} {format_value(ind):>22} {ind['count']:>6} {target:>7} {met:>8}"
        )
        if ind["value"] is not None:
            for key, count in (ind.get("breakdown") or {}).items():
                lines.append(f"{'':<10}   · {key:<68} {count:>22}")
        if ind["note"] and ind["note"] != NO_DATA:
            lines.append(f"{'':<10}   ({ind['note']})")
    return "\n".join(lines)
