"""The stock anchor (issue 16): stock Rasa 3.6 as people deploy it, next to which our figures are read.

- `rasa init`'s config.yml (bench/stock/config.yml: no pipeline, no policies, so Rasa's defaults)
  trained on our domain, data and rules with plain `rasa train`, once, cached in models/bench/ under
  a hash of the data, the domain and that config (`python -m bench.stock_anchor train` does only that);
- served by plain `rasa run` (the REST channel of bench/stock/credentials.yml, `--enable-api` off, none
  of our channels, patches or components), with Rasa's own SQL tracker store (a SQLite file, or
  PostgreSQL) and its default in-memory lock store;
- our one custom action (`actions/`) served by a separate `rasa run actions` (rasa-sdk) process, as a
  Rasa deployment runs it. The action imports the product's code (`bot.*`: the router and the store),
  not `bot.nlu.patches` nor our channels.

Not imported by the product.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import servers  # noqa: E402
from bench.pipeline_bench import data_hash  # noqa: E402

SOURCES = ROOT / "bench" / "stock"
CONFIG = SOURCES / "config.yml"
RASA = ROOT / ".venv" / "bin" / "rasa"
CHAT_PATH = "/webhooks/rest/webhook"  # the REST channel


def model_key(epochs: int | None = None) -> str:
    """`stock-deployed-HASH`: the hash of data/*.yml, domain.yml and bench/stock/config.yml
    (`stock-deployed-eN-HASH` for a model trained with N epochs instead of Rasa's 100, see `config_text`)."""
    return "stock-deployed-" + (f"e{epochs}-" if epochs else "") + data_hash(CONFIG)


def config_text(epochs: int | None = None) -> str:
    """bench/stock/config.yml as committed; with `epochs`, the pipeline and policies Rasa would fill in
    (rasa/engine/recipes/config_files/default_config.yml) written out with that number of epochs.

    Fewer epochs change the weights, not the size of DIET and TED nor the work of a turn: a model that
    trains in minutes for a latency and throughput figure when the machine cannot train 100 epochs in
    time. Its answers may differ from the real one's (every intent goes to our action either way)."""
    if not epochs:
        return CONFIG.read_text()
    import rasa

    conf = yaml.safe_load(CONFIG.read_text())
    default = yaml.safe_load(
        (Path(rasa.__file__).parent / "engine" / "recipes" / "config_files" / "default_config.yml").read_text()
    )
    for part in ("pipeline", "policies"):
        conf[part] = [dict(c, epochs=epochs) if "epochs" in c else c for c in default[part]]
    return yaml.safe_dump(conf, sort_keys=False)


def train(out: Path, reuse: bool = True, epochs: int | None = None) -> tuple[Path, float, bool]:
    """(model, training seconds, reused): plain `rasa train` on a copy of the config.

    Rasa writes the defaults it filled in back into a config file that has none: a copy in a
    temporary directory takes that, so bench/stock/config.yml (and its hash) stays as committed.
    """
    key = model_key(epochs)
    out.mkdir(parents=True, exist_ok=True)
    model, meta, busy = out / f"{key}.tar.gz", out / f"{key}.json", out / f"{key}.training"
    if reuse:
        _wait_for_other(busy)
        if model.exists() and meta.exists():
            return model, json.loads(meta.read_text())["train_s"], True
    busy.write_text(str(os.getpid()))
    work = Path(tempfile.mkdtemp(prefix="aiguillage-stock-train-"))
    try:
        (work / "config.yml").write_text(config_text(epochs))
        start = time.perf_counter()
        subprocess.run(
            [str(RASA), "train", "--config", str(work / "config.yml"), "--domain", "domain.yml", "--data", "data"]
            + ["--out", str(out), "--fixed-model-name", key, "--quiet"],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3"),
        )
        train_s = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
        busy.unlink(missing_ok=True)
    meta.write_text(json.dumps({"train_s": train_s, "epochs": epochs or 100, "date": time.strftime("%Y-%m-%d %H:%M")}))
    return model, train_s, False


def _wait_for_other(busy: Path) -> None:
    """While another process trains the same model (`busy` holds its pid), wait for it rather than train twice."""
    while busy.exists():
        try:
            os.kill(int(busy.read_text()), 0)
        except (ProcessLookupError, ValueError):
            busy.unlink(missing_ok=True)  # a training that died
            return
        time.sleep(5)


def cached(out: Path, epochs: int | None = None) -> bool:
    return (out / f"{model_key(epochs)}.tar.gz").exists()


def endpoints(work: Path, actions_port: int, tracker_db: Path, database_url: str | None = None) -> Path:
    """bench/stock/endpoints.yml with this run's action server port and tracker store."""
    conf = yaml.safe_load((SOURCES / "endpoints.yml").read_text())
    conf["action_endpoint"]["url"] = f"http://127.0.0.1:{actions_port}/webhook"
    if database_url is None:
        conf["tracker_store"]["db"] = str(tracker_db)
    else:  # postgresql://user@host:port/db, as tools/cluster.Postgres gives it
        from urllib.parse import urlsplit

        url = urlsplit(database_url)
        conf["tracker_store"] = {
            "type": "SQL",
            "dialect": "postgresql",
            "url": url.hostname,
            "port": url.port,
            "db": url.path.lstrip("/"),
            "username": url.username,
            "password": url.password or "",
            "login_db": "postgres",  # Rasa connects there first and creates `db` when it is missing
        }
    path = work / "endpoints.yml"
    path.write_text(yaml.safe_dump(conf))
    return path


class StockAnchor:
    """`rasa run actions` and `rasa run` (REST channel, SQL tracker store) on free ports, in `work`."""

    def __init__(self, model: Path, work: Path, database_url: str | None = None):
        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        self.actions_port, port = servers.free_port(), servers.free_port()
        # The product's store the action writes its turn records to, and Rasa's tracker file.
        env = servers.base_env(port, work / "aiguillage.db")
        started = time.perf_counter()
        self.actions: servers.Launched | None = None
        self.server: servers.Launched | None = None
        try:  # whatever stops the start (Ctrl-C included: the servers have their own sessions), none is left running
            self.actions = servers.Launched(
                [str(RASA), "run", "actions", "--actions", "actions", "--port", str(self.actions_port)],
                env,
                work / "actions.log",
                self.actions_port,
            )
            conf = endpoints(work, self.actions_port, work / "tracker.db", database_url)
            cmd = [str(RASA), "run", "--model", str(model), "--port", str(port), "--interface", "127.0.0.1"]
            cmd += ["--credentials", str(SOURCES / "credentials.yml"), "--endpoints", str(conf)]
            self.server = servers.Launched(cmd, env, work / "rasa.log", port, chat_path=CHAT_PATH)
            servers.wait_http(self.actions_port, "/health", 300, self.actions.proc)
            self.server.wait_answer(300)
        except BaseException:
            self.stop()
            raise
        self.url, self.port = self.server.url, port
        self.startup_s = time.perf_counter() - started

    def say(self, sender: str, text: str) -> float:
        return self.server.say(sender, text)

    def rss_mb(self) -> float:
        """The two processes' resident memory: Rasa and its action server."""
        return self.server.rss_mb() + self.actions.rss_mb()

    def stop(self) -> None:
        for process in (self.server, self.actions):
            if process is not None:
                process.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.stock_anchor train [--retrain] [--epochs N]`: train (or find) the stock model."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["train"]:
        print("usage: python -m bench.stock_anchor train [--retrain] [--epochs N]", file=sys.stderr)
        return 2
    epochs = int(argv[argv.index("--epochs") + 1]) if "--epochs" in argv else None
    model, train_s, reused = train(ROOT / "models" / "bench", reuse="--retrain" not in argv, epochs=epochs)
    print(f"{model} ({'cached' if reused else 'trained'}; training {train_s:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
