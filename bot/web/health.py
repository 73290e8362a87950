"""Liveness and readiness, for nginx, a load balancer or a monitoring probe (docs/operations.md "Operating it").

- `GET /healthz`: 200 `{"status": "ok"}` as long as the process serves requests. Nothing is read:
  cheap enough for any probe, and served to anyone by deploy/nginx.conf.
- `GET /readyz`: `{"status": "ok" | "degraded" | "failing", "checks": {name: {"status", figures,
  "reason" when not ok}}}`, 200 when the server can serve (ok, or degraded: a backlog, a disk filling
  up, said in its check), 503 when a check fails (no model, a store that does not answer or cannot take
  writes, a disk nearly full). Counts and ages only (bot/services/health.py). deploy/nginx.conf serves it
  to this host only.

The checks that read (the store, the disk, the spools, the outbox) run at once, each on a thread pool of
this module's own, so that neither the event loop nor the threads of the routes ever wait for them; each
is waited for at most `health.check_timeout_ms` (prefectures/_national.yml). A read that has not come
back (PostgreSQL frozen, a hung disk) is not started again by the next probe, which waits for the same
read: a frozen store holds at most one thread per check, however often it is probed. A change of the
overall status is logged once, with the reasons.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from rasa.core.channels.channel import InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import settings
from bot.services import health, runtime
from bot.store.database import db_path, location
from bot.web.http import add_routes

logger = logging.getLogger(__name__)

READS = ("store", "disk", "spool", "outbox")  # the checks that read, each with at most one read under way
POOL = ThreadPoolExecutor(max_workers=len(READS), thread_name_prefix="health")
UNDER_WAY: dict[str, Future] = {}
LAST = {"status": health.OK}  # the overall status last answered (its changes are logged)
# A SQLite lock is waited for a little less than the check's timeout: the check then says "locked".
LOCK_SHARE = 0.8


def _read(name: str, read: Callable[[], Any]) -> Future:
    """The read under way for check `name`, or a new one when the last has come back."""
    future = UNDER_WAY.get(name)
    if future is None or future.done():
        future = UNDER_WAY[name] = POOL.submit(read)
    return future


async def _checked(name: str, read: Callable[[], Any], timeout_ms: int) -> tuple[Any, str | None]:
    """(what the read returned, None), or (None, why it did not: a few fixed words)."""
    try:
        return await asyncio.wait_for(asyncio.wrap_future(_read(name, read)), timeout_ms / 1000), None
    except Exception as exc:  # noqa: BLE001 - any failure of a check is its answer, never a 500
        return None, health.failure(exc, timeout_ms)


def model_check(app) -> dict:
    agent = getattr(app.ctx, "agent", None)
    if agent is None or not agent.is_ready():
        return {"status": health.FAILING, "reason": "no model loaded"}
    return {"status": health.OK}


async def readiness(app) -> dict:
    """Every check, judged, and the overall status."""
    limits = health.Limits.of(runtime.prefecture())
    wait_ms, lock_s = limits.check_timeout_ms, limits.check_timeout_ms * LOCK_SHARE / 1000
    where, folder = location(), db_path().parent
    (store, store_why), (free, disk_why), (spool, spool_why), (outbox, outbox_why) = await asyncio.gather(
        _checked("store", lambda: health.store_answers(where, lock_s), wait_ms),
        _checked("disk", lambda: health.disk_free_mb(folder), wait_ms),
        _checked("spool", lambda: health.spool_backlog(lock_s), wait_ms),
        _checked("outbox", lambda: health.outbox_backlog(where, lock_s), wait_ms),
    )
    unknown = lambda why: {"status": health.UNKNOWN, "reason": why}  # noqa: E731
    checks = {
        "model": model_check(app),
        "store": health.judge_store(store) if store_why is None else failing_store(where, store_why),
        "disk": health.judge_disk(free, limits) if disk_why is None else unknown(disk_why),
        "spool": health.judge_spool(spool, limits) if spool_why is None else unknown(spool_why),
        "outbox": health.judge_outbox(outbox, smtp_set(), limits) if outbox_why is None else unknown(outbox_why),
    }
    return {"status": health.overall(checks), "checks": checks}


def smtp_set() -> bool:
    """Whether e-mails are sent (SMTP_HOST); set but wrong, they all fail, and the outbox says so."""
    try:
        return settings.smtp() is not None
    except settings.SettingsError:
        return True


def failing_store(where, why: str) -> dict:
    return {"status": health.FAILING, "backend": health.backend(where), "reason": why}


def said(body: dict) -> None:
    """Log a change of the overall status, once, with what is not ok."""
    status = body["status"]
    if status == LAST["status"]:
        return
    LAST["status"] = status
    problems = "; ".join(f"{name}: {check['reason']}" for name, check in body["checks"].items() if "reason" in check)
    if status == health.OK:
        logger.info("readiness: ok again")
    else:
        logger.warning("readiness: %s (%s)", status, problems)


def no_store(resp: HTTPResponse) -> HTTPResponse:
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def healthz(request: Request) -> HTTPResponse:
    return no_store(response.json({"status": health.OK}))


async def readyz(request: Request) -> HTTPResponse:
    body = await readiness(request.app)
    said(body)
    return no_store(response.json(body, status=503 if body["status"] == health.FAILING else 200))


ROUTES = [
    ("/healthz", ("GET",), healthz),
    ("/readyz", ("GET",), readyz),
]


class HealthInput(InputChannel):
    """`/healthz` and `/readyz`, at the root of the server (credentials.yml)."""

    @classmethod
    def name(cls) -> str:
        return "health"

    def url_prefix(self) -> str:
        return "/"

    def blueprint(self, on_new_message) -> Blueprint:
        bp = Blueprint("aiguillage_health", __name__)
        add_routes(bp, ROUTES)
        return bp
