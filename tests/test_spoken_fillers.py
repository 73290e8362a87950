"""Spoken fillers inside a request, on the real server (issue 15; docs/pipeline.md, sixteenth pass): the
tokenizer drops them (config.yml's `fillers`) and the router reads its word lists in the NLU's reading
("text_read" in the parse), so "ma carte euh grise" is the carte grise, in the chat as at the phone.
Requests written for this test."""

import pytest
from conftest import TWILIO_TEST_TOKEN, db_rows

from tools.ivr.simulate import Call

SAID = [
    # (what is said, the node it is routed to)
    ("euh bonjour j'ai demandé le changement d'adresse de ma carte euh grise en juin et euh toujours rien reçu", "suivi_ants"),
    ("bah du coup mon permis euh de conduire je l'ai demandé il y a deux mois et bah rien", "suivi_ants"),
    ("alors voilà ma carte de euh séjour j'ai fait la demande en mars et en fait j'ai aucune nouvelle", "suivi_titre_sejour"),
]


@pytest.mark.parametrize(("said", "node"), SAID)
def test_a_request_broken_by_fillers_is_routed_in_the_chat_and_at_the_phone(server, said, node):
    sender = f"fillers-{SAID.index((said, node))}"
    server.say(sender, said)
    turn = db_rows(server.db, "select action, node, text from turns where conversation_id = ? order by id", [sender])[-1]
    assert (turn["action"], turn["node"]) == ("answer", node)
    assert turn["text"] == said  # kept as written, not as read
    call = Call(server.url, TWILIO_TEST_TOKEN)
    call.start()
    assert call.say(said, confidence=0.92).node == node
    assert call.hangup(duration=20) == 200


def test_a_request_typed_with_drawn_out_letters_and_fillers_is_answered(server):
    # Typed in the chat with a held key (written for this test): read as "ma carte grise".
    server.say("drawn-out", "euuuuh hmmmm ma carte euuuh griiise")
    turn = db_rows(server.db, "select action, node from turns where conversation_id = ? order by id", ["drawn-out"])[-1]
    assert (turn["action"], turn["node"]) == ("answer", "carte_grise")
