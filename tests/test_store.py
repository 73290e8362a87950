"""The embedded store: real SQLite files, WAL mode, named migrations, masked text."""
import sqlite3

from bot.store import MIGRATIONS, Store


def turn(store, conv, text, action="answer", resolved=True, topic="carte_grise", misses=0):
    return store.record_turn(conv, "web", text, topic, 0.91234, "ants_3400", "carte_grise", action, resolved, misses, "cantal")


def test_a_turn_is_stored_with_its_routing(tmp_path):
    store = Store(tmp_path / "s.db")
    turn(store, "c1", "ma carte grise")
    assert store.turns("c1") == [{
        "id": 1, "conversation_id": "c1", "ts": store.turns("c1")[0]["ts"], "channel": "web",
        "text": "ma carte grise", "topic": "carte_grise", "confidence": 0.9123, "destination": "ants_3400",
        "node": "carte_grise", "action": "answer", "resolved": 1,
    }]
    conv = store.conversation("c1")
    assert (conv["turns"], conv["status"], conv["prefecture"], conv["last_topic"]) == (1, "open", "cantal", "carte_grise")


def test_the_store_masks_again_as_a_safety_net(tmp_path):
    store = Store(tmp_path / "s.db")
    turn(store, "c1", "rappelez moi au 06 12 34 56 78")
    assert store.turns("c1")[0]["text"] == "rappelez moi au [téléphone]"


def test_a_fallback_marks_the_conversation_unresolved_for_good(tmp_path):
    store = Store(tmp_path / "s.db")
    turn(store, "c1", "bla", action="clarify", resolved=False, misses=1)
    assert store.conversation("c1")["status"] == "open"
    turn(store, "c1", "bla bla", action="fallback", resolved=False, misses=2)
    assert store.conversation("c1")["status"] == "unresolved"
    turn(store, "c1", "carte grise")
    assert store.conversation("c1")["status"] == "unresolved"
    assert store.conversation("c1")["turns"] == 3


def test_wal_mode_and_migrations_applied_once(tmp_path):
    path = tmp_path / "s.db"
    store = Store(path)
    assert store.db.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert [r["name"] for r in store.db["migrations"].rows] == [name for name, _ in MIGRATIONS]
    store.close()
    again = Store(path)
    assert again.migrate() == []
    assert again.db["migrations"].count == len(MIGRATIONS)


def test_data_survives_a_reopen(tmp_path):
    path = tmp_path / "s.db"
    store = Store(path)
    turn(store, "c1", "permis")
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("select text from turns").fetchall() == [("permis",)]
    assert Store(path).count_turns() == 1
