"""Benchmark: what the typo reading (bot/nlu/spelling.py) costs a message, spelling off and on side by side
in one process, one training, alternating rounds (the machine is shared: compare the columns of one run).

Three kinds of message, routed one at a time (parse + router), CPU milliseconds per message:
- our held-out file as written (eval/heldout.jsonl): its words are mostly training words;
- its noisy variants (bench/noisy.py: typos, no accents, SMS, spoken): many words never seen;
- 2000 characters of words never seen, each message new (the worst case: every word is looked up, up to
  spelling.LOOKUPS_PER_MESSAGE per message).

    .venv/bin/python bench/spelling_cost.py [--rounds 2] [--messages 300]

Prints a Markdown table (docs/pipeline.md records it). A benchmark, not a test: nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import nlu_bench as nb  # noqa: E402

LETTERS = "abcdefghijlmnoprstuv"


def unseen_words(rng: random.Random, chars: int = 2000) -> str:
    """`chars` characters of made-up words of 5 to 9 letters."""
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append("".join(rng.choice(LETTERS) for _ in range(rng.randint(5, 9))))
    return " ".join(words)[:chars]


def cpu_ms_per_message(router, pipeline, texts: list[str]) -> float:
    start = time.process_time()
    for text in texts:
        nb.route(router, pipeline, [text])
    return 1000 * (time.process_time() - start) / len(texts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--messages", type=int, default=300)
    args = ap.parse_args(argv)
    heldout = ROOT / "eval" / "heldout.jsonl"
    rng = random.Random(7)
    written = [i["text"] for i in nb.load_jsonl(heldout)]
    noisy = [i["text"] for i in nb.noisy(heldout)]
    rng.shuffle(noisy)
    sets = {
        "held-out, as written": written[: args.messages],
        "held-out, noisy variants": noisy[: args.messages],
        "2000 characters of unseen words": [unseen_words(rng) for _ in range(max(args.messages // 5, 1))],
    }
    params = nb.classifier_config([])
    spelling = int(params["spelling_min_length"])
    pipeline = nb.Pipeline(params).fit(nb.training_examples())
    router, clf = nb.make_router(None), pipeline.classifier
    figures: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for length in (0, spelling):
            clf.config["spelling_min_length"], clf._speller = length, None  # a new speller: an empty cache
            nb.route(router, pipeline, written[:20])  # warm-up
            for name, texts in sets.items():
                figures.setdefault((name, length), []).append(cpu_ms_per_message(router, pipeline, texts))
    print(f"{args.rounds} rounds, load average {os.getloadavg()[0]:.1f}; CPU ms per message, mean of the rounds\n")
    print(f"| messages | count | spelling off | spelling on ({spelling}+ letters) | on / off |")
    print("|---|---|---|---|---|")
    for name, texts in sets.items():
        off, on = (sum(figures[name, n]) / args.rounds for n in (0, spelling))
        print(f"| {name} | {len(texts)} | {off:.2f} | {on:.2f} | {on / off:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
