"""Measure the routing on labelled questions: route one text as the chat does, score a set.

Used by `python -m bot eval`, the retrain gate (bot/console/export.py) and the benchmarks.
"""

from __future__ import annotations

from collections import Counter

from sklearn.metrics import precision_recall_fscore_support

from bot.core import config as config_mod
from bot.core import tree as tree_mod
from bot.core import yaml_text
from bot.core.masking import prepare
from bot.core.router import Router
from bot.core.text import norm


def router(prefecture: str | None) -> Router:
    pref = config_mod.load_prefecture(prefecture)
    tree = tree_mod.current()
    tree_mod.check_placeholders(tree, pref)
    return Router(tree, pref)


def route_one(router: Router, nlu, raw: str) -> dict:
    """The fields of `python -m bot route`: the decision, for a clarifying question the choices its
    buttons offer (`choices`: node, topic, destination; empty for any other action), and for an answer
    to the words its alternatives, offered if it did not help (`alternatives`, the same fields)."""
    text, _ = prepare(raw, router.max_chars)
    decision = router.decide(text, nlu.parse(text))
    offered = choices(router, decision) if decision.action == "clarify" else []
    nodes = {"choices": offered, "alternatives": choices(router, decision, decision.alternatives)}
    return (
        decision.public()
        | {"text": raw, "menu": decision.menu}
        | {k: [{"node": n.id, "topic": n.topic, "destination": n.destination} for n in v] for k, v in nodes.items()}
    )


def no_subject(turns: list[tuple[str, bool]]) -> dict:
    """How requests that name no procedure (eval items without a `topic`) were met, from each first
    turn's (action, asked with the menu): asked which procedure with the menu of topics, asked with
    the likely topics, or answered (a wrong answer: nothing in them says where to go)."""
    return {
        "n": len(turns),
        "menu": sum(1 for action, menu in turns if action == "clarify" and menu),
        "likely_topics": sum(1 for action, menu in turns if action == "clarify" and not menu),
        "answered": sum(1 for action, _ in turns if action != "clarify"),
    }


def apart_no_subject(items: list[dict], predictions: list) -> tuple[list[dict], list, list]:
    """The items that have a `topic` and their predictions, then the predictions of those without one
    (requests that name no procedure: not scored, counted by `no_subject`)."""
    pairs = list(zip(items, predictions))
    scored = [(i, p) for i, p in pairs if i.get("topic")]
    return [i for i, _ in scored], [p for _, p in scored], [p for i, p in pairs if not i.get("topic")]


def choices(router: Router, decision, buttons: list[dict] | None = None) -> list:
    """The nodes a decision's buttons (or `buttons`: its alternatives) lead to, the button to a person left
    out; a button to a menu without a topic of its own ("Carte grise, permis, carte d'identité ou
    passeport") offers its children."""
    nodes = [router.tree.button_target(b["payload"]) for b in (decision.buttons if buttons is None else buttons)]
    nodes = [n for n in nodes if n is not None and n.topic != "human_handoff"]
    return [c for n in nodes for c in ([n] if n.topic else [n, *router.tree.children(n.id)])]


def offered(pairs: list[tuple], topic: str, destination: str | None = None) -> bool:
    """Whether choices, as (topic, destination) pairs, include the right way on: the expected topic,
    or the expected destination (a file's follow-up about a residence permit is served by the
    "Titre de séjour" button too)."""
    return any(t == topic or (destination is not None and d == destination) for t, d in pairs)


def training_texts() -> set[str]:

    texts: set[str] = set()
    for path in (config_mod.ROOT / "data").rglob("*.yml"):
        data = yaml_text.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    texts.add(norm(line[2:]))
    return texts


def evaluate(items: list[dict], predictions: list[dict]) -> dict:
    """Accuracy, per-topic precision/recall/F1, confusions and misses (pure, testable). Items without
    a `topic` (requests that name no procedure) are not scored: `no_subject` counts how they were met."""
    scored, scored_predictions, rest = apart_no_subject(items, predictions)
    if rest:
        met = [(p["action"], bool(p.get("menu"))) for p in rest]
        return evaluate(scored, scored_predictions) | {"no_subject": no_subject(met)}
    n = len(items)
    topic_ok = sum(p["topic"] == i["topic"] for i, p in zip(items, predictions))
    dest_ok = sum(p["destination"] == i["destination"] for i, p in zip(items, predictions))
    labels = sorted({i["topic"] for i in items} | {p["topic"] or "-" for p in predictions})
    truth = [i["topic"] for i in items]
    guess = [p["topic"] or "-" for p in predictions]
    prec, rec, f1, support = precision_recall_fscore_support(truth, guess, labels=labels, zero_division=0)
    per_topic = {
        label: {"precision": float(prec[k]), "recall": float(rec[k]), "f1": float(f1[k]), "support": int(support[k])}
        for k, label in enumerate(labels)
    }
    confusions = Counter((i["topic"], p["topic"]) for i, p in zip(items, predictions) if i["topic"] != p["topic"])
    misses = [
        {
            "id": i.get("id"),
            "text": i["text"],
            "expected": f"{i['topic']} -> {i['destination']}",
            "got": f"{p['topic']} -> {p['destination']}",
            "confidence": p["confidence"],
            "action": p["action"],
        }
        for i, p in zip(items, predictions)
        if i["topic"] != p["topic"] or i["destination"] != p["destination"]
    ]
    actions = Counter(p["action"] for p in predictions)
    asked = [
        offered([(c["topic"], c["destination"]) for c in p.get("choices") or []], i["topic"], i["destination"])
        for i, p in zip(items, predictions)
        if p["action"] == "clarify"
    ]
    wrong = [  # answered wrong: whether the alternatives offered after « Non » hold the right way on
        offered([(c["topic"], c["destination"]) for c in p.get("alternatives") or []], i["topic"], i["destination"])
        for i, p in zip(items, predictions)
        if p["action"] == "answer" and p["destination"] != i["destination"]
    ]
    return {
        "n": n,
        # None when nothing is scored (a file of requests that name no procedure): no accuracy, not 0
        "topic_accuracy": topic_ok / n if n else None,
        "destination_accuracy": dest_ok / n if n else None,
        "actions": dict(actions),
        "per_topic": per_topic,
        "confusions": [{"expected": a, "got": b, "count": c} for (a, b), c in confusions.most_common()],
        "misses": misses,
        # among the clarifying questions, those whose buttons offer the right way on
        "asked": len(asked),
        "asked_offered_right": sum(asked),
        "answered_wrong": len(wrong),
        "wrong_alternative_right": sum(wrong),
    }


def measure(items: list[dict], router: Router, nlu, training: set[str] | None = None) -> dict:
    """`evaluate` on the items not found in the training data (never measure on trained sentences)."""
    training = training_texts() if training is None else training
    kept = [i for i in items if norm(i["text"]) not in training]
    report = evaluate(kept, [route_one(router, nlu, i["text"]) for i in kept])
    report["dropped_found_in_training_data"] = len(items) - len(kept)
    return report
