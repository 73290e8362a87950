"""Monitoring an installed server from outside: liveness (`GET /healthz`) and readiness (`GET /readyz`).

An operator had nothing to point nginx, a load balancer or a monitoring probe at: no way to see from
outside that the spools or the e-mail outbox were backing up, that the store's disk was nearly full or
that the store did not answer. Real servers (`python -m bot serve`) over HTTP, real SQLite and
PostgreSQL, a real full filesystem (tmpfs), a real SMTP port that refuses. Each readiness request is
made with a probe's own timeout (PROBE_TIMEOUT_S): an answer that does not come within it fails the
test, a frozen store included. Thresholds lowered for a test are written in a préfecture file's
`health:` block, as an operator would (docs/operations.md "Operating it")."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import MODEL, ROOT, TWILIO_TEST_TOKEN, free_port, launch, stop, until
from store_backends import server_on_postgresql
from store_lock import Lock
from test_disk_full import chat, full, tmpfs
from test_ivr_calls import TITRES_MENU
from test_ivr_fail_soft import STORE_BUSY
from test_ivr_store_down import postgres_processes
from test_outbox_retry import with_outbox

from tools import cluster as cl
from tools.ivr.simulate import Call

# A monitoring probe's own timeout: each check waits at most health.check_timeout_ms (2 s by default).
PROBE_TIMEOUT_S = 8
CARTE_GRISE = ("changement d'adresse sur ma carte grise", "Les démarches de carte grise")
NO_BACKLOG = {"status": "ok", "chat_rows": 0, "phone_rows": 0, "oldest_s": None}


def probe(server, path: str = "/readyz") -> tuple[int, dict, dict]:
    """GET `path` as a monitoring probe does: (status, JSON, headers); fails past PROBE_TIMEOUT_S."""
    try:
        with urllib.request.urlopen(server.url + path, timeout=PROBE_TIMEOUT_S) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def ready(server) -> dict:
    """The readiness JSON, with the disk's free megabytes (this machine's) checked and set aside."""
    status, body, _ = probe(server)
    assert status == (503 if body["status"] == "failing" else 200), body
    assert isinstance(body["checks"]["disk"].pop("free_mb"), int)
    return body


def outbox(**counts) -> dict:
    return {"status": "ok", "smtp": True, "pending": 0, "failed": 0, "rejected": 0, "oldest_waiting_s": None} | counts


def with_health(tmp: Path, **limits) -> Path:
    """A copy of prefectures/ whose cantal.yml sets these `health:` thresholds (docs/operations.md "Operating it")."""
    folder = tmp / "prefectures"
    shutil.copytree(ROOT / "prefectures", folder)
    lines = "".join(f"  {name}: {value}\n" for name, value in limits.items())
    with open(folder / "cantal.yml", "a", encoding="utf-8") as out:
        out.write(f"health:\n{lines}")
    return folder


def started(tmp: Path, **kwargs):
    if not MODEL.exists():
        pytest.exit(f"No trained model at {MODEL}: run the tests with `make test` (it trains first).", returncode=2)
    return launch(tmp, **kwargs)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A server of its own, untouched by other tests, whose SMTP server refuses every connection; its own
    retry waits an hour (its préfecture file's `outbox:` block): the e-mails stay as a message's delivery left them."""
    tmp = tmp_path_factory.mktemp("health")
    dead_smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port()), "SMTP_STARTTLS": "0", "SMTP_FROM": "a@localhost"}
    prefectures = {"AIGUILLAGE_PREFECTURES": str(with_outbox(tmp, retry_every_s=3600))}
    server = started(tmp, extra_env=dead_smtp | prefectures | {"AIGUILLAGE_THROTTLE_EXEMPT": "127.0.0.1"})
    yield server
    stop(server)


def test_a_fresh_server_is_live_and_ready_with_every_check_ok(fresh):
    assert probe(fresh, "/healthz")[:2] == (200, {"status": "ok"})
    status, body, headers = probe(fresh)
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert body["checks"]["disk"]["free_mb"] >= 1024  # health.disk_degraded_below_mb, prefectures/_national.yml
    body["checks"]["disk"].pop("free_mb")
    assert body == {
        "status": "ok",
        "checks": {
            "model": {"status": "ok"},
            "store": {"status": "ok", "backend": "sqlite", "writable": True},
            "disk": {"status": "ok"},
            "spool": NO_BACKLOG,
            "outbox": outbox(),
        },
    }


def test_e_mails_that_cannot_leave_make_readiness_degraded_with_their_counts(fresh):
    """A message left to the weapons service with an e-mail for the answer: two e-mails (the ticket to
    the service, the acknowledgement to the person). The SMTP server refuses the first, which ends the
    delivery (the second would meet the same refusal): it waits, not tried. The server still serves
    (200), and says the e-mails wait."""
    message = {"service": "armes", "subject": "Carabine", "body": "Bonjour, une question.", "email": "a@exemple.fr"}
    assert fresh.post("/rdv/api/message", message | {"idem": uuid.uuid4().hex})[0] == 200
    body = until(lambda: (b := ready(fresh))["checks"]["outbox"]["failed"] == 1 and b, 30, "the first e-mail failed")
    assert isinstance(body["checks"]["outbox"].pop("oldest_waiting_s"), int)
    assert body == {
        "status": "degraded",
        "checks": {
            "model": {"status": "ok"},
            "store": {"status": "ok", "backend": "sqlite", "writable": True},
            "disk": {"status": "ok"},
            "spool": NO_BACKLOG,
            "outbox": {
                "status": "degraded",
                "smtp": True,
                "pending": 1,
                "failed": 1,
                "rejected": 0,
                "reason": "1 e-mail failed and waits for a retry (degraded from 1)",
            },
        },
    }
    assert "a@exemple.fr" not in json.dumps(body) and "Carabine" not in json.dumps(body)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A server whose préfecture file says: degraded from 2 writes waiting in the spools."""
    tmp = tmp_path_factory.mktemp("health-tuned")
    server = started(tmp, extra_env={"AIGUILLAGE_PREFECTURES": str(with_health(tmp, spool_degraded_rows=2))})
    yield server
    stop(server)


@pytest.mark.sqlite_only
def test_writes_waiting_in_the_spool_while_the_store_is_locked_make_readiness_degraded(tuned):
    """Another writer holds SQLite's write lock (a console export, a migration): the chat answers, its
    turn's writes wait in the chat's spool (the turn's record and Rasa's events). Reads go on (WAL),
    so the store answers; the backlog is said, with its count; once the lock is gone it empties."""
    with Lock(tuned.db, 15):
        status, answer = chat(tuned, "verrou-" + uuid.uuid4().hex[:8], CARTE_GRISE[0])
        assert status == 200 and answer[0]["text"].startswith(CARTE_GRISE[1])
        body = until(lambda: (b := ready(tuned))["checks"]["spool"]["chat_rows"] == 2 and b, 10, "the turn's writes spooled")
        spool = body["checks"]["spool"]
        assert isinstance(spool.pop("oldest_s"), int)
        assert spool.pop("reason").startswith("2 writes waiting in the spools, the oldest for ")
        assert body == {
            "status": "degraded",
            "checks": {
                "model": {"status": "ok"},
                "store": {"status": "ok", "backend": "sqlite", "writable": True},
                "disk": {"status": "ok"},
                "spool": {"status": "degraded", "chat_rows": 2, "phone_rows": 0},
                "outbox": outbox(smtp=False),
            },
        }
    until(lambda: ready(tuned)["checks"]["spool"] == NO_BACKLOG, 30, "the spool written once the lock is gone")
    assert ready(tuned)["status"] == "ok"


def test_a_disk_nearly_full_is_degraded_and_a_full_one_fails_readiness(tmp_path):
    """The store and its spools on a 32 MB filesystem of their own, with thresholds for its size:
    degraded below 8 MB free, failing below 2 MB. Filled to 5 MB free: degraded (200); filled up: failing
    (503) while liveness stays 200 and the chat answers; freed: ready again, without a restart."""
    limits = {"disk_degraded_below_mb": 8, "disk_failing_below_mb": 2}
    with tmpfs(tmp_path / "disk", size="32m") as mount:
        env = {"AIGUILLAGE_PREFECTURES": str(with_health(tmp_path, **limits))}
        server = started(tmp_path, db=mount / "aiguillage.db", extra_env=env)
        try:
            assert ready(server)["status"] == "ok"
            with full(mount, leave_mb=5):
                status, body, _ = probe(server)
                assert status == 200
                disk = body["checks"]["disk"]
                assert disk["status"] == "degraded" and 3 <= disk["free_mb"] < 8
                assert disk["reason"] == f"{disk['free_mb']} MB free (degraded below 8 MB)"
                assert body["status"] == "degraded"
            with full(mount):
                status, body, _ = probe(server)
                assert status == 503
                assert body["checks"]["disk"] == {"status": "failing", "free_mb": 0, "reason": "0 MB free (failing below 2 MB)"}
                assert body["status"] == "failing"
                assert body["checks"]["store"]["status"] == "ok"  # it reads; it is the room to write that lacks
                assert probe(server, "/healthz")[:2] == (200, {"status": "ok"})
                status, answer = chat(server, "plein-" + uuid.uuid4().hex[:8], CARTE_GRISE[0])
                assert status == 200 and answer[0]["text"].startswith(CARTE_GRISE[1])
            until(lambda: ready(server)["status"] == "ok", 30, "ready again once space is freed")
        finally:
            stop(server)


def test_a_store_on_a_read_only_filesystem_is_said_read_only(tmp_path):
    """The check of a SQLite store's write access, on a real read-only mount of a real store (a disk
    remounted read-only after errors, or a unit whose ReadWritePaths misses the store's folder): the
    read answers, the store is not writable. (A running server's own files cannot be remounted
    read-only under it: the kernel refuses while they are open for writing.)"""
    from bot.services import health
    from bot.store.database import Store

    with tmpfs(tmp_path / "disk", size="8m") as mount:
        Store(mount / "aiguillage.db").close()
        view = tmp_path / "read-only"
        view.mkdir()
        for how in (["--bind", str(mount), str(view)], ["-o", "remount,bind,ro", str(view)]):
            done = subprocess.run(["mount", *how], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        try:
            assert health.store_answers(mount / "aiguillage.db", 2.0) == {"backend": "sqlite", "writable": True}
            assert health.store_answers(view / "aiguillage.db", 2.0) == {"backend": "sqlite", "writable": False}
        finally:
            subprocess.run(["umount", str(view)], capture_output=True)


@pytest.fixture(scope="module")
def on_postgresql(tmp_path_factory):
    """A server whose stores (the product's and Rasa's) are in a PostgreSQL of its own: (server, pg)."""
    with server_on_postgresql(tmp_path_factory.mktemp("health-pg")) as both:
        yield both


@contextmanager
def frozen(pg: cl.Postgres):
    """PostgreSQL frozen (SIGSTOP on its processes, as a host that stops answering), thawed at the end."""
    pids = postgres_processes(pg)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def test_a_frozen_postgresql_fails_readiness_within_its_timeout_while_the_server_answers(on_postgresql):
    """PostgreSQL stops answering: its reads never come back. Each readiness request still answers
    within the probe's timeout, 503 with the store failing (the read still under way is waited for, not
    started again: a frozen store never holds more than one thread per check); liveness stays 200 and a
    caller in the phone menu is answered at once. Thawed: ready again, without a restart."""
    server, pg = on_postgresql
    body = ready(server)
    assert body["status"] == "ok"
    assert body["checks"]["store"] == {"status": "ok", "backend": "postgresql"}
    caller = Call(server.url, TWILIO_TEST_TOKEN, timeout=15)
    caller.start()
    assert caller.press("1").says == TITRES_MENU
    with frozen(pg):
        for _ in range(3):
            status, body, _ = probe(server)
            assert status == 503
            assert body["status"] == "failing"
            assert body["checks"]["store"] == {"status": "failing", "backend": "postgresql", "reason": "no answer within 2000 ms"}
            assert body["checks"]["outbox"] == {"status": "unknown", "reason": "no answer within 2000 ms"}
            assert body["checks"]["model"] == {"status": "ok"} and body["checks"]["spool"] == NO_BACKLOG
            assert probe(server, "/healthz")[:2] == (200, {"status": "ok"})
        # the phone, which cannot read the call's place in the menu, says so at once and repeats the sub-menu
        assert caller.press("1").says == [STORE_BUSY, *TITRES_MENU]
    until(lambda: ready(server)["status"] == "ok", 30, "ready again once PostgreSQL answers")


def test_the_thresholds_are_checked_with_the_prefecture_file(tmp_path):
    """A threshold that is no positive whole number, or a disk limit for 'degraded' under the one for
    'failing', stops `python -m bot check` (and the start) with one line naming the key."""
    from test_new_prefecture import check, folder_with, refused

    def health(**limits):
        return lambda data: data.update(health=limits)

    refused(folder_with(tmp_path, health(spool_degraded_rows=0)), "health.spool_degraded_rows", "must be a positive whole number")
    refused(
        folder_with(tmp_path, health(disk_degraded_below_mb=50, disk_failing_below_mb=100)),
        "health.disk_degraded_below_mb",
        "must be at least health.disk_failing_below_mb (100)",
    )
    assert check(folder_with(tmp_path, health(check_timeout_ms=500, outbox_degraded_failed=3)))[0] == 0
