"""The command line's messages for the operator live in bot/cli/messages.yml (issue 12), read by
bot/cli/messages.py; every message the code asks for is there, and every one renders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import messages
from bot.core.tree import TreeError

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = {"name": "marie.dupont", "role": "agent", "path": "/tmp/x.jsonl", "error": "illisible", "value": "'2026-13-01'"}
SAMPLE |= {"folder": "/srv/aiguillage/var", "free": "0 octet libre", "n": 0}


def leaves(node: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in node.items():
        out += leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return out


def test_every_message_renders_with_its_values():
    paths = leaves(messages.messages())
    assert len(paths) >= 20
    assert [p for p in paths if "{" in messages.say(p, **SAMPLE)] == []


def test_every_message_the_code_asks_for_is_in_the_file():
    asked = set()
    for path in (ROOT / "bot" / "cli").glob("*.py"):
        asked |= set(re.findall(r"""\bsay\(["']([a-z_.]+)["']""", path.read_text(encoding="utf-8")))
    assert len(asked) >= 15
    assert sorted(asked - set(leaves(messages.messages()))) == []


def test_messages_read_as_before():
    assert messages.say("agents.created", name="marie.dupont", role="admin") == "Compte « marie.dupont » créé (rôle : admin)."
    assert messages.say("tickets.paper_missing") == (
        "Indiquez le service (--service) et l'objet (--subject) du courrier ; le texte est lu sur l'entrée standard."
    )
    assert messages.say("route.no_text") == 'Donnez un texte : python -m bot route "ma question" (ou --jsonl)'


def test_a_message_without_its_value_is_an_error_naming_it():
    with pytest.raises(TreeError) as exc:
        messages.say("agents.unknown")
    assert str(exc.value) == "bot/cli/messages.yml: agents.unknown: placeholder {name} has no value"
