"""Console data without a server: the 003 migration on an old database, the export, the retrain gate."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from conftest import ROOT
from store_backends import ALL_ON_POSTGRESQL

from bot.nlu import eval_sets
from bot.nlu.eval_sets import EvalSet
from bot.nlu.review import export, gate
from bot.nlu.review_files import store_mark
from bot.store import database as store_mod
from bot.store.database import Store

pytestmark = pytest.mark.usefixtures("store_backend")  # SQLite and PostgreSQL (tests/store_backends.py)


@pytest.mark.sqlite_only  # builds the old schema in a SQLite file by hand
@pytest.mark.skipif(
    ALL_ON_POSTGRESQL,
    reason="AIGUILLAGE_TEST_STORE=postgresql: a SQLite file of the schema before migration 003, built by hand;"
    " no PostgreSQL store has that schema (PostgreSQL came with issue 16: every migration applied from the first)",
)
def test_migration_003_keeps_data_of_a_database_made_by_the_previous_schema(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(str(path)))
    db["migrations"].create({"name": str, "applied_at": str}, pk="name")
    for name, step in store_mod.MIGRATIONS[:2]:  # the schema as shipped before the console
        assert name in ("001_conversations_and_turns", "002_calls_and_voicemails")
        step(db)
        db["migrations"].insert({"name": name, "applied_at": "2026-01-01T00:00:00.000+00:00"})
    db["conversations"].insert(
        {
            "id": "old-1",
            "channel": "web",
            "prefecture": "cantal",
            "started_at": "2026-01-01",
            "updated_at": "2026-01-01",
            "turns": 1,
            "misses": 2,
            "last_topic": None,
            "last_destination": "human",
            "status": "unresolved",
        }
    )
    db["turns"].insert(
        {
            "conversation_id": "old-1",
            "ts": "2026-01-01",
            "channel": "web",
            "text": "blabla",
            "topic": None,
            "confidence": 0.1,
            "destination": None,
            "node": None,
            "action": "fallback",
            "resolved": 0,
        }
    )
    db["calls"].insert({"call_sid": "CAold", "prefecture": "cantal", "unresolved": 1, "path": "[]", "inputs": "[]"})
    db.conn.commit()
    db.conn.close()

    store = Store(path)
    names = [r["name"] for r in store.db["migrations"].rows_where(order_by="name")]
    assert names[:3] == ["001_conversations_and_turns", "002_calls_and_voicemails", "003_console"]
    assert store.turns("old-1")[0]["text"] == "blabla"
    assert store.conversation("old-1")["status"] == "unresolved"
    assert store.db["calls"].get("CAold")["unresolved"] == 1
    assert {"agents", "sessions", "reviews", "audit_log"} <= set(store.db.table_names())
    assert store.migrate() == []  # applied once
    store.close()


@pytest.mark.sqlite_only  # builds the schema before migration 017 in a SQLite file by hand
@pytest.mark.skipif(ALL_ON_POSTGRESQL, reason="AIGUILLAGE_TEST_STORE=postgresql: a SQLite file built by hand")
def test_calls_corrected_before_migration_017_get_the_topic_answered(tmp_path):
    """The view of the corrections filters calls by the topic their words were answered
    (`calls.corrected_topic`): a call corrected before that column gets it from its inputs (the last
    correction's), one without a correction none."""
    path = tmp_path / "before-017.db"
    db = sqlite_utils.Database(sqlite3.connect(str(path)))
    db["migrations"].create({"name": str, "applied_at": str}, pk="name")
    names = [name for name, _ in store_mod.MIGRATIONS]
    for name, step in store_mod.MIGRATIONS[: names.index("017_calls_corrected_topic")]:
        step(db)
        db["migrations"].insert({"name": name, "applied_at": "2026-01-01T00:00:00.000+00:00"})
    twice = [
        {"step": 1, "speech": "mon permis", "topic": "permis_conduire", "answered": True},
        {"step": 2, "corrects": "permis_conduire", "topic": "rdv_pan"},
        {"step": 3, "speech": "ma carte grise", "topic": "carte_grise", "answered": True},
        {"step": 4, "corrects": "carte_grise", "topic": "permis_conduire"},
    ]
    for sid, inputs, corrected in (("CAtwice", twice, 1), ("CAnone", [{"step": 1, "digits": "1"}], 0)):
        db["calls"].insert(
            {
                "call_sid": sid,
                "prefecture": "cantal",
                "unresolved": 0,
                "path": "[]",
                "inputs": json.dumps(inputs),
                "corrected": corrected,
            }
        )
    db.conn.commit()
    db.conn.close()
    store = Store(path)  # applies 017
    try:
        assert {r["call_sid"]: r["corrected_topic"] for r in store.db.query("select call_sid, corrected_topic from calls")} == {
            "CAtwice": "carte_grise",
            "CAnone": None,
        }
    finally:
        store.close()


def _review(store: Store, item: str, topic: str, example: str, as_training: int = 1) -> None:
    store.db["reviews"].insert(
        {
            "kind": "chat",
            "item_id": item,
            "status": "done",
            "topic": topic,
            "example": example,
            "as_training": as_training,
            "note": None,
            "reviewer": "t",
            "updated_at": "x",
        }
    )


def test_export_writes_rasa_format_without_duplicates(tmp_path):
    guard = tmp_path / "eval.jsonl"
    guard.write_text(
        '{"id": "q1", "text": "Carte grise : comment justifier de son domicile en France ?", '
        '"topic": "carte_grise", "destination": "ants_3400"}\n'
    )
    store = Store(tmp_path / "s.db")
    _review(store, "a", "carte_grise", "zorglub vend sa guimbarde")
    _review(store, "b", "carte_grise", "ZORGLUB vénd sa  guimbarde")  # same after folding
    _review(store, "c", "permis_conduire", "Duplicata CG")  # already in data/nlu.yml
    _review(store, "d", "carte_grise", "Carte grise : comment justifier son domicile en France")  # near an eval question
    _review(store, "e", "armes", "mon fusil de grand-pere herite")
    _review(store, "f", "armes", "pas un exemple", as_training=0)
    _review(store, "g", "inconnu", "sujet inexistant")
    out = tmp_path / "data" / "nlu_review.yml"
    result = export(store, out=out, data_dir=ROOT / "data", guard=[EvalSet("eval", guard)], every=0)  # all teach
    assert result["written"] == {"armes": 1, "carte_grise": 1}
    assert result["skipped"] == {"in_data": 1, "duplicate": 1, "near_eval_question": 1, "invalid": 1}
    assert out.read_text() == (
        'version: "3.1"\n'
        "# Written by `python -m bot review export` from the agents' reviews: do not edit by hand.\n"
        f"# store: {store_mark(store.path)}\n"  # the retention purge rewrites only its own store's files
        "nlu:\n"
        "- intent: armes\n"
        "  examples: |\n"
        "    - mon fusil de grand-pere herite\n"
        "- intent: carte_grise\n"
        "  examples: |\n"
        "    - zorglub vend sa guimbarde\n"
    )
    assert yaml.safe_load(out.read_text())["nlu"][1]["intent"] == "carte_grise"
    again = export(
        store, out=out, data_dir=ROOT / "data", guard=[EvalSet("eval", guard)], every=0
    )  # its own previous output is not "already in data"
    assert again["written"] == {"armes": 1, "carte_grise": 1}
    store.close()


def test_one_taught_sentence_in_five_measures_the_assistant_instead_and_stays_on_its_side(tmp_path):
    """The public's own words are the set the assistant must be measured on (issue 15): one taught
    sentence in `console.measure_every` (5) is kept in var/public_reviewed.jsonl instead of the review
    file, chosen by its text (the same at every export, whatever was purged meanwhile). A topic with one
    destination only: a file's follow-up (its document's destination) and a request naming no procedure
    teach. No sentence that teaches may be a copy or a near copy of one that measures."""
    store = Store(tmp_path / "s.db")
    _review(store, "a", "carte_grise", "zorglub vend sa guimbarde")
    _review(store, "b", "armes", "mon fusil de grand-pere herite")  # measures
    _review(store, "c", "armes", "pistolet de mon pere decede")  # measures
    _review(store, "d", "armes", "le pistolet de mon pere decede")  # teaches, but near c
    _review(store, "e", "suivi_dossier", "j'ai pas recu mon passeport")  # chosen, but a follow-up
    _review(store, "f", "vague_request", "c'est pour ma fille")  # chosen, but no procedure named
    _review(store, "g", "armes", "Mon fusil de grand-père hérité")  # b's sentence again
    out = tmp_path / "data" / "nlu_review.yml"
    measure_file = tmp_path / "var" / "public_reviewed.jsonl"
    result = export(store, out=out, data_dir=ROOT / "data", guard=[], measure_out=measure_file)
    assert result == {
        "file": str(out),
        "written": {"carte_grise": 1, "suivi_dossier": 1, "vague_request": 1},
        "measured": {"armes": 2},
        "measure_file": str(measure_file),
        "every": 5,
        "skipped": {"in_data": 0, "duplicate": 1, "near_eval_question": 1, "invalid": 0},
    }
    examples = [line[6:] for line in out.read_text().splitlines() if line.startswith("    - ")]
    assert examples == ["zorglub vend sa guimbarde", "j'ai pas recu mon passeport", "c'est pour ma fille"]
    assert [json.loads(line) for line in measure_file.read_text().splitlines()] == [
        {
            "id": "rv-36c66c15d2",
            "text": "mon fusil de grand-pere herite",
            "topic": "armes",
            "destination": "mailbox",
            "store": store_mark(store.path),  # the retention purge takes out only its own store's
            "kind": "user_written",
        },
        {
            "id": "rv-df06a6f267",
            "text": "pistolet de mon pere decede",
            "topic": "armes",
            "destination": "mailbox",
            "store": store_mark(store.path),  # the retention purge takes out only its own store's
            "kind": "user_written",
        },
    ]
    assert measure_file.stat().st_mode & 0o777 == 0o600  # the public's words, masked: the owner's only
    assert [s.name for s in eval_sets.reviewed_sets(measure_file)] == ["public_reviewed"]
    # the same at the next export; b and g purged, their sentence leaves the set and teaches nowhere
    assert export(store, out=out, data_dir=ROOT / "data", guard=[], measure_out=measure_file)["measured"] == {"armes": 2}
    store.db.execute("delete from reviews where item_id in ('b', 'g')")
    again = export(store, out=out, data_dir=ROOT / "data", guard=[], measure_out=measure_file)
    assert (again["written"], again["measured"]) == ({"carte_grise": 1, "suivi_dossier": 1, "vague_request": 1}, {"armes": 1})
    assert [json.loads(line)["text"] for line in measure_file.read_text().splitlines()] == ["pistolet de mon pere decede"]
    # 0: every sentence teaches (c, and d, no longer near a sentence that measures), and the set is gone
    off = export(store, out=out, data_dir=ROOT / "data", guard=[], every=0, measure_out=measure_file)
    assert (off["written"]["armes"], off["measured"], measure_file.exists()) == (2, {}, False)
    assert eval_sets.reviewed_sets(measure_file) == []
    store.close()


def test_a_sentence_near_a_training_example_teaches_rather_than_flatter_the_measure(tmp_path):
    """Chosen to measure, but a near copy of an example of data/: what measures is never trained on, so
    it teaches (it adds little) instead."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "nlu.yml").write_text('version: "3.1"\nnlu:\n- intent: armes\n  examples: |\n    - le pistolet de mon pere decede\n')
    store = Store(tmp_path / "s.db")
    _review(store, "c", "armes", "pistolet de mon pere decede")  # chosen by its text
    measure_file = tmp_path / "var" / "public_reviewed.jsonl"
    result = export(store, out=data / "nlu_review.yml", data_dir=data, guard=[], measure_out=measure_file)
    assert (result["written"], result["measured"], measure_file.exists()) == ({"armes": 1}, {}, False)
    store.close()


def train_a_stand_in(monkeypatch, hits=None) -> None:
    """The retrain without Rasa: its training writes a stand-in model, and each model routes the sets as
    `hits(model, measured)` says (default: every question right)."""
    from bot.nlu import review

    def fake_train(data_dir, out_dir):
        (out_dir / "aiguillage.tar.gz").write_bytes(b"new")
        return out_dir / "aiguillage.tar.gz"

    monkeypatch.setattr(review, "train", fake_train)
    monkeypatch.setattr(
        review,
        "destination_hits",
        lambda model, measured, pref=None: (hits or (lambda m, sets: {n: [True] for n in sets}))(model, measured),
    )


def test_the_retrain_gate_measures_the_publics_reviewed_words_with_the_other_sets(tmp_path, monkeypatch):
    """The gate measures the reviewed words with every other set (AIGUILLAGE_REVIEWED_SET, where the
    export keeps them), but not a sentence the model in service was taught (its review file, kept beside
    it): kept to measure since (console.measure_every set or changed), it would favour that model."""
    from bot.nlu import review

    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    monkeypatch.setenv("AIGUILLAGE_REVIEWED_SET", str(tmp_path / "var" / "public_reviewed.jsonl"))
    store = Store(tmp_path / "s.db")
    _review(store, "b", "armes", "mon fusil de grand-pere herite")
    _review(store, "c", "armes", "pistolet de mon pere decede")
    assert export(store, out=data / review.REVIEW_FILE, data_dir=data, guard=[])["measured"] == {"armes": 2}
    store.close()
    target = tmp_path / "models" / "aiguillage.tar.gz"
    target.parent.mkdir()
    target.write_bytes(b"model in service")
    # It was taught c before c was kept to measure (the sentences beside it, as versions before 2026-12-06
    # kept them; now their digests: the gate reads both)
    (target.parent / "aiguillage.review.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: armes\n  examples: |\n    - pistolet de mon pere decede\n'
    )

    measured_on = {}
    train_a_stand_in(
        monkeypatch, lambda model, measured: measured_on.update(measured) or {n: [True] * len(i) for n, i in measured.items()}
    )
    said = []
    assert review.retrain(data, target, log=said.append) == 0
    assert [i["text"] for i in measured_on["public_reviewed"]] == ["mon fusil de grand-pere herite"]
    assert "public_reviewed (1 question)" in said[0] and "heldout (257 questions)" in said[0]


def test_export_teaches_requests_that_name_no_procedure_to_the_models_own_intent(tmp_path):
    store = Store(tmp_path / "s.db")
    _review(store, "a", "vague_request", "bonjour c'est pour ma fille")
    out = tmp_path / "data" / "nlu_review.yml"
    result = export(store, out=out, data_dir=ROOT / "data", guard=[])
    assert result["written"] == {"vague_request": 1}
    assert "- intent: vague_request\n  examples: |\n    - bonjour c'est pour ma fille\n" in out.read_text()
    store.close()


def test_export_with_nothing_to_teach_is_a_valid_empty_file(tmp_path):
    store = Store(tmp_path / "s.db")
    out = tmp_path / "nlu_review.yml"
    assert export(store, out=out)["written"] == {}
    assert yaml.safe_load(out.read_text()) == {"version": "3.1", "nlu": []}
    store.close()


def test_export_never_writes_rasas_entity_markup_nor_the_maskings_placeholders(tmp_path):
    """The public's own brackets and braces ("ma [carte grise]{perdue}", a masked plate followed by
    "{urgent}") were written as Rasa's entity markup: the export said "0 invalide(s)" and every
    training, `make run` included, then failed (an outside-in audit). The masking's placeholders go too:
    the tokenizer drops them at training anyway."""
    store = Store(tmp_path / "s.db")
    _review(store, "a", "carte_grise", "ma [carte grise]{perdue} je fais comment")
    _review(store, "b", "carte_grise", "j'ai perdu ma plaque [immatriculation]{urgent}")
    _review(store, "c", "titre_sejour", "titre de sejour [expiré][aide] (urgent)")
    _review(store, "d", "carte_grise", "[immatriculation]")  # nothing of the person's own left
    out = tmp_path / "data" / "nlu_review.yml"
    result = export(store, out=out, data_dir=ROOT / "data", guard=[], every=0)  # all teach
    assert result["written"] == {"carte_grise": 2, "titre_sejour": 1} and result["skipped"]["invalid"] == 1
    examples = [line[6:] for line in out.read_text().splitlines() if line.startswith("    - ")]
    assert examples == [
        "j'ai perdu ma plaque urgent",
        "ma carte grise perdue je fais comment",
        "titre de sejour expiré aide (urgent)",
    ]
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    read = RasaYAMLReader().read(out)
    assert sorted(m.get("text") for m in read.training_examples) == sorted(examples)
    assert all(not m.get("entities") for m in read.training_examples)
    store.close()


def hits(right: int, total: int = 100) -> list[bool]:
    return [True] * right + [False] * (total - right)


def test_retrain_gate_compares_the_models_question_by_question_over_every_set():
    """Every set the gate measures counts (the in-repository ones, not the held-out set alone: an audit
    taught 50 carte grise questions as a residence permit and the held-out set did not move). Paired,
    over all the sets: refused when the new model loses 3 questions or more than it wins (one taught
    sentence moved 1 question of 1,265; 30 wrong labels, 11 lost for 4 won)."""
    assert gate({"heldout": (hits(80), hits(82)), "dev_questions": (hits(90), hits(90))}, force=False) == (
        True,
        (
            "Exactitude des destinations : heldout 0.800 -> 0.820 (en tout 170 -> 172 questions bien "
            "orientées sur 200 : 0 perdues, 2 gagnées). Le nouveau modèle est installé."
        ),
    )
    # Two lost, or many each way: installed; three lost: refused.
    assert gate({"a": (hits(90), hits(89)), "b": (hits(90), hits(89))}, force=False)[0] is True
    assert gate({"a": (hits(90), hits(80)), "b": (hits(80), hits(89))}, force=False)[0] is True
    assert gate({"a": (hits(90), hits(88)), "b": (hits(90), hits(89))}, force=False)[0] is False
    # Many lost for few won: refused, with what moved.
    refused = gate({"heldout": (hits(80), hits(82)), "dev_questions": (hits(90), hits(80))}, force=False)
    assert refused == (
        False,
        (
            "Réentraînement refusé : l'exactitude des destinations baisserait (heldout 0.800 -> 0.820, "
            "dev_questions 0.900 -> 0.800 ; en tout 170 -> 162 questions bien orientées sur 200 : 10 perdues, "
            "2 gagnées). Le modèle en service est conservé, et les phrases refusées sont mises de côté dans "
            "var/nlu_review.refused.yml. Corrigez les révisions dans la console, ou relancez avec --force."
        ),
    )
    spread = {f"set{i}": (hits(90), hits(88)) for i in range(4)}  # two lost in each set: 8 in all, none won
    assert gate(spread, force=False)[0] is False
    forced = gate({"heldout": (hits(80), hits(70))}, force=True)
    assert forced[0] is True and forced[1].startswith("Exactitude des destinations en baisse : heldout 0.800 -> 0.700")
    assert forced[1].endswith("Remplacement forcé (--force) : le nouveau modèle est installé.")
    assert gate({"heldout": (None, hits(5, 10))}, force=False) == (
        True,
        ("Aucun modèle en service : le nouveau modèle est installé (exactitude des destinations : heldout 0.500)."),
    )


def test_a_refused_retrain_sets_its_sentences_aside_and_an_installed_one_keeps_the_previous_model(tmp_path, monkeypatch):
    """Refused, the review file stayed in data/: the next `make train` (and `make run`) installed the
    refused model without any gate (an outside-in audit). It now goes to var/, and the review file of
    the model in service comes back. Installed: the model replaced is kept as `.previous`, and the
    message says the server must be restarted (it keeps the model it loaded)."""
    from bot.nlu import review

    root = tmp_path / "repo"
    data = root / "data"
    shutil.copytree(ROOT / "data", data)
    target = root / "models" / "aiguillage.tar.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"model in service")
    questions = tmp_path / "set.jsonl"
    questions.write_text('{"id": "q1", "text": "zorglub", "topic": "carte_grise", "destination": "ants_3400"}\n')
    accuracy = {}

    def fake_train(data_dir, out_dir):
        model = out_dir / "aiguillage.tar.gz"
        model.write_bytes((data_dir / review.REVIEW_FILE).read_bytes())
        return model

    monkeypatch.setattr(review, "train", fake_train)
    monkeypatch.setattr(
        review,
        "destination_hits",
        lambda model, measured, pref=None: {n: accuracy[Path(model).read_bytes()[:5]] for n in measured},
    )
    said = []
    sets = [EvalSet("set", questions)]
    good = 'version: "3.1"\n# good\nnlu:\n- intent: armes\n  examples: |\n    - mon fusil de grand-pere herite\n'
    (data / review.REVIEW_FILE).write_text(good)
    accuracy.update({b"model": [True, False, False, False], b"versi": [True, True, True, True]})
    assert review.retrain(data, target, sets=sets, log=said.append) == 0
    assert (
        target.read_bytes().startswith(b"version")
        and (root / "models" / "aiguillage.previous.tar.gz").read_bytes() == b"model in service"
    )
    assert said[-1].startswith("Redémarrez le serveur pour mettre le nouveau modèle en service")
    # what it was taught, as digests (never the sentences: docs/privacy.md)
    taught = json.loads((root / "models" / "aiguillage.taught.json").read_text())
    assert taught == {review.digest("mon fusil de grand-pere herite"): "armes"}

    bad = good + "- intent: carte_grise\n  examples: |\n    - zorglub vend sa guimbarde\n"
    (data / review.REVIEW_FILE).write_text(bad.replace("# good", "# bad"))
    installed = target.read_bytes()
    monkeypatch.setattr(
        review, "destination_hits", lambda model, measured, pref=None: {n: [Path(model) == target] * 10 for n in measured}
    )
    assert review.retrain(data, target, sets=sets, log=said.append) == 1
    assert said[-1].startswith("Réentraînement refusé")
    assert target.read_bytes() == installed
    assert (root / "var" / "nlu_review.refused.yml").read_text() == bad.replace("# good", "# bad")
    # what the model in service was taught: the refused file's sentences it knows (digests), no other
    restored = yaml.safe_load((data / review.REVIEW_FILE).read_text())["nlu"]
    assert restored == [{"intent": "armes", "examples": "- mon fusil de grand-pere herite\n"}]


def test_the_model_replaced_keeps_its_taught_sentences_and_a_broken_file_of_them_stops_nothing(tmp_path, monkeypatch):
    """Installed, what the new model was taught is kept beside it, and the replaced one's beside
    `.previous` (the gate leaves those sentences out when it measures that model), as digests. A file of
    them beside the model in service that cannot be read (half written) is said, and the retrain goes on."""
    from bot.nlu import review

    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    target = tmp_path / "models" / "aiguillage.tar.gz"
    target.parent.mkdir()
    target.write_bytes(b"model in service")
    (target.parent / "aiguillage.taught.json").write_text('{"0b4')  # half written
    (data / review.REVIEW_FILE).write_text('version: "3.1"\nnlu:\n- intent: armes\n  examples: |\n    - mon fusil rouille\n')
    questions = tmp_path / "set.jsonl"
    questions.write_text('{"id": "q1", "text": "zorglub", "topic": "carte_grise", "destination": "ants_3400"}\n')

    train_a_stand_in(monkeypatch)
    said = []
    assert review.retrain(data, target, sets=[EvalSet("set", questions)], log=said.append) == 0
    assert said[0].startswith(
        f"Fichier des phrases apprises au modèle en service illisible ({target.parent / 'aiguillage.taught.json'} : "
    ) and said[0].endswith("les questions qu'on lui a apprises ne sont pas écartées de la mesure.")
    assert said[1] == "Mesure sur : set (1 question)"
    assert (target.parent / "aiguillage.previous.taught.json").read_text() == '{"0b4'
    assert json.loads((target.parent / "aiguillage.taught.json").read_text()) == {review.digest("mon fusil rouille"): "armes"}


def test_a_refused_retrain_whose_model_in_service_cannot_say_what_it_was_taught_sets_the_file_aside_whole(tmp_path, monkeypatch):
    """Refused, the review file becomes what the model in service was taught; when that cannot be read
    (a half-written file of digests), the whole file goes aside and the admin is told to export again
    (a found defect: the file was emptied and nothing said so)."""
    from bot.nlu import review

    data = tmp_path / "repo" / "data"
    shutil.copytree(ROOT / "data", data)
    target = tmp_path / "repo" / "models" / "aiguillage.tar.gz"
    target.parent.mkdir()
    target.write_bytes(b"model in service")
    (target.parent / "aiguillage.taught.json").write_text('{"0b4')  # half written
    refused = 'version: "3.1"\nnlu:\n- intent: armes\n  examples: |\n    - mon fusil rouille\n'
    (data / review.REVIEW_FILE).write_text(refused)
    questions = tmp_path / "set.jsonl"
    questions.write_text('{"id": "q1", "text": "zorglub", "topic": "carte_grise", "destination": "ants_3400"}\n')
    train_a_stand_in(monkeypatch, lambda model, sets: {n: [Path(model) == target] * 5 for n in sets})
    said = []
    assert review.retrain(data, target, sets=[EvalSet("set", questions)], log=said.append) == 1
    aside = tmp_path / "repo" / "var" / "nlu_review.refused.yml"
    assert aside.read_text() == refused and not (data / review.REVIEW_FILE).exists()
    assert said[-1] == (
        f"Ce que le modèle en service a appris ne peut pas être relu : le fichier {data / review.REVIEW_FILE} est"
        f" mis de côté en entier dans {aside}. Un nouvel export depuis la console remettra aussi les phrases"
        " refusées : réentraînez alors avec « python -m bot review retrain », qui les mesure, et non « make train »"
        " ni « make run »."
    )
    assert sum(line.startswith("Fichier des phrases apprises au modèle en service illisible") for line in said) == 1


def test_a_first_model_installed_names_no_previous_one(tmp_path, monkeypatch):
    from bot.nlu import review

    target = tmp_path / "models" / "aiguillage.tar.gz"
    questions = tmp_path / "set.jsonl"
    questions.write_text('{"id": "q1", "text": "zorglub", "topic": "carte_grise", "destination": "ants_3400"}\n')

    train_a_stand_in(monkeypatch)
    said = []
    assert review.retrain(ROOT / "data", target, sets=[EvalSet("set", questions)], log=said.append) == 0
    assert said[0] == "Mesure sur : set (1 question)"
    assert said[-2].startswith("Aucun modèle en service : le nouveau modèle est installé")
    assert said[-1] == "Redémarrez le serveur pour mettre le nouveau modèle en service."
    assert not (tmp_path / "models" / "aiguillage.previous.tar.gz").exists()


def test_two_retrains_at_once_the_second_is_told_to_wait(tmp_path):
    import fcntl

    from bot.nlu import review

    target = tmp_path / "models" / "aiguillage.tar.gz"
    target.parent.mkdir()
    said = []
    with open(target.parent / ".retrain.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert review.retrain(ROOT / "data", target, log=said.append) == 2
    assert said == ["Un réentraînement est déjà en cours : attendez sa fin avant d'en lancer un autre."]


def test_the_retrain_gate_measures_every_in_repository_set_by_default():
    from bot.nlu import eval_sets

    names = {s.name for s in eval_sets.guarded_sets()}
    assert {"heldout", "public_letters", "public_forums", "faq_titles", "public_waits"} <= names
    assert names >= {p.stem for p in (ROOT / "eval").glob("*.jsonl")}


def test_retrain_on_a_set_of_requests_without_a_subject_says_there_is_nothing_to_measure(tmp_path):
    # Such requests have no destination to score: the gate must not read them as 0 % right (no
    # training is started, the model in service is kept).
    from bot.nlu.review import retrain

    only = tmp_path / "no_subject.jsonl"
    only.write_text('{"id": "v1", "text": "j\'ai une question", "kind": "no_subject"}\n', encoding="utf-8")
    said = []
    target = tmp_path / "models" / "aiguillage.tar.gz"
    code = retrain(ROOT / "data", target, sets=[EvalSet("no_subject", only)], log=said.append)
    assert (code, said, target.exists()) == (
        2,
        ["Aucune question d'évaluation : impossible de vérifier le nouveau modèle."],
        False,
    )


def test_the_retrain_stamp_uses_the_makefiles_training_hash_which_covers_the_tokenizer_code(tmp_path):
    from bot.nlu.review import training_hash

    made = subprocess.run(["make", "-s", "training-hash"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert made.stdout.strip() == training_hash(ROOT / "data")
    copy = tmp_path / "data"
    shutil.copytree(ROOT / "data", copy)
    assert training_hash(copy) == training_hash(ROOT / "data")
    makefile = (ROOT / "Makefile").read_text()
    training_files = makefile.split("TRAINING_FILES :=")[1].splitlines()[0]
    assert (
        "config.yml bot/nlu/components.py bot/nlu/classifier_file.py bot/nlu/word_vectors.py bot/nlu/scoring.py"
        " bot/nlu/tfidf_fast.py bot/core/text.py" in training_files
    )


def test_rasas_fingerprint_of_the_components_includes_their_code():
    from bot.nlu import components, fingerprint

    assert fingerprint.CODE == (
        "bot/nlu/components.py",
        "bot/nlu/classifier_file.py",
        "bot/nlu/word_vectors.py",
        "bot/nlu/scoring.py",
        "bot/nlu/tfidf_fast.py",
        "bot/core/text.py",
    )
    for component in (components.FrenchTokenizer, components.TfidfIntentClassifier):
        assert component.fingerprint_addon({}) == fingerprint.code_fingerprint()
    assert len(fingerprint.code_fingerprint()) == 64
