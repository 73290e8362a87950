"""Typos in words the model never saw (bot/nlu/spelling.py, the classifier's `spelling_min_length`): a word
one edit away from training words is read as the most common of them; anything else stays as written."""

import pytest

from bot.nlu.spelling import Speller

pytest.importorskip("rasa")
from rasa.shared.nlu.training_data.message import Message  # noqa: E402

from bot.nlu.components import FrenchTokenizer, TfidfIntentClassifier  # noqa: E402

# IDF: the lower, the more training examples hold the word.
# The rarer spelling listed first: the choice is by IDF, not by order.
IDF = {"passeports": 3.0, "passeport": 1.5, "carte": 1.2, "grise": 1.4, "mairie": 2.0, "marie": 4.0, "perdu": 2.5}
IDF |= {"roues": 2.2, "tous": 1.1}


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("mon pasesport perdu", "mon passeport perdu"),  # two letters swapped
        ("mon passepor perdu", "mon passeport perdu"),  # one dropped
        ("carrte grisse", "carte grise"),  # letters doubled
        ("la mairrie", "la mairie"),
        ("passeportz", "passeport"),  # one added: "passeports" is one edit away too, but rarer
    ],
)
def test_a_word_one_edit_from_training_words_is_read_as_the_most_common(written, read):
    assert Speller(IDF, min_length=5).correct(written) == read


@pytest.mark.parametrize(
    "written",
    [
        "zorglub wintz",  # nothing near: stays unseen, so the model's familiarity still falls
        "pasprt",  # two edits from "passeport"
        "cart",  # shorter than min_length
        "perdu1",  # digits: a number, a reference, not a word misspelled
        "marie",  # a training word is never changed, even one edit from a commoner one ("mairie")
        "tours",  # one edit from "tous", a training word shorter than min_length
    ],
)
def test_other_words_stay_as_written(written):
    assert Speller(IDF, min_length=5).correct(written) == written


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("ouii", "oui"),  # "ouiiii" after the tokenizer (a run of 3 or more kept as 2): shorter than min_length
        ("svpp", "svp"),
        ("okk", "ok"),
        ("mercii", "merci"),  # from min_length, one edit away: the most common such word, as before
    ],
)
def test_a_letter_held_down_in_a_short_word_is_read_as_the_training_word(written, read):
    speller = Speller(IDF | {"oui": 1.3, "svp": 1.6, "ok": 1.4, "merci": 1.2}, min_length=5)
    assert speller.correct(written) == read


def test_a_name_written_with_its_capital_inside_a_sentence_stays():
    text = "Pasesport perdu. Je pars à Rouen avec Marie, pasesport perdu\nRouen encore"
    message = Message(data={"text": text})
    tokens = FrenchTokenizer(FrenchTokenizer.get_default_config()).tokenize(message, "text")
    Speller(IDF, min_length=5).correct_tokens(tokens, text)
    assert [t.text for t in tokens] == [
        "passeport",  # a capital that starts the message: a word, spelled
        "perdu",
        "je",
        "pars",
        "a",
        "rouen",  # "à Rouen": a name, left as written (folded by the tokenizer)
        "avec",
        "marie",
        "passeport",
        "perdu",
        "roues",  # a capital at the start of a line: read as a word (the limit of the rule)
        "encore",
    ]


def test_a_message_of_gibberish_looks_up_a_bounded_number_of_words(monkeypatch):
    from bot.nlu import spelling

    monkeypatch.setattr(spelling, "LOOKUPS_PER_MESSAGE", 2)
    speller = Speller(IDF, min_length=5)
    assert speller.correct("pasesport mairei grsie") == "passeport mairie grsie"  # the third is not looked up
    assert speller.correct("grsie") == "grise"  # a new message, a new budget


EXAMPLES = [
    ("je veux renouveler mon passeport", "cni_passeport"),
    ("passeport perdu avant un voyage", "cni_passeport"),
    ("refaire un passeport pour ma fille", "cni_passeport"),
    ("je veux vendre ma voiture", "carte_grise"),
    ("carte grise de la voiture", "carte_grise"),
    ("immatriculer une voiture achetée", "carte_grise"),
]


def ranking(classifier, text):
    message = Message(data={"text": text})
    FrenchTokenizer(FrenchTokenizer.get_default_config()).process([message])
    classifier.process([message])
    return [(r["name"], round(r["confidence"], 6)) for r in message.get("intent_ranking")]


def trained(min_length):
    config = {"word_ngram_max": 2, "spelling_min_length": min_length}
    classifier = TfidfIntentClassifier(config, None, None)
    tokenizer = FrenchTokenizer(FrenchTokenizer.get_default_config())
    messages = [Message(data={"text": t}) for t, _ in EXAMPLES]
    tokenizer.process(messages)
    return classifier.fit([classifier._text(m) for m in messages], [i for _, i in EXAMPLES])


def test_the_classifier_reads_a_misspelt_word_as_the_training_word():
    on, off = trained(5), trained(0)
    assert ranking(on, "mon pasesport a expiré") == ranking(on, "mon passeport a expiré")
    assert ranking(off, "mon pasesport a expiré") != ranking(off, "mon passeport a expiré")  # off: as before
    assert ranking(on, "mon passeport a expiré")[0][0] == "cni_passeport"


def test_the_reading_given_to_the_router_keeps_the_words_as_written():
    """The parse's reading (text_read) drops the fillers but spells nothing: the router's own word lists
    hold words the model never saw ("orange", one edit from "grange"; "autosur" from "autour"), which
    the spelling would turn into training words. The classifier still reads the typo as the word."""
    from bot.core.text import READING

    on = trained(5)
    message = Message(data={"text": "Euh mon pasesport, réclamation chez orange"})
    FrenchTokenizer({**FrenchTokenizer.get_default_config(), "fillers": ["euh"]}).process([message])
    on.process([message])
    assert message.get(READING) == "mon pasesport reclamation chez orange"
    assert [t.text for t in message.get("text_tokens")][:2] == ["mon", "passeport"]
