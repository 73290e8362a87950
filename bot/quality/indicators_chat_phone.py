"""The indicators of the two front doors: the written chat (conversations, topics, destinations,
resolution) and the phone (calls, outcomes, the path in the menu, abandons, durations, ratings heard).
bot/quality/indicators.py re-exports them: import from there.
"""

from __future__ import annotations

import json
from collections import Counter

from bot.quality.indicator_common import (
    CALLS_REACHED_TARGET,
    COUNT,
    HANDOFF_DESTINATION,
    PERCENT,
    SECONDS,
    STEPS,
    Period,
    indicator,
    label,
    mean,
    median_of_counts,
    rate,
    rows,
    say,
    time_indicators,
)


def chat_indicators(store, period: Period) -> list[dict]:
    where, args = period.where("started_at", "c")
    # One row per conversation (its turns aggregated through the turns(conversation_id) index),
    # folded again by channel and UTC hour: what reaches Python is a few thousand groups.
    groups = rows(
        store,
        f"""
        with conv as (
            select c.channel as channel, c.status as status, substr(c.started_at, 1, 13) as hour,
                   count(t.id) as turns, coalesce(sum(t.destination = ?), 0) as handoffs,
                   coalesce(sum(t.action = 'answer' and t.destination <> ? and t.text not like '/%'), 0) as answered,
                   coalesce(sum(t.corrects > 0), 0) as corrected
            from conversations c left join turns t on t.conversation_id = c.id
            where {where} group by c.id)
        select channel, hour, count(*), sum(turns > 0 and status != 'unresolved' and handoffs = 0),
               sum(status = 'unresolved'), sum(handoffs > 0), sum(answered), sum(corrected)
        from conv group by channel, hour""",
        [HANDOFF_DESTINATION, HANDOFF_DESTINATION, *args],
    )
    n = sum(g[2] for g in groups)
    self_served = sum(g[3] for g in groups)
    unresolved = sum(g[4] for g in groups)
    handed_off = sum(g[5] for g in groups)
    # Answers of a topic (a destination, not a person's: "merci" and the menu after a "non" have none) to
    # the person's words (a click is none), and those the person corrected by choosing another topic among
    # its alternatives: a floor of the confident mistakes (most who get one just leave). Counted in the
    # same pass (bench/console_bench.py's year: +0.03 s there; found by their index in a query of their
    # own, the corrections of every period were read, 0.016 s each time, for a month too).
    answered = sum(g[6] for g in groups)
    corrected = sum(g[7] for g in groups)
    by_channel: Counter = Counter()
    by_hour: Counter = Counter()
    for channel, hour, count, *_ in groups:
        by_channel[channel] += count
        by_hour[hour] += count
    pairs = rows(
        store,
        f"""
        select t.topic, t.destination, count(*), min(t.id) from conversations c
        join turns t on t.conversation_id = c.id where {where} group by t.topic, t.destination""",
        args,
    )
    topics, destinations = _ordered_counts(pairs)
    turns = sum(p[2] for p in pairs)

    def chat(id: str, value, count: int, **kw) -> dict:
        return indicator(id, label(id), "chat", value, count, **kw)

    return [
        chat("chat_volume", n or None, n, unit=COUNT, group="volumes", breakdown=dict(sorted(by_channel.items()))),
        *time_indicators("chat", "chat", label("chat_what"), sorted(by_hour.items())),
        chat("chat_topics", turns or None, turns, unit=COUNT, group="routing", breakdown=topics),
        chat("chat_destinations", turns or None, turns, unit=COUNT, group="routing", breakdown=destinations),
        chat("chat_self_service", rate(self_served, n), n, unit=PERCENT, group="routing"),
        chat("chat_unresolved", rate(unresolved, n), n, unit=PERCENT, group="routing"),
        chat("chat_handoff", rate(handed_off, n), n, unit=PERCENT, group="routing"),
        chat("chat_corrected", rate(corrected, answered), answered, unit=PERCENT, group="routing"),
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
        return say("root_label")
    node = tree.nodes.get(node_id)
    if node is not None:
        return node.title
    # A submenu of the phone's own (bot/tree.yml phone.groups: "vehicule", "autre"): its spoken label.
    return str((tree.phone.get("labels") or {}).get(node_id) or node_id)


def _call_paths(store, period: Period, tree) -> dict:
    """Topics, destinations, path length and ratings: one group per distinct path in the menu."""
    from bot.core.tree import rates_answer

    where_c, args_c = period.where("started_at", "c")
    demo_f = "" if period.include_demo else " and f.demo = 0"
    paths = rows(
        store,
        f"""
        select c.path, c.ended_at is not null, count(*), coalesce(sum(f.useful = 1), 0), count(f.id)
        from calls c left join feedback f on f.kind = 'phone' and f.item_id = c.call_sid{demo_f}
        where {where_c} group by c.path, c.ended_at is not null""",
        args_c,
    )
    out = {"topics": Counter(), "destinations": Counter(), "steps_total": 0, "steps_n": 0, "heard": 0, "useful": 0, "rated": 0}
    for raw, ended, count, rated_useful, rated_any in paths:
        try:
            path = [p for p in json.loads(raw or "[]") if isinstance(p, str)]
        except (TypeError, ValueError):
            path = []
        leaf = _last_leaf(tree, path)
        if leaf is not None:
            out["topics"][leaf.topic or "(aucun)"] += count
            out["destinations"][leaf.destination] += count
        if ended and path:
            out["steps_total"] += (len(path) - 1) * count  # the welcome's main menu is not a step
            out["steps_n"] += count
        if any(rates_answer(tree.nodes[p]) for p in path if p in tree.nodes):
            out["heard"] += count
        out["useful"] += rated_useful
        out["rated"] += rated_any
    return out


def _call_ends(store, period: Period, tree) -> tuple[Counter, dict]:
    """({where in the menu callers hung up: count}, {call duration in seconds: count}) of ended calls."""
    where, args = period.where("started_at")
    abandoned = rows(
        store,
        f"select node, count(*) from calls where {where} and ended_at is not null"
        f" and coalesce(outcome, 'abandoned') = 'abandoned' group by node",
        args,
    )
    points: Counter = Counter()
    for node_id, count in abandoned:
        points[_node_label(tree, node_id)] += count
    durations = dict(
        rows(
            store,
            f"select duration_s, count(*) from calls where {where} and ended_at is not null"
            f" and duration_s is not null group by duration_s",
            args,
        )
    )
    return points, durations


def phone_indicators(store, period: Period, tree) -> tuple[list[dict], tuple[int, int, int]]:
    """The phone's indicators, and (calls that heard an answer, rated, rated useful) for satisfaction."""
    where, args = period.where("started_at")
    hours = rows(store, f"select substr(started_at, 1, 13), count(*) from calls where {where} group by 1", args)
    n = sum(h[1] for h in hours)
    # Beside each group's count, its calls whose words got an answer and those whose caller then chose
    # another topic by key among its alternatives (the chat's « corrigées » by phone), in the same pass.
    status = rows(
        store,
        f"select ended_at is not null, coalesce(outcome, 'abandoned'), unresolved, count(*),"
        f" coalesce(sum(spoken_answer > 0), 0), coalesce(sum(corrected > 0), 0)"
        f" from calls where {where} group by 1, 2, 3",
        args,
    )
    e = sum(s[3] for s in status if s[0])
    outcomes: Counter = Counter()
    for ended, outcome, _, count, *_ in status:
        if ended:
            outcomes[outcome] += count
    unresolved = sum(s[3] for s in status if s[0] and s[2])
    spoken, corrected = sum(s[4] for s in status), sum(s[5] for s in status)
    reached = outcomes["answered"] + outcomes["transferred"] + outcomes["voicemail"]
    paths = _call_paths(store, period, tree)
    with_leaf = sum(paths["topics"].values())
    points, durations = _call_ends(store, period, tree)
    d_n = sum(durations.values())

    def phone(id: str, value, count: int, **kw) -> dict:
        return indicator(id, label(id), "téléphone", value, count, **kw)

    return [
        phone(
            "phone_volume",
            n or None,
            n,
            unit=COUNT,
            group="volumes",
            breakdown={say("call_states.ended"): e, say("call_states.in_progress"): n - e} if n else {},
        ),
        *time_indicators("phone", "téléphone", label("phone_what"), sorted(hours)),
        phone("phone_topics", with_leaf or None, n, unit=COUNT, group="routing", breakdown=_by_count(paths["topics"])),
        phone(
            "phone_destinations", with_leaf or None, n, unit=COUNT, group="routing", breakdown=_by_count(paths["destinations"])
        ),
        phone("phone_outcomes", e or None, e, unit=COUNT, group="phone", breakdown=dict(sorted(outcomes.items()))),
        phone("phone_reached", rate(reached, e), e, unit=PERCENT, group="phone", target=CALLS_REACHED_TARGET),
        phone("phone_self_service", rate(outcomes["answered"], e), e, unit=PERCENT, group="routing"),
        phone("phone_unresolved", rate(unresolved, e), e, unit=PERCENT, group="routing"),
        phone("phone_handoff", rate(outcomes["transferred"] + outcomes["voicemail"], e), e, unit=PERCENT, group="routing"),
        phone("phone_corrected", rate(corrected, spoken), spoken, unit=PERCENT, group="routing"),
        phone("phone_abandoned", rate(outcomes["abandoned"], e), e, unit=PERCENT, group="phone"),
        phone("phone_abandon_points", outcomes["abandoned"] or None, e, unit=COUNT, group="phone", breakdown=_by_count(points)),
        phone("phone_path_length", mean(paths["steps_total"], paths["steps_n"]), paths["steps_n"], unit=STEPS, group="phone"),
        phone("phone_duration_avg", mean(sum(d * c for d, c in durations.items()), d_n), d_n, unit=SECONDS, group="phone"),
        phone("phone_duration_median", median_of_counts(durations), d_n, unit=SECONDS, group="phone"),
    ], (paths["heard"], paths["rated"], paths["useful"])
