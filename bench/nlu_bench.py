"""Routing accuracy without a Rasa model on disk: k-fold cross-validation of `data/`, and scores on
labelled JSONL files, through the same components (bot/nlu/components.py) and router as the chat.

    .venv/bin/python bench/nlu_bench.py cv [--folds 5]
    .venv/bin/python bench/nlu_bench.py eval FILE.jsonl [FILE.jsonl ...] [--noisy]
    .venv/bin/python bench/nlu_bench.py ... --set sentence_mix=0.5   (try a classifier setting)
    .venv/bin/python bench/nlu_bench.py ... --threshold 0.5          (try a router threshold)
    .venv/bin/python bench/nlu_bench.py speed [--messages 600]        (training time, messages/s one at a time)
    .venv/bin/python bench/nlu_bench.py calibrate [--folds 5]         (the main model's temperature by CV)
    .venv/bin/python bench/nlu_bench.py eval ... --seeds 42 1 2 3 4  (one training per framing draw, and the mean)

Prints summaries only (accuracy, actions, calibration, confusion counts), never the texts of the
items: the evaluation sets are for measuring, and reading their misses is how a model gets tuned
to them. `--json` prints the same summaries as JSON (bench/eval_report.py reads them).

`--seeds`: the training-only framing (config.yml's `framing_share`) copies examples drawn from one
generator seeded by `random_state`, and that draw alone moves the public's shared set by up to three
messages (docs/pipeline.md, seventh pass). A change to `data/` is judged on the mean over several draws.

Calibration: among the items the router answers directly (action `answer`), the share routed to the
right destination. `bench/nlu_audit.py` lists the examples whose label the out-of-fold models contradict.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import logging
import os
import random
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def training_records() -> list[tuple[str, str, str]]:
    """(text, intent, file name) for every example of data/*.yml, in the order Rasa reads them."""
    out = []
    for path in sorted((ROOT / "data").glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" not in block:
                continue
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    out.append((line[2:], block["intent"], path.name))
    return out


def training_examples() -> list[tuple[str, str]]:
    """(text, intent) for every example of data/*.yml."""
    return [(text, intent) for text, intent, _ in training_records()]


FOLD_SEED = 20261201  # the folds' draw of `cv`, `calibrate` and the first of bench/nlu_audit.py's


def fold_assignment(labels: list[str], folds: int, seed: int) -> list[int]:
    """Stratified folds: each intent's examples shuffled by `seed`, then dealt round the folds."""
    by_intent: dict[str, list[int]] = collections.defaultdict(list)
    for i, intent in enumerate(labels):
        by_intent[intent].append(i)
    fold_of = [0] * len(labels)
    rng = random.Random(seed)
    for indices in by_intent.values():
        rng.shuffle(indices)
        for k, i in enumerate(indices):
            fold_of[i] = k % folds
    return fold_of


def pipeline_step(component: str) -> dict:
    """The settings config.yml gives the pipeline's `component` (its name left out)."""
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    step = next(s for s in config["pipeline"] if s["name"].endswith(component))
    return {k: v for k, v in step.items() if k != "name"}


def classifier_config(overrides: list[str]) -> dict:
    params = pipeline_step("TfidfIntentClassifier")
    for item in overrides:
        key, value = item.split("=", 1)
        params[key] = yaml.safe_load(value)
    return params


class Pipeline:
    """Tokenizer + classifier of config.yml, trained in process; `parse` gives Rasa's parse dict."""

    def __init__(self, params: dict):
        for name in ("rasa", "tensorflow", "absl"):
            logging.getLogger(name).setLevel(logging.ERROR)
        from bot.nlu.components import FrenchTokenizer, TfidfIntentClassifier

        self.tokenizer = FrenchTokenizer({**FrenchTokenizer.get_default_config(), **pipeline_step("FrenchTokenizer")})
        self.classifier = TfidfIntentClassifier(params, None, None)

    def _messages(self, texts: list[str]) -> list:
        from rasa.shared.nlu.training_data.message import Message

        messages = [Message(data={"text": t}) for t in texts]
        self.tokenizer.process(messages)
        return messages

    def fit(self, examples: list[tuple[str, str]]) -> "Pipeline":
        messages = self._messages([t for t, _ in examples])
        self.classifier.fit([self.classifier._text(m) for m in messages], [i for _, i in examples])
        return self

    def parse(self, texts: list[str]) -> list[dict]:
        from bot.core.text import READING

        messages = self.classifier.process(self._messages(texts))
        return [
            {
                "text": m.get("text"),
                "intent": m.get("intent"),
                "intent_ranking": m.get("intent_ranking"),
                "entities": [],
                READING: m.get(READING),
            }
            for m in messages
        ]


def make_router(threshold: float | None):
    from bot.nlu.evaluation import router as load_router

    router = load_router(None)
    if threshold is not None:
        router.threshold = threshold
    return router


def route(router, pipeline: Pipeline, texts: list[str]) -> list:
    return route_all([router], pipeline, texts)[0]


def route_all(routers: list, pipeline: Pipeline, texts: list[str]) -> list[list]:
    """The decisions of each router (e.g. several thresholds) on one parse of the texts."""
    from bot.core.masking import prepare

    prepared = [prepare(t, routers[0].max_chars)[0] for t in texts]
    parses = pipeline.parse(prepared)
    return [[router.decide(t, p) for t, p in zip(prepared, parses)] for router in routers]


def summary(expected: list[dict], decisions: list, router) -> dict:
    """Accuracy, actions, calibration and confusion counts; no item text. Among the clarifying
    questions, the share whose buttons offer the right way on (`asked_offered_right`), and how many
    offer the PAN (`clarify_with_pan_button`), read through the router's tree."""
    from bot.nlu.evaluation import choices, offered

    n = len(expected)
    has_dest = [e for e in expected if e.get("destination")]
    dest_ok = [d.destination == e["destination"] for e, d in zip(expected, decisions) if e.get("destination")]
    topic_ok = [d.topic == e["topic"] for e, d in zip(expected, decisions)]
    right = dest_ok if len(has_dest) == n else topic_ok
    answered = [ok for ok, d in zip(right, decisions) if d.action == "answer"]
    confusions = collections.Counter((e["topic"], d.topic) for e, d in zip(expected, decisions) if e["topic"] != d.topic)

    def pairs(d, buttons=None) -> list[tuple]:  # (topic, destination) of the buttons (default: the decision's)
        return [(n.topic, n.destination) for n in choices(router, d, buttons)]

    clarified = [(e, pairs(d)) for e, d in zip(expected, decisions) if d.action == "clarify"]
    pan_offered = [any(topic == "rdv_pan" for topic, _ in offer) for _, offer in clarified]
    asked = [offered(offer, e["topic"], e.get("destination")) for e, offer in clarified]
    # answered wrong: whether the answer's alternatives (offered after « Non ») hold the right way on
    wrong = [(e, pairs(d, d.alternatives)) for ok, e, d in zip(right, expected, decisions) if d.action == "answer" and not ok]
    recovered = [offered(offer, e["topic"], e.get("destination")) for e, offer in wrong]
    return {
        "n": n,
        "destination_accuracy": sum(dest_ok) / len(dest_ok) if dest_ok else None,
        "topic_accuracy": sum(topic_ok) / n if n else 0.0,
        "actions": dict(collections.Counter(d.action for d in decisions)),
        "answered": len(answered),
        "answered_right": sum(answered) / len(answered) if answered else None,
        "clarify_with_pan_button": sum(pan_offered),
        "asked_offered_right": sum(asked) / len(asked) if asked else None,
        # the first turn either answers right or offers the right button
        "served_first_turn": (sum(answered) + sum(asked)) / n if n else None,
        "confusions": [[a, b, c] for (a, b), c in confusions.most_common()],
        "answered_wrong": len(recovered),
        "wrong_alternative_right": sum(recovered),
    }


def cross_validation(params: dict, thresholds: list, folds: int, seed: int = FOLD_SEED) -> dict[str, dict]:
    """Stratified k-fold over data/: each example is scored by a model trained without it (one training
    per fold, routed at each threshold; None: bot/tree.yml's)."""
    from bot.core.tree import TOPICS

    examples = training_examples()
    fold_of = fold_assignment([i for _, i in examples], folds, seed)
    routers = [make_router(t) for t in thresholds]
    expected: list[dict] = []
    decisions: list[list] = [[] for _ in routers]
    for k in range(folds):
        train = [e for e, f in zip(examples, fold_of) if f != k]
        test = [e for e, f in zip(examples, fold_of) if f == k and e[1] in TOPICS]
        pipeline = Pipeline(params).fit(train)
        for out, got in zip(decisions, route_all(routers, pipeline, [t for t, _ in test])):
            out += got
        expected += [{"topic": i} for _, i in test]
    return {
        ("cv" if t is None else f"cv @{t}"): summary(expected, d, r) | {"folds": folds, "examples": len(examples)}
        for t, d, r in zip(thresholds, decisions, routers)
    }


def calibrate(params: dict, folds: int, seed: int = FOLD_SEED) -> dict:
    """The temperature of the main model's logits that minimises the log loss of the k-fold CV's
    out-of-fold predictions (every intent's examples, whole messages), on a grid from 0.5 to 8."""
    import numpy as np
    from scipy.special import log_softmax

    examples = training_examples()
    fold_of = fold_assignment([i for _, i in examples], folds, seed)
    logits, truth = [], []
    for k in range(folds):
        pipeline = Pipeline(params).fit([e for e, f in zip(examples, fold_of) if f != k])
        test = [e for e, f in zip(examples, fold_of) if f == k]
        clf = pipeline.classifier
        texts = [clf._text(m) for m in pipeline._messages([t for t, _ in test])]
        model = clf.clf.steps[-1][1]
        logits.append(model.decision_function(clf._features(texts)))
        index = {c: j for j, c in enumerate(model.classes_)}
        truth.append(np.array([index[i] for _, i in test]))
    z, y = np.vstack(logits), np.concatenate(truth)
    grid = [round(0.5 + 0.25 * i, 2) for i in range(31)]
    losses = {t: float(-log_softmax(z / t, axis=1)[np.arange(len(y)), y].mean()) for t in grid}
    best = min(losses, key=losses.get)
    return {"temperature": best, "log_loss": round(losses[best], 4), "log_loss_at_1": round(losses[1.0], 4), "n": len(y)}


def seeds_mean(per_seed: dict[int, dict]) -> dict:
    """One set's summaries over several framing draws: each seed's figures, and their mean."""

    def figures(key: str) -> list:
        return [per_seed[s][key] for s in per_seed if per_seed[s].get(key) is not None]

    out: dict = {"seeds": list(per_seed), "n": next(iter(per_seed.values()))["n"]}
    for key in (
        "destination_accuracy",
        "topic_accuracy",
        "answered_right",
        "answered",
        "asked_offered_right",
        "served_first_turn",
    ):
        values = figures(key)
        out[key + "_by_seed"] = values
        out[key] = sum(values) / len(values) if values else None
    return out


def speed(params: dict, count: int) -> dict:
    """Training time, then `count` examples of data/ routed one at a time (parse + router) after a warm-up."""
    import time

    examples = training_examples()
    start = time.process_time(), time.perf_counter()
    pipeline = Pipeline(params).fit(examples)
    trained = time.process_time() - start[0], time.perf_counter() - start[1]
    router = make_router(None)
    texts = [t for t, _ in random.Random(7).sample(examples, min(count, len(examples)))]
    route(router, pipeline, texts[:20])
    start = time.process_time(), time.perf_counter()
    for text in texts:
        route(router, pipeline, [text])
    cpu, wall = time.process_time() - start[0], time.perf_counter() - start[1]
    return {
        "training_cpu_s": round(trained[0], 1),
        "training_wall_s": round(trained[1], 1),
        "messages": len(texts),
        "per_cpu_second": round(len(texts) / cpu),
        "per_wall_second": round(len(texts) / wall),
        "load_average": round(os.getloadavg()[0], 1),
    }


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def noisy(path: Path) -> list[dict]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "noisy.py"), str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def score_files(params: dict, files: list[Path], thresholds: list, with_noisy: bool) -> dict[str, dict]:
    """One training on all of data/, then each file (and its noisy variants) routed at each threshold;
    items found word for word in data/ are dropped."""
    from bot.core.text import norm
    from bot.nlu.evaluation import apart_no_subject, no_subject

    examples = training_examples()
    training = {norm(t) for t, _ in examples}
    pipeline = Pipeline(params).fit(examples)
    routers = [make_router(t) for t in thresholds]
    results: dict[str, dict] = {}
    for path in files:
        sets = [(path.name, load_jsonl(path))] + ([(path.name + " noisy", noisy(path))] if with_noisy else [])
        for name, items in sets:
            kept = [i for i in items if norm(i["text"]) not in training]
            for t, r, got in zip(thresholds, routers, route_all(routers, pipeline, [i["text"] for i in kept])):
                key = name + ("" if t is None else f" @{t}")
                scored, decisions, rest = apart_no_subject(kept, got)
                results[key] = summary(scored, decisions, r) | {"dropped_found_in_training_data": len(items) - len(kept)}
                if rest:
                    results[key]["no_subject"] = no_subject([(d.action, d.menu) for d in rest])
    return results


def over_seeds(run, params: dict, seeds: list[int]) -> dict[str, dict]:
    """`run(params)` once per framing seed (`random_state`); each set's figures by seed and their mean."""
    by_seed = {seed: run(params | {"random_state": seed}) for seed in seeds}
    first = by_seed[seeds[0]]
    return {name: seeds_mean({seed: by_seed[seed][name] for seed in seeds}) for name in first}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print(results: dict[str, dict]) -> None:
    for name, r in results.items():
        if name in ("speed", "calibrate"):
            print(f"{name}: " + " ".join(f"{k}={v}" for k, v in r.items()))
            continue
        dest = f"{r['destination_accuracy']:.3f}" if r["destination_accuracy"] is not None else "-"
        right = f"{r['answered_right']:.3f}" if r["answered_right"] is not None else "-"
        if "seeds" in r:
            spread = " / ".join(f"{v:.3f}" for v in r["destination_accuracy_by_seed"]) or "-"
            print(
                f"{name}: n={r['n']} seeds={r['seeds']} destination mean={dest} ({spread}) "
                f"topic mean={r['topic_accuracy']:.3f} answered right mean={right} answered mean={r['answered']:.1f} "
                f"asked, right offered mean={_fmt(r['asked_offered_right'])}"
            )
            continue
        print(
            f"{name}: n={r['n']} destination={dest} topic={r['topic_accuracy']:.3f} actions={r['actions']} "
            f"answered right={right} clarify with PAN={r['clarify_with_pan_button']} "
            f"asked, right offered={_fmt(r['asked_offered_right'])}"
        )
        print("   confusions: " + "; ".join(f"{a}->{b}:{c}" for a, b, c in r["confusions"][:10]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["cv", "eval", "speed", "calibrate"])
    parser.add_argument("--messages", type=int, default=600, help="speed: how many examples of data/ to route")
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--noisy", action="store_true", help="also score the noisy variants of each file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--threshold",
        type=float,
        action="append",
        default=None,
        help="router confidence threshold (repeat to compare several; default: bot/tree.yml)",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="eval, cv: one training per framing seed, and the mean"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    params = classifier_config(args.set)
    thresholds = args.threshold or [None]
    results: dict[str, dict] = {}
    if args.mode == "speed":
        results["speed"] = speed(params, args.messages)
    elif args.mode == "calibrate":
        results["calibrate"] = calibrate(params, args.folds)
    else:
        if args.mode == "cv":
            run = functools.partial(cross_validation, thresholds=thresholds, folds=args.folds)
        else:
            run = functools.partial(score_files, files=args.files, thresholds=thresholds, with_noisy=args.noisy)
        results |= over_seeds(run, params, args.seeds) if args.seeds else run(params)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    _print(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
