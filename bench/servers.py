"""Starting and stopping the servers a benchmark measures: one helper for every bench module (issue 12).

- `ours(model, db, log)`: `python -m bot serve` (our `rasa run`, with the action endpoint's key) on a free
  port with its own SQLite file, the phone channel in local dev mode (requests signed with the dev token);
- `Launched(cmd, env, log, port)`: any server command (the stock anchor's `rasa run` and `rasa run actions`,
  bench/stock_anchor.py), its output in `log`, in its own session so that stopping it stops its children;
- `cluster_server(...)`: one process of a cluster, with tools/cluster.py's environment (tracker store,
  lock store, trusted proxy);
- `wait_http`, `free_port`, `base_env`.

Not imported by the product.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import cluster as cl  # noqa: E402

PY = ROOT / ".venv" / "bin" / "python"
MODEL = ROOT / "models" / "aiguillage.tar.gz"  # `make setup`'s model
CHAT_PATH = "/chat/webhook"
# What a developer's shell may hold that would change what a benchmark measures.
UNSET = (
    "TWILIO_AUTH_TOKEN",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_MESSAGING_SERVICE_SID",
    "PUBLIC_BASE_URL",
    "IVR_NOW",
    "IVR_TEST_CLOCK",
    "SMTP_HOST",
    "DATABASE_URL",
    "LOCK_STORE_URL",
)

free_port = cl.free_port


def post(conn: http.client.HTTPConnection, sender: str, text: str, path: str = CHAT_PATH) -> list:
    """One chat turn on a kept connection: the bot's messages, or RuntimeError on a status other than 200."""
    body = json.dumps({"sender": sender, "message": text})
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {data[:200]!r}")
    return json.loads(data)


def rss_mb(pid: int) -> float:
    """A process's resident memory (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def base_env(port: int, db: Path, model: Path | None = None) -> dict:
    """A server's environment: its port and SQLite file, the phone in local dev mode, no telemetry."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        PORT=str(port),
        AIGUILLAGE_DB=str(db),
        IVR_LOCAL_DEV="1",  # the phone channel accepts requests signed with the local dev token
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONDONTWRITEBYTECODE="1",
        # The load comes from this machine: no per-address limit (a script's flood is what they stop).
        AIGUILLAGE_THROTTLE_EXEMPT="127.0.0.1, ::1",
    )
    if model is not None:
        env["AIGUILLAGE_MODEL"] = str(model)
    return env


def ours_cmd(port: int, model: Path, endpoints: str = "endpoints.yml", root: Path = ROOT) -> list[str]:
    return [
        str(root / ".venv" / "bin" / "python"),
        "-m",
        "bot",
        "serve",
        "--model",
        str(model),
        "--interface",
        "127.0.0.1",
        "--port",
        str(port),
    ] + [
        "--credentials",
        "credentials.yml",
        "--endpoints",
        endpoints,
    ]


def wait_http(port: int, path: str, seconds: float, proc: subprocess.Popen | None = None) -> None:
    """Until GET 127.0.0.1:`port``path` answers (any status), or raise."""
    deadline = time.monotonic() + seconds
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process for port {port} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answered on port {port} within {seconds:.0f} s") from None
            time.sleep(0.3)


class Launched:
    """A server process started now: `cmd` with `env`, cwd the repository (or the checkout `root`), output in `log`."""

    def __init__(
        self, cmd: list[str], env: dict, log: Path, port: int | None = None, chat_path: str = CHAT_PATH, root: Path = ROOT
    ):
        self.port, self.chat_path = port, chat_path
        self.url = f"http://127.0.0.1:{port}" if port else ""
        self.log_path = Path(log)
        self.started = time.perf_counter()
        self.startup_s: float | None = None
        self.conn: http.client.HTTPConnection | None = None
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_answer(self, seconds: float = 300) -> float:
        """Until the chat answers a first message: the start-up time to the first answer, in seconds."""
        while time.perf_counter() - self.started < seconds:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.proc.args[0]} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                post(self.conn, "startup-probe", "bonjour", self.chat_path)
                self.startup_s = time.perf_counter() - self.started
                return self.startup_s
            except (ConnectionError, OSError, http.client.HTTPException):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server on port {self.port} did not answer within {seconds:.0f} s; see {self.log_path}")

    def wait_ready(self, seconds: float = 300) -> None:
        wait_http(self.port, "/chat/config", seconds, self.proc)

    def say(self, sender: str, text: str) -> float:
        """One chat turn on a kept connection: its latency in ms."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        t0 = time.perf_counter()
        post(self.conn, sender, text, self.chat_path)
        return (time.perf_counter() - t0) * 1000

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self, seconds: float = 30) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ours(model: Path, db: Path, log: Path, wait: bool = True, root: Path = ROOT) -> Launched:
    """`python -m bot serve` with `model` on a free port and its own SQLite file `db`; `root`: another
    checkout of the repository (its .venv), to compare two versions side by side."""
    port = free_port()
    server = Launched(ours_cmd(port, model, root=root), base_env(port, db, model), log, port, root=root)
    if wait:
        server.wait_answer()
    return server


def cluster_server(
    db: Path, log: Path, database_url: str | None, lock_url: str | None, proxy_port: int, model: Path = MODEL, root: Path = ROOT
) -> Launched:
    """One process of a cluster (not waited for): tools/cluster.py's environment on our base one; Twilio
    calls nginx's address (`proxy_port`), on which the phone channel checks the signatures. `root`:
    another checkout (its .venv), to compare two versions in one run."""
    port = free_port()
    env = cl.server_env(port, db, database_url, lock_url, base=base_env(port, db, model))
    env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{proxy_port}"
    return Launched(ours_cmd(port, model, root=root), env, log, port, root=root)
