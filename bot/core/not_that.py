"""A "no" right after an answer ("non, c'est pas ça"): the answer's alternatives instead of the menu.

The router keeps, with an answer to the person's words, its alternatives (bot/core/router.py
`_with_alternatives`: the other likely topics and a person); the chat's action finds them in the answer's
marker (actions/actions.py `answer_before`) and gives them here to the deny intent's decision.
"""

from __future__ import annotations

from dataclasses import replace

from bot.core.decision import Decision
from bot.core.tree import TOPICS


def not_that(router, decision: Decision, said: dict | None) -> Decision:
    """The deny intent's decision right after an answer (`said`: its marker, {topic, alternatives}): its
    alternatives as buttons, with the tree's `not_that` message. A clarification, as the turn is recorded:
    the conversation is unresolved until a topic is chosen, under the topic of the answer said wrong."""
    alternatives = (said or {}).get("alternatives")
    if decision.topic != "deny" or not alternatives:
        return decision
    return replace(
        decision,
        topic=said.get("topic") if said.get("topic") in TOPICS else None,
        action="clarify",
        resolved=False,
        answer=router.message("not_that"),
        buttons=alternatives,
        voice=router.voice_message("not_that"),
        matched_by="none",
    )
