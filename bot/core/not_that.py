"""A "no" right after an answer ("non, c'est pas ça"): the answer's alternatives instead of the menu.

The router keeps, with an answer to the person's words, its alternatives (bot/core/router.py
`_with_alternatives`: the other likely topics and a person); the chat's action finds them in the answer's
marker (actions/actions.py `answer_before`) and gives them here to the deny intent's decision.
"""

from __future__ import annotations

from dataclasses import replace

from bot.core.decision import Decision
from bot.core.text import norm
from bot.core.tree import TOPICS


def closes(tree, text: str) -> bool:
    """Whether a "no" closes the conversation rather than says the answer was wrong: "non merci", "non
    c'est bon" (the phone's `spoken_done`, which end a call after an answer)."""
    return norm(text) in {norm(p) for p in tree.phone.get("spoken_done") or []}


def not_that(router, decision: Decision, said: dict | None) -> Decision:
    """The deny intent's decision right after an answer (`said`: its marker, {topic, alternatives}): its
    alternatives as buttons, with the tree's `not_that` message. A clarification, as the turn is recorded:
    the conversation is unresolved until a topic is chosen, under the topic of the answer said wrong."""
    alternatives = (said or {}).get("alternatives")
    if decision.topic != "deny" or not alternatives or closes(router.tree, decision.text):
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
