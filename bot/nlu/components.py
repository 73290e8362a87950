"""Custom Rasa NLU components (registered with Rasa's graph recipe, named in config.yml).

- FrenchTokenizer: a whitespace tokenizer that makes French text accent- and case-insensitive, so that "prefecture",
  "préfecture" and "PREFECTURE" give the same features, and drops the spoken fillers and the contacts given (config.yml).
  Offsets still point into the original text (only token text and lemma are folded).
- TfidfIntentClassifier: TF-IDF word and char n-grams (+ optionally the IDF-weighted mean of the message's word vectors,
  bot/nlu/word_vectors.py) and a logistic regression; a message of several sentences is also scored sentence by sentence
  and the two are mixed, so that a need stated after some context is not drowned by the context's words.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.core.text import READING, fold
from bot.nlu import classifier_file, scoring, spelling, tfidf_fast
from bot.nlu.classifier_file import DENSE_FILE, OPINIONS_FILE, VECTORS_FILE  # noqa: F401 - re-exported
from bot.nlu.fingerprint import code_fingerprint


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class FrenchTokenizer(WhitespaceTokenizer):
    """WhitespaceTokenizer + accent and case folding, a letter held down cut to `held_letters` ("passsseport" ->
    "passeport", 17th pass), `sms_words` written out ("jsp" -> "je sais pas", 19th pass); spoken `fillers`
    ("euh", "du coup") dropped, however drawn out (16th pass); the masking's placeholders ("[adresse]") dropped."""

    DEFAULTS = {"fillers": [], "held_letters": 2, "sms_words": {}, "contact_words": []}

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**WhitespaceTokenizer.get_default_config(), **FrenchTokenizer.DEFAULTS}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.fillers = scoring.filler_sequences(config.get("fillers") or [])
        self.held = int(config.get("held_letters") or 0)  # a run of more letters is cut to this (0: off)
        self.sms = {fold(k): fold(v) for k, v in (config.get("sms_words") or {}).items()}  # "jsp" -> "je sais pas"
        self.contact_words = scoring.word_set(config.get("contact_words") or [])  # "Mon numéro : [téléphone]. ..."

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str:
        return code_fingerprint()  # a change to this code retrains (bot/nlu/fingerprint.py)

    @classmethod
    def create(
        cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext
    ) -> "FrenchTokenizer":
        return cls(config)

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            token.text = scoring.drawn_in(fold(token.text), self.held) if self.held else fold(token.text)
            token.text = self.sms.get(token.text, token.text)
            token.lemma = token.text  # featurizers read the lemma (set from the raw text at creation)
        return scoring.read_tokens(tokens, message.get(attribute), self.contact_words, self.fillers)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(GraphComponent, IntentClassifier):
    """Intent classifier: TF-IDF of words and character n-grams, then a logistic regression.

    Rasa's CountVectorsFeaturizer gives raw counts, so a long message weighs more than a short
    one; TF-IDF with sublinear term frequency and l2 normalisation does not, which is what a
    préfecture's users write (three words or a life story). Reads the tokens of the tokenizer
    before it (FrenchTokenizer folds accents and case).
    """

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str:
        return code_fingerprint()  # a change to this code retrains (bot/nlu/fingerprint.py)

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "word_ngram_max": 1,
            "char_ngram_min": 2,
            "char_ngram_max": 5,
            "C": 100.0,
            "max_iter": 5000,
            "random_state": 42,
            "ranking_length": 10,
            # Below this share of words seen in training, confidences are scaled down in proportion: the model
            # cannot be sure of a message of words it never saw ("zorglub wintz"); the router's ladder takes over.
            "min_known_words": 0.5,
            # Messages of several sentences (split on . ! ? ; and line breaks): share of the sentence-by-sentence
            # scores in the final probabilities (0 = whole message only), each sentence weighed by its top probability
            # and its place (the last `last_sentence_weight` times the first): people tell the context first and ask
            # last. A sentence whose best intent is one of `sentence_mix_skip` (a greeting, thanks, a goodbye) weighs nothing.
            "sentence_mix": 0.0,
            "last_sentence_weight": 2.0,
            "min_sentence_words": 3,
            "sentence_mix_skip": [],
            # Training only: a share of `framed_intents`' examples added again inside a framing of `framing_prefixes`
            # / `framing_suffixes` (greetings, anger, thanks), so that such words stop pointing at one intent.
            "framing_share": 0.0,
            "framing_draws": 1,  # draws of it, each copy weighing 1/draws: the draws' mean (twenty-second pass)
            "framed_intents": [],
            "framing_prefixes": [],
            "framing_suffixes": [],
            # Dense features (third pass, off): the IDF-weighted mean of a spaCy package's word vectors
            # (bot/nlu/word_vectors.py) times `dense_weight`; `word_vectors_dir`: an unzipped wheel instead.
            "word_vectors": None,
            "word_vectors_dir": None,
            "dense_weight": 1.0,
            # 0: the dense block joins the TF-IDF features; above 0: its own regression (dense_C), mixed in.
            "dense_mix": 0.0,
            "dense_C": 10.0,
            # Above 0 (with word_vectors): an unseen word is completed by its nearest training word from this cosine.
            "substitute_unseen": 0.0,
            "spelling_min_length": 0,  # from this many letters, an unseen word one edit from training words is read as one
            # Fifth pass (off): a second model on one block of the features (cnb_word, lr_word, lr_char,
            # svm_word); where its best intent differs, the confidences are the mean times `disagree_scale`.
            "second_model": None,
            "second_C": 10.0,
            "second_alpha": 0.3,
            "disagree_scale": 0.5,
            "disagree_keep": False,  # True: the main model's best guess stays first (only the confidence falls)
            # Extra logistic regressions averaged with the main one: on `bags` bootstrap samples, and one per C.
            "bags": 0,
            "ensemble_C": [],
            # The main model's logits divided by this before the softmax (calibration).
            "temperature": 1.0,
            # What the word TF-IDF reads: digit runs folded to one token, a light French suffix stripping.
            "word_digits": False,
            "word_stem": False,
            "word_min_df": 1,
            "char_min_df": 1,
            "max_df": 1.0,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        clf: Any = None,
        vectors: Any = None,
        dense_clf: Any = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage, self._resource = model_storage, resource
        self.clf = scoring.columns_first(clf)
        self.vectors = vectors  # WordVectors when config's word_vectors is set
        self.dense_clf = dense_clf  # the dense block's own model when dense_mix > 0
        self._idf, self._fast = None, None  # word -> IDF (`_word_idf`); (model, its TF-IDF union's transform)
        self._nearest: Any = None  # NearestKnown, built on first use from the vectors and the vocabulary
        self._speller: spelling.Speller | None = None  # built on first use from the vocabulary
        self.second: Any = None  # the second model (second_model)
        self.members: list[Any] = []  # extra logistic regressions (bags, ensemble_C)

    @classmethod
    def create(
        cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext
    ) -> "TfidfIntentClassifier":
        return cls(config, model_storage, resource)

    @staticmethod
    def _text(message: Message) -> str:
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        return " ".join(t.text for t in tokens) or fold(message.get(TEXT) or "")

    def _pipeline(self) -> Any:
        """(TF-IDF of words + TF-IDF of character n-grams, logistic regression), as make_pipeline names them."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        c = self.config
        return make_pipeline(
            make_union(
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=(1, c["word_ngram_max"]),
                    sublinear_tf=True,
                    token_pattern=r"(?u)\b\w+\b",
                    min_df=c["word_min_df"],
                    max_df=c["max_df"],
                ),
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(c["char_ngram_min"], c["char_ngram_max"]),
                    sublinear_tf=True,
                    min_df=c["char_min_df"],
                    max_df=c["max_df"],
                ),
            ),
            LogisticRegression(C=c["C"], max_iter=c["max_iter"], class_weight="balanced", random_state=c["random_state"]),
        )

    def _features(self, texts: list[str]) -> Any:
        """The logistic regression's input: the TF-IDF union's blocks side by side, as `FeatureUnion.transform`
        stacks them (bot/nlu/tfidf_fast.py), then the dense block when there are vectors."""
        sparse = self._union()([self._word_texts(texts), texts])
        if self.vectors is None or float(self.config["dense_mix"]) > 0 or float(self.config["dense_weight"]) <= 0:
            return sparse
        from scipy.sparse import csr_matrix, hstack

        return hstack([sparse, csr_matrix(self._dense(texts))], format="csr")

    def _union(self) -> Any:
        if self._fast is None or self._fast[0] is not self.clf:  # made once per model
            self._fast = (self.clf, tfidf_fast.union_of([v for _, v in self.clf.steps[0][1].transformer_list]))
        return self._fast[1]

    def _dense(self, texts: list[str]) -> Any:
        """Each text's IDF-weighted mean word vector (unknown words skipped), times dense_weight."""
        import numpy as np

        idf = self._word_idf()
        default = max(idf.values(), default=1.0)  # a word never seen in training: as rare as the rarest
        weight = float(self.config["dense_weight"])
        return np.vstack([self.vectors.mean(t.split(), idf, default) for t in texts]) * weight

    def _word_idf(self) -> dict[str, float]:
        """The trained words and their IDF, read once per model (the dense block, the spelling, NearestKnown)."""
        if self._idf is None:
            self._idf = scoring.unigram_idf(self.clf)
        return self._idf

    def _expand(self, text: str) -> str:
        """The text with the nearest training word of each unseen word (substitute_unseen), else as is."""
        minimum = float(self.config["substitute_unseen"])
        if self.vectors is None or minimum <= 0:
            return text
        if self._nearest is None:
            from bot.nlu.word_vectors import NearestKnown

            self._nearest = NearestKnown(self.vectors, list(self._word_idf()), minimum)
        return self._nearest.expand(text)

    def _word_texts(self, texts: list[str]) -> list[str]:
        digits, stem = bool(self.config["word_digits"]), bool(self.config["word_stem"])
        return [scoring.word_text(t, digits, stem) for t in texts] if digits or stem else texts

    def predict_proba(self, texts: list[str]) -> Any:
        return self._scores(texts)[0]

    def _scores(self, texts: list[str]) -> tuple[Any, Any]:
        """The main probabilities (members averaged in, dense mix) and the second model's (or None)."""
        texts = [self._expand(t) for t in texts]
        features = self._features(texts)
        model = self.clf.steps[-1][1]
        probas = scoring.tempered(model, features, float(self.config["temperature"]))
        if self.members:
            probas = scoring.member_probas(self.members, probas, features, model.classes_)
        if self.dense_clf is not None:
            mix = float(self.config["dense_mix"])
            probas = (1 - mix) * probas + mix * self.dense_clf.predict_proba(self._dense(texts))
        if self.second is None:
            return probas, None
        n_word = len(self.clf.steps[0][1].transformer_list[0][1].vocabulary_)
        return probas, scoring.second_probas(self.second, features, n_word, self.config["second_model"], model.classes_)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT)]
        if len({e.get(INTENT) for e in examples}) < 2:
            raise ValueError("TfidfIntentClassifier needs at least two intents with examples")
        self.fit([self._text(e) for e in examples], [e.get(INTENT) for e in examples])
        self.persist()
        return self._resource

    def fit(self, texts: list[str], labels: list[str]) -> "TfidfIntentClassifier":
        texts, labels, weights = scoring.with_copies(texts, labels, self._framed(texts, labels))
        self._nearest = self._speller = None
        c = self.config
        if c["word_vectors"]:
            from bot.nlu.word_vectors import WordVectors

            self.vectors = WordVectors.from_package(c["word_vectors"], c["word_vectors_dir"])
        self.clf, self._idf = self._pipeline(), None
        (_, words), (_, chars) = self.clf.steps[0][1].transformer_list
        words.fit(self._word_texts(texts))
        chars.fit(texts)
        features = self._features(texts)
        self.clf.steps[-1][1].fit(features, labels, sample_weight=weights)
        scoring.columns_first(self.clf)
        self.members = scoring.fit_members(features, labels, c)
        if c["second_model"]:
            self.second = scoring.fit_second(c["second_model"], features, labels, len(words.vocabulary_), c)
        if float(self.config["dense_mix"]) > 0:
            from sklearn.linear_model import LogisticRegression

            c = self.config
            self.dense_clf = LogisticRegression(
                C=c["dense_C"], max_iter=c["max_iter"], class_weight="balanced", random_state=c["random_state"]
            ).fit(self._dense(texts), labels)
        return self

    def _framed(self, texts: list[str], labels: list[str]) -> list[tuple[str, str, float]]:
        return scoring.framed(self.config, texts, labels)

    _sentences = staticmethod(scoring.sentences)

    def _mixed_probas(self, messages: list[Message], texts: list[str]) -> Any:
        """The probabilities of each message (sentence mix), gated by the second model when there is one."""
        pieces = [self._sentences(m, int(self.config["min_sentence_words"])) for m in messages]
        if float(self.config["sentence_mix"]) <= 0:
            pieces = [[] for _ in messages]
        flat = [s for p in pieces if len(p) > 1 for s in p]
        main, second = self._scores(texts + flat)  # one call: most of the cost is per call
        probas = self._sentence_mix(main, pieces, len(texts))
        if second is None:
            return probas
        second = self._sentence_mix(second, pieces, len(texts))
        return scoring.gate(probas, second, float(self.config["disagree_scale"]), bool(self.config["disagree_keep"]))

    def _sentence_mix(self, both: Any, pieces: list[list[str]], n: int) -> Any:
        c = self.config
        skip = [k for k, name in enumerate(self.clf.classes_) if name in c["sentence_mix_skip"]]
        return scoring.sentence_mix(both, pieces, n, float(c["sentence_mix"]), float(c["last_sentence_weight"]), skip)

    def process(self, messages: list[Message]) -> list[Message]:
        if self.clf is None:
            return messages
        if self._speller is None:  # typos read as training words (spelling_min_length; bot/nlu/spelling.py)
            self._speller = spelling.Speller(self._word_idf(), spelling.min_length(self.config))
        for m in messages:  # the router reads the words folded, fillers dropped, not spelled (READING)
            m.set(READING, " ".join(t.text for t in m.get(TOKENS_NAMES[TEXT]) or []), add_to_output=True)
            self._speller.correct_tokens(m.get(TOKENS_NAMES[TEXT]) or [], m.get(TEXT) or "")
        texts = [self._text(m) for m in messages]
        probas = self._mixed_probas(messages, texts)
        classes = self.clf.classes_
        for message, text, row in zip(messages, texts, probas):
            scale = self._familiarity(self._expand(text))
            order = sorted(zip(classes, row), key=lambda kv: -kv[1])  # rank on the model's probabilities
            ranking = [{"name": str(k), "confidence": float(v) * scale} for k, v in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking[: self.config["ranking_length"]], add_to_output=True)
        return messages

    def _familiarity(self, text: str) -> float:
        """1.0 when enough words were seen in training, less (down to 0) otherwise."""
        floor = float(self.config["min_known_words"])
        words = text.split()
        if not words or floor <= 0:
            return 1.0
        vocabulary = self.clf.steps[0][1].transformer_list[0][1].vocabulary_
        known = sum(1 for w in words if w in vocabulary) / len(words)
        return min(1.0, known / floor)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as model_dir:
            classifier_file.write_all(model_dir, self.clf, self.vectors, self.dense_clf, self.second, self.members)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "TfidfIntentClassifier":
        try:
            with model_storage.read_from(resource) as model_dir:
                parts = classifier_file.read_all(model_dir)  # a damaged file: Refused, and the model with it
        except ValueError:  # no such resource (Rasa's read_from): an untrained classifier, as Rasa's own components
            return cls.create(config, model_storage, resource, execution_context)
        loaded = cls(config, model_storage, resource, parts["clf"], parts["vectors"], parts["dense_clf"])
        loaded.second, loaded.members = parts["second"], parts["members"]
        return loaded
