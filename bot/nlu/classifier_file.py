"""The intent classifier's file: the fitted pipeline's arrays and options in numpy's .npz, no pickled object.

The classifier (bot/nlu/components.py) is a scikit-learn pipeline: a union of TF-IDF vectorizers
(words, character n-grams), then a logistic regression. What fitting learnt is a few arrays: each
vectorizer's terms and IDF, the regression's classes, weights, intercepts. They are kept as numpy
arrays, with each step's options as JSON, and read back with `allow_pickle=False`: the file holds
numbers and text, never an object for Python to build (what skops guarantees in the general case).

Why not skops, as before: the server's start-up. `import skops.io` lists every type of scikit-learn,
numpy and scipy (~1 s), and its file kept the two vocabularies as a 39 MB JSON tree read node by node
(~0.7 s); this file reads in a few hundredths of a second (docs/floor.md, section 5). A pipeline of
other steps, and a model trained before this file existed, keep skops (`read`, `scoring.load_skops`).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

FILE = "tfidf_intent_classifier.npz"
SKOPS_FILE = "tfidf_intent_classifier.skops"  # models trained before 2026-12-06, and other pipelines
FORMAT = 1
# The experiments' extra files, off in config.yml (docs/pipeline.md): the word vectors' table
# (bot/nlu/word_vectors.py), the dense block's own regression (dense_mix > 0), the second model and the
# extra regressions (bot/nlu/scoring.py).
VECTORS_FILE = "word_vectors.npz"
DENSE_FILE = "dense_classifier.skops"
OPINIONS_FILE = "opinions.skops"


class Refused(RuntimeError):
    """A classifier file that is damaged or holds what a model may not: Rasa refuses the whole model, and
    the server stops saying so (bot/web/lifecycle.py), instead of serving a classifier that knows nothing.
    Not a ValueError: that is Rasa's "no such resource", for which the component starts untrained."""


def _options(estimator: Any) -> dict:
    """The estimator's own options (get_params without nested steps), JSON-ready: tuples as lists, no dtype."""
    options = {k: v for k, v in estimator.get_params(deep=False).items() if k != "dtype"}
    return json.loads(json.dumps(options))


def _pipeline(spec: dict) -> Any:
    """The unfitted pipeline the JSON `spec` describes (the same names and options as when it was saved)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    vectorizers = []
    for name, options in spec["vectorizers"]:
        options = dict(options, ngram_range=tuple(options["ngram_range"]))
        vectorizers.append((name, TfidfVectorizer(**options)))
    classifier = LogisticRegression(**spec["classifier"])
    return Pipeline([(spec["union"], FeatureUnion(vectorizers)), (spec["classifier_name"], classifier)])


def _spec(clf: Any) -> dict | None:
    """The JSON description of `clf`, or None when this file cannot keep it whole (other steps or options)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    if type(clf) is not Pipeline or len(clf.steps) != 2:
        return None
    (union_name, union), (classifier_name, classifier) = clf.steps
    if type(union) is not FeatureUnion or type(classifier) is not LogisticRegression:
        return None
    if union.transformer_weights is not None or not all(type(v) is TfidfVectorizer for _, v in union.transformer_list):
        return None
    vectorizers = [v for _, v in union.transformer_list]
    if any(v.dtype is not np.float64 or not v.use_idf or not isinstance(v.analyzer, str) for v in vectorizers):
        return None
    if any(v.preprocessor is not None or v.tokenizer is not None or v.vocabulary is not None for v in vectorizers):
        return None
    try:
        spec = {
            "format": FORMAT,
            "union": union_name,
            "vectorizers": [[name, _options(v)] for name, v in union.transformer_list],
            "classifier_name": classifier_name,
            "classifier": _options(classifier),
        }
    except (TypeError, ValueError):  # an option JSON cannot hold
        return None
    rebuilt = _pipeline(spec)  # the same options once read back, or not this file
    same = [repr(a.get_params(deep=False)) == repr(b.get_params(deep=False)) for a, b in zip(_steps(rebuilt), _steps(clf))]
    return spec if all(same) else None


def _steps(clf: Any) -> list[Any]:
    """The vectorizers then the logistic regression."""
    return [v for _, v in clf.steps[0][1].transformer_list] + [clf.steps[-1][1]]


def save(clf: Any, model_dir: Path) -> bool:
    """`clf` written to model_dir/FILE; False (nothing written) when it is not a pipeline this file keeps."""
    spec = _spec(clf)
    if spec is None:
        return False
    arrays: dict[str, np.ndarray] = {"spec": np.array(json.dumps(spec))}
    for k, (_, v) in enumerate(clf.steps[0][1].transformer_list):
        terms = sorted(v.vocabulary_, key=v.vocabulary_.__getitem__)
        arrays[f"terms_{k}"] = np.array(terms, dtype=str)
        arrays[f"idf_{k}"] = np.asarray(v.idf_, dtype=np.float64)
    lr = clf.steps[-1][1]
    arrays.update(classes=np.asarray(lr.classes_, dtype=str), coef=lr.coef_, intercept=lr.intercept_, n_iter=lr.n_iter_)
    np.savez(Path(model_dir) / FILE, **arrays)
    return True


def load(path: Path) -> Any:
    """The fitted pipeline kept in `path`; ValueError when the file is not one `save` wrote (its name in it)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            spec = json.loads(str(z["spec"]))
            if spec.get("format") != FORMAT:
                raise ValueError(f"format {spec.get('format')!r}, expected {FORMAT}")
            clf = _pipeline(spec)
            for k, (_, v) in enumerate(clf.steps[0][1].transformer_list):
                terms, idf = z[f"terms_{k}"].tolist(), z[f"idf_{k}"]
                if idf.shape != (len(terms),):
                    raise ValueError(f"{idf.shape} IDF values for the {len(terms)} terms of vectorizer {k}")
                v.vocabulary_ = dict(zip(terms, range(len(terms))))
                v.idf_ = idf  # scikit-learn's own setter (it makes the TF-IDF transformer)
            lr = clf.steps[-1][1]
            lr.classes_, lr.coef_, lr.intercept_, lr.n_iter_ = z["classes"], z["coef"], z["intercept"], z["n_iter"]
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{path}: not a classifier file of this version ({exc})") from exc
    width = sum(len(v.vocabulary_) for v in _steps(clf)[:-1])  # the TF-IDF's; the word vectors' block may follow
    rows = 1 if len(lr.classes_) == 2 else len(lr.classes_)  # two classes: one row of weights
    if lr.coef_.ndim != 2 or lr.coef_.shape[0] != rows or lr.coef_.shape[1] < width or lr.intercept_.shape != (rows,):
        raise ValueError(f"{path}: weights of shape {lr.coef_.shape} for {len(lr.classes_)} classes and {width} features")
    lr.n_features_in_ = lr.coef_.shape[1]
    return clf


def read(model_dir: Path) -> Any:
    """The classifier kept in `model_dir`: this file, or the skops file of a model trained before it."""
    from bot.nlu import scoring

    model_dir = Path(model_dir)
    if (model_dir / FILE).is_file():
        return load(model_dir / FILE)
    return scoring.load_skops(model_dir / SKOPS_FILE)


def write(clf: Any, model_dir: Path) -> None:
    """`clf` in this file when it can keep it, else (other steps or options) in skops's."""
    if not save(clf, model_dir):
        import skops.io as sio

        sio.dump(clf, Path(model_dir) / SKOPS_FILE)


def write_all(model_dir: Path, clf: Any, vectors: Any, dense_clf: Any, second: Any, members: list) -> None:
    """The classifier's files: the pipeline, and what the experiments add to it when they are on."""
    write(clf, model_dir)
    if vectors is not None:
        vectors.save(Path(model_dir) / VECTORS_FILE)
    if dense_clf is not None or second is not None or members:
        import skops.io as sio

        if dense_clf is not None:
            sio.dump(dense_clf, Path(model_dir) / DENSE_FILE)
        if second is not None or members:
            sio.dump({"second": second, "members": members}, Path(model_dir) / OPINIONS_FILE)


def read_all(model_dir: Path) -> dict[str, Any]:
    """What `write_all` wrote: clf, vectors, dense_clf, second, members; Refused when a file is damaged."""
    from bot.nlu import scoring

    model_dir = Path(model_dir)
    try:
        parts: dict[str, Any] = {"clf": read(model_dir), "vectors": None, "dense_clf": None, "second": None, "members": []}
        if (model_dir / VECTORS_FILE).is_file():
            from bot.nlu.word_vectors import WordVectors

            parts["vectors"] = WordVectors.load(model_dir / VECTORS_FILE)
        if (model_dir / DENSE_FILE).is_file():
            parts["dense_clf"] = scoring.load_skops(model_dir / DENSE_FILE)
        if (model_dir / OPINIONS_FILE).is_file():
            opinions = scoring.load_skops(model_dir / OPINIONS_FILE)
            parts["second"], parts["members"] = opinions["second"], list(opinions["members"])
    except ValueError as exc:
        raise Refused(str(exc)) from exc
    return parts
