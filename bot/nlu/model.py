"""Load the trained Rasa model in process (for the CLI, the eval and the phone channel's tests)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from bot import settings
from bot.core.config import ROOT

MODEL_DIR = ROOT / "models"
MODEL_NAME = "aiguillage.tar.gz"


def model_path() -> Path:
    return settings.model() or MODEL_DIR / MODEL_NAME


class NLU:
    """A loaded model; `parse` returns Rasa's parse dict (intent, intent_ranking, entities)."""

    def __init__(self, path: Path | None = None):
        path = path or model_path()
        if not path.exists():
            raise FileNotFoundError(f"No trained model at {path}: run `make train` first.")
        for name in ("rasa", "tensorflow", "absl", "rasa_sdk"):
            logging.getLogger(name).setLevel(logging.ERROR)
        import structlog

        # Rasa logs every parse (with the text) through structlog at debug level: keep it quiet.
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        from bot.nlu.classifier_file import skops_first

        skops_first(path)
        from rasa.core.agent import Agent  # heavy import, only when a model is needed

        self.loop = asyncio.new_event_loop()
        self.agent = Agent.load(str(path))

    def parse(self, text: str) -> dict:
        if not text.strip():
            return {"text": text, "intent": {"name": None, "confidence": 0.0}, "intent_ranking": [], "entities": []}
        return self.loop.run_until_complete(self.agent.parse_message(text))


# `rasa run` with a model it cannot load logs it and serves on without one; the chat channel stops
# the process instead (bot.web.lifecycle), with this message and exit status.
MODEL_REFUSED_EXIT = 3


def served_model(argv: list[str]) -> str | None:
    """The model file `rasa run` was given (`--model PATH`, `-m PATH` or `--model=PATH`), if any."""
    for i, arg in enumerate(argv):
        if arg in ("--model", "-m") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--model="):
            return arg.split("=", 1)[1]
    return None


def model_refused_message(path: Path | str | None) -> str:
    where = f"the model file {path}" if path else "no model file"
    return (
        f"Aiguillage cannot start: {where} could not be loaded (missing, damaged, or trained with another "
        "Rasa version than 3.6.21). Train it again with `make train` (or point AIGUILLAGE_MODEL / --model at "
        "a model trained by this project), then start the server again."
    )


def unpack_room_message(path: Path | str | None) -> str | None:
    """Rasa unpacks the model into the temporary directory (tempfile's: TMPDIR, else /tmp) at each
    start and only logs a "No space left on device" there, so the model looks damaged: when its files
    do not fit in what is free there, the message that says so; None when they fit, or when the
    archive cannot be read (then it is damaged: model_refused_message)."""
    import tarfile
    import tempfile

    if path is None:
        return None
    try:
        with tarfile.open(path) as archive:
            need = sum(member.size for member in archive.getmembers())
        folder = tempfile.gettempdir()
        st = os.statvfs(folder)
    except (OSError, EOFError, tarfile.TarError):
        return None
    free = st.f_bavail * st.f_frsize
    if free >= need:
        return None
    return (
        f"Aiguillage cannot start: the model file {path} could not be unpacked in the temporary directory {folder}:"
        f" its files take {need / 1e6:.0f} MB and {free / 1e6:.0f} MB are free there. Free some space there, or point"
        " TMPDIR at a folder with room, then start the server again."
    )
