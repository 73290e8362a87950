"""The chat and the phone route the same request the same way (issue 11: "0 of 40 spoken requests
disagreed", to keep). Forty requests as callers say them (fillers, no punctuation, numbers in words),
written for this test; each is sent to the chat and said at the phone's first prompt of a new call,
on the real server: where the chat answers with a node of the tree, the phone's next prompt is that
node; where the chat asks which topic is meant, the phone answers no leaf either."""

from conftest import TWILIO_TEST_TOKEN, db_rows

from bot.core.tree import load_tree
from tools.ivr.simulate import Call

SPOKEN = [
    "euh bonjour je voudrais refaire ma carte grise j'ai déménagé",
    "j'ai vendu ma voiture et je sais pas comment faire la déclaration de cession",
    "c'est pour un duplicata de certificat d'immatriculation",
    "oui bonjour j'ai perdu mon permis de conduire",
    "mon permis est expiré il faut le renouveler",
    "je voudrais échanger mon permis étranger contre un permis français",
    "c'est pour faire une carte d'identité pour mon fils",
    "je dois renouveler mon passeport avant de partir en vacances",
    "où est-ce qu'on peut faire une carte d'identité dans le coin",
    "mon titre de séjour expire le mois prochain",
    "je voudrais renouveler ma carte de résident",
    "c'est au sujet d'une demande de naturalisation",
    "j'ai pas reçu mon récépissé pour le titre de séjour",
    "bonjour c'est pour déclarer une arme de chasse",
    "je voudrais des renseignements sur le permis de détention d'armes",
    "je n'ai pas d'ordinateur pour faire mes démarches",
    "je voudrais de l'aide pour faire ma démarche sur internet",
    "ma mère est âgée elle a besoin d'aide pour ses papiers en ligne",
    "quels sont vos horaires d'ouverture",
    "vous êtes ouverts le samedi",
    "je voudrais faire une réclamation sur l'accueil de la préfecture",
    "je veux me plaindre personne ne répond jamais au téléphone",
    "où en est mon dossier de carte grise",
    "j'ai déposé mon dossier de titre de séjour il y a trois mois et j'ai pas de nouvelles",
    "je voudrais savoir où en est ma demande de naturalisation",
    "je voudrais parler à quelqu'un",
    "euh c'est pour la carte grise d'une voiture achetée d'occasion",
    "j'ai eu une suspension de permis je veux savoir comment le récupérer",
    "je voudrais une autorisation de travail pour un salarié étranger",
    "c'est pour mon passeport qui a été volé",
    "je voudrais prendre rendez-vous au point numérique",
    "mon permis de conduire a été volé dans mon sac",
    "je voudrais immatriculer une moto",
    "c'est pour une carte de séjour étudiant",
    "bonjour je cherche les horaires du standard",
    "j'ai un souci avec mon compte ANTS je n'arrive pas à me connecter",
    "c'est la mairie qui fait les cartes d'identité ou vous",
    "je voudrais changer l'adresse sur ma carte grise",
    "j'ai hérité d'un fusil de mon grand-père",
    "ma carte de séjour est perdue",
]


def chat_turn(server, sender: str, text: str) -> dict:
    server.say(sender, text)
    rows = db_rows(server.db, "select action, node from turns where conversation_id = ? order by id", [sender])
    return rows[-1]


def test_forty_spoken_requests_are_routed_the_same_by_the_chat_and_by_the_phone(server):
    assert len(SPOKEN) == 40 and len(set(SPOKEN)) == 40
    leaves = {leaf.id for leaf in load_tree().leaves()}
    disagree, answered = [], 0
    for i, text in enumerate(SPOKEN):
        chat = chat_turn(server, f"speech-parity-{i}", text)
        call = Call(server.url, TWILIO_TEST_TOKEN)
        call.start()
        spoken = call.say(text, confidence=0.92)  # above the tree's confirmation threshold
        assert call.hangup(duration=20) == 200
        by_chat = chat["node"] if chat["action"] == "answer" else None  # None: the chat asks which topic
        by_phone = spoken.node if spoken.node in leaves else None  # None: the phone asks, or offers its menu
        answered += by_chat is not None
        if by_chat != by_phone:
            disagree.append((text, by_chat, by_phone, spoken.says[:1]))
    assert disagree == []
    assert answered >= 30, f"only {answered} of 40 answered by the chat: the comparison would say little"
