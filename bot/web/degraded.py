"""What the public sees while Rasa's lock store (Redis) or tracker store (PostgreSQL) is down (issue 16).

A chat turn that cannot take its lock or read its conversation is not run (bot/nlu/outage.py): the
chat route lets BackendUnavailable go up, and this handler answers 503 with `Retry-After`
(bot/tree.yml `settings.chat_retry_after_s`) and `{"error": ...}`, the French text of
`chat.script.retry_later`, which the chat page shows. Nothing of the turn was applied, so the
person sends the same message again. The phone's webhooks need neither back end (a call's state
is its `calls` row): they go on answering their menus.

A back end that does not answer at all (a frozen host, a network dropping packets: no error comes
back) gets the same 503 once the turn has waited `settings.chat_answer_within_ms` (`answered_within`),
as the phone answers within `answer_within_ms`; the turn, still under way, then writes nothing when it
ends (bot/services/late_turns.py). The chat page's two other JSON routes are bounded by the same
setting (`within_bound`): its history (`GET /chat/history`, a read: its late result is dropped) and its
rating (`POST /chat/feedback`: a rating answered 503 is not written when its work ends, bot/web/chat.py).

`install(app)` is called once, before the server starts (bot/web/http.py `install_app_hooks`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.nlu.outage import BackendUnavailable, strict_tracker_store
from bot.services import late_turns

logger = logging.getLogger(__name__)
T = TypeVar("T")


def retry_later() -> tuple[str, int]:
    """The chat's French text for a back end down, and the seconds after which to try again."""
    from bot.core import texts
    from bot.services import runtime

    seconds = int(runtime.tree().settings.get("chat_retry_after_s", 10))
    return texts.say("chat.script.retry_later", runtime.prefecture()), seconds


# The turns of one conversation under way in this process, in line: (their lock, how many hold or wait for it).
_in_line: dict[str, list] = {}


@asynccontextmanager
async def in_line(lines: dict, key: Hashable) -> AsyncIterator[None]:
    """Held while this process's work under `key` runs: another piece of work under the same key waits
    its turn. `lines` holds a (lock, how many hold or wait for it) per key, dropped once nobody does."""
    entry = lines.setdefault(key, [asyncio.Lock(), 0])
    entry[1] += 1
    try:
        async with entry[0]:
            yield
    finally:
        entry[1] -= 1
        if entry[1] == 0:
            lines.pop(key, None)


async def answered_within(turn: Coroutine[Any, Any, T], message_id: str, sender_id: str) -> T:
    """`within_bound` for a chat turn, once this process's earlier turns of the same conversation are over:
    the bound is the store's, not the wait behind one's own messages (Rasa runs one turn of a conversation
    at a time; CI of b36833f: 20 messages of one sender sent at once on a loaded machine, the last ten got
    the 503). A turn given up is marked (late_turns.give_up) and writes nothing when it ends."""
    try:
        async with in_line(_in_line, sender_id):
            return await within_bound(
                turn,
                f"a turn of {sender_id}",
                given_up=lambda: late_turns.give_up(message_id),
                ended=lambda: late_turns.ended(message_id),
            )
    finally:
        if inspect.getcoroutinestate(turn) == inspect.CORO_CREATED:  # the client left while it waited in line
            turn.close()  # never started: no "never awaited" warning (a turn given up goes on: not closed)


async def within_bound(
    work: Awaitable[T],
    what: str,
    given_up: Callable[[], None] | None = None,
    ended: Callable[[], None] | None = None,
) -> T:
    """The work's result (or its error, for the route), or BackendUnavailable (the 503 above) when it is
    not over within `settings.chat_answer_within_ms` from now. The work is then left to end on its own (a
    read or a write sent to a store that does not answer cannot be called back): `given_up()` is called
    first, on the event loop, before the 503 is sent (the work cannot end between the check and it: what
    the work writes looks at it), and `ended()` once the work is over, whose end is logged (its error too,
    never left unretrieved). A request cancelled (the client gone) cancels its work, as before."""
    from bot.services import runtime

    within_ms = int(runtime.tree().settings["chat_answer_within_ms"])
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task}, timeout=within_ms / 1000)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task.done():  # over in time (its answer, or its error for the route)
        return task.result()
    if given_up is not None:
        given_up()
    since = time.monotonic()
    task.add_done_callback(lambda done: _late_end(done, what, since, ended))
    raise BackendUnavailable(what, f"no answer within {within_ms} ms")


def _late_end(task: asyncio.Future, what: str, since: float, ended: Callable[[], None] | None) -> None:
    """Given-up work is over: `ended()`, and its end logged with its error (if any), never left unretrieved."""
    if ended is not None:
        ended()
    error = None if task.cancelled() else task.exception()
    if error is not None:
        logger.warning("web chat: %s ended after its 503 with %r", what, error)
    else:
        logger.info("web chat: %s ended after its 503 (%.1f s later)", what, time.monotonic() - since)


def unavailable(request: Request, exception: Exception) -> HTTPResponse:
    """503 + Retry-After + the French message, for a turn refused because a back end is down."""
    logger.warning("%s %s refused (503): %s", request.method if request else "?", request.path if request else "?", exception)
    text, seconds = retry_later()
    resp = response.json({"error": text}, status=503, headers={"Retry-After": str(seconds)})
    resp.headers["Cache-Control"] = "no-store"
    return resp


def install(app) -> None:
    """The 503 for BackendUnavailable on every route, and Rasa's tracker store wrapper made to let
    it through (checked at each request: a model loaded later gets a new agent)."""

    async def strict(request: Request) -> None:
        strict_tracker_store(getattr(request.app.ctx, "agent", None))

    app.error_handler.add(BackendUnavailable, unavailable)
    app.register_middleware(strict, "request")
