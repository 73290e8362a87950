"""A new deployer's préfecture: the invented Préfecture de Test-sur-Mer (tests/fixtures/prefectures/),
written from docs/prefectures.md as a sixth préfecture would be, in a temporary folder of préfecture files
(`AIGUILLAGE_PREFECTURES`). The mistakes a deployer makes in such a file stop `python -m bot check`
and the server's start with one line naming the file, the key and the problem: never a traceback,
never a product that starts and then fails or answers wrongly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import MODEL, ROOT, db_rows, free_port, launch, stop, until

FIXTURE = ROOT / "tests" / "fixtures" / "prefectures" / "test-sur-mer.yml"
ID = "test-sur-mer"


def folder_with(tmp_path: Path, change=None) -> Path:
    """A folder of préfecture files: the national file and Test-sur-Mer's, changed by `change(data)`."""
    folder = tmp_path / "prefectures"
    folder.mkdir(exist_ok=True)
    shutil.copy(ROOT / "prefectures" / "_national.yml", folder / "_national.yml")
    data = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    if change:
        change(data)
    (folder / f"{ID}.yml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def check(folder: Path) -> tuple[int, str]:
    """`python -m bot check` for Test-sur-Mer, as `make run` does first: its exit status and what it printed."""
    env = dict(os.environ, AIGUILLAGE_PREFECTURES=str(folder), PREFECTURE=ID)
    done = subprocess.run([sys.executable, "-m", "bot", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    return done.returncode, (done.stdout + done.stderr).strip()


def refused(folder: Path, key: str, problem: str) -> None:
    """The check stops on the file with exactly this line."""
    assert check(folder) == (
        1,
        f"ok: bot/console_texts.yml\nconfiguration error: {folder / (ID + '.yml')}: key '{key}': {problem}",
    )


def test_the_invented_prefecture_file_passes_the_check(tmp_path):
    folder = folder_with(tmp_path)
    assert check(folder) == (0, f"ok: bot/console_texts.yml\nok: {folder / (ID + '.yml')}")


def serve_refused(folder: Path, tmp_path: Path) -> str:
    """`python -m bot serve` on the préfecture file of `folder`: it must stop (non-zero); what it said."""
    env = dict(
        os.environ,
        AIGUILLAGE_PREFECTURES=str(folder),
        PREFECTURE=ID,
        AIGUILLAGE_DB=str(tmp_path / "aiguillage.db"),
        RASA_TELEMETRY_ENABLED="false",
    )
    serve = [sys.executable, "-m", "bot", "serve", "--model", str(MODEL), "--port", str(free_port())]
    served = subprocess.run(
        serve + ["--credentials", "credentials.yml"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert served.returncode != 0
    return served.stdout + served.stderr


def test_a_file_without_its_department_is_refused_before_the_chat_page_fails(tmp_path):
    # The chat page's tagline says "(Côte-d'Essai)": without the key, the check said "ok", the server
    # started, and /chat/ and /chat/config answered 500.
    folder = folder_with(tmp_path, lambda data: data["prefecture"].pop("department"))
    refused(folder, "prefecture.department", "placeholder used by the routing tree is missing")
    said = serve_refused(folder, tmp_path)
    assert "key 'prefecture.department': placeholder used by the routing tree is missing" in said


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        # The standard's phone forgotten: was a traceback (KeyError: 'phone').
        (lambda data: data["prefecture"].pop("phone"), "prefecture.phone", "missing"),
        # A site written as its name alone: was a traceback (AttributeError: 'str' object has no attribute 'get').
        (
            lambda data: data["pan"]["sites"].__setitem__(1, "bourg"),
            "pan.sites[1]",
            "must be a mapping with id, name, address and days",
        ),
        # 01 99 00 12 34 written 0199001234 without quotes: YAML reads the whole number 199001234; was "missing phone number".
        (
            lambda data: data["prefecture"]["phone"].update(number=199001234),
            "prefecture.phone.number",
            "must be written in quotes (without them YAML reads the whole number 199001234)",
        ),
    ],
    ids=["no phone", "site not a mapping", "number not quoted"],
)
def test_a_file_of_the_wrong_shape_is_named_without_a_traceback(tmp_path, change, key, problem):
    refused(folder_with(tmp_path, change), key, problem)


def site_days(index: int, **days):
    """A change: PAN site `index`'s days become `days`."""
    return lambda data: data["pan"]["sites"][index].update(days=days)


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        # The chat said "le lundi de 9 h à 12 h et de 11 h à 13 h".
        (
            lambda data: data["prefecture"]["phone_hours"]["days"].update(mon=["09:00-12:00", "11:00-13:00"]),
            "prefecture.phone_hours.days.mon",
            "'11:00-13:00' starts before '09:00-12:00' ends: write the ranges in order, without overlap",
        ),
        # Bourg-d'Essai's slots of 9 h 20 and 9 h 40 were generated twice on Fridays.
        (
            site_days(1, fri=["09:20-11:40", "09:20-10:00"]),
            "pan.sites[1].days.fri",
            "'09:20-10:00' starts before '09:20-11:40' ends: write the ranges in order, without overlap",
        ),
        # Written backwards, the hours were said afternoon first.
        (
            site_days(1, fri=["14:00-16:00", "09:20-11:40"]),
            "pan.sites[1].days.fri",
            "'09:20-11:40' starts before '14:00-16:00' ends: write the ranges in order, without overlap",
        ),
        # A titre de séjour's slots at the quai on Thursdays: 10 h, 10 h 20 and 10 h 40 were generated twice.
        (
            lambda data: data["pan"]["sites"][0].update(foreigners_days={"thu": ["10:00-12:00"]}),
            "pan.sites[0].foreigners_days.thu",
            "'10:00-12:00' overlaps the site's other hours that day ('09:00-11:00')",
        ),
    ],
    ids=["standard", "site", "site backwards", "foreigners' hours"],
)
def test_overlapping_hours_are_refused(tmp_path, change, key, problem):
    refused(folder_with(tmp_path, change), key, problem)


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        # Each was accepted: the /rdv pages offered the site, which never had a free slot.
        (site_days(1, fri=[]), "pan.sites[1].days", "holds no slot of 20 minutes (pan.slot_minutes): give the site its hours"),
        (
            site_days(1, fri=["09:20-09:30"]),
            "pan.sites[1].days",
            "holds no slot of 20 minutes (pan.slot_minutes): give the site its hours",
        ),
        # Was accepted: the chat said the standard « répond sur rendez-vous », the phone never transferred.
        (
            lambda data: data["prefecture"]["phone_hours"].update(days={"mon": [], "tue": []}),
            "prefecture.phone_hours.days",
            "lists no opening hours",
        ),
        # Was accepted as a capacity of 1.
        (lambda data: data["pan"]["sites"][0].update(capacity=True), "pan.sites[0].capacity", "must be a positive whole number"),
    ],
    ids=["site without hours", "site hours shorter than a slot", "standard without hours", "capacity true"],
)
def test_a_site_or_a_standard_without_hours_is_refused(tmp_path, change, key, problem):
    refused(folder_with(tmp_path, change), key, problem)


# ---- the product run on it ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_sur_mer(tmp_path_factory):
    """A server of the invented préfecture, its files in a folder outside the checkout."""
    tmp = tmp_path_factory.mktemp("test-sur-mer")
    running = launch(tmp, prefecture=ID, extra_env={"AIGUILLAGE_PREFECTURES": str(folder_with(tmp))})
    yield running
    stop(running)


def test_the_prefectures_own_number_written_in_the_chat_is_kept_a_callers_is_masked(test_sur_mer):
    # The public numbers the masking keeps were read from the checkout's prefectures/, not from
    # AIGUILLAGE_PREFECTURES: Test-sur-Mer's standard was masked, Cantal's kept.
    sender = "masquage-test-sur-mer"
    test_sur_mer.say(sender, "j'ai appelé le 01 99 00 12 34 sans réponse, rappelez-moi au 06 12 34 56 78")
    rows = until(
        lambda: db_rows(test_sur_mer.db, "select text from turns where conversation_id = ?", [sender]),
        30,
        "the turn written",
    )
    assert [row["text"] for row in rows] == ["j'ai appelé le 01 99 00 12 34 sans réponse, rappelez-moi au [téléphone]"]


# ---- what the files' data say -------------------------------------------------------------------


def answer(folder: Path, node: str) -> str:
    """The chat's full answer of a tree node for Test-sur-Mer, loaded from `folder`."""
    from bot.core import config, tree
    from bot.core.router import Router

    router = Router(tree.load_tree(), config.load_prefecture(ID, folder))
    return router._node_decision("x", router.tree.node(node), 1.0, 0, "nlu").answer


def test_the_foreigners_hours_the_chat_gives_are_those_of_the_sites(tmp_path):
    # The deployer's first draft said « le mardi après-midi » in pan.foreigners_summary while the quai
    # kept Thursday 11 h-12 h (foreigners_days): the chat said Tuesday, the slots were on Thursdays.
    # The words are now made from foreigners_days; the free text is refused.
    def draft(data):
        data["pan"]["foreigners_summary"] = "le mardi après-midi, pour les démarches des étrangers"

    refused(
        folder_with(tmp_path, draft),
        "pan.foreigners_summary",
        "is no longer read: the foreigners' hours are said from each site's foreigners_days; remove the key",
    )
    folder = folder_with(tmp_path, lambda data: data["pan"].pop("foreigners_summary", None))
    assert (
        "Un rendez-vous au point d'accueil numérique peut alors vous être proposé, pour les démarches des "
        "étrangers, le jeudi de 11 h à 12 h à Quai des Essais : un agent vous accompagne" in answer(folder, "titre_sejour")
    )

    def two_sites(data):
        data["pan"].pop("foreigners_summary", None)
        data["pan"]["sites"][1]["foreigners_days"] = {"wed": ["14:00-15:00"]}

    assert (
        "proposé, pour les démarches des étrangers, le jeudi de 11 h à 12 h à Quai des Essais et le mercredi "
        "de 14 h à 15 h à Bourg-d'Essai : un agent" in answer(folder_with(tmp_path, two_sites), "titre_sejour")
    )

    def none_kept(data):
        data["pan"].pop("foreigners_summary", None)
        data["pan"]["sites"][0].pop("foreigners_days")

    assert "proposé, sur rendez-vous : un agent" in answer(folder_with(tmp_path, none_kept), "titre_sejour")


def test_the_phones_pan_answer_names_the_files_pan_sites(test_sur_mer, tmp_path):
    # Test-sur-Mer's two PAN sites are at the quai des Essais and in Bourg-d'Essai, neither at the
    # préfecture nor at a sous-préfecture: the caller heard « au point d'accueil numérique de la
    # préfecture ou d'une sous-préfecture », whatever the file's sites.
    from conftest import TWILIO_TEST_TOKEN

    from tools.ivr.simulate import Call

    call = Call(test_sur_mer.url, TWILIO_TEST_TOKEN)
    call.start()
    call.press("5")
    pan_answer = call.press("2")
    assert pan_answer.node == "rdv_pan"
    assert (
        "Un médiateur numérique vous aide gratuitement à faire votre démarche en ligne, sur rendez-vous, dans "
        "l'un des points d'accueil numériques, à Test-sur-Mer ou Bourg-d'Essai." in pan_answer.text
    )
    assert "sous-préfecture" not in pan_answer.text
    # A préfecture with one site: one place, no choice.
    from bot.core import config
    from bot.core.tree import load_tree
    from bot.core.tree_model import render

    pref = config.load_prefecture(ID, folder_with(tmp_path, lambda data: data["pan"]["sites"].pop(1)))
    tree = load_tree()
    assert "sur rendez-vous, au point d'accueil numérique, à Test-sur-Mer." in render(tree.node("rdv_pan").voice, pref)
    # The carte grise's and the permis's answers no longer say the PAN is the préfecture's.
    assert "Besoin d'aide ? Un point d'accueil numérique vous reçoit sur rendez-vous." in render(
        tree.node("carte_grise").voice, pref
    )


def change(dotted: str, value):
    """A change: the value at `dotted` ('a.b.c', or a site 'pan.sites.0.id') becomes `value`."""

    def apply(data):
        *path, last = dotted.split(".")
        node = data
        for part in path:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value

    return apply


@pytest.mark.parametrize(
    ("change_", "key", "problem"),
    [
        # Each was accepted: Twilio failed every <Say> of the calls (language or voice it does not know),
        (
            change("voice.language", "english"),
            "voice.language",
            "'english' is not a French language of Twilio's <Say>: write fr-FR, fr-CA or fr-BE",
        ),
        (
            change("voice.voice", "Celine"),
            "voice.voice",
            "'Celine' is not a French voice of Twilio's <Say>: write Polly.<name> (fr-FR: Celine, Lea, Mathieu, "
            "Remi; fr-CA: Chantal, Gabrielle, Liam; fr-BE: Isabelle) or Google.<language>-<name>",
        ),
        (
            change("voice.voice", "Polly.Chantal"),
            "voice.voice",
            "'Polly.Chantal' speaks fr-CA, not the file's voice.language fr-FR",
        ),
        # the page's title became "42",
        (change("prefecture.name", 42), "prefecture.name", "must be text (in quotes), not 42"),
        # the /rdv pages' links held the space (/rdv/creneaux?site=quai des essais),
        (
            change("pan.sites.0.id", "quai des essais"),
            "pan.sites[0].id",
            "'quai des essais' is not a slug (lowercase letters, digits and hyphens): site ids appear in URLs",
        ),
        # and the chat and the phone sent the public to a mobile or to a premium-rate line.
        (
            change("prefecture.phone.number", "06 12 34 56 78"),
            "prefecture.phone.number",
            "'06 12 34 56 78' is a mobile number: give the standard's landline",
        ),
        (
            change("prefecture.phone.number", "08 99 12 34 56"),
            "prefecture.phone.number",
            "'08 99 12 34 56' is a premium-rate number (08 9x): the public must reach the standard without a surcharge",
        ),
        # and the chat promised an answer "sous True jours ouvrés" (YAML reads `yes` and `true` as booleans,
        # and a boolean was a whole number to the check).
        (
            lambda data: data.setdefault("commitments", {}).update(email_working_days=True),
            "commitments.email_working_days",
            "must be a positive number of working days",
        ),
        (
            lambda data: data.setdefault("commitments", {}).update(paper_working_days=False),
            "commitments.paper_working_days",
            "must be a positive number of working days",
        ),
    ],
    ids=[
        "language",
        "voice",
        "voice of another language",
        "name not text",
        "site id with spaces",
        "mobile",
        "premium rate",
        "e-mail days true",
        "paper days false",
    ],
)
def test_values_twilio_urls_and_the_public_cannot_use_are_refused(tmp_path, change_, key, problem):
    refused(folder_with(tmp_path, change_), key, problem)


def test_the_shipped_prefectures_pass_the_new_checks():
    from bot.core import config

    for pid in ("cantal", "gironde", "indre-et-loire", "loire", "vienne"):
        assert config.load_prefecture(pid, ROOT / "prefectures").id == pid


def test_days_with_the_same_hours_are_said_together_in_the_chat_the_phone_and_the_pages(test_sur_mer):
    # Test-sur-Mer's standard answers Monday, Tuesday, Thursday and Friday, 9 h-12 h: everything said
    # « le lundi et le mardi de 9 h à 12 h et le jeudi et le vendredi de 9 h à 12 h ».
    from conftest import TWILIO_TEST_TOKEN, bot_texts

    from tools.ivr.simulate import Call

    hours = "les lundi, mardi, jeudi et vendredi de 9 h à 12 h"
    chat = bot_texts(test_sur_mer.say("horaires-test-sur-mer", "quels sont les horaires du standard de la préfecture ?"))
    assert f"Son standard téléphonique (01 99 00 12 34) répond {hours}." in chat.replace("\u00a0", " ")
    call = Call(test_sur_mer.url, TWILIO_TEST_TOKEN)
    call.start()
    call.press("5")
    said = call.press("3")
    assert said.node == "horaires_contact"
    assert f"Le standard répond {hours}." in said.text
    status, page, _ = test_sur_mer.get("/rdv/")
    assert status == 200 and f"01 99 00 12 34</a> ({hours})." in page


def test_the_sites_api_and_page_give_the_foreigners_hours(test_sur_mer):
    # The quai keeps Thursday 11 h-12 h for the foreigners' procedures (foreigners_days): the chat's
    # answer said so, /rdv/api/sites's `hours` (the chat's booking widget) and the /rdv page did not.
    import html
    import json
    import urllib.request

    with urllib.request.urlopen(test_sur_mer.url + "/rdv/api/sites", timeout=30) as resp:
        sites = json.loads(resp.read().decode())["sites"]
    assert [(s["id"], s["hours"]) for s in sites] == [
        ("quai", "le lundi et le jeudi de 9 h à 11 h ; le jeudi de 11 h à 12 h pour les démarches des étrangers"),
        ("bourg", "le vendredi de 9 h 20 à 11 h 40"),
    ]
    with urllib.request.urlopen(test_sur_mer.url + "/rdv/", timeout=30) as resp:
        page = html.unescape(resp.read().decode())
    assert (
        "7 quai des Essais, 99123 Test-sur-Mer — le lundi et le jeudi de 9 h à 11 h ; "
        "le jeudi de 11 h à 12 h pour les démarches des étrangers" in page
    )


def test_every_key_of_the_prefecture_block_is_read_by_the_product():
    # `prefecture.contact_url` was in every file and in Test-sur-Mer's, and nothing read it: a deployer
    # looked for the préfecture's contact page and filled a link no user would ever see.
    product = "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("bot", "ivr", "web/templates", "web/static")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".yml", ".html", ".js") and "node_modules" not in path.parts
    )

    def keys(block: dict, prefix: str):
        for key, value in block.items():
            if key in ("source", "confirmed"):  # notes for the people who keep the file
                continue
            if isinstance(value, dict):
                yield from keys(value, f"{prefix}.{key}")
            else:
                yield f"{prefix}.{key}"

    files = [*sorted((ROOT / "prefectures").glob("[!_]*.yml")), FIXTURE]
    unread = sorted(
        {
            dotted
            for file in files
            for dotted in keys(yaml.safe_load(file.read_text(encoding="utf-8"))["prefecture"], "prefecture")
            if not any(form in product for form in (dotted, f'"{dotted.rsplit(".", 1)[1]}"'))
        }
    )
    assert unread == []


@pytest.mark.parametrize("cedex", ["Cedex 1", "Cedex", "CEDEX 09"])
def test_the_phones_pan_answer_names_the_town_without_its_cedex(tmp_path, cedex):
    # A site's postal address may end with its Cedex (« 42022 Saint-Étienne Cedex 1 »): the phone
    # said « à Test-sur-Mer Cedex » (and a Cedex with its number refused the address).
    from bot.core import config
    from bot.core.tree import load_tree
    from bot.core.tree_model import render

    def with_cedex(data):
        data["pan"]["sites"][0]["address"]["text"] = f"BP 12, 7 quai des Essais, 99123 Test-sur-Mer {cedex}"

    pref = config.load_prefecture(ID, folder_with(tmp_path, with_cedex))
    assert "dans l'un des points d'accueil numériques, à Test-sur-Mer ou Bourg-d'Essai." in render(
        load_tree().node("rdv_pan").voice, pref
    )


def test_hours_of_several_groups_are_said_without_two_et_in_one_phrase(tmp_path):
    # The standard answers Monday and Wednesday to Friday 9 h-12 h, Tuesday 14 h-16 h: the chat and the
    # phone said « le lundi et du mercredi au vendredi de 9 h à 12 h et le mardi de 14 h à 16 h ».
    from bot.core import config
    from bot.core.tree import load_tree
    from bot.core.tree_model import render

    days = {"mon": ["09:00-12:00"], "tue": ["14:00-16:00"], "wed": ["09:00-12:00"]}
    days |= {"thu": ["09:00-12:00"], "fri": ["09:00-12:00"]}
    folder = folder_with(tmp_path, lambda data: data["prefecture"]["phone_hours"].update(days=days))
    hours = "le lundi et du mercredi au vendredi de 9 h à 12 h ; le mardi de 14 h à 16 h"
    assert f"Son standard téléphonique (01 99 00 12 34) répond {hours}." in answer(folder, "horaires_contact").replace(
        "\u00a0", " "
    )
    pref = config.load_prefecture(ID, folder)
    assert f"Le standard répond {hours}." in render(load_tree().node("horaires_contact").voice, pref)
    # One group keeps its words.
    one = folder_with(tmp_path, lambda data: data["prefecture"]["phone_hours"].update(days={d: ["09:00-12:00"] for d in days}))
    assert "répond du lundi au vendredi de 9 h à 12 h." in answer(one, "horaires_contact").replace("\u00a0", " ")
