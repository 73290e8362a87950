"""The scaling benchmark's parts (issue 16): the stock anchor is stock Rasa 3.6 as deployed (rasa init's
configuration, the REST channel, Rasa's SQL tracker store, our action under plain rasa-sdk), the
scaling table's rows are rendered and docs/scaling.md says what the figures mean (a real row through
nginx is measured by tests/test_bench.py's smoke run).
No timing is asserted: the figures depend on the machine and its load."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scaling_doc, servers, stock_anchor  # noqa: E402


def test_stock_config_is_rasa_inits_own():
    """No pipeline and no policies: Rasa fills in its defaults, as for anyone who ran `rasa init`."""
    ours = yaml.safe_load(stock_anchor.CONFIG.read_text())
    assert ours == {
        "recipe": "default.v1",
        "assistant_id": "aiguillage-stock-anchor",
        "language": "fr",
        "pipeline": None,
        "policies": None,
    }
    import rasa

    init = yaml.safe_load((Path(rasa.__file__).parent / "cli" / "initial_project" / "config.yml").read_text())
    assert {k: v for k, v in init.items() if k not in ("language", "assistant_id")} == {
        k: v for k, v in ours.items() if k not in ("language", "assistant_id")
    }
    assert yaml.safe_load((stock_anchor.SOURCES / "credentials.yml").read_text()) == {"rest": None}


def test_stock_endpoints_sqlite_and_postgresql(tmp_path):
    path = stock_anchor.endpoints(tmp_path, 5999, tmp_path / "tracker.db")
    assert yaml.safe_load(path.read_text()) == {
        "action_endpoint": {"url": "http://127.0.0.1:5999/webhook"},
        "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": str(tmp_path / "tracker.db")},
    }
    path = stock_anchor.endpoints(tmp_path, 5999, tmp_path / "tracker.db", "postgresql://aiguillage@127.0.0.1:5544/stock")
    assert yaml.safe_load(path.read_text())["tracker_store"] == {
        "type": "SQL",
        "dialect": "postgresql",
        "url": "127.0.0.1",
        "port": 5544,
        "db": "stock",
        "username": "aiguillage",
        "password": "",
        "login_db": "postgres",
    }


def test_our_action_runs_under_plain_rasa_sdk_without_our_patches(tmp_path, python):
    """`rasa run actions --actions actions`, as the stock anchor starts it: our action answers a real
    webhook call, and importing it applies none of our Rasa patches nor loads our channels."""
    imported = subprocess.run(
        [
            python,
            "-c",
            "import sys, actions.actions; print(sorted(m for m in sys.modules if m.startswith(('bot.nlu', 'bot.web', 'ivr'))))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "[]"
    port = servers.free_port()
    server = servers.Launched(
        [str(stock_anchor.RASA), "run", "actions", "--actions", "actions", "--port", str(port)],
        servers.base_env(port, tmp_path / "store.db"),
        tmp_path / "actions.log",
        port,
    )
    try:
        servers.wait_http(port, "/health", 180, server.proc)
        text = "je veux refaire mon passeport"
        call = {
            "next_action": "action_route",
            "sender_id": "s1",
            "tracker": {
                "sender_id": "s1",
                "slots": {},
                "latest_message": {"text": text, "intent": {"name": "demarche", "confidence": 0.9}, "entities": []},
                "events": [{"event": "user", "text": text, "parse_data": {}}],
                "latest_input_channel": "rest",
            },
            "domain": {},
        }
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhook", data=json.dumps(call).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            answer = json.loads(resp.read())
    finally:
        server.stop()
    # The turn ends with the action (a follow-up action_listen: Rasa does not run its policies again).
    assert answer["events"] == [
        {"event": "slot", "timestamp": None, "name": "misses", "value": 0.0},
        {"event": "followup", "timestamp": None, "name": "action_listen"},
    ]
    first = answer["responses"][0]
    assert first["text"].startswith("La carte d'identité et le passeport ne sont pas délivrés par la préfecture")
    assert "Passeport d'urgence" in [b["title"] for b in first["buttons"]]


def _row(backend, n, turns, p95, keypad=None, rps=None, stock=False):
    row = {"backend": backend, "processes": n, "lock": "redis" if n > 1 else "memory", "load_avg": 1.5}
    row["chat"] = {"turns_per_s": turns, "p50_ms": p95 / 2, "p95_ms": p95, "errors": 0}
    if keypad is not None:
        row["phone"] = {"requests_per_s": rps, "keypad": {"p95_ms": keypad, "n": 100}, "errors": 0}
    return row | ({"stock": True} if stock else {})


def test_scaling_doc_targets_table_and_national_peak(tmp_path):
    res = {
        "users": 8,
        "callers": 16,
        "seconds": 20,
        "date": "2026-12-01 13:00 UTC",
        "load_avg_at_start": [1.0],
        "load_avg_at_end": [2.0],
        "rows": [
            _row("sqlite", 1, 80.0, 100.0, keypad=12.0, rps=400.0),
            _row("sqlite", 2, 160.0, 60.0, keypad=25.0, rps=700.0),
            _row("sqlite", 1, 40.0, 500.0, stock=True),
        ],
    }
    (tmp_path / "scaling.md").write_text("# old\n\nold figures\n\n## What runs where\n\nBy hand.\n")
    scaling_doc.write(res, tmp_path, extra={"length": {"long_turn": 500, "ratio": 1.2}})
    written = json.loads((tmp_path / "scaling.json").read_text())
    assert [(t["target"], t["value"], t["met"]) for t in written["targets"]] == [
        ("chat p95 at 8 users, ours (sqlite, 1 process) / stock (sqlite)", 0.2, True),
        ("chat turns/s with 2 processes (sqlite, 8 users)", 160.0, True),
        ("turn 500 / turn 10 of one conversation (p50)", 1.2, True),
        ("keypad p95 at 16 callers (sqlite, 1 process(es), ms)", 12.0, True),
        ("keypad p95 at 16 callers (sqlite, 2 process(es), ms)", 25.0, False),
        ("errors in the scaling table (chat and phone, every row)", 0, True),
    ]
    # 3 000 000 calls / 250 days x 3 x 12 % / 3600 s = 1.2 calls/s; x 7 requests x 10 = 84 requests/s
    # and x 3 turns x 10 = 36 turns/s; 84/400 + 36/80 = 0.66 of a process -> 1 + 1 processes, 2 hosts.
    assert written["national_peak"] == {
        "tenfold_processes": 8,  # 6.6 rounded up, + 1
        "peak_calls_per_s": 1.2,
        "phone_requests_per_s": 84.0,
        "chat_turns_per_s": 36.0,
        "per_process": {"phone_requests_per_s": 400.0, "chat_turns_per_s": 80.0},
        "process_load": 0.66,
        "processes": 2,
        "hosts": 2,
    }
    md = (tmp_path / "scaling.md").read_text()
    assert md.startswith("# Scaling (issue 16)\n")
    assert "| ours, nginx | sqlite | redis | 2 | 160.0 | 80.0 | 30.0 | 60.0 | 0 | 700.0 | 25.0 | 0 | 1.5 |" in md
    assert "| stock Rasa 3.6 (+ action server) | sqlite | memory | 1 | 40.0 | 40.0 | 250.0 | 500.0 | 0 | – | – | – | 1.5 |" in md
    assert "| keypad p95 at 16 callers (sqlite, 2 process(es), ms) | 25.0 | <= 20 | **missed** |" in md
    assert "**2 processes**" in md and "| calls per year | 3000000 | false |" in md
    assert md.endswith("## What runs where\n\nBy hand.\n") and "old figures" not in md
