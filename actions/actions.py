"""The one custom action: route the latest message through the tree and answer."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.core import closures
from bot.core.not_that import not_that
from bot.core.tree import TOPICS, rates_answer
from bot.services import late_turns, runtime
from bot.store.database import now

logger = logging.getLogger(__name__)
ACTION_LISTEN = "action_listen"


def marker(event: dict) -> dict | None:
    """An answer's marker in a bot event ({topic, destination, alternatives}), or None."""
    said = ((event.get("data") or {}).get("custom") or {}).get("answer")
    return said if isinstance(said, dict) and isinstance(said.get("alternatives"), list) else None


def answer_before(events: list[dict]) -> dict | None:
    """The marker of the answer just before the latest message ({topic, destination, alternatives}: the
    other likely topics, bot/core/router.py), for a "non, c'est pas ça"; None when the bot said anything
    else in between, or nothing."""
    users = 0
    for event in reversed(events):
        if event.get("event") == "user":
            users += 1
            if users == 2:
                return None
        elif event.get("event") == "bot" and users == 1 and (said := marker(event)):
            return said
    return None


def instead_of(events: list[dict], text: str) -> str | None:
    """The topic of the answer the latest message corrects, when it is a click on one of that answer's
    alternatives: right after it (the chat page shows them after the rating's « Non », and the rating is
    no message) or after the assistant offered them for a typed no (bot/core/not_that.py). None else."""
    users = 0
    offered = None  # the buttons the assistant gave just before the click
    for event in reversed(events):
        if event.get("event") == "user":
            users += 1
            if users == 3:
                return None
            continue
        if event.get("event") != "bot" or not users:
            continue
        data = event.get("data") or {}
        said = marker(event)
        if said:
            choices = [b.get("payload") for b in said["alternatives"] if isinstance(b, dict)]
            right_after = users == 1 or offered == choices
            return said.get("topic") if right_after and text in choices else None
        if users == 1 and data.get("buttons"):
            offered = [b.get("payload") for b in data["buttons"] if isinstance(b, dict)]
    return None


class ActionRoute(Action):
    """Answer a message with the tree node it routes to, and record the turn."""

    def name(self) -> str:
        return "action_route"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        router = runtime.router()
        message = tracker.latest_message or {}
        # Cut to the chat's limit before routing or storing: the channels already cut what they pass
        # on (bot/web/chat.py), so this only bounds a text that came some other way.
        text = (message.get("text") or "")[: router.max_chars]
        misses = int(tracker.get_slot("misses") or 0)
        decision = not_that(router, router.decide(text, message, misses), answer_before(tracker.events))
        # A topic chosen among an answer's alternatives: the person's own label for the words answered wrong.
        wrong = instead_of(tracker.events, text) if decision.action == "answer" and decision.topic in TOPICS else None
        wrong = wrong if wrong != decision.topic else None  # the same topic chosen again corrects nothing

        user_event = tracker.get_last_event_for("user") or {}
        # A closure day today or soon: said before the hours (a test server's clock in the metadata).
        today = runtime.opening_now((user_event.get("metadata") or {}).get("now")).date()
        decision = closures.with_closures(decision, router.pref, today)
        shown = [decision.answer]
        if (user_event.get("metadata") or {}).get("truncated"):
            shown.insert(0, router.message("too_long"))
            dispatcher.utter_message(text=shown[0])
        # A leaf's short form for the chat page ({lead, items, more}: bot/core/display.py), with its text.
        display = {"display": decision.display} if decision.display else None
        dispatcher.utter_message(text=decision.answer, buttons=decision.buttons or None, json_message=display)
        if decision.links:
            dispatcher.utter_message(json_message={"links": decision.links})

        prefecture_id = runtime.prefecture().id
        channel = tracker.get_latest_input_channel() or "unknown"
        when = now()
        # What the person saw in answer, kept with the turn for the agents' transcript.
        reply = {"texts": shown, "buttons": [b["title"] for b in decision.buttons], "links": decision.links}

        turn = {  # JSON values only: what the spool keeps if the turn has to wait (issue 16)
            "conversation_id": tracker.sender_id,
            "channel": channel,
            "text": text,
            "topic": decision.topic,
            "confidence": float(decision.confidence),
            "destination": decision.destination_given,
            "node": decision.node,
            "action": decision.action,
            "resolved": bool(decision.resolved),
            "misses": int(decision.misses),
            "prefecture": prefecture_id,
            "ts": when,
            "reply": reply,
            "corrects": wrong,
        }

        def late() -> bool:  # the person was answered 503 without this turn: it records nothing (issue 16)
            return late_turns.drop(tracker.sender_id, [user_event.get("message_id")], "its record is not written")

        def record(store) -> None:
            if not late():  # checked again in the writer's thread, just before the write
                store.record_turn(**turn)

        # Off the event loop, on a connection that waits 250 ms at most for a locked store; then the
        # turn is written in the background, in order (issue 11): the answer never waits for a lock,
        # and the waiting turn is on local disk first (the chat's spool, issue 16: a kill -9 loses it not).
        try:
            what = f"the turn of {tracker.sender_id}"
            written = not late() and await runtime.turn_writer().write(tracker.sender_id, what, record, kept=("turn", turn))
        except Exception:  # noqa: BLE001 - a store failure must not cost the user the answer
            logger.exception("could not record the turn of %s", tracker.sender_id)
        else:
            # A routed answer (any leaf but the person, as by phone): the chat page offers its rating
            # (POST /chat/feedback), which needs the conversation recorded above (now, not later).
            if written and decision.action == "answer" and decision.node and rates_answer(runtime.tree().node(decision.node)):
                said = {"topic": decision.topic, "destination": decision.destination, "alternatives": decision.alternatives}
                dispatcher.utter_message(json_message={"answer": said})
        # The turn ends here, as config.yml's rule says (action_route, then listen): said by the action,
        # Rasa listens without running the policies a second time for the turn (docs/floor.md).
        return [SlotSet("misses", float(decision.misses)), FollowupAction(ACTION_LISTEN)]
