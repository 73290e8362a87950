"""Benchmark: one custom action call, over the HTTP loopback and in process, alternated (docs/floor.md).

One real server (`python -m bot serve`, a known action key). In this process, Rasa's own
`RemoteAction("action_route").run` on a real tracker (a session with `--history` earlier turns, as the
tracker store hands it over) goes, block after block, either over HTTP to the server's
/webhooks/actions/webhook (the action runs in the server) or through bot/nlu/in_process.py (the action
runs here). Per call: wall time (p50, p95) and CPU time, this process's plus the server's. Adds an
"action_call" entry to docs/floor.json.

    .venv/bin/python bench/floor_calls.py [--calls 200] [--block 25] [--history 8]

A benchmark, not a test: nothing is asserted; the machine is shared, read the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.floor_bench import Server, cpu_s  # noqa: E402
from bench.tracker_bench import MESSAGES  # noqa: E402

KEY = "floor-bench-key-" + "b" * 40
ANSWER = "Les démarches se font en ligne, sur le site officiel. " * 8  # a leaf's answer, about 450 characters


def tracker_with_history(domain, sender: str, history: int):
    """A session with `history` answered turns, then the message the action is called for."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    events = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
    for i in range(history + 1):
        text = MESSAGES[i % len(MESSAGES)]
        parse = {
            "text": text,
            "intent": {"name": "carte_grise", "confidence": 0.93},
            "entities": [],
            "intent_ranking": [{"name": "carte_grise", "confidence": 0.93}, {"name": "permis_conduire", "confidence": 0.04}],
        }
        events.append(UserUttered(text, parse_data=parse, input_channel="aiguillage_chat"))
        if i == history:
            break
        events += [
            ActionExecuted("action_route"),
            BotUttered(ANSWER, data={"buttons": [{"title": "Aide", "payload": "/navigate"}]}),
            BotUttered(None, data={"custom": {"links": [{"title": "ANTS", "url": "https://ants.gouv.fr"}]}}),
            SlotSet("misses", 0.0),
            ActionExecuted("action_listen"),
        ]
    return DialogueStateTracker.from_events(sender, events, slots=domain.slots)


async def block(endpoint, domain, history: int, calls: int, pid: int) -> tuple[list[float], float]:
    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator

    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    times = []
    trackers = [tracker_with_history(domain, f"calls{os.getpid()}-{time.time_ns()}-{i}", history) for i in range(calls)]
    cpu0, server0 = time.process_time(), cpu_s(pid)
    for tracker in trackers:
        started = time.perf_counter()
        await RemoteAction("action_route", endpoint).run(CollectingOutputChannel(), nlg, tracker, domain)
        times.append(time.perf_counter() - started)
    return times, (time.process_time() - cpu0) + (cpu_s(pid) - server0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per way")
    parser.add_argument("--block", type=int, default=25, help="calls in a row before switching")
    parser.add_argument("--history", type=int, default=8, help="earlier turns in the session")
    parser.add_argument("--out", default=str(ROOT / "docs" / "floor.json"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="floor-calls-"))
    os.environ.update(PREFECTURE="cantal", AIGUILLAGE_DB=str(workdir / "here.db"), RASA_TELEMETRY_ENABLED="false")
    server = Server("calls", ROOT / "endpoints.yml", workdir, {"AIGUILLAGE_ACTIONS_SECRET": KEY})
    try:
        import structlog

        # As in the server (and bot.nlu.model.NLU): Rasa's structlog debug lines are not printed.
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        from rasa.shared.core.domain import Domain
        from rasa.utils.endpoints import EndpointConfig

        from bot.nlu.in_process import InProcessActions

        domain = Domain.load(str(ROOT / "domain.yml"))
        url = f"http://127.0.0.1:{server.port}/webhooks/actions/webhook"
        ways = {
            "http": EndpointConfig(url=url, headers={"X-Aiguillage-Actions-Key": KEY}),
            "in_process": InProcessActions(EndpointConfig(url=url), "actions"),
        }
        loop = asyncio.new_event_loop()
        for endpoint in ways.values():  # warm up both
            loop.run_until_complete(block(endpoint, domain, args.history, 5, server.proc.pid))
        times: dict = {name: [] for name in ways}
        cpu: dict = dict.fromkeys(ways, 0.0)
        for b in range(args.calls // args.block):
            for name in list(ways)[:: -1 if b % 2 else 1]:
                t, c = loop.run_until_complete(block(ways[name], domain, args.history, args.block, server.proc.pid))
                times[name] += t
                cpu[name] += c
        loop.close()
    finally:
        server.stop()
    result = {"load": os.getloadavg(), "history_turns": args.history, "calls_per_way": args.calls}
    for name, t in times.items():
        t.sort()
        result[name] = {
            "p50_ms": round(statistics.median(t) * 1000, 2),
            "p95_ms": round(t[int(0.95 * (len(t) - 1))] * 1000, 2),
            "cpu_ms_per_call": round(cpu[name] / len(t) * 1000, 2),
        }
    print(json.dumps(result, indent=2))
    out = Path(args.out)
    doc = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    doc.setdefault("action_call", []).append(result)
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
