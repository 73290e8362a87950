"""Benchmark of the phone webhooks: latency of a keypad step and of a speech step (p50/p95), and
sustained throughput with 16 concurrent callers, through real signed HTTP requests.

    .venv/bin/python bench/ivr_bench.py                 # starts its own server (local dev mode)
    .venv/bin/python bench/ivr_bench.py --url http://127.0.0.1:5005 --token ...   # a running one

Targets from the issue: keypad step p95 <= 20 ms, speech step p95 <= 80 ms, 0 errors. This is a
benchmark, not a test: nothing asserts a timing; the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.signature import LOCAL_DEV_TOKEN  # noqa: E402
from tools.ivr.simulate import Call, SimulatorError  # noqa: E402

SPEECH = [
    "mon titre de séjour expire",
    "j'ai perdu ma carte grise",
    "je voudrais un passeport en urgence",
    "à quelle heure ouvre la préfecture",
    "je veux parler à quelqu'un",
    "renouveler mon permis de conduire",
]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t0) * 1000


def met(values: list[float], target: float) -> str:
    return ": met" if pct(values, 95) <= target else ": **missed**"


def start_server() -> tuple[subprocess.Popen, str, Path]:
    from bench import servers  # the one server launcher of bench/ (local dev mode: IVR_LOCAL_DEV=1)

    tmp = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    server = servers.ours(servers.MODEL, tmp / "bench.db", tmp / "rasa.log", wait=False)
    server.wait_ready(180)
    return server.proc, server.url, tmp


def sequential(url: str, token: str, n: int) -> tuple[list[float], list[float]]:
    keypad, speech = [], []
    for i in range(n):
        call = Call(url, token)
        call.start()
        keypad.append(timed(call.press, "1"))  # main menu -> submenu
        keypad.append(timed(call.press, "1"))  # submenu -> leaf
        keypad.append(timed(call.press, "0"))  # leaf -> main menu
        speech.append(timed(call.say, SPEECH[i % len(SPEECH)]))
        call.hangup()
    return keypad, speech


def concurrent(url: str, token: str, callers: int, seconds: float) -> tuple[int, int, float, dict[str, list[float]]]:
    """`callers` threads, each calling again and again; latencies by kind of step."""
    stop_at = time.time() + seconds
    lock = threading.Lock()
    counts = {"requests": 0, "errors": 0}
    latencies: dict[str, list[float]] = {"call": [], "keypad": [], "speech": []}

    def caller(k: int) -> None:
        i = 0
        while time.time() < stop_at:
            call = Call(url, token)
            local: dict[str, list[float]] = {"call": [], "keypad": [], "speech": []}
            errors, hangups = 0, 0
            try:
                local["call"].append(timed(call.start))
                for key in ("1", "1", "*", "0"):
                    local["keypad"].append(timed(call.press, key))
                local["speech"].append(timed(call.say, SPEECH[(k + i) % len(SPEECH)]))
                call.hangup()
                hangups = 1
            except (SimulatorError, OSError):
                errors += 1
            i += 1
            with lock:
                counts["requests"] += sum(len(v) for v in local.values()) + hangups
                counts["errors"] += errors
                for kind, values in local.items():
                    latencies[kind].extend(values)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=caller, args=(k,)) for k in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts["requests"], counts["errors"], time.perf_counter() - t0, latencies


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None, help="a running server; default: start one (IVR_LOCAL_DEV=1)")
    parser.add_argument("--token", default=None)
    parser.add_argument("--calls", type=int, default=100, help="sequential calls for the latency figures")
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--out", default=None, help="also write the report (markdown) to this file")
    args = parser.parse_args()
    proc = None
    url, token = args.url, args.token or os.environ.get("TWILIO_AUTH_TOKEN") or LOCAL_DEV_TOKEN
    if url is None:
        proc, url, _ = start_server()
    try:
        sequential(url, token, 5)  # warm-up
        keypad, speech = sequential(url, token, args.calls)
        requests, errors, elapsed, lat = concurrent(url, token, args.callers, args.seconds)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    lines = [
        "# Phone webhooks benchmark",
        "",
        f"`bench/ivr_bench.py` on {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, one `rasa run` process.",
        "",
        "| measure | p50 | p95 | target |",
        "|---|---|---|---|",
        f"| keypad step, 1 caller ({len(keypad)} samples) | {statistics.median(keypad):.1f} ms | {pct(keypad, 95):.1f} ms | |",
        f"| speech step (NLU + router), 1 caller ({len(speech)} samples) | {statistics.median(speech):.1f} ms | {pct(speech, 95):.1f} ms | |",
        f"| keypad step, {args.callers} concurrent callers ({len(lat['keypad'])} samples) | {statistics.median(lat['keypad']):.1f} ms | {pct(lat['keypad'], 95):.1f} ms | p95 <= 20 ms{met(lat['keypad'], 20)} |",
        f"| speech step, {args.callers} concurrent callers ({len(lat['speech'])} samples) | {statistics.median(lat['speech']):.1f} ms | {pct(lat['speech'], 95):.1f} ms | p95 <= 80 ms{met(lat['speech'], 80)} |",
        f"| incoming call, {args.callers} concurrent callers | {statistics.median(lat['call']):.1f} ms | {pct(lat['call'], 95):.1f} ms | |",
        "",
        "The load generator (16 Python threads signing requests and parsing TwiML) runs on the same",
        "2 cores as the server: under concurrency, part of each figure is the client's own queueing.",
        "",
        f"Throughput with {args.callers} concurrent callers for {elapsed:.0f} s: {requests / elapsed:.0f} webhook "
        f"requests/s ({requests} requests, {errors} errors).",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report, encoding="utf-8")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
