"""Names that no cue announces, found by their first name (bot/core/masking.py runs this after the table of
bot/core/masking_patterns.py, whose cues come first).

The first names and surnames are INSEE's (bot/core/first_names.txt, bot/core/surnames.txt, written by
tools/name_lists.py, which says where they come from). What is taken, as "[nom]":
- a capitalised first name followed by capitalised words that are not common ones: "Kevin Moreau, dossier
  déposé en mars", "Le propriétaire, Pierre Lambert, est décédé", "Maria dos Santos"; one capitalised word
  before it too, when it is a surname or is not the first of its sentence ("Ma mère Nguyen Thi Lan");
- a capitalised first name alone, unless it is a place, a month or a holiday (NOT_ALONE), an everyday word at
  the start of a sentence ("Grâce à vous"), or it follows an article, a possessive, a preposition of place,
  a place's noun or another capitalised word ("la préfecture de Nancy", "ma Clio", "rue Victor Hugo");
- a first name in lower case only after a family word ("mon fils lucas") or a greeting ("merci sarah",
  "je suis fatima benali"), never an everyday word.
No capitalised name after a place's noun: "lycée Jules Ferry", "aéroport Charles de Gaulle".
One pass over the words, each looked at a bounded number of times: linear in the text's length.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from bot.core.masking_patterns import ACRONYMS, COMMON_WORDS, LEADING, NOT_A_NAME, TITLES
from bot.core.text import fold

HERE = Path(__file__).resolve().parent

# A word: letters, with inner apostrophes or hyphens ("N'Diaye", "Jean-Pierre", "l'hôpital"), or a placeholder
# the masking wrote ("[nom]", "[IBAN]": one word, never a name, and no name is taken alone after it).
_WORD = re.compile(r"\[[^\[\]\n]{1,40}\]|[^\W\d_]+(?:['’-][^\W\d_]+)*")


def _words(text: str) -> frozenset[str]:
    return frozenset(fold(w) for w in text.split())


MONTHS_AND_DAYS = _words(
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
    " lundi mardi mercredi jeudi vendredi samedi dimanche"
)
# Words after a first name that make it an organisation's or a place's name ("France Travail", "Nancy Ville").
ORGANISATION_WORDS = _words(
    """travail services service connect titres emploi ville gare tgv nord sud est ouest centre nationale national
    agglo agglomération métropole habitat télécom telecom mobile assurance assurances banque immobilier
    formation auto transports aéroport hôpital clinique lycée collège école université santé association
    identité visas"""
)
# English words that are first names or surnames elsewhere ("Can I book", "My ID card", "please can you").
ENGLISH = _words("i you he she we they my your me can may will do is am are the and or to in on at of for how what please")
# What ends a name and is never one: common words, titles, greetings, acronyms, months and days, English
# words, and France (France Travail, France Identité, France Services, France Visas...).
STOP = (
    frozenset(fold(w) for w in COMMON_WORDS | TITLES | ACRONYMS | NOT_A_NAME)
    | MONTHS_AND_DAYS
    | ORGANISATION_WORDS
    | ENGLISH
    | _words("dr pr me docteur professeur maître saint sainte st ste france")
)
# First names that are, alone, mostly something else: places, holidays, a symbol, brands.
NOT_ALONE = MONTHS_AND_DAYS | _words(
    """france paris nancy florence lorraine lourdes valence vienne laval victoria adélaïde sydney chelsea india
    florida savannah jordan israël alsace marianne noël toussaint mercedes clio chanel vitale"""
)
# The words before a name that make it a place's or an institution's: "rue Victor Hugo", "l'hôpital Marie Curie".
PLACE_NOUNS = _words(
    """rue avenue av boulevard bd place allée impasse chemin route quai cours square esplanade promenade parvis
    passage rond-point lycée collège école hôpital clinique gare aéroport centre stade gymnase piscine université
    faculté fac institut musée fondation résidence cité quartier pont parc port île mont saint sainte st ste salle
    espace maison médiathèque bibliothèque station métro arrêt hospitalier groupe caserne tribunal palais église
    cathédrale mosquée temple synagogue"""
)
# Before a first name alone, these make it something else: "à Florence", "ma Clio", "j'habite Valence".
NOT_BEFORE_ALONE = _words(
    """le la les l un une des du de d au aux mon ma mes ton ta tes son sa ses notre votre nos vos leur leurs ce cet
    cette ces à a en vers dans sur sous près habite habitons habitez vis vit vivons vivez depuis via direction"""
)
POSSESSIVES = _words("mon ma mes ton ta tes son sa ses notre votre nos vos leur leurs")
FAMILY = _words(
    """fils fille mère père mari femme épouse époux conjoint conjointe compagnon compagne frère sœur soeur enfant
    oncle tante neveu nièce cousin cousine grand-père grand-mère belle-mère beau-père belle-sœur beau-frère
    belle-fille beau-fils petit-fils petite-fille ex-mari ex-femme ex-épouse ex-compagnon ex-compagne fiancé
    fiancée copain copine bébé filleul filleule ami amie voisin voisine collègue"""
)
# Greetings after which a first name, even in lower case, is one: "merci sarah", "je suis fatima".
GREETINGS = _words("merci bonjour bonsoir salut coucou cordialement cdlt bises amicalement c'est")
GREETINGS_OF_TWO = {("merci", "beaucoup"), ("a", "bientot"), ("bonne", "journee"), ("bonne", "soiree"), ("je", "suis")}
PARTICLES = _words("de du des da dos das do del della di van von der den ben bin ibn abou ould ait el al")
NATIONALITY = re.compile(
    r"(?:francais|senegalais|camerounais|congolais|gabonais|togolais|beninois|polonais|portugais|anglais|irlandais"
    r"|japonais|chinois|libanais|pakistanais|bangladais|rwandais|angolais|soudanais|neerlandais|albanais|comorien"
    r"|algerien|tunisien|ivoirien|malien|guineen|tchadien|mauritanien|egyptien|syrien|irakien|iranien|ukrainien"
    r"|italien|bresilien|haitien|vietnamien|cambodgien|indien|georgien|armenien|somalien|ethiopien|canadien"
    r"|marocain|americain|roumain|mexicain|cubain|dominicain|africain|maghrebin|allemand|espagnol|afghan|kurde"
    r"|russe|belge|suisse|serbe|bulgare|malgache|britannique|turc|turque|grec|grecque|europeen|etranger)(?:n?e)?s?"
)


def is_nationality(word: str) -> bool:
    """A nationality's adjective or noun ("Français", "Algérienne"): capitalised, it is still not a name."""
    return NATIONALITY.fullmatch(fold(word)) is not None


@lru_cache(maxsize=1)
def lists() -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
    """(first names, those that are everyday words, surnames, those that are words), folded, read once."""
    out: list[frozenset[str]] = []
    for name in ("first_names.txt", "surnames.txt"):
        names, words = set(), set()
        for line in (HERE / name).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                key, _, mark = line.partition(" ")
                names.add(key)
                if mark == "~":
                    words.add(key)
        out += [frozenset(names), frozenset(words)]
    return out[0], out[1], out[2], out[3]


@lru_cache(maxsize=65536)
def _known(word: str) -> tuple[str, bool]:
    """A word's fold (with a straight apostrophe), and whether it is a known first name (each part of a
    compound one), not a common word nor an acronym ("IBAN"), nor a compound with one ("Saint-Martin")."""
    key = fold(word).replace("’", "'")
    if len(key) > 1 and word.isupper():
        return key, False
    parts = key.split("-")
    if any(part in STOP for part in parts):
        return key, False
    first = lists()[0]
    return key, key in first or (len(parts) > 1 and all(part in first for part in parts))


class _Words:
    """The words of a text, their folds (_known, worked out once a word) and what lies between two of them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans = [m.span() for m in _WORD.finditer(text)]
        self.words = [text[s:e] for s, e in self.spans]
        self.first_words, self.last, self.last_words = lists()[1:]

    def __len__(self) -> int:
        return len(self.words)

    def key(self, i: int) -> str:
        return _known(self.words[i])[0]

    def tail(self, i: int) -> str:
        """The fold after an elided article: "l'hôpital" -> "hopital"."""
        return self.key(i).rpartition("'")[2]

    def cap(self, i: int) -> bool:
        return self.words[i][0].isupper()

    def gap(self, i: int) -> str:
        """What lies before word i (the text's start for the first)."""
        return self.text[self.spans[i - 1][1] if i else 0 : self.spans[i][0]]

    def next_to(self, i: int) -> bool:
        """Word i follows word i - 1 after spaces only."""
        gap = self.gap(i)
        return i > 0 and 0 < len(gap) <= 3 and not gap.strip() and "\n" not in gap

    def close(self, i: int) -> bool:
        """Word i follows word i - 1 after spaces or a comma: "mon père, Antonio"."""
        return i > 0 and len(self.gap(i)) <= 3 and self.gap(i).strip() in ("", ",") and "\n" not in self.gap(i)

    def starts_sentence(self, i: int) -> bool:
        return i == 0 or any(c in '.!?:;\n()[]«»"–—' for c in self.gap(i))

    def is_first(self, i: int) -> bool:
        return _known(self.words[i])[1]

    def elided(self, i: int) -> bool:
        """An elided article before a word ("L'ANTS", "d'Hugo"), not a name's "N'" or "O'" ("N'Diaye")."""
        word = self.words[i]
        return len(word) > 2 and word[1] in "'’" and word[0] not in "NnOo"


def _surname(w: _Words, i: int) -> int:
    """The index of the last word of a name whose first name is word i: up to three capitalised words that
    are not common ones, a particle between two ("Maria dos Santos", "Léa Le Gall")."""
    end, k, count = i, i + 1, 0
    while k < len(w) and count < 3 and w.next_to(k):
        key = w.key(k)
        if key in PARTICLES | {"le", "la"} and k + 1 < len(w) and w.next_to(k + 1) and w.cap(k + 1):
            if w.key(k + 1) in STOP or w.elided(k + 1):
                break
            end, k, count = k + 1, k + 2, count + 1
            continue
        if not w.cap(k) or key in STOP or w.elided(k) or len(key) < 2:
            break
        end, k, count = k, k + 1, count + 1
    return end


def _before(w: _Words, prev: int) -> bool:
    """The capitalised word before a full name is part of it ("Ma mère Nguyen Thi Lan"): a surname, or
    any word that is not a common one nor the first of its sentence."""
    key = w.key(prev)
    if not w.cap(prev) or key in STOP or key in LEADING or key in GREETINGS or "'" in key or w.is_first(prev):
        return False
    return (key in w.last and key not in w.last_words) or not w.starts_sentence(prev)


def _alone(w: _Words, i: int, prev: int | None) -> bool:
    """A capitalised first name with no surname after it is one, unless something makes it a place's,
    a month's, a holiday's, a brand's or a word at the start of a sentence."""
    key = w.key(i)
    if key in NOT_ALONE or (key in w.first_words and w.starts_sentence(i)):
        return False
    if prev is not None:
        if w.words[prev][0] == "[":
            return False  # "[nom] Lan": what a name or a placeholder left
        before = w.tail(prev)
        if before in NOT_BEFORE_ALONE or before in PLACE_NOUNS:
            return False
        if w.cap(prev) and not w.starts_sentence(prev) and w.key(prev) not in GREETINGS:
            return False  # "Renault Mégane", "Victor Hugo"
    return not (i + 1 < len(w) and w.next_to(i + 1) and w.key(i + 1) in ORGANISATION_WORDS)


def _capitalised(w: _Words, i: int) -> tuple[int, int] | None:
    prev = i - 1 if w.next_to(i) else None
    if prev is not None and w.tail(prev) in PLACE_NOUNS:
        return None  # "rue Victor Hugo", "lycée Jules Ferry", "Saint Louis"
    end = _surname(w, i)
    if end > i:
        return (prev if prev is not None and _before(w, prev) else i), end
    return (i, i) if _alone(w, i, prev) else None


def _cued(w: _Words, i: int) -> bool:
    """A family word ("mon fils lucas", "ma mère, fatima") or a greeting ("merci sarah") before word i."""
    if not w.close(i):
        return False
    before = w.key(i - 1)
    if before in GREETINGS:
        return True
    two = i > 1 and w.close(i - 1)
    return two and ((before in FAMILY and w.key(i - 2) in POSSESSIVES) or (w.key(i - 2), before) in GREETINGS_OF_TWO)


def _lower(w: _Words, i: int) -> tuple[int, int] | None:
    """A first name in lower case after a family word or a greeting, with the surname after it: capitalised
    words, or surnames in lower case that are not words ("je suis fatima benali")."""
    key = w.key(i)
    if key in w.first_words or key in NOT_ALONE or not _cued(w, i):
        return None
    end, k = i, i + 1
    while k < len(w) and k - i <= 2 and w.next_to(k):
        after = w.key(k)
        if after in STOP or w.elided(k) or not (w.cap(k) or (after in w.last and after not in w.last_words)):
            break
        end, k = k, k + 1
    return i, end


def find(text: str) -> list[tuple[int, int]]:
    """The names of a text found by their first name: sorted, non-overlapping (start, end)."""
    w = _Words(text)
    found: list[tuple[int, int]] = []
    i, after = 0, 0  # after: the first word that no name found has taken
    while i < len(w):
        span = None
        if w.is_first(i):
            span = _capitalised(w, i) if w.cap(i) else _lower(w, i)
        if span is None:
            i += 1
            continue
        found.append((w.spans[max(span[0], after)][0], w.spans[span[1]][1]))
        i = after = span[1] + 1
    return found
