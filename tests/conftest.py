"""Shared fixtures: a real Rasa server over HTTP on a free port, with its own SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "aiguillage.tar.gz"


# ---- the reliability battery (issue 13) ---------------------------------------------------------
# Tests marked `reliability` make up the battery. Those that take the `figure` fixture record what
# they did and the figure they measured; `make reliability` runs the battery at full scale
# (RELIABILITY_SCALE=full: more rounds, more concurrent clients) and writes docs/reliability.md with
# --reliability-report. `make test` runs the same tests at their quick scale.
RELIABILITY_FULL = os.environ.get("RELIABILITY_SCALE", "quick") == "full"


def scale(quick: int, full: int) -> int:
    """How many rounds or clients a battery test uses: `full` under `make reliability`."""
    return full if RELIABILITY_FULL else quick


def pytest_addoption(parser):
    parser.addoption("--reliability-report", default=None, help="write the battery's table (Markdown) to this file")


def pytest_configure(config):
    config.addinivalue_line("markers", "reliability: part of the reliability battery (make reliability)")
    config.addinivalue_line("markers", "sqlite_only: reads the SQLite file itself: runs on SQLite only (store_backend)")
    config.reliability_rows = []
    config.reliability_began = (time.time(), os.getloadavg()[0], _commit())  # docs/reliability.md: span, load, commit
    # The review export's sentences kept to measure (bot/nlu/review.py): never the checkout's var/, whatever
    # the test (the servers' export button, `review export` in a subprocess) inherits this.
    folder = Path(tempfile.mkdtemp(prefix="aiguillage-reviewed-"))
    os.environ["AIGUILLAGE_REVIEWED_SET"] = str(folder / "public_reviewed.jsonl")
    # Nor the checkout's data/nlu_review.yml: an export, or a retention purge that takes the sentences of the
    # reviews it erased out of their copies (bot/nlu/review.py forget_taught), writes in the test's folder.
    if "aiguillage-reviewed-" in os.environ.get("AIGUILLAGE_REVIEW_OUT", "aiguillage-reviewed-"):  # unset, or a parent's
        os.environ["AIGUILLAGE_REVIEW_OUT"] = str(folder / "data" / "nlu_review.yml")


def pytest_unconfigure(config):
    reviewed = os.environ.get("AIGUILLAGE_REVIEWED_SET")
    if reviewed and Path(reviewed).parent.name.startswith("aiguillage-reviewed-"):  # pytest_configure's
        shutil.rmtree(Path(reviewed).parent, ignore_errors=True)


def _commit() -> str:
    """The commit the tests run at (taken when they start), and whether tracked files differ from it."""
    run = lambda *args: subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
    dirty = run("status", "--porcelain", "--untracked-files=no")
    return (run("rev-parse", "--short", "HEAD") or "unknown") + (" with local changes" if dirty else "")


@pytest.fixture()
def figure(request):
    """record(what, figure): one row of docs/reliability.md for this test (several allowed)."""

    def record(what: str, measured: str) -> None:
        request.node.user_properties.append(("reliability", (what, measured)))

    return record


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if item.get_closest_marker("reliability") is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        rows = [value for key, value in item.user_properties if key == "reliability"]
        doc = (item.function.__doc__ or item.name.removeprefix("test_").replace("_", " ")).strip().splitlines()[0]
        verdict = "pass" if report.passed else ("skipped" if report.skipped else "FAIL")
        for what, measured in rows or [(doc, "")]:
            item.config.reliability_rows.append((item.nodeid, what, measured, verdict))


def pytest_sessionfinish(session):
    path = session.config.getoption("--reliability-report")
    rows = session.config.reliability_rows
    if not path or not rows:
        return
    from datetime import datetime

    began, load_began, commit = session.config.reliability_began
    lines = [
        "# Reliability battery",
        "",
        f"Written by `make reliability` on {datetime.now().astimezone().isoformat(timespec='minutes')}"
        f" (scale: {'full' if RELIABILITY_FULL else 'quick'}), against real servers started by the tests,"
        f" at commit {commit};"
        f" {time.time() - began:.0f} s of wall time, load average {load_began:.2f} at the start and"
        f" {os.getloadavg()[0]:.2f} at the end ({os.cpu_count()} cores).",
        f"{sum(r[3] == 'pass' for r in rows)} of {len(rows)} rows pass.",
        "",
        "| test | what it did | figure | pass |",
        "|---|---|---|---|",
    ]
    for nodeid, what, measured, verdict in rows:
        cell = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines.append(f"| `{cell(nodeid.removeprefix('tests/'))}` | {cell(what)} | {cell(measured)} | {verdict} |")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_async(coro):
    """asyncio.run in a thread of its own: Playwright's sync API may leave an event loop running in
    pytest's thread, where asyncio.run then refuses to start (a browser test earlier in the same worker)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def until(condition, seconds: float, what: str, every: float = 0.1):
    """Poll `condition` until it returns a true value (returned); past `seconds`, fail saying `what`
    did not happen. The tests' waits: a generous deadline, never a fixed sleep."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s")
        time.sleep(every)


# What a caller hears once their message to the weapons service's voicemail (Cantal) is kept.
ARMES_THANKS = [
    "Merci. Votre message a été transmis au service concerné, bureau des polices administratives (armes),"
    " qui vous répondra sous 5 jours ouvrés.",
    "Merci de votre appel. Au revoir.",
]


def to_armes_voicemail(caller):
    """Start the call and take it to the weapons service's voicemail (Cantal: keys 5, 1, 2): the
    Record step's answer and the RecordingSid the simulator gives its message."""
    caller.start()
    caller.press("5")
    caller.press("1")
    record_turn = caller.press("2")
    assert record_turn.record is not None
    return record_turn, "RE" + caller.call_sid[2:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, db: Path, log: Path, proc: subprocess.Popen):
        self.url, self.db, self.log, self.proc = url, db, log, proc

    def post(self, path: str, body: bytes | str | dict, content_type: str = "application/json") -> tuple[int, object]:
        data = json.dumps(body).encode() if isinstance(body, dict) else (body.encode() if isinstance(body, str) else body)
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": content_type}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode()
            try:
                return exc.code, json.loads(raw)
            except json.JSONDecodeError:
                return exc.code, raw

    def say(self, sender: str, message: str) -> list[dict]:
        status, body = self.post("/chat/webhook", {"sender": sender, "message": message})
        assert status == 200, body
        return body

    def get(self, path: str) -> tuple[int, str, dict]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as resp:
                return resp.status, resp.read().decode(), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), dict(exc.headers)


# The phone channel's settings in the test server: a test auth token, the server's own URL as the
# public base URL, and the test clock (the X-Ivr-Now header fixes "now" for one request).
TWILIO_TEST_TOKEN = "test-token-aiguillage"


def launch(
    tmp: Path,
    db: Path | None = None,
    prefecture: str = "cantal",
    phone: bool = True,
    extra_env: dict | None = None,
    endpoints: Path | str = "endpoints.yml",
) -> Server:
    """Start `rasa run` on a free port (its own SQLite file unless `db` is given) and wait for it."""
    port = free_port()
    db = db or tmp / "aiguillage.db"
    log = tmp / f"rasa-{port}.log"
    url = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        PORT=str(port),
        AIGUILLAGE_DB=str(db),
        PREFECTURE=prefecture,
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
    )
    env["AIGUILLAGE_REVIEW_OUT"] = str(tmp / "nlu_review.yml")  # the console's export button: never data/
    for name in (
        "TWILIO_AUTH_TOKEN",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_MESSAGING_SERVICE_SID",
        "TWILIO_API_BASE_URL",
        "PUBLIC_BASE_URL",
        "IVR_LOCAL_DEV",
        "IVR_NOW",
        "IVR_TEST_CLOCK",
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_STARTTLS",
        "SMTP_USER",
        "SMTP_PASSWORD",
        "SMTP_FROM",
        "AIGUILLAGE_TRUSTED_PROXIES",
        "AIGUILLAGE_THROTTLE_EXEMPT",
    ):
        env.pop(name, None)
    if phone:
        env.update(TWILIO_AUTH_TOKEN=TWILIO_TEST_TOKEN, PUBLIC_BASE_URL=url, IVR_TEST_CLOCK="1")
        # The daily retention purge of a test server waits ~30 years (not until 03:00 Paris time): a run
        # crossing that hour would delete rows a test dated in the past. tests/test_retention.py sets 0.
        env["AIGUILLAGE_PURGE_FIRST_S"] = "1e9"
    env.update(extra_env or {})
    from store_backends import ALL_ON_POSTGRESQL, url_for

    if ALL_ON_POSTGRESQL and "DATABASE_URL" not in (extra_env or {}):  # tests/store_backends.py
        env["DATABASE_URL"] = url_for(_session_postgres(tmp), db, keep=True)
    cmd = [
        str(ROOT / ".venv" / "bin" / "python"),
        "-m",
        "bot",
        "serve",  # `rasa run` with the action endpoint's key in its environment (bot/cli/main.py)
        "--model",
        str(MODEL),
        "--port",
        str(port),
        "--credentials",
        "credentials.yml",
        "--endpoints",
        str(endpoints),
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"rasa run exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url + "/chat/config", timeout=2)
            break
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)  # a start takes 10-60 s: a shorter step wastes less of it
    else:
        proc.kill()
        pytest.fail(f"rasa run did not answer within 180 s:\n{log.read_text()[-3000:]}")
    return Server(url, db, log, proc)


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()


class SmtpSink:
    """A real local SMTP server (aiosmtpd) that keeps what it receives; stop()/start() simulate an outage.

    Like a real server, it refuses some recipients at RCPT TO: an address starting with "refuse" for
    good (550, unknown user), one starting with "boite-pleine" for now (452, mailbox full). `rcpts`
    lists every recipient asked for, accepted or not, in order. `data_delay_s`: how long it takes to
    accept each message (a slow server: senders working at once overlap). `mail_answer`: when set, its
    answer to every MAIL FROM instead of 250 (a server refusing every sender for now: "451 ...").
    `quit_delay_s` / `quit_answer`: how long it takes to answer QUIT, and its answer instead of 221 (a
    server that took the message and then hangs, or closes with "421 ...", at the session's end).
    """

    REFUSALS = (
        ("refuse", "550 5.1.1 <{address}>: Recipient address rejected: User unknown"),
        ("boite-pleine", "452 4.2.2 <{address}>: Mailbox full, try again later"),
    )

    def __init__(self):
        self.port = free_port()
        self.messages: list = []
        self.rcpts: list[str] = []
        self.data_delay_s = 0.0
        self.mail_answer: str | None = None
        self.quit_delay_s = 0.0
        self.quit_answer: str | None = None
        self.controller = None
        self.start()

    def start(self) -> None:
        import asyncio
        import email
        import email.policy

        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_MAIL(self, server, session, envelope, address, mail_options):
                if sink.mail_answer:
                    return sink.mail_answer
                envelope.mail_from = address
                envelope.mail_options.extend(mail_options)
                return "250 OK"

            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                sink.rcpts.append(address)
                for start, answer in sink.REFUSALS:
                    if address.startswith(start):
                        return answer.format(address=address)
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                if sink.data_delay_s:
                    await asyncio.sleep(sink.data_delay_s)
                msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
                received = {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "message": msg}
                sink.messages.append(received | {"raw": envelope.content})  # the bytes as received
                return "250 OK"

            async def handle_QUIT(self, server, session, envelope):
                if sink.quit_delay_s:
                    await asyncio.sleep(sink.quit_delay_s)
                return sink.quit_answer or "221 Bye"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    @property
    def env(self) -> dict:
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.port), "SMTP_STARTTLS": "0", "SMTP_FROM": "aiguillage@localhost"}

    def to(self, address: str) -> list:
        return [m["message"] for m in self.messages if address in m["to"]]

    def raw_to(self, address: str) -> list[bytes]:
        """The messages to `address` as the server received them (bytes, CRLF line ends)."""
        return [m["raw"] for m in self.messages if address in m["to"]]


@pytest.fixture(scope="session")
def smtp() -> SmtpSink:
    sink = SmtpSink()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory, smtp) -> Server:
    if not MODEL.exists():
        pytest.exit(f"No trained model at {MODEL}: run the tests with `make test` (it trains first).", returncode=2)
    # Every test of the session books, cancels and writes from this machine's address: it is exempt from
    # the per-address limits, as a préfecture's reception desk would be (login throttling still applies).
    # tests/test_throttling.py runs its own server, with the limits, behind a "trusted proxy".
    exempt = {"AIGUILLAGE_THROTTLE_EXEMPT": "127.0.0.1, ::1"}
    running = launch(tmp_path_factory.mktemp("server"), extra_env=smtp.env | exempt)
    yield running
    stop(running)


def bot_texts(messages: list[dict]) -> str:
    return " ".join(m.get("text", "") for m in messages)


def bot_links(messages: list[dict]) -> list[str]:
    return [l["url"] for m in messages for l in (m.get("custom") or {}).get("links", [])]


def bot_buttons(messages: list[dict]) -> list[str]:
    return [b["title"] for m in messages for b in m.get("buttons") or []]


@pytest.fixture(scope="session")
def python() -> str:
    return str(ROOT / ".venv" / "bin" / "python")


@pytest.fixture()
def phone(server):
    """A factory of simulated calls (tools.ivr.simulate.Call) to the test server, signed with its token."""
    from tools.ivr.simulate import Call

    def make(now: str | None = None, **kwargs) -> Call:
        return Call(server.url, TWILIO_TEST_TOKEN, now=now, **kwargs)

    return make


# ---- the store on both backends (issue 16; tests/store_backends.py) ----------------------------


_POSTGRES: list = []  # the session's PostgreSQL, once started


def _session_postgres(tmp: Path):
    from store_backends import PgServer

    if not _POSTGRES:
        _POSTGRES.append(PgServer(tmp / "postgres"))
    return _POSTGRES[0]


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL 15 for the session (tools/cluster.py's Postgres), a schema per store."""
    server = _session_postgres(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()
    _POSTGRES.clear()


@pytest.fixture(scope="session", autouse=True)
def _all_on_postgresql(tmp_path_factory):
    """AIGUILLAGE_TEST_STORE=postgresql: every Store(path) of the session on PostgreSQL (opt-in)."""
    from store_backends import ALL_ON_POSTGRESQL, redirect

    if not ALL_ON_POSTGRESQL:
        yield
        return
    patch = pytest.MonkeyPatch()
    server = _session_postgres(tmp_path_factory.mktemp("postgres"))
    redirect(patch, server, keep=True)
    yield
    patch.undo()
    server.stop()
    _POSTGRES.clear()


SERVER_FIXTURES = {"server", "srv", "phone", "cluster"}  # tests whose server shares the test's store


def pytest_collection_modifyitems(config, items):
    """store_backend's PostgreSQL run is skipped, before any fixture starts, for a test that reads the
    SQLite file itself (marked sqlite_only) or whose server shares its store (AIGUILLAGE_DB)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("store_backend") != "postgresql":
            continue
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason="reads the SQLite file itself"))
        elif set(item.fixturenames) & SERVER_FIXTURES:
            item.add_marker(pytest.mark.skip(reason="its server opens the SQLite file AIGUILLAGE_DB (docs/store.md)"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request, monkeypatch):
    """Run the test on SQLite, then on PostgreSQL: there, each Store(path) opens a schema of its own."""
    if request.param == "postgresql":
        from store_backends import REDIRECTED, redirect

        from bot.store.pg import close_pools

        server = request.getfixturevalue("postgres")
        before = dict(REDIRECTED)
        redirect(monkeypatch, server)
        yield request.param
        close_pools()
        server.drop_schemas()
        REDIRECTED.clear()
        REDIRECTED.update(before)
        return
    yield request.param


def db_rows(db: Path, sql: str, args: list | tuple = ()) -> list[dict]:
    """Read the server's SQLite file directly (another connection, as an agent's tool would); under
    store_backend's PostgreSQL, the schema standing for that file."""
    import sqlite3

    from store_backends import pg_rows, redirected

    if url := redirected(db):
        return pg_rows(url, sql, args)

    conn = sqlite3.connect(str(db))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, list(args)).fetchall()]
    finally:
        conn.close()


# Real headless Chromium (Debian's package), driven by Playwright; one browser for the session.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
