"""Load generators of the benchmark suite: chat turns (aiohttp, concurrent users) and phone calls
(bench/ivr_bench.py's signed callers), and the percentiles of what they measured.

They run in the benchmark's own process; the servers they load are other processes
(bench/servers.py). Not imported by the product.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from bench.pipeline_bench import QUESTIONS  # noqa: E402

LEVELS = (1, 8, 32)


def long_and_short(send, turns: int, messages, long: str = "long", short: str = "short", tick=None):
    """Turn 10 against turn `turns` of one conversation, side by side (docs/tracker.md).

    The long conversation is grown to 30 turns before its end (`grow`: those latencies), three short
    ones to turn 5; then turns 6-15 of the short ones and the long one's last 30 are sent in turn, one
    of each, so that both see the same load of a shared machine (sent minutes apart, "turn 10" and
    "turn 500" also measured the machine's mood). `send(sender, text)`: one turn, its latency in ms;
    `tick()`: after each turn of the long conversation. Returns (grow, near10, near_last)."""
    tick = tick or (lambda: None)
    grow = []
    for i in range(turns - 30):
        grow.append(send(long, messages[i % len(messages)]))
        tick()
    shorts = [f"{short}{n}" for n in range(3)]
    for sender in shorts:
        for i in range(5):
            send(sender, messages[i % len(messages)])
    near10, near_last = [], []
    for k in range(10):
        for n, sender in enumerate(shorts):
            near10.append(send(sender, messages[(5 + k) % len(messages)]))
            near_last.append(send(long, messages[(turns - 30 + 3 * k + n) % len(messages)]))
            tick()
    return grow, near10, near_last


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(lat: list[float]) -> dict:
    return {"p50_ms": round(pct(lat, 50), 2), "p95_ms": round(pct(lat, 95), 2), "p99_ms": round(pct(lat, 99), 2), "n": len(lat)}


def warm_up(server, n: int = 40) -> None:
    for i in range(n):
        server.say(f"warm{i % 8}", QUESTIONS[i % len(QUESTIONS)])


class _Bar:
    def update(self, n: int = 1) -> None:
        pass


async def chat_load(
    url: str, users: int, tag: str, turns: int | None = None, seconds: float | None = None, path: str = "/chat/webhook", bar=None
) -> dict:
    """`users` concurrent users, conversations of five turns each, for `turns` turns in all or `seconds`."""
    import aiohttp

    bar = bar or _Bar()
    per_user = max(1, turns // users) if turns else None
    lat: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds if seconds else None

    async def user(session: aiohttp.ClientSession, k: int) -> None:
        nonlocal errors
        i = 0
        while (per_user is not None and i < per_user) or (end is not None and time.perf_counter() < end):
            sender = f"{tag}-u{k}-c{i // 5}"  # conversations of five turns
            body = {"sender": sender, "message": QUESTIONS[(k + i) % len(QUESTIONS)]}
            i += 1
            t0 = time.perf_counter()
            try:
                async with session.post(url + path, json=body) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                        continue
            except (TimeoutError, aiohttp.ClientError):
                errors += 1
                continue
            finally:
                bar.update(1)
            lat.append((time.perf_counter() - t0) * 1000)

    connector = aiohttp.TCPConnector(limit=users)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(user(session, k) for k in range(users)))
        elapsed = time.perf_counter() - t0
    return summary(lat) | {
        "users": users,
        "errors": errors,
        "turns_per_s": round(len(lat) / elapsed, 1),
        "elapsed_s": round(elapsed, 1),
    }


def chat_levels(server, turns: int, tag: str, bar, path: str = "/chat/webhook") -> dict:
    return {str(u): asyncio.run(chat_load(server.url, u, f"{tag}{u}", turns=turns, path=path, bar=bar)) for u in LEVELS}


def chat_for(url: str, users: int, seconds: float, tag: str, path: str = "/chat/webhook") -> dict:
    """Chat turns from `users` users for `seconds` (the scaling table's chat cell)."""
    return asyncio.run(chat_load(url, users, tag, seconds=seconds, path=path))


def phone_for(url: str, callers: int, seconds: float) -> dict:
    """`callers` concurrent callers walking the menu for `seconds` (the scaling table's phone cell)."""
    import ivr_bench

    from ivr.signature import LOCAL_DEV_TOKEN

    requests, errors, elapsed, lat = ivr_bench.concurrent(url, LOCAL_DEV_TOKEN, callers, seconds)
    return {
        "callers": callers,
        "keypad": summary(lat["keypad"]),
        "speech": summary(lat["speech"]),
        "requests": requests,
        "errors": errors,
        "requests_per_s": round(requests / elapsed, 1),
        "keypad_per_s": round(len(lat["keypad"]) / elapsed, 1),
    }


def phone(server, calls: int, seconds: float, bar) -> dict:
    """The suite's phone figures: sequential calls (1 caller), then 16 callers for `seconds`."""
    import ivr_bench

    from ivr.signature import LOCAL_DEV_TOKEN

    ivr_bench.sequential(server.url, LOCAL_DEV_TOKEN, 3)  # warm-up
    keypad, speech = ivr_bench.sequential(server.url, LOCAL_DEV_TOKEN, calls)
    bar.update(1)
    requests, errors, elapsed, lat = ivr_bench.concurrent(server.url, LOCAL_DEV_TOKEN, 16, seconds)
    bar.update(1)
    return {
        "1": {"keypad": summary(keypad), "speech": summary(speech)},
        "16": {
            "keypad": summary(lat["keypad"]),
            "speech": summary(lat["speech"]),
            "call": summary(lat["call"]),
            "requests": requests,
            "errors": errors,
            "requests_per_s": round(requests / elapsed, 1),
        },
    }
