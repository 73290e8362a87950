"""The benchmark suite runs and writes a well-formed report. No timing is ever asserted here:
the figures depend on the machine and its load (see docs/benchmarks.md)."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_make_bench_target_exists():
    for target in ("bench", "bench-quick"):
        out = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "-m bench" in out.stdout


def test_smoke_bench_writes_well_formed_report(tmp_path, python):
    """Every phase of the suite at its smallest counts (`--smoke`, about 2 minutes): the quick and full
    modes run the same code with larger counts and more scaling rows (`make bench-quick`, `make bench`)."""
    out = subprocess.run(
        [python, "-m", "bench", "--smoke", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=1200
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    report = json.loads((tmp_path / "benchmarks.json").read_text())
    assert (tmp_path / "benchmarks.md").read_text().startswith("# Benchmarks")
    assert report["meta"]["mode"] == "smoke" and report["meta"]["machine"] and report["meta"]["date"]
    ours = report["ours"]
    for users in ("1", "8", "32"):
        chat = ours["chat"][users]
        for key in ("p50_ms", "p95_ms", "p99_ms", "turns_per_s", "n"):
            assert _positive(chat[key]), (users, key, chat)
        assert chat["errors"] == 0, (users, chat)  # an error under load is a bug (bench/suite.py)
    for callers in ("1", "16"):
        for kind in ("keypad", "speech"):
            for key in ("p50_ms", "p95_ms", "p99_ms", "n"):
                assert _positive(ours["phone"][callers][kind][key]), (callers, kind, key)
    for key in ("questions_per_s", "load_s", "questions"):
        assert _positive(ours["nlu"][key])
    for key in ("train_s", "startup_s", "rss_mb"):
        assert _positive(ours[key]), key
    store = ours["store"]
    assert store["large"] > store["small"] > 0
    assert _positive(store["small_lat"]["p95_ms"]) and _positive(store["large_lat"]["p95_ms"])
    length = ours["length"]
    assert _positive(length["first"]["p50_ms"]) and _positive(length["last"]["p50_ms"]) and length["long_turn"] >= 10
    assert "stock" not in report and report["stock_note"] == "smoke mode"  # the stock anchor: quick and full modes
    assert report["targets"] and all({"target", "value", "goal", "met"} <= set(t) for t in report["targets"])
    assert all(t["met"] in (True, False, None) for t in report["targets"])
    # The scaling table (issue 16): smoke mode has one real server behind nginx, chat and signed phone
    # webhooks, no error; the row records the load average it ran under; the table is printed.
    (row,) = report["scaling"]["rows"]
    assert (row["backend"], row["processes"], row["lock"]) == ("sqlite", 1, "memory")
    assert row["chat"]["errors"] == 0 and row["chat"]["n"] > 0 and _positive(row["chat"]["turns_per_s"])
    assert _positive(row["chat"]["p95_ms"]) and row["load_avg"] >= 0
    assert row["phone"]["errors"] == 0 and row["phone"]["keypad"]["n"] > 0 and _positive(row["phone"]["requests_per_s"])
    assert _positive(row["phone"]["keypad"]["p95_ms"])
    assert "| ours, nginx | sqlite | memory | 1 |" in out.stdout
    assert "| ours, nginx | sqlite | memory | 1 |" in (tmp_path / "scaling.md").read_text()
    assert "## Scaling (issue 16)" in (tmp_path / "benchmarks.md").read_text()
