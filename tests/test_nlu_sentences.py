"""The classifier's sentence-by-sentence scoring of long messages (bot/nlu/components.py), on a tiny
model trained in the test: no trained model on disk needed."""

import pytest

pytest.importorskip("rasa")
from tiny_classifier import EXAMPLES, messages, trained  # noqa: E402

from bot.nlu.components import TfidfIntentClassifier  # noqa: E402


def classifier(**config):
    return trained(EXAMPLES, **config)


@pytest.mark.parametrize(
    "text, sentences",
    [
        ("Où en est mon dossier ?", ["ou en est mon dossier"]),
        (
            "C'est une honte. Personne ne répond ! Je veux savoir où en est ma demande ?",
            ["c est une honte", "personne ne repond", "je veux savoir ou en est ma demande"],
        ),
        ("Bon. Ok. Où en est mon dossier de carte grise ?", ["bon ok ou en est mon dossier de carte grise"]),
        ("Je vous écris encore; toujours rien\nmerci", ["je vous ecris encore", "toujours rien merci"]),
    ],
)
def test_a_message_is_cut_into_sentences_of_at_least_three_words(text, sentences):
    assert TfidfIntentClassifier._sentences(messages(text)[0], 3) == sentences


def test_a_need_stated_after_angry_context_weighs_more_with_the_sentence_mix():
    text = "C'est une honte, personne ne répond au téléphone. L'attente est inadmissible. Je veux savoir où en est mon dossier."
    whole = classifier(sentence_mix=0.0).process(messages(text))[0].get("intent_ranking")
    mixed = classifier(sentence_mix=0.5).process(messages(text))[0].get("intent_ranking")
    share = {r["name"]: r["confidence"] for r in whole}["suivi_dossier"]
    assert {r["name"]: r["confidence"] for r in mixed}["suivi_dossier"] > share


def test_a_one_sentence_message_is_scored_the_same_with_or_without_the_mix():
    text = "je suis en colère, où en est mon dossier"
    whole = classifier(sentence_mix=0.0).process(messages(text))[0].get("intent_ranking")
    mixed = classifier(sentence_mix=0.5).process(messages(text))[0].get("intent_ranking")
    assert whole == mixed


def test_framing_adds_copies_of_a_share_of_the_chosen_intents_inside_a_greeting_or_anger():
    clf = TfidfIntentClassifier(
        {
            "framing_share": 1.0,
            "framed_intents": ["suivi_dossier"],
            "framing_prefixes": ["C'est une honte !"],
            "framing_suffixes": ["Merci d'avance."],
        },
        None,
        None,
    )
    texts = [t for t, _ in EXAMPLES]
    framed = clf._framed(texts, [i for _, i in EXAMPLES])
    assert len(framed) == 4 and {label for _, label, _ in framed} == {"suivi_dossier"}
    assert {weight for _, _, weight in framed} == {1.0}
    for text, _, _ in framed:
        body = text.removeprefix("c est une honte").removesuffix("merci d avance").strip()
        assert body in texts and body != text


def test_framing_is_off_by_default_and_the_same_on_every_training():
    assert TfidfIntentClassifier({}, None, None)._framed(["où en est mon dossier"], ["suivi_dossier"]) == []
    config = {"framing_share": 0.5, "framed_intents": ["suivi_dossier"], "framing_prefixes": ["bonjour"]}
    texts, labels = [t for t, _ in EXAMPLES], [i for _, i in EXAMPLES]
    first = TfidfIntentClassifier(config, None, None)._framed(texts, labels)
    assert first == TfidfIntentClassifier(config, None, None)._framed(texts, labels)


def test_several_framing_draws_weigh_together_as_one_and_the_first_is_the_single_draw():
    """`framing_draws` (docs/pipeline.md, twenty-second pass; off): the model of the draws' mean. Each draw
    copies its own examples, each copy weighing 1/draws; the first draw is the one of `random_state`."""
    config = {"framing_share": 0.5, "framed_intents": ["suivi_dossier"], "framing_prefixes": ["bonjour", "merci"]}
    texts, labels = [t for t, _ in EXAMPLES] * 5, [i for _, i in EXAMPLES] * 5
    one = TfidfIntentClassifier(config, None, None)._framed(texts, labels)
    three = TfidfIntentClassifier(config | {"framing_draws": 3}, None, None)._framed(texts, labels)
    assert {w for _, _, w in one} == {1.0} and {w for _, _, w in three} == {1 / 3}
    assert [t for t, _, _ in three[: len(one)]] == [t for t, _, _ in one]  # the first draw: the single one
    assert len(three) > len(one) and [t for t, _, _ in three[len(one) :]] != [t for t, _, _ in one]


def test_the_fast_parse_gives_the_probabilities_of_the_scikit_learn_pipeline():
    """The classifier stacks the TF-IDF blocks itself and keeps the weights column by column (a third of
    the CPU of a parse): the probabilities are those of the pipeline's own predict_proba."""
    import numpy as np

    clf = classifier(sentence_mix=0.0)
    assert clf.clf.steps[-1][1].coef_.flags.f_contiguous
    texts = ["où en est mon dossier", "personne ne répond, c'est une honte", "bonjour", "zzz"]
    folded = [clf._text(m) for m in messages(*texts)]
    # Equal to the last bits but for the order of the sums (the BLAS may split a dot product by threads).
    np.testing.assert_allclose(clf.predict_proba(folded), clf.clf.predict_proba(folded), rtol=1e-12, atol=1e-15)
    assert [clf.clf.classes_[i] for i in clf.predict_proba(folded)[:2].argmax(axis=1)] == ["suivi_dossier", "reclamation"]


def test_a_greeting_or_a_sign_off_sentence_weighs_nothing_in_the_mix():
    import numpy as np

    from bot.nlu import scoring

    # Columns: a topic, then "goodbye". Rows: the whole message, its two sentences (need, then sign-off).
    both = np.array([[0.6, 0.4], [0.9, 0.1], [0.05, 0.95]])
    pieces = [["ma carte grise", "bonne soiree a tous"]]
    counted = scoring.sentence_mix(both, pieces, 1, 0.5, 2.0)
    assert counted[0] == pytest.approx([0.4616, 0.5384], abs=1e-4)  # the sign-off, last, weighed twice
    skipped = scoring.sentence_mix(both, pieces, 1, 0.5, 2.0, skip=[1])
    assert skipped[0] == pytest.approx([0.75, 0.25])  # only the need's sentence mixed in
    social_only = np.array([[0.3, 0.7], [0.2, 0.8], [0.1, 0.9]])
    assert scoring.sentence_mix(social_only, pieces, 1, 0.5, 2.0, skip=[1])[0] == pytest.approx(
        scoring.sentence_mix(social_only, pieces, 1, 0.5, 2.0)[0]
    )  # nothing but greetings: weighed as before
    last_weighs_nothing = scoring.sentence_mix(both, pieces, 1, 0.5, 0.0, skip=[0])  # no sentence left to count
    assert last_weighs_nothing[0] == pytest.approx([0.6, 0.4])  # the whole message's own scores, not NaN


def test_the_product_skips_the_sentences_that_only_greet_thank_or_take_leave():
    from pathlib import Path

    import yaml

    from bench.nlu_bench import pipeline_step

    step = pipeline_step("TfidfIntentClassifier")
    assert set(step["sentence_mix_skip"]) == {"greet", "goodbye", "thanks", "affirm", "deny"}
    domain = yaml.safe_load((Path(__file__).resolve().parent.parent / "domain.yml").read_text(encoding="utf-8"))
    assert set(step["sentence_mix_skip"]) <= set(domain["intents"])  # a misspelt name would skip nothing
