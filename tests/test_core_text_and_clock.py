"""One home per concept: accent folding and the matching key (bot/core/text.py), Paris time and the
French calendar (bot/core/clock.py), used by the router, the tokenizer, pan, tickets and the reports."""

import sys
import unicodedata
from datetime import date, datetime

from bot.core import clock, router, text
from bot.nlu import components
from bot.services import pan


def test_the_router_and_the_tokenizer_fold_the_same_way():
    assert router.norm is text.norm and components.fold is text.fold
    assert text.fold("Sœur, RÉCÉPISSÉ, ex æquo") == "soeur, recepisse, ex aequo"
    assert text.norm("  Ma sœur a perdu son récépissé !!") == "ma soeur a perdu son recepisse"


def test_fold_is_its_definition_for_every_character():
    """fold's fast paths (ASCII as lowered, a translate table of combining marks) give what its definition
    gives: lowercase, œ/æ written out, NFKD, combining marks dropped; for each code point alone and mixed."""

    def defined(s: str) -> str:
        s = s.lower().replace("œ", "oe").replace("æ", "ae")
        return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))

    every = [chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i <= 0xDFFF]
    assert [c for c in every if text.fold(c) != defined(c)] == []
    assert text.fold("".join(every)) == defined("".join(every))
    assert len(text._UNMARKED) == text.UNMARKED_KEPT  # the table stops growing there
    assert (
        text.fold("Ça coûte 2 € — ﬁn, İSTANBUL, Œuvre, e\u0301te\u0301, ΟΔΟΣ")
        == "ca coute 2 € — fin, istanbul, oeuvre, ete, οδος"
    )
    assert text.fold("Carte GRISE perdue") == "carte grise perdue"


def test_norm_is_its_definition_for_every_character_and_mixed_texts():
    """norm's one translate gives what its definition gives: the runs of other characters than a-z and 0-9
    of the folded text made one space, stripped; for each code point alone, all of them in one text, and
    random texts of letters, combining marks, final sigmas, spaces and signs."""
    import random
    import re

    def defined(s: str) -> str:
        return re.sub(r"[^a-z0-9]+", " ", text.fold(s)).strip()

    every = [chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i <= 0xDFFF]
    assert [c for c in every if text.norm(c) != defined(c)] == []
    assert text.norm("".join(every)) == defined("".join(every))
    assert len(text._KEYED) == text.UNMARKED_KEPT  # the table stops growing there
    pool = list("aAeÉéèœŒæÆßİıΣσςΟΔ ǅﬁ½²℃ '’-_!?\t\n\u00a0\u0301\u0308\u0327\u200b") + ["e\u0301", "한", "ｶ"]
    rng = random.Random(16)
    for _ in range(3000):
        sample = "".join(rng.choice(pool) for _ in range(rng.randrange(0, 12)))
        assert text.norm(sample) == defined(sample), repr(sample)
    assert text.norm("  Ma SŒUR a perdu son récépissé !! ΟΔΟΣ ﬁn ½") == "ma soeur a perdu son recepisse fin 1 2"


def test_one_email_check_for_users_and_prefecture_files():
    assert text.EMAIL.match("pref-armes@cantal.gouv.fr")
    assert not text.EMAIL.match("pref-armes@cantal")
    assert not text.EMAIL.match("a b@exemple.fr")


def test_working_days_skip_weekends_and_french_public_holidays():
    assert clock.is_holiday(date(2026, 7, 14)) and not clock.is_holiday(date(2026, 7, 15))
    assert [clock.is_working_day(date(2026, 7, d)) for d in (10, 11, 12, 13, 14, 15)] == [True, False, False, True, False, True]
    assert clock.french_date(date(2028, 2, 29)) == "mardi 29 février 2028"


def test_the_first_of_the_month_is_written_1er_in_the_chat_and_on_the_phone():
    """French writes the first day of a month "1er" ("premier" when read aloud), never "1": a PAN slot on
    the 1st, a closure day on the 1st."""
    from bot.services.pan_slots import say_when, say_when_voice

    assert clock.french_date(date(2026, 5, 1)) == "vendredi 1er mai 2026"
    assert clock.french_date_voice(date(2026, 5, 1)) == "vendredi 1er mai"
    assert clock.french_date_voice(date(2026, 5, 2)) == "samedi 2 mai"
    assert say_when(datetime(2026, 6, 1, 9, 30)) == "lundi 1er juin 2026 à 9 h 30"
    assert say_when_voice(datetime(2026, 6, 1, 9, 30)) == "lundi 1er juin, à 9 heures 30"
    assert say_when_voice(datetime(2026, 6, 11, 14, 0)) == "jeudi 11 juin, à 14 heures"


def test_paris_time_is_naive_local_time():
    assert clock.naive(datetime(2026, 1, 15, 12, 0, tzinfo=clock.ZoneInfo("UTC"))) == datetime(2026, 1, 15, 13, 0)
    assert clock.naive(datetime(2026, 7, 15, 12, 0, tzinfo=clock.ZoneInfo("UTC"))) == datetime(2026, 7, 15, 14, 0)
    assert pan.naive is clock.naive and pan.paris_now is clock.paris_now


def test_every_destination_has_one_french_name_in_the_tree():
    from bot.core import texts
    from bot.core.tree import DESTINATIONS
    from bot.quality import report

    labels = texts.destination_labels()
    assert list(labels) == DESTINATIONS
    assert labels["pan_rdv"] == "Point d'accueil numérique"
    assert report.DESTINATIONS == labels
