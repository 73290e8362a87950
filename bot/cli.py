"""Command line: `python -m bot COMMAND` (run with .venv/bin/python from the repo root).

  route "texte"          one JSON object: text, topic, destination, confidence, action, answer
  route --jsonl          JSON lines with a `text` field on stdin -> one JSON line each, in order
  eval FILE.jsonl        topic and destination accuracy, per-topic P/R/F1, confusions, misses
  check [--all]          validate the routing tree and the préfecture file(s)
  tickets retry|purge|failures   e-mail outbox of tickets and bookings, retention purge
  agents add|list|disable   console accounts (bot/console/cli.py)
  review export|retrain     teach the bot from the agents' reviews, with an accuracy gate
  bench [--quick|--smoke]   the benchmark suite (bench/suite.py): docs/benchmarks.md and .json
  indicators --from D --to D [--json] [--include-demo]   quality indicators of a period (bot/indicators.py)
  report --from D --to D [--out DIR] [--no-pdf]   the users' committee report, HTML and PDF (bot/report.py)
  demo-data [--days N] [--purge]   demo traffic through a running server's real endpoints (bot/demo.py)
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from bot import config as config_mod
from bot import tree as tree_mod
from bot.config import ConfigError
from bot.masking import prepare
from bot.router import Router, norm
from bot.tree import TOPICS, TreeError


def _router(prefecture: str | None) -> Router:
    pref = config_mod.load_prefecture(prefecture)
    tree = tree_mod.current()
    tree_mod.check_placeholders(tree, pref)
    return Router(tree, pref)


def route_one(router: Router, nlu, raw: str) -> dict:
    text, _ = prepare(raw, router.max_chars)
    return router.decide(text, nlu.parse(text)).public() | {"text": raw}


def cmd_route(args: argparse.Namespace) -> int:
    from bot.nlu import NLU

    router = _router(args.prefecture)
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
                out.write(json.dumps({"line": lineno, "error": "ligne invalide : un objet JSON avec un champ « text » (texte) est attendu"}, ensure_ascii=False) + "\n")
                continue
            out.write(json.dumps(route_one(router, nlu, raw), ensure_ascii=False) + "\n")
        return 0
    if args.text is None:
        print("Donnez un texte : python -m bot route \"ma question\" (ou --jsonl)", file=sys.stderr)
        return 2
    print(json.dumps(route_one(router, NLU(), args.text), ensure_ascii=False, indent=2))
    return 0


def _training_texts() -> set[str]:
    import yaml

    texts: set[str] = set()
    for path in (config_mod.ROOT / "data").rglob("*.yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    texts.add(norm(line[2:]))
    return texts


def evaluate(items: list[dict], predictions: list[dict]) -> dict:
    """Accuracy, per-topic precision/recall/F1, confusions and misses (pure, testable)."""
    n = len(items)
    topic_ok = sum(p["topic"] == i["topic"] for i, p in zip(items, predictions))
    dest_ok = sum(p["destination"] == i["destination"] for i, p in zip(items, predictions))
    labels = sorted({i["topic"] for i in items} | {p["topic"] or "-" for p in predictions})
    per_topic = {}
    for label in labels:
        tp = sum(i["topic"] == label and p["topic"] == label for i, p in zip(items, predictions))
        fp = sum(i["topic"] != label and p["topic"] == label for i, p in zip(items, predictions))
        fn = sum(i["topic"] == label and p["topic"] != label for i, p in zip(items, predictions))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_topic[label] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn}
    confusions = Counter(
        (i["topic"], p["topic"]) for i, p in zip(items, predictions) if i["topic"] != p["topic"]
    )
    misses = [
        {"id": i.get("id"), "text": i["text"], "expected": f'{i["topic"]} -> {i["destination"]}',
         "got": f'{p["topic"]} -> {p["destination"]}', "confidence": p["confidence"], "action": p["action"]}
        for i, p in zip(items, predictions)
        if i["topic"] != p["topic"] or i["destination"] != p["destination"]
    ]
    actions = Counter(p["action"] for p in predictions)
    return {
        "n": n,
        "topic_accuracy": topic_ok / n if n else 0.0,
        "destination_accuracy": dest_ok / n if n else 0.0,
        "actions": dict(actions),
        "per_topic": per_topic,
        "confusions": [{"expected": a, "got": b, "count": c} for (a, b), c in confusions.most_common()],
        "misses": misses,
    }


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.nlu import NLU

    path = Path(args.file)
    try:
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        print(f"Impossible de lire {path} : {exc}", file=sys.stderr)
        return 2
    training = _training_texts()
    kept = [i for i in items if norm(i["text"]) not in training]
    dropped = len(items) - len(kept)
    router, nlu = _router(args.prefecture), NLU()
    predictions = [route_one(router, nlu, i["text"]) for i in kept]
    report = evaluate(kept, predictions)
    report["dropped_found_in_training_data"] = dropped
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    print(f"{path}: {report['n']} questions ({dropped} dropped: found in data/)")
    print(f"destination accuracy: {report['destination_accuracy']:.3f}")
    print(f"topic accuracy:       {report['topic_accuracy']:.3f}")
    print(f"first-turn actions:   {report['actions']}")
    print("\nper topic               precision  recall     f1  support")
    for label, m in report["per_topic"].items():
        print(f"  {label:<20} {m['precision']:>9.2f} {m['recall']:>7.2f} {m['f1']:>6.2f} {m['support']:>8}")
    print("\nmost frequent confusions (expected -> got)")
    for c in report["confusions"][:10]:
        print(f"  {c['count']:>3}  {c['expected']} -> {c['got']}")
    print(f"\nmisses ({len(report['misses'])})")
    for m in report["misses"]:
        print(f"  [{m['id']}] {m['expected']}  got {m['got']} ({m['confidence']:.2f}, {m['action']}): {m['text']}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    ids = config_mod.available() if args.all else [args.prefecture or None]
    try:
        tree = tree_mod.load_tree()
        for pid in ids:
            pref = config_mod.load_prefecture(pid)
            tree_mod.check_placeholders(tree, pref)
            print(f"ok: {pref.file}")
    except (ConfigError, TreeError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_indicators(args: argparse.Namespace) -> int:
    from bot import indicators
    from bot.store import Store

    try:
        start, end = indicators.parse_period(args.start, args.end)
    except indicators.PeriodError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 2
    pref = config_mod.current(args.prefecture)
    store = Store()
    try:
        result = indicators.compute(store, pref, start, end, include_demo=args.include_demo)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"prefecture": pref.id, "from": start.isoformat(), "to": end.isoformat(),
                          "indicators": result}, ensure_ascii=False, indent=2))
    else:
        print(indicators.format_table(result, pref.get("prefecture.name"), start, end))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bot import indicators, report
    from bot.store import Store

    try:
        start, end = indicators.parse_period(args.start, args.end)
        report.check_period(start, end)
    except indicators.PeriodError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 2
    pref = config_mod.current(args.prefecture)
    store = Store()
    bar = tqdm(total=len(report.STEPS), desc="Rapport du comité", unit="étape", file=sys.stderr,
               disable=args.quiet or not sys.stderr.isatty())
    try:
        result = report.build(store, pref, start, end, Path(args.out), include_demo=args.include_demo,
                              pdf=not args.no_pdf, progress=bar)
    finally:
        bar.close()
        store.close()
    print(result["html"])
    if result["pdf"]:
        print(result["pdf"])
    elif not args.no_pdf:
        print(result["pdf_note"], file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Aiguillage command line")
    parser.add_argument("--prefecture", help="préfecture id (default: $PREFECTURE or cantal)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("route", help="route one question (or JSON lines with --jsonl) and print JSON")
    p.add_argument("text", nargs="?", help="the question")
    p.add_argument("--jsonl", action="store_true", help="read JSON lines with a 'text' field on stdin")
    p.set_defaults(func=cmd_route)
    p = sub.add_parser("eval", help="measure routing accuracy on a labelled JSONL file")
    p.add_argument("file", help="JSON lines with text, topic, destination")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("check", help="validate the routing tree and the préfecture configuration")
    p.add_argument("--all", action="store_true", help="check every préfecture file")
    p.set_defaults(func=cmd_check)
    from bot.tickets_cli import add_parsers as add_ticket_parsers

    add_ticket_parsers(sub)
    from bot.console.cli import add_parsers as add_console_parsers

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
    from bot.demo import add_parser as add_demo_parser

    add_demo_parser(sub)
    p = sub.add_parser("bench", help="benchmark suite: chat, phone, NLU, store; ours against stock (bench/suite.py)")
    _bench_suite().add_arguments(p)
    p.set_defaults(func=lambda a: _bench_suite().cmd_bench(a))
    return parser


def _bench_suite():
    if str(config_mod.ROOT) not in sys.path:
        sys.path.insert(0, str(config_mod.ROOT))
    from bench import suite

    return suite


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, TreeError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 1
