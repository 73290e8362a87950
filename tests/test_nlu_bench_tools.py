"""The routing bench's tools for judging a change to data/ (bench/nlu_bench.py, bench/nlu_audit.py): stratified folds,
the label audit (examples the out-of-fold models contradict) and the mean over framing seeds."""

import pytest

pytest.importorskip("rasa")
from bench.nlu_audit import audit  # noqa: E402
from bench.nlu_bench import classifier_config, fold_assignment, seeds_mean  # noqa: E402

VEHICLE = [
    "refaire ma carte grise après un déménagement",
    "changer l'adresse sur la carte grise de ma voiture",
    "j'ai vendu ma voiture, comment déclarer la cession",
    "carte grise perdue, comment avoir un duplicata",
    "immatriculer une moto achetée d'occasion",
    "le certificat d'immatriculation de ma voiture est abîmé",
    "mettre la carte grise de la voiture à mon nom",
    "acheter une voiture d'occasion, les papiers du véhicule",
    "voiture importée d'Allemagne, faire la carte grise",
    "ma voiture a été volée avec la carte grise dedans",
    "carte grise d'un véhicule de collection",
    "héritage de la voiture de mon père, la carte grise",
]
LICENCE = [
    "inscription à l'examen du code de la route",
    "passer l'examen du permis moto",
    "échanger un permis de conduire étranger",
    "mon permis de conduire est expiré, le renouveler",
    "pas de place d'examen pour le permis pratique",
    "j'ai perdu mon permis de conduire",
    "permis poids lourd, la visite médicale",
    "numéro NEPH pour l'auto-école",
    "le permis de conduire volé dans mon sac",
    "ajouter la catégorie moto au permis de conduire",
    "repasser le permis après une annulation",
    "examen pratique du permis, quand",
]
WEAPONS = [
    "déclarer un fusil de chasse hérité",
    "acheter une carabine pour le tir sportif",
    "créer mon compte sur le portail des armes SIA",
    "autorisation de détention d'une arme de poing",
    "vendre mes armes à un armurier",
    "mon fusil n'apparaît pas dans le SIA",
    "licence de tir et détention d'un pistolet",
    "j'ai trouvé un revolver dans la cave",
    "carte européenne d'arme à feu pour aller chasser en Espagne",
    "renouveler l'autorisation de mon arme",
    "abandonner une arme à la gendarmerie",
    "armurier, déclaration de la vente d'une arme",
]
MISLABELLED = "la carte grise de mon scooter, immatriculer à mon nom"


def test_folds_are_stratified_and_follow_their_seed():
    labels = ["a"] * 10 + ["b"] * 5
    folds = fold_assignment(labels, 5, seed=1)
    for k in range(5):
        assert [labels[i] for i, f in enumerate(folds) if f == k].count("a") == 2
        assert [labels[i] for i, f in enumerate(folds) if f == k].count("b") == 1
    assert fold_assignment(labels, 5, seed=1) == folds
    assert fold_assignment(labels, 5, seed=2) != folds


def test_the_audit_finds_a_line_filed_under_the_wrong_intent_and_no_other():
    records = [(t, "carte_grise", "a.yml") for t in VEHICLE]
    records += [(t, "permis_conduire", "a.yml") for t in LICENCE]
    records += [(t, "armes", "b.yml") for t in WEAPONS]
    records.append((MISLABELLED, "permis_conduire", "b.yml"))
    flagged = audit(classifier_config([]), records, folds=3, draws=(1, 2))
    assert [(f["text"], f["label"], f["found"], f["file"]) for f in flagged] == [
        (MISLABELLED, "permis_conduire", "carte_grise", "b.yml")
    ]
    assert flagged[0]["confidence"] >= 0.5 and flagged[0]["label_confidence"] < 0.2


def test_the_mean_over_seeds_keeps_each_seeds_figure():
    def one(dest, topic, right, answered):
        return {"n": 85, "destination_accuracy": dest, "topic_accuracy": topic, "answered_right": right, "answered": answered}

    mean = seeds_mean({42: one(0.8, 0.7, 1.0, 38), 1: one(0.7, 0.6, None, 0)})
    assert mean["seeds"] == [42, 1] and mean["n"] == 85
    assert mean["destination_accuracy_by_seed"] == [0.8, 0.7]
    assert mean["destination_accuracy"] == pytest.approx(0.75)
    assert mean["topic_accuracy"] == pytest.approx(0.65)
    assert mean["answered_right"] == 1.0  # a seed that answered nothing has no "right when answered"
    assert mean["answered"] == 19


def test_the_eval_table_gives_each_sets_destination_with_its_95_percent_interval():
    # 74 of the 85 messages written by the public routed right: 0.871, and the true rate on messages
    # like these may lie anywhere from 0.783 to 0.926 (Wilson score interval). A gap of 0.03 between
    # two sets of this size is inside it.
    from bench.eval_report import destination

    assert destination(74 / 85, 85) == "0.871 (0.783-0.926)"
    assert destination(1.0, 43) == "1.000 (0.918-1.000)"
    # Noisy variants are four spellings of each question, not independent messages: no interval.
    assert destination(0.865, 340, noisy=True) == "0.865"
