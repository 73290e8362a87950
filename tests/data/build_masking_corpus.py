"""Builds tests/data/masking_corpus.jsonl (issue 13 §6): synthetic French messages with labelled spans.

Run once by hand (`python tests/data/build_masking_corpus.py`); the JSONL is the committed test data.
Every name, number and address is invented. Written BEFORE the masking patterns that it measures:
message shapes come from the failures the issue lists and from what people write to a préfecture
(chat) or say to the phone menu (speech, lower case, no punctuation); values are drawn from small
hand-written lists with a fixed seed. Kinds: phone email nir iban agdref plate name address.
Messages without spans carry public numbers, dates, amounts, hours, SIRET and order numbers, which
must stay as they are.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

OUT = Path(__file__).with_name("masking_corpus.jsonl")
R = random.Random(13)

FIRST = [
    "Jean",
    "Marie",
    "Pierre",
    "Sophie",
    "Luc",
    "Nathalie",
    "Ahmed",
    "Fatima",
    "Mamadou",
    "Aïcha",
    "Jean-Pierre",
    "Marie-Claire",
    "Élodie",
    "François",
    "Zoé",
    "Kévin",
    "Inès",
    "Youssef",
    "Thi Lan",
    "Hélène",
    "Grégoire",
    "Amadou",
    "Chloé",
    "Mehdi",
    "Anaïs",
    "Bernard",
    "Oumar",
    "Léa",
    "Nour",
    "Yann",
]
LAST = [
    "Dupont",
    "Martin",
    "Leroy",
    "Robert",
    "Durand",
    "Moreau",
    "Lefèvre",
    "Fournier",
    "Girard",
    "Bonnet",
    "Benali",
    "Diallo",
    "Nguyen",
    "Traoré",
    "Da Silva",
    "Le Gall",
    "N'Diaye",
    "Chevalier",
    "Roux",
    "Faure",
    "Lambert",
    "Mercier",
    "Boyer",
    "Garnier",
    "Rousseau",
    "Perrin",
    "Morel",
    "Haddad",
    "Kaya",
    "Vidal",
    "Delmas",
    "Lacoste-Vidal",
    "Mazars",
    "Rouquier",
    "Bouzid",
]
TOWNS = [
    ("15000", "Aurillac"),
    ("15100", "Saint-Flour"),
    ("15200", "Mauriac"),
    ("15130", "Arpajon-sur-Cère"),
    ("33000", "Bordeaux"),
    ("37000", "Tours"),
    ("42000", "Saint-Étienne"),
    ("86000", "Poitiers"),
    ("15250", "Jussac"),
    ("42300", "Roanne"),
    ("37400", "Amboise"),
    ("33600", "Pessac"),
]
STREETS = [
    "rue des Lilas",
    "rue Victor Hugo",
    "avenue de la République",
    "av. du Général de Gaulle",
    "bd Gambetta",
    "boulevard Pasteur",
    "chemin des Crêtes",
    "allée des Tilleuls",
    "impasse du Moulin",
    "place de la Mairie",
    "route de Vic",
    "cours Monthyon",
    "quai de la Jordanne",
    "rue Jean Moulin",
    "avenue Milhaud",
    "rue de l'Égalité",
    "chemin de la Fontaine",
    "rue du 8 Mai 1945",
    "Rue Paul Doumer",
    "Avenue des Pupilles de la Nation",
    "bd du Pont Rouge",
    "résidence les Genêts",
]
LIEUX = ["lieu-dit Les Bruyères", "lieu-dit La Borie", "lieu dit le Bourg", "Lieu-dit Fonrouge"]
DOMAINS = [
    "gmail.com",
    "hotmail.fr",
    "orange.fr",
    "yahoo.fr",
    "free.fr",
    "laposte.net",
    "outlook.com",
    "sfr.fr",
    "wanadoo.fr",
    "icloud.com",
]


def ascii_lower(s: str) -> str:
    table = str.maketrans("éèêëàâäîïôöûüçÉ", "eeeeaaaiioouucE")
    return re.sub(r"[^a-z.-]", "", s.translate(table).lower().replace(" ", "").replace("'", ""))


def phone() -> str:
    d = R.choice("67") if R.random() < 0.7 else R.choice("1234589")
    rest = "".join(R.choice("0123456789") for _ in range(8))
    n = "0" + d + rest
    pairs = [n[i : i + 2] for i in range(0, 10, 2)]
    style = R.randrange(12)
    if style == 0:
        return n
    if style == 1:
        return ".".join(pairs)
    if style == 2:
        return "-".join(pairs)
    if style == 3:
        return "+33 " + n[1] + " " + " ".join(pairs[1:])
    if style == 4:
        return "+33" + n[1:]
    if style == 5:
        return "0033 " + n[1] + " " + " ".join(pairs[1:])
    if style == 6:
        return "+33 (0)" + n[1] + " " + " ".join(pairs[1:])
    if style == 7:
        return n[:2] + " " + n[2:5] + " " + n[5:8] + " " + n[8:]
    if style == 8:
        return "+33 " + n[1] + "." + ".".join(pairs[1:])
    return " ".join(pairs)


def email() -> str:
    f, l = ascii_lower(R.choice(FIRST)), ascii_lower(R.choice(LAST))
    local = R.choice([f"{f}.{l}", f"{f}{l}", f"{f[0]}.{l}", f"{l}.{f}{R.randrange(10, 99)}", f"{f}_{l}", f"{f}"])
    dom = R.choice(DOMAINS)
    style = R.randrange(10)
    if style == 0:
        return f"{local} (at) {dom}"
    if style == 1:
        return f"{local} @ {dom}"
    if style == 2:
        return f"{local}@{dom.split('.')[0]}"
    if style == 3:
        return f"{local}[at]{dom}"
    if style == 4:
        return f"{local} arobase {dom}"
    if style == 5:
        return f"{local.upper() if R.random() < 0.3 else local}@{dom.upper()}"
    return f"{local}@{dom}"


def nir() -> str:
    sex, yy, mm = R.choice("12"), f"{R.randrange(40, 99):02d}", f"{R.randrange(1, 13):02d}"
    dep = R.choice(["15", "75", "33", "2A", "2B", "42", "99", "86"])
    com, order, key = f"{R.randrange(1, 999):03d}", f"{R.randrange(1, 999):03d}", f"{R.randrange(1, 97):02d}"
    parts = [sex, yy, mm, dep, com, order, key]
    style = R.randrange(6)
    if style == 0:
        return "".join(parts)
    if style == 1:
        return "-".join(parts)
    if style == 2:
        return ".".join(parts)
    if style == 3:
        return "".join(parts[:-1]) + " " + key
    if style == 4:
        return " ".join(parts[:-1])  # without the key
    return " ".join(parts)


def iban() -> str:
    if R.random() < 0.8:
        digits = "".join(R.choice("0123456789") for _ in range(23))
        raw = f"FR{R.randrange(10, 99)}" + digits
    else:
        cc = R.choice(["DE", "BE", "ES", "IT", "PT"])
        n = {"DE": 18, "BE": 12, "ES": 20, "IT": 23, "PT": 21}[cc]
        raw = cc + f"{R.randrange(10, 99)}" + "".join(R.choice("0123456789") for _ in range(n))
        if cc == "IT":
            raw = raw[:4] + "X" + raw[5:]
    groups = [raw[i : i + 4] for i in range(0, len(raw), 4)]
    style = R.randrange(6)
    if style == 0:
        return raw
    if style == 1:
        return "-".join(groups)
    if style == 2:
        return " ".join(groups).lower()
    if style == 3 and raw.startswith("FR"):
        return f"{raw[:4]} {raw[4:9]} {raw[9:14]} {raw[14:25]} {raw[25:]}"
    return " ".join(groups)


def agdref() -> str:
    n = R.choice("123456789") + "".join(R.choice("0123456789") for _ in range(9))
    style = R.randrange(6)
    if style == 0:
        return f"{n[:2]}-{n[2:6]}-{n[6:]}"
    if style == 1:
        return f"{n[:3]}-{n[3:6]}-{n[6:]}"
    if style == 2:
        return f"{n[:2]} {n[2:6]} {n[6:]}"
    if style == 3:
        return "-".join(n[i : i + 2] for i in range(0, 10, 2))
    return n


SIV = "ABCDEFGHJKLMNPQRSTVWXYZ"


def plate() -> str:
    a, b = "".join(R.choice(SIV) for _ in range(2)), "".join(R.choice(SIV) for _ in range(2))
    n = f"{R.randrange(1, 999):03d}"
    style = R.randrange(9)
    if style == 0:
        return f"{a}–{n}–{b}"  # en dash
    if style == 1:
        return f"{a} {n} {b}".lower()
    if style == 2:
        return f"{a}{n}{b}"
    if style == 3:
        return f"{R.randrange(10, 9999)} {R.choice(['cd', 'ab', 'xy', 'rt'])} {R.choice(['15', '75', '33'])}"
    if style == 4:
        return f"{R.randrange(100, 999)} {''.join(R.choice(SIV) for _ in range(3))} {R.choice(['2A', '42', '86'])}"
    if style == 5:
        return f"{a.lower()}-{n}-{b.lower()}"
    if style == 6:
        return f"{a}—{n}—{b}"  # em dash
    return f"{a}-{n}-{b}"


def full_name(lower: bool = False) -> str:
    n = f"{R.choice(FIRST)} {R.choice(LAST)}"
    if R.random() < 0.15:
        n = f"{R.choice(LAST).upper()} {R.choice(FIRST)}"
    return n.lower() if lower else n


def address() -> tuple[str, str]:
    """(address, and whether it carries a postcode and town)."""
    cp, town = R.choice(TOWNS)
    if R.random() < 0.2:
        street = R.choice(LIEUX)
        return (f"{street}, {cp} {town}" if R.random() < 0.7 else f"{street} {cp} {town}"), ""
    num = str(R.randrange(1, 140)) + R.choice(["", "", "", " bis", " ter", "B"])
    street = R.choice(STREETS)
    style = R.randrange(5)
    if style == 0:
        return f"{num} {street}", ""
    if style == 1:
        return f"{num}, {street}, {cp} {town}", ""
    if style == 2:
        return f"{num} {street} {cp} {town.upper()}", ""
    return f"{num} {street} {cp} {town}", ""


# Message shapes: "{x}" is replaced by a value of the kind; several kinds may appear.
SHAPES = {
    "phone": [
        "rappelez moi au {phone}",
        "mon numéro c'est le {phone} merci",
        "Bonjour, vous pouvez me joindre au {phone}.",
        "tel {phone}",
        "Je n'arrive pas à joindre le service, mon portable : {phone}",
        "vous pouvez laisser un message sur le {phone} après 18h",
        "mon fils au {phone} attend votre appel",
        "numéro de téléphone {phone}",
        "c'est le {phone}",
        "appelez-moi ({phone}) svp",
        "zéro six douze non pardon {phone}",
        "Je suis joignable au {phone} ou par mail",
    ],
    "email": [
        "mon mail : {email}",
        "écrivez-moi à {email} svp",
        "mon adresse mail est {email}",
        "envoyez la réponse sur {email} merci",
        "Mail: {email}",
        "contact {email}",
        "Je n'ai pas reçu le mail sur {email}, pouvez-vous le renvoyer ?",
        "j'ai changé d'adresse, maintenant c'est {email}",
        "mon courriel {email} ne marche plus",
    ],
    "nir": [
        "mon numéro de sécu est {nir}",
        "NIR : {nir}",
        "numéro de sécurité sociale {nir}",
        "ma carte vitale {nir}",
        "Voici mon numéro de sécurité sociale : {nir}.",
        "secu {nir} pour la demande",
    ],
    "iban": [
        "mon IBAN : {iban}",
        "Voici mon RIB {iban} pour le remboursement",
        "iban {iban}",
        "Le remboursement du timbre sur le compte {iban} svp",
        "coordonnées bancaires : {iban}",
    ],
    "agdref": [
        "mon numéro étranger est {agdref}",
        "numéro AGDREF {agdref}",
        "n° étranger : {agdref}",
        "Mon numéro d'étranger {agdref}, mon titre expire bientôt",
        "agdref {agdref} merci de vérifier",
        "numéro de ressortissant étranger {agdref}",
    ],
    "plate": [
        "ma voiture immatriculée {plate} a été volée",
        "plaque {plate}",
        "j'ai vendu le véhicule {plate} hier",
        "immatriculation : {plate}",
        "la carte grise de la {plate} n'est pas arrivée",
        "Bonjour, certificat de cession pour {plate}",
        "amende pour le véhicule {plate} que j'ai vendu",
    ],
    "name": [
        "je m'appelle {name}",
        "Je m'appelle {name} et j'ai perdu mon passeport",
        "je m'appelle {lname} j'ai un rendez-vous",
        "Bonjour, M. {last} à l'appareil",
        "Mme {last}, je voudrais un rendez-vous",
        "Monsieur {name} pour un titre de séjour",
        "Madame {last} souhaite renouveler sa carte",
        "nom : {last}",
        "Nom: {last} Prénom: {first}",
        "Je voudrais savoir où en est ma demande. Cordialement, {name}",
        "Merci de votre réponse. Cordialement {name}",
        "Bien cordialement, {name}",
        "Merci d'avance, {name}",
        "Bonne journée. {name}",
        "mon nom est {last}",
        "moi c'est {first}",
        "je suis {name}, j'ai écrit hier",
        "de la part de {name}",
        "c'est pour ma mère, Mme {name}",
        "Mlle {last} pour la naturalisation",
        "je me nomme {name}",
        "Salutations, {name}",
        "Cdlt, {name}",
        "mon nom c'est {lname}",
        "bonjour je m'appelle {lname} et je voudrais un rendez-vous",
    ],
    "address": [
        "j'habite au {address}",
        "mon adresse : {address}",
        "Je réside {address} depuis mars",
        "envoyez le courrier au {address}",
        "adresse {address}",
        "nouvelle adresse : {address}",
        "J'ai déménagé au {address}, il faut changer la carte grise",
        "domicile : {address}",
        "je suis au {address} et je n'ai pas reçu mon titre",
    ],
}
MIXED = [
    "Bonjour, je m'appelle {name}, j'habite {address}, mon tel {phone}",
    "Mme {last}, {email}, {phone}",
    "Nom : {last}, tel : {phone}, mail : {email}",
    "{plate} vendue, acheteur M. {last}, {address}",
    "numéro étranger {agdref} et mon mail {email}. Cordialement, {name}",
    "iban {iban} et sécu {nir}",
    "je m'appelle {name} mon numéro c'est le {phone}",
]
# No personal data: public numbers (of the tree and préfecture files), dates, amounts, hours, SIRET,
# order numbers, legal references, capitalised places and civilities without a name.
NEGATIVES = [
    "le 34 00 ne répond pas",
    "j'ai appelé le 0806 001 620 sans réponse",
    "J'ai appelé le 0806 001 620 hier",
    "le numéro 0806 001 620 est-il gratuit ?",
    "Faut-il appeler le 34 00 ou la préfecture ?",
    "j'ai essayé le 04 71 46 23 00 toute la matinée",
    "Le standard 04 71 46 23 00 est toujours occupé",
    "j'ai appelé la préfecture d'Indre-et-Loire au 02 47 64 37 37",
    "le 02 47 64 37 37 ne décroche pas",
    "préfecture de la Loire 04 77 48 48 48, c'est bien ça ?",
    "le 04 77 48 48 48 sonne dans le vide",
    "0806001620 c'est le bon numéro ?",
    "le 3400 c'est l'ANTS ?",
    "notre SIRET 123 456 789 00012 pour la demande d'autorisation",
    "SIRET : 35600000000048",
    "numéro SIREN 552 100 554",
    "commande n° 2024118734 du timbre fiscal",
    "ma commande 100234567 sur le site des timbres",
    "référence de commande 45879632145",
    "facture n° 20240315001",
    "numéro de timbre fiscal acheté le 12/03",
    "rendez-vous le 12/05/2024 à 14h30",
    "le 3 mars 2024 à 9h",
    "ouvert de 8h30 à 12h et de 13h30 à 16h30",
    "j'ai payé 86 € pour le passeport",
    "timbre de 225 euros",
    "1 250,50 € de frais ?",
    "le titre coûte 200 €",
    "j'ai 25 ans et 3 enfants",
    "permis B depuis 2010",
    "titre de séjour de 10 ans",
    "le département 2A",
    "je suis dans le Cantal depuis 2019",
    "Je suis à Aurillac",
    "Je suis Française",
    "je suis étudiant à Tours",
    "je suis perdu dans les démarches",
    "Je suis né en 1985 à Alger",
    "M. le préfet peut-il m'aider ?",
    "Madame, Monsieur, je voudrais un rendez-vous",
    "Bonjour Madame,",
    "Cordialement",
    "Merci, bonne journée",
    "Bien cordialement.",
    "Madame la préfète",
    "article L. 313-11 du CESEDA",
    "formulaire cerfa n° 13750*07",
    "CERFA 12100*03 pour la carte grise",
    "loi n° 2018-778 du 10 septembre 2018",
    "décret 2021-1234",
    "où est la rue de la préfecture ?",
    "la préfecture est cours Monthyon à Aurillac",
    "15000 c'est Aurillac ?",
    "je suis dans la rue devant la préfecture",
    "à 3 rues de la gare",
    "code postal 15000",
    "il y a 2 avenues pour y aller",
    "Je viens de Saint-Flour",
    "le bus 4 passe à 8h15",
    "version 2.3 de l'application",
    "j'ai 2 véhicules",
    "la carte grise coûte 13,76 € plus les taxes",
    "mon dossier est en attente depuis 45 jours",
    "délai de 6 à 8 semaines",
    "le 15 du mois",
    "entre 100 et 200 personnes",
    "catégorie B",
    "Le 1er janvier 2025",
    "vers 17h45",
    "numéro de demande ANTS pas reçu",
    "J'ai fait la pré-demande en ligne",
    "quel est le délai pour un passeport",
    "Le Puy-en-Velay ou Clermont-Ferrand ?",
    "Bonjour Monsieur le Préfet",
    "Monsieur, merci",
    "Je m'appelle comment déjà le formulaire ?",
    "Nom d'usage et nom de naissance, c'est quoi la différence ?",
    "mon nom est mal écrit sur la carte",
    "Le Cantal",
    "à la Mairie de Tours",
    "Rue des Lilas c'est où ?",
    "je voudrais changer l'adresse sur ma carte grise",
    "l'adresse de la préfecture s'il vous plaît",
    "ouvert du lundi au vendredi",
    "le 12 rue est fermé ?",
    "RDV 10h",
    "pièce n° 3 du dossier",
    "tarif 2024 : 86 €",
    "les 3 premiers chiffres",
    "j'ai attendu 2 h 30",
    "24/24 7/7",
    "la préfecture de la Gironde",
    "à Bordeaux ou à Pessac",
    "Poitiers 86000",
    "vie privée RGPD",
    "j'ai reçu un SMS du 38 00",
    "le service public 39 39 ne répond pas",
    "score de 12,5 sur 20",
    "mon fils a 17 ans",
    "2 000 euros d'amende",
    "l'amende de 135 € pour la plaque",
    "ma voiture a 15 ans",
    "la plaque est en 2A ?",
    "Peugeot 208 de 2015",
    "100 km/h",
]


def render(shape: str) -> dict:
    text, spans, pos = "", [], 0
    for part in re.split(r"(\{\w+\})", shape):
        m = re.fullmatch(r"\{(\w+)\}", part)
        if not m:
            text += part
            continue
        key = m.group(1)
        kind = {"first": "name", "last": "name", "lname": "name"}.get(key, key)
        value = {
            "phone": phone,
            "email": email,
            "nir": nir,
            "iban": iban,
            "agdref": agdref,
            "plate": plate,
            "name": full_name,
            "address": lambda: address()[0],
            "first": lambda: R.choice(FIRST),
            "last": lambda: R.choice(LAST),
            "lname": lambda: full_name(lower=True),
        }[key]()
        spans.append({"start": len(text), "end": len(text) + len(value), "kind": kind})
        text += value
    del pos
    return {"text": text, "spans": spans}


def main() -> None:
    rows = []
    for kind, shapes in SHAPES.items():
        n = 40 if kind in ("name", "address") else 28
        for i in range(n):
            rows.append(render(shapes[i % len(shapes)]))
    for i in range(21):
        rows.append(render(MIXED[i % len(MIXED)]))
    rows.extend({"text": t, "spans": []} for t in NEGATIVES)
    with OUT.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(len(rows), "messages,", sum(len(r["spans"]) for r in rows), "spans ->", OUT)


if __name__ == "__main__":
    main()
