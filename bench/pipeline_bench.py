"""Benchmark: our NLU pipeline against the stock `rasa init` pipeline, in one run, same data.

For each pipeline: training time, start-up time (process start -> first chat answer), chat turn
latency p50/p95 through the HTTP channel (sequential, one user), resident memory of the server
after the load, and routing accuracy on the shared dev set. Writes docs/pipeline.md and
docs/pipeline.json.

    .venv/bin/python bench/pipeline_bench.py [--turns 400] [--only ours|stock]

This is a benchmark, not a test: nothing here asserts a timing. The machine is shared and noisy:
compare the two columns of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RASA = ROOT / ".venv" / "bin" / "rasa"
PY = ROOT / ".venv" / "bin" / "python"

PIPELINES = {
    "ours": ROOT / "config.yml",
    "stock": ROOT / "bench" / "pipelines" / "stock.yml",
}

# Load questions: our own phrasings (not the dev set), cycled.
QUESTIONS = [
    "bonjour j'ai vendu ma voiture que dois-je faire pour la carte grise",
    "renouvellement permis de conduire perdu",
    "ma carte d'identité expire bientôt",
    "mon titre de sejour arrive a expiration",
    "je voudrais déclarer une arme héritée",
    "je n'ai pas d'ordinateur pour faire ma démarche",
    "quels sont les horaires de la préfecture",
    "personne ne répond jamais au téléphone c'est scandaleux",
    "où en est ma demande de carte grise",
    "comment contester une amende",
    "merci beaucoup",
    "zorglub wintz",
]


# docs/pipeline.md: the part written by hand, from this heading to the end, survives a re-run.
KEPT_HEADING = "# Routing quality on the public's own words"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(port: int, db: Path, model: Path) -> dict:
    return dict(
        os.environ,
        PORT=str(port),
        AIGUILLAGE_DB=str(db),
        AIGUILLAGE_MODEL=str(model),
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        TF_CPP_MIN_LOG_LEVEL="3",
        # The load comes from this machine: no per-address limit (bench/servers.py base_env says the same;
        # without it the chat's flood window answered 429 from the 50th turn of bench/floor_bench.py).
        AIGUILLAGE_THROTTLE_EXEMPT="127.0.0.1, ::1",
    )


def data_hash(config: Path) -> str:
    """What a model trained with `config` depends on: for our pipeline, the Makefile's TRAINING_HASH
    (the components' code included: bot.nlu.review.training_hash); for another, data, domain, config."""
    import hashlib

    from bot.nlu.review import training_hash

    if config.resolve() == PIPELINES["ours"].resolve():
        return training_hash(ROOT / "data")
    h = hashlib.sha256()
    for path in sorted((ROOT / "data").glob("*.yml")) + [ROOT / "domain.yml", config]:
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def made_model(models: Path = ROOT / "models") -> tuple[Path, float, bool] | None:
    """The model `make train` made (models/aiguillage.tar.gz) if its stamp names today's training hash,
    with the training's time the stamp holds (its start and end, epoch seconds); None otherwise."""
    stamp = models / f".trained-{data_hash(PIPELINES['ours'])}"
    model = models / "aiguillage.tar.gz"
    try:
        start, end = (float(x) for x in stamp.read_text().split())
    except (OSError, ValueError):  # no stamp, or one written before it held the times
        return None
    return (model, end - start, True) if model.exists() and end > start else None


def train(name: str, config: Path, out: Path, reuse: bool) -> tuple[Path, float, bool]:
    """Train (or, with --reuse, take the model trained earlier on the same data and config: ours may
    be the one `make train` made)."""
    if reuse and name == "ours" and config == PIPELINES["ours"] and (made := made_model()):
        return made
    key = f"{name}-{data_hash(config)}"
    model, meta = out / f"{key}.tar.gz", out / f"{key}.json"
    if reuse and model.exists() and meta.exists():
        return model, json.loads(meta.read_text())["train_s"], True
    start = time.perf_counter()
    subprocess.run(
        [str(RASA), "train", "--config", str(config), "--out", str(out), "--fixed-model-name", key, "--quiet"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, RASA_TELEMETRY_ENABLED="false"),
    )
    train_s = time.perf_counter() - start
    meta.write_text(json.dumps({"train_s": train_s, "date": time.strftime("%Y-%m-%d %H:%M")}))
    return model, train_s, False


def serve_and_measure(model: Path, turns: int, workdir: Path) -> dict:
    from bench import servers  # the one server launcher of bench/

    server = servers.ours(model, workdir / f"{model.stem}.db", workdir / f"{model.stem}.log")
    proc, first_answer = server.proc, server.startup_s
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for i in range(30):  # warm-up
            servers.post(conn, f"warm{i % 5}", QUESTIONS[i % len(QUESTIONS)])
        latencies = []
        for i in range(turns):
            sender = f"user{i // 5}"  # conversations of five turns
            t0 = time.perf_counter()
            servers.post(conn, sender, QUESTIONS[i % len(QUESTIONS)])
            latencies.append((time.perf_counter() - t0) * 1000)
        latencies.sort()
        return {
            "startup_s": round(first_answer, 1),
            "turn_p50_ms": round(statistics.median(latencies), 1),
            "turn_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
            "turns": turns,
            "rss_mb": round(servers.rss_mb(proc.pid), 0),
        }
    finally:
        server.stop()


def dev_set() -> Path | None:
    """The shared FAQ-style dev set (AIGUILLAGE_DEV_EVAL, set by the Makefile), when it is there."""
    from bot.nlu import eval_sets

    path = next(iter(eval_sets.shared_paths()), None)
    return path if path is not None and path.exists() else None


def accuracy(model: Path) -> dict:
    dev = dev_set()
    if dev is None:
        return {}
    out = subprocess.run(
        [str(PY), "-m", "bot", "eval", str(dev), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, AIGUILLAGE_MODEL=str(model)),
        check=True,
    )
    report = json.loads(out.stdout)
    return {
        "destination_accuracy": round(report["destination_accuracy"], 3),
        "topic_accuracy": round(report["topic_accuracy"], 3),
        "dev_n": report["n"],
    }


def write_docs(results: dict, turns: int) -> None:
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{os.cpu_count()} cores, {platform.python_version()}",
        "turns": turns,
    }
    (docs / "pipeline.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    rows = [
        ("dev-set destination accuracy", "destination_accuracy", "{:.3f}"),
        ("dev-set topic accuracy", "topic_accuracy", "{:.3f}"),
        ("training time (s)", "train_s", "{:.0f}"),
        ("start-up to first answer (s)", "startup_s", "{:.1f}"),
        ("chat turn p50 (ms)", "turn_p50_ms", "{:.1f}"),
        ("chat turn p95 (ms)", "turn_p95_ms", "{:.1f}"),
        ("server resident memory after load (MB)", "rss_mb", "{:.0f}"),
    ]
    names = list(results)
    lines = [
        "# NLU pipeline: ours against the stock `rasa init` pipeline",
        "",
        f"Measured by `bench/pipeline_bench.py` on {meta['date']} ({meta['machine']}), both pipelines in the",
        f"same run, trained on the same data. Latency: {turns} sequential chat turns through the HTTP channel",
        "(`POST /chat/webhook`, one user, conversations of five turns, after a warm-up); each turn runs the NLU,",
        "the rule policy and the routing action in process. Accuracy: `python -m bot eval` on",
        "`../shared/eval/dev_questions.jsonl`.",
        "",
        "| figure | " + " | ".join(names) + (" | ours / stock |" if {"ours", "stock"} <= set(names) else " |"),
        "|---|" + "---|" * len(names) + ("---|" if {"ours", "stock"} <= set(names) else ""),
    ]
    for label, key, fmt in rows:
        cells = [fmt.format(results[n][key]) if key in results[n] else "–" for n in names]
        ratio = ""
        if {"ours", "stock"} <= set(names) and key in results["ours"] and key in results["stock"] and results["stock"][key]:
            r = results["ours"][key] / results["stock"][key]
            ratio = f" {r:.2f} |" if r >= 0.1 else f" {r:.3f} |"
        lines.append(f"| {label} | " + " | ".join(cells) + (" |" + ratio if ratio else " |"))
    reused = [n for n in names if results[n].get("train_reused")]
    if reused:
        lines += [
            "",
            "Training time of " + ", ".join(reused) + ": measured when that model was trained by an earlier run",
            "on the same data and configuration (`--reuse`; see `models/bench/*.json` for the date); that run may",
            "have shared the machine with other work.",
        ]
    lines += ["", "Pipelines: `config.yml` (ours) and `bench/pipelines/stock.yml` (stock, as `rasa init` writes it).", ""]
    # The hand-written record of what was tried (from KEPT_HEADING on) is kept below the table.
    previous = (docs / "pipeline.md").read_text() if (docs / "pipeline.md").exists() else ""
    kept = previous[previous.find(KEPT_HEADING) :] if KEPT_HEADING in previous else ""
    (docs / "pipeline.md").write_text("\n".join(lines) + ("\n" + kept if kept else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--only", choices=sorted(PIPELINES))
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse a model trained by an earlier run on the same data and config (its training time is reported)",
    )
    args = parser.parse_args()
    results = {}
    models = ROOT / "models" / "bench"
    models.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, config in PIPELINES.items():
            if args.only and name != args.only:
                continue
            print(f"[{name}] training…", flush=True)
            model, train_s, reused = train(name, config, models, args.reuse)
            print(
                f"[{name}] trained in {train_s:.0f} s{' (earlier run)' if reused else ''}; serving {args.turns} turns…",
                flush=True,
            )
            figures = {"train_s": round(train_s, 1), "train_reused": reused}
            figures.update(serve_and_measure(model, args.turns, work))
            print(f"[{name}] {figures}; evaluating…", flush=True)
            figures.update(accuracy(model))
            results[name] = figures
            print(f"[{name}] {figures}", flush=True)
    write_docs(results, args.turns)
    print((ROOT / "docs" / "pipeline.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
