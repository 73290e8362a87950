"""Préfecture configuration: load, merge with the national file, validate, format hours.

One deployment serves one préfecture, chosen with the environment variable PREFECTURE
(default: cantal). A bad file stops the start with a message naming the file, the key and
the problem (ConfigError).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
import yaml

from bot import settings
from bot.core import clock, yaml_text
from bot.core.clock import DAYS
from bot.core.config_checks import (  # noqa: F401 - re-exported (bot.core.config.ConfigError...)
    CLOSURES,
    POSITIVE_KEYS,
    POSTAL_ADDRESS,
    REQUIRED_KEYS,
    ConfigError,
    get_path,
    iso_day,
    validate,
)
from bot.core.config_schema import check_keys

ROOT = Path(__file__).resolve().parents[2]
PREFECTURES_DIR = ROOT / "prefectures"
NATIONAL_FILE = "_national.yml"
DEFAULT_PREFECTURE = "cantal"


def _deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _load_yaml(path: Path) -> dict:
    rel = _rel(path)
    if not path.exists():
        raise ConfigError(rel, "-", "file not found")
    try:
        data = yaml_text.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(rel, "-", f"not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(rel, "-", "the file must hold a mapping")
    return data


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def format_ranges(ranges: list[str]) -> str:
    """'de 8 h 30 à 12 h et de 13 h 30 à 16 h 30' (the tree's `calendar.hours` patterns)."""
    words = clock.words()["hours"]
    parts = [words["range"].format(start=_hm(r.split("-")[0]), end=_hm(r.split("-")[1])) for r in ranges]
    return words["last_separator"].join(parts)


def _hm(value: str) -> str:
    h, m = value.split(":")
    return clock.say_time(int(h), int(m))


def format_days(days: dict[str, list[str]]) -> str:
    """French text for opening hours: days with the same hours said together, in a row or not;
    three days in a row or more as a range ('du lundi au vendredi de 8 h 30 à 12 h', 'le lundi et le
    jeudi de 9 h à 12 h', 'les lundi, mardi, jeudi et vendredi de 9 h à 12 h', 'du lundi au mercredi
    et le vendredi de 9 h à 12 h'); groups with different hours apart, 'le lundi de 9 h à 12 h ; le
    mardi de 14 h à 16 h' (the tree's `calendar.hours` patterns)."""
    groups: list[tuple[list[str], list[str]]] = []  # (days, their ranges), in the order of the first day
    for day in DAYS:
        ranges = list(days.get(day) or [])
        if ranges:
            same = next((group for group in groups if group[1] == ranges), None)
            if same:
                same[0].append(day)
            else:
                groups.append(([day], ranges))
    texts = [f"{_say_days(group_days)} {format_ranges(ranges)}" for group_days, ranges in groups]
    words = clock.words()["hours"]
    return words["group_separator"].join(texts) if texts else words["none"]


def _say_days(group: list[str]) -> str:
    """'le lundi', 'le lundi et le jeudi', 'les lundi, mardi et jeudi', 'du lundi au mercredi et le vendredi'."""
    words = clock.words()["hours"]
    runs: list[list[str]] = []  # the days that follow each other
    for day in group:
        if runs and DAYS.index(runs[-1][-1]) == DAYS.index(day) - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    if all(len(run) < 3 for run in runs):
        if len(group) >= 3:
            return words["some_days"].format(days=join_words([clock.day_name(d) for d in group]))
        return join_words([words["one_day"].format(day=clock.day_name(d)) for d in group])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(words["span"].format(first=clock.day_name(run[0]), last=clock.day_name(run[-1])))
        else:
            parts += [words["one_day"].format(day=clock.day_name(d)) for d in run]
    return join_words(parts)


def join_words(items: list[str]) -> str:  # 'a, b et c' (the tree's `calendar.hours` separators)
    words = clock.words()["hours"]
    return words["separator"].join(items[:-1]) + words["last_separator"] + items[-1] if len(items) > 1 else items[0]


def e164(number: str) -> str:
    """A French number in national format -> E.164 (for a transfer with Dial)."""
    return phonenumbers.format_number(phonenumbers.parse(number, "FR"), phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Prefecture:
    id: str
    data: dict
    file: str

    def get(self, dotted: str) -> Any:
        return get_path(self.data, dotted)


def _worded(data: dict, key: str, **values: str) -> str:
    """The text `wording.<key>` (prefectures/_national.yml) with its {name} placeholders filled."""
    return re.sub(r"\{([a-z_]+)\}", lambda m: values.get(m.group(1), m.group(0)), str(data["wording"][key]))


def _computed(data: dict) -> dict:
    data = copy.deepcopy(data)
    phone = data["prefecture"]["phone"]
    website = data["prefecture"]["website"]
    if phone.get("number"):
        phone["display"] = phone["number"]
        phone["call"] = _worded(data, "phone_call", number=phone["number"])
    else:
        phone["display"] = _worded(data, "phone_display_unknown", website=website)
        phone["call"] = _worded(data, "phone_call_unknown", website=website)
    data["prefecture"]["phone_hours_text"] = format_days(data["prefecture"]["phone_hours"]["days"])
    hours = data["prefecture"]["phone_hours"]
    hours["closures"] = sorted({iso_day(day) for day in hours.get("closures") or []})  # ISO strings
    for site in data["pan"]["sites"]:  # its hours, then those kept for the foreigners' procedures
        extra = site.get("foreigners_days") and _worded(data, "foreigners_hours", days=format_days(site["foreigners_days"]))
        site["hours_text"] = " ; ".join(filter(None, [format_days(site["days"]), extra]))
    data["pan"]["sites_text"] = " ; ".join(f"{site['name']}, {site['hours_text']}" for site in data["pan"]["sites"])
    data["pan"]["foreigners_summary"] = _foreigners_summary(data)
    data["pan"]["places_voice"] = _places_voice(data)
    return data


def _foreigners_summary(data: dict) -> str:
    """The sites' hours kept for the foreigners' procedures, said from their `foreigners_days`
    ('pour les démarches des étrangers, le mardi de 14 h à 16 h à Aurillac (préfecture)'), else
    `wording.foreigners_summary`."""
    kept = [
        _worded(data, "foreigners_site", days=format_days(site["foreigners_days"]), site=site.get("short_name") or site["name"])
        for site in data["pan"]["sites"]
        if site.get("foreigners_days") and any(site["foreigners_days"].values())
    ]
    return _worded(data, "foreigners_sites", sites=join_words(kept)) if kept else _worded(data, "foreigners_summary")


def _places_voice(data: dict) -> str:
    """Where the PAN sites are, as the phone says it: the towns of their addresses (the postal code's
    town, checked), 'au point d'accueil numérique, à Tours' or 'dans l'un des points d'accueil
    numériques, à Aurillac, Mauriac ou Saint-Flour' (`wording.pan_places_one` / `pan_places_many`)."""
    towns = list(dict.fromkeys(POSTAL_ADDRESS.search(site["address"]["text"]).group(1) for site in data["pan"]["sites"]))
    if len(towns) == 1:
        return _worded(data, "pan_places_one", towns=towns[0])
    joined = ", ".join(towns[:-1]) + str(data["wording"]["pan_places_last"]) + towns[-1]
    return _worded(data, "pan_places_many", towns=joined)


def prefectures_dir() -> Path:  # AIGUILLAGE_PREFECTURES, else prefectures/ of the checkout
    return settings.prefectures_dir() or PREFECTURES_DIR


def available() -> list[str]:
    return sorted(p.stem for p in prefectures_dir().glob("*.yml") if not p.name.startswith("_"))


def load_prefecture(pref_id: str | None = None, directory: Path | None = None) -> Prefecture:
    """Load, merge and validate one préfecture. Raises ConfigError."""
    directory = directory or prefectures_dir()
    pref_id = pref_id or settings.prefecture() or DEFAULT_PREFECTURE
    if not re.match(r"^[a-z0-9-]+$", pref_id):
        raise ConfigError("PREFECTURE", "PREFECTURE", f"'{pref_id}' is not a préfecture id")
    path = directory / f"{pref_id}.yml"
    if not path.exists():
        names = ", ".join(sorted(p.stem for p in directory.glob("*.yml") if not p.name.startswith("_")))
        raise ConfigError(_rel(path), "-", f"no such préfecture '{pref_id}' (available: {names})")
    national = _load_yaml(directory / NATIONAL_FILE)
    local = _load_yaml(path)
    file = _rel(path)
    check_keys(national, _rel(directory / NATIONAL_FILE))  # a misspelt key is refused, not ignored
    check_keys(local, file)
    if local.get("id") != pref_id:
        raise ConfigError(file, "id", f"must be '{pref_id}' (the file name)")
    data = _deep_merge(national, local)
    validate(data, file)
    return Prefecture(id=pref_id, data=_computed(data), file=file)


@lru_cache(maxsize=8)
def current(pref_id: str | None = None) -> Prefecture:
    """The préfecture of this deployment (cached)."""
    return load_prefecture(pref_id or settings.prefecture() or DEFAULT_PREFECTURE)
