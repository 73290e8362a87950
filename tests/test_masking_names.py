"""Names with no cue: measured on tests/data/masking_names_nocue.jsonl.

The file holds 127 hand-written messages (same format as masking_heldout.jsonl): 72 with names that
no cue announces (a signature with no closing word, a name after a family word, opening a message,
inside a story, in lower case; first names and surnames of France's many origins) and 55 with no
personal data but words that look like names (towns that are first names, "Saint-Pierre", streets,
schools and hospitals named after people, organisations, months, holidays). It was written and
measured before the patterns for such names (docs/privacy.md, "Names with no cue").
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.core.masking import find, mask
from tests.test_masking_corpus import measure

ROOT = Path(__file__).resolve().parent.parent
ROWS = [json.loads(line) for line in (ROOT / "tests/data/masking_names_nocue.jsonl").read_text(encoding="utf-8").splitlines()]


def named(row: dict) -> bool:
    return any(span["kind"] == "name" for span in row["spans"])


def changed_lookalikes() -> list[tuple[str, str]]:
    """The messages without a name that the masking changes outside their labelled spans (an address)."""
    out = []
    for row in ROWS:
        if named(row):
            continue
        spans = [(s["start"], s["end"]) for s in row["spans"]]
        if any(not any(a <= start and end <= b for a, b in spans) for start, end, _ in find(row["text"])):
            out.append((row["text"], mask(row["text"])))
    return out


def figures() -> str:
    per_kind, (fp, tokens), _ = measure(ROWS)
    rows = [f"{k}: {m}/{n}" for k, (m, n) in per_kind.items() if n]
    lookalikes = sum(1 for row in ROWS if not named(row))
    return (
        "; ".join(rows)
        + f"; false positives {fp}/{tokens} tokens; look-alike messages changed {len(changed_lookalikes())}/{lookalikes}"
    )


def test_the_file_is_large_and_varied():
    assert sum(1 for row in ROWS if named(row)) >= 60
    assert sum(1 for row in ROWS if not named(row)) >= 40
    for row in ROWS:
        for span in row["spans"]:
            assert 0 <= span["start"] < span["end"] <= len(row["text"])
            assert row["text"][span["start"] : span["end"]].strip() == row["text"][span["start"] : span["end"]]


if __name__ == "__main__":  # python -m tests.test_masking_names: print the figures and the misses
    print(figures())
    for line in measure(ROWS)[2]:
        print(" ", line)
