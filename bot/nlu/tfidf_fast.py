"""The TF-IDF union's transform of fitted vectorizers, in one pass over the texts (issue 15: speed).

`TfidfIntentClassifier` stacks two fitted scikit-learn `TfidfVectorizer`s side by side (words,
character n-grams). Their own `transform`, called on one message and its sentences at every parse,
spends more time validating than counting: `check_is_fitted`, the `idf_` property (rebuilt from
the diagonal matrix at every call: a sum over the vocabulary), several sparse matrices built and
checked, then `hstack`. That was half of a parse's features (bench/nlu_bench.py, cProfile).

`UnionTransform` keeps what a fitted vectorizer is made of (its analyzer, vocabulary, IDF, options)
and builds the stacked matrix directly with the same arithmetic as scikit-learn 1.1's
`CountVectorizer._count_vocab` then `TfidfTransformer.transform`: raw counts of the analyzer's
features found in the vocabulary, `1 + log(tf)` when `sublinear_tf`, times the IDF, each block
scaled to unit L2 norm (an empty row stays empty). tests/test_tfidf_fast.py checks it against
scikit-learn's own transform on the training texts; a vectorizer with other options (binary,
norm "l1", no IDF) is refused, so the classifier falls back to scikit-learn's transform.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import csr_matrix


class Unsupported(ValueError):
    """A vectorizer option this transform does not reproduce."""


class UnionTransform:
    """`hstack([v.transform(texts_v) for v in vectorizers], format="csr")`, for fitted TfidfVectorizers."""

    def __init__(self, vectorizers: list[Any]) -> None:
        self.blocks = []
        offset = 0
        for v in vectorizers:
            if v.binary or not v.use_idf or v.norm != "l2":
                raise Unsupported(f"binary={v.binary}, use_idf={v.use_idf}, norm={v.norm!r}")
            idf = np.asarray(v.idf_, dtype=np.float64)  # once, not at every call
            self.blocks.append((v.build_analyzer(), v.vocabulary_, idf, offset, bool(v.sublinear_tf)))
            offset += len(idf)
        self.width = offset

    def __call__(self, texts_per_block: list[list[str]]) -> csr_matrix:
        """One row per text; texts_per_block[k][i] is row i's text as block k reads it."""
        n = len(texts_per_block[0])
        indptr, indices, data, stored = [0], [], [], 0
        for i in range(n):
            for (analyze, vocabulary, idf, offset, sublinear), texts in zip(self.blocks, texts_per_block):
                counts: dict[int, int] = {}
                for feature in analyze(texts[i]):
                    j = vocabulary.get(feature)
                    if j is not None:
                        counts[j] = counts.get(j, 0) + 1
                if not counts:
                    continue
                columns = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
                tf = np.fromiter((counts[j] for j in columns.tolist()), dtype=np.float64, count=len(counts))
                if sublinear:
                    tf = np.log(tf) + 1.0
                weights = tf * idf[columns]
                norm = np.sqrt(np.dot(weights, weights))
                if norm > 0:
                    weights /= norm
                indices.append(columns + offset)
                data.append(weights)
                stored += len(columns)
            indptr.append(stored)
        return csr_matrix(
            (
                np.concatenate(data) if data else np.zeros(0),
                np.concatenate(indices).astype(np.int32) if indices else np.zeros(0, dtype=np.int32),
                np.asarray(indptr, dtype=np.int32),
            ),
            shape=(n, self.width),
        )


def union_of(vectorizers: list[Any]) -> Any:
    """UnionTransform of the vectorizers, or (options it does not reproduce) scikit-learn's own transforms."""
    try:
        return UnionTransform(vectorizers)
    except Unsupported:
        from scipy.sparse import hstack

        return lambda texts_per_block: hstack(
            [v.transform(texts) for v, texts in zip(vectorizers, texts_per_block)], format="csr"
        )
