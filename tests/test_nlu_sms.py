"""SMS spellings ("jsp", "pk", "tjrs", "bjr"): the tokenizer writes out the words of config.yml's `sms_words`
before anything reads them, in training and at inference (issue 15; docs/pipeline.md, nineteenth pass).
Only forms that are no other word: "ds", "vs", "pr", "tt", "mr", "avc" are left as written (a car,
"versus", a person's initials, a stroke...)."""

import pytest

pytest.importorskip("rasa")
from rasa.shared.nlu.training_data.message import Message  # noqa: E402

from bench.nlu_bench import pipeline_step  # noqa: E402
from bot.nlu.components import FrenchTokenizer  # noqa: E402


def product_words(text: str) -> list[str]:
    message = Message(data={"text": text})
    FrenchTokenizer({**FrenchTokenizer.get_default_config(), **pipeline_step("FrenchTokenizer")}).process([message])
    return [t.text for t in message.get("text_tokens")]


def test_sms_spellings_are_read_as_the_words():
    assert product_words("Bjr jsp pk jai TJRS rien") == ["bonjour", "je sais pas", "pourquoi", "j ai", "toujours", "rien"]


def test_short_forms_that_are_other_words_stay_as_written():
    assert product_words("ma ds pr vs tt mr avc") == ["ma", "ds", "pr", "vs", "tt", "mr", "avc"]  # avc: a stroke


def test_without_sms_words_configured_every_word_is_kept():
    message = Message(data={"text": "jsp pk"})
    FrenchTokenizer(FrenchTokenizer.get_default_config()).process([message])
    assert [t.text for t in message.get("text_tokens")] == ["jsp", "pk"]


def test_a_follow_up_written_in_sms_is_read_as_written_out(server):
    """Before: the SMS form was read as a question about the licence (clarify, 0.675), the words written
    out as the follow-up of a file (0.737)."""
    from conftest import db_rows

    server.say("sms-1", "bsr pk jai tjrs pas de nouvelles de mon permis dc jsp koi faire")
    server.say("sms-2", "bonsoir pourquoi j'ai toujours pas de nouvelles de mon permis donc je sais pas quoi faire")
    query = "select action, topic, destination, confidence from turns where conversation_id = ? order by id"
    sms, words = (db_rows(server.db, query, [sender])[-1] for sender in ("sms-1", "sms-2"))
    assert (sms["action"], sms["topic"]) == (words["action"], words["topic"])
    # The follow-up of the licence's file (0.737 before the twentieth pass), the licence itself (0.71)
    # since its exam data ("toujours pas de date", "je sais pas quoi faire"): asked about either way,
    # both lead to the ANTS (docs/pipeline.md, twentieth pass).
    assert sms["action"] == "clarify" and sms["topic"] in ("suivi_dossier", "permis_conduire")
    assert sms["confidence"] == pytest.approx(words["confidence"], abs=1e-3)
