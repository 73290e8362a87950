"""The command line: `python -m bot route | eval | check`, run as a user runs it."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from bot.nlu.evaluation import evaluate

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ["text", "topic", "destination", "confidence", "action", "answer", "menu", "choices", "alternatives"]


def run(python, *args, stdin=None):
    return subprocess.run([python, "-m", "bot", *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=300)


def test_route_prints_one_json_object(python):
    out = run(python, "route", "j'ai perdu ma carte grise")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert list(answer) == FIELDS
    assert (answer["text"], answer["topic"], answer["destination"], answer["action"]) == (
        "j'ai perdu ma carte grise",
        "carte_grise",
        "ants_3400",
        "answer",
    )
    assert 0.45 <= answer["confidence"] <= 1.0
    assert "34 00" in answer["answer"]


def test_route_jsonl_answers_every_line_in_order(python):
    lines = [
        {"text": "renouvellement titre de séjour"},
        "not json",
        {"text": "mon numéro étranger est 7512345678, je n'ai toujours pas reçu ma carte de séjour, où en est ma demande ?"},
        {"no_text": 1},
        {"text": "zorglub wintz"},
        {"text": ""},
    ]
    stdin = "\n".join(l if isinstance(l, str) else json.dumps(l, ensure_ascii=False) for l in lines) + "\n"
    out = run(python, "route", "--jsonl", stdin=stdin)
    assert out.returncode == 0, out.stderr
    results = [json.loads(l) for l in out.stdout.splitlines()]
    assert len(results) == 6
    assert (results[0]["topic"], results[0]["destination"], results[0]["action"]) == ("titre_sejour", "ccc_0806", "answer")
    assert results[1] == {"line": 2, "error": "ligne invalide : un objet JSON avec un champ « text » (texte) est attendu"}
    assert (results[2]["topic"], results[2]["destination"]) == ("suivi_dossier", "ccc_0806")
    assert results[3]["line"] == 4 and "error" in results[3]
    assert results[4]["action"] == "clarify" and results[4]["topic"] is not None
    # a clarifying question lists what its buttons offer (the person left out); an answer offers none
    offered = results[4]["choices"]
    assert 1 <= len(offered) <= 3 and all(list(c) == ["node", "topic", "destination"] for c in offered)
    assert results[4]["topic"] in [c["topic"] for c in offered]  # the best guess is among the buttons
    assert "human_handoff" not in [c["topic"] for c in offered]
    assert results[0]["choices"] == []
    # an answer lists its alternatives (offered after « Non »: docs/routing.md), a clarification none
    alternatives = results[0]["alternatives"]
    assert 2 <= len(alternatives) <= 4 and all(list(a) == ["node", "topic", "destination"] for a in alternatives)
    assert "titre_sejour" not in [a["topic"] for a in alternatives] and "human_handoff" not in [a["topic"] for a in alternatives]
    assert results[4]["alternatives"] == []
    assert results[5]["answer"].startswith("Votre message est vide.")


def test_route_without_text_says_how_to_use_it(python):
    out = run(python, "route")
    assert out.returncode == 2
    assert "Donnez un texte" in out.stderr


def run_eval(python, path, items):
    """`bot eval` on `items` written as a JSONL file at `path`."""
    path.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items))
    return run(python, "eval", str(path))


def test_eval_prints_accuracies_confusions_and_misses(python, tmp_path):
    items = [
        {"id": "a", "text": "je veux changer l'adresse de ma carte grise", "topic": "carte_grise", "destination": "ants_3400"},
        {
            "id": "b",
            "text": "comment obtenir un permis de construire pour une piscine",
            "topic": "hors_perimetre",
            "destination": "other",
        },
        {"id": "c", "text": "quels sont vos horaires le mardi", "topic": "horaires_contact", "destination": "info"},
        {"id": "d", "text": "quels sont vos horaires le mardi", "topic": "armes", "destination": "mailbox"},  # wrong on purpose
    ]
    out = run_eval(python, tmp_path / "mini.jsonl", items)
    assert out.returncode == 0, out.stderr
    assert "4 questions (0 dropped: found in data/)" in out.stdout
    assert "destination accuracy: 0.750" in out.stdout
    assert "topic accuracy:       0.750" in out.stdout
    assert "1  armes -> horaires_contact" in out.stdout
    assert "[d] armes -> mailbox  got horaires_contact -> info" in out.stdout


def test_eval_of_a_file_of_requests_naming_no_procedure_prints_no_accuracy(python, tmp_path):
    # Nothing in such a request says where to go: there is no accuracy to print, not "0.000".
    items = [{"id": "v1", "text": "oui alors voilà c'est pour ma voisine du troisième", "kind": "no_subject"}]
    out = run_eval(python, tmp_path / "vague.jsonl", items)
    assert out.returncode == 0, out.stderr
    assert "destination accuracy: -" in out.stdout
    assert "topic accuracy:       -" in out.stdout
    assert "0.000" not in out.stdout
    assert "requests naming no procedure: 1: " in out.stdout


def test_eval_without_a_file_prints_one_table_of_the_available_sets(python):
    from bot.nlu import eval_sets

    out = run(python, "eval")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["set", "questions", "dropped", "destination", "topic"]
    assert [line.split()[0] for line in lines[1:]] == [s.name for s in eval_sets.available()]
    heldout = lines[1].split()
    assert heldout[0] == "heldout" and int(heldout[1]) + int(heldout[2]) == len(eval_sets.load(eval_sets.HELDOUT))
    assert 0.0 <= float(heldout[3]) <= 1.0 and 0.0 <= float(heldout[4]) <= 1.0
    assert "misses" not in out.stdout  # the table never prints the questions' texts


def test_eval_of_a_missing_file_is_a_clear_error(python):
    out = run(python, "eval", "/nonexistent.jsonl")
    assert out.returncode == 2
    assert "Impossible de lire /nonexistent.jsonl" in out.stderr


def test_check_validates_the_console_texts_and_the_five_prefectures(python):
    out = run(python, "check", "--all")
    assert out.returncode == 0
    assert out.stdout.splitlines() == [
        "ok: bot/console_texts.yml",
        "ok: prefectures/cantal.yml",
        "ok: prefectures/gironde.yml",
        "ok: prefectures/indre-et-loire.yml",
        "ok: prefectures/loire.yml",
        "ok: prefectures/vienne.yml",
    ]


def test_unknown_prefecture_stops_with_a_message(python):
    out = run(python, "--prefecture", "paris", "check")
    assert out.returncode == 1
    assert "no such préfecture 'paris'" in out.stderr


def test_evaluate_computes_per_topic_scores():
    items = [
        {"text": "x", "topic": "armes", "destination": "mailbox"},
        {"text": "y", "topic": "armes", "destination": "mailbox"},
        {"text": "z", "topic": "rdv_pan", "destination": "pan_rdv"},
    ]
    preds = [
        {"topic": "armes", "destination": "mailbox", "confidence": 0.9, "action": "answer"},
        {"topic": "rdv_pan", "destination": "pan_rdv", "confidence": 0.5, "action": "answer"},
        {"topic": "rdv_pan", "destination": "pan_rdv", "confidence": 0.8, "action": "answer"},
    ]
    report = evaluate(items, preds)
    assert report["topic_accuracy"] == pytest.approx(2 / 3)
    assert report["per_topic"]["armes"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert report["per_topic"]["rdv_pan"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert report["confusions"] == [{"expected": "armes", "got": "rdv_pan", "count": 1}]


def test_a_paper_letter_becomes_a_ticket_due_in_ten_working_days(python, tmp_path):
    env_db = dict(os.environ, AIGUILLAGE_DB=str(tmp_path / "paper.db"))
    letter = "Madame, Monsieur, je n'ai pas reçu de réponse à ma demande d'autorisation de détention.\n"
    out = subprocess.run(
        [
            python,
            "-m",
            "bot",
            "tickets",
            "paper",
            "--service",
            "armes",
            "--subject",
            "Autorisation de détention",
            "--received",
            "2020-07-10",
        ],
        cwd=ROOT,
        input=letter,
        capture_output=True,
        text=True,
        timeout=120,
        env=env_db,
    )
    assert out.returncode == 0, out.stderr
    ticket = json.loads(out.stdout)
    # Friday 10 July 2020 + 10 working days, 14 July being a public holiday
    assert (ticket["service"], ticket["origin"], ticket["due_date"]) == (
        "bureau des polices administratives (armes)",
        "paper",
        "2020-07-27",
    )
    assert ticket["reference"].startswith("MSG-")
    bad = subprocess.run(
        [python, "-m", "bot", "tickets", "paper", "--service", "armes", "--subject", "x", "--received", "10/07/2020"],
        cwd=ROOT,
        input="x",
        capture_output=True,
        text=True,
        timeout=120,
        env=env_db,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "Date de réception invalide : '10/07/2020' (attendu : AAAA-MM-JJ)."


def test_a_bad_smtp_port_is_a_message_naming_the_variable(python, tmp_path):
    env = dict(os.environ, AIGUILLAGE_DB=str(tmp_path / "s.db"), SMTP_HOST="127.0.0.1", SMTP_PORT="vingt-cinq")
    out = subprocess.run(
        [python, "-m", "bot", "tickets", "retry"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 1
    assert out.stderr == "configuration error: SMTP_PORT: expected a port number (1-65535), got 'vingt-cinq'\n"


def test_a_bad_spool_sweep_stops_the_start_with_a_message_naming_the_variable(python, tmp_path):
    """AIGUILLAGE_SPOOL_SWEEP_S is read when `bot serve` starts, before Rasa loads: not at the first
    sweep, 30 s into a running server."""
    env = dict(os.environ, AIGUILLAGE_DB=str(tmp_path / "s.db"), AIGUILLAGE_SPOOL_SWEEP_S="0")
    out = subprocess.run([python, "-m", "bot", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr == "configuration error: AIGUILLAGE_SPOOL_SWEEP_S: expected a positive number of seconds, got '0'\n"
    from bot import settings

    assert (settings.spool_sweep_s({}), settings.spool_sweep_s({"AIGUILLAGE_SPOOL_SWEEP_S": "2.5"})) == (30.0, 2.5)


def test_settings_are_typed_and_hide_the_password():
    from bot import settings

    smtp = settings.smtp({"SMTP_HOST": " mail.example ", "SMTP_STARTTLS": "1", "SMTP_PASSWORD": "s3cret"})
    assert (smtp.host, smtp.port, smtp.starttls, smtp.sender) == ("mail.example", 587, True, "aiguillage@localhost")
    assert "s3cret" not in repr(smtp)
    assert settings.smtp({}) is None
    with pytest.raises(settings.SettingsError, match="^SMTP_STARTTLS: expected 0 or 1, got 'oui'$"):
        settings.smtp({"SMTP_HOST": "h", "SMTP_STARTTLS": "oui"})


# What a clarification's buttons or an answer's alternatives offer, as `bot route` lists them.
SEJOUR = {"node": "titre_sejour", "topic": "titre_sejour", "destination": "ccc_0806"}
PAN = {"node": "rdv_pan", "topic": "rdv_pan", "destination": "pan_rdv"}


def test_evaluate_counts_the_wrong_answers_whose_alternatives_offer_the_right_way():
    items = [
        {"text": "x", "topic": "titre_sejour", "destination": "ccc_0806"},
        {"text": "y", "topic": "armes", "destination": "mailbox"},
        {"text": "z", "topic": "carte_grise", "destination": "ants_3400"},
    ]
    answered = {"destination": "ants_3400", "confidence": 0.9, "action": "answer"}
    preds = [
        answered | {"topic": "cni_passeport", "alternatives": [PAN, SEJOUR]},
        answered | {"topic": "cni_passeport", "alternatives": [PAN, SEJOUR]},
        answered | {"topic": "carte_grise", "alternatives": [PAN]},
    ]
    report = evaluate(items, preds)
    assert (report["answered_wrong"], report["wrong_alternative_right"]) == (2, 1)


def test_evaluate_counts_the_clarifications_that_offer_the_right_way():
    items = [
        {"text": "x", "topic": "titre_sejour", "destination": "ccc_0806"},
        {"text": "y", "topic": "suivi_dossier", "destination": "ccc_0806"},
        {"text": "z", "topic": "armes", "destination": "mailbox"},
        {"text": "w", "topic": "carte_grise", "destination": "ants_3400"},
    ]
    preds = [
        {"topic": "rdv_pan", "destination": "pan_rdv", "confidence": 0.4, "action": "clarify", "choices": [PAN, SEJOUR]},
        # a residence permit's follow-up: the "Titre de séjour" button leads to the CCC as well
        {"topic": "rdv_pan", "destination": "pan_rdv", "confidence": 0.4, "action": "clarify", "choices": [PAN, SEJOUR]},
        {"topic": "rdv_pan", "destination": "pan_rdv", "confidence": 0.4, "action": "clarify", "choices": [PAN, SEJOUR]},
        {"topic": "carte_grise", "destination": "ants_3400", "confidence": 0.9, "action": "answer", "choices": []},
    ]
    report = evaluate(items, preds)
    assert (report["asked"], report["asked_offered_right"]) == (3, 2)
    assert report["destination_accuracy"] == 0.25  # the best guesses, wrong all three times
