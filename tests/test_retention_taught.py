"""The sentences the agents taught leave every copy of them with their review (docs/privacy.md).

A taught sentence is written outside the store: the review file of `data/` (AIGUILLAGE_REVIEW_OUT), the
one in `console.measure_every` kept to measure (AIGUILLAGE_REVIEWED_SET), the review file kept beside the
model in service and beside the model it replaced, and a refused retrain's file. Until 2026-12-06 they
left those files only at the next export or the next retrains, months after the review's retention
period: the retention purge now removes from each the sentences of the reviews it erased.
"""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from store_backends import connect, redirected

from bot.core import config
from bot.nlu.review import forget_taught
from bot.services import retention
from bot.store.database import Store

pytestmark = [pytest.mark.reliability, pytest.mark.usefixtures("store_backend")]

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
OLD = "ma bagnole est chez le garagiste et le certificat n'arrive pas"  # reviewed at T0: past its period
KEPT = "j'ai perdu mon passeport dans le train"  # reviewed 100 days later: kept


def review(db: Path, kind: str, item: str, when: datetime, topic: str, sentence: str) -> None:
    """A conversation (or a call) at `when`, and an agent's review of it taught as `topic`."""
    s = when.isoformat(timespec="milliseconds")
    conn = connect(db)
    with conn:
        if kind == "chat":
            conn.execute(
                "insert into conversations (id, channel, prefecture, started_at, updated_at, turns, misses, status)"
                " values (?, 'web', 'cantal', ?, ?, 1, 1, 'open')",
                [item, s, s],
            )
        else:
            conn.execute(
                "insert into calls (call_sid, prefecture, caller, started_at, updated_at, ended_at, inputs)"
                " values (?, 'cantal', '[téléphone]', ?, ?, ?, '[]')",
                [item, s, s, s],
            )
        conn.execute(
            "insert into reviews (kind, item_id, status, topic, example, as_training, note, reviewer, updated_at)"
            " values (?, ?, 'done', ?, ?, 1, '', 'agent1', ?)",
            [kind, item, topic, sentence, s],
        )
    conn.close()


def rasa_file(*pairs: tuple[str, str]) -> str:
    lines = ['version: "3.1"', "nlu:"]
    for intent, text in pairs:
        lines += [f"- intent: {intent}", "  examples: |", f"    - {text}"]
    return "\n".join(lines) + "\n"


def examples(path: Path) -> list[str]:
    blocks = yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"] or []
    return [line[2:] for b in blocks for line in b["examples"].splitlines() if line.startswith("- ")]


@pytest.fixture()
def copies(tmp_path, monkeypatch) -> dict[str, Path]:
    """Every file a taught sentence is copied to, in a deployment's layout under tmp_path, each holding
    OLD and KEPT as the export, `make train` and the retrain leave them."""
    paths = {
        "review": tmp_path / "data" / "nlu_review.yml",
        "in_service": tmp_path / "models" / "aiguillage.review.yml",
        "replaced": tmp_path / "models" / "aiguillage.previous.review.yml",
        "refused": tmp_path / "var" / "nlu_review.refused.yml",
    }
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rasa_file(("carte_grise", OLD), ("cni_passeport", KEPT)), encoding="utf-8")
    measured = tmp_path / "var" / "public_reviewed.jsonl"
    lines = [
        {"id": "rv-0000000001", "text": OLD, "topic": "carte_grise", "destination": "ants_3400", "kind": "user_written"},
        {"id": "rv-0000000002", "text": KEPT, "topic": "cni_passeport", "destination": "ants_3400", "kind": "user_written"},
    ]
    measured.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in lines), encoding="utf-8")
    paths["measured"] = measured
    monkeypatch.setenv("AIGUILLAGE_REVIEW_OUT", str(paths["review"]))
    monkeypatch.setenv("AIGUILLAGE_REVIEWED_SET", str(measured))
    monkeypatch.setenv("AIGUILLAGE_MODEL", str(tmp_path / "models" / "aiguillage.tar.gz"))
    return paths


@pytest.mark.parametrize("kind", ["chat", "phone"])
def test_a_purged_review_takes_its_taught_sentence_out_of_every_copy(tmp_path, copies, kind):
    db = tmp_path / "store.db"
    Store(db).close()  # migrations
    review(db, kind, "old-item", T0, "carte_grise", OLD)
    review(db, kind, "kept-item", T0 + timedelta(days=100), "cni_passeport", KEPT)
    pref = config.load_prefecture("cantal")
    later = T0 + timedelta(days=int(pref.get("retention.conversations_days")) + 1)
    before = {name: path.read_bytes() for name, path in copies.items()}
    store = Store(db)
    try:
        # A dry run counts the sentence and changes no file.
        assert retention.purge(store, pref, now=later, dry_run=True, taught=forget_taught)["taught_sentences"] == 1
        assert {name: path.read_bytes() for name, path in copies.items()} == before
        deleted = retention.purge(store, pref, now=later, taught=forget_taught)
        assert (deleted["reviews"], deleted["taught_sentences"]) == (1, 1)  # one sentence, in five files
        for name in ("review", "in_service", "replaced", "refused"):
            assert examples(copies[name]) == [KEPT], name
        measured = [json.loads(line) for line in copies["measured"].read_text(encoding="utf-8").splitlines()]
        assert measured == [
            {"id": "rv-0000000002", "text": KEPT, "topic": "cni_passeport", "destination": "ants_3400", "kind": "user_written"}
        ]
        assert copies["measured"].stat().st_mode & 0o777 == 0o600  # the public's words: the owner's only
        # The next day, nothing left to take out: the files are not rewritten (no retraining for nothing).
        after = {name: path.read_bytes() for name, path in copies.items()}
        assert retention.purge(store, pref, now=later + timedelta(days=1), taught=forget_taught)["taught_sentences"] == 0
        assert {name: path.read_bytes() for name, path in copies.items()} == after
        detail = store.db.execute("select detail from audit_log where action = 'retention_purge' order by id limit 1").fetchone()[
            0
        ]
    finally:
        store.close()
    assert json.loads(detail)["tables"]["taught_sentences"] == 1  # the audit log says it


def test_a_sentence_still_taught_by_another_review_stays(tmp_path, copies):
    """Two people wrote the same words: the sentence stays while one of their reviews is kept."""
    db = tmp_path / "store.db"
    Store(db).close()
    review(db, "chat", "old-item", T0, "carte_grise", OLD)
    review(db, "phone", "recent-call", T0 + timedelta(days=100), "carte_grise", OLD.upper())
    review(db, "chat", "kept-item", T0 + timedelta(days=100), "cni_passeport", KEPT)
    pref = config.load_prefecture("cantal")
    store = Store(db)
    try:
        later = T0 + timedelta(days=int(pref.get("retention.conversations_days")) + 1)
        deleted = retention.purge(store, pref, now=later, taught=forget_taught)
    finally:
        store.close()
    assert (deleted["reviews"], deleted["taught_sentences"]) == (1, 0)
    for name in ("review", "in_service", "replaced", "refused"):
        assert examples(copies[name]) == [OLD, KEPT], name


def test_python_m_bot_purge_takes_them_out_and_says_how_many(tmp_path, copies):
    """The command the préfecture's cron or an admin runs (and the server's daily task, which passes the
    same hook: bot/web/lifecycle.py), on the product's real entry point."""
    db = tmp_path / "store.db"
    Store(db).close()
    review(db, "chat", "old-item", T0, "carte_grise", OLD)
    review(db, "chat", "kept-item", T0 + timedelta(days=100), "cni_passeport", KEPT)
    env = {k: os.environ[k] for k in ("AIGUILLAGE_REVIEW_OUT", "AIGUILLAGE_REVIEWED_SET", "AIGUILLAGE_MODEL")}
    env |= {"AIGUILLAGE_DB": str(db), "PATH": "/usr/bin:/bin", "PREFECTURE": "cantal"}
    if url := redirected(db):  # store_backend's PostgreSQL: the command opens the same schema
        env["DATABASE_URL"] = url
    run = [sys.executable, "-m", "bot", "purge", "--now", "2026-09-07T12:00"]  # T0 + 181 days
    done = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["rows"]["taught_sentences"] == 1
    for name in ("review", "in_service", "replaced", "refused"):
        assert examples(copies[name]) == [KEPT], name
    assert [json.loads(line)["text"] for line in copies["measured"].read_text(encoding="utf-8").splitlines()] == [KEPT]
