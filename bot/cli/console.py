"""`python -m bot agents …` and `python -m bot review …` (added to bot.cli.main's parser)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from bot.cli.messages import say
from bot.core.config import ROOT


def cmd_agents(args: argparse.Namespace) -> int:
    from bot.services.accounts import Accounts, AuthError
    from bot.store.database import Store

    store = Store()
    accounts = Accounts(store)
    if args.agents_command == "add":
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass(say("agents.password_for", name=args.name) + " ")
            if getpass.getpass(say("agents.password_again") + " ") != password:
                print(say("agents.passwords_differ"), file=sys.stderr)
                return 1
        try:
            accounts.add(args.name, args.role, password)
        except AuthError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(say("agents.created", name=args.name, role=args.role))
        return 0
    if args.agents_command == "list":
        for a in accounts.list():
            state = say("agents.active") if a["active"] else say("agents.disabled_state")
            print(f"{a['name']}\t{a['role']}\t{state}\t{a['last_login_at'] or say('agents.never_logged_in')}")
        return 0
    if args.agents_command == "disable":
        if not accounts.disable(args.name):
            print(say("agents.unknown", name=args.name), file=sys.stderr)
            return 1
        print(say("agents.disabled", name=args.name))
        return 0
    if args.agents_command == "unlock":
        from bot.services import throttle
        from bot.services.queue import Queue
        from bot.services.runtime import tree

        if accounts.get(args.name) is None:
            print(say("agents.unknown", name=args.name), file=sys.stderr)
            return 1
        if not throttle.unlock(store, args.name):
            print(say("agents.not_locked", name=args.name), file=sys.stderr)
            return 1
        Queue(store, tree()).audit(getpass.getuser() or "cli", "account_unlocked", "agent", args.name, detail={"from": "cli"})
        print(say("agents.unlocked", name=args.name))
        return 0
    return 2


def cmd_review(args: argparse.Namespace) -> int:
    from bot.nlu import review as ex

    if args.review_command == "export":
        from bot.store.database import Store

        result = ex.export(Store(), out=Path(args.out) if args.out else None, data_dir=Path(args.data) if args.data else None)
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    if args.review_command == "retrain":
        from bot.nlu.model import model_path

        data = Path(args.data) if args.data else ROOT / "data"
        target = Path(args.model) if args.model else model_path()
        from bot.nlu.eval_sets import EvalSet

        sets = [EvalSet(Path(f).stem, Path(f)) for f in args.eval_set] if args.eval_set else None
        return ex.retrain(
            data,
            target,
            sets=sets,
            force=args.force,
            baseline=Path(args.baseline) if args.baseline else None,
            prefecture=args.prefecture,
        )
    if args.review_command == "taught":
        from bot.nlu.model import model_path
        from bot.nlu.review_files import convert_legacy, remember_taught

        model = Path(args.model) if args.model else model_path()
        if args.legacy_only:
            convert_legacy(model)
            return 0
        review_file = Path(args.review) if args.review else ROOT / "data" / ex.REVIEW_FILE
        remember_taught(review_file.read_bytes() if review_file.exists() else None, model)
        return 0
    return 2


def add_parsers(sub) -> None:
    p = sub.add_parser("agents", help="console accounts: add, list, disable, unlock")
    asub = p.add_subparsers(dest="agents_command", required=True)
    a = asub.add_parser("add", help="create an account (password asked, or read from stdin)")
    a.add_argument("name")
    a.add_argument("--role", choices=["agent", "admin"], default="agent")
    a.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    asub.add_parser("list", help="list the accounts")
    d = asub.add_parser("disable", help="disable an account and close its sessions")
    d.add_argument("name")
    u = asub.add_parser("unlock", help="lift the lockout of an account after too many failed logins")
    u.add_argument("name")
    p.set_defaults(func=cmd_agents)

    p = sub.add_parser("review", help="teach the bot from the agents' reviews: export, retrain")
    rsub = p.add_subparsers(dest="review_command", required=True)
    e = rsub.add_parser(
        "export",
        help="write the labelled sentences to data/nlu_review.yml, and one in console.measure_every to"
        " var/public_reviewed.jsonl (kept to measure, never trained on)",
    )
    e.add_argument("--out", help="output file (default: $AIGUILLAGE_REVIEW_OUT or data/nlu_review.yml)")
    e.add_argument("--data", help="training data directory checked for duplicates (default: data/)")
    r = rsub.add_parser("retrain", help="train a new model; replace the current one unless accuracy drops on an eval set")
    r.add_argument("--force", action="store_true", help="replace the model even if accuracy drops")
    r.add_argument("--data", help="training data directory (default: data/)")
    r.add_argument("--model", help="model file to replace (default: $AIGUILLAGE_MODEL or models/aiguillage.tar.gz)")
    r.add_argument("--baseline", help="model to compare with (default: the one replaced)")
    r.add_argument(
        "--eval-set",
        action="append",
        metavar="FILE",
        help="labelled JSONL set to measure on, repeatable (default: eval/heldout.jsonl and the shared dev sets present)",
    )
    t = rsub.add_parser(
        "taught", help="keep beside a model the digests of the sentences its review file taught it (make train does)"
    )
    t.add_argument("--model", help="the model trained (default: $AIGUILLAGE_MODEL or models/aiguillage.tar.gz)")
    t.add_argument("--review", help="the review file it was trained on, missing if none (default: data/nlu_review.yml)")
    t.add_argument("--legacy-only", action="store_true", help="only turn an earlier version's sentences beside it into digests")
    p.set_defaults(func=cmd_review)
