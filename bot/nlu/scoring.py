"""The scoring and training pieces of TfidfIntentClassifier (bot/nlu/components.py) that are not the
Rasa component: a long message's sentences, the framing of training examples, the model files.

And the fifth pass's other ways to score a message (docs/pipeline.md): a second, differently built model whose disagreement lowers the
confidence (the router then asks, with both models' topics as buttons); extra logistic regressions
(bootstrap samples or other C) averaged with the main one; a temperature on the main model's logits;
and the text the word TF-IDF sees (digits folded, a light French suffix stripping).

Functions of numpy / scikit-learn objects and Rasa messages: the component holds the fitted models.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import TEXT

from bot.core.masking import PLACEHOLDER_RE
from bot.core.text import fold, norm

# Second models, each on one block of the main TF-IDF features (no vectorizer of its own).
SECOND_KINDS = ("cnb_word", "lr_word", "lr_char", "svm_word")

DIGITS = re.compile(r"\d+")

# Light French suffix stripping on folded words (no accents): plural, feminine, common noun and verb
# endings; the stem keeps at least `MIN_STEM` letters. Longest suffix first.
SUFFIXES = sorted(
    ("issements", "issement", "ements", "ement", "ations", "ation", "atrice", "ateur", "euses", "euse", "ees", "ee",
     "es", "er", "ez", "e", "s", "x"),
    key=len,
    reverse=True,
)  # fmt: skip
MIN_STEM = 4


def light_stem(word: str) -> str:
    """The word without its ending ("renouvellements" -> "renouvell", "cartes" -> "cart")."""
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


def word_text(text: str, digits: bool, stem: bool) -> str:
    """What the word TF-IDF reads: digit runs as one token `0` (`digits`), words stemmed (`stem`)."""
    if digits:
        text = DIGITS.sub("0", text)
    if stem:
        text = " ".join(light_stem(w) for w in text.split())
    return text


def block(features: Any, n_word: int, kind: str) -> Any:
    """The columns a second model reads: the word block (the first `n_word`) or the char block."""
    return features[:, :n_word] if kind.endswith("_word") else features[:, n_word:]


def fit_second(kind: str, features: Any, labels: list[str], n_word: int, config: dict) -> Any:
    """A second model of `kind` on its block of the features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    x = block(features, n_word, kind)
    if kind == "cnb_word":
        return ComplementNB(alpha=float(config["second_alpha"])).fit(x, labels)
    if kind == "svm_word":
        return LinearSVC(C=float(config["second_C"]), class_weight="balanced", random_state=config["random_state"]).fit(x, labels)
    if kind in ("lr_word", "lr_char"):
        return LogisticRegression(
            C=float(config["second_C"]), max_iter=config["max_iter"], class_weight="balanced", random_state=config["random_state"]
        ).fit(x, labels)
    raise ValueError(f"second_model must be one of {SECOND_KINDS}, not {kind!r}")


def second_probas(model: Any, features: Any, n_word: int, kind: str, classes: Any) -> Any:
    """The second model's probabilities in the main model's class order (an SVM: 1 on its choice)."""
    import numpy as np

    x = block(features, n_word, kind)
    index = {c: i for i, c in enumerate(model.classes_)}
    order = [index[c] for c in classes]
    if hasattr(model, "predict_proba") and not isinstance(model, _svm_type()):
        return model.predict_proba(x)[:, order]
    scores = model.decision_function(x)[:, order]
    out = np.zeros_like(scores)
    out[np.arange(len(scores)), scores.argmax(axis=1)] = 1.0
    return out


def _svm_type() -> type:
    from sklearn.svm import LinearSVC

    return LinearSVC


def gate(main: Any, second: Any, scale: float, keep: bool = False) -> Any:
    """Rows where the two models' best classes differ: the mean of the two, times `scale` (so the
    router asks, with both best classes first); or, with `keep`, the main row times `scale` with the
    second model's best class raised just below the main one's (the main best guess kept); rows where
    they agree: the main model's."""
    out = main.copy()
    differ = main.argmax(axis=1) != second.argmax(axis=1)
    if not keep:
        out[differ] = (main[differ] + second[differ]) / 2 * scale
        return out
    out[differ] = main[differ] * scale
    for row in differ.nonzero()[0]:
        best = second[row].argmax()
        out[row, best] = max(out[row, best], out[row].max() * 0.999)
    return out


def fit_members(features: Any, labels: list[str], config: dict) -> list[Any]:
    """Extra logistic regressions averaged with the main one: `bags` on bootstrap samples of the
    examples (C as the main one), then one per value of `ensemble_C` on all of them."""
    import numpy as np

    labels_array = np.asarray(labels)
    rng = np.random.default_rng(config["random_state"])
    members = []
    for _ in range(int(config["bags"])):
        rows = rng.integers(0, features.shape[0], features.shape[0])
        members.append(_lr(config, config["C"]).fit(features[rows], labels_array[rows]))
    for c in config["ensemble_C"] or []:
        members.append(_lr(config, c).fit(features, labels_array))
    return members


def _lr(config: dict, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=float(c), max_iter=config["max_iter"], class_weight="balanced", random_state=config["random_state"]
    )


def member_probas(members: list[Any], main: Any, features: Any, classes: Any) -> Any:
    """The mean of the main probabilities and each member's (in the main model's class order)."""
    total = main.copy()
    for model in members:
        probas = model.predict_proba(features)
        for j, c in enumerate(model.classes_):  # a bootstrap sample may lack a rare class
            total[:, list(classes).index(c)] += probas[:, j]
    return total / (1 + len(members))


def tempered(model: Any, features: Any, temperature: float) -> Any:
    """A logistic regression's probabilities with its logits divided by `temperature` (1: unchanged)."""
    if temperature == 1.0:
        return model.predict_proba(features)
    from scipy.special import softmax

    return softmax(model.decision_function(features) / temperature, axis=1)


def framed(config: dict, texts: list[str], labels: list[str]) -> list[tuple[str, str, float]]:
    """Copies of a share of the examples inside a greeting, anger or thanks, with their weight: one draw
    per `framing_draws`, the first seeded by `random_state` (same seed: same copies), each weighing 1/draws."""
    c = config
    intents = set(c["framed_intents"])
    prefixes = [norm(p) for p in c["framing_prefixes"]] + [""]
    suffixes = [norm(p) for p in c["framing_suffixes"]] + [""]
    if float(c["framing_share"]) <= 0 or not intents or len(prefixes) + len(suffixes) <= 2:
        return []
    draws = max(1, int(c.get("framing_draws", 1)))
    out = []
    for draw in range(draws):
        rng = random.Random(c["random_state"] if draw == 0 else f"{c['random_state']}/{draw}")
        for text, label in zip(texts, labels):
            if label in intents and rng.random() < float(c["framing_share"]):
                prefix, suffix = rng.choice(prefixes), rng.choice(suffixes)
                if not prefix and not suffix:
                    prefix = rng.choice(prefixes[:-1] or [""])
                out.append((" ".join(x for x in (prefix, text, suffix) if x), label, 1.0 / draws))
    return out


def with_copies(texts: list[str], labels: list[str], copies: list[tuple[str, str, float]]) -> tuple[list, list, list]:
    """The examples (weight 1) and the framed copies (their weight), as texts, labels and weights."""
    weights = [1.0] * len(texts) + [w for _, _, w in copies]
    return texts + [t for t, _, _ in copies], labels + [label for _, label, _ in copies], weights


def sentences(message: Any, min_words: int) -> list[str]:
    """The message's folded tokens grouped by sentence (short pieces join the next one)."""
    tokens = message.get(TOKENS_NAMES[TEXT]) or []
    raw = message.get(TEXT) or ""
    cuts = [m.end() for m in SENTENCE_END.finditer(raw)]
    groups: list[list[str]] = [[]]
    cut = 0
    for token in tokens:
        while cut < len(cuts) and token.start >= cuts[cut]:
            cut += 1
            if groups[-1]:
                groups.append([])
        groups[-1].append(token.text)
    sentences: list[list[str]] = []
    for group in groups:
        if sentences and len(sentences[-1]) < min_words:
            sentences[-1] += group
        elif group:
            sentences.append(group)
    if len(sentences) > 1 and len(sentences[-1]) < min_words:
        tail = sentences.pop()
        sentences[-1] += tail
    return [" ".join(g) for g in sentences]


def sentence_mix(both: Any, pieces: list[list[str]], n: int, mix: float, last: float, skip: Sequence[int] = ()) -> Any:
    """Rows of `both`: the n messages' then their sentences'; each message's row mixed (`mix`) with its
    sentences', each sentence weighed by its top probability and its place (the last `last` times the first),
    but a sentence whose best column is one of `skip` (a greeting, thanks) weighs nothing, unless all do."""
    probas = both[:n].copy()
    sentence_probas = iter(both[n:])
    for i, p in enumerate(pieces):
        if len(p) < 2:
            continue
        rows = [next(sentence_probas) for _ in p]
        weights = [row.max() * (1 + (last - 1) * k / (len(p) - 1)) for k, row in enumerate(rows)]
        skipped = [int(row.argmax()) in skip for row in rows]
        if not all(skipped):
            weights = [0.0 if s else w for w, s in zip(weights, skipped)]
        if sum(weights) <= 0:  # nothing left to count (a last sentence weighed 0, the others skipped)
            continue
        combined = sum(w * row for w, row in zip(weights, rows)) / sum(weights)
        probas[i] = (1 - mix) * probas[i] + mix * combined
    return probas


def unigram_idf(clf: Any) -> dict[str, float]:
    """Each single word of the trained word TF-IDF and its IDF (the lower, the more examples hold it)."""
    words = clf.steps[0][1].transformer_list[0][1]
    idf = words.idf_  # a property that rebuilds the whole array at each read: once, not once per word
    return {w: float(idf[i]) for w, i in words.vocabulary_.items() if " " not in w}


def columns_first(clf: Any) -> Any:
    """The pipeline, its logistic regression's weights kept column by column (same values): scikit-learn
    multiplies the features by `coef_.T`, which scipy copied whole at every parse when `coef_` was kept
    row by row (half of a one-message parse's CPU)."""
    if clf is not None and hasattr(clf.steps[-1][1], "coef_"):
        import numpy as np

        clf.steps[-1][1].coef_ = np.asfortranarray(clf.steps[-1][1].coef_)
    return clf


def load_skops(path: Any) -> Any:
    """A scikit-learn object saved with skops, refused (ValueError) if it holds types outside TRUSTED_PREFIXES.

    One pass when the file holds only skops's default types and USUAL_TYPES (what a trained model is
    made of): skops audits every type against them before it builds anything. Otherwise the file's
    types are listed (a second pass over the whole file, ~1.2 s of CPU for the 41 MB classifier) and
    checked against TRUSTED_PREFIXES."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return sio.load(path, trusted=list(USUAL_TYPES))
    except UntrustedTypesFoundException:
        pass
    untrusted = sio.get_untrusted_types(file=path)
    unexpected = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if unexpected:
        raise ValueError(f"unexpected types in {path}: {unexpected}")
    return sio.load(path, trusted=untrusted)


# Where a sentence ends: . ! ? ; (one or more) or a line break.
SENTENCE_END = re.compile(r"[.!?;\n]+")

# Types a trained scikit-learn pipeline is made of; anything else in a model file is refused.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")
# The types of a trained model that skops does not trust by default (the TF-IDF's sparse matrices),
# each under TRUSTED_PREFIXES: a model file of these loads in one pass (load_skops).
USUAL_TYPES = ("scipy.sparse._csr.csr_matrix",)


def drawn_in(word: str, keep: int = 2) -> str:
    """`word` with every run of more than `keep` of a letter cut to `keep` ("merciiii" -> "mercii")."""
    return re.sub(r"([^\W\d_])\1{%d,}" % keep, r"\1" * keep, word)


def filler_sequences(fillers: list[str]) -> list[tuple[str, ...]]:
    """The tokenizer's `fillers` as folded word sequences, the longest first ("du coup" -> ("du", "coup")),
    their repeated letters written once ("hmm" -> "hm"), as `without_fillers` reads the words."""
    out = {tuple(drawn_in(w, 1) for w in norm(f).split()) for f in fillers if norm(f)}
    return sorted(out, key=lambda f: (-len(f), f))


def without_fillers(tokens: list[Any], fillers: list[tuple[str, ...]]) -> list[Any]:
    """The tokens but those that make up a filler sequence, however drawn out ("euuuh"); all of them if
    nothing else is left."""
    if not fillers:
        return tokens
    kept, i, said = [], 0, [drawn_in(t.text, 1) for t in tokens]
    while i < len(tokens):
        n = next((len(f) for f in fillers if tuple(said[i : i + len(f)]) == f), 0)
        if n:
            i += n
        else:
            kept.append(tokens[i])
            i += 1
    return kept or tokens


# The masking's placeholders (masking.PLACEHOLDER_RE), put in the text before the model reads it: their
# words are the masking's, not the person's ("adresse" is no question about the préfecture's address,
# "immatriculation" no carte grise).
CONTACTS = ("[téléphone]", "[e-mail]")  # the masking's placeholders of a way to reach the person
CLAUSE = re.compile(r"[^,.;!?\n]+")
# A clause after the first that gives a contact with this few words (placeholders aside) is no part of the
# need; a longer one, or the first, may be the need told with a number in it (docs/pipeline.md, 30th pass).
CONTACT_CLAUSE_WORDS = 6


def read_tokens(tokens: list[Any], text: str, contact_words: frozenset[str], fillers: list[tuple[str, ...]]) -> list[Any]:
    """The tokens the model reads: without the placeholders and the clauses that give a contact, nor the fillers."""
    return without_fillers(without_placeholders(tokens, text, contact_words), fillers)


def word_set(values: list[str]) -> frozenset[str]:
    """The folded words of `values` (config.yml's `contact_words`: "s'il vous plaît" gives s, il, vous, plait)."""
    return frozenset(w for v in values for w in re.findall(r"\w+", fold(v)))


def without_placeholders(tokens: list[Any], text: str, contact_words: frozenset[str] = frozenset()) -> list[Any]:
    """The tokens but those inside one of the masking's placeholders, and those of a short clause that
    gives a contact ("appelez-moi au [téléphone]", "mon mail [e-mail]"): after the first, or the first when
    all its words are `contact_words` ("Mon numéro : [téléphone]. ..."); all of them if nothing else is left."""
    text = text or ""
    if "[" not in text:
        return tokens
    spans = [m.span() for m in PLACEHOLDER_RE.finditer(text)]
    for n, m in enumerate(CLAUSE.finditer(text)):
        words = PLACEHOLDER_RE.sub(" ", m.group())
        if not any(c in m.group() for c in CONTACTS) or len(words.split()) > CONTACT_CLAUSE_WORDS:
            continue
        if n or set(re.findall(r"\w+", fold(words))) <= contact_words:
            spans.append(m.span())
    kept = [t for t in tokens if not any(start <= t.start < end for start, end in spans)]
    return kept or tokens
