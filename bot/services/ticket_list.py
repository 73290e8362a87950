"""The console's list of messages to the services (/console/messages), a page at a time: the services
with a message overdue first, then each service's messages overdue first, then by due date. A year of
a large préfecture's messages is thousands of rows (11,952 in an audit: a 6.4 MB page); an agent gets
`console.messages_per_page` of them, with each service's count, and may keep to one service. Part of
bot/services/tickets.py, which re-exports `tickets_page` and `tickets_by_service`.
"""

from __future__ import annotations

import math
from datetime import date

from bot.core.clock import paris_now

COLUMNS = (
    "id, reference, mailbox, service, origin, channel, subject, contact_email, created_at, due_date, status,"
    " delivery_status, delivery_attempts, last_error, answered_at, answer_working_days, purged_at"
)
OVERDUE = "status = 'open' and purged_at is null and due_date < ?"


def _where(include_answered: bool, mailbox: str = "") -> tuple[str, list]:
    """The rows listed: the waiting ones (open, not erased by the purge: nothing is left to answer), or
    every one; of one service when `mailbox` is given."""
    clauses, args = ([] if include_answered else ["status = 'open' and purged_at is null"]), []
    if mailbox:
        clauses.append("mailbox = ?")
        args.append(mailbox)
    return (" where " + " and ".join(clauses)) if clauses else "", args


def services(store, today: date, include_answered: bool = False) -> list[dict]:
    """Each service with messages listed: {mailbox, service, count, overdue}, in the list's order (the
    services with a message overdue first, then by mailbox id)."""
    where, args = _where(include_answered)
    rows = store.db.execute(
        f"select mailbox, max(service), count(*), sum(case when {OVERDUE} then 1 else 0 end) from tickets{where}"
        " group by mailbox",
        [today.isoformat(), *args],
    ).fetchall()
    found = [{"mailbox": m, "service": s, "count": n, "overdue": int(late or 0)} for m, s, n, late in rows]
    return sorted(found, key=lambda s: (not s["overdue"], s["mailbox"]))


def tickets_page(
    store, today: date | None = None, include_answered: bool = False, mailbox: str = "", page: int = 1, per_page: int = 50
) -> dict:
    """One page of the list: {"groups": [(mailbox, rows)] in order, each row with `overdue`, "services"
    (services()), "total", "overdue", "page", "pages"}; `mailbox`: one service's only."""
    today = today or paris_now().date()
    counts = services(store, today, include_answered)
    shown = [s for s in counts if not mailbox or s["mailbox"] == mailbox]
    total = sum(s["count"] for s in shown)
    pages = max(1, math.ceil(total / per_page))
    page = max(1, min(page, pages))
    rank = " ".join(f"when ? then {i}" for i in range(len(shown)))
    order = f"case mailbox {rank} else {len(shown)} end, " if shown else ""
    where, args = _where(include_answered, mailbox)
    rows = list(
        store.db.query(
            f"select {COLUMNS} from tickets{where} order by {order}case when {OVERDUE} then 0 else 1 end, due_date, id"
            " limit ? offset ?",
            [*args, *(s["mailbox"] for s in shown), today.isoformat(), per_page, (page - 1) * per_page],
        )
    )
    groups: list[tuple[str, list[dict]]] = []
    for row in rows:
        row["overdue"] = row["status"] == "open" and not row["purged_at"] and row["due_date"] < today.isoformat()
        if not groups or groups[-1][0] != row["mailbox"]:
            groups.append((row["mailbox"], []))
        groups[-1][1].append(row)
    return {
        "groups": groups,
        "services": counts,
        "total": total,
        "overdue": sum(s["overdue"] for s in shown),
        "page": page,
        "pages": pages,
    }


def tickets_by_service(store, today: date | None = None, include_answered: bool = False) -> dict[str, list[dict]]:
    """Every listed ticket per mailbox, overdue first then by due date, with `overdue` (tickets_page's
    order, all on one page: for the command line and the tests, never a console page)."""
    today = today or paris_now().date()
    every = sum(s["count"] for s in services(store, today, include_answered)) or 1
    return dict(tickets_page(store, today, include_answered, per_page=every)["groups"])
