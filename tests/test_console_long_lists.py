"""The console's long lists on a large préfecture's year, a page at a time (a server of its own). Found by
an outside-in audit (2026-12-04) on a year of a Gironde-size store: /console/messages sent every waiting
message of the year at once (2,425 rows, 1.3 MB; with the answered ones 11,952 rows, 6.4 MB, about a
second of the server's event loop, the chat's and the phone's too), and the queue's pagination linked
to every one of its 1,850 pages (208 kB for 20 rows)."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from conftest import launch, stop
from test_console import AGENT, cli

from bot.core import config
from bot.core.clock import paris_now

CANTAL = config.load_prefecture("cantal")
PER_PAGE = int(CANTAL.get("console.messages_per_page"))
QUEUE_PER_PAGE = int(CANTAL.get("console.queue_per_page"))
AROUND = int(CANTAL.get("console.page_links_around"))
QUEUE_PAGES = 30
ROW = re.compile(r'<tr data-reference="(MSG-\d{4}-\d{4})"')
QUEUE_ROW = re.compile(r'<tr data-kind="chat" data-id="([^"]+)"')
PAGE_LINK = re.compile(r'<a class="fr-pagination__link" href="[^"]*" title="Page (\d+)"')


def stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")


@pytest.fixture(scope="module")
def crowded(tmp_path_factory, python):
    """A server whose store holds PER_PAGE + 1 waiting messages for the arms service (the last one due
    last), 3 for the foreigners' service, and QUEUE_PAGES pages of unresolved conversations."""
    tmp = tmp_path_factory.mktemp("long-lists")
    running = launch(tmp)
    conn = sqlite3.connect(running.db)
    now = datetime.now(UTC)
    today = paris_now().date()  # due dates are Paris days: the UTC date is yesterday's from 23:00 or 22:00 UTC
    for i in range(PER_PAGE + 1):  # due in i days: the arms service's (i + 1)-th message
        conn.execute(
            "insert into tickets (reference, prefecture, mailbox, service, service_email, origin, channel, subject,"
            " body, created_at, due_date, status, delivery_status) values (?, 'cantal', 'armes', 'armes',"
            " 'pref-armes@cantal.gouv.fr', 'email', 'web', 'Objet', 'Texte', ?, ?, 'open', 'sent')",
            [f"MSG-1000-{i:04d}", stamp(now), (today + timedelta(days=i)).isoformat()],
        )
    for i in range(3):
        conn.execute(
            "insert into tickets (reference, prefecture, mailbox, service, service_email, origin, channel, subject,"
            " body, created_at, due_date, status, delivery_status) values (?, 'cantal', 'etrangers', 'étrangers',"
            " 'pref-etrangers@cantal.gouv.fr', 'email', 'web', 'Objet', 'Texte', ?, ?, 'open', 'sent')",
            [f"MSG-2000-{i:04d}", stamp(now), (today + timedelta(days=1)).isoformat()],
        )
    for i in range(QUEUE_PAGES * QUEUE_PER_PAGE):  # the i-th is i minutes old: newest first
        at = stamp(now - timedelta(minutes=i))
        conn.execute(
            "insert into conversations (id, channel, prefecture, started_at, updated_at, turns, misses, last_topic,"
            " status) values (?, 'web', 'cantal', ?, ?, 1, 1, 'hors_perimetre', 'unresolved')",
            [f"long-{i:04d}", at, at],
        )
        conn.execute(
            "insert into turns (conversation_id, ts, channel, text, topic, confidence, action, resolved)"
            " values (?, ?, 'web', 'une question', 'hors_perimetre', 0.3, 'clarify', 0)",
            [f"long-{i:04d}", at],
        )
    conn.commit()
    conn.close()
    done = cli(python, running.db, "agents", "add", AGENT[0], "--role", "agent", "--password-stdin", stdin=AGENT[1] + "\n")
    assert done.returncode == 0, done.stderr
    yield running
    stop(running)


@pytest.fixture()
def agent(crowded):
    from test_console import login

    return login(crowded, AGENT)


def test_the_messages_come_a_page_at_a_time_with_a_next_page_link(agent):
    first = agent.get("/messages")
    assert first.status_code == 200
    shown = ROW.findall(first.text)
    assert len(shown) == PER_PAGE
    assert "MSG-1000-0000" in shown and f"MSG-1000-{PER_PAGE:04d}" not in shown  # due last: on the next page
    total = PER_PAGE + 1 + 3
    assert f"{total} messages, page 1 sur 2" in first.text
    assert (
        '<a class="fr-pagination__link fr-pagination__link--next fr-pagination__link--lg-label" href="/console/messages?page=2" rel="next">Page suivante</a>'
        in first.text
    )
    second = agent.get("/messages?page=2")
    assert f"MSG-1000-{PER_PAGE:04d}" in ROW.findall(second.text)
    assert len(ROW.findall(second.text)) == total - PER_PAGE
    assert "Page suivante" not in second.text and 'href="/console/messages" rel="prev">Page précédente</a>' in second.text


def test_the_messages_of_one_service(agent):
    page = agent.get("/messages?service=etrangers")
    assert ROW.findall(page.text) == ["MSG-2000-0000", "MSG-2000-0001", "MSG-2000-0002"]
    assert "3 messages, page 1 sur 1" in page.text
    assert '<option value="armes">bureau des polices administratives (armes) (51, dont 0 en retard)</option>' in page.text
    assert '<option value="etrangers" selected>' in page.text
    assert "fr-pagination" not in page.text


def test_the_queue_links_to_the_first_last_and_nearby_pages_only(agent):
    first = agent.get("/file")
    rows = QUEUE_ROW.findall(first.text)
    assert rows == [f"long-{i:04d}" for i in range(QUEUE_PER_PAGE)]
    assert [int(p) for p in PAGE_LINK.findall(first.text)] == [*range(1, AROUND + 2), QUEUE_PAGES]
    assert '<span class="fr-pagination__link" aria-hidden="true">…</span>' in first.text
    middle = agent.get("/file?page=15")
    assert [int(p) for p in PAGE_LINK.findall(middle.text)] == [1, *range(15 - AROUND, 15 + AROUND + 1), QUEUE_PAGES]
    assert QUEUE_ROW.findall(middle.text)[0] == f"long-{14 * QUEUE_PER_PAGE:04d}"
    second = agent.get("/file?page=2")
    assert QUEUE_ROW.findall(second.text)[0] == f"long-{QUEUE_PER_PAGE:04d}"  # the (N+1)-th, first of page 2


class Counted:
    """A store's database that counts the rows its statements hand to Python."""

    def __init__(self, db):
        self.db, self.rows = db, 0

    def execute(self, sql, args=()):
        rows = self.db.execute(sql, args).fetchall()
        self.rows += len(rows)
        return Rows(rows)

    def __getattr__(self, name):
        return getattr(self.db, name)


class Rows(list):
    def fetchall(self):
        return list(self)

    def fetchone(self):
        return self[0] if self else None


def test_a_queue_page_reads_a_page_of_rows_from_the_store_however_long_the_queue(tmp_path):
    """200 unresolved calls and 200 unresolved conversations, QUEUE_PER_PAGE a page: the page's statements
    hand Python about a page of rows (the counts, the page, its details), not every item of the queue."""
    from bot.core.tree import current
    from bot.services.queue import Filters, Queue
    from bot.store.database import Store

    store = Store(tmp_path / "store.db")
    now = datetime.now(UTC)
    for i in range(200):
        at, earlier = stamp(now - timedelta(minutes=i)), stamp(now - timedelta(minutes=i, seconds=30))
        store.db.execute(
            "insert into calls (call_sid, prefecture, started_at, updated_at, unresolved, inputs, outcome, node)"
            " values (?, 'cantal', ?, ?, 1, '[{\"step\": 1, \"speech\": \"une question\"}]', 'abandoned', 'root')",
            [f"CA{i:032d}", earlier, earlier],
        )
        store.db.execute(
            "insert into conversations (id, channel, prefecture, started_at, updated_at, turns, misses, status)"
            " values (?, 'web', 'cantal', ?, ?, 1, 1, 'unresolved')",
            [f"q-{i:04d}", at, at],
        )
    queue = Queue(store, current())
    queue.db = Counted(store.db)
    page = queue.page(Filters(page=3))
    assert page["total"] == 400 and len(page["rows"]) == QUEUE_PER_PAGE and page["pages"] == 400 // QUEUE_PER_PAGE
    newest = QUEUE_PER_PAGE  # page 3 starts at the item 2 * QUEUE_PER_PAGE + 1: a conversation, then a call, a minute
    assert [r["id"] for r in page["rows"]][:2] == [f"q-{newest:04d}", f"CA{newest:032d}"]
    assert queue.db.rows <= 3 + 2 * QUEUE_PER_PAGE
    store.close()


@pytest.mark.parametrize("channel", ["chat", "phone"])
def test_a_queue_page_of_one_channel(agent, channel):
    """One part of the queue alone, paged as both: the conversations' 20 newest, or none of them."""
    page = agent.get(f"/file?canal={channel}")
    assert page.status_code == 200
    assert QUEUE_ROW.findall(page.text) == ([f"long-{i:04d}" for i in range(QUEUE_PER_PAGE)] if channel == "chat" else [])
