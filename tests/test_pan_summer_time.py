"""PAN appointments across the summer-time changes of Europe/Paris: the minimum notice
(`pan.min_notice_hours`) is hours of real time, also over the night when the clocks change. Played by
phone (signed Twilio bodies, the test clock of X-Ivr-Now) on a real server whose Cantal asks 48 hours
of notice (a temporary copy of the préfecture files): the shipped 2 hours never span a change, as no
site opens at night nor on Sundays, but a préfecture may ask more."""

from __future__ import annotations

import shutil

import pytest
import yaml
from conftest import ROOT, TWILIO_TEST_TOKEN, launch, stop

from tools.ivr.simulate import Call

INTRO = "Voici les prochains créneaux libres au point d'accueil numérique."


@pytest.fixture(scope="module")
def two_days_notice(tmp_path_factory):
    """A server of a Cantal whose PAN asks 48 hours of notice."""
    tmp = tmp_path_factory.mktemp("notice")
    folder = tmp / "prefectures"
    folder.mkdir()
    shutil.copy(ROOT / "prefectures" / "_national.yml", folder / "_national.yml")
    data = yaml.safe_load((ROOT / "prefectures" / "cantal.yml").read_text(encoding="utf-8"))
    data["pan"]["min_notice_hours"] = 48
    (folder / "cantal.yml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    server = launch(tmp, extra_env={"AIGUILLAGE_PREFECTURES": str(folder)})
    yield server
    stop(server)


def slots_heard(server, now: str) -> str:
    """What a caller hears at the PAN's key 4 (5: autre demande, 2: aide pour une démarche en ligne)."""
    call = Call(server.url, TWILIO_TEST_TOKEN, now=now)
    call.start()
    call.press("5")
    call.press("2")
    return " ".join(call.press("4").says)


def test_the_minimum_notice_counts_the_hour_the_clocks_go_forward(two_days_notice):
    """Saturday 28 March 2026 at 9:15 (winter time, 8:15 UTC): 48 hours later it is Monday 30 March at
    10:15 summer time, the night being an hour shorter. Before: the notice was counted on the wall
    clock, and Monday's 9:30 was offered, 47 h 15 ahead."""
    assert slots_heard(two_days_notice, "2026-03-28T09:15").startswith(
        f"{INTRO} Le lundi 30 mars, à 10 heures 30, Aurillac (préfecture) : tapez 1."
        " Le lundi 30 mars, à 10 heures 30, Mauriac (sous-préfecture) : tapez 2."
        " Le lundi 30 mars, à 11 heures, Aurillac (préfecture) : tapez 3."
    )


def test_the_minimum_notice_counts_the_hour_the_clocks_go_back(two_days_notice):
    """Saturday 24 October 2026 at 9:15 (summer time, 7:15 UTC): 48 hours later it is Monday 26 October at
    8:15 winter time, the night being an hour longer, so Monday's 9:00 is far enough. Before: it was
    refused, the notice being counted on the wall clock (9:15)."""
    assert slots_heard(two_days_notice, "2026-10-24T09:15").startswith(
        f"{INTRO} Le lundi 26 octobre, à 9 heures, Aurillac (préfecture) : tapez 1."
        " Le lundi 26 octobre, à 9 heures, Mauriac (sous-préfecture) : tapez 2."
        " Le lundi 26 octobre, à 9 heures 30, Aurillac (préfecture) : tapez 3."
    )
