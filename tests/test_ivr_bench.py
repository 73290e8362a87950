"""bench/ivr_bench.py's client plays whole calls against a real server: its requests are signed as
Twilio signs them and every answer is the one the script expects (no timing is asserted)."""

import sys
from pathlib import Path

from conftest import TWILIO_TEST_TOKEN

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import ivr_bench  # noqa: E402


def test_the_benchmark_client_plays_whole_calls_without_an_error(server):
    keypad, speech = ivr_bench.sequential(server.url, TWILIO_TEST_TOKEN, 2)
    assert (len(keypad), len(speech)) == (8, 2)  # keys 1 1 * 0 and one sentence, per call
    requests, errors, elapsed, latencies = ivr_bench.concurrent(server.url, TWILIO_TEST_TOKEN, 3, 2)
    assert errors == 0 and requests >= 7 and elapsed > 0
    assert latencies["call"] and latencies["keypad"] and latencies["speech"]
