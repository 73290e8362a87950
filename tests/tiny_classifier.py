"""A tiny `TfidfIntentClassifier` trained inside a test (no trained model on disk needed): the
examples, the tokenised messages and the training shared by the classifier's tests."""

from rasa.shared.nlu.training_data.message import Message

from bot.nlu.components import FrenchTokenizer, TfidfIntentClassifier

EXAMPLES = [
    ("personne ne répond au téléphone", "reclamation"),
    ("c'est une honte, aucune réponse", "reclamation"),
    ("je suis en colère contre votre accueil", "reclamation"),
    ("l'attente est inadmissible", "reclamation"),
    ("où en est mon dossier", "suivi_dossier"),
    ("je veux savoir où en est ma demande", "suivi_dossier"),
    ("toujours rien reçu pour mon dossier", "suivi_dossier"),
    ("état de ma demande", "suivi_dossier"),
]


def messages(*texts):
    tokenizer = FrenchTokenizer(FrenchTokenizer.get_default_config())
    out = [Message(data={"text": t}) for t in texts]
    tokenizer.process(out)
    return out


def trained(examples, storage=None, resource=None, **config) -> TfidfIntentClassifier:
    clf = TfidfIntentClassifier(config, storage, resource)
    train = messages(*[t for t, _ in examples])
    return clf.fit([clf._text(m) for m in train], [i for _, i in examples])
