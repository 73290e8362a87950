"""Spoken fillers ("euh", "bah", "du coup") said or written in the middle of a request (bot/nlu/components.py,
the tokenizer's `fillers` in config.yml): dropped before anything reads the words, in training and at
inference alike, so that "ma carte euh grise" is read as "ma carte grise"."""

import pytest

pytest.importorskip("rasa")
from rasa.shared.nlu.training_data.message import Message  # noqa: E402

from bot.nlu.components import FrenchTokenizer  # noqa: E402

FILLERS = ["euh", "bah", "voilà", "du coup", "en fait"]


def tokens(text: str, fillers=FILLERS) -> list:
    tokenizer = FrenchTokenizer({**FrenchTokenizer.get_default_config(), "fillers": fillers})
    message = Message(data={"text": text})
    tokenizer.process([message])
    return message.get("text_tokens")


def words(text: str, fillers=FILLERS) -> list[str]:
    return [t.text for t in tokens(text, fillers)]


def test_fillers_are_dropped_and_the_words_around_them_kept_with_their_offsets():
    text = "Euh bah ma carte euh grise, du coup je l'ai perdue en fait. Voilà"
    assert words(text) == ["ma", "carte", "grise", "je", "l", "ai", "perdue"]
    carte = tokens(text)[1]
    assert text[carte.start : carte.end] == "carte"  # offsets still point into the text as written


def test_a_word_of_a_two_word_filler_alone_is_a_word():
    assert words("un coup de fil, ils ont fait une erreur en relisant") == [
        "un", "coup", "de", "fil", "ils", "ont", "fait", "une", "erreur", "en", "relisant",
    ]  # fmt: skip


def test_a_message_of_fillers_only_keeps_its_words():
    assert words("euh... bah") == ["euh", "bah"]  # nothing else to read: the model sees what was said


def test_without_fillers_configured_every_word_is_kept():
    assert words("euh ma carte grise", fillers=[]) == ["euh", "ma", "carte", "grise"]


def test_the_product_drops_the_fillers_people_say_and_no_word_of_a_request():
    from bench.nlu_bench import pipeline_step

    step = pipeline_step("FrenchTokenizer")
    said = "euh bonjour bah en fait du coup j'ai perdu mon permis hein"
    assert words(said, step["fillers"]) == ["bonjour", "j", "ai", "perdu", "mon", "permis"]


def test_letters_drawn_out_are_read_as_written_twice_at_most():
    # Typed or transcribed with a held key: a run of three or more of a letter is read as two, so the
    # word meets its training spelling (double letters kept) or is one edit from it (the spelling's job).
    assert words("passsseport perduuuu merciiii") == ["passeport", "perduu", "mercii"]
    assert words("appelle allô") == ["appelle", "allo"]  # double letters as French writes them: unchanged


def test_held_letters_is_a_setting_and_zero_reads_the_words_as_written():
    def read(held: int) -> list[str]:
        message = Message(data={"text": "passsseport perduuuu 0806001620"})
        FrenchTokenizer({**FrenchTokenizer.get_default_config(), "held_letters": held}).process([message])
        return [t.text for t in message.get("text_tokens")]

    assert read(0) == ["passsseport", "perduuuu", "0806001620"]
    assert read(1) == ["paseport", "perdu", "0806001620"]  # digits are never cut
    assert FrenchTokenizer.get_default_config()["held_letters"] == 2


def test_a_filler_drawn_out_is_still_a_filler():
    assert words("euuuuh hmmmm ma carte euuuh grise bahhh voilààà", FILLERS + ["hmm"]) == ["ma", "carte", "grise"]
