"""The classifier's other ways to score a message (bot/nlu/scoring.py, docs/pipeline.md fifth pass): a
second model whose disagreement makes the bot ask, extra logistic regressions averaged in, a temperature,
and the word TF-IDF's text (digits, light stemming). A tiny model trained in the test, no model on disk."""

import pytest

pytest.importorskip("rasa")
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from tiny_classifier import EXAMPLES as COMPLAINTS_AND_FILES  # noqa: E402
from tiny_classifier import messages, trained  # noqa: E402

from bot.nlu.components import OPINIONS_FILE, TfidfIntentClassifier  # noqa: E402
from bot.nlu.scoring import gate, light_stem, word_text  # noqa: E402

EXAMPLES = [
    *COMPLAINTS_AND_FILES,
    ("renouveler ma carte grise", "carte_grise"),
    ("changement d'adresse sur la carte grise", "carte_grise"),
    ("j'ai acheté une voiture d'occasion", "carte_grise"),
    ("certificat d'immatriculation perdu", "carte_grise"),
]


def classifier(storage=None, resource=None, **config):
    return trained(EXAMPLES, storage, resource, **config)


def ranking(clf, text):
    return [(r["name"], r["confidence"]) for r in clf.process(messages(text))[0].get("intent_ranking")]


@pytest.mark.parametrize(
    "word, stem",
    [("renouvellements", "renouvell"), ("cartes", "cart"), ("demandee", "demand"), ("titre", "titr"), ("dossier", "dossi")],
)
def test_the_light_stemmer_strips_french_endings(word, stem):
    assert light_stem(word) == stem


def test_short_words_keep_their_endings_and_digits_fold_to_one_token():
    assert [light_stem(w) for w in ("ma", "les", "carte", "pas")] == ["ma", "les", "cart", "pas"]
    assert word_text("dossier 2024 du 12 mars", digits=True, stem=False) == "dossier 0 du 0 mars"
    assert word_text("mes cartes grises", digits=False, stem=True) == "mes cart gris"


def test_where_the_models_disagree_both_best_classes_lead_with_a_lower_confidence():
    import numpy as np

    main = np.array([[0.9, 0.05, 0.05], [0.8, 0.15, 0.05]])
    second = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    gated = gate(main, second, 0.5)
    assert gated[0].tolist() == [0.9, 0.05, 0.05]  # they agree: the main model's row
    assert gated[1].tolist() == pytest.approx([0.225, 0.0875, 0.1875])  # mean (0.45, 0.175, 0.375) x 0.5
    assert sorted(range(3), key=lambda i: -gated[1][i])[:2] == [0, 2]


def test_keeping_the_main_guess_lowers_its_confidence_and_puts_the_second_guess_next():
    import numpy as np

    main = np.array([[0.8, 0.15, 0.05]])
    second = np.array([[0.1, 0.2, 0.7]])
    gated = gate(main, second, 0.5, keep=True)
    assert gated[0].tolist() == pytest.approx([0.4, 0.075, 0.3996])
    assert gated[0].argmax() == 0 and sorted(range(3), key=lambda i: -gated[0][i])[1] == 2


@pytest.mark.parametrize("kind", ["cnb_word", "lr_word", "lr_char", "svm_word"])
def test_a_second_model_never_raises_the_confidence_and_keeps_the_ranking_of_agreed_messages(kind):
    alone = classifier()
    both = classifier(second_model=kind)
    for text in ("où en est mon dossier", "personne ne répond, c'est une honte", "ma carte grise"):
        plain, gated = ranking(alone, text), ranking(both, text)
        assert gated[0][1] <= plain[0][1]
        if gated[0][1] == plain[0][1]:
            assert gated == plain


def test_an_unknown_second_model_is_refused_by_name():
    with pytest.raises(ValueError, match="second_model must be one of"):
        classifier(second_model="forest")


def test_a_higher_temperature_lowers_the_top_confidence_and_keeps_the_order():
    cold, warm = classifier(), classifier(temperature=3.0)
    for text in ("où en est mon dossier", "ma carte grise"):
        a, b = ranking(cold, text), ranking(warm, text)
        assert [n for n, _ in a] == [n for n, _ in b]
        assert b[0][1] < a[0][1]


def test_extra_regressions_are_averaged_in_and_kept_in_the_model(tmp_path):
    storage, resource = LocalModelStorage(tmp_path), Resource("classifier")
    config = {"bags": 2, "ensemble_C": [1.0], "second_model": "cnb_word"}
    trained = classifier(storage, resource, **config)
    assert len(trained.members) == 3
    trained.persist()
    with storage.read_from(resource) as directory:
        assert (directory / OPINIONS_FILE).is_file()
    loaded = TfidfIntentClassifier.load(config, storage, resource, None)
    assert len(loaded.members) == 3 and loaded.second is not None
    for text in ("où en est mon dossier", "personne ne répond"):
        assert ranking(loaded, text) == pytest.approx(ranking(trained, text))
