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
    # Both sizes side by side, a turn to each in turn (bench/store_bench.py side_by_side).
    assert store["small_lat"]["n"] == store["large_lat"]["n"] == 30
    length = ours["length"]
    assert _positive(length["first"]["p50_ms"]) and _positive(length["last"]["p50_ms"]) and length["long_turn"] >= 10
    # "turn 10" and "turn 500" are sent in turn, one of each: 10 rounds of three short conversations'
    # turns 6-15 and three of the long one's last 30 (bench/suite.py conversation_length).
    assert length["first"]["n"] == length["last"]["n"] == 30
    assert "| 6–15 of three short conversations |" in (tmp_path / "benchmarks.md").read_text()
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


def test_the_bench_reuses_the_model_make_train_made_only_when_its_stamp_names_todays_training(tmp_path):
    """`make bench-quick` and the smoke run serve the model `make train` made (no second training of
    the same pipeline); the bench names our pipeline's models with the Makefile's own hash, so a change
    of the components' code (bot/nlu/scoring.py, ...) is never served from a stale model."""
    from bench import pipeline_bench as pb

    made = subprocess.run(["make", "-s", "training-hash"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    today = made.stdout.strip()
    assert pb.data_hash(pb.PIPELINES["ours"]) == today
    (tmp_path / "aiguillage.tar.gz").write_bytes(b"a model")
    stamp = tmp_path / f".trained-{today}"
    stamp.write_text("1796171749 1796171794\n")  # as the Makefile writes it: start, end
    assert pb.made_model(tmp_path) == (tmp_path / "aiguillage.tar.gz", 45.0, True)
    stamp.write_text("")  # a stamp of a Makefile that did not write the times: the bench trains its own
    assert pb.made_model(tmp_path) is None
    stamp.write_text("1796171749 1796171794\n")
    stamp.rename(tmp_path / ".trained-0123456789ab")  # a model of other data or code
    assert pb.made_model(tmp_path) is None


def test_the_per_turn_floor_bench_runs_past_the_chats_flood_window(tmp_path, python):
    """bench/floor_bench.py at a small count, but past the chat's per-address window (its servers once
    answered 429 from the 50th turn and the run ended on a median of nothing): each variant's chat
    phases are measured, at 1 and 8 users, on every turn asked."""
    out_file = tmp_path / "floor.json"
    out = subprocess.run(
        [python, "bench/floor_bench.py", "--turns", "64", "--rounds", "1", "--out", str(out_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    report = json.loads(out_file.read_text())
    rows = {(r["variant"], r["users"]): r for r in report["rounds"]}
    assert sorted(rows) == [(v, u) for v in ("http", "in_process", "no_tf_experiment") for u in (1, 8)]
    for key, row in rows.items():
        assert row["turns"] == 64, key
        assert all(_positive(row[k]) for k in ("p50_ms", "p95_ms", "turns_per_s")), (key, row)
