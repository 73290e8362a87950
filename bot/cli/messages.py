"""The command line's messages for the operator: bot/cli/messages.yml, read once, a text's
{placeholders} filled like the console's (bot.core.texts.fill)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from bot.core.config import get_path
from bot.core.texts import fill, read_texts_file
from bot.core.tree import TreeError

MESSAGES_FILE = Path(__file__).resolve().parent / "messages.yml"
LABEL = "bot/cli/messages.yml"


@lru_cache(maxsize=1)
def messages() -> dict:
    """bot/cli/messages.yml as a mapping (a TreeError naming the file when it cannot be read)."""
    return read_texts_file(MESSAGES_FILE, LABEL)


def say(dotted: str, **values) -> str:
    """The message at `agents.created`..., its {placeholders} filled from `values`."""
    try:
        text = get_path(messages(), dotted)
    except KeyError:
        raise TreeError(LABEL, dotted, "missing text") from None
    if not isinstance(text, str) or not text.strip():
        raise TreeError(LABEL, dotted, "missing text")
    return fill(text, LABEL, dotted, values)
