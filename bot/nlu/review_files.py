"""The files of the review loop (bot/nlu/review.py): the sentences of data/*.yml, the review file in
Rasa's format, the reviewed sentences kept to measure (JSON lines), and a model's review file kept beside
it. Part of bot/nlu/review.py, which re-exports what the others import.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from bot.core.masking import PLACEHOLDER_RE
from bot.core.text import norm
from bot.core.texts import console_say

logger = logging.getLogger(__name__)


def existing_examples(data_dir: Path, skip: Path | None = None) -> set[str]:
    texts: set[str] = set()
    for path in sorted(data_dir.glob("*.yml")):
        if skip is None or path.resolve() != skip.resolve():
            texts |= file_examples(path)
    return texts


def file_examples(path: Path) -> set[str]:
    """The examples of one file in Rasa's NLU format, folded (none when it is missing)."""
    if not path.exists():
        return set()
    texts: set[str] = set()
    for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
        for line in str(block.get("examples") or "").splitlines():
            if line.strip().startswith("- "):
                texts.add(norm(line.strip()[2:]))
    return texts


_MARKUP = re.compile(r"[\[\]{}]")  # Rasa's entity markup ("[text](entity)", "[text]{...}"): never a sentence's


def clean_sentence(text: str) -> str:
    """A sentence as it is written to the review file: without the masking's placeholders (the
    tokenizer drops them at training: scoring.without_placeholders) nor brackets and braces, which
    Rasa reads as entity markup (one of the public's "[carte grise]{perdue}" stopped every training)."""
    return " ".join(_MARKUP.sub(" ", PLACEHOLDER_RE.sub(" ", str(text))).split())


def measures(text: str, every: int) -> bool:
    """Whether a taught sentence is kept to measure the assistant instead of teaching it: one in `every`
    (`console.measure_every`; 0, never), chosen by its folded text, so that a sentence stays on its side
    from one export to the next whatever was purged meanwhile, and its copies with it."""
    return every > 0 and int(hashlib.sha256(norm(text).encode("utf-8")).hexdigest(), 16) % every == 0


def write_review(out: Path, by_intent: dict[str, list[str]]) -> None:
    """The review file, in Rasa's format, checked with Rasa's own reader before it replaces the last one."""
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
    try:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yaml.safe_load(tmp.read_text(encoding="utf-8"))  # never leave a file Rasa cannot read
        from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

        RasaYAMLReader().read(tmp)  # Rasa's own reader, as the training will read it
        tmp.replace(out)
    except BaseException:  # a disk full midway: no half-written file left on it
        tmp.unlink(missing_ok=True)
        raise


def write_measured(path: Path, items: list[dict]) -> None:
    """The reviewed sentences that measure, as JSON lines (eval_sets), readable by the owner only (the
    public's words, masked): rewritten whole at each export, so a review purged leaves it with its
    sentence; none, no file."""
    if not items:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(item | {"kind": "user_written"}, ensure_ascii=False) + "\n" for item in items)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def review_beside(model: Path) -> Path:
    """The review file a model was trained on, kept beside it (models/aiguillage.review.yml for
    models/aiguillage.tar.gz, models/aiguillage.previous.review.yml for the model it replaced)."""
    return model.with_name(model.name.removesuffix(".tar.gz") + ".review.yml")


def taught_sentences(model: Path, log) -> set[str]:
    """The sentences the agents taught `model` (its review file), folded; none when that file is missing
    or unreadable (said: the gate then cannot leave them out)."""
    path = review_beside(model)
    try:
        return file_examples(path)
    except (OSError, ValueError, yaml.YAMLError, AttributeError, TypeError) as exc:
        log(console_say("retrain.unreadable_review", file=path, error=exc))
        return set()


def install_file(source: bytes | Path, path: Path) -> None:
    """Write a model or its review file whole or not at all (a full disk leaves the old one)."""
    part = path.with_name(path.name + ".part")
    try:
        if isinstance(source, bytes):
            part.write_bytes(source)
        else:
            shutil.copyfile(source, part)
        part.replace(path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def previous_of(model: Path) -> Path:
    """Where a retrain keeps the model it replaced (models/aiguillage.previous.tar.gz)."""
    return model.with_name(model.name.split(".")[0] + ".previous.tar.gz")


def refused_beside(review_file: Path) -> Path:
    """Where a refused retrain sets its review file aside (var/nlu_review.refused.yml beside data/)."""
    return review_file.parent.parent / "var" / "nlu_review.refused.yml"


def forget(review_files: list[Path], measured: Path, kept: set[str], dry_run: bool) -> int:
    """The sentences of `review_files` (Rasa's format) and of the `measured` set (JSON lines) whose folded
    text is not in `kept` (the reviews still stored), taken out of each file: how many sentences, each
    counted once whatever its copies. A file that loses none is not written (nor retrained for); a
    missing one is skipped; dry_run only counts."""
    gone: set[str] = set()
    for path in (p for p in [*review_files, measured] if p.is_file()):
        try:
            gone |= (_forget_measured if path == measured else _forget_review)(path, kept, dry_run)
        except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
            # A file half written or edited by hand (or no room to rewrite it): the others are done.
            logger.warning("retention: %s not rewritten, its taught sentences stay in it: %s", path, exc)
    return len(gone)


def _forget_review(path: Path, kept: set[str], dry_run: bool) -> set[str]:
    by_intent: dict[str, list[str]] = {}
    gone: set[str] = set()
    for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
        for line in str(block.get("examples") or "").splitlines():
            text = line.strip()[2:] if line.strip().startswith("- ") else ""
            if text and norm(text) in kept:
                by_intent.setdefault(block["intent"], []).append(text)
            elif text:
                gone.add(norm(text))
    if gone and not dry_run:
        write_review(path, by_intent)
    return gone


def _forget_measured(path: Path, kept: set[str], dry_run: bool) -> set[str]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    left = [i for i in items if norm(i["text"]) in kept]
    if len(left) < len(items) and not dry_run:
        write_measured(path, [{k: v for k, v in i.items() if k != "kind"} for i in left])
    return {norm(i["text"]) for i in items} - {norm(i["text"]) for i in left}


@contextmanager
def one_writer(review_file: Path) -> Iterator[None]:
    """One writer of the review files at a time (an export, a refused retrain's set-aside, the retention
    purge's `forget`): a purge that read the file before an export replaced it would write back the old
    sentences without the new ones. The lock file is in var/, beside data/."""
    lock = refused_beside(review_file).with_name(".review.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield
