"""What the server does when it starts and stops (registered by the chat's blueprint, once per process):
the app-wide hooks (bot/web/http.py), the check that Rasa loaded a model, the daily retention purge,
what a stopped process left in the chat's spool (issue 16: at the start, then every
`AIGUILLAGE_SPOOL_SWEEP_S`), the e-mails that could not leave tried again on the server's own schedule
(the préfecture's `outbox:` block), and a last chance for the writes kept
in memory while the store was locked (issue 11)."""

from __future__ import annotations

import logging
import os
import sys

from sanic import Blueprint

from bot import settings
from bot.nlu.model import MODEL_REFUSED_EXIT, model_refused_message, served_model, unpack_room_message
from bot.services import runtime
from bot.web.http import install_app_hooks

logger = logging.getLogger(__name__)
STOP_DRAIN_S = 10  # at shutdown, how long writes kept while the store was locked may still take


async def hooks(app, loop) -> None:
    install_app_hooks(app)


async def model_loaded(app, loop) -> None:
    """Rasa logs a model it could not load and serves on without one (every chat answer would
    be the apology): stop the process instead, saying why and what to do (no room to unpack it in
    the temporary directory is said as such: retraining would not help)."""
    agent = getattr(app.ctx, "agent", None)
    if agent is None or not agent.is_ready():
        path = served_model(sys.argv) or settings.model()
        message = unpack_room_message(path) or model_refused_message(path)
        logger.critical(message)
        print(message, file=sys.stderr, flush=True)
        os._exit(MODEL_REFUSED_EXIT)


async def purge_daily(app, loop) -> None:  # issue 13 §7: the retention purge, every day
    from bot.nlu.review_forget import forget_taught
    from bot.services import retention

    first = settings.purge_first_s()  # None: at 03:00 Paris time
    app.ctx.retention_task = loop.create_task(
        retention.daily(runtime.store().path, runtime.prefecture(), first_in_s=first, taught=forget_taught)
    )


async def retry_e_mails(app, loop) -> None:
    """The outbox's failed e-mails tried again by the server itself (bot/services/mailer.py
    `retry_every`), not only at the next message or booking; without SMTP_HOST nothing is sent, so
    nothing is tried."""
    from bot.services import mailer

    mailer.STOPPING.clear()  # a server started again in the same process (its stop set it) sends again
    if settings.smtp() is None:
        return
    backoff, bounds = mailer.Backoff.of(runtime.prefecture()), mailer.Bounds.of(runtime.prefecture())
    app.ctx.outbox_retry = loop.create_task(mailer.retry_every(runtime.store().path, backoff, bounds))


async def take_over_the_spool(app, loop) -> None:
    """The chat's writes a stopped process of this host left in its spool (bot/store/spool.py): turn
    records and Rasa events acknowledged to the person, not in the store yet: written in the
    background by this process, each once; at the start, then every `AIGUILLAGE_SPOOL_SWEEP_S` (a
    sibling process killed while this one runs)."""
    from bot.store.spool import sweep_every

    await _take_over(app, loop)
    app.ctx.chat_spool_sweep = loop.create_task(sweep_every(settings.spool_sweep_s(), lambda: _take_over(app, loop), "chat"))


async def _take_over(app, loop) -> None:
    from bot.nlu.tracker_store import window_of
    from bot.services.deferred import KEPT
    from bot.store.spool import chat_spool_path

    if not chat_spool_path().exists():  # nothing ever waited on this host
        return
    taken = await loop.run_in_executor(None, runtime.chat_spool().orphans)
    tracker_store = window_of(getattr(getattr(app.ctx, "agent", None), "tracker_store", None))
    for entry, kind, args in taken:
        if kind == "events" and tracker_store is not None:
            tracker_store.resume(entry, args)
        elif kind in KEPT:
            logger.warning("store writer: a %s left in the spool by a stopped process will be written", kind)
            runtime.turn_writer().resume(entry, kind, args)
        else:
            logger.error("spool entry %s of kind %r left in %s: no writer for it here", entry, kind, chat_spool_path())


async def stop_background_tasks(app, loop) -> None:
    """The daily purge, the spool's sweep (`take_over_the_spool`) and the outbox's retry end with the server.
    A delivery of the outbox under way in a worker thread (the retry's round, or a request's) ends after
    the e-mail it is sending (`mailer.STOPPING`): the process's exit waits for its worker threads, so it
    waited for the whole round (one e-mail after another, each up to `outbox.smtp_timeout_s`)."""
    from bot.services import mailer

    mailer.STOPPING.set()
    for name in ("retention_task", "chat_spool_sweep", "outbox_retry"):
        task = getattr(app.ctx, name, None)
        if task is not None:
            task.cancel()


async def write_pending(app, loop) -> None:
    """Writes kept in memory while the store was locked (issue 11): a last chance to land."""
    from bot.nlu.tracker_store import window_of

    agent = getattr(app.ctx, "agent", None)
    tracker_store = window_of(getattr(agent, "tracker_store", None))
    if tracker_store is not None and tracker_store.pending:
        await tracker_store.drain(STOP_DRAIN_S)
        if tracker_store.pending:
            logger.error(
                "tracker store: %d events NOT written at shutdown (those in the chat's spool: by the next process)",
                tracker_store.pending,
            )
    writer = runtime.turn_writer() if runtime.turn_writer.cache_info().currsize else None
    if writer is not None and writer.count:
        await writer.drain(STOP_DRAIN_S)
        if writer.count:
            logger.error(
                "store writer: %d writes NOT written at shutdown (those in the chat's spool: by the next process)", writer.count
            )


def register(bp: Blueprint) -> None:
    """Add the listeners, in this order, to the blueprint that carries them (the chat's)."""
    bp.listener("before_server_start")(hooks)
    bp.listener("after_server_start")(model_loaded)
    bp.listener("after_server_start")(purge_daily)
    bp.listener("after_server_start")(take_over_the_spool)
    bp.listener("after_server_start")(retry_e_mails)
    bp.listener("before_server_stop")(stop_background_tasks)
    bp.listener("before_server_stop")(write_pending)
