"""Parity between the front doors: the whole tree walked by keypad through the real server.

The phone says the tree regrouped (`phone.menu` in bot/tree.yml, ivr/menu.py: five topics and 0),
but every answer of the tree is reachable by phone, every destination the chat answers with is
reachable by phone, and every leaf the phone answers with is a chat answer (same node, the chat's
screen text and the phone's voice text from the same tree entry).
"""

import json

import pytest

from bot.core.config import load_prefecture
from bot.core.tree import DESTINATIONS, load_tree, render
from ivr.twiml import ROOT, Speaker


@pytest.fixture(scope="module")
def walked(server):
    """BFS over the phone menus: {leaf id: (keys pressed, Say texts)}."""
    from conftest import TWILIO_TEST_TOKEN

    from tools.ivr.simulate import Call

    pref = load_prefecture("cantal")
    tree = Speaker(load_tree(), pref, "").tree  # the phone's menu
    leaves: dict[str, tuple[list[str], list[str]]] = {}
    queue = [([], ROOT)]
    while queue:
        keys, node_id = queue.pop(0)
        call = Call(server.url, TWILIO_TEST_TOKEN, now="2026-03-10T18:00")  # closed: no auto-transfer
        turn = call.start()
        for key in keys:
            turn = call.press(key)
        assert turn.node == node_id, (keys, turn.node)
        children = tree.children(None if node_id == ROOT else node_id)
        for child in children:
            line = f"{render(child.label, pref)}, tapez {child.key}."
            assert line in turn.says, (node_id, line)  # the phone says the option, from the tree
            queue.append((keys + [str(child.key)], child.id))
        if node_id != ROOT and tree.node(node_id).destination is not None:
            leaves[node_id] = (keys, turn.says)
        call.hangup()
    return leaves


def test_every_leaf_of_the_tree_is_reachable_by_keypad(walked):
    tree = load_tree()
    # suivi_dossier ("pour quel document ?") is a question: the phone says it as a menu.
    assert sorted(walked) == sorted(leaf.id for leaf in tree.leaves() if leaf.id != "suivi_dossier")
    assert walked["carte_grise"][0] == ["1", "1"]
    assert walked["cni_passeport"][0] == ["2"]
    assert walked["passeport_urgence"][0] == ["2", "1"]
    assert walked["titre_sejour"][0] == ["3"]
    assert walked["suivi_autre"][0] == ["4", "3"]
    assert walked["armes"][0] == ["5", "1"]
    assert walked["rdv_pan"][0] == ["5", "2"]
    assert walked["human"][0] == ["0"]


def test_every_chat_destination_is_reachable_by_phone(walked):
    tree = load_tree()
    by_phone = {tree.node(n).destination for n in walked}
    assert by_phone == set(DESTINATIONS) == {leaf.destination for leaf in tree.leaves()}


def test_every_phone_leaf_is_a_chat_answer(server, walked):
    tree, pref = load_tree(), load_prefecture("cantal")
    sp = Speaker(tree, pref, "")
    for node_id, (_keys, says) in walked.items():
        node = tree.node(node_id)
        if node.destination != "human":  # the human leaf, when closed, says why it cannot transfer
            # the tree's voice text, numbers and addresses said as words ("trente-quatre, zéro zéro")
            assert says[0] == sp.node_voice(node), node_id
        payload = "/navigate" + json.dumps({"node": node_id}, separators=(",", ":"))
        answer = server.say(f"parity-{node_id}", payload)
        assert answer[0]["text"] == render(node.screen_text, pref, {"referral": ""}), node_id


def test_every_pan_leaf_offers_the_next_slot_by_keypad_and_no_other_leaf_does(walked):
    tree = load_tree()
    offer = "Pour le prochain créneau disponible, tapez 4 ; pour annuler un rendez-vous, tapez 6."
    pan_leaves = sorted(n for n in walked if tree.node(n).destination == "pan_rdv")
    assert walked["rdv_pan"][0] == ["5", "2"]
    assert pan_leaves == sorted(leaf.id for leaf in tree.leaves() if leaf.destination == "pan_rdv")
    assert "rdv_pan" in pan_leaves
    for node_id, (_keys, says) in walked.items():
        assert (offer in says) == (node_id in pan_leaves), node_id
