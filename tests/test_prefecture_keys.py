"""A key the product does not read, in a préfecture file or in `_national.yml`, stops `python -m bot
check` and the server's start with one line naming the file, the key's path and, when a known key is
close, the key meant. Before, a misspelt key was silently ignored: the product used the national
default, or nothing, and the deployer never knew.

The files are written as a deployer writes them (the invented Préfecture de Test-sur-Mer in a
temporary folder given in `AIGUILLAGE_PREFECTURES`; tests/test_new_prefecture.py).
"""

from __future__ import annotations

import pytest
import yaml
from test_new_prefecture import ID, check, folder_with, refused, serve_refused

UNKNOWN = "unknown key (the product does not read it)"


def rename(dotted: str, new: str, value=None):
    """A change: the key at `dotted` ('a.b.c', a site 'pan.sites.1.days') is renamed `new` (or, when
    absent, `new` is added with `value`)."""

    def apply(data):
        *path, last = dotted.split(".")
        node = data
        for part in path:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[new] = node.pop(last) if last in node else value

    return apply


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        # The standard's hours written under `phone_hour`: was "key 'prefecture.phone_hours.days': missing",
        # which sent the deployer looking for a key the file has.
        (rename("prefecture.phone_hours", "phone_hour"), "prefecture.phone_hour", f"{UNKNOWN}: did you mean 'phone_hours'?"),
        # Each was accepted: no closure that day (the phone transferred to an empty standard), no hours
        # kept for the foreigners at the quai, the national limit of bookings instead of the préfecture's.
        (
            rename("prefecture.phone_hours.closures", "closure", ["2026-05-15"]),
            "prefecture.phone_hours.closure",
            f"{UNKNOWN}: did you mean 'closures'?",
        ),
        (
            rename("pan.sites.0.foreigners_days", "foreigner_days"),
            "pan.sites[0].foreigner_days",
            f"{UNKNOWN}: did you mean 'foreigners_days'?",
        ),
        (
            rename("pan.max_future_booking", "max_future_booking", 3),
            "pan.max_future_booking",
            f"{UNKNOWN}: did you mean 'max_future_bookings'?",
        ),
        (
            rename("prefecture.adress", "adress", {"text": "1 rue X, 99000 Y"}),
            "prefecture.adress",
            f"{UNKNOWN}: did you mean 'address'?",
        ),
        (rename("retenton", "retenton", {"calls_days": 90}), "retenton", f"{UNKNOWN}: did you mean 'retention'?"),
        # A free map (the mailboxes, by id) is checked inside each of its entries.
        (rename("mailboxes.armes.email", "emial"), "mailboxes.armes.emial", f"{UNKNOWN}: did you mean 'email'?"),
        # Nothing close: the keys the block may hold.
        (
            rename("pan.sites.1.parking", "parking", "oui"),
            "pan.sites[1].parking",
            f"{UNKNOWN}; this block's keys: address, capacity, confirmed, days, foreigners_days, hours_confirmed, id, "
            "name, short_name, source",
        ),
    ],
    ids=["phone_hour", "closure", "foreigner_days", "max_future_booking", "adress", "top level", "mailbox", "none close"],
)
def test_a_misspelt_or_unknown_key_is_refused_naming_the_key_meant(tmp_path, change, key, problem):
    refused(folder_with(tmp_path, change), key, problem)


def test_a_misspelt_key_of_the_national_file_is_refused_naming_that_file(tmp_path):
    folder = folder_with(tmp_path)
    national = yaml.safe_load((folder / "_national.yml").read_text(encoding="utf-8"))
    national["commitments"]["email_working_day"] = national["commitments"].pop("email_working_days")
    (folder / "_national.yml").write_text(yaml.safe_dump(national, allow_unicode=True), encoding="utf-8")
    assert check(folder) == (
        1,
        f"ok: bot/console_texts.yml\nconfiguration error: {folder / '_national.yml'}: key "
        f"'commitments.email_working_day': {UNKNOWN}: did you mean 'email_working_days'?",
    )


def test_free_maps_take_any_id(tmp_path):
    """The mailboxes and the other administrations are maps by id: a new id is no unknown key."""

    def more(data):
        data["mailboxes"]["visas"] = {"service": "bureau des visas", "email": "pref-visas@test-sur-mer.example"}
        data["others"] = {"urssaf": {"name": "Urssaf", "url": "https://www.urssaf.fr"}}

    folder = folder_with(tmp_path, more)
    assert check(folder) == (0, f"ok: bot/console_texts.yml\nok: {folder / (ID + '.yml')}")


def test_the_server_does_not_start_on_a_misspelt_key(tmp_path):
    folder = folder_with(tmp_path, rename("prefecture.phone_hours.closures", "closure", ["2026-05-15"]))
    said = serve_refused(folder, tmp_path)
    assert f"key 'prefecture.phone_hours.closure': {UNKNOWN}: did you mean 'closures'?" in said
    assert "Traceback" not in said


def test_every_key_the_checks_require_is_declared_in_the_schema():
    """The schema the keys are checked against is the one list of keys: what the checks require is in it."""
    from bot.core.config_checks import REQUIRED_KEYS
    from bot.core.config_schema import declared

    assert [key for key in REQUIRED_KEYS if not declared(key)] == []
    assert declared("pan.sites.foreigners_days.tue") and declared("mailboxes.visas.email")
    assert not declared("pan.sites.adress") and not declared("prefecture.phone_hour")
