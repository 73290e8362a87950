"""Posts written as on a help forum (issue 15; docs/pipeline.md, eighteenth pass): a greeting first and
thanks or a goodbye last. Those sentences say nothing of the need, so the sentence mix does not count
them (config.yml's `sentence_mix_skip`), and a clear request is answered, not asked about.
Posts written for this test, on the real server."""

import pytest
from conftest import db_rows

POSTS = [
    (
        "Bonjour à tous. J'ai déménagé à Bordeaux le mois dernier et je dois mettre à jour l'adresse sur le "
        "certificat d'immatriculation de ma voiture. Je ne sais pas par où commencer. Merci d'avance et bonne "
        "soirée à tous !",
        "carte_grise",
    ),
    (
        "Bonjour à tous. Mon permis de conduire arrive à expiration l'an prochain, c'est un vieux permis rose "
        "en trois volets. Comment le renouveler ? Merci à tous et bonne journée.",
        "permis_conduire",
    ),
    (
        "Salut. Ma carte de résident expire dans deux mois et je voudrais la renouveler, mais je ne sais pas "
        "quels papiers préparer. Merci beaucoup, bonne soirée.",
        "titre_sejour",
    ),
    (
        "Bonsoir. J'ai hérité de deux fusils de chasse de mon grand-père et je voudrais savoir comment les "
        "déclarer. Merci d'avance, bonne soirée à tous.",
        "armes",
    ),
]


@pytest.mark.parametrize(("post", "node"), POSTS, ids=[n for _, n in POSTS])
def test_a_post_with_a_greeting_and_a_sign_off_is_answered(server, post, node):
    sender = f"forum-{[p for p, _ in POSTS].index(post)}"
    server.say(sender, post)
    turn = db_rows(server.db, "select action, node from turns where conversation_id = ? order by id", [sender])[-1]
    assert (turn["action"], turn["node"]) == ("answer", node)
