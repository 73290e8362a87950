"""Benchmark of the phone webhooks: latency of the incoming call, of a keypad step and of a speech
step (p50/p95) with 1 caller and with 16 concurrent callers, and the throughput, through real signed
HTTP requests.

    .venv/bin/python bench/ivr_bench.py                 # starts its own server (local dev mode)
    .venv/bin/python bench/ivr_bench.py --url http://127.0.0.1:5005 --token ...   # a running one
    .venv/bin/python bench/ivr_bench.py --compare /tmp/ivrbase --rounds 2   # another checkout, alternately

The load model: closed-loop callers. Each caller plays whole calls, one after the other (incoming
call, keys 1 1 * 0, one sentence, the status callback), and sends its next webhook as soon as the
previous answer has arrived: N callers = at most N requests in flight. The callers run in a process
of their own (one asyncio loop, raw HTTP/1.1 on keep-alive connections, one per caller), and every
request body is built and signed before the timed part: a figure is the server's time plus the
loopback, not the client's signing or TwiML parsing. An answer counts as an error unless it is a 200
whose TwiML carries the next Gather action expected (the path is learnt once, by a probe call).

Targets from issue 11: keypad step p95 <= 20 ms and speech step p95 <= 80 ms at 16 callers, 0
errors. This is a benchmark, not a test: nothing asserts a timing; the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.signature import LOCAL_DEV_TOKEN, sign  # noqa: E402
from tools.ivr import twilio_bodies  # noqa: E402
from tools.ivr.simulate import Call  # noqa: E402

SPEECH = [
    "mon titre de séjour expire",
    "j'ai perdu ma carte grise",
    "je voudrais un passeport en urgence",
    "à quelle heure ouvre la préfecture",
    "je veux parler à quelqu'un",
    "renouveler mon permis de conduire",
]
KEYS = ("1", "1", "*", "0")  # main menu -> submenu -> answer -> repeat -> main menu
KINDS = ("call", "keypad", "speech", "status")
CALLER, CALLED = "+33612345678", "+33975180000"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


# ---- the script of one call, learnt once and signed ahead of time ------------------------------


def probe(url: str, token: str) -> list[str]:
    """The webhook paths (path?query) of the script, in order, from one call made with the simulator."""
    call = Call(url, token, caller=CALLER, to=CALLED)
    paths = ["/webhooks/ivr/voice"]
    call.start()
    for key in KEYS:
        paths.append(_path(call.last.gather["action"]))
        call.press(key)
    paths.append(_path(call.last.gather["action"]))
    call.hangup()
    return paths + ["/webhooks/ivr/status"]


def _path(action: str) -> str:
    parts = urllib.parse.urlsplit(action)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def signed_call(base: str, token: str, paths: list[str], k: int) -> list[tuple[str, bytes, str]]:
    """One call's requests, ready to send: (kind, raw HTTP request, what its answer must contain)."""
    sid = "CA" + uuid.uuid4().hex
    shapes = [("call", "incoming_call", {})]
    shapes += [("keypad", "gather_digits", {"Digits": key}) for key in KEYS]
    shapes += [("speech", "gather_speech", {"SpeechResult": SPEECH[k % len(SPEECH)], "Confidence": "0.9"})]
    shapes += [("status", "status_completed", {"CallStatus": "completed", "CallDuration": "42"})]
    host = urllib.parse.urlsplit(base).netloc
    out = []
    for i, ((kind, shape, values), path) in enumerate(zip(shapes, paths)):
        params = twilio_bodies.body(shape, sid, CALLER, CALLED, **values)
        body = urllib.parse.urlencode(params).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nX-Twilio-Signature: {sign(token, base + path, params)}\r\n\r\n"
        )
        expect = paths[i + 1].replace("&", "&amp;") if kind in ("call", "keypad") else "<Response"
        out.append((kind, head.encode() + body, expect))
    return out


# ---- the client process: raw HTTP/1.1, keep-alive, one connection per caller --------------------


async def _exchange(conn: list, host: str, port: int, raw: bytes) -> tuple[int, str]:
    if not conn:
        conn.extend(await asyncio.open_connection(host, port))
    reader, writer = conn
    writer.write(raw)
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {h.split(":", 1)[0].lower(): h.split(":", 1)[1].strip() for h in head[1:] if ":" in h}
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    if headers.get("connection", "").lower() == "close":
        writer.close()
        conn.clear()
    return int(head[0].split()[1]), body.decode("utf-8", "replace")


async def _caller(host: str, port: int, pool: list, stop_at: float, out: dict, pace: float = 0) -> None:
    """Closed loop (`pace` 0): the next webhook as soon as the answer arrives. Paced: the next one
    `pace` seconds after the previous one was sent (at once when its answer came later)."""
    conn: list = []
    sent = 0.0
    while pool and time.monotonic() < stop_at:
        for kind, raw, expect in pool.pop():
            if pace:
                await asyncio.sleep(max(0.0, sent + pace - time.perf_counter()))
            t0 = sent = time.perf_counter()
            try:
                status, text = await _exchange(conn, host, port, raw)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                status, text = 0, ""
                conn.clear()
            out[kind].append((time.perf_counter() - t0) * 1000)
            out["requests"] += 1
            if status != 200 or expect not in text:  # an error, or a fail-soft answer (the prompt again)
                out["errors" if status != 200 else "off_script"] += 1
                if len(out["samples"]) < 3:
                    out["samples"].append(f"{kind} {status} {text[:300]}")
                break  # this call is off its script: the caller starts a new one
    if conn:
        conn[1].close()


async def _run(url: str, callers: int, pools: list[list], seconds: float, pace: float) -> dict:
    parts = urllib.parse.urlsplit(url)
    out: dict = {kind: [] for kind in KINDS} | {"requests": 0, "errors": 0, "off_script": 0, "samples": []}
    t0 = time.perf_counter()
    stop_at = time.monotonic() + seconds
    await asyncio.gather(*(_caller(parts.hostname, parts.port, pools[k], stop_at, out, pace) for k in range(callers)))
    out["elapsed"] = time.perf_counter() - t0
    out["exhausted"] = any(not p for p in pools) and time.monotonic() < stop_at
    return out


def client(url: str, token: str, callers: int, calls: int, seconds: float, pace: float = 0) -> dict:
    """Sign `calls` calls per caller, then play them (closed loop) for at most `seconds`."""
    paths = probe(url, token)
    base = url.rstrip("/")
    pools = [[signed_call(base, token, paths, k + i) for i in range(calls)] for k in range(callers)]
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - the plain asyncio loop works too
        pass
    return asyncio.run(_run(url, callers, pools, seconds, pace))


def in_process(url: str, token: str, callers: int, calls: int, seconds: float, pace: float = 0) -> dict:
    """Run the client in a process of its own (it shares no GIL with the caller of this function). Its
    figures come back in a file, not on its standard output (a pipe once gave back the first 128 KiB
    of a longer answer)."""
    with tempfile.TemporaryDirectory(prefix="ivr-bench-client-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--client", "--url", url, "--token", token]
        cmd += ["--callers", str(callers), "--calls", str(calls), "--seconds", str(seconds), "--pace-ms", str(pace * 1000)]
        done = subprocess.run([*cmd, "--out", str(result)], capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0 or not result.exists():
            raise RuntimeError(f"the bench client failed ({done.returncode}): {done.stderr[-2000:]}")
        return json.loads(result.read_text(encoding="utf-8"))


def sequential(url: str, token: str, n: int) -> tuple[list[float], list[float]]:
    """One caller, `n` calls: (keypad latencies, speech latencies), in ms."""
    out = in_process(url, token, 1, n, 3600)
    return out["keypad"], out["speech"]


def concurrent(url: str, token: str, callers: int, seconds: float) -> tuple[int, int, float, dict[str, list[float]]]:
    """`callers` closed-loop callers for `seconds`: (requests, errors, elapsed, latencies by kind)."""
    per_caller = max(20, int(seconds * 12))  # 16 callers: ~190 calls (1300 requests) a second before a pool runs dry
    out = in_process(url, token, callers, per_caller, seconds)
    return out["requests"], out["errors"], out["elapsed"], {k: out[k] for k in KINDS}


# ---- the server(s) and the report ---------------------------------------------------------------


def start_server(root: Path = ROOT) -> tuple[subprocess.Popen, str, Path]:
    """`python -m bot serve` of the checkout at `root` (its .venv and model), local dev mode, own store."""
    from bench import servers  # the one server launcher of bench/

    tmp = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    server = servers.ours(root / "models" / "aiguillage.tar.gz", tmp / "bench.db", tmp / "rasa.log", wait=False, root=root)
    try:
        server.wait_ready(240)
    except RuntimeError as exc:
        server.stop()
        raise SystemExit(f"the server of {root} did not start ({exc}; see {tmp / 'rasa.log'})") from None
    return server.proc, server.url, tmp


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a server process and its children, in seconds."""
    if pid is None:
        return float("nan")
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measure(url: str, token: str, calls: int, callers: int, seconds: float, pace: float = 0, pid: int | None = None) -> dict:
    """Warm-up, 1 caller for `calls` calls, `callers` closed-loop callers for `seconds`, then (`pace`)
    as many paced callers, one webhook each every `pace` seconds, for `seconds`. `pid`: the server's
    process, whose CPU time (with its children's) per request of the closed loop is reported."""
    in_process(url, token, 1, 5, 3600)
    one = in_process(url, token, 1, calls, 3600)
    cpu = cpu_seconds(pid)
    many = in_process(url, token, callers, max(20, int(seconds * 12)), seconds)
    many["cpu_ms"] = (cpu_seconds(pid) - cpu) * 1000 / max(1, many["requests"])
    load = os.getloadavg()[0]
    paced = in_process(url, token, callers, max(20, int(seconds / pace / 6) + 2), seconds, pace) if pace else None
    return {"1": one, str(callers): many, "paced": paced, "load": load}


def measure_checkout(root: Path, args) -> dict:
    proc, url, _ = start_server(root)
    try:
        return measure(url, LOCAL_DEV_TOKEN, args.calls, args.callers, args.seconds, args.pace_ms / 1000, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {pct(values, 95):.1f}" if values else "—"


def rows(name: str, m: dict, callers: int) -> list[str]:
    """Table rows of one measurement: p50 / p95 in ms for each kind of step, then the throughput."""
    one, many = m["1"], m[str(callers)]
    return [
        f"| {name} | {_cell(one['call'])} | {_cell(one['keypad'])} | {_cell(one['speech'])} "
        f"| {_cell(many['call'])} | {_cell(many['keypad'])} | {_cell(many['speech'])} "
        f"| {many['requests'] / many['elapsed']:.0f} req/s, {many['errors'] + one['errors']} errors, "
        f"{many['off_script'] + one['off_script']} prompts repeated "
        f"| {many.get('cpu_ms', float('nan')):.2f} | {m['load']:.2f} |"
    ]


def report(results: list[tuple[str, dict]], args) -> str:
    c = args.callers
    lines = [
        "| run | call, 1 caller | keypad, 1 caller | speech, 1 caller "
        f"| call, {c} callers | keypad, {c} callers | speech, {c} callers | throughput ({c} callers, {args.seconds:.0f} s) "
        "| server CPU per request (ms) | load avg (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in results:
        lines += rows(name, m, c)
    lines += [
        "",
        f"p50 / p95 in ms; 1 caller: {args.calls} calls ({args.calls * len(KEYS)} keypad steps, {args.calls} speech "
        f"steps); {c} closed-loop callers for {args.seconds:.0f} s. Targets at {c} callers: keypad p95 <= 20 ms, "
        "speech p95 <= 80 ms.",
    ]
    for name, m in results:
        many = m[str(c)]
        lines.append(
            f"- {name}: keypad p95 {pct(many['keypad'], 95):.1f} ms "
            f"({'met' if pct(many['keypad'], 95) <= 20 else '**missed**'}), speech p95 {pct(many['speech'], 95):.1f} ms "
            f"({'met' if pct(many['speech'], 95) <= 80 else '**missed**'})"
            + (" — the signed calls ran out before the end" if many.get("exhausted") else "")
        )
    if any(m.get("paced") for _, m in results):
        lines += paced_rows(results, args)
    return "\n".join(lines) + "\n"


def paced_rows(results: list[tuple[str, dict]], args) -> list[str]:
    """The other load model, beside (never instead of) the closed loop."""
    c, pace = args.callers, args.pace_ms
    lines = [
        "",
        f"Paced callers (another load model): {c} callers, each sending its next webhook {pace:.0f} ms after the "
        f"previous one was sent (at once if the answer came later), i.e. about {c * 1000 / pace:.0f} requests/s "
        "offered, below saturation:",
        "",
        "| run | call | keypad | speech | served | errors, prompts repeated |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in results:
        p = m.get("paced")
        if p:
            lines.append(
                f"| {name} | {_cell(p['call'])} | {_cell(p['keypad'])} | {_cell(p['speech'])} "
                f"| {p['requests'] / p['elapsed']:.0f} req/s | {p['errors']}, {p['off_script']} |"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None, help="a running server; default: start one (IVR_LOCAL_DEV=1)")
    parser.add_argument("--token", default=None)
    parser.add_argument("--calls", type=int, default=100, help="calls of the single caller (latency at rest)")
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--compare", type=Path, default=None, help="another checkout (its .venv, models): run both")
    parser.add_argument("--rounds", type=int, default=2, help="with --compare: rounds of (other, this), alternately")
    parser.add_argument("--out", default=None, help="also write the report (markdown) to this file")
    parser.add_argument(
        "--pace-ms", type=float, default=100, help="paced callers (reported beside): one webhook per caller every N ms"
    )
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)  # the client process (JSON out)
    args = parser.parse_args()
    token = args.token or os.environ.get("TWILIO_AUTH_TOKEN") or LOCAL_DEV_TOKEN
    if args.client:  # the figures go to --out (in_process reads them there)
        figures = client(args.url, token, args.callers, args.calls, args.seconds, args.pace_ms / 1000)
        Path(args.out).write_text(json.dumps(figures), encoding="utf-8")
        return 0
    results: list[tuple[str, dict]] = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.url:
        results.append((args.url, measure(args.url, token, args.calls, args.callers, args.seconds, args.pace_ms / 1000)))
    elif args.compare:
        for r in range(1, args.rounds + 1):
            results.append((f"{args.compare.name} #{r}", measure_checkout(args.compare.resolve(), args)))
            results.append((f"{ROOT.name} #{r}", measure_checkout(ROOT, args)))
    else:
        results.append((ROOT.name, measure_checkout(ROOT, args)))
    text = f"`bench/ivr_bench.py`, {started} to {time.strftime('%H:%M UTC', time.gmtime())}, {os.cpu_count()} cores\n\n"
    text += report(results, args)
    for name, m in results:
        for sample in m["1"]["samples"] + m[str(args.callers)]["samples"]:
            print(f"{name}: off script: {sample}", file=sys.stderr)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0 if all(m["1"]["errors"] + m[str(args.callers)]["errors"] == 0 for _, m in results) else 1


if __name__ == "__main__":
    sys.exit(main())
