"""The chat's bound on a turn (`settings.chat_answer_within_ms`, bot/web/degraded.py) counts from the end
of this process's earlier turns of the same conversation, not from the turn's arrival: Rasa runs one turn
of a conversation at a time (its lock store), so a person's quick messages wait behind each other, and
that wait is not a back end failing (CI of b36833f: 20 messages of one sender sent at once on a loaded
machine, the last ten got the 503). Other conversations never wait in that line.

In process, on the event loop: each "turn" takes the conversation's lock, as Rasa's lock store does, and
works `WORK_S`; the bound is set to `BOUND_MS`, shorter than the turns of one conversation together and
far longer than one turn."""

from __future__ import annotations

import asyncio

import pytest
from conftest import run_async

from bot.nlu.outage import BackendUnavailable
from bot.services import late_turns, runtime
from bot.web import degraded

WORK_S = 0.3
BOUND_MS = 2000
TURNS = 8  # 8 x 0.3 s = 2.4 s: past the bound were it counted from the arrival


@pytest.fixture
def bound(monkeypatch):
    monkeypatch.setitem(runtime.tree().settings, "chat_answer_within_ms", BOUND_MS)


def rasa_like(locks: dict[str, asyncio.Lock], sender: str, done: list[str], name: str, work_s: float = WORK_S):
    """A turn as Rasa runs it: the conversation's lock, then the work."""

    async def turn() -> str:
        async with locks.setdefault(sender, asyncio.Lock()):
            await asyncio.sleep(work_s)
            done.append(name)
            return name

    return turn()


def test_quick_messages_of_one_conversation_are_each_bounded_from_the_end_of_the_one_before(bound):
    async def scenario():
        locks: dict[str, asyncio.Lock] = {}
        done: list[str] = []
        turns = [degraded.answered_within(rasa_like(locks, "web-one", done, f"m{i}"), f"id-{i}", "web-one") for i in range(TURNS)]
        return await asyncio.gather(*turns, return_exceptions=True), done

    results, done = run_async(scenario())
    assert results == [f"m{i}" for i in range(TURNS)]  # every one answered, none a 503
    assert done == [f"m{i}" for i in range(TURNS)]  # in the order sent
    assert degraded._in_line == {}  # the line is dropped once nobody holds or waits for it


def test_a_turn_that_does_not_end_gets_the_503_and_the_next_one_is_bounded_from_then(bound):
    """A turn whose back end does not answer (work far past the bound) gets BackendUnavailable at the bound
    and is marked given up; the conversation's next turn, bounded from that moment, waits for Rasa's lock
    within its own bound and gets its 503 too, while another conversation is answered meanwhile."""

    async def scenario():
        locks: dict[str, asyncio.Lock] = {}
        done: list[str] = []
        stuck = degraded.answered_within(rasa_like(locks, "web-two", done, "stuck", work_s=30), "id-stuck", "web-two")
        after = degraded.answered_within(rasa_like(locks, "web-two", done, "after"), "id-after", "web-two")
        other = degraded.answered_within(rasa_like(locks, "web-other", done, "other"), "id-other", "web-other")
        results = await asyncio.gather(stuck, after, other, return_exceptions=True)
        marked = late_turns.given_up(["id-stuck"])
        for task in asyncio.all_tasks() - {asyncio.current_task()}:  # the turns left to end on their own
            task.cancel()
        return results, done, marked

    (stuck, after, other), done, marked = run_async(scenario())
    assert isinstance(stuck, BackendUnavailable) and isinstance(after, BackendUnavailable)
    assert other == "other" and done == ["other"]
    assert marked is True
