"""The labelled question sets that measure the routing; never trained on.

- `eval/heldout.jsonl`, inside the repository: always there, so the retrain gate and the
  near-copy guard work in a fresh clone;
- the other in-repository sets (`eval/own_public_voice.jsonl`, `eval/public_stories.jsonl`: messages
  in the public's voice written for issue 15), guarded against near copies like the held-out set;
- the shared dev sets (`dev_questions.jsonl`, `dev_user_written.jsonl`), used as well when
  AIGUILLAGE_DEV_EVAL names their folder (the Makefile does when one is beside the checkout; the
  product never needs them).

Every set is JSON lines with `id`, `text`, `topic`, `destination` (and optional `subtopic`,
`kind`); an item without `topic` is a request that names no procedure (`kind: no_subject`,
`eval/short_requests.jsonl`), scored apart by how the first turn met it (bot/nlu/evaluation.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process

from bot import settings
from bot.core.config import ROOT
from bot.core.text import norm

HELDOUT = ROOT / "eval" / "heldout.jsonl"
SHARED_FILES = ("dev_questions.jsonl", "dev_user_written.jsonl")
NEAR_COPY = 85  # rapidfuzz ratio (0-100) from which a training sentence is a near copy of an eval question


@dataclass(frozen=True)
class EvalSet:
    name: str  # short label for tables: "heldout", "dev_questions", ...
    path: Path


def shared_paths() -> tuple[Path, ...]:
    """The shared dev sets' paths in the folder AIGUILLAGE_DEV_EVAL names; none when it is unset."""
    folder = settings.dev_eval_dir()
    return tuple(folder / name for name in SHARED_FILES) if folder else ()


def available(heldout: Path = HELDOUT, shared: tuple[Path, ...] | None = None) -> list[EvalSet]:
    """The in-repository held-out set (must exist), then each shared dev set that is present."""
    shared = shared_paths() if shared is None else shared
    if not heldout.exists():
        raise FileNotFoundError(f"The held-out set {heldout} is missing: it is part of the repository.")
    return [EvalSet(p.stem, p) for p in (heldout, *shared) if p.exists()]


def guarded_sets(heldout: Path = HELDOUT, shared: tuple[Path, ...] | None = None) -> list[EvalSet]:
    """Every set no training sentence may nearly copy: `available()` and every other eval/*.jsonl; the
    sets of `make eval`, which the retrain gate measures too (bot/nlu/review.py)."""
    sets = available(heldout, shared)
    known = {s.path for s in sets}
    return sets + [EvalSet(p.stem, p) for p in sorted(heldout.parent.glob("*.jsonl")) if p not in known]


# The public's own words, reviewed by the agents: one taught sentence in `console.measure_every` is kept
# to measure the assistant instead of teaching it (bot/nlu/review.py `export`), in var/ (masked sentences
# of this deployment: never in the repository).
REVIEWED = ROOT / "var" / "public_reviewed.jsonl"


def reviewed_path() -> Path:
    """Where the export keeps the reviewed sentences that measure (AIGUILLAGE_REVIEWED_SET)."""
    return settings.reviewed_set() or REVIEWED


def reviewed_sets(path: Path | None = None) -> list[EvalSet]:
    """The set of the public's reviewed words, when the export has kept any."""
    path = path or reviewed_path()
    return [EvalSet("public_reviewed", path)] if path.exists() and path.stat().st_size else []


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def guarded_texts(sets: list[EvalSet] | None = None) -> list[str]:
    """Every eval question, folded: no training sentence may be a near copy of one of them."""
    return [norm(item["text"]) for s in (guarded_sets() if sets is None else sets) for item in load(s.path)]


def near_copy(text: str, guarded: list[str]) -> tuple[str, float] | None:
    """The eval question (folded) that `text` nearly copies, with its score, or None."""
    match = process.extractOne(norm(text), guarded, scorer=fuzz.ratio, score_cutoff=NEAR_COPY)
    return (match[0], match[1]) if match else None
