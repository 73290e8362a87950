"""The classifier's own file (bot/nlu/classifier_file.py): the fitted pipeline's arrays in numpy's .npz,
read back without pickle, with the same answers; a model trained before it (skops) still loads."""

import numpy as np
import pytest

pytest.importorskip("rasa")
import skops.io as sio  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402

from bot.nlu import classifier_file  # noqa: E402
from bot.nlu.components import FrenchTokenizer, TfidfIntentClassifier  # noqa: E402

EXAMPLES = [
    ("je veux vendre ma voiture", "carte_grise"),
    ("carte grise de la voiture d'occasion", "carte_grise"),
    ("immatriculer une moto", "carte_grise"),
    ("je veux renouveler mon passeport", "cni_passeport"),
    ("passeport perdu avant les vacances", "cni_passeport"),
    ("refaire ma carte d'identité", "cni_passeport"),
    ("mon titre de séjour expire", "titre_sejour"),
    ("récépissé de demande de titre de séjour", "titre_sejour"),
]
# Words of the examples, words never seen, an empty reading: each must score as before the round trip.
TEXTS = ["voiture", "mon passeport est perdu", "titre de sejour étudiant", "zorglub", "", "é"]


def tokenized(*texts):
    out = [Message(data={"text": t}) for t in texts]
    FrenchTokenizer(FrenchTokenizer.get_default_config()).process(out)
    return out


@pytest.fixture(scope="module")
def trained():
    """The product's classifier (config defaults: word 1-2-grams and character n-grams, logistic regression)."""
    component = TfidfIntentClassifier({"word_ngram_max": 2}, None, None)
    examples = tokenized(*[t for t, _ in EXAMPLES])
    return component.fit([component._text(m) for m in examples], [i for _, i in EXAMPLES])


def test_the_pipeline_read_back_gives_the_same_probabilities_and_features(trained, tmp_path):
    assert classifier_file.save(trained.clf, tmp_path) is True
    loaded = classifier_file.load(tmp_path / "tfidf_intent_classifier.npz")
    assert loaded.predict_proba(TEXTS).tolist() == trained.clf.predict_proba(TEXTS).tolist()
    assert (loaded.steps[0][1].transform(TEXTS) != trained.clf.steps[0][1].transform(TEXTS)).nnz == 0
    assert loaded.classes_.tolist() == ["carte_grise", "cni_passeport", "titre_sejour"]
    words, chars = (v for _, v in loaded.steps[0][1].transformer_list)
    assert words.vocabulary_ == trained.clf.steps[0][1].transformer_list[0][1].vocabulary_
    assert (words.ngram_range, chars.analyzer, chars.ngram_range) == ((1, 2), "char_wb", (2, 5))
    assert loaded.steps[-1][1].get_params() == trained.clf.steps[-1][1].get_params()


def ranking(component, text):
    return component.process(tokenized(text))[0].get("intent_ranking")


def test_the_component_writes_this_file_alone_and_loads_it_with_the_same_ranking(trained, tmp_path):
    storage, resource = LocalModelStorage(tmp_path), Resource("classifier")
    component = TfidfIntentClassifier({"word_ngram_max": 2}, storage, resource, trained.clf)
    component.persist()
    with storage.read_from(resource) as directory:
        assert sorted(p.name for p in directory.iterdir()) == ["tfidf_intent_classifier.npz"]
    loaded = TfidfIntentClassifier.load({"word_ngram_max": 2}, storage, resource, None)
    for text in ["vendre ma voiture", "passeport perdu", "zorglub"]:
        assert ranking(loaded, text) == ranking(component, text)


def test_a_model_trained_before_this_file_loads_from_its_skops_file(trained, tmp_path):
    storage, resource = LocalModelStorage(tmp_path), Resource("classifier")
    with storage.write_to(resource) as directory:
        sio.dump(trained.clf, directory / "tfidf_intent_classifier.skops")
    loaded = TfidfIntentClassifier.load({"word_ngram_max": 2}, storage, resource, None)
    assert loaded.clf.predict_proba(TEXTS).tolist() == trained.clf.predict_proba(TEXTS).tolist()


def test_a_pipeline_this_file_cannot_keep_whole_goes_to_skops(trained, tmp_path):
    from sklearn.base import clone

    other = clone(trained.clf)
    other.steps[0][1].transformer_list[0][1].set_params(preprocessor=str.upper)  # a function: no JSON for it
    assert classifier_file.save(other, tmp_path) is False
    assert list(tmp_path.iterdir()) == []
    other.steps[0][1].transformer_list[0][1].set_params(preprocessor=None)
    other.fit([t for t, _ in EXAMPLES], [i for _, i in EXAMPLES])
    other.steps[0][1].transformer_weights = {"tfidfvectorizer-1": 2.0}
    classifier_file.write(other, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["tfidf_intent_classifier.skops"]


def saved(trained, tmp_path, **changes):
    """The classifier's file, with some of its arrays replaced."""
    classifier_file.save(trained.clf, tmp_path)
    path = tmp_path / "tfidf_intent_classifier.npz"
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    for name in [k for k, v in changes.items() if v is None]:
        del arrays[name]
    np.savez(path, **arrays)
    return path


def test_a_file_holding_a_python_object_is_refused_without_building_it(trained, tmp_path):
    path = saved(trained, tmp_path, classes=np.array([object(), "carte_grise", "titre_sejour"], dtype=object))
    with pytest.raises(ValueError, match=r"tfidf_intent_classifier\.npz: not a classifier file of this version \(Object arrays"):
        classifier_file.load(path)


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"coef": None}, r"not a classifier file of this version \('coef is not a file in the archive'\)"),
        ({"idf_1": np.ones(3)}, r"vectorizer 1: IDF of shape \(3,\) for \d+ terms"),
        ({"coef": np.zeros((3, 5))}, r"weights of shape \(3, 5\) for 3 classes and \d+ features"),
        ({"coef": np.zeros((2, 10**4))}, r"weights of shape \(2, 10000\) for 3 classes and \d+ features"),
        ({"spec": np.array('{"format": 2}')}, r"format 2, expected 1"),
        ({"spec": np.array("{not json")}, r"not a classifier file of this version \(Expecting property name"),
    ],
)
def test_a_damaged_or_foreign_file_is_refused_with_its_reason(trained, tmp_path, changes, reason):
    with pytest.raises(ValueError, match=reason):
        classifier_file.load(saved(trained, tmp_path, **changes))


def with_spec(trained, tmp_path, step, **options):
    """The classifier's file with some options of one step (0, 1: the vectorizers; "classifier") changed."""
    import json

    classifier_file.save(trained.clf, tmp_path)
    with np.load(tmp_path / "tfidf_intent_classifier.npz", allow_pickle=False) as z:
        spec = json.loads(str(z["spec"]))
    target = spec["classifier"] if step == "classifier" else spec["vectorizers"][step][1]
    target.update(options)
    for name in [k for k, v in options.items() if v == "-"]:
        del target[name]
    return saved(trained, tmp_path, spec=np.array(json.dumps(spec)))


@pytest.mark.parametrize(
    "step, options, reason",
    [
        (0, {"input": "filename"}, r"vectorizer 0: input='filename' is not a value this file may hold"),
        (1, {"token_pattern": r"(\w+)+\$"}, r"vectorizer 1: token_pattern='\(\\\\w\+\)\+\\\\\$' is not"),
        (0, {"analyzer": "foo"}, r"vectorizer 0: analyzer='foo' is not a value"),
        (0, {"ngram_range": [5, 2]}, r"vectorizer 0: ngram_range=\[5, 2\] is not a value"),
        (0, {"preprocessor": "str.upper"}, r"vectorizer 0: preprocessor='str.upper' is not a value"),
        (0, {"lowercase": 1}, r"vectorizer 0: lowercase=1 is not a value"),
        (0, {"callback": None}, r"vectorizer 0: options \['analyzer', .*'callback'.*\], expected"),
        (1, {"norm": "-"}, r"vectorizer 1: options .*, expected \[.*'norm'"),
        ("classifier", {"multi_class": "bogus"}, r"classifier: multi_class='bogus' is not a value"),
        ("classifier", {"C": -1}, r"classifier: C=-1 is not a value"),
    ],
)
def test_options_the_classifier_is_never_trained_with_are_refused_when_the_file_is_read(trained, tmp_path, step, options, reason):
    with pytest.raises(ValueError, match=reason):
        classifier_file.load(with_spec(trained, tmp_path, step, **options))


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"coef": np.full((3, 4), np.nan)}, r"weights: finite float64 numbers expected"),
        ({"idf_0": np.ones(3, dtype=np.float32)}, r"IDF of vectorizer 0: finite float64 numbers expected, not float32"),
        ({"classes": np.array([1, 2, 3])}, r"classes \[1, 2, 3\]: two different names or more expected"),
        ({"classes": np.array(["a", "a", "b"])}, r"classes \['a', 'a', 'b'\]: two different names or more"),
        ({"classes": np.array([], dtype=str)}, r"classes \[\]: two different names or more expected"),
        ({"terms_0": np.array([1, 2])}, r"vectorizer 0: terms as UTF-8 bytes expected, not int64"),
        ({"terms_0": np.frombuffer(b"voiture\nvoiture", dtype=np.uint8)}, r"vectorizer 0: 2 terms, some empty or given twice"),
        ({"terms_1": np.zeros(0, dtype=np.uint8)}, r"vectorizer 1: 1 terms, some empty or given twice"),
        ({"terms_1": np.frombuffer(b"\xff\xfe", dtype=np.uint8)}, r"'utf-8' codec can't decode byte 0xff"),
    ],
)
def test_arrays_of_another_kind_are_refused(trained, tmp_path, changes, reason):
    with pytest.raises(ValueError, match=reason):
        classifier_file.load(saved(trained, tmp_path, **changes))


def test_weights_wider_than_the_features_are_refused_unless_the_word_vectors_block_follows(trained, tmp_path):
    lr = trained.clf.steps[-1][1]
    width = lr.coef_.shape[1]
    path = saved(trained, tmp_path, coef=np.zeros((3, width + 4)))
    with pytest.raises(ValueError, match=rf"weights of shape \(3, {width + 4}\) for 3 classes and {width} features"):
        classifier_file.load(path)
    assert classifier_file.load(path, dense_width=4).steps[-1][1].n_features_in_ == width + 4


def test_a_long_word_costs_its_own_length_and_any_character_but_a_line_break_is_kept(tmp_path):
    from sklearn.base import clone

    component = TfidfIntentClassifier({"word_ngram_max": 2}, None, None)
    long_word = "a" * 5000  # a fixed-width text array would have given every term this width (20 kB each)
    texts = [t for t, _ in EXAMPLES] + [f"{long_word} nul\x00 voiture"]
    clf = clone(component._pipeline()).fit(texts, [i for _, i in EXAMPLES] + ["carte_grise"])
    assert classifier_file.save(clf, tmp_path) is True
    assert (tmp_path / "tfidf_intent_classifier.npz").stat().st_size < 400_000
    loaded = classifier_file.load(tmp_path / "tfidf_intent_classifier.npz")
    words = loaded.steps[0][1].transformer_list[0][1].vocabulary_
    assert long_word in words and words == clf.steps[0][1].transformer_list[0][1].vocabulary_
    assert loaded.predict_proba(texts).tolist() == clf.predict_proba(texts).tolist()
    chars = clf.steps[0][1].transformer_list[1][1]
    chars.vocabulary_ = {**chars.vocabulary_, "a\nb": len(chars.vocabulary_)}  # one per line: not this file's
    assert classifier_file.save(clf, tmp_path / "x") is False


def test_a_number_json_cannot_write_is_refused(trained, tmp_path):
    with pytest.raises(ValueError, match=r"not a classifier file of this version \(Infinity in the options\)"):
        classifier_file.load(with_spec(trained, tmp_path, "classifier", C=float("inf")))


def test_the_component_refuses_a_damaged_file_and_the_model_with_it(trained, tmp_path):
    storage, resource = LocalModelStorage(tmp_path), Resource("classifier")
    TfidfIntentClassifier({"word_ngram_max": 2}, storage, resource, trained.clf).persist()
    with storage.read_from(resource) as directory:
        (directory / "tfidf_intent_classifier.npz").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(classifier_file.Refused, match=r"tfidf_intent_classifier\.npz: not a classifier file of this version"):
        TfidfIntentClassifier.load({}, storage, resource, None)  # Rasa refuses the model: the server stops, saying so


def test_a_classifier_never_trained_has_no_resource_and_starts_untrained(tmp_path):
    loaded = TfidfIntentClassifier.load({}, LocalModelStorage(tmp_path), Resource("never_written"), None)
    assert loaded.clf is None


def test_an_archive_with_a_skops_file_is_told_apart_so_that_skops_is_imported_before_rasa(tmp_path):
    import io
    import tarfile

    def archive(name: str, *members: str):
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as out:
            for member in members:
                info = tarfile.TarInfo(member)
                info.size = 2
                out.addfile(info, io.BytesIO(b"{}"))
        return path

    before = archive("before.tar.gz", "components/train_x/tfidf_intent_classifier.skops", "metadata.json")
    after = archive("after.tar.gz", "components/train_x/tfidf_intent_classifier.npz", "metadata.json")
    (tmp_path / "damaged.tar.gz").write_bytes(b"not an archive")
    assert classifier_file.needs_skops(before) is True
    assert classifier_file.needs_skops(str(after)) is False
    assert classifier_file.needs_skops(tmp_path / "damaged.tar.gz") is False  # Rasa refuses it later, saying so
    assert classifier_file.needs_skops(tmp_path / "absent.tar.gz") is False
    assert classifier_file.needs_skops(tmp_path) is False  # a folder of models
    assert classifier_file.needs_skops(None) is False
