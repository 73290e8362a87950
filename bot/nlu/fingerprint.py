"""The code a trained model depends on, beyond data/, domain.yml and config.yml: the custom
components and the folding they call. Rasa's fingerprint (the components' `fingerprint_addon`),
the Makefile's TRAINING_HASH and bot.nlu.review.training_hash all include these files, so a
change to the tokenizer retrains instead of silently keeping the old model."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from bot.core.config import ROOT

CODE = (
    "bot/nlu/components.py",
    "bot/nlu/classifier_file.py",
    "bot/nlu/word_vectors.py",
    "bot/nlu/scoring.py",
    "bot/nlu/tfidf_fast.py",
    "bot/core/text.py",
)  # keep in step with TRAINING_FILES in the Makefile


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    h = hashlib.sha256()
    for name in CODE:
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()
