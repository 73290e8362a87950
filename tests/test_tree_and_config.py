"""The routing tree and the préfecture files: consistency walks and validation errors."""

from datetime import date
from pathlib import Path

import pytest
import yaml

from bot.core import config as config_mod
from bot.core.config import ConfigError, format_days, load_prefecture
from bot.core.router import Router
from bot.core.tree import CONVERSATION_INTENTS, DESTINATIONS, TOPICS, TREE_FILE, TreeError, check_placeholders, load_tree, render

ROOT = Path(__file__).resolve().parent.parent
PREFECTURES = ["cantal", "indre-et-loire", "loire", "vienne", "gironde"]


@pytest.fixture(scope="module")
def tree():
    return load_tree()


def training_examples() -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in (ROOT / "data").glob("*.yml"):
        for block in (yaml.safe_load(path.read_text()) or {}).get("nlu") or []:
            n = sum(1 for line in block["examples"].splitlines() if line.strip().startswith("- "))
            counts[block["intent"]] = counts.get(block["intent"], 0) + n
    return counts


def test_the_five_prefectures_ship():
    assert config_mod.available() == sorted(PREFECTURES)


@pytest.mark.parametrize("pref_id", PREFECTURES)
def test_every_placeholder_resolves_in_every_prefecture(tree, pref_id):
    check_placeholders(tree, load_prefecture(pref_id))  # raises ConfigError naming the key


@pytest.mark.parametrize("pref_id", PREFECTURES)
def test_every_answer_renders_without_braces(tree, pref_id):
    pref = load_prefecture(pref_id)
    for node in tree.nodes.values():
        for text in (node.screen_text, node.voice):
            rendered = render(text, pref, {"referral": ""})
            assert "{" not in rendered and "}" not in rendered, (node.id, rendered)


def test_every_node_has_a_screen_and_a_voice_answer(tree):
    for node in tree.nodes.values():
        assert node.voice.strip(), node.id
        assert node.screen_text.strip(), node.id


def test_voice_answers_spell_out_no_url(tree):
    """The phone says an address as words ("ants point gouv point fr"), never "https" or "www"."""
    from ivr.twiml import Speaker

    sp = Speaker(tree, load_prefecture("cantal"), "")
    for node in tree.nodes.values():
        voice = sp.node_voice(node)
        assert "http" not in voice and "www" not in voice and "@" not in voice and "/" not in voice, node.id
    assert "sur le site officiel ants point gouv point fr." in sp.node_voice(tree.node("carte_grise"))


def test_menus_have_at_most_nine_options_and_unique_keys(tree):
    menus = [tree.menu] + [n.children for n in tree.nodes.values() if n.children]
    for menu in menus:
        keys = [tree.node(i).key for i in menu]
        assert len([k for k in keys if k != 0]) <= 9
        assert len(keys) == len(set(keys))


def test_every_topic_intent_has_a_node_and_forty_examples(tree):
    counts = training_examples()
    for topic in TOPICS:
        assert tree.topic_node(topic) is not None, topic
        assert counts.get(topic, 0) >= 40, (topic, counts.get(topic))
    for intent in CONVERSATION_INTENTS:
        assert counts.get(intent, 0) >= 20, (intent, counts.get(intent))


def test_every_intent_the_model_learns_is_in_the_domain_and_routed_by_the_rule():
    # An intent missing from the rule gets no action: the person would get the technical apology.
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())["intents"]
    rule = yaml.safe_load((ROOT / "data" / "rules.yml").read_text())["rules"][0]["steps"]
    routed = [step["intent"] for step in rule[0]["or"]]
    assert rule[1] == {"action": "action_route"}
    assert sorted(training_examples()) == sorted(domain) == sorted(routed)
    assert "vague_request" in routed


def test_every_destination_is_reachable_in_the_tree(tree):
    assert {leaf.destination for leaf in tree.leaves()} == set(DESTINATIONS)


def test_topic_destinations_follow_the_labelling_convention(tree):
    expected = {
        "carte_grise": "ants_3400",
        "permis_conduire": "ants_3400",
        "cni_passeport": "ants_3400",
        "titre_sejour": "ccc_0806",
        "armes": "mailbox",
        "reclamation": "mailbox",
        "rdv_pan": "pan_rdv",
        "horaires_contact": "info",
        "hors_perimetre": "other",
    }
    assert {t: tree.topic_node(t).destination for t in expected} == expected


def test_domain_lists_every_intent_of_the_training_data():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    assert set(training_examples()) == set(domain["intents"])


def test_only_the_tree_and_prefecture_files_hold_numbers_and_urls():
    """Code never hard-codes a phone number or an official URL (chat, actions and phone menu)."""
    import re

    pattern = re.compile(r"\b0\d(?:[ .]?\d{2}){4}\b|\b3\d \d\d\b|\b0806|[a-z0-9-]+\.gouv\.fr|https?://[a-z]")
    offenders = []
    paths = [p for folder in ("bot", "actions", "ivr") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(paths) >= 40  # every layer's modules, not an empty glob
    for path in paths:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert offenders == []


# ---- validation errors name the file, the key and the problem ----------------------------


def copy_prefectures(tmp_path: Path) -> Path:
    d = tmp_path / "prefectures"
    d.mkdir()
    for p in (ROOT / "prefectures").glob("*.yml"):
        (d / p.name).write_text(p.read_text())
    return d


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))


def test_missing_key_is_named(tmp_path):
    d = copy_prefectures(tmp_path)
    edit(d / "loire.yml", lambda data: data["mailboxes"]["armes"].pop("email"))
    with pytest.raises(ConfigError) as err:
        load_prefecture("loire", d)
    assert str(err.value) == f"{d / 'loire.yml'}: key 'mailboxes.armes.email': missing"


def test_malformed_phone_number_is_named(tmp_path):
    d = copy_prefectures(tmp_path)
    edit(d / "cantal.yml", lambda data: data["prefecture"]["phone"].update(number="04 71 46 23"))
    with pytest.raises(ConfigError) as err:
        load_prefecture("cantal", d)
    assert err.value.key == "prefecture.phone.number"
    assert err.value.problem == "'04 71 46 23' is not a valid French phone number"


@pytest.mark.parametrize("wrong", [1, -5, "5", True])
def test_a_measure_share_that_would_teach_nothing_or_is_no_number_is_named(tmp_path, wrong):
    """One taught sentence in `console.measure_every` measures the assistant (bot/nlu/review.py): 1 would
    keep them all to measure and teach nothing."""
    d = copy_prefectures(tmp_path)
    edit(d / "cantal.yml", lambda data: data.setdefault("console", {}).update(measure_every=wrong))
    with pytest.raises(ConfigError) as err:
        load_prefecture("cantal", d)
    assert err.value.key == "console.measure_every"
    assert err.value.problem == "must be 0 (every taught sentence teaches) or a whole number from 2 (one in that many measures)"


def test_bad_opening_hours_are_named(tmp_path):
    d = copy_prefectures(tmp_path)
    edit(d / "cantal.yml", lambda data: data["prefecture"]["phone_hours"]["days"].update(mon=["12:00-08:30"]))
    with pytest.raises(ConfigError) as err:
        load_prefecture("cantal", d)
    assert err.value.key == "prefecture.phone_hours.days.mon"
    assert "'12:00-08:30' is not a time range" in err.value.problem


def test_unknown_prefecture_lists_the_available_ones():
    with pytest.raises(ConfigError) as err:
        load_prefecture("paris")
    assert "no such préfecture 'paris' (available: cantal, gironde, indre-et-loire, loire, vienne)" in str(err.value)


def test_invalid_yaml_is_reported(tmp_path):
    d = copy_prefectures(tmp_path)
    (d / "vienne.yml").write_text("id: vienne\nprefecture: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_prefecture("vienne", d)
    assert "not valid YAML" in err.value.problem
    # Read with libyaml for speed, the error is PyYAML's own: the line, and a caret under the place.
    assert "line 2, column 13:\n    prefecture: [unclosed\n                ^" in err.value.problem


def test_yaml_is_read_the_same_by_libyaml_and_pyyaml_and_pyyaml_has_the_last_word():
    import yaml

    from bot.core import yaml_text

    assert yaml_text.SAFE_LOADER is yaml.CSafeLoader  # PyYAML's wheel is built with libyaml
    text = (ROOT / "bot" / "tree.yml").read_text(encoding="utf-8")
    assert yaml_text.safe_load(text) == yaml.safe_load(text)
    # YAML 1.1 as PyYAML reads it: dates, octal, on/off as booleans (a key too).
    assert yaml_text.safe_load("date: 2026-12-06\nn: 010\non: off") == {"date": date(2026, 12, 6), "n": 8, True: False}
    # The one difference met: libyaml takes a tab after a colon, which PyYAML refuses (docs/floor.md, section 4).
    assert yaml_text.safe_load("a:\tb") == {"a": "b"}
    # A lone surrogate: libyaml raises UnicodeEncodeError, PyYAML's error is the one raised, alone.
    with pytest.raises(yaml.YAMLError, match="special characters are not allowed") as err:
        yaml_text.safe_load("a: \ud800")
    assert err.value.__context__ is None


def tree_variant(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(TREE_FILE.read_text())
    change(data)
    path = tmp_path / "tree.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_unknown_node_id_in_a_menu_is_named(tmp_path):
    path = tree_variant(tmp_path, lambda d: d["menu"]["children"].append("cartes_grises"))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert (err.value.where, err.value.problem) == ("menu", "unknown node id 'cartes_grises'")


def test_unknown_node_id_of_a_referral_is_named(tmp_path):
    path = tree_variant(tmp_path, lambda d: next(r for r in d["referrals"] if r["id"] == "asile").update(nodes=["titre_sejours"]))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert (err.value.where, err.value.problem) == ("referrals.asile.nodes", "unknown node id 'titre_sejours'")


def test_duplicate_key_in_a_menu_is_named(tmp_path):
    path = tree_variant(tmp_path, lambda d: d["nodes"]["armes"].update(key=2))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert err.value.where == "nodes.armes.key"
    assert err.value.problem == "key 2 already used by 'titre_sejour' in the same menu"


def test_unknown_destination_is_named(tmp_path):
    path = tree_variant(tmp_path, lambda d: d["nodes"]["armes"].update(destination="sia"))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert err.value.where == "nodes.armes.destination"


def test_unknown_placeholder_is_named(tmp_path):
    path = tree_variant(tmp_path, lambda d: d["nodes"]["armes"]["screen"].update(text="Appelez {prefecture.fax}"))
    with pytest.raises(ConfigError) as err:
        check_placeholders(load_tree(path), load_prefecture("cantal"))
    assert (err.value.key, err.value.problem) == ("prefecture.fax", "placeholder used by the routing tree is missing")


def test_opening_hours_are_said_in_french():
    days = {d: ["08:30-12:00", "13:30-16:30"] for d in ("mon", "tue", "wed", "thu", "fri")}
    assert format_days(days) == "du lundi au vendredi de 8 h 30 à 12 h et de 13 h 30 à 16 h 30"
    assert format_days({"tue": ["14:00-16:00"]}) == "le mardi de 14 h à 16 h"
    # Days with the same hours are said together, in a row or not (was "le lundi de 9 h à 12 h et le
    # jeudi de 9 h à 12 h"); three days in a row or more make a range.
    assert format_days({"mon": ["09:00-12:00"], "thu": ["09:00-12:00"]}) == "le lundi et le jeudi de 9 h à 12 h"
    nine_to_noon = ["09:00-12:00"]
    four = {"mon": nine_to_noon, "tue": nine_to_noon, "thu": nine_to_noon, "fri": nine_to_noon}
    assert format_days(four) == "les lundi, mardi, jeudi et vendredi de 9 h à 12 h"
    assert format_days({**four, "wed": nine_to_noon, "tue": ["14:00-16:00"]}) == (
        "le lundi et du mercredi au vendredi de 9 h à 12 h ; le mardi de 14 h à 16 h"
    )
    assert format_days({**four, "wed": nine_to_noon, "thu": []}) == "du lundi au mercredi et le vendredi de 9 h à 12 h"


def test_unknown_standard_number_points_to_the_website():
    vienne = load_prefecture("vienne")
    assert vienne.get("prefecture.phone.number") is None
    router = Router(load_tree(), vienne)
    assert "numéro indiqué sur https://www.vienne.gouv.fr" in router.message("fallback")


# ---- the phone section of the tree ---------------------------------------------------------


def test_the_phone_section_is_validated(tmp_path):
    path = tree_variant(tmp_path, lambda d: d["phone"].pop("voicemail_thanks"))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert (err.value.where, err.value.problem) == ("phone.voicemail_thanks", "missing text")


def test_a_phone_text_may_only_use_its_own_local_placeholders(tmp_path):
    path = tree_variant(tmp_path, lambda d: d["phone"].update(repeat="Pour {label}, tapez {key}."))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert err.value.where == "phone.repeat"
    assert err.value.problem == "unknown placeholder '{label}' (local placeholders allowed: {key})"


def test_phone_keys_are_single_and_distinct(tmp_path):
    path = tree_variant(tmp_path, lambda d: d["phone"].update(back_key="*"))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert (err.value.where, err.value.problem) == ("phone.back_key", "key '*' already used by 'repeat_key'")
    path = tree_variant(tmp_path, lambda d: d["phone"].update(number_key="12"))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert err.value.where == "phone.number_key"
    path = tree_variant(tmp_path, lambda d: d["phone"].update(pan_key="3"))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert (err.value.where, err.value.problem) == ("phone.pan_key", "key '3' already used by 'number_key'")


def test_the_booked_message_details_key_is_one_key_not_shared_with_its_other_keys(tmp_path):
    path = tree_variant(tmp_path, lambda d: d["phone"].update(pan_details_key="5"))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert (err.value.where, err.value.problem) == (
        "phone.pan_details_key",
        "must be one key, not the booked message's SMS, repeat or main-menu key",
    )


def test_a_node_phone_section_holds_only_its_known_fields(tmp_path):
    path = tree_variant(tmp_path, lambda d: d["nodes"]["armes"].update(phone={"usefull": "{sia.url}"}))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert err.value.where == "nodes.armes.phone"


def test_a_child_of_a_leaf_cannot_take_a_key_of_the_leaf_actions(tmp_path):
    path = tree_variant(tmp_path, lambda d: d["nodes"]["passeport_urgence"].update(key=3))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert (err.value.where, err.value.problem) == ("nodes.passeport_urgence.key", "key 3 is also a phone key of 'cni_passeport'")


def test_a_transfer_needs_a_contact_and_a_name_for_it(tmp_path):
    path = tree_variant(tmp_path, lambda d: d["nodes"]["armes"].update(transfer="yes"))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert (err.value.where, err.value.problem) == ("nodes.armes.transfer", "must be true or false")
    path = tree_variant(tmp_path, lambda d: d["phone"]["contacts"].pop("ccc.phone"))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert err.value.where == "phone.contacts.ccc.phone"


def test_the_phones_closure_notice_says_how_many_days_it_names(tmp_path):
    """`phone.closures.days_said` (1 in bot/tree.yml: a second day would take the offer past 25 s) must be
    a positive whole number; without it every day is named, which needs the words that join them."""
    path = tree_variant(tmp_path, lambda d: d["phone"]["closures"].update(days_said="un"))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert (err.value.where, err.value.problem) == ("phone.closures.days_said", "must be a positive whole number")
    path = tree_variant(tmp_path, lambda d: d["phone"]["closures"].pop("days_said"))
    with pytest.raises(TreeError) as err:
        load_tree(path)
    assert err.value.where == "phone.closures.and_more"


def test_the_chat_answers_within_a_positive_number_of_milliseconds(tmp_path, tree):
    """`settings.chat_answer_within_ms`: past it a chat turn gets the French 503 (bot/web/degraded.py). No
    default in the code: missing, or not a positive whole number, the tree is refused at start."""
    assert tree.settings["chat_answer_within_ms"] == 10_000
    for change in (
        lambda d: d["settings"].pop("chat_answer_within_ms"),
        lambda d: d["settings"].update(chat_answer_within_ms="10 s"),
    ):
        with pytest.raises(TreeError) as err:
            load_tree(tree_variant(tmp_path, change))
        assert (err.value.where, err.value.problem) == ("settings.chat_answer_within_ms", "must be a positive whole number")


def test_number_words_cover_0_to_99(tree):
    words = tree.phone["number_words"]
    assert (words[0], words[34], words[71], words[80], words[99]) == (
        "zéro",
        "trente-quatre",
        "soixante et onze",
        "quatre-vingts",
        "quatre-vingt-dix-neuf",
    )


@pytest.mark.parametrize("pref_id", PREFECTURES)
def test_every_phone_text_renders_in_every_prefecture(tree, pref_id):
    pref = load_prefecture(pref_id)
    sample = {"key": "1", "no_key": "2", "label": "x", "contact": "x", "service": "x", "digits": "x", "url": "x", "hours": "x"}
    for tid in tree.phone:
        if isinstance(tree.phone[tid], str) and not tid.endswith("_key"):
            text = render(tree.phone[tid], pref, sample)
            assert "{" not in text and "http" not in text, (tid, text)
