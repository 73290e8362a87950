"""`python -m bot check` measures the phone prompts of the file it checks, with the measure of
tests/test_ivr_durations.py (ivr/durations.py, one function for both), and refuses a file whose
prompts break a limit of docs/phone.md: a new préfecture with many PAN sites or long names could push
an answer past 20 s, and only the five shipped files were measured (by the test).
"""

from __future__ import annotations

from test_new_prefecture import ID, check, folder_with

TOWNS = ["Le Port-d'Essai", "La Tour-d'Essai", "Les Sables-d'Essai", "Le Mont-d'Essai", "La Roche-d'Essai", "Le Val-d'Essai"]


def extra_sites(towns: list[str]) -> list[dict]:
    """A PAN site in each town, its short name a maison France services's."""
    return [
        {
            "id": f"site-{i}",
            "name": f"point numérique de {town}",
            "short_name": f"maison France services de {town}",
            "address": {"text": f"1 place de la Mairie, 99{i}00 {town}", "confirmed": True},
            "days": {"tue": ["09:00-12:00"]},
        }
        for i, town in enumerate(towns)
    ]


def test_a_file_whose_pan_answer_is_too_long_to_say_is_refused(tmp_path):
    # Was "ok": the caller heard « … dans l'un des points d'accueil numériques, à Test-sur-Mer,
    # Bourg-d'Essai, Le Port-d'Essai, La Tour-d'Essai, Les Sables-d'Essai, Le Mont-d'Essai, La
    # Roche-d'Essai ou Le Val-d'Essai. » and the rest of the answer for 20.4 s before its options.
    folder = folder_with(tmp_path, lambda data: data["pan"]["sites"].extend(extra_sites(TOWNS)))
    assert check(folder) == (
        1,
        f"ok: bot/console_texts.yml\nconfiguration error: {folder / (ID + '.yml')}: the phone prompt "
        "'rdv_pan (ouvert)' takes 20.4 s to say, over its limit of 20 s (docs/phone.md)",
    )


def test_the_invented_prefecture_with_four_sites_is_within_the_limits(tmp_path):
    folder = folder_with(tmp_path, lambda data: data["pan"]["sites"].extend(extra_sites(TOWNS[:2])))
    assert check(folder) == (0, f"ok: bot/console_texts.yml\nok: {folder / (ID + '.yml')}")


def test_a_file_whose_name_makes_the_welcome_too_long_is_refused(tmp_path):
    # The welcome says the préfecture's name, then the main menu: with this name, 30.8 s before the
    # caller may press a key, and the check said "ok".
    name = "préfecture de la Côte-d'Essai, des îles et des rivages de la mer d'Essai et de ses marais du nord et du sud"
    folder = folder_with(tmp_path, lambda data: data["prefecture"].update(name=name))
    assert check(folder) == (
        1,
        f"ok: bot/console_texts.yml\nconfiguration error: {folder / (ID + '.yml')}: the phone prompt "
        "'accueil + menu' takes 30.8 s to say, over its limit of 25 s (docs/phone.md)",
    )
