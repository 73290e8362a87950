"""Command line: `python -m bot COMMAND` (run with .venv/bin/python from the repo root).

  serve [RASA RUN OPTIONS]   the server: `rasa run` with this process's action-endpoint key (make run)
  route "texte"          one JSON object: text, topic, destination, confidence, action, answer
  route --jsonl          JSON lines with a `text` field on stdin -> one JSON line each, in order
  eval [FILE.jsonl ...]  topic and destination accuracy: one table of the eval sets, or one file in detail
  check [--all]          validate the routing tree and the préfecture file(s)
  tickets retry|purge|failures   e-mail outbox of tickets and bookings, retention purge
  purge [--dry-run]      delete every record past its retention period (turns, Rasa events, calls, ...)
  agents add|list|disable|unlock   console accounts (bot/cli/console.py)
  review export|retrain     teach the bot from the agents' reviews, with an accuracy gate
  indicators --from D --to D [--json] [--include-demo]   quality indicators of a period (bot/quality/indicators.py)
  report --from D --to D [--out DIR] [--no-pdf]   the users' committee report, HTML and PDF (bot/quality/report.py)

Developer tools live outside the product (the product imports neither):
  python -m tools.demo_data [--days N] [--purge]   demo traffic through a running server's endpoints
  python -m bench [--quick|--smoke]                the benchmark suite: docs/benchmarks.md and .json
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

from bot.cli.messages import say
from bot.core import config as config_mod
from bot.core import texts as texts_mod
from bot.core import tree as tree_mod
from bot.core.config import ConfigError
from bot.core.tree import TreeError
from bot.settings import SettingsError


def cmd_route(args: argparse.Namespace) -> int:
    from bot.nlu.evaluation import route_one
    from bot.nlu.evaluation import router as make_router
    from bot.nlu.model import NLU

    router = make_router(args.prefecture)
    if args.jsonl:
        nlu = NLU()
        out = sys.stdout
        for lineno, line in enumerate(sys.stdin, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                raw = item["text"]
                if not isinstance(raw, str):
                    raise TypeError
            except (json.JSONDecodeError, KeyError, TypeError):
                out.write(json.dumps({"line": lineno, "error": say("route.bad_line")}, ensure_ascii=False) + "\n")
                continue
            out.write(json.dumps(route_one(router, nlu, raw), ensure_ascii=False) + "\n")
        return 0
    if args.text is None:
        print(say("route.no_text"), file=sys.stderr)
        return 2
    print(json.dumps(route_one(router, NLU(), args.text), ensure_ascii=False, indent=2))
    return 0


def _share(value: float | None, width: int = 0) -> str:
    """An accuracy to three decimals, or "-" when nothing was scored."""
    return f"{value:>{width}.3f}" if value is not None else f"{'-':>{width}}"


def _print_details(path: Path, report: dict) -> None:
    dropped = report["dropped_found_in_training_data"]
    print(f"{path}: {report['n']} questions ({dropped} dropped: found in data/)")
    print(f"destination accuracy: {_share(report['destination_accuracy'])}")
    print(f"topic accuracy:       {_share(report['topic_accuracy'])}")
    print(f"first-turn actions:   {report['actions']}")
    if report["asked"]:
        print(f"clarifications offering the right topic: {report['asked_offered_right']} of {report['asked']}")
    if report["answered_wrong"]:
        print(
            f"wrong answers offering the right topic after « Non »: {report['wrong_alternative_right']} of {report['answered_wrong']}"
        )
    if "no_subject" in report:  # items without a topic: requests that name no procedure
        ns = report["no_subject"]
        print(
            f"requests naming no procedure: {ns['n']}: asked with the menu {ns['menu']}, "
            f"with the likely topics {ns['likely_topics']}, answered {ns['answered']}"
        )
    print("\nper topic               precision  recall     f1  support")
    for label, m in report["per_topic"].items():
        print(f"  {label:<20} {m['precision']:>9.2f} {m['recall']:>7.2f} {m['f1']:>6.2f} {m['support']:>8}")
    print("\nmost frequent confusions (expected -> got)")
    for c in report["confusions"][:10]:
        print(f"  {c['count']:>3}  {c['expected']} -> {c['got']}")
    print(f"\nmisses ({len(report['misses'])})")
    for m in report["misses"]:
        print(f"  [{m['id']}] {m['expected']}  got {m['got']} ({m['confidence']:.2f}, {m['action']}): {m['text']}")


def cmd_eval(args: argparse.Namespace) -> int:
    """One FILE: the full report (misses with their texts). No FILE: one summary table of every
    available set (eval/heldout.jsonl, and the shared dev sets when present), no texts."""
    from bot.nlu import eval_sets
    from bot.nlu.evaluation import measure, router
    from bot.nlu.model import NLU

    sets = [eval_sets.EvalSet(Path(f).stem, Path(f)) for f in args.files] or eval_sets.available()
    loaded = []
    for s in sets:
        try:
            loaded.append((s, eval_sets.load(s.path)))
        except (OSError, json.JSONDecodeError) as exc:
            print(say("eval.unreadable", path=s.path, error=exc), file=sys.stderr)
            return 2
    rt, nlu = router(args.prefecture), NLU()
    reports = [(s, measure(items, rt, nlu)) for s, items in loaded]
    if args.json:
        payload = {str(s.path): r for s, r in reports}
        print(json.dumps(payload if len(reports) > 1 else reports[0][1], ensure_ascii=False, indent=2))
        return 0
    if args.files and len(reports) == 1:
        _print_details(*(reports[0][0].path, reports[0][1]))
        return 0
    print(f"{'set':<22} {'questions':>9} {'dropped':>8} {'destination':>12} {'topic':>7}")
    for s, r in reports:
        print(
            f"{s.name:<22} {r['n']:>9} {r['dropped_found_in_training_data']:>8} "
            f"{_share(r['destination_accuracy'], 12)} {_share(r['topic_accuracy'], 7)}"
        )
    return 0


def checked_prefecture(tree: tree_mod.Tree, pid: str | None, phone: bool = False) -> config_mod.Prefecture:
    """The préfecture `pid`, loaded and checked with the texts that name its keys, and with `phone`
    its phone prompts measured against their limits (ivr/durations.py); raises ConfigError."""
    pref = config_mod.load_prefecture(pid)
    tree_mod.check_placeholders(tree, pref)
    texts_mod.check_placeholders(pref)
    if phone:
        from ivr import durations

        problem = durations.check(pref)
        if problem:
            raise ConfigError(pref.file, None, problem)
    return pref


def cmd_check(args: argparse.Namespace) -> int:
    ids = config_mod.available() if args.all else [args.prefecture or None]
    try:
        tree = tree_mod.load_tree()
        texts_mod.console_texts()  # the agents' console's texts (bot/console_texts.yml)
        print("ok: bot/console_texts.yml")
        for pid in ids:
            pref = checked_prefecture(tree, pid, phone=True)
            print(f"ok: {pref.file}")
    except (ConfigError, TreeError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_indicators(args: argparse.Namespace) -> int:
    from bot.quality import indicators
    from bot.store.database import Store

    try:
        start, end = indicators.parse_period(args.start, args.end)
    except indicators.PeriodError as exc:
        print(say("report.error", error=exc), file=sys.stderr)
        return 2
    pref = config_mod.current(args.prefecture)
    store = Store()
    try:
        result = indicators.compute(store, pref, start, end, include_demo=args.include_demo)
    finally:
        store.close()
    if args.json:
        print(
            json.dumps(
                {"prefecture": pref.id, "from": start.isoformat(), "to": end.isoformat(), "indicators": result},
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        print(indicators.format_table(result, pref.get("prefecture.name"), start, end))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bot.quality import indicators, report
    from bot.store.database import Store

    try:
        start, end = indicators.parse_period(args.start, args.end)
        report.check_period(start, end)
    except indicators.PeriodError as exc:
        print(say("report.error", error=exc), file=sys.stderr)
        return 2
    pref = config_mod.current(args.prefecture)
    store = Store()
    bar = tqdm(
        total=len(report.STEPS),
        desc=say("report.progress"),
        unit=say("report.progress_unit"),
        file=sys.stderr,
        disable=args.quiet or not sys.stderr.isatty(),
    )
    try:
        result = report.build(
            store, pref, start, end, Path(args.out), include_demo=args.include_demo, pdf=not args.no_pdf, progress=bar
        )
    finally:
        bar.close()
        store.close()
    print(result["html"])
    if result["pdf"]:
        print(result["pdf"])
    elif not args.no_pdf:
        print(result["pdf_note"], file=sys.stderr)
    return 0


def serve(rasa_args: list[str]) -> int:
    """`rasa run RASA_ARGS` in this process, after putting the action endpoint's key in the
    environment (endpoints.yml names it: the HTTP action endpoint, issue 13, part 5) and applying
    bot/nlu/patches.py, so that the custom actions run in this process (issue 16, section 4). With
    DATABASE_URL or LOCK_STORE_URL set, Rasa reads a copy of endpoints.yml with its tracker store on
    PostgreSQL and its lock store on Redis (bot/cli/endpoints.py)."""
    from bot import settings

    settings.ensure_actions_secret()
    settings.spool_sweep_s()  # a bad value stops the start here, not at the first sweep
    settings.smtp()  # likewise SMTP_* (the outbox's retry starts with the server), not at the first e-mail
    from bot.cli.endpoints import endpoints_option
    from bot.store.database import check_backend

    check_backend()  # the product's store opens where the settings put it, or the start stops here
    checked_prefecture(tree_mod.load_tree(), None)  # a bad file stops the start with its one line, before Rasa

    # DATABASE_URL / LOCK_STORE_URL (several processes): a generated copy of endpoints.yml.
    rasa_args = endpoints_option(rasa_args)
    from bot.nlu.classifier_file import skops_first
    from bot.nlu.model import served_model

    skops_first(served_model(rasa_args) or settings.model())
    from rasa.__main__ import main as rasa_main

    from bot.nlu import patches as rasa_patches

    # Before Rasa reads endpoints.yml: its `in_process` action endpoint runs the actions in this
    # process, without the HTTP loopback (bot/nlu/in_process.py, docs/floor.md).
    rasa_patches.apply_before_start()

    sys.argv = ["rasa", "run", *rasa_args]
    try:
        rasa_main()
    except (sqlite3.Error, OSError) as exc:  # the store's disk full (a reboot with it still full): said, not a traceback
        from bot.store.disk import DISK_FULL_EXIT, full_disk_message

        message = full_disk_message(exc)
        if message is None:
            raise
        print(message, file=sys.stderr, flush=True)
        return DISK_FULL_EXIT
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Aiguillage command line")
    parser.add_argument("--prefecture", help="préfecture id (default: $PREFECTURE or cantal)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="start the server: `rasa run` with a key for the in-process action endpoint")
    p.add_argument("rasa_args", nargs="*", metavar="OPTION", help="options of `rasa run` (--model, --port, ...)")
    p = sub.add_parser("route", help="route one question (or JSON lines with --jsonl) and print JSON")
    p.add_argument("text", nargs="?", help="the question")
    p.add_argument("--jsonl", action="store_true", help="read JSON lines with a 'text' field on stdin")
    p.set_defaults(func=cmd_route)
    p = sub.add_parser("eval", help="measure routing accuracy on a labelled JSONL file")
    p.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="JSON lines with text, topic, destination (default: eval/heldout.jsonl and the shared dev sets present)",
    )
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("check", help="validate the routing tree, the console's texts and the préfecture configuration")
    p.add_argument("--all", action="store_true", help="check every préfecture file")
    p.set_defaults(func=cmd_check)
    from bot.cli.tickets import add_parsers as add_ticket_parsers

    add_ticket_parsers(sub)
    from bot.cli.console import add_parsers as add_console_parsers

    add_console_parsers(sub)
    p = sub.add_parser("indicators", help="quality indicators of a period (chat, phone, tickets, PAN)")
    p.add_argument("--from", dest="start", required=True, help="first day, AAAA-MM-JJ")
    p.add_argument("--to", dest="end", required=True, help="last day, AAAA-MM-JJ")
    p.add_argument("--json", action="store_true", help="print the indicators as JSON")
    p.add_argument("--include-demo", action="store_true", help="count the demonstration rows too (demo = 1)")
    p.set_defaults(func=cmd_indicators)
    p = sub.add_parser("report", help="the users' committee (CLU) report of a period: HTML, and PDF with Chromium")
    p.add_argument("--from", dest="start", required=True, help="first day, AAAA-MM-JJ")
    p.add_argument("--to", dest="end", required=True, help="last day, AAAA-MM-JJ")
    p.add_argument("--out", default=str(config_mod.ROOT / "var" / "rapports"), help="directory to write into")
    p.add_argument("--include-demo", action="store_true", help="count the rows of `demo-data` too")
    p.add_argument("--no-pdf", action="store_true", help="write the HTML file only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--prefecture", default=argparse.SUPPRESS, help="préfecture id (default: $PREFECTURE or cantal)")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["serve"]:  # every option goes to `rasa run`
            return serve(argv[1:])
    except (ConfigError, TreeError, SettingsError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, TreeError, SettingsError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error) as exc:  # a report, an export... on a full disk: said, not a traceback
        from bot.store.database import db_path
        from bot.store.disk import DISK_FULL_EXIT, free_if_full

        if free_if_full(exc, db_path().parent) is None:
            raise
        print(say("command.disk_full"), file=sys.stderr)
        return DISK_FULL_EXIT
