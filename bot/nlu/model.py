"""Load the trained Rasa model in process (for the CLI, the eval and the phone channel's tests)."""

from __future__ import annotations

import asyncio
import logging
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
        from rasa.core.agent import Agent  # heavy import, only when a model is needed

        self.loop = asyncio.new_event_loop()
        self.agent = Agent.load(str(path))

    def parse(self, text: str) -> dict:
        if not text.strip():
            return {"text": text, "intent": {"name": None, "confidence": 0.0}, "intent_ranking": [], "entities": []}
        return self.loop.run_until_complete(self.agent.parse_message(text))
