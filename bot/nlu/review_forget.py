"""The retention purge's hook for the sentences agents taught (docs/privacy.md): a review erased, its
sentence leaves the files that copy it outside the store the same night.

The files: the export's review file (AIGUILLAGE_REVIEW_OUT, else data/nlu_review.yml), data/nlu_review.yml
(where a deployment whose server writes only var/ copies it to train), a refused retrain's file beside
each (var/nlu_review.refused.yml), and the sentences kept to measure (AIGUILLAGE_REVIEWED_SET). Beside
the models only digests are kept (review_files.taught_beside).

Only what was exported from the store being purged is taken out (a review file's `# store:` line, each
line of the set's `store`, review_files.store_mark): a test's, a benchmark's or a demonstration's store
never empties a deployment's file; a file written before those marks existed waits for the next export.
Each file is looked at again under its lock (review_files.one_writer), the reviews left read again under
it, and rewritten only when it loses a sentence, so an export or an agent's review meanwhile is never
undone; where no lock can be made (data/ is read-only under the service's unit) a file with nothing to
lose is only read. A file that cannot be read
or rewritten (half written, read-only, a full disk) is said in the log and left whole; the others are done.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import yaml

from bot.core.config import ROOT
from bot.nlu import eval_sets
from bot.nlu.review_files import (
    file_mark,
    one_writer,
    read_examples,
    refused_beside,
    sentence_key,
    store_mark,
    write_measured,
    write_review,
)

logger = logging.getLogger(__name__)
# How long the purge waits for a file's lock (an export takes about a second; one paused by hand must not
# hold the night's purge, nor the next ones): the file is then said not rewritten, and done the next night.
LOCK_WAIT_S = 60.0
FAILURES = (OSError, ValueError, yaml.YAMLError, KeyError, TypeError, AttributeError)


def forget_taught(store, left: Callable[[], list[str]], dry_run: bool = False) -> int:
    """Every copy of the taught sentences exported from `store` keeps only those of the reviews left
    (`left()`: their sentences as the agents wrote them); how many sentences were taken out, each counted
    once whatever its copies. Each file is looked at again under its lock (LOCK_WAIT_S at most), the reviews
    left read again, and rewritten only when it has one to lose; dry_run only counts, without a lock."""
    from bot.nlu.review import REVIEW_FILE, default_out

    mark = store_mark(store.path)
    reviews = dict.fromkeys([default_out(), ROOT / "data" / REVIEW_FILE])
    files = [(path, _forget_review) for review in reviews for path in (review, refused_beside(review))]
    files.append((Path(eval_sets.reviewed_path()), _forget_measured))
    kept, gone = _kept(left), set()
    for path, forget in files:
        try:
            lost = forget(path, mark, kept, True) if path.is_file() else set()
            if not dry_run:
                # Looked at again under the lock, even a file not there yet (an export may be writing it);
                # where no lock can be made and nothing is to lose (data/ read-only under the unit), left as read.
                with one_writer(path, optional=not lost, wait_s=LOCK_WAIT_S) as locked:
                    if locked:
                        lost = forget(path, mark, _kept(left), False) if path.is_file() else set()
            gone |= lost
        except FAILURES as exc:
            logger.warning("retention: %s not rewritten, the taught sentences stay in it: %s", path, exc)
    return len(gone)


def _kept(left: Callable[[], list[str]]) -> set[str]:
    return {sentence_key(sentence) for sentence in left()}


def _forget_review(path: Path, mark: str, kept: set[str], dry_run: bool) -> set[str]:
    """The sentences of a review file exported from the store `mark` that `kept` lacks (rewritten without
    them unless dry_run); another store's file, or one without its line, loses none."""
    if file_mark(path) != mark:
        return set()
    by_intent: dict[str, list[str]] = {}
    gone: set[str] = set()
    for intent, sentence in read_examples(path.read_text(encoding="utf-8")):
        key = sentence_key(sentence)
        if key in kept:
            by_intent.setdefault(intent, []).append(sentence)
        else:
            gone.add(key)
    if gone and not dry_run:
        write_review(path, by_intent, mark)
    return gone


def _forget_measured(path: Path, mark: str, kept: set[str], dry_run: bool) -> set[str]:
    """The same in the set kept to measure, line by line (each names the store it was exported from)."""
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    gone = [i for i in items if i.get("store") == mark and sentence_key(i["text"]) not in kept]
    if gone and not dry_run:
        write_measured(path, [{k: v for k, v in i.items() if k != "kind"} for i in items if i not in gone])
    return {sentence_key(i["text"]) for i in gone}
