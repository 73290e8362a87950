"""Training data hygiene: the shared dev questions are for measuring, never for training."""
import json
from pathlib import Path

import pytest
import yaml
from rapidfuzz import fuzz, process

from bot.router import norm

ROOT = Path(__file__).resolve().parent.parent
DEV_SETS = [ROOT.parent / "shared" / "eval" / name for name in ("dev_questions.jsonl", "dev_user_written.jsonl")]


def examples():
    for path in sorted((ROOT / "data").glob("*.yml")):
        for block in (yaml.safe_load(path.read_text()) or {}).get("nlu") or []:
            for line in block["examples"].splitlines():
                if line.strip().startswith("- "):
                    yield path.name, block["intent"], line.strip()[2:]


@pytest.mark.parametrize("dev_set", DEV_SETS, ids=lambda p: p.name)
def test_no_training_example_is_a_near_copy_of_a_dev_question(dev_set):
    if not dev_set.exists():
        pytest.skip(f"{dev_set.name} is not beside this checkout")
    dev = [norm(json.loads(line)["text"]) for line in dev_set.read_text().splitlines() if line.strip()]
    near = []
    for file, intent, text in examples():
        match = process.extractOne(norm(text), dev, scorer=fuzz.ratio, score_cutoff=85)
        if match:
            near.append((file, text, round(match[1])))
    assert near == []


def test_no_example_is_listed_twice():
    seen: dict[str, str] = {}
    twice = []
    for file, intent, text in examples():
        key = norm(text)
        if key in seen:
            twice.append((text, seen[key], intent))
        seen[key] = intent
    assert twice == []
