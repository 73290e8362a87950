"""The masking's placeholders are not the person's words: the chat and the phone mask a message before
the model reads it ("ma plaque AB-123-CD" -> "ma plaque [immatriculation]"), and the tokenizer drops
the placeholders' words. Found by an outside-in audit (2026-12-04): a passport lost, told with a
plate number, was answered as a carte grise ("immatriculation"); "[adresse]", "[e-mail]",
"[téléphone]" are words of other topics too (the préfecture's address, "pas de réponse à mon mail")."""

import uuid

import pytest

pytest.importorskip("rasa")
from conftest import db_rows  # noqa: E402
from test_nlu_sms import product_words  # noqa: E402 - the product's tokenizer on a text

from bot.core.masking import prepare  # noqa: E402


def test_the_masked_text_keeps_only_the_persons_words():
    masked, _ = prepare("ma plaque AB-123-CD, joignable au 06 12 34 56 78 ou a.b@free.fr, passeport perdu", 2000)
    assert masked == "ma plaque [immatriculation], joignable au [téléphone] ou [e-mail], passeport perdu"
    assert product_words(masked) == ["ma", "plaque", "joignable", "au", "ou", "passeport", "perdu"]


def test_a_message_of_placeholders_only_keeps_them():
    assert product_words("[téléphone]") == ["telephone"]  # nothing else to read: as before


def test_the_same_words_outside_a_placeholder_are_kept():
    assert product_words("l'adresse et le téléphone de la préfecture") == [
        "l",
        "adresse",
        "et",
        "le",
        "telephone",
        "de",
        "la",
        "prefecture",
    ]


@pytest.mark.parametrize(
    "said, node",
    [
        # before: carte_grise, answered (0.95)
        ("ma plaque AB-123-CD, passeport perdu", "cni_passeport"),
        # answered right before too (the phone number's "[téléphone]" did not win): kept as a guard
        ("Bonjour, on m'a volé mon sac avec mon passeport dedans, rappelez-moi au 06 12 34 56 78", "cni_passeport"),
    ],
)
def test_a_message_with_personal_data_is_answered_on_its_own_words(server, said, node):
    sender = "ph-" + uuid.uuid4().hex[:10]
    server.say(sender, said)
    rows = db_rows(server.db, "select action, node from turns where conversation_id = ? order by id", [sender])
    assert [(r["action"], r["node"]) for r in rows] == [("answer", node)]
