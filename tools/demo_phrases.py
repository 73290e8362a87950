"""What the demo's users type and say, and when they come: phrasings per topic of the tree, greetings,
thanks, sentences the bot cannot understand, messages to the services, voicemails, and the weekday
and hour profile of the traffic. Data of tools/demo_data.py (also read by bench/report_bench.py).
"""

from __future__ import annotations

import unicodedata

DEMO_SUBJECT_PREFIX = "[Démonstration] "
OUTCOME_LABELS = {
    "answered": "réponse donnée",
    "transferred": "transférés",
    "voicemail": "messagerie vocale",
    "abandoned": "abandonnés",
}
# Calls come from numbers of this fictitious list only (masked by the server anyway).
DEMO_CALLERS = [
    "+33612000101",
    "+33622000202",
    "+33632000303",
    "+33642000404",
    "+33652000505",
    "+33662000606",
    "+33672000707",
    "+33682000808",
    "+33692000909",
    "+33712001010",
]

# --- what people write and say (the generator's own phrasings, not the dev set's nor data/'s) -------

PHRASES: dict[str, list[str]] = {
    "carte_grise": [
        "on vient de me vendre une Clio, je fais comment pour que la carte grise soit à mon nom",
        "je viens de déménager, il faut changer l'adresse sur le certificat d'immatriculation ?",
        "on m'a volé ma carte grise, je fais quoi pour en avoir une autre",
        "je vends ma moto, comment déclarer la vente",
        "carte grise perdue que faire svp",
        "ma fille hérite de la voiture de son père décédé, comment refaire la carte grise",
        "combien de temps pour recevoir le certificat d'immatriculation après la demande",
        "un site me demande 60 euros pour ma carte grise, c'est normal ?",
    ],
    "permis_conduire": [
        "mon permis rose est abîmé, je peux le changer contre le nouveau format ?",
        "impossible de remettre la main sur mon permis depuis le week-end",
        "je rentre du Maroc, comment faire reconnaître mon permis marocain en France",
        "j'ai réussi l'examen du code et de la conduite, quand vais-je recevoir mon permis",
        "renouvellement du permis poids lourd, où faire la démarche",
        "le titre provisoire de mon permis expire bientôt",
    ],
    "cni_passeport": [
        "je voudrais refaire ma carte d'identité qui est périmée",
        "passeport pour mon fils de 8 ans, comment on fait",
        "je pars en voyage dans 5 jours pour le travail et je n'ai plus de passeport",
        "où déposer le dossier de carte d'identité dans le département",
        "faut-il remplir une pré-demande avant d'aller en mairie pour le passeport",
        "ma carte d'identité a été volée dans mon sac",
    ],
    "titre_sejour": [
        "mon titre de séjour se termine le mois prochain, comment le renouveler",
        "je suis étudiant étranger, je dois valider mon visa long séjour",
        "je voudrais demander la nationalité française",
        "mon récépissé est expiré et je n'ai toujours pas de réponse",
        "je change d'adresse, il faut le signaler pour mon titre de séjour ?",
        "mon employeur demande une autorisation de travail pour moi",
        "je n'arrive pas à me connecter au site des étrangers en France",
    ],
    "armes": [
        "je suis chasseur, comment créer mon compte pour déclarer mes fusils",
        "j'ai hérité d'une carabine de mon grand-père, que dois-je faire",
        "renouvellement d'autorisation de détention d'arme pour le tir sportif",
        "je veux vendre un fusil de chasse à un ami",
    ],
    "rdv_pan": [
        "je n'ai pas d'ordinateur, quelqu'un peut m'aider à faire ma demande sur internet ?",
        "je voudrais un rendez-vous avec un médiateur numérique",
        "je ne sais pas me servir d'internet pour les démarches",
        "est-ce qu'on peut venir à la préfecture pour être aidé sur un ordinateur",
    ],
    "horaires_contact": [
        "le lundi matin vos bureaux ouvrent à partir de quelle heure",
        "vous vous trouvez où exactement, je dois passer déposer un papier",
        "vous êtes ouverts le samedi matin ?",
        "je cherche le numéro de téléphone du standard",
    ],
    "reclamation": [
        "j'ai envoyé trois mails sans jamais avoir de réponse, je veux me plaindre",
        "je voudrais faire une réclamation sur l'accueil que j'ai reçu",
        "j'ai une suggestion pour améliorer l'accueil du public",
    ],
    "suivi_dossier": [
        "où en est mon dossier déposé il y a deux mois ?",
        "je voudrais savoir l'état d'avancement de ma demande",
        "mon dossier est bloqué en instruction depuis l'été, vous savez pourquoi",
    ],
    "hors_perimetre": [
        "je n'ai pas reçu mes APL ce mois-ci",
        "j'ai pris un PV en ville et je voudrais le contester",
        "je voudrais un extrait d'acte de naissance",
        "ma carte vitale ne marche plus",
        "quand est-ce que je vais toucher ma retraite",
    ],
}
TOPIC_WEIGHTS = {
    "carte_grise": 28,
    "permis_conduire": 15,
    "cni_passeport": 12,
    "titre_sejour": 16,
    "armes": 4,
    "rdv_pan": 6,
    "horaires_contact": 8,
    "reclamation": 3,
    "suivi_dossier": 5,
    "hors_perimetre": 3,
}
GREETINGS = [
    "bonjour, je vous écris pour une démarche",
    "bonsoir, petite question rapide",
    "salut, une petite question",
    "bonjour, excusez-moi",
]
THANKS = [
    "mille mercis pour votre aide précieuse",
    "merci, bonne journée",
    "d'accord, merci bien",
    "génial, merci pour ces infos",
    "parfait, bonne fin de journée à vous, au revoir",
]
NOT_UNDERSTOOD = [
    "euh bof truc machin",
    "xkcd qwerty",
    "???",
    "c'est pour le truc de la dernière fois",
    "zzzz",
    "mmm pas sûr",
    "il faudrait voir avec le bidule",
]
BOT_QUESTIONS = ["est-ce que je parle à un robot ?", "vous êtes une vraie personne ?"]
HUMAN = ["je voudrais parler à quelqu'un de la préfecture", "est-ce que je peux avoir un vrai agent au bout du fil"]
FEEDBACK_COMMENTS = [
    None,
    None,
    None,
    "rapide et clair",
    "je n'ai pas trouvé ma réponse",
    "merci pour le lien",
    "trop long à lire",
]
TICKETS: dict[str, list[tuple[str, str]]] = {
    "armes": [
        (
            "Compte sur le portail des armes",
            "Bonjour, je n'arrive pas à valider mon compte détenteur. Pouvez-vous m'indiquer la marche à suivre ? Cordialement.",
        )
    ],
    "qualite": [
        (
            "Accueil au guichet",
            "Bonjour, j'ai attendu longtemps au guichet mardi dernier sans être reçu. Je souhaite le signaler.",
        )
    ],
    "courrier": [
        ("Demande d'information", "Bonjour, je souhaite savoir à quel service adresser un dossier d'association. Merci d'avance.")
    ],
    "titres": [
        (
            "Passeport d'urgence",
            "Bonjour, je dois partir pour un déplacement professionnel urgent. "
            "Quelles pièces apporter pour un passeport d'urgence ?",
        )
    ],
    "etrangers": [
        ("Question sur mon rendez-vous", "Bonjour, mon rendez-vous a été annulé, comment en obtenir un nouveau ? Merci.")
    ],
}
SPEECH = {
    "carte_grise": ["c'est pour une carte grise", "changer le nom sur ma carte grise"],
    "permis_conduire": ["c'est au sujet de mon permis", "j'ai égaré mon permis"],
    "titre_sejour": ["pour ma carte de séjour", "c'est pour renouveler mon titre de séjour"],
    "horaires_contact": ["vous êtes ouverts jusqu'à quelle heure", "à quelle heure vous ouvrez"],
    "cni_passeport": ["je dois refaire un passeport", "ma carte d'identité arrive à échéance"],
}
VOICEMAIL_TEXTS = [
    "Bonjour, je rappelle pour mon dossier, merci de me recontacter.",
    "Bonjour, j'ai une question sur mon autorisation, rappelez-moi s'il vous plaît.",
]

# Traffic profile (Paris local time): weekday mornings busiest, few on weekends, almost none at night.
WEEKDAY_WEIGHTS = [1.25, 1.1, 1.0, 1.0, 0.9, 0.25, 0.1]
HOUR_WEIGHTS = [
    0.05,
    0.02,
    0.02,
    0.02,
    0.02,
    0.05,
    0.2,
    0.6,
    1.4,
    2.0,
    2.0,
    1.7,
    1.0,
    1.1,
    1.5,
    1.5,
    1.3,
    1.0,
    0.7,
    0.6,
    0.5,
    0.4,
    0.25,
    0.1,
]
PHONE_HOURS = [0.0] * 7 + [0.3, 1.8, 2.2, 2.0, 1.6, 0.7, 1.0, 1.8, 1.7, 1.4, 0.9, 0.3] + [0.0] * 5


def fold(text: str) -> str:
    """Without accents (people type like that too)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
