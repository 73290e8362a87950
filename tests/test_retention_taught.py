"""The sentences the agents taught leave every copy of them with their review (docs/privacy.md).

A taught sentence is written outside the store: the review file the export writes (AIGUILLAGE_REVIEW_OUT,
else data/nlu_review.yml), the one in `console.measure_every` kept to measure (AIGUILLAGE_REVIEWED_SET), a
refused retrain's file. Until 2026-12-06 they left those files only at the next export, and the copies
kept beside the models (models/aiguillage.review.yml, aiguillage.previous.review.yml) only at the next
retrains, months after the review's retention period. The retention purge now takes the sentences of
the reviews it erased out of the export's files, and the models keep digests, never sentences.
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
from bot.nlu import review
from bot.nlu.review_files import store_mark
from bot.nlu.review_forget import forget_taught
from bot.services import retention
from bot.store.database import Store

pytestmark = [pytest.mark.reliability, pytest.mark.usefixtures("store_backend")]

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
OLD = "ma bagnole est chez le garagiste et le certificat n'arrive pas"  # reviewed at T0: past its period
KEPT = "j'ai perdu mon passeport dans le train"  # reviewed 100 days later: kept
PAST = T0 + timedelta(days=181)  # after retention.conversations_days and calls_days (180, cantal)


def review_of(db: Path, kind: str, item: str, when: datetime, topic: str, sentence: str) -> None:
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


def examples(path: Path) -> list[str]:
    blocks = yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"] or []
    return [line[2:] for b in blocks for line in b["examples"].splitlines() if line.startswith("- ")]


@pytest.fixture()
def deployment(tmp_path, monkeypatch) -> dict:
    """A store whose agents taught OLD (at T0) and KEPT (100 days later), exported with the product's own
    export into a deployment's layout under tmp_path; a refused retrain's file beside it."""
    out = tmp_path / "var" / "nlu_review.yml"
    measured = tmp_path / "var" / "public_reviewed.jsonl"
    monkeypatch.setenv("AIGUILLAGE_REVIEW_OUT", str(out))
    monkeypatch.setenv("AIGUILLAGE_REVIEWED_SET", str(measured))
    db = tmp_path / "store.db"
    Store(db).close()  # migrations
    review_of(db, "chat", "old-item", T0, "carte_grise", OLD)
    review_of(db, "phone", "kept-item", T0 + timedelta(days=100), "cni_passeport", KEPT)
    store = Store(db)
    # every=1 is refused by the configuration check, not by the export: here every sentence measures too.
    review.export(store, out=out, guard=[], every=0)
    review.export(store, out=tmp_path / "unused.yml", measure_out=measured, guard=[], every=1)
    store.close()
    refused = out.parent / "nlu_review.refused.yml"
    refused.write_bytes(out.read_bytes())
    assert examples(out) == [OLD, KEPT] and len(measured.read_text().splitlines()) == 2
    return {"db": db, "review": out, "refused": refused, "measured": measured}


@pytest.mark.parametrize("kind", ["chat", "phone"])
def test_a_purged_review_takes_its_taught_sentence_out_of_every_copy(tmp_path, monkeypatch, kind):
    out, measured = tmp_path / "var" / "nlu_review.yml", tmp_path / "var" / "public_reviewed.jsonl"
    monkeypatch.setenv("AIGUILLAGE_REVIEW_OUT", str(out))
    monkeypatch.setenv("AIGUILLAGE_REVIEWED_SET", str(measured))
    db = tmp_path / "store.db"
    Store(db).close()
    review_of(db, kind, "old-item", T0, "carte_grise", OLD)
    review_of(db, kind, "kept-item", T0 + timedelta(days=100), "cni_passeport", KEPT)
    pref = config.load_prefecture("cantal")
    store = Store(db)
    try:
        review.export(store, out=out, guard=[], every=0)
        review.export(store, out=tmp_path / "unused.yml", measure_out=measured, guard=[], every=1)
        refused = out.parent / "nlu_review.refused.yml"
        refused.write_bytes(out.read_bytes())
        files = [out, refused, measured]
        before = [f.read_bytes() for f in files]
        # A dry run counts the sentence and changes no file.
        assert retention.purge(store, pref, now=PAST, dry_run=True, taught=forget_taught)["taught_sentences"] == 1
        assert [f.read_bytes() for f in files] == before
        deleted = retention.purge(store, pref, now=PAST, taught=forget_taught)
        assert (deleted["reviews"], deleted["taught_sentences"]) == (1, 1)  # one sentence, in three files
        assert examples(out) == [KEPT] and examples(refused) == [KEPT]
        assert [json.loads(line)["text"] for line in measured.read_text(encoding="utf-8").splitlines()] == [KEPT]
        assert measured.stat().st_mode & 0o777 == 0o600  # the public's words: the owner's only
        # The next day, nothing left to take out: the files are not rewritten (no retraining for nothing).
        after = [f.read_bytes() for f in files]
        assert retention.purge(store, pref, now=PAST + timedelta(days=1), taught=forget_taught)["taught_sentences"] == 0
        assert [f.read_bytes() for f in files] == after
        detail = store.db.execute("select detail from audit_log where action = 'retention_purge' order by id limit 1").fetchone()[
            0
        ]
    finally:
        store.close()
    assert json.loads(detail)["tables"]["taught_sentences"] == 1  # the audit log says it


def test_a_sentence_still_taught_by_another_review_stays(tmp_path, deployment):
    """Two people wrote the same words: the sentence stays while one of their reviews is kept."""
    review_of(deployment["db"], "phone", "recent-call", T0 + timedelta(days=100), "carte_grise", OLD.upper())
    store = Store(deployment["db"])
    try:
        deleted = retention.purge(store, config.load_prefecture("cantal"), now=PAST, taught=forget_taught)
    finally:
        store.close()
    assert (deleted["reviews"], deleted["taught_sentences"]) == (1, 0)
    assert examples(deployment["review"]) == [OLD, KEPT] and examples(deployment["refused"]) == [OLD, KEPT]


def test_files_exported_from_another_store_are_left_alone(tmp_path, deployment):
    """A test's, a benchmark's or a demonstration's store, purged with the same settings, has none of the
    deployment's reviews: it must not empty the deployment's files (their `# store:` line names theirs)."""
    other = tmp_path / "other.db"
    Store(other).close()
    before = {name: deployment[name].read_bytes() for name in ("review", "refused", "measured")}
    store = Store(other)
    try:
        assert retention.purge(store, config.load_prefecture("cantal"), now=PAST, taught=forget_taught)["taught_sentences"] == 0
    finally:
        store.close()
    assert {name: deployment[name].read_bytes() for name in before} == before
    theirs = Store(deployment["db"])
    theirs.close()
    assert f"# store: {store_mark(theirs.path)}\n" in deployment["review"].read_text(encoding="utf-8")
    assert store_mark(theirs.path) != store_mark(store.path)


def test_python_m_bot_purge_takes_them_out_and_says_how_many(tmp_path, deployment):
    """The command the préfecture's cron or an admin runs (the server's daily task passes the same hook:
    bot/web/lifecycle.py), on the product's real entry point."""
    env = {k: os.environ[k] for k in ("AIGUILLAGE_REVIEW_OUT", "AIGUILLAGE_REVIEWED_SET")}
    env |= {"AIGUILLAGE_DB": str(deployment["db"]), "PATH": "/usr/bin:/bin", "PREFECTURE": "cantal"}
    if url := redirected(deployment["db"]):  # store_backend's PostgreSQL: the command opens the same schema
        env["DATABASE_URL"] = url
    run = [sys.executable, "-m", "bot", "purge", "--now", PAST.strftime("%Y-%m-%dT%H:%M")]
    done = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["rows"]["taught_sentences"] == 1
    assert examples(deployment["review"]) == [KEPT] and examples(deployment["refused"]) == [KEPT]
    lines = deployment["measured"].read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == [KEPT]


def test_a_file_that_cannot_be_read_is_said_and_the_purge_goes_on(tmp_path, deployment, caplog):
    """A review file half written: the purge erases the store's records and the other files' sentence,
    and says which file it could not rewrite."""
    deployment["refused"].write_text(deployment["refused"].read_text(encoding="utf-8")[:-20] + "\n  - [", encoding="utf-8")
    store = Store(deployment["db"])
    try:
        deleted = retention.purge(store, config.load_prefecture("cantal"), now=PAST, taught=forget_taught)
    finally:
        store.close()
    assert (deleted["reviews"], deleted["conversations"], deleted["taught_sentences"]) == (1, 1, 1)
    assert examples(deployment["review"]) == [KEPT]
    assert f"retention: {deployment['refused']} not rewritten, the taught sentences stay in it" in caplog.text


def test_the_models_keep_digests_of_what_they_were_taught_never_the_sentences(tmp_path):
    """`make train` (`review taught`) and the retrain keep beside each model what it was taught, for the
    gate, as digests: a purge could not reach a copy of the sentences there (read-only under the unit)."""
    data, model = tmp_path / "data", tmp_path / "models" / "aiguillage.tar.gz"
    data.mkdir()
    model.parent.mkdir()
    model.write_bytes(b"model")
    legacy = model.with_name("aiguillage.review.yml")  # the sentences, as kept before 2026-12-06
    legacy.write_text(f'version: "3.1"\nnlu:\n- intent: carte_grise\n  examples: |\n    - {OLD}\n', encoding="utf-8")
    (data / review.REVIEW_FILE).write_text(
        f'version: "3.1"\nnlu:\n- intent: cni_passeport\n  examples: |\n    - {KEPT}\n', encoding="utf-8"
    )
    cmd = [sys.executable, "-m", "bot", "review", "taught", "--model", str(model), "--review", str(data / review.REVIEW_FILE)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    taught = model.with_name("aiguillage.taught.json")
    digests = json.loads(taught.read_text(encoding="utf-8"))
    assert list(digests.values()) == ["cni_passeport"] and len(next(iter(digests))) == 64
    assert "perdu" not in taught.read_text(encoding="utf-8") and not legacy.exists()


def test_the_model_replaced_by_an_earlier_version_keeps_digests_too(tmp_path):
    """A deployment upgraded from a version that copied the sentences beside both models: the next
    `make train` turns the replaced model's copy into digests as well (the purge cannot reach models/)."""
    model = tmp_path / "models" / "aiguillage.tar.gz"
    model.parent.mkdir()
    old_copy = model.with_name("aiguillage.previous.review.yml")
    old_copy.write_text(f'version: "3.1"\nnlu:\n- intent: carte_grise\n  examples: |\n    - {OLD}\n', encoding="utf-8")
    missing = tmp_path / "no_review.yml"  # the model was trained without a review file
    cmd = [sys.executable, "-m", "bot", "review", "taught", "--model", str(model), "--review", str(missing)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(model.with_name("aiguillage.taught.json").read_text()) == {}
    assert json.loads(model.with_name("aiguillage.previous.taught.json").read_text()) == {review.digest(OLD): "carte_grise"}
    assert not old_copy.exists()


def test_where_no_lock_can_be_made_a_file_with_nothing_to_lose_is_only_read(tmp_path, deployment, caplog):
    """Under the service's unit data/ is read-only: the copy a deployment puts there to train is only
    read while it holds no erased review's sentence, and said in the log when it does (its lock cannot be made)."""
    lock = deployment["review"].parent / ".nlu_review.yml.lock"  # made by the export
    lock.unlink()
    lock.mkdir()  # no lock can be taken there now
    store = Store(deployment["db"])
    try:
        soon = retention.purge(store, config.load_prefecture("cantal"), now=T0 + timedelta(days=1), taught=forget_taught)
        assert soon["taught_sentences"] == 0 and "not rewritten" not in caplog.text
        past = retention.purge(store, config.load_prefecture("cantal"), now=PAST, taught=forget_taught)
    finally:
        store.close()
    assert past["taught_sentences"] == 1  # the refused file and the set lost it
    assert examples(deployment["review"]) == [OLD, KEPT] and examples(deployment["refused"]) == [KEPT]
    assert f"retention: {deployment['review']} not rewritten, the taught sentences stay in it" in caplog.text


def test_a_postgresql_store_has_one_mark_however_its_url_is_written():
    """The server's environment file and an operator's command may spell the same store differently."""
    base = "postgresql://aiguillage:secret@db.interne/aiguillage?options=-csearch_path%3Dcantal"
    same = [
        "postgresql://aiguillage:other@db.interne:5432/aiguillage?options=-c%20search_path%3Dcantal&sslmode=require",
        "postgresql://aiguillage@db.interne:5432/aiguillage?sslmode=require&options=-csearch_path%3Dcantal",
    ]
    other = [
        "postgresql://aiguillage:secret@db.interne/aiguillage?options=-csearch_path%3Dlozere",
        "postgresql://lecteur:secret@db.interne/aiguillage?options=-csearch_path%3Dcantal",
        "postgresql://aiguillage:secret@db2.interne/aiguillage?options=-csearch_path%3Dcantal",
    ]
    assert {store_mark(url) for url in same} == {store_mark(base)}
    assert len({store_mark(url) for url in [base, *other]}) == 4
    # libpq's own parameters in the query win over the URL's; unquoted schema names fold to lower case
    assert store_mark("postgresql://u@h/db?port=5433") == store_mark("postgresql://u@h:5433/db")
    assert store_mark("postgresql://u@[::1]/db") == store_mark("postgresql://u@[::1]:5432/db")
    assert store_mark(base.replace("cantal", "CANTAL")) == store_mark(base)
    apart = [
        "postgresql://u@h/db?host=/run/pgA",
        "postgresql://u@h/db?host=/run/pgB",
        "postgresql://u@h/db?dbname=bench",
        "postgresql://u@h/db?service=prod",
        "postgresql://u@h/db?options=-csearch_path%3Dmy-cantal",
        "postgresql://u@h/db?options=-csearch_path%3Dmy-calvados",
        "postgresql://u@h1:5432,h2/db",
    ]
    assert len({store_mark(url) for url in apart}) == len(apart)
    assert store_mark("postgresql://u@H:05432/db") == store_mark("postgresql://u@h/db")
    assert store_mark("postgresql://u@h1,h2/db?port=5433,5434") == store_mark("postgresql://u@h1:5433,h2:5434/db")
    assert store_mark("postgresql://u@h1:5434,h2/db?port=5433") != store_mark("postgresql://u@h1:5434/db")
    last = "postgresql://u@h/db?options=-csearch_path%3Da%20-csearch_path%3Db"
    assert store_mark(last) == store_mark("postgresql://u@h/db?options=-csearch_path%3Db")


def test_make_setup_turns_an_earlier_versions_copies_into_digests_without_a_training(tmp_path):
    """After an upgrade that retrains nothing, `make setup` (`review taught --legacy-only`) still leaves no
    sentence beside the models; digests newer than a copy win over it."""
    model = tmp_path / "models" / "aiguillage.tar.gz"
    model.parent.mkdir()
    model.with_name("aiguillage.taught.json").write_text('{"abc": "armes"}')
    model.with_name("aiguillage.review.yml").write_text(
        f'version: "3.1"\nnlu:\n- intent: carte_grise\n  examples: |\n    - {OLD}\n'
    )
    model.with_name("aiguillage.previous.review.yml").write_text(
        f'version: "3.1"\nnlu:\n- intent: cni_passeport\n  examples: |\n    - {KEPT}\n'
    )
    stale = model.with_name("aiguillage.review.yml").stat().st_mtime - 3600
    os.utime(model.with_name("aiguillage.review.yml"), (stale, stale))  # older than the digests beside it
    cmd = [sys.executable, "-m", "bot", "review", "taught", "--legacy-only", "--model", str(model)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in model.parent.iterdir()) == ["aiguillage.previous.taught.json", "aiguillage.taught.json"]
    assert json.loads(model.with_name("aiguillage.taught.json").read_text()) == {"abc": "armes"}
    assert json.loads(model.with_name("aiguillage.previous.taught.json").read_text()) == {review.digest(KEPT): "cni_passeport"}


def test_a_lock_held_elsewhere_delays_the_purge_a_bounded_time_then_it_goes_on(tmp_path, deployment, caplog, monkeypatch):
    """An export paused by hand holds the review file's lock: the purge waits at most LOCK_WAIT_S, says the
    file was not rewritten, erases the store's records and the other files' sentence, and ends."""
    import fcntl

    from bot.nlu import review_forget

    monkeypatch.setattr(review_forget, "LOCK_WAIT_S", 0.5)
    held = os.open(deployment["review"].parent / ".nlu_review.yml.lock", os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    store = Store(deployment["db"])
    try:
        deleted = retention.purge(store, config.load_prefecture("cantal"), now=PAST, taught=forget_taught)
    finally:
        store.close()
        os.close(held)
    assert (deleted["conversations"], deleted["taught_sentences"]) == (1, 1)  # the refused file and the set
    assert examples(deployment["review"]) == [OLD, KEPT] and examples(deployment["refused"]) == [KEPT]
    assert f"retention: {deployment['review']} not rewritten, the taught sentences stay in it:" in caplog.text
    assert "held for more than 0.5 s" in caplog.text
