"""The classifier's model files (skops): what they may hold, and that loading them stays safe when
it is done in one pass (bot/nlu/scoring.py load_skops)."""

import numpy as np
import pytest
import scipy.sparse as sp
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from bot.nlu.scoring import load_skops

X = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
Y = [0, 1, 0, 1]


class Foreign:
    """A type outside scikit-learn, numpy and scipy: a model file must never make Python build it."""


def dumped(tmp_path, extra) -> tuple:
    clf = LogisticRegression().fit(X, Y)
    clf.extra = extra
    path = tmp_path / "model.skops"
    sio.dump(clf, path)
    return clf, path


def test_a_model_of_the_usual_types_loads_with_the_same_predictions(tmp_path):
    clf, path = dumped(tmp_path, sp.csr_matrix(np.eye(2)))  # the TF-IDF's sparse type
    loaded = load_skops(path)
    assert loaded.predict_proba(X).tolist() == clf.predict_proba(X).tolist()
    assert loaded.extra.toarray().tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_another_scipy_type_than_the_usual_ones_still_loads(tmp_path):
    _, path = dumped(tmp_path, sp.csc_matrix(np.eye(2)))
    assert load_skops(path).extra.toarray().tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_a_model_holding_a_type_outside_the_trusted_libraries_is_refused_by_name(tmp_path):
    _, path = dumped(tmp_path, Foreign())
    with pytest.raises(ValueError, match=r"unexpected types in .*model\.skops: \['test_nlu_model_file\.Foreign'\]"):
        load_skops(path)


def test_the_usual_types_loaded_in_one_pass_are_all_under_the_trusted_prefixes():
    from bot.nlu.scoring import TRUSTED_PREFIXES, USUAL_TYPES

    assert [t for t in USUAL_TYPES if not t.startswith(TRUSTED_PREFIXES)] == []
