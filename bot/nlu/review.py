"""Teach the bot: labelled sentences -> data/nlu_review.yml, and the retrain gate.

The export writes, in Rasa's NLU format, one block per intent, every sentence an agent marked as
a training example, minus those already in another data/*.yml (after accent/case folding,
bot.core.text.norm), duplicates, and near copies of an eval question (eval/heldout.jsonl, and the
shared dev sets when present: they measure, they must never be trained on; same check as
tests/test_training_data.py), without the masking's placeholders nor Rasa's entity markup. One
sentence in `console.measure_every` is kept to measure instead (AIGUILLAGE_REVIEWED_SET: the
public's own words, reviewed, which the retrain gate measures with the other sets). The files
themselves are read and written by bot/nlu/review_files.py.

The retrain gate routes every question of the sets of `make eval` with the current model and the new
one and refuses the new one when, over all of them, it loses clearly more questions than it wins
(`gate`); refused, its review file is set aside so that `make train` does not install it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bot import settings
from bot.core import config
from bot.core import tree as tree_mod
from bot.core.config import ROOT
from bot.core.text import norm
from bot.core.texts import console_say
from bot.core.tree import REVIEW_LABELS
from bot.nlu import eval_sets
from bot.nlu.eval_sets import EvalSet
from bot.nlu.fingerprint import CODE
from bot.nlu.review_files import (
    clean_sentence,
    convert_legacy,
    digest,
    existing_examples,
    file_mark,
    install_file,
    legacy_beside,
    measures,
    one_writer,
    previous_of,
    read_examples,
    refused_beside,
    remember_taught,
    store_mark,
    taught_beside,
    taught_digests,
    write_measured,
    write_review,
)
from bot.store.database import Store

REVIEW_FILE = "nlu_review.yml"


def default_out() -> Path:
    return settings.review_out() or ROOT / "data" / REVIEW_FILE


def export(
    store: Store,
    out: Path | None = None,
    data_dir: Path | None = None,
    guard: list[EvalSet] | None = None,
    every: int | None = None,
    measure_out: Path | None = None,
) -> dict:
    """Write the review file, and the reviewed sentences kept to measure (`measure_out`, default
    eval_sets.reviewed_path()); returns {"file", "written": {intent: n}, "measured": {intent: n},
    "measure_file", "every", "skipped": {reason: n}}. The store is read and the files written under the
    review file's lock (a retention purge meanwhile would put back what it took out, or the reverse).

    `guard`: the eval sets no sentence may nearly copy (default: every available one). `every`: one
    sentence in that many measures (default: `console.measure_every` of the préfecture's files)."""
    out = Path(out or default_out())
    with one_writer(out):
        return _export(store, out, data_dir, guard, every, measure_out)


def _export(store: Store, out: Path, data_dir, guard, every, measure_out) -> dict:
    data_dir = Path(data_dir or ROOT / "data")
    every = int(config.current().get("console.measure_every")) if every is None else every
    known = existing_examples(data_dir, skip=out)
    trained = list(known)  # a sentence near one of them would flatter the measure: it teaches instead
    guarded = eval_sets.guarded_texts(guard)
    rows = store.db.execute(
        "select topic, example from reviews where as_training = 1 and example is not null and topic is not null "
        "order by kind, item_id"
    ).fetchall()
    skipped = {"in_data": 0, "duplicate": 0, "near_eval_question": 0, "invalid": 0}
    tree = tree_mod.current()
    measuring: dict[str, dict] = {}  # folded text -> the line of the set that measures
    teaching: dict[str, tuple[str, str]] = {}  # folded text -> (topic, text)
    for topic, example in rows:
        text = clean_sentence(example)
        key = norm(text)
        node = tree.topic_node(topic) if topic in REVIEW_LABELS else None
        destination = node.destination if node else None
        if topic not in REVIEW_LABELS or not key or text.startswith("/"):
            skipped["invalid"] += 1
        elif key in known:
            skipped["in_data"] += 1
        elif key in measuring or key in teaching:
            skipped["duplicate"] += 1
        elif destination and topic != "suivi_dossier" and measures(text, every) and not eval_sets.near_copy(text, trained):
            # (a file's follow-up goes to its document's destination: the sentence alone may not say which)
            ident = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
            measuring[key] = {"id": f"rv-{ident}", "text": text, "topic": topic, "destination": destination}
        else:
            teaching[key] = (topic, text)
    # No sentence that teaches may nearly copy one that measures, nor an eval question.
    guarded += list(measuring)
    by_intent: dict[str, list[str]] = {}
    for topic, text in teaching.values():
        if eval_sets.near_copy(text, guarded):
            skipped["near_eval_question"] += 1
        else:
            by_intent.setdefault(topic, []).append(text)
    measure_file, mark = Path(measure_out or eval_sets.reviewed_path()), store_mark(store.path)
    write_review(out, by_intent, mark)
    with one_writer(measure_file):  # (under the review file's: always in this order)
        write_measured(measure_file, [i | {"store": mark} for i in sorted(measuring.values(), key=lambda i: i["id"])])
    measured: dict[str, int] = {}
    for item in measuring.values():
        measured[item["topic"]] = measured.get(item["topic"], 0) + 1
    return {
        "file": str(out),
        "written": {k: len(v) for k, v in sorted(by_intent.items())},
        "measured": dict(sorted(measured.items())),
        "measure_file": str(measure_file),
        "every": every,
        "skipped": skipped,
    }


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


def destination_hits(model: Path, measured: dict[str, list[dict]], prefecture: str | None = None) -> dict[str, list[bool]]:
    """{set name: [whether each question is sent to its destination]} with `model` (loaded once)."""
    from bot.nlu.evaluation import route_one, router
    from bot.nlu.model import NLU

    rt, nlu = router(prefecture), NLU(model)
    return {
        name: [route_one(rt, nlu, i["text"])["destination"] == i["destination"] for i in items]
        for name, items in measured.items()
    }


# The gate compares the two models question by question, over all the sets together: the new one is
# refused when it loses MIN_NET_LOSS questions or more than it wins. One taught sentence moved 1 of
# 1,265 (a CI-like retrain, 2026-12-04); 30 carte grise questions taught as the residence permit, 11
# lost for 4 won (docs/pipeline.md, twenty-first pass).
MIN_NET_LOSS = 3


def gate(scores: dict[str, tuple[list[bool] | None, list[bool]]], force: bool) -> tuple[bool, str]:
    """Whether the new model may replace the current one, with the French message to print.

    `scores`: {eval set name: (the current model's hits, or None without a model, the new model's)}."""

    def acc(hits: list[bool]) -> float:
        return sum(hits) / len(hits) if hits else 0.0

    if all(current is None for current, _ in scores.values()):
        news = ", ".join(f"{name} {acc(new):.3f}" for name, (_, new) in scores.items())
        return True, console_say("retrain.first_model", scores=news)
    pairs = [(a, b) for current, new in scores.values() for a, b in zip(current or [], new)]
    lost, won = sum(a and not b for a, b in pairs), sum(b and not a for a, b in pairs)
    changes = ", ".join(
        f"{name} {acc(current):.3f} -> {acc(new):.3f}" for name, (current, new) in scores.items() if current != new
    ) or console_say("retrain.unchanged")
    totals = console_say(
        "retrain.totals", before=sum(a for a, _ in pairs), after=sum(b for _, b in pairs), total=len(pairs), lost=lost, won=won
    )
    worse = lost - won >= MIN_NET_LOSS
    if not worse:
        return True, console_say("retrain.installed", scores=changes, totals=totals)
    if force:
        return True, console_say("retrain.forced", scores=changes, totals=totals)
    return False, console_say("retrain.refused", scores=changes, totals=totals)


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
    there is nothing to measure on, or another retrain runs. `sets` default: those of `make eval`
    (eval_sets.guarded_sets). Installed: the model replaced is kept beside it (`.previous`), with the
    digests of what it was taught; refused: the review file is set aside in var/, and what the model in
    service was taught put back, so that `make train` and `make run` do not install what was refused."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".retrain.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(console_say("retrain.busy"))
            return 2
        return _retrain(data_dir, target, sets, force, baseline, prefecture, log)


def _retrain(data_dir: Path, target: Path, sets, force: bool, baseline: Path | None, prefecture, log) -> int:
    try:
        sets = eval_sets.guarded_sets() + eval_sets.reviewed_sets() if sets is None else sets
        # What the model in service was trained on counts too: a sentence it was taught, kept to measure
        # since (console.measure_every set or changed), would favour it (kept beside it at its installation).
        baseline = baseline or target
        known, taught = existing_examples(data_dir), taught_digests(baseline, log) or {}
        # Labelled questions only: a request that names no procedure (no `topic`) has no destination to score.
        measured = {
            s.name: [
                i
                for i in eval_sets.load(s.path)
                if i.get("topic") and norm(i["text"]) not in known and digest(i["text"]) not in taught
            ]
            for s in sets
        }
    except (OSError, ValueError) as exc:
        log(console_say("retrain.unreadable_set", error=exc))
        return 2
    measured = {name: items for name, items in measured.items() if items}  # never measure on trained sentences
    if not measured:
        log(console_say("retrain.no_questions"))
        return 2
    log(
        console_say(
            "retrain.measured_on",
            sets=", ".join(
                console_say("retrain.set_one" if len(items) == 1 else "retrain.set_many", name=name, count=len(items))
                for name, items in measured.items()
            ),
        )
    )
    review_file = data_dir / REVIEW_FILE
    trained = training_hash(data_dir)  # what this training reads (an export meanwhile is not in it)
    reviewed = review_file.read_bytes() if review_file.exists() else None
    with tempfile.TemporaryDirectory(prefix="aiguillage-retrain-") as tmp:
        log(console_say("retrain.training"))
        try:
            new_model = train(data_dir, Path(tmp))
        except RuntimeError as exc:
            log(console_say("retrain.impossible", error=exc))
            return 1
        before = destination_hits(baseline, measured, prefecture) if baseline.exists() else {}
        after = destination_hits(new_model, measured, prefecture)
        scores = {name: (before.get(name), after[name]) for name in measured}
        ok, message = gate(scores, force)
        log(message)
        if not ok:
            _set_aside(review_file, target, log)
            return 1
        previous = previous_of(target)
        replaced = target.exists()
        if replaced:
            shutil.copyfile(target, previous)
            _keep_taught(target, previous)
        install_file(new_model, target)
        remember_taught(reviewed, target)  # models/aiguillage.taught.json: digests, never the sentences
    log(console_say("retrain.restart", previous=previous) if replaced else console_say("retrain.restart_first"))
    if target.resolve() == (ROOT / "models" / "aiguillage.tar.gz").resolve() and data_dir.resolve() == (ROOT / "data").resolve():
        for stamp in (ROOT / "models").glob(".trained-*"):
            stamp.unlink()
        (ROOT / "models" / f".trained-{trained}").touch()  # `make` sees the model as current (if nothing changed since)
    return 0


def _keep_taught(target: Path, previous: Path) -> None:
    """What the model replaced was taught goes with it (aiguillage.previous.taught.json)."""
    convert_legacy(target)  # the sentences, as an earlier version kept them: digests first
    if taught_beside(target).exists():
        install_file(taught_beside(target), taught_beside(previous))
    else:
        remember_taught(None, previous)


def _set_aside(review_file: Path, target: Path, log) -> None:
    """A refused retrain: its review file goes to var/nlu_review.refused.yml, and the review file becomes
    what the model in service was taught (its sentences still in the refused file: one taught then and
    purged since does not come back); none when that model was taught nothing from a review file, or when
    what it was taught cannot be read (said: an export from the console makes it again)."""
    if not review_file.exists():
        return
    with one_writer(review_file):
        refused = review_file.read_bytes()
        aside = refused_beside(review_file)
        aside.parent.mkdir(parents=True, exist_ok=True)
        with one_writer(aside):  # the retention purge rewrites it too
            install_file(refused, aside)
        if not (taught_beside(target).exists() or legacy_beside(target).exists()):
            review_file.unlink()  # taught nothing from a review file: none
            return
        unread: list[str] = []  # (said by the gate when it measured this model)
        taught = taught_digests(target, unread.append)
        if taught is None:
            review_file.unlink()
            log(console_say("retrain.set_aside_whole", file=review_file, aside=aside))
            return
        by_intent: dict[str, list[str]] = {}
        for intent, sentence in read_examples(refused.decode("utf-8")):
            if taught.get(digest(sentence)) == intent:
                by_intent.setdefault(intent, []).append(sentence)
        write_review(review_file, by_intent, file_mark(review_file))
