"""Examples of `data/` whose label the out-of-fold models contradict: mislabelled lines, or two hands
labelling one border differently (docs/pipeline.md, eighth pass).

    .venv/bin/python bench/nlu_audit.py [--folds 5] [--min-confidence 0.5] [--json]

The 5-fold models are trained on two fold draws; an example is listed when, in every draw, another
intent comes first at `--min-confidence` or more and its own label gets less than 0.2. It prints
training examples only, never an evaluation item. The list is to read against the labelling
conventions (`../shared/eval/README.md`), not a fix: most lines it lists are right and only hard.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.nlu_bench import FOLD_SEED, Pipeline, classifier_config, fold_assignment, training_records  # noqa: E402


def audit(
    params: dict,
    records: list[tuple[str, str, str]],
    folds: int = 5,
    draws: tuple[int, ...] = (FOLD_SEED, 7),
    min_confidence: float = 0.5,
    max_own: float = 0.2,
) -> list[dict]:
    """Examples whose label the out-of-fold models contradict in every fold draw: the model's first
    intent is another one at `min_confidence` or more, and the label gets less than `max_own`
    (the classifier's parse, before the router). Sorted by label, then by the intent found."""
    labels = [intent for _, intent, _ in records]
    parses: list[list[dict]] = [[] for _ in records]
    for seed in draws:
        fold_of = fold_assignment(labels, folds, seed)
        for k in range(folds):
            train = [(t, i) for (t, i, _), f in zip(records, fold_of) if f != k]
            test = [n for n, f in enumerate(fold_of) if f == k]
            pipeline = Pipeline(params).fit(train)
            for n, parse in zip(test, pipeline.parse([records[n][0] for n in test])):
                parses[n].append(parse)
    flagged = []
    for (text, label, name), runs in zip(records, parses):
        own = max(next((r["confidence"] for r in p["intent_ranking"] if r["name"] == label), 0.0) for p in runs)
        if own >= max_own:
            continue
        if all(p["intent"]["name"] != label and p["intent"]["confidence"] >= min_confidence for p in runs):
            found = collections.Counter(p["intent"]["name"] for p in runs).most_common(1)[0][0]
            confidence = min(p["intent"]["confidence"] for p in runs)
            flagged.append(
                {
                    "file": name,
                    "text": text,
                    "label": label,
                    "found": found,
                    "confidence": round(confidence, 3),
                    "label_confidence": round(own, 3),
                }
            )
    return sorted(flagged, key=lambda f: (f["label"], f["found"], -f["confidence"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--min-confidence", type=float, default=0.5, help="the other intent's confidence in every draw")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a classifier setting")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    flagged = audit(classifier_config(args.set), training_records(), args.folds, min_confidence=args.min_confidence)
    if args.json:
        print(json.dumps(flagged, indent=2, ensure_ascii=False))
        return 0
    pairs = collections.Counter((f["label"], f["found"]) for f in flagged)
    print(f"{len(flagged)} examples of data/ whose label the {args.folds}-fold models contradict in every draw")
    print("   by label -> intent found: " + "; ".join(f"{a}->{b}:{c}" for (a, b), c in pairs.most_common()))
    for f in flagged:
        print(f"{f['label']} -> {f['found']} {f['confidence']:.2f} (label {f['label_confidence']:.2f}) [{f['file']}] {f['text']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
