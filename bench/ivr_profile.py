"""Benchmark: where a keypad step's server CPU goes (issue 16 §5), part by part, on the real server.

A real server (`python -m bot serve`, the model, its own SQLite store, this checkout or `--compare
DIR`'s) is started with a `sitecustomize` (PROBE, first on PYTHONPATH: not product code) that

- wraps the synchronous functions of each part of a phone webhook and adds up the CPU time of the
  thread running them (`time.thread_time`: a wait for the GIL, a lock or the disk is not counted);
- wraps each of Sanic's middlewares the same way (they never suspend: their CPU is their time);
- writes, with the totals, the native id and name of every thread (event loop, `ivr-store_*`).

Then `--callers` closed-loop callers play the keypad script for `--seconds` (incoming call, keys
1 1 * 0, status callback: 6 webhooks a call, as `bench/ivr_bench.py` signs them, without its
sentence; this process is the load generator: its own CPU per request is reported too); the
server's CPU by thread comes from /proc/PID/task/TID/stat. What no probe covers on
the event loop (Sanic and uvloop's HTTP, asyncio's hops, the handler's own lines) is the remainder.
`--cprofile N`: then N more webhooks with the event loop thread under cProfile (thread CPU time as
its clock): the shares of the remainder, function by function (the profiler's own cost inflates
everything: shares only).

    .venv/bin/python bench/ivr_profile.py [--callers 16] [--seconds 10] [--compare /other/checkout]

A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import ivr_bench, servers  # noqa: E402
from ivr.signature import LOCAL_DEV_TOKEN  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")

# (part, module, qualified name): synchronous functions. "loop": run on the event loop; "pool": on
# the phone's store threads. Parts named "  ..." are inside the part above (not added to the sum).
PARTS = [
    ("loop", "form: parse_qs, blank values kept", "ivr.channel", "params_of"),
    ("loop", "signature: URL + HMAC-SHA1", "ivr.signature", "is_valid"),
    ("loop", "step read from the request (open now, clock)", "ivr.call_hooks", "CallHooks._read"),
    ("loop", "answer: Sanic response object", "ivr.call_hooks", "raw_xml"),
    ("pool", "store task (all of it)", "ivr.phone", "PhoneStore._call"),
    ("pool", "  call row read (SELECT)", "ivr.calls", "Calls.row"),
    ("pool", "  CallState from the row (JSON)", "ivr.call_hooks", "state_from_row"),
    ("pool", "  flow + TwiML text (keypad)", "ivr.call_hooks", "CallHooks._apply"),
    ("pool", "    flow + TwiML text alone", "ivr.flow", "Flow.handle"),
    ("pool", "    state saved (mask, JSON, UPDATE, COMMIT)", "ivr.calls", "Calls.save"),
    ("pool", "      columns (mask + JSON)", "ivr.calls", "Calls.columns"),
    ("pool", "  welcome + INSERT (incoming call)", "ivr.call_hooks", "create"),
    ("pool", "  call end (status callback)", "ivr.calls", "Calls.end"),
]
TOP = [p for p in PARTS if not p[1].startswith(" ")]

PROBE = r"""
import cProfile, functools, inspect, json, os, sys, threading, time

PARTS = json.loads(os.environ["IVR_PROBE_PARTS"])
OUT = os.environ["IVR_PROBE_OUT"]
totals = {}


def add(name, t0):
    entry = totals.setdefault(name, [0.0, 0])
    entry[0] += time.thread_time() - t0
    entry[1] += 1


def wrap(name, fn):
    @functools.wraps(fn)
    def probe(*args, **kwargs):
        t0 = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            add(name, t0)
    return probe


def wrap_async(name, fn):
    @functools.wraps(fn)
    async def probe(*args, **kwargs):
        t0 = time.thread_time()
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            add(name, t0)
    return probe


profile = {"n": 0, "start": None, "stop": None, "prof": None}


def profiled(handle):  # Sanic.handle_request: cProfile of the event loop thread on demand
    @functools.wraps(handle)
    async def probe(self, request):
        if profile["n"] == 0:
            middlewares_wrapped(self)
        if profile["start"] is None and os.path.exists(OUT + ".cprofile-go"):
            count = int(open(OUT + ".cprofile-go").read())
            profile["start"], profile["stop"] = profile["n"], profile["n"] + count
            profile["prof"] = cProfile.Profile(time.thread_time)
            profile["prof"].enable()
        profile["n"] += 1
        if profile["stop"] is not None and profile["n"] == profile["stop"]:
            profile["prof"].disable()
            profile["prof"].dump_stats(OUT + ".cprofile")
        return await handle(self, request)
    return probe


def middlewares_wrapped(app):
    for kind in ("request_middleware", "response_middleware"):
        seqs = [getattr(app, kind)] + list(getattr(app, "named_" + kind).values())
        for seq in seqs:
            for i, mw in enumerate(list(seq)):
                if not getattr(mw, "_ivr_probe", False):
                    label = "middleware %s: %s.%s" % (kind.split("_")[0], mw.__module__, mw.__qualname__)
                    w = wrap_async(label, mw)
                    w._ivr_probe = True
                    seq[i] = w


def install():
    state = {"left": list(PARTS), "patched_app": False}
    while True:
        try:
            install_step(state)
        except Exception:  # the probe must not die silently
            import traceback

            traceback.print_exc()
        time.sleep(0.2)


def install_step(state):
    left = state["left"]
    for item in list(left):
        _, name, module, qualname = item
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
        if raw is None:  # the module is still being imported
            continue
        if isinstance(raw, staticmethod):
            setattr(owner, attr, staticmethod(wrap(name, raw.__func__)))
        else:
            setattr(owner, attr, wrap(name, raw))
        left.remove(item)
    # After Sanic's TouchUp (at start) has recompiled handle_request from its source.
    Sanic = getattr(sys.modules.get("sanic.app"), "Sanic", None)
    if not state["patched_app"] and Sanic is not None and getattr(Sanic, "__touched__", False):
        Sanic.handle_request = profiled(Sanic.handle_request)
        state["patched_app"] = True
    threads = {str(t.native_id): t.name for t in threading.enumerate()}
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"totals": totals, "unpatched": [i[1] for i in left], "threads": threads}, f)
    os.replace(tmp, OUT)


threading.Thread(target=install, daemon=True, name="ivr-probe").start()
"""


def keypad_calls(base: str, token: str, paths: list[str], n: int) -> list[list[tuple[str, bytes, str]]]:
    """`n` calls of the keypad script: ivr_bench's signed calls without their sentence."""
    return [[r for r in ivr_bench.signed_call(base, token, paths, k) if r[0] != "speech"] for k in range(n)]


def keypad_pools(url: str, callers: int, calls_per_caller: int) -> list[list]:
    paths = ivr_bench.probe(url, LOCAL_DEV_TOKEN)
    return [keypad_calls(url, LOCAL_DEV_TOKEN, paths, calls_per_caller) for _ in range(callers)]


def play(url: str, callers: int, seconds: float, calls_per_caller: int) -> dict:
    return asyncio.run(ivr_bench._run(url, callers, keypad_pools(url, callers, calls_per_caller), seconds, 0))


def threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each thread of `pid`, by native id."""
    out = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[stat.parent.name] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def read_probe(path: Path) -> dict:
    time.sleep(0.5)  # the probe writes every 0.2 s
    return json.loads(path.read_text(encoding="utf-8"))


def measure(server: servers.Launched, out: Path, args) -> dict:
    pid = server.proc.pid
    play(server.url, 1, 3600, 3)  # warm-up
    pools = keypad_pools(server.url, args.callers, max(20, int(args.seconds * 12)))  # signed before the clock starts
    before, cpu0 = read_probe(out), threads_cpu(pid)
    client0 = time.process_time()
    result = asyncio.run(ivr_bench._run(server.url, args.callers, pools, args.seconds, 0))
    client_cpu = time.process_time() - client0  # this process is the load generator
    cpu1, after = threads_cpu(pid), read_probe(out)
    n = result["requests"]
    keypad = len(result["keypad"])
    names = after["threads"]
    by_thread: dict[str, float] = {}
    for tid, seconds in cpu1.items():
        delta = seconds - cpu0.get(tid, 0.0)
        if delta <= 0:
            continue
        name = "event loop (main thread)" if tid == str(pid) else names.get(tid, "other threads")
        name = "ivr-store threads" if name.startswith("ivr-store") else name
        by_thread[name] = by_thread.get(name, 0.0) + delta
    parts = {}
    for where, name, _, _ in PARTS:
        t1, c1 = after["totals"].get(name, [0.0, 0])
        t0, c0 = before["totals"].get(name, [0.0, 0])
        parts[name] = {"where": where, "us_per_request": round((t1 - t0) / n * 1e6, 1), "calls": c1 - c0}
    for name in after["totals"]:
        if name.startswith("middleware"):
            t1, c1 = after["totals"][name]
            t0, c0 = before["totals"].get(name, [0.0, 0])
            parts[name] = {"where": "loop", "us_per_request": round((t1 - t0) / n * 1e6, 1), "calls": c1 - c0}
    loop_cpu = by_thread.get("event loop (main thread)", 0.0) / n * 1e6
    covered = sum(v["us_per_request"] for k, v in parts.items() if v["where"] == "loop" and not k.startswith(" "))
    return {
        "requests": n,
        "keypad_steps": keypad,
        "errors": result["errors"],
        "off_script": result["off_script"],
        "requests_per_s": round(n / result["elapsed"], 1),
        "keypad_p50_p95_ms": [round(ivr_bench.pct(result["keypad"], 50), 1), round(ivr_bench.pct(result["keypad"], 95), 1)],
        "cpu_us_per_request": round(sum(by_thread.values()) / n * 1e6, 1),
        "load_generator_cpu_us_per_request": round(client_cpu / n * 1e6, 1),
        "by_thread_us_per_request": {k: round(v / n * 1e6, 1) for k, v in sorted(by_thread.items(), key=lambda kv: -kv[1])},
        "parts": parts,
        "loop_remainder_us_per_request": round(loop_cpu - covered, 1),
        "unpatched": after["unpatched"],
        "load": os.getloadavg()[0],
    }


def cprofile(server: servers.Launched, out: Path, count: int, callers: int) -> list[tuple[str, float]]:
    """The event loop thread under cProfile for `count` webhooks: (function, share of its CPU) by tottime."""
    go = Path(str(out) + ".cprofile-go")
    go.write_text(str(count), encoding="utf-8")
    dump = Path(str(out) + ".cprofile")
    play(server.url, callers, 3600, max(2, count // (5 * callers) + 2))
    for _ in range(50):
        if dump.exists():
            break
        time.sleep(0.2)
    if not dump.exists():
        return []
    stats = pstats.Stats(str(dump))
    total = stats.total_tt or 1.0
    rows = []
    for (file, line, fn), (_, _, tt, _, _) in stats.stats.items():
        rows.append((f"{Path(file).name}:{line} {fn}", tt / total))
    return sorted(rows, key=lambda r: -r[1])[:40]


def start(name: str, root: Path, workdir: Path) -> tuple[servers.Launched, Path]:
    probe_dir = Path(tempfile.mkdtemp(prefix=f"ivr-probe-{name}-", dir=workdir))
    (probe_dir / "sitecustomize.py").write_text(PROBE, encoding="utf-8")
    out = probe_dir / "totals.json"
    port = servers.free_port()
    env = servers.base_env(port, workdir / f"{name}.db", root / "models" / "aiguillage.tar.gz")
    env |= {
        "PYTHONPATH": str(probe_dir),
        "IVR_PROBE_PARTS": json.dumps(PARTS),
        "IVR_PROBE_OUT": str(out),
        "PREFECTURE": "cantal",
        "AIGUILLAGE_PURGE_FIRST_S": "1e9",
    }
    cmd = servers.ours_cmd(port, root / "models" / "aiguillage.tar.gz", root=root)
    server = servers.Launched(cmd, env, workdir / f"{name}.log", port, root=root)
    server.wait_ready(300)
    return server, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cprofile", type=int, default=0, help="then N webhooks with the event loop under cProfile")
    parser.add_argument("--compare", help="another checkout (with its .venv and models/) measured alternately")
    parser.add_argument("--out", default=None, help="write the figures (JSON) here")
    args = parser.parse_args()
    import uvloop  # the same event loop as bench/ivr_bench.py's client

    uvloop.install()
    workdir = Path(tempfile.mkdtemp(prefix="ivr-profile-"))
    roots = {"this": ROOT} | ({"compare": Path(args.compare).resolve()} if args.compare else {})
    result: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "runs": [], "load_before": os.getloadavg()}
    for r in range(args.rounds):
        order = list(roots)[:: -1 if r % 2 else 1]
        for name in order:
            server, out = start(f"{name}-{r}", roots[name], workdir)
            try:
                row = {"round": r + 1, "checkout": name, "root": str(roots[name])} | measure(server, out, args)
                if args.cprofile:
                    row["cprofile_loop_shares"] = [
                        (f, round(s, 4)) for f, s in cprofile(server, out, args.cprofile, args.callers)
                    ]
                result["runs"].append(row)
                print(json.dumps(row, indent=1, ensure_ascii=False), flush=True)
            finally:
                server.stop()
    result["load_after"] = os.getloadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
