"""Benchmark: where a chat turn's server CPU goes (issue 16, section 4), part by part.

A real server (`python -m bot serve`, this checkout or `--compare DIR`'s) is started with a
`sitecustomize` (PROBE, put first on PYTHONPATH: not product code) that wraps the synchronous
functions of each part of a turn and adds up the CPU time of the thread running them
(`time.thread_time`, so a wait for the GIL, a lock or the disk is not counted). Then `--turns`
chat turns over HTTP, one user, conversations of five turns; the server's whole CPU per turn comes
from /proc/PID/stat. What no probe covers (Sanic and HTTP, asyncio, Rasa's processor between the
parts, the lock store, logging) is the remainder.

    .venv/bin/python bench/floor_profile.py [--turns 300] [--compare /path/to/other/checkout]

With `--compare`, both servers run and are measured alternately (`--rounds` rounds of A B, then
B A). Prints a table and writes `--out` (JSON). A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.floor_bench import TICK, Server  # noqa: E402
from bench.servers import post  # noqa: E402
from bench.tracker_bench import MESSAGES  # noqa: E402

# (part, module, qualified name): synchronous functions only (an async one would count its awaits).
PARTS = [
    ("chat channel: parse + mask the message", "bot.web.chat", "parse_chat_request"),
    ("chat channel: shape the answer", "bot.web.chat", "shaped"),
    ("tracker read: SELECT of the window", "bot.nlu.tracker_store", "WindowSQLTrackerStore._read_window"),
    ("tracker read: events rebuilt", "bot.nlu.tracker_store", "WindowSQLTrackerStore._tracker"),
    ("NLU graph (tokenizer, TF-IDF classifier)", "rasa.core.processor", "MessageProcessor._parse_message_with_graph"),
    ("policy graph (RulePolicy), twice", "rasa.core.processor", "MessageProcessor._predict_next_with_tracker"),
    ("action call: tracker state + domain", "rasa.core.actions.action", "RemoteAction._action_call_format"),
    ("action call: copy of the call and answer", "bot.nlu.in_process", "_json_copy"),
    ("action call: rasa_sdk Tracker built", "rasa_sdk.interfaces", "Tracker.from_dict"),
    ("action: routing (Router.decide)", "bot.core.router", "Router.decide"),
    ("action answer: events parsed", "rasa.shared.core.events", "deserialise_events"),
    ("turn record (product store)", "bot.store.database", "Store.record_turn"),
    ("tracker save: rows serialised", "bot.nlu.tracker_store", "WindowSQLTrackerStore._new_rows"),
    ("tracker save: INSERT + commit", "bot.nlu.tracker_store", "WindowSQLTrackerStore._insert"),
]
# Details inside the parts above (not added to the covered sum).
INNER = [
    ("  of NLU: the TF-IDF classifier", "bot.nlu.components", "TfidfIntentClassifier.process"),
    ("  of NLU: the tokenizer", "rasa.nlu.tokenizers.tokenizer", "Tokenizer.process"),
    ("  of policy: RulePolicy's prediction", "rasa.core.policies.rule_policy", "RulePolicy.predict_action_probabilities"),
    ("  of policy: the tracker's past states", "rasa.shared.core.trackers", "DialogueStateTracker.past_states"),
]

PROBE = """
import functools, importlib, json, os, sys, threading, time

PARTS = json.loads(os.environ["FLOOR_PROBE_PARTS"])
OUT = os.environ["FLOOR_PROBE_OUT"]
totals = {name: [0.0, 0] for name, _, _ in PARTS}
local = threading.local()


def wrap(name, fn):
    @functools.wraps(fn)
    def probe(*args, **kwargs):
        t0 = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            entry = totals[name]
            entry[0] += time.thread_time() - t0
            entry[1] += 1
    return probe


def install():
    left = list(PARTS)
    while True:
        for item in list(left):
            name, module, qualname = item
            mod = sys.modules.get(module)
            if mod is None:
                continue
            owner, attr = mod, qualname
            if "." in qualname:
                cls, attr = qualname.split(".", 1)
                owner = getattr(mod, cls, None)
                if owner is None:
                    continue
            raw = owner.__dict__.get(attr)
            if isinstance(raw, staticmethod):
                setattr(owner, attr, staticmethod(wrap(name, raw.__func__)))
            elif isinstance(raw, classmethod):
                setattr(owner, attr, classmethod(wrap(name, raw.__func__)))
            elif raw is not None:
                setattr(owner, attr, wrap(name, raw))
            left.remove(item)
        tmp = OUT + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"totals": totals, "unpatched": [i[0] for i in left]}, f)
        os.replace(tmp, OUT)
        time.sleep(0.2)


import gc

gc_started = {}


def gc_probe(phase, info):
    name = "garbage collector, generation %d" % info["generation"]
    if phase == "start":
        gc_started[threading.get_ident()] = time.thread_time()
        return
    entry = totals.setdefault(name, [0.0, 0])
    entry[0] += time.thread_time() - gc_started.pop(threading.get_ident(), time.thread_time())
    entry[1] += 1


gc.callbacks.append(gc_probe)
threading.Thread(target=install, daemon=True, name="floor-probe").start()
"""


def read_probe(path: Path) -> dict:
    time.sleep(0.5)  # the probe writes its totals every 0.2 s
    return json.loads(path.read_text(encoding="utf-8"))


def turns(server: Server, count: int) -> float:
    """`count` turns, conversations of five; returns the wall time."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    started, sender = time.perf_counter(), ""
    for i in range(count):
        if i % 5 == 0:
            sender = "prof" + uuid.uuid4().hex[:12]
        post(conn, sender, MESSAGES[i % len(MESSAGES)])
    conn.close()
    return time.perf_counter() - started


def user_system_s(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def measure(server: Server, probe_out: Path, count: int) -> dict:
    before, (user0, sys0) = read_probe(probe_out), user_system_s(server.proc.pid)
    wall = turns(server, count)
    user1, sys1 = user_system_s(server.proc.pid)
    cpu = user1 - user0 + sys1 - sys0
    after = read_probe(probe_out)
    parts = {
        name: round((after["totals"][name][0] - before["totals"].get(name, [0.0, 0])[0]) / count * 1000, 2)
        for name in after["totals"]
    }
    inner = {name for name, _, _ in INNER}
    covered = sum(v for k, v in parts.items() if k not in inner and not k.startswith("garbage"))
    return {
        "cpu_ms_per_turn": round(cpu / count * 1000, 2),
        "user_ms_per_turn": round((user1 - user0) / count * 1000, 2),
        "system_ms_per_turn": round((sys1 - sys0) / count * 1000, 2),
        "parts_ms_per_turn": parts,
        "remainder_ms_per_turn": round(cpu / count * 1000 - covered, 2),
        "unpatched": after["unpatched"],
        "wall_ms_per_turn": round(wall / count * 1000, 2),
        "load": os.getloadavg()[0],
    }


def start(name: str, root: Path, workdir: Path) -> tuple[Server, Path]:
    probe_dir = Path(tempfile.mkdtemp(prefix=f"probe-{name}-", dir=workdir))
    (probe_dir / "sitecustomize.py").write_text(PROBE, encoding="utf-8")
    out = probe_dir / "totals.json"
    env = {
        "PYTHONPATH": str(probe_dir),
        "FLOOR_PROBE_PARTS": json.dumps(PARTS + INNER),
        "FLOOR_PROBE_OUT": str(out),
    }
    server = Server(name, root / "endpoints.yml", workdir, env, root=root)
    return server, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--compare", help="another checkout (with its .venv and models/) measured alternately")
    parser.add_argument("--out", default=str(ROOT / "docs" / "floor_profile.json"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="floor-profile-"))
    roots = {"this": ROOT} | ({"compare": Path(args.compare).resolve()} if args.compare else {})
    result: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "turns": args.turns, "runs": []}
    result["load_before"] = os.getloadavg()
    for r in range(args.rounds):
        order = list(roots)[:: -1 if r % 2 else 1]
        servers = {name: start(name, roots[name], workdir) for name in order}
        try:
            for name in order:
                row = {"round": r + 1, "checkout": name, "root": str(roots[name])}
                row.update(measure(*servers[name], args.turns))
                result["runs"].append(row)
                print(json.dumps(row, indent=1), flush=True)
        finally:
            for server, _ in servers.values():
                server.stop()
    result["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
