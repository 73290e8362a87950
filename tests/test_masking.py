"""Personal data is masked before anything is written."""

import pytest

from bot.core.masking import clean, mask, prepare

CASES = [
    # phone numbers
    ("rappelez moi au 06 12 34 56 78", "rappelez moi au [téléphone]"),
    ("mon tel 0612345678 svp", "mon tel [téléphone] svp"),
    ("tel : 06.12.34.56.78", "tel : [téléphone]"),
    ("+33 6 12 34 56 78 ou 0033612345678", "[téléphone] ou [téléphone]"),
    ("j'ai appelé le 0806 001 621", "j'ai appelé le [téléphone]"),
    ("mon numero anglais +44 20 7946 0958", "mon numero anglais [téléphone]"),
    # e-mails
    ("ecrivez a jean.dupont+pref@gmail.com merci", "ecrivez a [e-mail] merci"),
    # an apostrophe in the local part (accepted by the message form since 0656ec0): the whole address
    ("mon adresse : helene.o'connor@exemple.fr merci", "mon adresse : [e-mail] merci"),
    ("écrivez à o’brien.marie@gmail.com", "écrivez à [e-mail]"),
    # plates, SIV and old FNI formats
    ("ma voiture AB-123-CD est vendue", "ma voiture [immatriculation] est vendue"),
    ("plaque ab 123 cd", "plaque [immatriculation]"),
    ("ancienne plaque 1234 AB 15", "ancienne plaque [immatriculation]"),
    ("immatriculee 123 ABC 2A", "immatriculee [immatriculation]"),
    # foreigner file number (10 digits)
    ("mon numero etranger 7512345678", "mon numero etranger [n° étranger]"),
    # social security number, with and without spaces
    ("secu 1 85 05 78 006 084 36", "secu [n° sécurité sociale]"),
    ("NIR 285057800608436", "NIR [n° sécurité sociale]"),
    # IBAN
    ("IBAN FR76 3000 6000 0112 3456 7890 189", "IBAN [IBAN]"),
    # other long numbers
    ("dossier 12345678901234", "dossier [numéro]"),
    # a letter's signature, a name the lists may not know
    ("Merci de me répondre. Signé : Yao Kouassi", "Merci de me répondre. Signé : [nom]"),
    ("signée: kouassi adjoua", "signée: [nom]"),
    ("Signature : KOUASSI Yao, Aurillac", "Signature : [nom], Aurillac"),
]

KEPT = [
    "j'ai 25 ans et 3 enfants",
    "permis B depuis 2010",
    "le 34 00 ne répond pas",
    "j'ai appelé le 0806 001 620",  # the CCC's number, read from prefectures/_national.yml: public
    "rendez-vous le 12/05 à 14h30",
    "le département 2A",
    "titre de séjour de 10 ans",
    "j'ai signé le certificat de cession hier",
    "la signature du vendeur manque sur le certificat",
]


@pytest.mark.parametrize("text, expected", CASES)
def test_personal_data_is_masked(text, expected):
    assert mask(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_numbers_are_kept(text):
    assert mask(text) == text


@pytest.mark.parametrize("text, expected", CASES)
def test_masking_is_idempotent(text, expected):
    assert mask(mask(text)) == expected


def test_clean_drops_control_characters_and_collapses_spaces():
    assert clean("carte\x00 grise\x1b\n\n  perdue\u200b") == "carte grise perdue"


def test_prepare_cuts_long_messages_at_a_word_and_masks():
    text, truncated = prepare("bonjour " * 1000 + "06 12 34 56 78", 50)
    assert truncated is True
    assert len(text) <= 50
    assert text.startswith("bonjour bonjour")
    short, cut = prepare("mon tel 06 12 34 56 78", 50)
    assert (short, cut) == ("mon tel [téléphone]", False)
