"""Routing by phone: where a caller who says the message at the voice menu's first prompt is sent.

    .venv/bin/python bench/phone_eval.py FILE.jsonl [FILE.jsonl ...] [--confidence 0.9] [--json]

`bench/nlu_bench.py` scores the router as the chat uses it. The phone uses it its own way (ivr/flow.py):
an utterance that is a key's word ("deux", "le trois") is that key, a low speech Confidence is confirmed
first, and a clarification is said as keys (the likely topics) or, when nothing was understood, as a
request to rephrase. This plays
Twilio's side against a real server of this checkout (`python -m bot serve`, the model in
models/aiguillage.tar.gz, its own SQLite file): for each item, a new call (the complete, signed bodies
of tools/ivr/simulate.py), then the item's text as the `SpeechResult` of the welcome's Gather, and reads
where the TwiML goes next:
- `leaf`: an answer; right when the leaf's destination is the item's (the leaf's topic is compared too);
- `choices`: the likely topics as keys; "right offered" when one of them is the item's topic or
  destination (the call's row in the server's store says which nodes they are);
- `asked`: the phone asks again otherwise (a topic's own menu, "vous avez dit... ?", rephrase);
- `person`: a transfer to a person (the number dialled).
Prints summaries only, never the texts (as nlu_bench.py).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench import servers  # noqa: E402
from bench.eval_report import fmt  # noqa: E402
from bot.core.tree import load_tree  # noqa: E402
from bot.nlu.evaluation import offered as offered_right  # noqa: E402
from ivr.signature import LOCAL_DEV_TOKEN  # noqa: E402
from tools.ivr.simulate import Call  # noqa: E402


def load(path: Path) -> list[dict]:
    """The items that name a procedure (a `topic`): the requests without one are scored apart."""
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [i for i in items if i.get("topic")]


def offered(db: Path, call_sid: str, tree) -> list[tuple[str, str | None]]:
    """(topic, destination) of the likely topics the call was offered, from its row in the store."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        row = con.execute("select flow from calls where call_sid = ?", [call_sid]).fetchone()
    nodes = json.loads(row[0]).get("choices", []) if row and row[0] else []
    return [(tree.node(n).topic, tree.node(n).destination) for n in nodes if n in tree.nodes]


def outcome(url: str, db: Path, text: str, confidence: float, tree) -> dict:
    """Where one caller saying `text` at the welcome is sent: kind, node, topic, destination."""
    call = Call(url, token=LOCAL_DEV_TOKEN)
    call.start()
    turn = call.say(text, confidence=confidence)
    if turn.dial:
        return {"kind": "person", "node": None, "topic": None, "destination": None}
    node_id = turn.node
    if turn.route == "leaf" and node_id in tree.nodes:
        node = tree.node(node_id)
        return {"kind": "leaf", "node": node_id, "topic": node.topic, "destination": node.destination}
    if turn.route == "choices":
        return {"kind": "choices", "node": node_id, "offered": offered(db, call.call_sid, tree)}
    return {"kind": "asked", "node": node_id, "topic": None, "destination": None}


def score(items: list[dict], outcomes: list[dict]) -> dict:
    n = len(items)
    kinds = collections.Counter(o["kind"] for o in outcomes)
    leaves = [(i, o) for i, o in zip(items, outcomes) if o["kind"] == "leaf"]
    right = sum(o["destination"] == i["destination"] for i, o in leaves)
    topic = sum(o["topic"] == i["topic"] for i, o in leaves)
    wrong = collections.Counter(f"{i['topic']}->{o['topic']}" for i, o in leaves if o["destination"] != i["destination"])
    asked = [(i, o) for i, o in zip(items, outcomes) if o["kind"] == "choices"]
    good = sum(offered_right(o["offered"], i["topic"], i["destination"]) for i, o in asked)
    return {
        "n": n,
        "kinds": dict(kinds),
        "destination": right / n if n else None,  # right leaf out of all: what asking again costs counts
        "topic": topic / n if n else None,
        "answered_right": right / len(leaves) if leaves else None,
        "choices_right_offered": good / len(asked) if asked else None,
        "served": (right + good) / n if n else None,  # a right answer, or the right key among the likely topics
        "confusions": dict(wrong.most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--confidence", type=float, default=0.9, help="Twilio's speech Confidence sent (default 0.9)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tree = load_tree()
    tmp = Path(tempfile.mkdtemp(prefix="phone-eval-"))
    db = tmp / "phone-eval.db"
    server = servers.ours(ROOT / "models" / "aiguillage.tar.gz", db, tmp / "rasa.log")
    try:
        report = {}
        for path in args.files:
            items = load(path)
            report[path.name] = score(items, [outcome(server.url, db, i["text"], args.confidence, tree) for i in items])
    finally:
        server.stop()
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    for name, r in report.items():
        print(
            f"{name}: n={r['n']} destination={r['destination']:.3f} topic={r['topic']:.3f} outcomes={r['kinds']} "
            f"answered right={r['answered_right']:.3f} likely topics, right offered={fmt(r['choices_right_offered'])} "
            f"served={r['served']:.3f}"
        )
        print("   confusions: " + ("; ".join(f"{k}:{v}" for k, v in r["confusions"].items()) or "none"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
