"""Issue 16: a cluster of real processes, in the deployment's shape. PostgreSQL 15 (Rasa's tracker store
and the product's own store, DATABASE_URL) and Redis (Rasa's lock store, LOCK_STORE_URL) on 127.0.0.1,
two `python -m bot serve` processes sharing both, and nginx in front with both in its upstream: the
same PostgreSQL, Redis and nginx as `make cluster` (tools/cluster.py), on free ports under this test's
directory. Nothing is on a file the processes share: they could run on two hosts."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from conftest import MODEL, bot_buttons, bot_texts, launch, stop, until
from test_pan_http import Browser, hidden, slot_values, unescape

from bot.store import dialect
from tools import cluster as cl

HAND_OVER = "Un agent de la préfecture pourra vous répondre"


class Cluster:
    def __init__(self, pg: cl.Postgres, redis: cl.Redis, servers: list, proxy: cl.Nginx, db, env: dict, tmp):
        self.pg, self.redis, self.servers, self.proxy, self.db = pg, redis, servers, proxy, db
        self.env, self.tmp = env, tmp  # what a further server process of this host is started with

    def rows(self, sql: str, args: list | tuple = ()) -> list[dict]:
        """The product's rows in PostgreSQL (a new connection each time, as an agent's tool would; the
        SQL as the store translates it)."""
        conn = psycopg2.connect(self.pg.url)
        try:
            with conn.cursor() as cur:
                cur.execute(dialect.translate(sql), list(args))
                names = [c.name for c in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            conn.close()

    def user_texts(self, sender: str) -> list[str]:
        """The user messages of a conversation as Rasa's tracker store keeps them, in PostgreSQL."""
        sql = f"select data from events where sender_id = '{sender}' and type_name = 'user' order by id"
        return [json.loads(row[0])["text"] for row in self.pg.query(sql)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, smtp):
    if not MODEL.exists():
        pytest.exit(f"No trained model at {MODEL}: run the tests with `make test` (it trains first).", returncode=2)
    absent = cl.missing()
    if absent:
        # `make test` installs them (make postgres redis nginx): missing here is a broken set-up, not a pass.
        pytest.fail(f"not installed: {', '.join(absent)}; run `make postgres redis nginx`")
    tmp = tmp_path_factory.mktemp("cluster")
    # PostgreSQL runs as the `postgres` user when the tests run as root: its data directory must be
    # reachable by that user, which pytest's root-only temporary directory is not.
    pg_home = tempfile.mkdtemp(prefix="aiguillage-pg-") if os.geteuid() == 0 else str(tmp)
    os.chmod(pg_home, 0o755)
    pg = cl.Postgres(cl.Path(pg_home) / "data", cl.free_port())
    redis = cl.Redis(tmp / "redis", cl.free_port())
    started = []
    try:
        pg.start()
        started.append(pg)
        redis.start()
        started.append(redis)
        db = tmp / "aiguillage.db"  # AIGUILLAGE_DB: never opened, DATABASE_URL wins (asserted below)
        proxy_port = cl.free_port()
        env = smtp.env | {
            # Twilio calls nginx's address: the servers check the signatures on it.
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{proxy_port}",
            "DATABASE_URL": pg.url,  # both stores: Rasa's tracker store and the product's
            "LOCK_STORE_URL": redis.url,
            "AIGUILLAGE_TRUSTED_PROXIES": "127.0.0.1, ::1",
            "AIGUILLAGE_THROTTLE_EXEMPT": "127.0.0.1, ::1",
            "TICKET_LOCK_LIFETIME": cl.TICKET_LOCK_LIFETIME_S,
        }
        for i in range(2):
            (tmp / f"server{i}").mkdir()
        with ThreadPoolExecutor(2) as pool:  # both processes start together, as `make cluster` does
            servers = list(pool.map(lambda i: launch(tmp / f"server{i}", db=db, extra_env=env), range(2)))
        started.extend(servers)
        proxy = cl.Nginx(tmp / "nginx", proxy_port, [int(s.url.rsplit(":", 1)[1]) for s in servers])
        proxy.start()
        started.append(proxy)
        yield Cluster(pg, redis, servers, proxy, db, env, tmp)
    finally:
        for part in reversed(started):
            if isinstance(part, (cl.Postgres, cl.Redis, cl.Nginx)):
                part.stop()
            elif part.proc.poll() is None:
                stop(part)
        if pg_home != str(tmp):
            shutil.rmtree(pg_home, ignore_errors=True)


def new_sender() -> str:
    return "c" + uuid.uuid4().hex[:16]


def lock_store_sets(cluster) -> int:
    """How many SET commands Redis has run: Rasa's RedisLockStore saves a conversation's lock with SET."""
    info = cl.subprocess.run(
        ["redis-cli", "-p", str(cluster.redis.port), "info", "commandstats"], capture_output=True, text=True, check=True
    ).stdout
    line = next((part for part in info.splitlines() if part.startswith("cmdstat_set:")), "cmdstat_set:calls=0,")
    return int(line.split("calls=")[1].split(",")[0])


def test_the_servers_keep_conversations_in_postgresql_and_locks_in_redis(cluster):
    """`python -m bot serve` with DATABASE_URL and LOCK_STORE_URL (its generated endpoints file): a turn
    is in PostgreSQL, in Rasa's `events` and in the product's `turns`, its lock went through Redis,
    and no SQLite file was made."""
    sender = new_sender()
    sets = lock_store_sets(cluster)
    messages = cluster.servers[0].say(sender, "changement d'adresse sur ma carte grise")
    assert "sites payants" in bot_texts(messages)
    assert cluster.user_texts(sender) == ["changement d'adresse sur ma carte grise"]
    assert lock_store_sets(cluster) > sets
    assert cluster.rows("select channel, topic, action from turns where conversation_id = ?", [sender]) == [
        {"channel": "web", "topic": "carte_grise", "action": "answer"}
    ]
    assert not cluster.db.exists()


def test_a_conversation_alternating_between_the_processes_keeps_its_state(cluster):
    """Two vague messages in a row, the first on one process and the second on the other: the second
    process knows of the first miss (the `misses` slot, read from PostgreSQL) and hands over to a
    person, exactly as one process does (tests/test_chat_http.py)."""
    one, two = cluster.servers
    sender = new_sender()
    first = one.say(sender, "zorglub wintz blurp")
    assert first[0]["text"].startswith("Je ne suis pas sûr d'avoir compris.")
    assert "Parler à un agent" in bot_buttons(first)
    second = two.say(sender, "grumf plonk vrrr")
    assert HAND_OVER in bot_texts(second)
    assert "04 71 46 23 00" in bot_texts(second)
    assert cluster.user_texts(sender) == ["zorglub wintz blurp", "grumf plonk vrrr"]
    slots = [
        json.loads(r[0])["value"]
        for r in cluster.pg.query(f"select data from events where sender_id = '{sender}' and action_name = 'misses' order by id")
    ]
    assert slots[-1] == 2.0
    # the product's store (PostgreSQL, shared by both processes) has both turns of the one conversation
    assert cluster.rows("select action from turns where conversation_id = ? order by id", [sender]) == [
        {"action": "clarify"},
        {"action": "fallback"},
    ]
    assert cluster.rows("select turns, status from conversations where id = ?", [sender]) == [
        {"turns": 2, "status": "unresolved"}
    ]


def test_a_call_whose_webhooks_alternate_between_the_processes_keeps_its_place_in_the_menu(cluster):
    """Twilio's webhooks of one call, signed on nginx's address, sent in turn to each process: the
    menu goes on where the other process left it (the call's state is its `calls` row)."""
    from conftest import TWILIO_TEST_TOKEN
    from test_ivr_calls import CARTE_GRISE, TITRES_MENU

    from tools.ivr.simulate import Call

    one, two = cluster.servers
    call = Call(one.url, TWILIO_TEST_TOKEN, public_url=cluster.proxy.url)
    first = call.start()
    assert first.gather["action"] == f"{cluster.proxy.url}/webhooks/ivr/menu?node=root&step=0"
    call.url = two.url
    assert call.press("1").says == TITRES_MENU
    call.url = one.url
    assert call.press("1").says == CARTE_GRISE
    call.url = cluster.proxy.url  # and through nginx, whichever process answers
    turn = call.press("3")
    assert turn.says[:3] == ["Voici le numéro :", "trente-quatre", "zéro zéro"]
    rows = cluster.rows("select path from calls where call_sid = ?", [call.call_sid])
    assert len(rows) == 1  # one call, whichever process wrote it
    assert json.loads(rows[0]["path"])[:3] == ["root", "vehicule", "carte_grise"]


def post_form(server, fields: dict) -> int:
    """The chat page's form posted as a browser without JavaScript posts it; its status."""
    body = urllib.parse.urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    request = urllib.request.Request(server.url + "/chat/", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as resp:
        resp.read()
        return resp.status


FORMS_SENT_TWICE = 8


def test_a_form_sent_at_once_to_both_processes_runs_once(cluster):
    """A double click, or a reload while the first post is under way, behind a proxy that spreads the
    posts: the same form of the chat page without JavaScript reaches both processes at the same moment.
    One runs it; the other waits for it and answers with the conversation as it stands. Before, each
    process read the conversation, found no trace of the form, and both ran it: the question was asked
    twice (docs/chat.md, "without JavaScript")."""
    from bot.web.chat_form import new_token

    runs = []
    for _ in range(FORMS_SENT_TWICE):
        token = new_token()
        fields = {"token": token, "message": "changement d'adresse sur ma carte grise"}
        together = threading.Barrier(2)

        def send(server, fields=fields, together=together):
            together.wait()
            return post_form(server, fields)

        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(send, cluster.servers)) == [200, 200]
        runs.append(len(cluster.user_texts("web-" + token)))
    assert runs == [1] * FORMS_SENT_TWICE


BOOKERS = 50


def test_50_concurrent_bookings_of_one_slot_across_the_two_processes_give_one_success(cluster):
    """Each form is opened on one process and sent to the other (the CSRF cookie and the slot hold
    across processes), half through each: exactly one booking, 49 told in French that the slot
    "vient d'être pris"."""
    one, two = cluster.servers
    forms = []
    for i in range(BOOKERS):
        opened_on, sent_to = (one, two) if i % 2 == 0 else (two, one)
        b = Browser(opened_on)
        status, html, _ = b.get("/rdv/creneaux?site=mauriac&motif=autre")
        assert status == 200, html
        b.url = sent_to.url
        forms.append((b, html))
    slot = slot_values(forms[0][1])[-1]
    results: list = [None] * BOOKERS
    go = threading.Barrier(BOOKERS)

    def book(i: int) -> None:
        b, html = forms[i]
        fields = {
            "csrf": hidden(html, "csrf"),
            "idem": hidden(html, "idem"),
            "site": "mauriac",
            "motif": "autre",
            "slot": slot,
            "mobile": f"06 12 34 56 {i:02d}",
        }
        go.wait()
        results[i] = b.post("/rdv/reserver", fields)

    threads = [threading.Thread(target=book, args=(i,)) for i in range(BOOKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert sorted(r[0] for r in results) == [200] + [409] * (BOOKERS - 1)
    refusals = {unescape(r[1]).count("vient d'être pris") > 0 for r in results if r[0] == 409}
    assert refusals == {True}  # each of the 49 is told, in French
    booked = cluster.rows(
        "select count(*) as n from pan_bookings where site = 'mauriac' and slot_start = ? and status = 'booked'", [slot]
    )
    assert booked == [{"n": 1}]


def test_the_retention_purge_deletes_the_old_events_in_postgresql(cluster, monkeypatch):
    """Retention honoured with the tracker store on PostgreSQL: the purge (python -m bot purge, and the
    server's daily one) deletes Rasa's events past `retention.conversations_days` there too."""
    from bot.core import config
    from bot.services import retention
    from bot.store.database import Store

    monkeypatch.setenv("DATABASE_URL", cluster.pg.url)
    old_sender = new_sender()
    cluster.servers[0].say(old_sender, "je veux refaire mon passeport")
    # The cut: just after the old conversation's last event, and before any event written from now on.
    last = float(cluster.pg.query(f"select max(timestamp) from events where sender_id = '{old_sender}'")[0][0])
    cut = last + 0.001
    until(lambda: time.time() > cut + 0.01, 10, "the clock passing the cut")
    kept_sender = new_sender()
    cluster.servers[1].say(kept_sender, "titre de séjour étudiant")
    older = int(cluster.pg.query(f"select count(*) from events where timestamp < {cut}")[0][0])
    assert older > 0
    pref = config.load_prefecture("cantal")
    days = int(pref.get("retention.conversations_days"))
    now = datetime.fromtimestamp(cut, UTC) + timedelta(days=days)
    store = Store(cluster.pg.url)
    try:
        assert retention.purge(store, pref, now=now, dry_run=True)["events"] == older
        assert retention.purge(store, pref, now=now)["events"] == older
    finally:
        store.close()
    assert cluster.pg.query(f"select count(*) from events where timestamp < {cut}") == [["0"]]
    assert cluster.user_texts(old_sender) == []
    assert cluster.user_texts(kept_sender) == ["titre de séjour étudiant"]


def test_the_window_of_the_tracker_store_on_postgresql_rebuilds_the_full_replay(cluster):
    """tests/test_tracker_store.py's equivalence on the real PostgreSQL: saved and read back by our
    store (window 12), compared with Rasa's SQLTrackerStore replaying the whole session from the same
    rows (a restart, a slot reset, pauses, slots set long before the window)."""
    from rasa.core.tracker_store import SQLTrackerStore
    from test_tracker_store import DOMAIN, play, run, script, state

    from bot.nlu.tracker_store import WindowSQLTrackerStore

    sender = new_sender()
    stock = SQLTrackerStore(DOMAIN, dialect="postgresql", host=cluster.pg.url)
    ours = WindowSQLTrackerStore(DOMAIN, dialect="postgresql", host=cluster.pg.url, window=12)
    batches = script(410)
    differences = []

    async def compare(n, store):
        if n % 15 and n < len(batches) - 3:
            return
        if state(await store.retrieve(sender)) != state(await stock.retrieve(sender)):
            differences.append(n)

    last = run(play(ours, sender, batches, compare))
    assert differences == []
    # the last turn is turn 409 of the second session: misses = 409 % 3
    assert state(last)["slots"] == {"misses": 1.0, "topic": "titre_sejour", "session_started_metadata": None}
    assert state(last)["paused"] is True
    assert ours.last_read.window <= 12 and ours.last_read.state > 0


# ---- a back end down: a clear degradation, then recovery without a restart (issue 16 §3) ---------

# What the chat page shows while Rasa's lock store (Redis) or tracker store (PostgreSQL) is down:
# bot/tree.yml `chat.script.retry_later`, sent with a 503 and Retry-After (tree.yml `settings`).
RETRY_LATER = (
    "L'assistant est momentanément indisponible à cause d'un incident technique. Réessayez dans "
    "quelques instants : votre conversation est conservée."
)
RETRY_AFTER_S = "10"


def chat_turn(port: int, sender: str, message: str):
    """One chat turn sent to 127.0.0.1:`port` (a server or nginx): the raw answer, its time measured."""
    body = json.dumps({"sender": sender, "message": message}).encode()
    return cl_request(port, body)


def assert_unavailable(answer) -> None:
    """The clear degradation: 503, Retry-After, the French message as the chat page's JSON error."""
    assert (answer.status, answer.headers.get("retry-after"), json.loads(answer.body)) == (
        503,
        RETRY_AFTER_S,
        {"error": RETRY_LATER},
    ), answer.text()


def menu_step(turn) -> tuple[list[str], str | None, bool]:
    """What a caller hears at a menu step, where the next key goes, and whether the call hung up."""
    return turn.says, turn.route, turn.hangup


def signal_redis(cluster, sig: int) -> None:
    os.kill(cluster.redis.proc.pid, sig)


def chat_page_error(browser, url: str, message: str) -> str:
    """What the chat page (real Chromium, through nginx) shows when `message` is refused: the text
    of its error bubble, spaces made plain."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(url + "/chat/")
        page.fill("#chat-input", message)
        page.press("#chat-input", "Enter")
        error = page.locator("#chat-log .chat__msg--error").last
        expect(error).to_be_visible(timeout=30_000)
        return " ".join(error.inner_text().replace("\u00a0", " ").replace("\u202f", " ").split())
    finally:
        context.close()


@pytest.mark.reliability
def test_redis_stopped_for_30_s_the_chat_answers_503_at_once_calls_go_on_and_it_recovers_alone(cluster, browser, figure):
    """redis-server really stopped (SIGSTOP: its connections hang, as on a frozen host) for 30 s
    while chat turns and a call go on. Every chat turn, on either process or through nginx, answers
    within a few seconds with 503, `Retry-After` and the French message; every phone webhook
    answers its menu (the phone needs no lock); nothing answers 500; the chat page shows the
    message and the préfecture's phone. SIGCONT: the conversation's next turn is served normally,
    no restart, its state intact (the 503 turns changed nothing).
    Then Redis shut down and started again (its locks lost): the same 503 meanwhile, then served."""
    from conftest import TWILIO_TEST_TOKEN
    from test_ivr_calls import MAIN_MENU, TITRES_MENU

    from tools.ivr.simulate import Call

    one, two = cluster.servers
    ports = [cluster.proxy.port, *(int(s.url.rsplit(":", 1)[1]) for s in cluster.servers)]
    sender = new_sender()
    assert one.say(sender, "zorglub wintz blurp")[0]["text"].startswith("Je ne suis pas sûr d'avoir compris.")
    call = Call(cluster.proxy.url, TWILIO_TEST_TOKEN, public_url=cluster.proxy.url)
    call.start()
    chat: list = []
    phone: list = []
    signal_redis(cluster, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        i = 0
        while time.monotonic() - stopped < 30:  # the outage's length (issue 16): a turn every half second
            chat.append(chat_turn(ports[i % 3], sender if i % 2 else new_sender(), "titre de séjour étudiant"))
            phone.append(call.press("1" if i % 2 == 0 else "0"))
            i += 1
            time.sleep(0.5)
        shown = chat_page_error(browser, cluster.proxy.url, "titre de séjour étudiant")
    finally:
        signal_redis(cluster, signal.SIGCONT)
    assert len(chat) >= 6
    for answer in chat:
        assert_unavailable(answer)
    assert max(a.seconds for a in chat) < 5, [round(a.seconds, 1) for a in chat]
    # Each keypress is answered with its menu, said and waiting for the next key (a Gather to the
    # menu's route), the call never hung up: the phone needs no lock.
    assert [menu_step(turn) for turn in phone] == [
        (TITRES_MENU, "menu", False) if n % 2 == 0 else (MAIN_MENU, "menu", False) for n in range(len(phone))
    ]
    assert RETRY_LATER in shown and "04 71 46 23 00" in shown, shown
    figure(
        "Redis stopped (SIGSTOP) 30 s, 2 processes behind nginx",
        f"{len(chat)} chat turns: 503 in {max(a.seconds for a in chat):.1f} s at most; {len(phone)} phone webhooks: their menu",
    )
    # Back, no server restarted: the next turn is served, on the other process, the conversation
    # where it was; the call's next keypress is answered from where it was in the menu.
    second = two.say(sender, "grumf plonk vrrr")
    assert HAND_OVER in bot_texts(second)
    assert cluster.user_texts(sender) == ["zorglub wintz blurp", "grumf plonk vrrr"]
    in_titres = len(phone) % 2 == 1  # the last keypress of the outage was a "1"
    assert menu_step(call.press("0" if in_titres else "1")) == ((MAIN_MENU if in_titres else TITRES_MENU), "menu", False)
    in_titres = not in_titres
    # Shut down, then started again on its port: the same degradation, the same recovery.
    cluster.redis.stop()
    try:
        assert_unavailable(chat_turn(cluster.proxy.port, new_sender(), "titre de séjour étudiant"))
        during = menu_step(call.press("0" if in_titres else "1"))
    finally:
        cluster.redis.start()
    assert during == ((MAIN_MENU if in_titres else TITRES_MENU), "menu", False)
    in_titres = not in_titres
    assert "sites payants" in bot_texts(one.say(new_sender(), "changement d'adresse sur ma carte grise"))
    assert "sites payants" in bot_texts(two.say(new_sender(), "changement d'adresse sur ma carte grise"))
    assert menu_step(call.press("0" if in_titres else "1")) == ((MAIN_MENU if in_titres else TITRES_MENU), "menu", False)


@pytest.mark.reliability
def test_postgresql_restarted_the_servers_reconnect_and_keep_the_conversations(cluster, figure):
    """`pg_ctl restart` (fast: it cuts the servers' connections). Right after it, a conversation
    begun before goes on where it was on each process (their pools replace the cut connections:
    no turn read as a new conversation). Then a restart while three conversations send turns
    through nginx: each turn is served (after a retry) or answers the clear 503, never a 500 or
    the apology, and every turn answered 200 is in PostgreSQL (none kept in one process's memory).
    Then PostgreSQL stopped: a turn gets the clear 503; started again: the turn is served.
    A call in progress through nginx: its keypresses after each restart go on in the menu."""
    from conftest import TWILIO_TEST_TOKEN
    from test_ivr_calls import CARTE_GRISE, MAIN_MENU, TITRES_MENU

    from tools.ivr.simulate import Call

    one, two = cluster.servers
    first, second = new_sender(), new_sender()
    for server, sender in ((one, first), (two, second)):
        assert server.say(sender, "zorglub wintz blurp")[0]["text"].startswith("Je ne suis pas sûr d'avoir compris.")
    call = Call(cluster.proxy.url, TWILIO_TEST_TOKEN, public_url=cluster.proxy.url)
    call.start()
    cluster.pg.restart()
    assert HAND_OVER in bot_texts(one.say(first, "grumf plonk vrrr"))
    assert HAND_OVER in bot_texts(two.say(second, "grumf plonk vrrr"))
    assert menu_step(call.press("1")) == (TITRES_MENU, "menu", False)  # the call's row read and written again
    for sender in (first, second):
        assert cluster.user_texts(sender) == ["zorglub wintz blurp", "grumf plonk vrrr"]

    question = "changement d'adresse sur ma carte grise"
    answers: dict[str, list] = {new_sender(): [] for _ in range(3)}
    sent: dict[str, list[float]] = {sender: [] for sender in answers}  # when each turn was sent
    done = threading.Event()

    def talk(sender: str) -> None:
        while not done.is_set():
            sent[sender].append(time.monotonic())
            answers[sender].append(chat_turn(cluster.proxy.port, sender, question))
            time.sleep(0.2)

    def served_since(moment: float, turns: int) -> bool:
        """Each conversation has `turns` turns sent after `moment` and answered 200."""
        return all(
            sum(at > moment and a.status == 200 for at, a in zip(list(sent[s]), list(answers[s]))) >= turns for s in answers
        )

    talkers = [threading.Thread(target=talk, args=(sender,)) for sender in answers]
    for t in talkers:
        t.start()
    try:
        until(lambda: served_since(0, 2), 60, "2 turns of each of the 3 conversations served before the restart")
        cluster.pg.restart()
        restarted = time.monotonic()
        until(lambda: served_since(restarted, 5), 60, "5 turns of each of the 3 conversations served after the restart")
    finally:
        done.set()
        for t in talkers:
            t.join(timeout=60)
    every = [a for sent in answers.values() for a in sent]
    for answer in every:
        if answer.status == 503:
            assert_unavailable(answer)
        else:
            assert answer.status == 200, answer.text()
            assert "sites payants" in bot_texts(json.loads(answer.body)), answer.text()
    assert max(a.seconds for a in every) < 15, [round(a.seconds, 1) for a in every]
    statuses = Counter(a.status for a in every)
    figure(
        "pg_ctl restart under chat through nginx",
        f"{statuses[200]} turns served, {statuses[503]} answered 503, longest {max(a.seconds for a in every):.1f} s",
    )
    acked = {sender: sum(a.status == 200 for a in got) for sender, got in answers.items()}
    # a save the restart refused is written once PostgreSQL is back: waited for, then compared
    stored = lambda: {s: len(cluster.user_texts(s)) for s in answers}  # noqa: E731
    deadline = time.monotonic() + 20
    while stored() != acked and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stored() == acked
    # Stopped longer than a read's retries (down_wait_s, 3 s): the clear 503, nothing of the turn
    # applied; started again: the conversation goes on where it was, no server restarted.
    cluster.pg.stop()
    try:
        refused = chat_turn(cluster.proxy.port, first, "changement d'adresse sur ma carte grise")
    finally:
        cluster.pg.start()
    assert_unavailable(refused)
    assert refused.seconds < 10, refused.seconds
    assert "sites payants" in bot_texts(two.say(first, "changement d'adresse sur ma carte grise"))
    assert cluster.user_texts(first) == ["zorglub wintz blurp", "grumf plonk vrrr", "changement d'adresse sur ma carte grise"]
    assert menu_step(call.press("1")) == (CARTE_GRISE, "leaf", False)  # the call goes on, in the menu it was in
    assert menu_step(call.press("0")) == (MAIN_MENU, "menu", False)


class Booker:
    """Bookings through nginx, one after another, each on the first free slot of a site (Aurillac,
    then the others as they fill) under a new mobile: the references answered 200 (acknowledged),
    the other answers counted."""

    SITES = ("aurillac", "saint-flour", "mauriac")

    def __init__(self, url: str):
        self.url, self.acked, self.failed, self.n, self.site = url, [], Counter(), 0, 0

    def book_once(self) -> None:
        b = Browser(type("Proxy", (), {"url": self.url}))
        self.n += 1
        site = self.SITES[self.site % len(self.SITES)]
        try:
            status, html, _ = b.get(f"/rdv/creneaux?site={site}&motif=autre")
            slots = slot_values(html) if status == 200 else []
            if not slots:
                self.failed[f"no slot left at {site}" if status == 200 else f"form {status}"] += 1
                self.site += 1
                time.sleep(0.2)
                return
            fields = {"csrf": hidden(html, "csrf"), "idem": hidden(html, "idem"), "site": site, "motif": "autre"}
            mobile = f"06 12 {self.n // 100 % 100:02d} {self.n % 100:02d} 00"
            status, page, _ = b.post("/rdv/reserver", fields | {"slot": slots[0], "mobile": mobile})
        except OSError:
            self.failed["error"] += 1
            return
        found = re.search(r"PAN-\d{4}-\d{4}", page) if status == 200 else None
        if found:
            self.acked.append(found.group(0))
        else:
            self.failed[status] += 1


@pytest.mark.reliability
def test_kill_9_of_one_process_under_load_loses_no_acknowledged_write(cluster, figure):
    """Six conversations send turns through nginx without pause, and a booker books slots; once each
    conversation has 20 turns answered and 5 bookings are confirmed, one process is killed with
    SIGKILL. The other keeps answering through nginx (the load goes on until each conversation is
    served again), and every write that was acknowledged, whichever process took it, is in
    PostgreSQL: each turn answered 200 in Rasa's events and in the product's `turns`, each booking
    answered with its reference in `pan_bookings`. Four calls in progress, two of them on the killed
    process until then, go on through nginx: their next webhook answers from the menu where they
    were, and their `calls` rows have the whole path. It kills a server of the module: only the
    voicemail test below runs after it.
    Size: one scenario (load, kill, the checks of each kind of write) read top to bottom."""
    from conftest import TWILIO_TEST_TOKEN
    from test_ivr_calls import CARTE_GRISE, TITRES_MENU

    from tools.ivr.simulate import Call

    victim, survivor = cluster.servers
    questions = ["changement d'adresse sur ma carte grise", "je veux refaire mon passeport", "titre de séjour étudiant"]
    acked: dict[str, list[str]] = {}
    failed = Counter()
    after_kill = Counter()
    killed = threading.Event()
    stop_at = [time.monotonic() + 600]  # set once what the test waits for has happened (or failed)
    lock = threading.Lock()
    waits: list[tuple[float, float]] = []  # (sent at, seconds to the answer)
    served_after_kill: set[str] = set()  # the conversations with a turn sent after the kill and answered 200
    booker = Booker(cluster.proxy.url)
    killed_at = [float("inf")]

    def book() -> None:
        while time.monotonic() < stop_at[0]:
            booker.book_once()
            time.sleep(0.15)  # the sites' ~150 free slots last the whole run

    def talk(n: int) -> None:
        sender = new_sender()
        acked[sender] = []
        i = 0
        while time.monotonic() < stop_at[0]:
            text = questions[(n + i) % len(questions)]
            i += 1
            body = json.dumps({"sender": sender, "message": text}).encode()
            began = time.monotonic()
            try:
                answer = cl_request(cluster.proxy.port, body)
            except OSError:
                answer = None
            with lock:
                waits.append((began, time.monotonic() - began))
                if answer is not None and answer.status == 200:
                    acked[sender].append(text)
                    if killed.is_set():
                        after_kill["ok"] += 1
                        if began >= killed_at[0]:
                            served_after_kill.add(sender)
                else:
                    failed[answer.status if answer is not None else "error"] += 1
                    if killed.is_set():
                        after_kill["failed"] += 1

    threads = [threading.Thread(target=talk, args=(n,)) for n in range(6)] + [threading.Thread(target=book)]
    load_began = time.monotonic()
    for t in threads:
        t.start()
    calls = []
    try:
        for server in (victim, survivor, victim, survivor):
            call = Call(server.url, TWILIO_TEST_TOKEN, public_url=cluster.proxy.url)
            call.start()
            assert call.press("1").says == TITRES_MENU
            call.url = cluster.proxy.url  # from now on as Twilio calls: through nginx
            calls.append(call)
        # Load on both processes first: each conversation answered 20 times, 5 bookings confirmed.
        until(
            lambda: len(acked) == 6 and all(len(acked[s]) >= 20 for s in list(acked)) and len(booker.acked) >= 5,
            120,
            "20 turns of each of the 6 conversations and 5 bookings answered before the kill",
        )
        before, booked_before = sum(len(v) for v in acked.values()), len(booker.acked)
        killed_at[0] = time.monotonic()
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(timeout=10)
        killed.set()
        for call in calls:  # the calls go on, on the survivor, where they were in the menu
            assert call.press("1").says == CARTE_GRISE
        figure("calls in progress at the kill (2 of them on the killed process)", "4 of 4 went on through nginx")
        # Until every conversation is served again (the one whose turn died with the process waits for
        # that turn's ticket to expire) and bookings are confirmed again: then the load stops.
        until(
            lambda: len(served_after_kill) == 6 and len(booker.acked) > booked_before,
            120,
            "each of the 6 conversations served again and a booking confirmed after the kill",
        )
    finally:
        stop_at[0] = time.monotonic()
        for t in threads:
            t.join(timeout=90)
    total = sum(len(v) for v in acked.values())
    # A conversation whose turn was in progress on the killed process waits for that turn's ticket in
    # Redis to expire (TICKET_LOCK_LIFETIME, tools/cluster.py) before its next turn is served.
    longest = max(w for sent, w in waits if sent >= killed_at[0] - 1)
    figure("longest answer of a turn sent after the kill", f"{longest:.1f} s (ticket lifetime {cl.TICKET_LOCK_LIFETIME_S} s)")
    figure(
        f"chat turns through nginx, 2 processes, kill -9 of one after {killed_at[0] - load_began:.0f} s",
        f"{total} answered ({before} before the kill), failed: {dict(failed)}",
    )
    figure(
        f"bookings through nginx, kill -9 of one process after {killed_at[0] - load_began:.0f} s",
        f"{len(booker.acked)} confirmed ({booked_before} before the kill), other answers: {dict(booker.failed)}",
    )
    assert before > 0 and len(booker.acked) > booked_before > 0  # bookings before and after the kill
    assert after_kill["ok"] >= 6, (after_kill, failed)  # the survivor answers through nginx
    # no acknowledged turn lost: each answered message is in Rasa's events in PostgreSQL...
    lost = {s: list((Counter(texts) - Counter(cluster.user_texts(s))).elements()) for s, texts in acked.items()}
    assert {s: v for s, v in lost.items() if v} == {}

    # ...and in the product's turns (a turn whose answer the kill cut, a 502, may be there too); a
    # record the survivor queued behind a lock is waited for
    def recorded() -> dict[str, int]:
        return {s: 0 for s in acked} | {
            r["conversation_id"]: r["n"]
            for r in cluster.rows(
                f"select conversation_id, count(*) as n from turns where conversation_id in ({','.join('?' * len(acked))})"
                " group by conversation_id",
                list(acked),
            )
        }

    deadline = time.monotonic() + 20
    while {s: n for s, n in recorded().items() if n < len(acked[s])} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert {s: n for s, n in recorded().items() if n < len(acked[s])} == {}
    booked = cluster.rows(
        f"select reference from pan_bookings where status = 'booked' and reference in ({','.join('?' * len(booker.acked))})",
        booker.acked,
    )
    assert sorted(r["reference"] for r in booked) == sorted(booker.acked)
    paths = [cluster.rows("select path from calls where call_sid = ?", [c.call_sid]) for c in calls]
    assert [json.loads(rows[0]["path"])[:3] for rows in paths] == [["root", "vehicule", "carte_grise"]] * 4
    # and a new conversation through nginx is answered by the survivor
    status, body = survivor.post("/chat/webhook", {"sender": new_sender(), "message": "changement d'adresse sur ma carte grise"})
    assert status == 200 and "sites payants" in bot_texts(body)


STORE_BUSY = "Désolé, un incident technique m'a empêché d'enregistrer votre choix. Je répète."
VOICEMAIL_THANKS = [
    "Merci. Votre message a été transmis au service concerné, bureau des polices administratives (armes), qui "
    "vous répondra sous 5 jours ouvrés.",
    "Merci de votre appel. Au revoir.",
]


@pytest.mark.reliability
def test_a_voicemail_left_while_postgresql_is_down_survives_a_kill_9_of_its_process(cluster, figure):
    """While PostgreSQL is unreachable the chat acknowledges nothing (503), but a caller who leaves a
    message hears that it "a été transmis au service concerné" (without its reference: the ticket is
    not written yet); a caller in a menu who presses a key hears the apology, then the menu they were
    in, at the same step (the call's row cannot be read: the prompt is rebuilt from the Gather's URL;
    before, they heard the welcome and the main menu: tests/test_ivr_store_down.py).
    The message is kept in the phone's spool on local disk before that answer (ivr/spool.py): the
    process killed (kill -9) before PostgreSQL is back, the next server process started on the host
    writes it, with its ticket and its transcription. (Before the spool it was held in the process's
    memory only, and lost.) Runs after the kill -9 test: it kills the module's last server."""
    from conftest import TWILIO_TEST_TOKEN
    from test_ivr_calls import TITRES_MENU

    from tools.ivr.simulate import Call

    server = next(s for s in cluster.servers if s.proc.poll() is None)
    browsing = Call(server.url, TWILIO_TEST_TOKEN, public_url=cluster.proxy.url)
    browsing.start()
    assert browsing.press("1").says == TITRES_MENU
    port = int(server.url.rsplit(":", 1)[1])
    call = Call(server.url, TWILIO_TEST_TOKEN, public_url=cluster.proxy.url)
    call.start()
    call.press("5")
    call.press("1")
    assert call.press("2").record is not None  # the armes service's voicemail: "Après le bip, ..."
    rsid = "RE" + call.call_sid[2:]
    cluster.pg.stop()
    try:
        thanked = call.record("Bonjour, rappelez-moi.", recording_sid=rsid)
        pressed = browsing.press("1")  # carte grise, in the menu it was in
        refused = chat_turn(port, new_sender(), "changement d'adresse sur ma carte grise")
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
    finally:
        cluster.pg.start()
    assert_unavailable(refused)  # the chat: nothing acknowledged
    # the keypress: the apology, then the menu the caller was in (not the welcome), no hang-up
    assert menu_step(pressed) == ([STORE_BUSY, *TITRES_MENU], "menu", False)
    assert pressed.gather["action"] == browsing.turns[-2].gather["action"]  # the same step: nothing applied
    assert (thanked.says, thanked.hangup) == (VOICEMAIL_THANKS, True)  # the message: acknowledged...
    # ...not in PostgreSQL while no process runs...
    assert cluster.rows("select count(*) as n from voicemails where recording_sid = ?", [rsid]) == [{"n": 0}]
    # ...and written by the next process started on the host (its spool beside AIGUILLAGE_DB).
    (cluster.tmp / "server2").mkdir()
    successor = launch(cluster.tmp / "server2", db=cluster.db, extra_env=cluster.env)
    try:
        until(
            lambda: cluster.rows("select status from voicemails where recording_sid = ?", [rsid]) == [{"status": "transcribed"}],
            60,
            "the message left in the spool written by the next process, with its transcription",
        )
        assert cluster.rows("select transcription, mailbox from voicemails where recording_sid = ?", [rsid]) == [
            {"transcription": "Bonjour, rappelez-moi.", "mailbox": "armes"}
        ]
        tickets = cluster.rows("select mailbox from tickets where idempotency_key = ?", [f"voicemail:{rsid}"])
        assert tickets == [{"mailbox": "armes"}]
        assert "left in the spool by a stopped process will be written" in successor.log.read_text()
    finally:
        stop(successor)
    figure(
        "a voicemail left while PostgreSQL is down, then kill -9 of that process, then a new process",
        "the caller thanked; 1 of 1 message kept (spool on local disk), written with its ticket by the new process",
    )


def cl_request(port: int, body: bytes):
    from raw_http import request

    return request("127.0.0.1", port, "POST", "/chat/webhook", body, {"Content-Type": "application/json"})


# ---- the settings and the generated endpoints file (no server) --------------------------------------


def test_database_url_and_lock_store_url_are_read_with_errors_naming_the_variable():
    from bot import settings

    assert settings.database_url({}) is None and settings.lock_store({}) is None
    assert settings.database_url({"DATABASE_URL": "postgres://a:b@db.example:5432/aig"}) == "postgresql://a:b@db.example:5432/aig"
    lock = settings.lock_store({"LOCK_STORE_URL": "redis://:s3cret@10.0.0.5:6390/2"})
    assert (lock.host, lock.port, lock.db, lock.password) == ("10.0.0.5", 6390, 2, "s3cret")
    assert "s3cret" not in repr(lock)
    assert settings.lock_store({"LOCK_STORE_URL": "redis://127.0.0.1"}) == settings.LockStore("127.0.0.1", 6379, 1, None)
    with pytest.raises(settings.SettingsError, match="^DATABASE_URL: expected postgresql://") as bad:
        settings.database_url({"DATABASE_URL": "mysql://u:pw@h/db"})
    assert "pw" not in str(bad.value)
    with pytest.raises(settings.SettingsError, match="^LOCK_STORE_URL: expected redis://"):
        settings.lock_store({"LOCK_STORE_URL": "127.0.0.1:6379"})
    with pytest.raises(settings.SettingsError, match="^LOCK_STORE_URL: .*the database is a number"):
        settings.lock_store({"LOCK_STORE_URL": "redis://127.0.0.1:6379/locks"})


def test_serve_keeps_endpoints_yml_without_the_variables_and_writes_a_copy_with_them():
    from bot.cli.endpoints import endpoints_option

    args = ["--port", "5005", "--endpoints", "endpoints.yml"]
    assert endpoints_option(args, {}) == args  # SQLite, nothing generated
    env = {"DATABASE_URL": "postgres://aig:pw@db:5432/aig", "LOCK_STORE_URL": "redis://:lockpw@cache:6390/3"}
    out = endpoints_option(args, env)
    assert out[:2] == ["--port", "5005"] and out[2] == "--endpoints" and len(out) == 4
    generated = cl.Path(out[3])
    text = generated.read_text()
    assert "lockpw" not in text and "aig:pw" not in text  # secrets stay in the environment
    import yaml

    content = yaml.safe_load(text)
    assert content["tracker_store"] == {
        "type": "bot.nlu.tracker_store.WindowSQLTrackerStore",
        "dialect": "postgresql",
        "window": 60,
        "busy_ms": 250,
        "max_pending": 20000,
        "spool": True,  # the chat's spool (issue 16): on PostgreSQL too
        "url": "${DATABASE_URL}",
    }
    assert content["lock_store"] == {
        "type": "bot.nlu.lock_store.RedisTicketLockStore",
        "url": "cache",
        "port": 6390,
        "db": 3,
        "key_prefix": "aiguillage",
        "password": "${AIGUILLAGE_LOCK_STORE_PASSWORD}",
    }
    assert content["action_endpoint"]["url"] == "http://127.0.0.1:${PORT}/webhooks/actions/webhook"
    assert env["DATABASE_URL"] == "postgresql://aig:pw@db:5432/aig" and env["AIGUILLAGE_LOCK_STORE_PASSWORD"] == "lockpw"


def test_serve_with_a_wrong_database_url_stops_at_once_naming_the_variable(python):
    env = dict(os.environ, DATABASE_URL="mysql://u:pw@db/aig")
    done = cl.subprocess.run(
        [python, "-m", "bot", "serve", "--port", "5999"], cwd=cl.ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "configuration error: DATABASE_URL: expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE (unset: SQLite), got 'db/aig'"
    )


def in_thread(coro):
    """asyncio.run in its own thread (Playwright's sync API may leave a loop in pytest's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_a_turn_waiting_behind_a_killed_process_ticket_is_served_once_it_expires(tmp_path):
    """A process killed during a turn leaves its ticket in Redis. Rasa's own RedisLockStore then
    never serves the conversation's next turn (its ticket, taken just after, expires with the dead
    one and the wait loop waits for a ticket that no longer exists: Sanic's 60 s timeout answers);
    ours serves it once the dead ticket expires, and leaves no lock behind."""
    from rasa.core.lock_store import RedisLockStore

    from bot.nlu.lock_store import RedisTicketLockStore

    redis = cl.Redis(tmp_path / "redis", cl.free_port())
    redis.start()
    try:

        async def next_turn(store, conversation: str, bound_s: float) -> float:
            store.issue_ticket(conversation, 2)  # the killed process's turn: never removed, expires in 2 s
            began = time.monotonic()

            async def turn() -> float:
                async with store.lock(conversation, lock_lifetime=2):
                    return time.monotonic() - began

            return await asyncio.wait_for(turn(), bound_s)

        stock = RedisLockStore(host="127.0.0.1", port=redis.port, db=1)
        with pytest.raises(asyncio.TimeoutError):
            in_thread(next_turn(stock, "stock-conv", 8))
        ours = RedisTicketLockStore(host="127.0.0.1", port=redis.port, db=1, key_prefix="aiguillage")
        waited = in_thread(next_turn(ours, "conv", 30))
        assert waited >= 1.5  # it did wait for the dead turn's ticket
        assert ours.get_lock("conv") is None  # nothing left for the turn after
    finally:
        redis.stop()


def test_a_turn_cancelled_at_any_point_leaves_no_ticket_for_the_next_one(tmp_path):
    """Sanic cancels a turn whose client went away (a phone's browser losing the network). Cancelled while
    its ticket was being issued in Redis, the turn never learnt its number and left the ticket there: the
    conversation's next message waited for it to expire (the turn's lifetime). Cancelled while waiting
    behind another turn, or during its own, it removes its ticket as before."""
    from bot.nlu.lock_store import RedisTicketLockStore

    redis = cl.Redis(tmp_path / "redis", cl.free_port())
    redis.start()
    try:
        store = RedisTicketLockStore(host="127.0.0.1", port=redis.port, db=1, key_prefix="aiguillage")

        async def turn(conversation: str, entered: asyncio.Event | None = None) -> None:
            async with store.lock(conversation, lock_lifetime=60, wait_time_in_seconds=0.05):
                if entered:
                    entered.set()
                await asyncio.sleep(30)

        async def cancelled(conversation: str, when: str) -> None:
            entered = asyncio.Event()
            task = asyncio.create_task(turn(conversation, entered))
            if when == "issuing":
                await asyncio.sleep(0)  # the task waits for its ticket, being issued on the store's thread
            elif when == "waiting":
                await asyncio.sleep(0.3)  # behind the other turn's ticket
            else:
                await entered.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        async def scenario() -> list:
            left = []
            for i in range(20):
                await cancelled(f"issuing-{i}", "issuing")
                left.append(store.get_lock(f"issuing-{i}"))
            await cancelled("running", "running")
            left.append(store.get_lock("running"))
            other = store.issue_ticket("waiting", 60)  # another turn of the conversation, running
            await cancelled("waiting", "waiting")
            store.cleanup("waiting", other)  # that turn ends
            left.append(store.get_lock("waiting"))
            return left

        assert in_thread(scenario()) == [None] * 22
    finally:
        redis.stop()


def test_turns_of_one_conversation_arriving_together_at_two_processes_never_share_a_ticket(tmp_path):
    """An outside-in audit sent two messages of one conversation at once, one to each process: in 9 of 25
    pairs both read an empty lock in Redis and both wrote ticket 0, so both turns ran at once and one
    answered from the state before the other (Rasa's read-then-write). Issuing is now one atomic change
    (WATCH, MULTI/EXEC): 40 turns taking their tickets at once from two processes get 40 numbers."""
    import threading

    from bot.nlu.lock_store import RedisTicketLockStore

    redis = cl.Redis(tmp_path / "redis", cl.free_port())
    redis.start()
    try:
        stores = [RedisTicketLockStore(host="127.0.0.1", port=redis.port, db=1, key_prefix="aiguillage") for _ in range(2)]
        start = threading.Barrier(40)
        numbers: list[int] = []

        def take(i: int) -> None:
            start.wait()
            numbers.append(stores[i % 2]._issue("together", 30))

        with ThreadPoolExecutor(40) as pool:
            list(pool.map(take, range(40)))
        assert sorted(numbers) == list(range(40))
        for n in numbers:  # each turn done: the lock goes with the last one
            stores[n % 2].cleanup("together", n)
        assert stores[0].get_lock("together") is None
    finally:
        redis.stop()


def test_a_stopped_redis_refuses_turns_within_the_timeout_and_never_freezes_the_event_loop(tmp_path):
    """The lock store on a Redis stopped with SIGSTOP (it accepts connections, never answers): five
    concurrent turns are refused with BackendUnavailable within 2 s timeouts, the event loop
    ticking all along (Rasa's store waited 10 s per call on the loop itself); while it is down,
    turns are refused at once; after SIGCONT the next turn takes its lock, no new store."""
    from bot.nlu.lock_store import RedisTicketLockStore
    from bot.nlu.outage import BackendUnavailable

    redis = cl.Redis(tmp_path / "redis", cl.free_port())
    redis.start()
    try:
        store = RedisTicketLockStore(
            host="127.0.0.1", port=redis.port, db=1, key_prefix="aiguillage", socket_timeout=1, socket_connect_timeout=1
        )

        async def turn(conversation: str) -> str:
            async with store.lock(conversation):
                return "served"

        async def scenario() -> dict:
            found = {"before": await turn("conv")}
            os.kill(redis.proc.pid, signal.SIGSTOP)
            ticks = [0]
            stopped = asyncio.Event()

            async def tick() -> None:
                while not stopped.is_set():
                    ticks[0] += 1
                    await asyncio.sleep(0.05)

            ticker = asyncio.create_task(tick())
            began = time.monotonic()
            outcomes = await asyncio.gather(*(turn(f"conv{i}") for i in range(5)), return_exceptions=True)
            found["during"] = [type(o).__name__ for o in outcomes]
            found["seconds"] = time.monotonic() - began
            probe = asyncio.create_task(turn("conv"))  # known down: this one tries Redis again...
            deadline = time.monotonic() + 10
            while not store.probing:  # its try has begun
                assert time.monotonic() < deadline, "the probe never tried Redis again"
                await asyncio.sleep(0.01)
            began = time.monotonic()
            with pytest.raises(BackendUnavailable):  # ...and meanwhile another is refused at once
                await turn("conv")
            found["refused_in"] = time.monotonic() - began
            with pytest.raises(BackendUnavailable):
                await probe
            stopped.set()
            await ticker
            found["ticks_per_s"] = ticks[0] / max(found["seconds"], 0.01)
            os.kill(redis.proc.pid, signal.SIGCONT)
            found["after"] = await turn("conv")
            return found

        try:
            found = in_thread(scenario())
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        assert found["before"] == "served" and found["after"] == "served"
        assert found["during"] == ["BackendUnavailable"] * 5
        assert found["seconds"] < 5, found
        assert found["ticks_per_s"] > 5, found  # the loop went on (every 50 ms when free)
        assert found["refused_in"] < 0.5, found
        assert store.get_lock("conv") is None
    finally:
        redis.stop()
