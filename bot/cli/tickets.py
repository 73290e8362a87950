"""`python -m bot tickets retry|purge|failures|paper` (registered by bot/cli.py)."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys

from bot.cli.messages import say


def cmd_tickets(args: argparse.Namespace) -> int:
    from bot.core import config as config_mod
    from bot.services import mailer, tickets
    from bot.store.database import Store

    store = Store()
    try:
        if args.action == "retry":
            settings = mailer.SmtpSettings.from_env()
            if settings is None:
                print(say("tickets.no_smtp"))
            bounds = mailer.Bounds.of(config_mod.load_prefecture(args.prefecture))
            result = mailer.deliver_pending(store, settings, bounds=bounds)
            print(json.dumps(result, ensure_ascii=False))
            return 0 if result["failed"] == 0 else 1
        if args.action == "paper":
            return _paper(args, store)
        if args.action == "purge":
            pref = config_mod.load_prefecture(args.prefecture)
            print(json.dumps(tickets.purge(store, pref), ensure_ascii=False))
            return 0
        for row in tickets.delivery_failures(store):
            print(json.dumps(row, ensure_ascii=False))
        return 0
    finally:
        store.close()


def _paper(args: argparse.Namespace, store) -> int:
    """Register a letter received by post: a ticket due in the paper commitment (working days)."""
    from datetime import date

    from bot.core import config as config_mod
    from bot.services import tickets

    pref = config_mod.load_prefecture(args.prefecture)
    if not args.service or not args.subject:
        print(say("tickets.paper_missing"), file=sys.stderr)
        return 2
    try:
        received = date.fromisoformat(args.received) if args.received else None
    except ValueError:
        print(say("tickets.bad_received", value=repr(args.received)), file=sys.stderr)
        return 2
    body = sys.stdin.read()
    try:
        ticket = tickets.register_paper(store, pref, args.service, args.subject, body, args.email or None, received)
    except tickets.TicketError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps({k: ticket[k] for k in ("reference", "service", "origin", "due_date")}, ensure_ascii=False))
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """`python -m bot purge [--dry-run] [--now ISO]`: every record past its retention period (issue 13 §7)."""
    from datetime import datetime

    from bot.core import config as config_mod
    from bot.nlu.review_forget import forget_taught
    from bot.services import retention
    from bot.store.database import Store

    try:
        now = datetime.fromisoformat(args.now) if args.now else None
    except ValueError:
        print(say("tickets.bad_now", value=repr(args.now)), file=sys.stderr)
        return 2
    pref = config_mod.load_prefecture(args.prefecture)
    try:
        store = Store()
        try:
            counts = retention.purge(store, pref, now, dry_run=args.dry_run, taught=forget_taught)
        finally:
            store.close()
    except (sqlite3.Error, OSError) as exc:
        return _purge_without_room(exc)
    print(json.dumps({"dry_run": args.dry_run, "days": retention.periods(pref), "rows": counts}, ensure_ascii=False))
    return 0


def _purge_without_room(exc: BaseException) -> int:
    """Deleting needs room too (SQLite's -wal file): a full disk said in one sentence, not a traceback
    (any other failure is raised)."""
    from bot.store.database import db_path, is_postgres, location
    from bot.store.disk import DISK_FULL_EXIT, free_if_full

    folder = db_path().parent
    free = None if is_postgres(location()) else free_if_full(exc, folder)
    if free is None:
        raise exc
    shown = say("purge.free_one" if free <= 1 else "purge.free_many", n=free)
    print(say("purge.disk_full", folder=folder, free=shown), file=sys.stderr)
    return DISK_FULL_EXIT


def add_parsers(sub) -> None:
    p = sub.add_parser("purge", help="delete every record past its retention period (prefectures/*.yml `retention`)")
    p.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    p.add_argument("--now", help="as if it were this UTC time (AAAA-MM-JJTHH:MM), to check the periods")
    p.set_defaults(func=cmd_purge)
    p = sub.add_parser("tickets", help="e-mails of tickets and bookings: retry delivery, purge personal data")
    p.add_argument(
        "action",
        choices=["retry", "purge", "failures", "paper"],
        help="retry: send what waits in the outbox; purge: erase personal data past the retention;"
        " failures: list e-mails not delivered yet; paper: register a letter received by post"
        " (text on stdin), due in the paper commitment",
    )
    p.add_argument("--service", help="paper: the mailbox id of the service (prefectures/*.yml `mailboxes`)")
    p.add_argument("--subject", help="paper: the subject of the letter")
    p.add_argument("--received", help="paper: date of receipt, YYYY-MM-DD (default: today)")
    p.add_argument("--email", help="paper: the sender's e-mail, if the letter gives one (for the answer)")
    p.set_defaults(func=cmd_tickets)
