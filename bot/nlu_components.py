"""Custom Rasa NLU component: a whitespace tokenizer that makes French text accent- and
case-insensitive, so that "prefecture", "préfecture" and "PREFECTURE" give the same features.

Offsets still point into the original text (only `token.text` is normalised).
"""
from __future__ import annotations

import unicodedata
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message


def fold(text: str) -> str:
    """Lowercase and drop diacritics ("Récépissé" -> "recepisse"); œ/æ are expanded."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class FrenchTokenizer(WhitespaceTokenizer):
    """WhitespaceTokenizer + accent and case folding of every token."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "FrenchTokenizer":
        return cls(config)

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            token.text = fold(token.text)
            token.lemma = token.text  # featurizers read the lemma (set from the raw text at creation)
        return tokens
