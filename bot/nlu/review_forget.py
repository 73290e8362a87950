"""The retention purge's hook for the sentences agents taught (docs/privacy.md): a review erased, its
sentence leaves the files that copy it outside the store the same night.

The files: the export's review file (AIGUILLAGE_REVIEW_OUT, else data/nlu_review.yml), data/nlu_review.yml
(where a deployment whose server writes only var/ copies it to train), a refused retrain's file beside
each (var/nlu_review.refused.yml), and the sentences kept to measure (AIGUILLAGE_REVIEWED_SET), written
by the same export as the review file. Beside the models only digests are kept (review_files.taught_beside).

A review file is rewritten only when it was exported from the store being purged (its `# store:` line,
review_files.store_mark): a test's, a benchmark's or a demonstration's store never empties a
deployment's file; a file written before that line existed waits for the next export. Each file is read
and rewritten under its lock (review_files.one_writer), the reviews left read under it too, so an export
or an agent's review meanwhile is never undone. A file that cannot be read or rewritten (half written,
read-only under the service's unit, a full disk) is said in the log and left whole; the others are done.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import yaml

from bot.core.config import ROOT
from bot.core.text import norm
from bot.nlu import eval_sets
from bot.nlu.review_files import (
    clean_sentence,
    file_mark,
    one_writer,
    read_examples,
    refused_beside,
    store_mark,
    write_measured,
    write_review,
)

logger = logging.getLogger(__name__)
FAILURES = (OSError, ValueError, yaml.YAMLError, KeyError, TypeError, AttributeError)


def forget_taught(store, left: Callable[[], list[str]], dry_run: bool = False) -> int:
    """Every copy of the taught sentences exported from `store` keeps only those of the reviews left
    (`left()`: their sentences as the agents wrote them, read under each file's lock); how many sentences
    were taken out, each counted once whatever its copies. dry_run only counts (no lock, no file written)."""
    from bot.nlu.review import REVIEW_FILE, default_out

    mark = store_mark(store.path)
    out = default_out()
    gone: set[str] = set()
    for review in dict.fromkeys([out, ROOT / "data" / REVIEW_FILE]):
        for path in (review, refused_beside(review)):
            measured = Path(eval_sets.reviewed_path()) if path == out else None  # written with it
            try:
                if path.is_file() and file_mark(path) == mark:
                    gone |= _forget_in(path, measured, left, dry_run)
            except FAILURES as exc:
                logger.warning("retention: %s not rewritten, the taught sentences stay in it: %s", path, exc)
    return len(gone)


def _forget_in(review: Path, measured: Path | None, left: Callable[[], list[str]], dry_run: bool) -> set[str]:
    if dry_run:
        return _forget_review(review, _kept(left), dry_run) | _forget_measured(measured, _kept(left), dry_run)
    with one_writer(review):
        kept = _kept(left)
        return _forget_review(review, kept, dry_run) | _forget_measured(measured, kept, dry_run)


def _kept(left: Callable[[], list[str]]) -> set[str]:
    return {norm(clean_sentence(sentence)) for sentence in left()}


def _forget_review(path: Path, kept: set[str], dry_run: bool) -> set[str]:
    by_intent: dict[str, list[str]] = {}
    gone: set[str] = set()
    for intent, sentence in read_examples(path.read_text(encoding="utf-8")):
        key = norm(clean_sentence(sentence))
        if key in kept:
            by_intent.setdefault(intent, []).append(sentence)
        else:
            gone.add(key)
    if gone and not dry_run:
        write_review(path, by_intent, file_mark(path))
    return gone


def _forget_measured(path: Path | None, kept: set[str], dry_run: bool) -> set[str]:
    if path is None or not path.is_file():
        return set()
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    left = [i for i in items if norm(clean_sentence(i["text"])) in kept]
    if len(left) < len(items) and not dry_run:
        write_measured(path, [{k: v for k, v in i.items() if k != "kind"} for i in left])
    return {norm(clean_sentence(i["text"])) for i in items} - {norm(clean_sentence(i["text"])) for i in left}
