"""The intent classifier's file: the fitted pipeline's arrays and options in numpy's .npz, no pickled object.

The classifier (bot/nlu/components.py) is a scikit-learn pipeline: a union of TF-IDF vectorizers
(words, character n-grams), then a logistic regression. What fitting learnt is a few arrays: each
vectorizer's terms and IDF, the regression's classes, weights, intercepts. They are kept as numpy
arrays, with each step's options as JSON, and read back with `allow_pickle=False`: the file holds
numbers and text, never an object for Python to build (what skops guarantees in the general case),
and each step's options are checked against the values this classifier is trained with
(VECTORIZER_RULES, CLASSIFIER_RULES): a file cannot make the vectorizers read files, run a regular
expression of its own, or fail at each parse instead of at the start.

Why not skops, as before: the server's start-up. `import skops.io` lists every type of scikit-learn,
numpy and scipy (~1 s), and its file kept the two vocabularies as a 39 MB JSON tree read node by node
(~0.7 s); this file reads in a few hundredths of a second (docs/floor.md, section 4). A pipeline of
other steps, and a model trained before this file existed, keep skops (`read`, `scoring.load_skops`).
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

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


def _is(*values: Any) -> Any:
    return lambda v: any(v is x or (type(v) is type(x) and v == x) for x in values)


def _number(v: Any) -> bool:
    return type(v) in (int, float) and v >= 0


def _whole(v: Any) -> bool:
    return type(v) is int and v >= 0


def _ngrams(v: Any) -> bool:
    return type(v) is list and len(v) == 2 and all(type(n) is int for n in v) and 1 <= v[0] <= v[1] <= 10


BOOL = _is(True, False)
# Every option a file may give each step, and the values it may take: those a text classifier of this kind is
# trained with. Anything else is refused when the file is read: an option reading files (`input`), a pattern
# of the file's own (`token_pattern`: a catastrophic regular expression would stall each parse), a function.
VECTORIZER_RULES = {
    "analyzer": _is("word", "char", "char_wb"),
    "binary": BOOL,
    "decode_error": _is("strict"),
    "encoding": _is("utf-8"),
    "input": _is("content"),
    "lowercase": BOOL,
    "max_df": _number,
    "max_features": lambda v: v is None or _whole(v),
    "min_df": _number,
    "ngram_range": _ngrams,
    "norm": _is("l2", "l1", None),
    "preprocessor": _is(None),
    "smooth_idf": BOOL,
    "stop_words": _is(None),
    "strip_accents": _is(None, "ascii", "unicode"),
    "sublinear_tf": BOOL,
    "token_pattern": _is(r"(?u)\b\w+\b", r"(?u)\b\w\w+\b"),  # ours, and scikit-learn's default
    "tokenizer": _is(None),
    "use_idf": _is(True),
    "vocabulary": _is(None),
}
CLASSIFIER_RULES = {
    "C": _number,
    "class_weight": _is(None, "balanced"),
    "dual": BOOL,
    "fit_intercept": BOOL,
    "intercept_scaling": _number,
    "l1_ratio": lambda v: v is None or _number(v),
    "max_iter": _whole,
    "multi_class": _is("auto", "ovr", "multinomial"),
    "n_jobs": lambda v: v is None or type(v) is int,
    "penalty": _is("l2", "l1", "elasticnet", "none"),
    "random_state": lambda v: v is None or _whole(v),
    "solver": _is("lbfgs", "liblinear", "newton-cg", "sag", "saga"),
    "tol": _number,
    "verbose": _whole,
    "warm_start": BOOL,
}


def _check(options: Any, rules: dict, step: str) -> None:
    """ValueError unless `options` gives exactly the options of `rules`, each a value its rule accepts."""
    if not isinstance(options, dict) or set(options) != set(rules):
        names = sorted(options) if isinstance(options, dict) else options
        raise ValueError(f"{step}: options {names}, expected {sorted(rules)}")
    for name, rule in rules.items():
        if not rule(options[name]):
            raise ValueError(f"{step}: {name}={options[name]!r} is not a value this file may hold")


def _checked_spec(spec: Any) -> dict:
    """The file's description of the pipeline, every step's options checked (ValueError otherwise)."""
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        found = spec.get("format") if isinstance(spec, dict) else spec
        raise ValueError(f"format {found!r}, expected {FORMAT}")
    vectorizers = spec.get("vectorizers")
    if not isinstance(vectorizers, list) or not vectorizers:
        raise ValueError("no vectorizers")
    for k, entry in enumerate(vectorizers):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise ValueError(f"vectorizer {k}: [name, options] expected")
        _check(entry[1], VECTORIZER_RULES, f"vectorizer {k}")
    _check(spec.get("classifier"), CLASSIFIER_RULES, "classifier")
    if not (isinstance(spec.get("union"), str) and isinstance(spec.get("classifier_name"), str)):
        raise ValueError("the steps' names must be text")
    return spec


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
    if any(v.dtype is not np.float64 for v in vectorizers):  # the one option the spec does not hold
        return None
    try:  # every other option: one JSON can hold (no function), and one the rules let a file give (load)
        spec = _checked_spec(
            {
                "format": FORMAT,
                "union": union_name,
                "vectorizers": [[name, _options(v)] for name, v in union.transformer_list],
                "classifier_name": classifier_name,
                "classifier": _options(classifier),
            }
        )
    except (TypeError, ValueError):
        return None
    if any("\n" in t for v in vectorizers for t in v.vocabulary_):
        return None  # the terms are kept one per line
    if not all(isinstance(c, str) and not c.endswith("\x00") for c in classifier.classes_.tolist()):
        return None  # classes other than text (numpy's text arrays drop a trailing NUL)
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
        # One per line in UTF-8 bytes: a fixed-width text array would give every term the longest one's width.
        arrays[f"terms_{k}"] = np.frombuffer("\n".join(terms).encode("utf-8"), dtype=np.uint8)
        arrays[f"idf_{k}"] = np.asarray(v.idf_, dtype=np.float64)
    lr = clf.steps[-1][1]
    arrays.update(classes=np.asarray(lr.classes_, dtype=str), coef=lr.coef_, intercept=lr.intercept_, n_iter=lr.n_iter_)
    np.savez(Path(model_dir) / FILE, **arrays)
    return True


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} in the options")  # JSON's NaN, Infinity: no option of a trained model is one


def _terms(raw: np.ndarray, k: int) -> list[str]:
    """Vectorizer k's terms, in the order of their columns: UTF-8 text, one per line, each once."""
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"vectorizer {k}: terms as UTF-8 bytes expected, not {raw.dtype}")
    terms = raw.tobytes().decode("utf-8").split("\n")
    if "" in terms or len(set(terms)) != len(terms):
        raise ValueError(f"vectorizer {k}: {len(terms)} terms, some empty or given twice")
    return terms


def _numbers(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype != np.float64 or not np.isfinite(array).all():
        raise ValueError(f"{what}: finite float64 numbers expected, not {array.dtype}")
    return array


def load(path: Path, dense_width: int = 0) -> Any:
    """The fitted pipeline kept in `path`; ValueError when the file is not one `save` wrote (its name in it).
    `dense_width`: the word vectors' block the regression may read after the TF-IDF's (bot/nlu/components.py)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            clf = _pipeline(_checked_spec(json.loads(str(z["spec"]), parse_constant=_no_constant)))
            for k, (_, v) in enumerate(clf.steps[0][1].transformer_list):
                terms, idf = _terms(z[f"terms_{k}"], k), _numbers(z[f"idf_{k}"], f"IDF of vectorizer {k}")
                if idf.shape != (len(terms),):
                    raise ValueError(f"vectorizer {k}: IDF of shape {idf.shape} for {len(terms)} terms")
                v.vocabulary_ = dict(zip(terms, range(len(terms))))
                v.idf_ = idf  # scikit-learn's own setter (it makes the TF-IDF transformer)
                v.build_analyzer()("contrôle")  # an option the analyzer refuses: refused now, not at each parse
            lr = clf.steps[-1][1]
            lr.classes_, lr.n_iter_ = z["classes"], z["n_iter"]
            lr.coef_, lr.intercept_ = _numbers(z["coef"], "weights"), _numbers(z["intercept"], "intercepts")
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{path}: not a classifier file of this version ({exc})") from exc
    classes = lr.classes_.tolist() if lr.classes_.dtype.kind == "U" and lr.classes_.ndim == 1 else []
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"{path}: classes {lr.classes_.tolist()!r}: two different names or more expected")
    width = sum(len(v.vocabulary_) for v in _steps(clf)[:-1])
    rows = 1 if len(lr.classes_) == 2 else len(lr.classes_)  # two classes: one row of weights
    shape_ok = lr.coef_.ndim == 2 and lr.coef_.shape[0] == rows and lr.coef_.shape[1] in {width, width + dense_width}
    if not shape_ok or lr.intercept_.shape != (rows,):
        raise ValueError(f"{path}: weights of shape {lr.coef_.shape} for {len(lr.classes_)} classes and {width} features")
    lr.n_features_in_ = lr.coef_.shape[1]
    return clf


def skops_first(archive: Path | str | None) -> None:
    """Before Rasa is imported (the server, `bot route`): skops imported when the model archive keeps a
    file in its format, as a model trained before 2026-12-06 does; after Rasa, skops's import-time scan
    of the loaded modules takes about 4 s more (docs/floor.md, section 4)."""
    if needs_skops(archive):
        import skops.io  # noqa: F401


def needs_skops(archive: Path | str | None) -> bool:
    """Whether a model archive keeps a file in skops's format (a model trained before this file, an
    experiment's extra files). Listing the archive costs ~50 ms; one that cannot be read says no (Rasa
    refuses it later, and the server says so)."""
    import tarfile

    if archive is None:
        return False
    try:
        with tarfile.open(archive) as model:
            return any(member.name.endswith(".skops") for member in model)
    except (OSError, EOFError, tarfile.TarError):
        return False


def read(model_dir: Path, dense_width: int = 0) -> Any:
    """The classifier kept in `model_dir`: this file, or the skops file of a model trained before it."""
    from bot.nlu import scoring

    model_dir = Path(model_dir)
    if (model_dir / FILE).is_file():
        return load(model_dir / FILE, dense_width)
    logger.warning("The classifier is in a skops file (a model trained before 2026-12-06): make train starts faster.")
    return scoring.load_skops(model_dir / SKOPS_FILE)


def write(clf: Any, model_dir: Path) -> None:
    """`clf` in this file when it can keep it, else (other steps or options) in skops's."""
    if not save(clf, model_dir):
        logger.warning("The classifier's steps or options are not those of %s: kept with skops (slower start).", FILE)
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
        parts: dict[str, Any] = {"vectors": None, "dense_clf": None, "second": None, "members": []}
        if (model_dir / VECTORS_FILE).is_file():
            from bot.nlu.word_vectors import WordVectors

            parts["vectors"] = WordVectors.load(model_dir / VECTORS_FILE)
        parts["clf"] = read(model_dir, parts["vectors"].dim if parts["vectors"] is not None else 0)
        if (model_dir / DENSE_FILE).is_file():
            parts["dense_clf"] = scoring.load_skops(model_dir / DENSE_FILE)
        if (model_dir / OPINIONS_FILE).is_file():
            opinions = scoring.load_skops(model_dir / OPINIONS_FILE)
            parts["second"], parts["members"] = opinions["second"], list(opinions["members"])
    except ValueError as exc:
        raise Refused(str(exc)) from exc
    return parts
