"""The documentation as tests (in the spirit of sqlite-utils' documentation tests): every command of the
command lines, every environment variable the product reads and every HTTP route it serves is documented
in README.md or the hand-written files of docs/ it maps (docs/eval.md, docs/benchmarks.md, docs/phone.md and
docs/reliability.md are written by the commands that measure: not counted). A new command, variable or
route without its line fails here."""

from __future__ import annotations

import argparse
import ast
import importlib
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
WRITTEN_BY_COMMANDS = {"eval.md", "benchmarks.md", "phone.md", "reliability.md"}
DOCS = "\n".join(
    [README]
    + [path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md")) if path.name not in WRITTEN_BY_COMMANDS]
)
PREFECTURES_DOC = (ROOT / "docs" / "prefectures.md").read_text(encoding="utf-8")

# Where the environment is read: bot/settings.py (the one place for the product) and the phone's two
# modules that still read their own variables.
ENV_READERS = ["bot/settings.py", "ivr/signature.py", "ivr/hours.py"]


def commands(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    """Every command line a parser accepts, as `prefix sub subsub`."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(f"{prefix} {name}")
                found += commands(sub, f"{prefix} {name}")
    return found


def cli_commands() -> list[str]:
    from bot.cli.main import build_parser

    found = commands(build_parser(), "python -m bot")
    ivr_main = (ROOT / "tools" / "ivr" / "__main__.py").read_text(encoding="utf-8")
    found += [f"python -m tools.ivr {name}" for name in re.findall(r'^\s+\("([a-z-]+)",', ivr_main, flags=re.M)]
    return found


def environment_variables() -> list[str]:
    """The names of the variables read: string constants in upper case passed to a reader."""
    names = set()
    for path in ENV_READERS:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(r"(?:[A-Z][A-Z0-9]*_)+[A-Z0-9]+|PREFECTURE|PORT", node.value):
                    names.add(node.value)
    return sorted(names)


def http_routes() -> list[str]:
    """Every route of every input channel named in credentials.yml, with its mount point."""
    channels = yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8"))
    routes = set()

    async def ignore(message):  # the channels' callback, never called here
        return None

    for dotted in channels:
        module, name = dotted.rsplit(".", 1)
        channel = getattr(importlib.import_module(module), name)()
        mount = urljoin("/webhooks/", channel.url_prefix())  # as rasa.core.channels.channel.register does
        blueprint = channel.blueprint(ignore)
        for route in blueprint._future_routes:
            if "<rest:path>" in route.uri:  # the console's catch-all (its French 404 page)
                continue
            routes.add(mount.rstrip("/") + route.uri)
    return sorted(routes)


def test_the_lists_are_read_from_the_code():
    """The walkers find what is certainly there (so an empty list cannot pass the tests below)."""
    assert {"python -m bot route", "python -m bot agents add", "python -m bot purge", "python -m tools.ivr simulate"} <= set(
        cli_commands()
    )
    assert {"PREFECTURE", "AIGUILLAGE_DB", "SMTP_HOST", "TWILIO_AUTH_TOKEN"} <= set(environment_variables())
    assert {"/chat/webhook", "/rdv/api/reserver", "/console/connexion", "/webhooks/ivr/voice"} <= set(http_routes())


@pytest.mark.parametrize("command", cli_commands())
def test_every_command_is_documented(command):
    documented = command in DOCS
    assert documented, f"neither README.md nor docs/ shows `{command}`"


@pytest.mark.parametrize("name", environment_variables())
def test_every_environment_variable_is_documented(name):
    documented = re.search(rf"\b{name}\b", DOCS) is not None
    assert documented, f"neither README.md nor docs/ documents the variable {name}"


@pytest.mark.parametrize("route", http_routes())
def test_every_http_route_is_documented(route):
    documented = any(f"{route}{end}" in DOCS for end in ("`", " ", "?"))
    assert documented, f"neither README.md nor docs/ lists {route}"


def test_the_section_on_adding_a_prefecture_names_every_block_and_runs_what_it_says(tmp_path):
    """ "Adding a préfecture": each block and each mailbox of a new préfecture's file (the invented
    Test-sur-Mer's, tests/fixtures/prefectures/) is explained, and the file the steps copy exists."""
    match = re.search(r"^## Adding a préfecture\n(.*?)(?=^## |\Z)", PREFECTURES_DOC, flags=re.M | re.S)
    assert match, "docs/prefectures.md has no section '## Adding a préfecture'"
    section = match.group(1)
    fixture = yaml.safe_load((ROOT / "tests" / "fixtures" / "prefectures" / "test-sur-mer.yml").read_text(encoding="utf-8"))
    named = [*fixture, *fixture["mailboxes"], *fixture["pan"]["sites"][0]]  # blocks, mailboxes, a site's keys
    assert [name for name in named if f"`{name}`" not in section] == []
    assert "cp prefectures/cantal.yml prefectures/" in section and (ROOT / "prefectures" / "cantal.yml").exists()
    for command in ("python -m bot check", "PREFECTURE=", "AIGUILLAGE_PREFECTURES"):
        assert command in section


def cookie_names() -> list[str]:
    """The names of the cookies the product sets: the module-level constants of bot/web named ..._COOKIE or COOKIE."""
    names = set()
    for path in (ROOT / "bot" / "web").rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                if any(isinstance(t, ast.Name) and re.fullmatch(r"(?:[A-Z_]+_)?COOKIE", t.id) for t in node.targets):
                    names.add(node.value.value)
    return sorted(names)


def test_every_cookie_is_listed_in_the_privacy_page():
    # A cookie set without a line in docs/privacy.md's table: the préfecture's information page, which
    # must list the cookies its site sets, would miss it.
    assert {"rdv_csrf", "aiguillage_conversation", "aiguillage_console", "aiguillage_console_login"} <= set(cookie_names())
    table = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8").split("## Cookies", 1)[1].split("\n## ", 1)[0]
    assert [name for name in cookie_names() if f"| `{name}` |" not in table] == []
