"""Benchmark: one run of the model's graph, Rasa's DaskGraphRunner against bot/nlu/graph_runner.py's
SequentialGraphRunner (docs/floor.md). The model is loaded once with each; then, in blocks of 100
runs switching runner each block (A B, B A, ...), the NLU target on a message and the policy target
on a tracker of six earlier turns. Prints the CPU time per run (process time, ms) of each block and
the load average. A benchmark, not a test.

    .venv/bin/python bench/floor_graph.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from rasa.core.channels.channel import UserMessage
    from rasa.engine import loader
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.nlu.graph_runner import SequentialGraphRunner

    model = ROOT / "models" / "aiguillage.tar.gz"
    runners = {}
    for name, cls in (("dask", DaskGraphRunner), ("sequential", SequentialGraphRunner)):
        with tempfile.TemporaryDirectory() as tmp:
            runners[name] = loader.load_predict_graph_runner(Path(tmp), model, LocalModelStorage, cls)
    domain = Domain.load(str(ROOT / "domain.yml"))
    intent = {"name": "carte_grise", "confidence": 0.9}
    parse = {"text": "carte grise", "intent": intent, "entities": [], "intent_ranking": [intent]}
    events = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
    for _ in range(6):
        events += [UserUttered("carte grise", intent=intent, parse_data=parse), ActionExecuted("action_route")]
        events.append(ActionExecuted("action_listen"))
    events.append(UserUttered("carte grise", intent=intent, parse_data=parse))
    tracker = DialogueStateTracker.from_events("floor-graph", events, slots=domain.slots)

    def nlu(name: str) -> None:
        metadata, runner = runners[name]
        message = UserMessage("j'ai vendu ma voiture que dois-je faire pour la carte grise")
        empty = DialogueStateTracker("floor-graph", [])
        runner.run(inputs={PLACEHOLDER_MESSAGE: [message], PLACEHOLDER_TRACKER: empty}, targets=[metadata.nlu_target])

    def policy(name: str) -> None:
        metadata, runner = runners[name]
        runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=[metadata.core_target])

    print("load before", [round(x, 2) for x in os.getloadavg()])
    for block in range(4):
        for name in ("dask", "sequential")[:: -1 if block % 2 else 1]:
            for target, run in (("nlu", nlu), ("policy", policy)):
                started = time.process_time()
                for _ in range(100):
                    run(name)
                print(block + 1, name, target, f"{(time.process_time() - started) * 10:.3f} ms CPU per run", flush=True)
    print("load after", [round(x, 2) for x in os.getloadavg()])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
