"""How much one spoken filler costs: each labelled file routed as written, then with one filler said
first and after every fifth word, filler by filler (one training of data/, in process).

    .venv/bin/python bench/filler_grid.py FILE.jsonl [FILE.jsonl ...] [--set key=value]

Prints destination accuracy and the number answered per file, never the texts (docs/pipeline.md,
sixteenth pass). A measure, never training data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import nlu_bench as nb  # noqa: E402

FILLERS = ["euh", "alors", "bah", "voilà", "en fait", "oui bonjour", "ben", "du coup", "hein", "bon", "genre", "quoi"]


def said_with(text: str, filler: str) -> str:
    words = text.split()
    out = [filler]
    for i, word in enumerate(words):
        out.append(word)
        if i and i % 5 == 0:
            out.append(filler)
    return " ".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--set", action="append", default=[], help="a classifier setting, key=value")
    args = ap.parse_args(argv)
    pipeline = nb.Pipeline(nb.classifier_config(args.set)).fit(nb.training_examples())
    router = nb.make_router(None)
    sets = {path.name: nb.load_jsonl(path) for path in args.files}
    print("| filler | " + " | ".join(sets) + " |")
    print("|---" * (len(sets) + 1) + "|")
    for filler in [None, *FILLERS]:
        cells = []
        for items in sets.values():
            texts = [i["text"] if filler is None else said_with(i["text"], filler) for i in items]
            decisions = nb.route(router, pipeline, texts)
            right = sum(d.destination == i["destination"] for d, i in zip(decisions, items))
            cells.append(f"{right / len(items):.3f} ({sum(d.action == 'answer' for d in decisions)} answered)")
        print(f"| {filler or 'none'} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
