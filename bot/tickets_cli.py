"""`python -m bot tickets retry|purge|failures` (registered by bot/cli.py)."""
from __future__ import annotations

import argparse
import json


def cmd_tickets(args: argparse.Namespace) -> int:
    from bot import config as config_mod, mailer, tickets
    from bot.store import Store

    store = Store()
    try:
        if args.action == "retry":
            settings = mailer.SmtpSettings.from_env()
            if settings is None:
                print("SMTP_HOST n'est pas défini : rien n'est envoyé (les messages restent en attente).")
            result = mailer.deliver_pending(store, settings)
            print(json.dumps(result, ensure_ascii=False))
            return 0 if result["failed"] == 0 else 1
        if args.action == "purge":
            pref = config_mod.load_prefecture(args.prefecture)
            print(json.dumps(tickets.purge(store, pref), ensure_ascii=False))
            return 0
        for row in tickets.delivery_failures(store):
            print(json.dumps(row, ensure_ascii=False))
        return 0
    finally:
        store.close()


def add_parsers(sub) -> None:
    p = sub.add_parser("tickets", help="e-mails of tickets and bookings: retry delivery, purge personal data")
    p.add_argument("action", choices=["retry", "purge", "failures"],
                   help="retry: send what waits in the outbox; purge: erase personal data past the retention;"
                        " failures: list e-mails not delivered yet")
    p.set_defaults(func=cmd_tickets)
