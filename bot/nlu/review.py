"""Teach the bot: labelled sentences -> data/nlu_review.yml, and the retrain gate.

The export writes, in Rasa's NLU format, one block per intent, every sentence an agent marked as
a training example, minus those already in another data/*.yml (after accent/case folding,
bot.core.text.norm), duplicates, and near copies of an eval question (eval/heldout.jsonl, and the
shared dev sets when present: they measure, they must never be trained on; same check as
tests/test_training_data.py).

The retrain gate measures the new model and the current one on the same sets and refuses the new
one when its destination accuracy drops on any of them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from bot import settings
from bot.core.config import ROOT
from bot.core.text import norm
from bot.core.texts import console_say
from bot.core.tree import TOPICS
from bot.nlu import eval_sets
from bot.nlu.eval_sets import EvalSet
from bot.nlu.fingerprint import CODE
from bot.store.database import Store

REVIEW_FILE = "nlu_review.yml"


def default_out() -> Path:
    return settings.review_out() or ROOT / "data" / REVIEW_FILE


def existing_examples(data_dir: Path, skip: Path | None = None) -> set[str]:
    texts: set[str] = set()
    for path in sorted(data_dir.glob("*.yml")):
        if skip is not None and path.resolve() == skip.resolve():
            continue
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            for line in str(block.get("examples") or "").splitlines():
                if line.strip().startswith("- "):
                    texts.add(norm(line.strip()[2:]))
    return texts


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def export(store: Store, out: Path | None = None, data_dir: Path | None = None, guard: list[EvalSet] | None = None) -> dict:
    """Write the review file; returns {"file", "written": {intent: n}, "skipped": {reason: n}}.

    `guard`: the eval sets no sentence may nearly copy (default: every available one)."""
    out = Path(out or default_out())
    data_dir = Path(data_dir or ROOT / "data")
    known = existing_examples(data_dir, skip=out)
    guarded = eval_sets.guarded_texts(guard)
    rows = store.db.execute(
        "select topic, example from reviews where as_training = 1 and example is not null and topic is not null "
        "order by kind, item_id"
    ).fetchall()
    by_intent: dict[str, list[str]] = {}
    seen: set[str] = set()
    skipped = {"in_data": 0, "duplicate": 0, "near_eval_question": 0, "invalid": 0}
    for topic, example in rows:
        text = _clean(example)
        key = norm(text)
        if topic not in TOPICS or not key or text.startswith("/") or "](" in text:  # "](": Rasa entity syntax
            skipped["invalid"] += 1
        elif key in known:
            skipped["in_data"] += 1
        elif key in seen:
            skipped["duplicate"] += 1
        elif eval_sets.near_copy(text, guarded):
            skipped["near_eval_question"] += 1
        else:
            seen.add(key)
            by_intent.setdefault(topic, []).append(text)
    lines = [
        'version: "3.1"',
        "# Written by `python -m bot review export` from the agents' reviews: do not edit by hand.",
        "nlu:",
    ]
    for intent in sorted(by_intent):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {t}" for t in sorted(by_intent[intent]))
    if not by_intent:
        lines[-1] = "nlu: []"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    yaml.safe_load(tmp.read_text(encoding="utf-8"))  # never leave a file Rasa cannot read
    tmp.replace(out)
    return {"file": str(out), "written": {k: len(v) for k, v in sorted(by_intent.items())}, "skipped": skipped}


# ---- the retrain gate ---------------------------------------------------------------------
TRAINED_FROM = ("domain.yml", "config.yml", *CODE)  # after data/*.yml, as in the Makefile


def training_hash(data_dir: Path) -> str:
    """The Makefile's TRAINING_HASH: data/*.yml sorted, then TRAINED_FROM (the custom components'
    code included, so a tokenizer change retrains)."""
    h = hashlib.sha256()
    for path in sorted(data_dir.glob("*.yml"), key=lambda p: p.name):
        h.update(path.read_bytes())
    for name in TRAINED_FROM:
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()[:12]


def train(data_dir: Path, out_dir: Path) -> Path:
    cmd = [
        str(Path(sys.executable).parent / "rasa"),
        "train",
        "--data",
        str(data_dir),
        "--domain",
        str(ROOT / "domain.yml"),
        "--config",
        str(ROOT / "config.yml"),
        "--fixed-model-name",
        "aiguillage",
        "--out",
        str(out_dir),
        "--quiet",
    ]
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", SQLALCHEMY_SILENCE_UBER_WARNING="1", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    model = out_dir / "aiguillage.tar.gz"
    if proc.returncode != 0 or not model.exists():
        raise RuntimeError(console_say("retrain.training_failed") + "\n" + (proc.stdout + proc.stderr)[-2000:])
    return model


def destination_accuracy(model: Path, items: list[dict], prefecture: str | None = None) -> float | None:
    """None when no item has a topic (the gate keeps only those, so it does not happen there)."""
    from bot.nlu.evaluation import evaluate, route_one, router
    from bot.nlu.model import NLU

    rt, nlu = router(prefecture), NLU(model)
    return evaluate(items, [route_one(rt, nlu, i["text"]) for i in items])["destination_accuracy"]


def gate(scores: dict[str, tuple[float | None, float]], force: bool) -> tuple[bool, str]:
    """Whether the new model may replace the current one, with the French message to print.

    `scores`: {eval set name: (current model's destination accuracy or None, new model's)}; the
    new model is refused when it does worse than the current one on any set."""
    if all(current is None for current, _ in scores.values()):
        news = ", ".join(f"{name} {new:.3f}" for name, (_, new) in scores.items())
        return True, console_say("retrain.first_model", scores=news)
    changes = ", ".join(f"{name} {current:.3f} -> {new:.3f}" for name, (current, new) in scores.items())
    drops = ", ".join(f"{name} {current:.3f} -> {new:.3f}" for name, (current, new) in scores.items() if new + 1e-9 < current)
    if not drops:
        return True, console_say("retrain.installed", scores=changes)
    if force:
        return True, console_say("retrain.forced", scores=drops)
    return False, console_say("retrain.refused", scores=drops)


def retrain(
    data_dir: Path,
    target: Path,
    sets: list[EvalSet] | None = None,
    force: bool = False,
    baseline: Path | None = None,
    prefecture: str | None = None,
    log=print,
) -> int:
    """Train on `data_dir`; install the model at `target` if the gate lets it (0), else 1; 2 when
    there is nothing to measure on. `sets` default: eval/heldout.jsonl and the shared dev sets present."""
    try:
        sets = eval_sets.available() if sets is None else sets
        known = existing_examples(data_dir)
        # Labelled questions only: a request that names no procedure (no `topic`) has no destination to score.
        measured = {s.name: [i for i in eval_sets.load(s.path) if i.get("topic") and norm(i["text"]) not in known] for s in sets}
    except (OSError, ValueError) as exc:
        log(console_say("retrain.unreadable_set", error=exc))
        return 2
    measured = {name: items for name, items in measured.items() if items}  # never measure on trained sentences
    if not measured:
        log(console_say("retrain.no_questions"))
        return 2
    log(
        console_say("retrain.measured_on", sets=", ".join(f"{name} ({len(items)} questions)" for name, items in measured.items()))
    )
    baseline = baseline or target
    with tempfile.TemporaryDirectory(prefix="aiguillage-retrain-") as tmp:
        log(console_say("retrain.training"))
        try:
            new_model = train(data_dir, Path(tmp))
        except RuntimeError as exc:
            log(console_say("retrain.impossible", error=exc))
            return 1
        scores = {
            name: (
                destination_accuracy(baseline, items, prefecture) if baseline.exists() else None,
                destination_accuracy(new_model, items, prefecture),
            )
            for name, items in measured.items()
        }
        ok, message = gate(scores, force)
        log(message)
        if not ok:
            return 1
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(new_model, target.with_suffix(".part"))
        target.with_suffix(".part").replace(target)
    if target.resolve() == (ROOT / "models" / "aiguillage.tar.gz").resolve() and data_dir.resolve() == (ROOT / "data").resolve():
        for stamp in (ROOT / "models").glob(".trained-*"):
            stamp.unlink()
        (ROOT / "models" / f".trained-{training_hash(data_dir)}").touch()  # `make` sees the model as current
    return 0
