"""Issue 14, items 3, 4, 5 and 8 on a real SQLite store: one definition of "non résolu" shared by the
queue, the indicators and the report; the destination actually given; the top questions without
politeness; the transcript with the assistant's side and what a caller heard."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.core.clock import paris_today
from bot.core.config import load_prefecture
from bot.core.router import Router, button_payload
from bot.core.tree import load_tree
from bot.quality import indicators, report
from bot.services.queue import Filters, Queue
from bot.store.database import Store

pytestmark = pytest.mark.usefixtures("store_backend")  # SQLite and PostgreSQL (tests/store_backends.py)

PREF = load_prefecture("cantal")
TREE = load_tree()


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "u.db")
    yield s
    s.close()


def parse(name, confidence, ranking=None):
    ranking = ranking or [{"name": name, "confidence": confidence}]
    return {"intent": {"name": name, "confidence": confidence}, "intent_ranking": ranking, "entities": []}


def say(store, conv, text, decision, corrects=None):
    """Record a turn exactly as the chat's action does (actions/actions.py)."""
    store.record_turn(
        conv,
        "web",
        text,
        decision.topic,
        decision.confidence,
        decision.destination_given,
        decision.node,
        decision.action,
        decision.resolved,
        decision.misses,
        "cantal",
        reply={"texts": [decision.answer], "buttons": [b["title"] for b in decision.buttons], "links": decision.links},
        corrects=corrects,
    )


def click(router, node):
    """A click on the button to a node, as the router reads it."""
    parsed = {"intent": {"name": "navigate", "confidence": 1.0}, "entities": [{"entity": "node", "value": node}]}
    return button_payload(node), router.decide(button_payload(node), parsed, 0)


@pytest.fixture()
def router():
    return Router(TREE, PREF)


VAGUE = [{"name": "rdv_pan", "confidence": 0.3}, {"name": "armes", "confidence": 0.2}]


def test_a_clarification_gives_no_destination_and_a_fallback_gives_a_person(router):
    clarify = router.decide("bla bla truc", parse("rdv_pan", 0.3, VAGUE), misses=0)
    assert (clarify.action, clarify.destination_given, clarify.topic) == ("clarify", None, "rdv_pan")
    fallback = router.decide("bla bla truc", parse("rdv_pan", 0.3, VAGUE), misses=1)
    assert (fallback.action, fallback.destination_given, fallback.node) == ("fallback", "human", "human")
    answer = router.decide("comment refaire ma carte grise", parse("carte_grise", 0.93))
    assert answer.destination_given == "ants_3400"


def conversations(store, router):
    """c1 clarified then answered; c2 left on a clarification; c3 fell back to a person; c4 asked, got no
    answer and said thanks; c5 got an answer, then said hello and thanks."""
    say(store, "c1", "bla bla truc", router.decide("bla bla truc", parse("rdv_pan", 0.3, VAGUE), 0))
    say(
        store,
        "c1",
        button_payload("carte_grise"),
        router.decide(
            button_payload("carte_grise"),
            {"intent": {"name": "navigate", "confidence": 1.0}, "entities": [{"entity": "node", "value": "carte_grise"}]},
            1,
        ),
    )
    say(store, "c2", "zorglub", router.decide("zorglub", parse("armes", 0.2, VAGUE), 0))
    say(store, "c3", "zorglub", router.decide("zorglub", parse("armes", 0.2, VAGUE), 0))
    say(store, "c3", "zorglub encore", router.decide("zorglub encore", parse("armes", 0.2, VAGUE), 1))
    say(store, "c4", "bidule", router.decide("bidule", parse("armes", 0.2, VAGUE), 0))
    say(store, "c4", "merci", router.decide("merci", parse("thanks", 0.99), 1))
    say(store, "c5", "bonjour", router.decide("bonjour", parse("greet", 0.99), 0))
    say(store, "c5", "horaires de la préfecture", router.decide("horaires", parse("horaires_contact", 0.95), 0))
    say(store, "c5", "merci", router.decide("merci", parse("thanks", 0.99), 0))
    say(store, "c5", "Merci !", router.decide("Merci !", parse("thanks", 0.99), 0))


def test_the_queue_the_indicators_and_the_report_count_the_same_unresolved(store, router):
    conversations(store, router)
    today = paris_today()
    queue = Queue(store, TREE).page(Filters())
    assert sorted(row["id"] for row in queue["rows"]) == ["c2", "c3", "c4"]
    by_id = {i["id"]: i for i in indicators.compute(store, PREF, today, today, today=today, tree=TREE)}
    assert (by_id["chat_unresolved"]["value"], by_id["chat_unresolved"]["count"]) == (0.6, 5)
    assert (by_id["chat_self_service"]["value"], by_id["chat_self_service"]["count"]) == (0.4, 5)  # c1, c5
    assert (by_id["chat_handoff"]["value"], by_id["chat_handoff"]["count"]) == (0.2, 5)  # c3
    themes = report.unresolved_themes(store, "cantal", today, today)
    assert sum(chat for _, chat, _ in themes) == 3
    assert themes == [("Aide pour une démarche en ligne", 3, 0)]  # the guess of the unanswered question


@pytest.mark.parametrize(
    "text, intent",
    [("d'accord, merci bien", "affirm"), ("ok", "affirm"), ("non", "deny"), ("êtes-vous un robot ?", "bot_challenge")],
)
def test_a_yes_no_or_are_you_a_robot_after_a_clarification_leaves_it_unresolved(store, router, text, intent):
    """An outside-in audit of the indicators: "ok" or "d'accord, merci bien" (read as yes), "non", or
    "êtes-vous un robot ?" after a clarifying question counted the conversation as resolved without an
    agent, and it left the agents' queue. Like "merci", they answer nothing: the question before decides."""
    say(store, "y1", "où en est mon dossier", router.decide("où en est mon dossier", parse("rdv_pan", 0.3, VAGUE), 0))
    say(store, "y1", text, router.decide(text, parse(intent, 0.99), 1))
    assert store.db.execute("select status, last_topic from conversations where id = 'y1'").fetchone() == (
        "unresolved",
        "rdv_pan",
    )
    assert [row["id"] for row in Queue(store, TREE).page(Filters())["rows"]] == ["y1"]
    today = paris_today()
    assert report.top_questions(store, "cantal", today, today) == [("où en est mon dossier", 1)]


def test_messages_by_destination_count_what_was_given(store, router):
    conversations(store, router)
    today = paris_today()
    by_id = {i["id"]: i for i in indicators.compute(store, PREF, today, today, today=today, tree=TREE)}
    # Clarifications, greetings and thanks give no destination; the fallback gives a person.
    assert by_id["chat_destinations"]["breakdown"] == {"(aucune)": 8, "ants_3400": 1, "info": 1, "human": 1}


def test_the_top_questions_leave_out_greetings_thanks_and_goodbyes(store, router):
    conversations(store, router)
    today = paris_today()
    assert report.top_questions(store, "cantal", today, today) == [
        ("zorglub", 2),
        ("bidule", 1),
        ("bla bla truc", 1),
        ("horaires de la préfecture", 1),
        ("zorglub encore", 1),
    ]


def test_migration_010_corrects_rows_written_before(store):
    # Rows as the former code wrote them: the guessed topic's destination on a clarification, `other`
    # on a fallback, and a conversation left 'unresolved' after a later answer.
    db = store.db
    db.execute("delete from migrations where name = '010_unresolved_by_last_turn'")
    db.execute("alter table turns drop column reply")
    rows = [
        ("old1", "clarify", "rdv_pan", "pan_rdv", "rdv_pan", 0),
        ("old1", "fallback", "hors_perimetre", "other", "human", 0),
        ("old1", "answer", "carte_grise", "ants_3400", "carte_grise", 1),
        ("old2", "answer", "carte_grise", "ants_3400", "carte_grise", 1),
        ("old2", "clarify", "armes", "mailbox", "armes", 0),
        ("old2", "answer", "thanks", None, None, 1),
    ]
    for conv, status in (("old1", "unresolved"), ("old2", "open")):
        db["conversations"].insert({"id": conv, "channel": "web", "prefecture": "cantal", "status": status})
    for conv, action, topic, dest, node, resolved in rows:
        db["turns"].insert(
            {
                "conversation_id": conv,
                "action": action,
                "topic": topic,
                "destination": dest,
                "node": node,
                "resolved": resolved,
                "text": "x",
            }
        )
    assert store.migrate() == ["010_unresolved_by_last_turn"]
    got = [(r["action"], r["destination"]) for r in db.query("select action, destination from turns order by id")]
    assert got == [
        ("clarify", None),
        ("fallback", "human"),
        ("answer", "ants_3400"),
        ("answer", "ants_3400"),
        ("clarify", None),
        ("answer", None),
    ]
    got = {r["id"]: (r["status"], r["last_topic"]) for r in db.query("select id, status, last_topic from conversations")}
    assert got == {"old1": ("open", "carte_grise"), "old2": ("unresolved", "armes")}  # "merci" aside


def test_migration_013_reopens_conversations_left_on_a_yes_after_a_clarification(store, router):
    say(store, "m1", "où en est mon dossier", router.decide("où en est mon dossier", parse("rdv_pan", 0.3, VAGUE), 0))
    say(store, "m1", "ok", router.decide("ok", parse("affirm", 0.99), 1))
    say(store, "m2", "horaires", router.decide("horaires", parse("horaires_contact", 0.95), 0))
    say(store, "m2", "ok", router.decide("ok", parse("affirm", 0.99), 0))
    # As the code before it wrote them: the "ok" decided.
    store.db.execute("update conversations set status = 'open', last_topic = 'affirm', last_destination = null")
    store.db.execute("delete from migrations where name = '013_small_talk_leaves_the_status'")
    assert store.migrate() == ["013_small_talk_leaves_the_status"]
    got = {r["id"]: (r["status"], r["last_topic"], r["last_destination"]) for r in store.db.query("select * from conversations")}
    assert got == {"m1": ("unresolved", "rdv_pan", None), "m2": ("open", "horaires_contact", "info")}


def test_the_sentence_offered_to_teach_is_the_last_unanswered_one_not_the_greeting(store, router):
    """An outside-in audit: with "bonjour j'ai un souci" / "c'est compliqué à expliquer" / "mon titre
    expire et j'ai pas de rdv" all unanswered, the form chose the first, and ticking "Apprendre" taught
    the greeting as a residence permit. The need is told last: the last unanswered sentence is chosen."""
    for text in ("bonjour j'ai un souci", "c'est compliqué à expliquer", "mon titre expire et j'ai pas de rdv"):
        say(store, "s1", text, router.decide(text, parse("rdv_pan", 0.3, VAGUE), 0))
    say(store, "s1", "merci", router.decide("merci", parse("thanks", 0.99), 1))
    item = Queue(store, TREE, PREF).item("chat", "s1")
    assert item["default_example"] == "mon titre expire et j'ai pas de rdv"


def test_answers_the_public_said_did_not_help_are_a_queue_of_their_own(store, router):
    """An outside-in audit: "jai plus de droit au travail a cause de vous" got « ne relève pas de la
    préfecture », rated « pas utile » with "nul, je parlais de mon titre de séjour": the conversation
    was answered, so it was in no queue, and its comment on no page. `avis=pas_utile` lists the
    answers rated not useful (chat and phone), with the person's comment, whatever their status; the
    queue of unresolved items is unchanged (the indicators' definition)."""
    from bot.services import feedback as feedback_mod

    say(store, "f1", "jai plus de droit au travail", router.decide("x", parse("hors_perimetre", 0.97), 0))
    say(store, "f2", "horaires de la préfecture", router.decide("horaires", parse("horaires_contact", 0.95), 0))
    say(store, "f3", "zorglub", router.decide("zorglub", parse("armes", 0.2, VAGUE), 0))
    feedback_mod.record(
        store, kind="chat", item_id="f1", prefecture="cantal", useful=False, comment="nul, je parlais de mon titre de séjour"
    )
    feedback_mod.record(store, kind="chat", item_id="f2", prefecture="cantal", useful=True, comment=None)
    queue = Queue(store, TREE)
    assert [r["id"] for r in queue.page(Filters())["rows"]] == ["f3"]
    rated = queue.page(Filters(rated="pas_utile"))["rows"]
    assert [(r["id"], r["excerpt"]) for r in rated] == [("f1", "nul, je parlais de mon titre de séjour")]
    assert Filters.from_args({"avis": "pas_utile"}.get).rated == "pas_utile"
    assert Filters.from_args({"avis": "n'importe quoi"}.get).rated == ""
    item = queue.item("chat", "f1")
    assert (item["rating"]["useful"], item["rating"]["comment"]) == (0, "nul, je parlais de mon titre de séjour")


def test_answers_the_person_corrected_are_a_queue_of_their_own(store, router):
    """A confident mistake mended by the person: answered « hors périmètre », they chose « Titre de séjour »
    among the alternatives. Answered in the end, so no unresolved item: `avis=corrige` lists it, with the
    words answered wrong as its excerpt, and its item is ready to teach them under the topic chosen. Once
    the words answered wrong are purged (each turn at its own date), it has nothing left to teach."""
    words = "jai plus de droit au travail a cause de vous"
    say(store, "k1", words, router.decide(words, parse("hors_perimetre", 0.97), 0))
    say(store, "k1", *click(router, "titre_sejour"), corrects="hors_perimetre")
    say(store, "k2", "horaires de la préfecture", router.decide("horaires", parse("horaires_contact", 0.95), 0))
    say(store, "k2", *click(router, "carte_grise"))  # another question, by the menu: no correction
    say(store, "k2", "merci", router.decide("merci", parse("thanks", 0.99), 0))  # politeness: no answer of a topic
    say(store, "k3", "zorglub", router.decide("zorglub", parse("armes", 0.2, VAGUE), 0))
    queue = Queue(store, TREE)
    assert [r["id"] for r in queue.page(Filters())["rows"]] == ["k3"]
    corrected = queue.page(Filters(rated="corrige"))["rows"]
    assert [(r["id"], r["excerpt"], r["topic"], r["chosen"]) for r in corrected] == [
        ("k1", words, "hors_perimetre", "titre_sejour")
    ]
    assert Filters.from_args({"avis": "corrige"}.get).rated == "corrige"
    assert queue.page(Filters(rated="corrige", channel="phone"))["rows"] == []
    # its filter by topic guessed is the topic answered (shown in that column), not the one chosen; a
    # call's is the topic its words were answered before the caller's key (calls.corrected_topic)
    store.db["calls"].insert(
        {"call_sid": "CAk4", "prefecture": "cantal", "started_at": "2026-12-01T08:00:00.000+00:00", "node": "titre_sejour"}
        | {"path": "[]", "inputs": "[]", "unresolved": 0, "corrected": 1, "corrected_topic": "hors_perimetre"},
        alter=True,
    )
    assert [r["id"] for r in queue.page(Filters(rated="corrige", topic="hors_perimetre"))["rows"]] == ["k1", "CAk4"]
    assert queue.page(Filters(rated="corrige", topic="titre_sejour"))["rows"] == []
    store.db.execute("delete from calls where call_sid = 'CAk4'")
    item = queue.item("chat", "k1")
    assert item["correction"] == {"said": words, "answered": "hors_perimetre", "chosen": "titre_sejour"}
    assert item["default_example"] == words
    # The indicator: of the answers to the person's words (k1's and k2's first; k2's click is no words,
    # its thanks no topic), the share they corrected
    today = paris_today()
    by_id = {i["id"]: i for i in indicators.compute(store, PREF, today, today, today=today, tree=TREE)}
    assert (by_id["chat_corrected"]["value"], by_id["chat_corrected"]["count"]) == (0.5, 2)
    assert by_id["chat_corrected"]["label"] == "Réponses corrigées par la personne (autre thème choisi parmi les propositions)"
    store.db.execute("delete from turns where conversation_id = 'k1' and text = ?", [words])
    assert queue.page(Filters(rated="corrige"))["rows"] == []
    assert queue.item("chat", "k1")["correction"] is None


def test_the_persons_choices_are_learned_in_one_go_where_no_agent_reviewed(store, router):
    """« Apprendre les choix cochés » (/console/file?avis=corrige): each item checked gets the review an
    agent would give it from its page (treated, the topic the person chose, the words answered wrong to
    learn), in the audit log as the person's choice. Left as they are: an item an agent already reviewed
    (their review stands), one whose words answered wrong were purged, one with no correction, an
    unknown id."""
    words = "jai plus de droit au travail a cause de vous"
    for conv in ("b1", "b2", "b3"):
        say(store, conv, words, router.decide(words, parse("hors_perimetre", 0.97), 0))
        say(store, conv, *click(router, "titre_sejour"), corrects="hors_perimetre")
    say(store, "b4", "horaires de la préfecture", router.decide("horaires", parse("horaires_contact", 0.95), 0))
    queue = Queue(store, TREE)
    assert [(r["id"], r["chosen"]) for r in queue.page(Filters(rated="corrige"))["rows"]] == [
        ("b3", "titre_sejour"),
        ("b2", "titre_sejour"),
        ("b1", "titre_sejour"),
    ]
    queue.label("chat", "b2", "agent-a", "armes", "in_review", "", False, "")
    store.db.execute("delete from turns where conversation_id = 'b3' and text = ?", [words])
    checked = [("chat", "b1"), ("chat", "b2"), ("chat", "b3"), ("chat", "b4"), ("chat", "inconnu")]
    assert queue.learn_choices("agent-b", checked) == (1, 4)
    reviews = {
        r["item_id"]: (r["status"], r["topic"], r["example"], r["as_training"], r["reviewer"])
        for r in store.db["reviews"].rows_where(order_by="item_id")
    }
    assert reviews == {
        "b1": ("done", "titre_sejour", words, 1, "agent-b"),
        "b2": ("in_review", "armes", None, 0, "agent-a"),
    }
    audit = [
        (a["agent"], a["action"], a["item_id"], json.loads(a["detail"])) for a in store.db["audit_log"].rows_where(order_by="id")
    ]
    assert audit[-1] == (
        "agent-b",
        "label",
        "b1",
        {"status": "done", "topic": "titre_sejour", "as_training": 1, "with_note": False, "person_choice": True},
    )
    assert len(audit) == 2


def test_the_corrected_view_reads_the_index_of_the_few_corrections(tmp_path, router):
    """The view's condition, as SQLite plans it on an analysed store where most turns correct nothing:
    `is not null` read every turn (its statistics count the NULLs as one value), `> 0` the index."""
    from bot.services.queue_list import VIEW_CALLS, VIEW_CHATS

    store = Store(tmp_path / "plan.db")
    if store.backend != "sqlite":
        pytest.skip("SQLite's query planner: PostgreSQL keeps the share of NULLs in its statistics")
    for n in range(300):
        say(store, f"p{n}", "horaires de la préfecture", router.decide("horaires", parse("horaires_contact", 0.95), 0))
    say(store, "p0", *click(router, "titre_sejour"), corrects="horaires_contact")
    store.db.execute("analyze")
    plans = {
        view: " | ".join(row[3] for row in store.db.execute(f"explain query plan select count(*) from {table} where {where}"))
        for view, table, where in [
            ("chat", "conversations c", VIEW_CHATS["corrige"]),
            ("phone", "calls k", VIEW_CALLS["corrige"]),
        ]
    }
    store.close()
    assert "SEARCH t USING INDEX idx_turns_corrects (corrects>?)" in plans["chat"] and "SCAN t" not in plans["chat"], plans
    assert "INDEX idx_calls_corrected (corrected>?)" in plans["phone"], plans


def test_the_transcript_shows_what_the_person_saw(store, router):
    conversations(store, router)
    item = Queue(store, TREE, PREF).item("chat", "c1")
    first, second = item["turns"]
    assert first["text"] == "bla bla truc"
    assert first["shown"]["texts"] == [router.message("clarify")]
    assert first["shown"]["buttons"] == [
        "Aide pour une démarche en ligne",
        "Armes (SIA)",
        "Parler à un agent",
    ]
    assert second["clicked"] == "Carte grise"
    assert second["shown"]["texts"][0].startswith("Les démarches de carte grise")
    assert second["shown"]["links"] == [
        {"title": "Faire ma démarche de carte grise sur le site officiel de l'ANTS", "url": "https://ants.gouv.fr"}
    ]


def test_a_call_transcript_says_what_the_caller_heard(store):
    store.db["calls"].insert(
        {
            "call_sid": "CA" + "1" * 32,
            "prefecture": "cantal",
            "started_at": "2026-12-01T08:00:00.000+00:00",
            "node": "carte_grise",
            "path": json.dumps(["root", "vehicule", "carte_grise"]),
            "inputs": json.dumps([{"step": 1, "digits": "1"}, {"step": 2, "digits": "1"}]),
            "outcome": "answered",
            "unresolved": 1,
        },
        alter=True,
    )
    item = Queue(store, TREE, PREF).item("phone", "CA" + "1" * 32)
    heard = [(p["title"], p["heard"]) for p in item["path"]]
    assert heard[0][1].startswith(
        "Dites en quelques mots l'objet de votre appel, ou choisissez : Carte grise ou permis, tapez 1."
    )
    assert heard[1] == (
        "Carte grise ou permis",
        "Carte grise ou permis de conduire. Carte grise, tapez 1. Permis de conduire, tapez 2.",
    )
    assert heard[2][0] == "Carte grise" and heard[2][1].startswith("La carte grise se fait uniquement en ligne")
    assert "https://ants.gouv.fr" in heard[2][1] and "34 00" in heard[2][1]


def test_a_turn_recorded_before_replies_were_kept_names_the_node(store):
    store.record_turn("old", "web", "carte grise", "carte_grise", 0.9, "ants_3400", "carte_grise", "answer", True, 0, "cantal")
    (turn,) = Queue(store, TREE, PREF).item("chat", "old")["turns"]
    assert turn["shown"] == {"texts": [], "buttons": [], "links": [], "recorded": False, "node_title": "Carte grise"}


def test_the_queue_filters_still_use_paris_days(store, router):
    conversations(store, router)
    tomorrow = (paris_today() + timedelta(days=1)).isoformat()
    assert Queue(store, TREE).page(Filters(date_from=tomorrow))["total"] == 0
