"""Training data hygiene: the eval sets are for measuring, never for training.

The in-repository held-out set (eval/heldout.jsonl) is always checked, so the guard runs in a
fresh clone; each shared dev set is checked as well when AIGUILLAGE_DEV_EVAL names its folder (the
Makefile does when `../shared/eval` is beside the checkout).
"""

import yaml
from conftest import ROOT

from bot.core.text import norm
from bot.core.tree import TOPICS
from bot.nlu import eval_sets


def examples():
    for path in sorted((ROOT / "data").glob("*.yml")):
        for block in (yaml.safe_load(path.read_text()) or {}).get("nlu") or []:
            for line in block["examples"].splitlines():
                if line.strip().startswith("- "):
                    yield path.name, block["intent"], line.strip()[2:]


def near_copies(path):
    guarded = eval_sets.guarded_texts([eval_sets.EvalSet(path.stem, path)])
    near = []
    for file, _intent, text in examples():
        match = eval_sets.near_copy(text, guarded)
        if match:
            near.append((file, text, round(match[1])))
    return near


def test_the_held_out_set_is_in_the_repository_with_every_field():
    items = eval_sets.load(eval_sets.HELDOUT)
    assert len(items) >= 50
    assert all({"id", "text", "topic", "destination"} <= set(i) for i in items)
    assert len({i["id"] for i in items}) == len(items)
    assert {i["topic"] for i in items} <= set(TOPICS)


def test_no_training_example_is_a_near_copy_of_an_eval_question():
    sets = eval_sets.guarded_sets()  # every eval/*.jsonl always, the shared dev sets when present
    assert sets[0].path == eval_sets.HELDOUT
    assert {"own_public_voice", "public_stories"} <= {s.name for s in sets}
    assert {s.name: near_copies(s.path) for s in sets} == {s.name: [] for s in sets}


def test_the_near_copy_check_catches_a_reworded_question(tmp_path):
    f = tmp_path / "mini.jsonl"
    f.write_text(
        '{"id": "x", "text": "Comment refaire ma carte grise après un déménagement ?", '
        '"topic": "carte_grise", "destination": "ants_3400"}\n'
    )
    guarded = eval_sets.guarded_texts([eval_sets.EvalSet("mini", f)])
    assert eval_sets.near_copy("comment refaire ma carte grise apres un demenagement", guarded) is not None
    assert eval_sets.near_copy("je cherche les horaires du guichet des armes", guarded) is None


def test_no_example_is_listed_twice():
    seen: dict[str, str] = {}
    twice = []
    for _file, intent, text in examples():
        key = norm(text)
        if key in seen:
            twice.append((text, seen[key], intent))
        seen[key] = intent
    assert twice == []


def test_the_shared_dev_sets_are_measured_and_guarded_only_where_aiguillage_dev_eval_names_them(tmp_path, monkeypatch):
    shared = tmp_path / "eval"
    shared.mkdir()
    line = '{"id": "q1", "text": "carte grise perdue", "topic": "carte_grise", "destination": "ants_3400"}\n'
    (shared / "dev_questions.jsonl").write_text(line)  # dev_user_written.jsonl absent: skipped
    monkeypatch.setenv("AIGUILLAGE_DEV_EVAL", str(shared))
    assert [s.name for s in eval_sets.available()] == ["heldout", "dev_questions"]
    assert "carte grise perdue" in eval_sets.guarded_texts()
    monkeypatch.delenv("AIGUILLAGE_DEV_EVAL")
    assert [s.name for s in eval_sets.available()] == ["heldout"]  # a fresh clone: no ../shared looked for
    assert "carte grise perdue" not in eval_sets.guarded_texts()
