"""After the demo's traffic: its rows spread over the last N days with the weekday/hour profile
(timestamps rewritten, due dates recomputed in working days), marked `demo = 1`, agents at work
(messages answered, no-shows); the summary of what was made; and the purge of demo rows (only them).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tools.demo_phrases import HOUR_WEIGHTS, WEEKDAY_WEIGHTS
from tools.demo_traffic import Made

PARIS = ZoneInfo("Europe/Paris")


def spread_times(
    rng: random.Random, n: int, days: int, now: datetime, hours: list[float] | None = None, margin: timedelta = timedelta(hours=1)
) -> list[datetime]:
    """n moments (aware, UTC) in the last `days` days, drawn from the weekday/hour profile, oldest first.

    Each is at least `margin` before `now`; days not yet over are never drawn in the future."""
    hours = hours or HOUR_WEIGHTS
    today = now.astimezone(PARIS).date()
    candidates, weights = [], []
    for back in range(days):
        day = today - timedelta(days=back)
        for hour, hw in enumerate(hours):
            if hw <= 0:
                continue
            candidates.append((day, hour))
            weights.append(WEEKDAY_WEIGHTS[day.weekday()] * hw)
    limit = now - margin
    out, misses = [], 0
    while len(out) < n:
        day, hour = rng.choices(candidates, weights)[0]
        when = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=PARIS).astimezone(UTC)
        if when < limit and (now - when) < timedelta(days=days):
            out.append(when)
            continue
        misses += 1  # later today: it has not happened yet; draw again
        if misses > 100 * (n + 10):  # --days 1 just after midnight: nothing qualifies
            out.append(limit - timedelta(minutes=rng.randrange(1, 60)))
    return sorted(out)


def stamp(when: datetime) -> str:
    """The store's timestamp format (bot.store.database.now)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def _marks(n: int) -> str:
    """n placeholders; none: `null` (`x in (null)` matches nothing; `in ()` is SQLite's only)."""
    return ",".join("?" * n) or "null"


def working_time_after(rng: random.Random, start: datetime, max_days: int) -> datetime:
    """A moment during office hours (Paris) 0..max_days working days after `start`."""
    from bot.services.tickets import add_working_days

    day = add_working_days(start.astimezone(PARIS).date(), rng.randrange(0, max_days + 1))
    return datetime(day.year, day.month, day.day, rng.randrange(9, 17), rng.randrange(60), tzinfo=PARIS).astimezone(UTC)


def finish(store, pref, rng: random.Random, made: Made, days: int, now: datetime) -> dict:
    """Record the ratings, rewrite the timestamps of what was created, mark it demo = 1, act as agents."""
    from bot.services import feedback

    conn = store.db.conn
    conv_ids = [c for c, _ in made.conversations]
    call_ids = [c for c, _, _ in made.calls]
    for kind, item, useful, comment in made.ratings:
        if kind == "chat":
            row = conn.execute("select last_topic, last_destination from conversations where id = ?", [item]).fetchone()
            feedback.record(store, "chat", item, pref.id, useful, comment, *(row or (None, None)))
            made.feedback_via = made.feedback_via or "bot.services.feedback.record (POST /chat/feedback absent)"
    created = [(k, when) for k, when in made.tickets] + [(f"voicemail:{r}", when) for r, when in made.recordings]
    has_events = "events" in store.db.table_names()
    conn.execute("begin immediate")
    try:
        _spread_conversations(conn, made, has_events)
        _spread_calls_and_tickets(conn, pref, made, created)
        _spread_bookings_and_ratings(conn, pref, made)
        # Demo e-mails not sent yet never will be: a server given SMTP settings later must not mail a
        # service (or anyone) about a demo ticket or booking.
        conn.execute(
            "delete from outbox where status != 'sent' and (ticket_id in (select id from tickets where"
            " demo = 1) or booking_id in (select id from pan_bookings where demo = 1))"
        )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    answered, no_shows = _act_as_agents(store, rng, made, created, call_ids, now)
    return summary(store, conv_ids, call_ids, made, answered, no_shows, days)


def _spread_conversations(conn, made: Made, has_events: bool) -> None:
    """Conversations, their turns (and Rasa's events for the same sender) moved to their moment."""
    for sender, start in made.conversations:
        gaps = made.turn_gaps.get(sender, [])
        turn_ids = [r[0] for r in conn.execute("select id from turns where conversation_id = ? order by id", [sender])]
        t = last = start
        for k, tid in enumerate(turn_ids):
            last = t
            conn.execute("update turns set ts = ? where id = ?", [stamp(t), tid])
            t += timedelta(seconds=gaps[k] if k < len(gaps) else 20)
        conn.execute(
            "update conversations set started_at = ?, updated_at = ?, demo = 1 where id = ?",
            [stamp(start), stamp(last), sender],
        )
        if has_events:
            first = conn.execute("select min(timestamp) from events where sender_id = ?", [sender]).fetchone()[0]
            if first is not None:
                conn.execute(
                    "update events set timestamp = timestamp + ? where sender_id = ?", [start.timestamp() - first, sender]
                )


def _spread_calls_and_tickets(conn, pref, made: Made, created: list[tuple[str, datetime]]) -> None:
    """Calls and their voicemails; the tickets (the web forms' and the voicemails'), due dates recomputed."""
    from bot.services import tickets

    # Calls and their voicemails.
    for sid, start, duration in made.calls:
        end = start + timedelta(seconds=duration)
        conn.execute(
            "update calls set started_at = ?, updated_at = ?, ended_at = case when ended_at is null"
            " then null else ? end, demo = 1 where call_sid = ?",
            [stamp(start), stamp(end), stamp(end), sid],
        )
        conn.execute(
            "update voicemails set created_at = ?, updated_at = ? where call_sid = ?",
            [stamp(start + timedelta(seconds=duration // 2)), stamp(end), sid],
        )
    # Tickets: the web forms' and the voicemails'.
    for key, when in created:
        row = conn.execute("select origin from tickets where idempotency_key = ?", [key]).fetchone()
        if row is None:
            continue
        due = tickets.due_date(pref, when.astimezone(PARIS).date(), row[0])
        conn.execute(
            "update tickets set created_at = ?, due_date = ?, demo = 1 where idempotency_key = ?",
            [stamp(when), due.isoformat(), key],
        )
        conn.execute(
            "update outbox set created_at = ?, updated_at = ? where ticket_id = (select id from tickets"
            " where idempotency_key = ?)",
            [stamp(when), stamp(when), key],
        )


def _spread_bookings_and_ratings(conn, pref, made: Made) -> None:
    """PAN bookings (by the web form: moved to a free slot after the conversation; by phone) and ratings."""
    # PAN bookings: by the web form (moved to a free slot after the conversation) and by phone.
    for key, when in made.bookings:
        _move_booking(conn, pref, key, when)
    for sid, start, _ in made.calls:
        conn.execute(
            "update pan_bookings set created_at = ?, updated_at = ?, demo = 1 where idempotency_key like ?",
            [stamp(start), stamp(start), f"call:{sid}:%"],
        )
    # Ratings.
    for sender, start in made.conversations:
        end = conn.execute("select updated_at from conversations where id = ?", [sender]).fetchone()
        when = end[0] if end else stamp(start)
        conn.execute(
            "update feedback set created_at = ?, updated_at = ?, demo = 1 where kind = 'chat' and item_id = ?",
            [when, when, sender],
        )
    for sid, start, duration in made.calls:
        when = stamp(start + timedelta(seconds=duration))
        conn.execute(
            "update feedback set created_at = ?, updated_at = ?, demo = 1 where kind = 'phone' and item_id = ?",
            [when, when, sid],
        )


def _act_as_agents(store, rng: random.Random, made: Made, created: list, call_ids: list[str], now: datetime) -> tuple[int, int]:
    """Agents at work (console functions): most messages answered, a few no-shows among past
    appointments. Returns (answered, no-shows)."""
    from bot.services import pan, tickets

    conn = store.db.conn
    answered = 0
    for key, _ in created:
        row = conn.execute("select reference, created_at from tickets where idempotency_key = ? and demo = 1", [key]).fetchone()
        if row is None or rng.random() >= 0.75:
            continue
        when = working_time_after(rng, datetime.fromisoformat(row[1]), rng.choice([1, 2, 3, 4, 5, 5, 7]))
        if when < now:
            tickets.mark_answered(store, row[0], now=when)
            answered += 1
    no_shows = 0
    today = now.astimezone(PARIS).strftime(pan.STAMP)
    keys = [k for k, _ in made.bookings]
    mine = conn.execute(
        f"select reference, slot_end from pan_bookings where demo = 1 and status = 'booked' and slot_end < ? and"
        f" (idempotency_key in ({_marks(len(keys))}) or substr(idempotency_key, 6, 34) in ({_marks(len(call_ids))}))"
        " order by id",
        [today, *keys, *call_ids],
    ).fetchall()
    for reference, slot_end in mine:
        if rng.random() < 0.15:
            pan.mark_no_show(store, reference)
            when = datetime.strptime(slot_end, pan.STAMP).replace(tzinfo=PARIS)
            with conn:
                conn.execute(
                    "update pan_bookings set no_show_at = ?, updated_at = ? where reference = ?",
                    [stamp(when), stamp(when), reference],
                )
            no_shows += 1
    return answered, no_shows


def _move_booking(conn, pref, key: str, when: datetime) -> None:
    """Give a web booking a real, free slot of its site after the moment it was made (min. notice kept)."""
    from bot.services import pan

    row = conn.execute("select id, site, reason from pan_bookings where idempotency_key = ?", [key]).fetchone()
    if row is None:
        return
    bid, site_id, reason = row
    booked_at = when.astimezone(PARIS).replace(tzinfo=None)
    earliest = booked_at + timedelta(hours=int(pref.get("pan.min_notice_hours")))
    cap = pan.capacity(pref, site_id)
    for slot in pan.generate_slots(pref, site_id, earliest.date(), int(pref.get("pan.booking_days_ahead")), reason):
        if slot.start < earliest:
            continue
        taken = {
            r[0]
            for r in conn.execute(
                "select seat from pan_bookings where site = ? and slot_start = ? and status != 'cancelled' and id != ?",
                [site_id, slot.key, bid],
            )
        }
        free = [s for s in range(1, cap + 1) if s not in taken]
        if free:
            conn.execute(
                "update pan_bookings set slot_start = ?, slot_end = ?, seat = ?, created_at = ?,"
                " updated_at = ?, demo = 1 where id = ?",
                [slot.key, slot.end.strftime(pan.STAMP), free[0], stamp(when), stamp(when), bid],
            )
            return
    conn.execute("update pan_bookings set created_at = ?, updated_at = ?, demo = 1 where id = ?", [stamp(when), stamp(when), bid])


def summary(store, conv_ids: list[str], call_ids: list[str], made: Made, answered: int, no_shows: int, days: int) -> dict:
    conn = store.db.conn

    def count(sql: str, args: list) -> int:
        return conn.execute(sql, args).fetchone()[0] if args else 0

    out = {
        "days": days,
        "conversations": count(
            f"select count(*) from conversations where demo = 1 and id in ({_marks(len(conv_ids))})", conv_ids
        ),
        "turns": count(f"select count(*) from turns where conversation_id in ({_marks(len(conv_ids))})", conv_ids),
        "calls": count(f"select count(*) from calls where demo = 1 and call_sid in ({_marks(len(call_ids))})", call_ids),
        "voicemails": count(f"select count(*) from voicemails where call_sid in ({_marks(len(call_ids))})", call_ids),
        "tickets": len([1 for k, _ in made.tickets]) + len(made.recordings),
        "tickets_answered": answered,
        "bookings": 0,
        "no_shows": no_shows,
        "ratings": len(made.ratings)
        + count(f"select count(*) from feedback where kind = 'phone' and item_id in ({_marks(len(call_ids))})", call_ids),
        "feedback_via": made.feedback_via,
        "phone_note": made.phone_note,
    }
    keys = [k for k, _ in made.bookings]
    out["bookings"] = count(
        f"select count(*) from pan_bookings where demo = 1 and idempotency_key in ({_marks(len(keys))})", keys
    ) + sum(count("select count(*) from pan_bookings where idempotency_key like ?", [f"call:{sid}:%"]) for sid in call_ids)
    out["tickets"] = count(
        f"select count(*) from tickets where demo = 1 and idempotency_key in"
        f" ({_marks(len(made.tickets) + len(made.recordings))})",
        [k for k, _ in made.tickets] + [f"voicemail:{r}" for r, _ in made.recordings],
    )
    topics = {}
    if conv_ids:
        for topic, n in conn.execute(
            f"select coalesce(topic, '(aucun)'), count(*) from turns where conversation_id"
            f" in ({_marks(len(conv_ids))}) group by 1 order by 1",
            conv_ids,
        ):
            topics[topic] = n
    out["topics"] = topics
    outcomes = {}
    if call_ids:
        for outcome, n in conn.execute(
            f"select coalesce(outcome, 'en cours'), count(*) from calls where call_sid in"
            f" ({_marks(len(call_ids))}) group by 1 order by 1",
            call_ids,
        ):
            outcomes[outcome] = n
    out["outcomes"] = outcomes
    return out


# --- purge -----------------------------------------------------------------------------------------


def purge(store) -> dict:
    """Delete the demo rows (demo = 1) and what hangs off them; real rows are never touched."""
    conn = store.db.conn
    tables = set(store.db.table_names())
    out = {}
    conn.execute("begin immediate")
    try:
        demo_conv = "select id from conversations where demo = 1"
        demo_calls = "select call_sid from calls where demo = 1"
        out["turns"] = conn.execute(f"delete from turns where conversation_id in ({demo_conv})").rowcount
        if "events" in tables:
            out["events"] = conn.execute(f"delete from events where sender_id in ({demo_conv})").rowcount
        out["reviews"] = conn.execute(
            f"delete from reviews where (kind = 'chat' and item_id in ({demo_conv}))"
            f" or (kind = 'phone' and item_id in ({demo_calls}))"
        ).rowcount
        out["voicemails"] = conn.execute(f"delete from voicemails where call_sid in ({demo_calls})").rowcount
        out["outbox"] = conn.execute(
            "delete from outbox where ticket_id in (select id from tickets where demo = 1)"
            " or booking_id in (select id from pan_bookings where demo = 1)"
        ).rowcount
        if "ticket_events" in tables:  # before their tickets (a foreign key, enforced on PostgreSQL)
            out["ticket_events"] = conn.execute(
                "delete from ticket_events where ticket_id in (select id from tickets where demo = 1)"
            ).rowcount
        for table in ("feedback", "tickets", "pan_bookings", "calls", "conversations"):
            out[table] = conn.execute(f"delete from {table} where demo = 1").rowcount
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return out
