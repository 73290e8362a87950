"""The NLU's intent ranking as the router reads it. Pure, no Rasa import."""

from __future__ import annotations

# A request without a subject ("j'ai une question"): asked which procedure, with the menu of topics.
VAGUE_INTENT = "vague_request"


def put_first(ranking: list[dict], name: str) -> list[dict]:
    """The NLU ranking with intent `name` first (added with confidence 0 when the model ranked it not)."""
    hit = next((r for r in ranking if r.get("name") == name), {"name": name, "confidence": 0.0})
    return [hit] + [r for r in ranking if r is not hit]


def without_vague(name: str | None, confidence: float, ranking: list[dict], below: float) -> tuple[float, list[dict]]:
    """When the model's first intent is not the vague one and gives it less than `below`: the
    confidences as if the vague intent were not there (each divided by the share left to the others).
    A small share says how specific the message is, not which topic it is about: the openings of a
    call ("euh bonjour je vous appelle parce que") would otherwise take a named topic below the
    threshold. A larger one is left as it is: the message may name no subject, and a near tie must not
    become a sure answer (docs/pipeline.md, fourteenth pass)."""
    vague = next((float(r.get("confidence") or 0) for r in ranking if r.get("name") == VAGUE_INTENT), 0.0)
    if name == VAGUE_INTENT or not 0 < vague < min(below, 1.0):
        return confidence, ranking
    rest = 1 - vague
    kept = [dict(r, confidence=float(r.get("confidence") or 0) / rest) for r in ranking if r.get("name") != VAGUE_INTENT]
    return confidence / rest, kept
