"""The classifier's one-pass TF-IDF transform (bot/nlu/tfidf_fast.py) gives scikit-learn's matrix.

The vectorizers are fitted here with config.yml's options on the examples of data/ (no trained model
on disk needed), then both transforms read the same texts: the training examples, texts with no known
feature, repeated words, one character, an empty text."""

import numpy as np
import pytest
from scipy.sparse import hstack

pytest.importorskip("rasa")
from bench.nlu_bench import classifier_config, training_examples  # noqa: E402
from bot.nlu.components import TfidfIntentClassifier  # noqa: E402
from bot.nlu.tfidf_fast import UnionTransform, Unsupported, union_of  # noqa: E402

ODD = [
    "",
    "x",
    "¤¤¤ §§§",  # nothing in the vocabulary: an empty row
    "carte carte carte carte grise grise",  # counts above 1 (sublinear tf)
    "CARTE GRISE Préfecture !!! ??? 06 12 34 56 78",
    "je voudrais refaire ma carte grise. j'ai déménagé le mois dernier. merci d'avance",
]


@pytest.fixture(scope="module")
def fitted():
    examples = training_examples()[::2]  # half of data/ and a smaller C: a quicker fit, the same vectorizers' options
    clf = TfidfIntentClassifier({**classifier_config([]), "C": 1.0}, None, None)
    texts = [t.lower() for t, _ in examples]
    clf.fit(texts, [label for _, label in examples])
    return clf, texts


def stock(clf, texts):
    (_, words), (_, chars) = clf.clf.steps[0][1].transformer_list
    return hstack([words.transform(clf._word_texts(texts)), chars.transform(texts)], format="csr")


def test_the_one_pass_transform_gives_scikit_learns_matrix(fitted):
    clf, texts = fitted
    sample = texts[::7] + ODD
    ours, theirs = clf._features(sample), stock(clf, sample)
    theirs.sort_indices()  # the same entries; scikit-learn's product leaves a row's columns unsorted
    assert ours.shape == theirs.shape == (len(sample), clf._union().width)
    assert (ours != theirs).nnz == 0 or np.abs((ours - theirs).toarray()).max() < 1e-12
    assert np.array_equal(ours.indptr, theirs.indptr) and np.array_equal(ours.indices, theirs.indices)
    odd = len(texts[::7])  # the first row of ODD
    assert ours[odd].nnz == 0 and ours[odd + 2].nnz == 0  # no known feature: empty rows
    squares = np.asarray(ours.multiply(ours).sum(axis=1)).ravel()  # each block has an L2 norm of 1
    assert round(float(squares[odd + 3]), 9) == 2.0  # words and char n-grams: two unit blocks


def test_the_classifier_routes_the_same_with_either_transform(fitted):
    clf, texts = fitted
    sample = texts[::5] + ODD
    model = clf.clf.steps[-1][1]
    assert np.array_equal(model.predict(clf._features(sample)), model.predict(stock(clf, sample)))
    assert np.allclose(model.predict_proba(clf._features(sample)), model.predict_proba(stock(clf, sample)))


def test_options_it_does_not_reproduce_fall_back_to_scikit_learn(fitted):
    from sklearn.feature_extraction.text import TfidfVectorizer

    binary = TfidfVectorizer(binary=True).fit(["carte grise perdue", "passeport volé"])
    with pytest.raises(Unsupported):
        UnionTransform([binary])
    transform = union_of([binary])
    assert not isinstance(transform, UnionTransform)
    assert (transform([["carte grise"]]) != binary.transform(["carte grise"])).nnz == 0
