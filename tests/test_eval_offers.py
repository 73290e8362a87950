"""What a clarifying question offers, as `make eval` counts it (`bot/nlu/evaluation.choices` and `offered`,
`bench/nlu_bench.summary`): the right topic or destination among the buttons, the person not counted."""

import pytest

from bot.core.config import load_prefecture
from bot.core.router import Router
from bot.core.tree import load_tree
from bot.nlu.evaluation import choices, evaluate, measure, offered


@pytest.fixture(scope="module")
def router():
    return Router(load_tree(), load_prefecture("cantal"))


def offers(router, decision, topic, destination=None):
    """Whether a decision's buttons offer the right way on, as the bench counts it for a clarification."""
    return offered([(n.topic, n.destination) for n in choices(router, decision)], topic, destination)


def parse(ranking):
    top = ranking[0]
    return {"intent": dict(top), "intent_ranking": ranking, "entities": []}


# A long story the model is unsure of: a complaint first, then a residence permit, then a file.
STORY = "je suis venu trois fois et personne ne m'a rien expliqué, je ne sais plus quoi faire de ma vie"
UNSURE = [
    {"name": "reclamation", "confidence": 0.40},
    {"name": "titre_sejour", "confidence": 0.30},
    {"name": "suivi_dossier", "confidence": 0.20},
    {"name": "carte_grise", "confidence": 0.10},
]


def test_a_clarification_offers_the_topics_of_its_buttons_and_not_the_others(router):
    d = router.decide(STORY, parse(UNSURE))
    assert d.action == "clarify"
    titles = [b["title"] for b in d.buttons]
    assert len(titles) == 4 and titles[-1] == router.tree.topic_node("human_handoff").title
    assert offers(router, d, "reclamation", "mailbox")
    assert offers(router, d, "titre_sejour", "ccc_0806")
    assert offers(router, d, "suivi_dossier", "ants_3400")  # the "suivi" button, whatever the document
    assert not offers(router, d, "carte_grise", "ants_3400")  # fourth in the ranking: no button


def test_a_follow_up_about_a_residence_permit_is_offered_by_the_titre_de_sejour_button(router):
    d = router.decide(STORY, parse(UNSURE))
    # expected suivi_dossier -> ccc_0806: the "Titre de séjour" button leads to the CCC as well
    assert offers(router, d, "suivi_dossier", "ccc_0806")
    # without a destination (the cross-validation knows only the topic) only the topic counts
    assert not offers(router, d, "hors_perimetre")


def test_the_button_to_a_person_is_not_counted_and_offers_reads_only_buttons(router):
    d = router.decide(STORY, parse(UNSURE))
    assert not offers(router, d, "human_handoff")
    answered = router.decide("comment refaire ma carte grise", parse([{"name": "carte_grise", "confidence": 0.95}]))
    assert answered.action == "answer"
    # an answer's buttons (the PAN's help) are not a clarification's choices, but `offers` reads
    # buttons only: the bench asks it about clarifications alone
    assert offers(router, answered, "rdv_pan", "pan_rdv")


def test_the_bench_counts_the_clarifications_that_offer_the_right_way_and_the_turns_served(router):
    pytest.importorskip("rasa")
    from bench.nlu_bench import summary

    clarified = router.decide(STORY, parse(UNSURE))
    right = router.decide("comment refaire ma carte grise", parse([{"name": "carte_grise", "confidence": 0.95}]))
    wrong = router.decide("ma carte grise", parse([{"name": "titre_sejour", "confidence": 0.95}]))
    expected = [
        {"topic": "titre_sejour", "destination": "ccc_0806"},  # asked, offered
        {"topic": "carte_grise", "destination": "ants_3400"},  # asked, not offered
        {"topic": "carte_grise", "destination": "ants_3400"},  # answered right
        {"topic": "carte_grise", "destination": "ants_3400"},  # answered wrong
    ]
    s = summary(expected, [clarified, clarified, right, wrong], router)
    assert s["actions"] == {"clarify": 2, "answer": 2}
    assert s["answered_right"] == 0.5
    assert s["asked_offered_right"] == 0.5
    assert s["served_first_turn"] == 0.5  # one right answer and one right button out of four
    assert s["clarify_with_pan_button"] == 0


def test_the_bench_counts_the_clarifications_that_offer_the_pan(router):
    pytest.importorskip("rasa")
    from bench.nlu_bench import summary

    # help words: the PAN is among the buttons, whatever the model's ranking
    helped = router.decide("je ne sais pas me servir d'un ordinateur, aidez-moi", parse(UNSURE))
    story = router.decide(STORY, parse(UNSURE))
    assert (helped.action, story.action) == ("clarify", "clarify")
    expected = [{"topic": "rdv_pan", "destination": "pan_rdv"}, {"topic": "reclamation", "destination": "mailbox"}]
    s = summary(expected, [helped, story], router)
    assert s["clarify_with_pan_button"] == 1
    assert s["asked_offered_right"] == 1.0


class ReadsTheWords:
    """Stands for the model in a scoring test: a parse from the message's words."""

    def parse(self, text):
        if "question" in text or "fils" in text:
            return parse([{"name": "vague_request", "confidence": 0.9}, {"name": "hors_perimetre", "confidence": 0.1}])
        if "grise" in text:
            return parse([{"name": "carte_grise", "confidence": 0.95}])
        return parse([{"name": "hors_perimetre", "confidence": 0.8}])


def test_requests_without_a_topic_are_counted_apart_by_how_they_were_met(router):
    items = [
        {"id": "a", "text": "refaire ma carte grise", "topic": "carte_grise", "destination": "ants_3400"},
        {"id": "b", "text": "j'ai une question", "kind": "no_subject"},
        {"id": "c", "text": "c'est pour mon fils", "kind": "no_subject"},
        {"id": "d", "text": "je fais comment", "kind": "no_subject"},
    ]
    report = measure(items, router, ReadsTheWords(), training=set())
    assert (report["n"], report["destination_accuracy"], report["actions"]) == (1, 1.0, {"answer": 1})
    assert report["no_subject"] == {"n": 3, "menu": 2, "likely_topics": 0, "answered": 1}


def test_the_menu_offers_every_topic_even_those_under_a_menu_button(router):
    d = router.decide("j'ai une question", parse([{"name": "vague_request", "confidence": 0.9}]))
    assert d.menu and d.buttons[0]["title"] == "Carte grise, permis, carte d'identité ou passeport"
    for topic in ("carte_grise", "permis_conduire", "cni_passeport", "titre_sejour", "armes", "hors_perimetre"):
        assert offers(router, d, topic), topic


def test_the_retrain_gates_scoring_takes_a_file_with_requests_without_a_subject(router):
    # `python -m bot eval` scores a whole file; the retrain gate keeps only the questions with a topic.
    items = [
        {"id": "a", "text": "refaire ma carte grise", "topic": "carte_grise", "destination": "ants_3400"},
        {"id": "b", "text": "j'ai une question", "kind": "no_subject"},
    ]
    predictions = [
        {"topic": "carte_grise", "destination": "ants_3400", "confidence": 0.9, "action": "answer", "menu": False},
        {"topic": None, "destination": None, "confidence": 0.9, "action": "clarify", "menu": True},
    ]
    report = evaluate(items, predictions)
    assert (report["n"], report["destination_accuracy"]) == (1, 1.0)
    assert report["no_subject"] == {"n": 1, "menu": 1, "likely_topics": 0, "answered": 0}
