"""The disk that holds the store fills up under the running product (a préfecture's server whose logs
or backups filled it), then space is freed, without a restart. Found by an outside-in audit
(2026-12-04) on a real server whose store (AIGUILLAGE_DB) and spools sat on a small tmpfs, filled
with a file and freed by deleting it. Real servers over HTTP, real SQLite, a real full filesystem
(ENOSPC, SQLite's "database or disk is full")."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from conftest import ARMES_THANKS, ROOT, TWILIO_TEST_TOKEN, db_rows, launch, stop, to_armes_voicemail, until

from tools.ivr.simulate import Call

SIZE = "16m"  # room for the store's WAL to grow over a module's tests (never checkpointed on a full disk)


@contextmanager
def tmpfs(path: Path, size: str = SIZE):
    """A small filesystem of its own at `path` (unmounted at the end, whatever happens)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(
            f"mounting a tmpfs is not permitted here ({done.stderr.strip() or done.returncode}): the disk-full tests need one"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def full(mount: Path, leave_mb: int = 0):
    """The filesystem at `mount` filled by a file, leaving `leave_mb` megabytes free (0: made full, every
    last byte taken); the file is deleted at the end."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        st = os.statvfs(mount)
        os.posix_fallocate(fd, 0, max(st.f_bavail * st.f_frsize - leave_mb * 2**20, 1))
        if not leave_mb:
            try:  # the last bytes a block-sized allocation leaves
                while os.write(fd, b"\0" * 512):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    if not leave_mb:
        assert os.statvfs(mount).f_bavail == 0
    try:
        yield
    finally:
        filler.unlink()


def post_json(server, path: str, fields: dict) -> tuple[int, object]:
    """A POST as the chat page sends it: JSON, from the page's own origin; (status, JSON or text), 0 when
    the connection failed."""
    body = json.dumps(fields).encode()
    headers = {"Content-Type": "application/json", "Origin": server.url}
    request = urllib.request.Request(server.url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError) as exc:
        return 0, repr(exc)


def chat(server, sender: str, message: str) -> tuple[int, list]:
    """A turn as the chat page posts it."""
    return post_json(server, "/chat/webhook", {"sender": sender, "message": message})


QUESTIONS = [
    ("changement d'adresse sur ma carte grise", "Les démarches de carte grise"),
    ("je veux refaire mon passeport", "La carte d'identité et le passeport ne sont pas délivrés par la préfecture"),
    ("quels sont vos horaires", "La préfecture du Cantal se trouve Cours Monthyon, 15000 Aurillac."),
]


def keys_written(server, call_sid: str) -> int:
    """How many of the call's keys its row in the store holds."""
    return len(json.loads(db_rows(server.db, "select inputs from calls where call_sid = ?", [call_sid])[0]["inputs"]))


def test_after_a_full_disk_is_freed_the_server_starts_again_and_spools_again(tmp_path):
    """The chat's spool was first needed while the disk was full: its key file was created and its 44
    bytes could not be written. Before: that empty key stayed, every later use of the spool failed
    ("the spool's key … is empty", a traceback every 30 s), and the next server start on the freed
    disk crashed at once on it (connection reset, the process gone). Now the key is made whole or not
    at all: the server started on the freed disk answers, and the spool keeps a turn again."""
    with tmpfs(tmp_path / "disk") as mount:
        db = mount / "aiguillage.db"
        server = launch(tmp_path, db=db)
        try:
            with full(mount):
                status, answer = chat(server, "plein-" + uuid.uuid4().hex[:8], QUESTIONS[0][0])
                assert status == 200 and answer[0]["text"].startswith(QUESTIONS[0][1])
        finally:
            stop(server)
        again = launch(tmp_path, db=db)
        try:
            sender = "apres-" + uuid.uuid4().hex[:8]
            status, answer = chat(again, sender, QUESTIONS[2][0])
            assert status == 200, answer
            assert answer[0]["text"].startswith(QUESTIONS[2][1])
            until(
                lambda: db_rows(db, "select count(*) as n from turns where conversation_id = ?", [sender])[0]["n"] == 1,
                30,
                "the turn stored",
            )
            assert len(db.with_name("aiguillage.chat-spool.key").read_bytes().strip()) == 44
            assert "is empty" not in again.log.read_text()
        finally:
            stop(again)


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    """A server whose store and spools are on a small filesystem of their own: (server, mount)."""
    tmp = tmp_path_factory.mktemp("disk_full")
    with tmpfs(tmp / "disk") as mount:
        # The spools' sweep every 2 s (30 s by default): what it logs while the disk is full shows at once.
        # The console's export button writes beside the store; this machine books as a reception desk would
        # (no per-address counter written before the booking itself, as in the session's server).
        env = {"AIGUILLAGE_SPOOL_SWEEP_S": "2", "AIGUILLAGE_REVIEW_OUT": str(mount / "nlu_review.yml")}
        env["AIGUILLAGE_THROTTLE_EXEMPT"] = "127.0.0.1, ::1"
        server = launch(tmp, db=mount / "aiguillage.db", extra_env=env)
        try:
            yield server, mount
        finally:
            stop(server)


def rate(server, sender: str, useful: bool, comment: str | None = None) -> tuple[int, object]:
    return post_json(server, "/chat/feedback", {"sender": sender, "useful": useful, "comment": comment})


def count(db: Path, sql: str, args=()) -> int:
    return db_rows(db, sql, args)[0]["n"]


def test_chat_turns_and_a_rating_answered_while_the_disk_is_full_are_stored_once_space_is_freed(disk):
    """Before: each turn was answered (200) and its record lost ("could not record the turn": the
    store's "database or disk is full" is no lock, so the turn was not kept to be written later): 3
    of 3 turns missing from the console and the indicators once space was back; a rating was an
    error. Now they wait in memory (the spool is on the full disk too) and are written, once each,
    when the store takes rows again, without a restart."""
    server, mount = disk
    rated = "note-" + uuid.uuid4().hex[:8]
    assert chat(server, rated, QUESTIONS[1][0])[0] == 200
    until(lambda: count(server.db, "select count(*) as n from turns where conversation_id = ?", [rated]) == 1, 30, "stored")
    senders = ["plein-" + uuid.uuid4().hex[:8] for _ in QUESTIONS]
    with full(mount):
        for sender, (question, answer) in zip(senders, QUESTIONS, strict=True):
            status, shown = chat(server, sender, question)
            assert status == 200 and shown[0]["text"].startswith(answer)
        assert rate(server, rated, True, "Très clair, merci") == (
            200,
            {"useful": True, "comment": True, "message": "Merci pour votre avis."},
        )
    marks = ",".join("?" * len(senders))
    until(
        lambda: count(server.db, f"select count(*) as n from turns where conversation_id in ({marks})", senders) == 3,
        30,
        "the 3 turns answered while the disk was full, stored",
    )
    assert count(server.db, "select count(*) as n from feedback where item_id = ? and useful = 1", [rated]) == 1
    # Rasa's events come back through the tracker store's own background writer (its retries back off to
    # 2 s: bot/nlu/tracker_store.py _flush), not the turns' spool: each on its own schedule once space is
    # freed, so the events may land a retry after the turns (1 of 5 runs at 6195a08 read them too early).
    until(
        lambda: (
            count(server.db, f"select count(*) as n from events where type_name = 'user' and sender_id in ({marks})", senders)
            == 3
        ),
        30,
        "the 3 questions asked while the disk was full, in Rasa's events",
    )
    assert "could not record the turn" not in server.log.read_text()


def test_a_voicemail_left_while_the_disk_is_full_is_kept_until_space_is_freed(disk):
    """A caller at the weapons service's voicemail when the disk fills: they are thanked, Twilio gets
    its 200s (Record action, recording and transcription callbacks, the call's end). The phone's spool
    sits on the same full disk, so the writes wait in memory. Before: they were given up after
    `phone.settings.store_retry_s` (120 s, "NOT written after 120 s"), and the message, its ticket, its
    transcription and the call's end were lost. Now they are kept for as long as the process lives, and
    written once space is freed."""
    server, mount = disk
    retry_s = yaml.safe_load((ROOT / "bot" / "tree.yml").read_text(encoding="utf-8"))["phone"]["settings"]["store_retry_s"]
    caller = Call(server.url, TWILIO_TEST_TOKEN, caller="+33698765432")
    _, rsid = to_armes_voicemail(caller)
    with full(mount):
        done = caller.record("Bonjour, je voudrais déclarer une carabine héritée, rappelez-moi.", duration=14, recording_sid=rsid)
        assert done.says == ARMES_THANKS
        assert caller.hangup(duration=58) == 200
        time.sleep(retry_s + 5)  # longer than the store's retries of a call's place in the menu
        assert db_rows(server.db, "select id from voicemails where recording_sid = ?", [rsid]) == []
    until(
        lambda: (
            db_rows(server.db, "select status from voicemails where recording_sid = ?", [rsid]) == [{"status": "transcribed"}]
        ),
        30,
        "the message written",
    )
    kept = db_rows(server.db, "select mailbox, duration_s, transcription from voicemails where recording_sid = ?", [rsid])
    assert kept == [
        {
            "mailbox": "armes",
            "duration_s": 14,
            "transcription": "Bonjour, je voudrais déclarer une carabine héritée, rappelez-moi.",
        }
    ]
    assert db_rows(server.db, "select mailbox from tickets where idempotency_key = ?", [f"voicemail:{rsid}"]) == [
        {"mailbox": "armes"}
    ]
    until(
        lambda: db_rows(server.db, "select duration_s from calls where call_sid = ?", [caller.call_sid]) == [{"duration_s": 58}],
        30,
        "the call's end written",
    )
    assert db_rows(server.db, "select call_status, outcome from calls where call_sid = ?", [caller.call_sid]) == [
        {"call_status": "completed", "outcome": "voicemail"}
    ]


INCOMING_FAILED = "Désolé, suite à un incident technique, utilisez les touches de votre téléphone."


def test_a_call_that_comes_while_the_disk_is_full_goes_on_on_the_keypad_and_is_recorded_once_space_is_freed(disk):
    """Before: the store's "database or disk is full" was taken for a lock: the caller heard the
    ordinary welcome, and every key (5, then 3, then 9) gave the same welcome again, in a loop, for as
    long as the disk stayed full; the call could reach nothing. Now a call the store cannot record is
    served as when the store refuses its row with an error: the notice, one apology and the main menu on
    the keypad, each key leading where it says (served from its Gather's URL); its keys are kept and
    the call's row (path, keys, end) is written once space is freed."""
    server, mount = disk
    caller = Call(server.url, TWILIO_TEST_TOKEN, caller="+33612345678")
    with full(mount):
        welcome = caller.start()
        assert welcome.says[1] == INCOMING_FAILED
        assert welcome.gather["input"] == "dtmf"
        assert caller.press("5").says[0] == "Autres demandes."
        hours = caller.press("3")
        assert hours.says[0].startswith("La préfecture du Cantal se trouve Cours Monthyon, 15000 Aurillac.")
        assert caller.hangup(duration=40) == 200
        assert db_rows(server.db, "select call_sid from calls where call_sid = ?", [caller.call_sid]) == []
    until(
        lambda: db_rows(server.db, "select duration_s from calls where call_sid = ?", [caller.call_sid]) == [{"duration_s": 40}],
        30,
        "the call written",
    )
    until(
        lambda: keys_written(server, caller.call_sid) == 2,
        30,
        "its keys written",
    )
    (row,) = db_rows(server.db, "select path, inputs, call_status from calls where call_sid = ?", [caller.call_sid])
    assert json.loads(row["path"]) == ["root", "autre", "horaires_contact"]
    assert [i["digits"] for i in json.loads(row["inputs"])] == ["5", "3"]
    assert row["call_status"] == "completed"


def test_writes_waiting_for_a_full_disk_do_not_fill_the_log_with_a_traceback_at_each_retry(disk):
    """The server's log (on the same disk, often) while writes wait for space: before, the background
    writers logged a full traceback at every retry (every 2 s for a chat turn's events, again for its
    record, every sweep of the spools): 49 KB in 30 s for one waiting conversation in the audit. Now
    each error is logged once, with its traceback, until it changes: nothing more while it lasts."""
    server, mount = disk
    sender = "journal-" + uuid.uuid4().hex[:8]
    with full(mount):
        assert chat(server, sender, QUESTIONS[0][0])[0] == 200
        caller = Call(server.url, TWILIO_TEST_TOKEN)
        caller.start()
        assert caller.hangup(duration=12) == 200
        time.sleep(6)  # the first failures of each writer and of each spool's sweep are logged
        before = server.log.stat().st_size
        time.sleep(20)  # nothing asked meanwhile: only the retries
        grown = server.log.read_bytes()[before:].decode("utf-8", "replace")
    assert grown.count("Traceback") == 0, f"{len(grown)} bytes logged in 20 s:\n{grown[:3000]}"
    until(lambda: count(server.db, "select count(*) as n from turns where conversation_id = ?", [sender]) == 1, 30, "stored")


def serve(db: Path, **env) -> subprocess.CompletedProcess:
    """`python -m bot serve` with the phone served, waited for until it stops (it should, at once)."""
    from conftest import free_port

    port = free_port()
    environ = dict(os.environ, PORT=str(port), AIGUILLAGE_DB=str(db), RASA_TELEMETRY_ENABLED="false", **env)
    environ.update(TWILIO_AUTH_TOKEN=TWILIO_TEST_TOKEN, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")  # the phone served
    environ.pop("IVR_LOCAL_DEV", None)
    cmd = [str(ROOT / ".venv" / "bin" / "python"), "-m", "bot", "serve", "--model", str(ROOT / "models" / "aiguillage.tar.gz")]
    cmd += ["--port", str(port), "--credentials", "credentials.yml", "--endpoints", "endpoints.yml"]
    return subprocess.run(cmd, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=180)


def test_the_server_started_on_a_full_disk_says_so_and_stops(tmp_path):
    """Before: a start on the full disk (the préfecture's server rebooted with its disk still full)
    ended on a Python traceback, "sqlite3.OperationalError: disk I/O error" from the phone's spool, or
    "OSError: [Errno 28] No space left on device" for a new store. Now: one sentence that names the
    folder, says its disk is full and what to do, and exit status 4."""
    with tmpfs(tmp_path / "disk") as mount:
        used = mount / "aiguillage.db"
        stop(launch(tmp_path, db=used))  # a store and spools that exist, as on a server that ran
        with full(mount):
            for db in (used, mount / "nouveau.db"):
                done = serve(db)
                assert done.returncode == 4, done.stderr[-2000:]
                assert f"Aiguillage cannot start: the disk holding {mount} is full (0 bytes free" in done.stderr
                assert "free some space on it (old logs, backups), then start the server again." in done.stderr
                assert "Traceback" not in done.stderr


def test_a_temporary_directory_without_room_for_the_model_is_said_so_not_a_damaged_model(tmp_path):
    """Rasa unpacks the model into the temporary directory (TMPDIR, /tmp) at each start. Before: when
    its files did not fit there ("No space left on device" in Rasa's log), the server stopped saying
    the model file was "missing, damaged, or trained with another Rasa version" and to run `make
    train`, which cannot help (and writes more). Now it says the temporary directory lacks room, with
    the figures, and what to do; the same exit status 3."""
    import tarfile

    model = ROOT / "models" / "aiguillage.tar.gz"
    with tarfile.open(model) as archive:
        need = sum(member.size for member in archive.getmembers())
    with tmpfs(tmp_path / "tmp", size="8m") as tmp:
        assert need > 8 * 1024 * 1024  # the model's files (about 11 MB) do not fit there
        done = serve(tmp_path / "aiguillage.db", TMPDIR=str(tmp))
    assert done.returncode == 3, done.stderr[-2000:]
    assert (
        f"Aiguillage cannot start: the model file {model} could not be unpacked in the temporary directory {tmp}:"
        f" its files take {need / 1e6:.0f} MB and 8 MB are free there. Free some space there, or point TMPDIR"
        " at a folder with room, then start the server again."
    ) in done.stderr
    assert "make train" not in done.stderr


# The review files a purge takes the erased reviews' sentences out of: the session's (tests/conftest.py), never the checkout's.
REVIEW_FILES = {k: os.environ[k] for k in ("AIGUILLAGE_REVIEW_OUT", "AIGUILLAGE_REVIEWED_SET")}


def purge(db: Path) -> subprocess.CompletedProcess:
    env = {"AIGUILLAGE_DB": str(db), "PATH": "/usr/bin:/bin", "PREFECTURE": "cantal", **REVIEW_FILES}
    cmd = [str(ROOT / ".venv" / "bin" / "python"), "-m", "bot", "purge", "--now", "2026-12-31T12:00"]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_retention_purge_on_a_full_disk_says_it_needs_room_and_deletes_once_space_is_freed(tmp_path):
    """Deleting needs room too: SQLite appends each change to its write-ahead log (the -wal file) before
    the store's file, and erased rows are overwritten with zeros (secure_delete). Before: on a full
    disk `python -m bot purge` ended on an English traceback (sqlite3.OperationalError: database or
    disk is full, at the first COMMIT), exit status 1. Now one French sentence says why and what to
    do, exit status 4; the store is intact, and the same purge deletes the rows once space is freed."""
    from bot.store.database import Store

    with tmpfs(tmp_path / "disk") as mount:
        db = mount / "aiguillage.db"
        store = Store(db)
        for i in range(3):  # conversations a year and a half old: past the 180 days kept
            store.record_turn(
                f"ancienne-{i}",
                "web",
                "quels sont vos horaires",
                "horaires_contact",
                0.9,
                "info",
                "horaires_contact",
                "answer",
                True,
                0,
                "cantal",
                ts="2025-06-01T10:00:00.000+00:00",
            )
        # The server running (its connection open: the store's -wal and -shm exist, the purge fails at its
        # first COMMIT), then stopped (the purge cannot even open the store: its -shm needs room).
        for running in (True, False):
            if not running:
                store.close()
            with full(mount):
                done = purge(db)
                assert done.returncode == 4, done.stderr[-2000:]
                assert done.stderr.strip() == (
                    f"Purge impossible : le disque de {mount} est plein (0 octet libre). Effacer des lignes demande"
                    " aussi de la place (SQLite écrit chaque suppression dans son journal, le fichier -wal, avant de"
                    " libérer la place) : libérez de la place sur ce disque (anciens journaux, sauvegardes), puis"
                    " relancez « python -m bot purge ». Ce qui n'a pas pu être effacé le sera à la prochaine purge."
                )
        assert count(db, "select count(*) as n from turns") == 3  # read once space is back: the store's -shm needs room too
        assert db_rows(db, "pragma integrity_check") == [{"integrity_check": "ok"}]
        again = purge(db)
        assert again.returncode == 0, again.stderr[-2000:]
        assert json.loads(again.stdout)["rows"]["turns"] == 3
        assert count(db, "select count(*) as n from turns") == 0


def test_a_call_under_way_when_the_disk_fills_goes_on_on_the_keypad(disk):
    """A caller in the menu when the disk fills. Before: every key got « Désolé, un incident technique
    m'a empêché d'enregistrer votre choix. Je répète. » and the same menu again, 0 and the voicemail's
    key included, for as long as the disk stayed full: the caller could reach nothing, not even the
    main menu. Now the key is applied as for a call the store cannot record (served from its Gather's
    URL, on the keypad) and the call goes on; its keys are added to its row once space is freed."""
    server, mount = disk
    caller = Call(server.url, TWILIO_TEST_TOKEN, caller="+33611112222")
    caller.start()
    assert caller.press("5").says[0] == "Autres demandes."
    with full(mount):
        hours = caller.press("3")
        assert hours.says[0].startswith("La préfecture du Cantal se trouve Cours Monthyon, 15000 Aurillac.")
        assert hours.gather["input"] == "dtmf"
        menu = caller.press("0")
        assert menu.node == "root" and "Autre demande, tapez 5." in menu.says
        assert caller.press("5").says[0] == "Autres demandes."
        assert caller.hangup(duration=70) == 200
    until(
        lambda: keys_written(server, caller.call_sid) == 4,
        30,
        "the keys pressed while the disk was full, added to the call's row",
    )
    (row,) = db_rows(server.db, "select path, inputs, duration_s from calls where call_sid = ?", [caller.call_sid])
    assert [i["digits"] for i in json.loads(row["inputs"])] == ["5", "3", "0", "5"]
    assert json.loads(row["path"]) == ["root", "autre", "horaires_contact", "root", "autre"]
    until(
        lambda: db_rows(server.db, "select duration_s from calls where call_sid = ?", [caller.call_sid]) == [{"duration_s": 70}],
        30,
        "the call's end written",
    )


RATING_OFFER = "Si cette réponse vous a aidé, tapez 9 ; sinon, tapez 8."
RATED = "select useful, topic, destination from feedback where kind = 'phone' and item_id = ?"


def test_a_rating_given_on_the_phone_while_the_disk_is_full_is_thanked_and_kept_until_space_is_freed(disk):
    """A caller at an answer when the disk fills presses 9 (« cette réponse m'a aidé »), and another,
    whose call came while the disk was full, presses 8. Before: the rating's row was asked of the store
    even on the keypad served from the Gather's URL, the full disk refused it, and instead of the thanks
    each heard « Désolé, un incident technique m'a empêché d'enregistrer votre choix. Je répète. », then
    the first the answer and its rating offer again, the second the welcome and the main menu (the call
    started over); the ratings were lost. Now each caller hears « Merci pour votre avis. » and the
    answer's keys without the rating, as with a free disk; the rating waits with the call's keys and
    is written once space is freed."""
    server, mount = disk
    recorded = Call(server.url, TWILIO_TEST_TOKEN, caller="+33611113333")
    recorded.start()
    recorded.press("5")
    assert RATING_OFFER in recorded.press("3").says
    later = Call(server.url, TWILIO_TEST_TOKEN, caller="+33611114444")
    with full(mount):
        later.start()
        later.press("5")
        assert RATING_OFFER in later.press("3").says
        for caller, key in ((recorded, "9"), (later, "8")):
            thanked = caller.press(key)
            assert thanked.says[0] == "Merci pour votre avis."
            assert RATING_OFFER not in thanked.says
            assert thanked.gather["input"] == "dtmf"
            assert caller.hangup(duration=45) == 200
        assert db_rows(server.db, RATED, [recorded.call_sid]) == db_rows(server.db, RATED, [later.call_sid]) == []
    for caller, useful in ((recorded, 1), (later, 0)):
        until(lambda caller=caller: db_rows(server.db, RATED, [caller.call_sid]), 30, "the rating written")
        assert db_rows(server.db, RATED, [caller.call_sid]) == [
            {"useful": useful, "topic": "horaires_contact", "destination": "info"}
        ]
        until(lambda caller=caller: keys_written(server, caller.call_sid) == 3, 30, "the call's keys written")


FULL_TITLE, FULL = (
    "Disque du serveur plein",
    (
        "Le disque du serveur est plein : rien n'a été enregistré. Prévenez l'administrateur du serveur, qui doit libérer"
        " de la place, puis réessayez."
    ),
)


def test_the_agents_console_says_the_disk_is_full_and_to_warn_the_administrator(disk, python):
    """An agent working when the disk fills: pages that only read still open; a reply, or a download the
    console must note in its audit log, cannot be saved. Before: « La base de données n'a pas pu
    enregistrer cette action. Rien n'a été enregistré : réessayez dans un instant. » for the reply and
    « La base de données est occupée par une autre opération. Rechargez la page dans un instant. » for
    the indicators' CSV: the agent retried and reloaded, though only freeing space helps. Now both say
    the disk is full and to warn the administrator; once space is freed the same reply goes through."""
    import html

    from test_console import Console, cli
    from test_console_replies import submit

    server, mount = disk
    agent = ("disque-agent", "disque-agent-pass-123")
    done = cli(python, server.db, "agents", "add", agent[0], "--role", "agent", "--password-stdin", stdin=agent[1] + "\n")
    assert done.returncode == 0, done.stderr
    body = {
        "service": "armes",
        "subject": "Carabine",
        "body": "Bonjour, une question.",
        "email": "a@exemple.fr",
        "idem": uuid.uuid4().hex,
    }
    status, left = post_json(server, "/rdv/api/message", body)
    assert status == 200, left
    reference = left["reference"]
    console = Console(server.url)
    assert console.login(*agent).status_code == 303
    page = console.get(f"/messages/{reference}")
    preview = submit(console, page.text, "reply-submit", reponse="Votre demande est complète.")
    assert preview.status_code == 200
    with full(mount):
        assert console.get(f"/messages/{reference}").status_code == 200  # reading still works
        for refused in (submit(console, preview.text, "confirm-send"), console.get("/indicateurs.csv?table=indicateurs")):
            assert refused.status_code == 503
            shown = html.unescape(refused.text)
            assert FULL_TITLE in shown
            assert FULL in shown
    sent = submit(console, preview.text, "confirm-send")
    assert (sent.status_code, sent.headers["Location"]) == (303, f"/console/messages/{reference}?ok=reply")


def test_requests_served_while_the_disk_is_full_log_one_line_each_without_a_traceback(disk):
    """Before: each request served while the disk was full logged Python tracebacks (the incoming
    call, each key on the keypad, each write the spool could not take, each refusal: 57 KB for about 30
    requests in the audit, on a disk that is full and a log often on it). Now a full disk, a known
    cause, is logged in one line per refusal; the writes are kept the same."""
    server, mount = disk
    sender = "lignes-" + uuid.uuid4().hex[:8]
    with full(mount):
        before = server.log.stat().st_size
        assert chat(server, sender, QUESTIONS[2][0])[0] == 200
        caller = Call(server.url, TWILIO_TEST_TOKEN)
        assert caller.start().says[1] == INCOMING_FAILED
        assert caller.press("5").says[0] == "Autres demandes."
        assert caller.press("1").says[0].startswith("Les démarches d'armes se font en ligne")
        assert caller.hangup(duration=20) == 200
        time.sleep(2)  # the background writers' first retries
        logged = server.log.read_bytes()[before:].decode("utf-8", "replace")
    assert logged.count("Traceback") == 0, logged[:4000]
    assert "database or disk is full" in logged
    until(lambda: count(server.db, "select count(*) as n from turns where conversation_id = ?", [sender]) == 1, 30, "stored")
    until(
        lambda: db_rows(server.db, "select duration_s from calls where call_sid = ?", [caller.call_sid]) == [{"duration_s": 20}],
        30,
        "the call written",
    )


def test_the_review_export_on_a_full_disk_says_so_in_french_and_leaves_no_partial_file(disk, python):
    """The administrators' « Exporter » button writes the reviewed sentences (AIGUILLAGE_REVIEW_OUT).
    Before, on a full disk: « Le fichier n'a pas pu être écrit (No space left on device). », the
    system's English words in the French page, a traceback in the log, and the half-written
    nlu_review.tmp left on the full disk. Now the page says the disk is full and to warn the
    administrator, and nothing is left behind; once space is freed the export writes its file."""
    import html

    from test_console import Console, cli

    server, mount = disk
    admin = ("disque-admin", "disque-admin-pass-123")
    done = cli(python, server.db, "agents", "add", admin[0], "--role", "admin", "--password-stdin", stdin=admin[1] + "\n")
    assert done.returncode == 0, done.stderr
    console = Console(server.url)
    assert console.login(*admin).status_code == 303
    assert console.get("/admin").status_code == 200
    (mount / "nlu_review.yml").unlink(missing_ok=True)
    with full(mount):
        before = server.log.stat().st_size
        refused = console.post("/admin/export", {"csrf": console.csrf})
        assert refused.status_code == 503
        shown = html.unescape(refused.text)
        assert "Export impossible" in shown
        assert (
            "Le fichier n'a pas pu être écrit : le disque du serveur est plein. Prévenez l'administrateur du serveur,"
            " qui doit libérer de la place, puis réessayez."
        ) in shown
        assert sorted(p.name for p in mount.glob("nlu_review*")) == []
        assert "Traceback" not in server.log.read_bytes()[before:].decode("utf-8", "replace")
    assert console.post("/admin/export", {"csrf": console.csrf}).status_code == 200
    assert (mount / "nlu_review.yml").exists()


def bot_command(db: Path, *args: str, **env) -> subprocess.CompletedProcess:
    environ = {"AIGUILLAGE_DB": str(db), "PATH": "/usr/bin:/bin", "PREFECTURE": "cantal", **env}
    environ.setdefault("AIGUILLAGE_REVIEWED_SET", os.environ["AIGUILLAGE_REVIEWED_SET"])  # never the checkout's var/
    cmd = [str(ROOT / ".venv" / "bin" / "python"), "-m", "bot", *args]
    return subprocess.run(cmd, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)


COMMAND_FULL = (
    "Commande interrompue : le disque où elle écrit est plein. Libérez de la place sur ce disque (anciens journaux,"
    " sauvegardes), puis relancez la commande."
)


def test_the_commands_that_write_a_file_on_a_full_disk_say_so_and_leave_no_truncated_file(tmp_path):
    """The committee report (`python -m bot report --out …`) and the review export (`python -m bot
    review export`, AIGUILLAGE_REVIEW_OUT) written to a full disk. Before: an English traceback
    ("OSError: [Errno 28] No space left on device"), exit status 1, and for the report an empty
    rapport-clu-cantal-….html left under its final name, as if the report had been written. Now one
    French sentence, exit status 4, and no file left behind."""
    from bot.store.database import Store

    db = tmp_path / "aiguillage.db"  # the store has room; the folder written to has none
    Store(db).close()
    with tmpfs(tmp_path / "disk") as mount:
        (mount / "rapports").mkdir()
        with full(mount):
            report = bot_command(
                db,
                "report",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-30",
                "--out",
                str(mount / "rapports"),
                "--no-pdf",
                "--quiet",
            )
            export = bot_command(db, "review", "export", AIGUILLAGE_REVIEW_OUT=str(mount / "nlu_review.yml"))
        for done in (report, export):
            assert done.returncode == 4, done.stderr[-2000:]
            assert done.stderr.strip() == COMMAND_FULL
        assert list((mount / "rapports").iterdir()) == []
        assert sorted(p.name for p in mount.glob("nlu_review*")) == []
        again = bot_command(
            db, "report", "--from", "2026-11-01", "--to", "2026-11-30", "--out", str(mount / "rapports"), "--no-pdf", "--quiet"
        )
        assert again.returncode == 0, again.stderr[-2000:]
        assert [p.name for p in (mount / "rapports").iterdir()] == ["rapport-clu-cantal-2026-11-01-2026-11-30.html"]


def test_a_booking_refused_by_a_full_disk_is_logged_with_its_cause(disk):
    """A PAN booking while the disk is full: the person gets the 503 and its French sentence, nothing is
    booked, the same form goes through later. Before, the server's log named another error, "cannot
    rollback - no transaction is active" (SQLite had already ended the transaction on the full disk and
    the booking's rollback failed over the cause), leaving the administrator to guess. Now the log
    says "database or disk is full"."""
    server, mount = disk
    with urllib.request.urlopen(server.url + "/rdv/api/creneaux?site=aurillac&reason=carte_grise", timeout=60) as answer:
        first, slot = (s["key"] for s in json.loads(answer.read())["slots"][:2])

    def booking(key: str, email: str) -> urllib.request.Request:
        body = {"site": "aurillac", "reason": "carte_grise", "slot": key, "email": email, "mobile": "", "idem": uuid.uuid4().hex}
        headers = {"Content-Type": "application/json"}
        return urllib.request.Request(server.url + "/rdv/api/reserver", data=json.dumps(body).encode(), headers=headers)

    with urllib.request.urlopen(booking(first, "avant@exemple.fr"), timeout=60) as answer:  # a booking before, as any day
        assert answer.status == 200
    request = booking(slot, "plein@exemple.fr")
    with full(mount):
        before = server.log.stat().st_size
        try:
            urllib.request.urlopen(request, timeout=60)
            raise AssertionError("a booking was acknowledged on a full disk")
        except urllib.error.HTTPError as exc:
            assert (exc.code, json.loads(exc.read())) == (503, {"error": BOOKING_NOT_RECORDED})
        logged = server.log.read_bytes()[before:].decode("utf-8", "replace")
    assert "rdv: store error on POST /rdv/api/reserver: OperationalError('database or disk is full')" in logged
    assert "cannot rollback" not in logged
    assert db_rows(server.db, "select count(*) as n from pan_bookings where contact = ?", ["plein@exemple.fr"]) == [{"n": 0}]


BOOKING_NOT_RECORDED = (
    "Votre rendez-vous n'a pas pu être enregistré pour le moment. Réessayez plus tard, ou appelez la préfecture du"
    " Cantal au 04 71 46 23 00 (du lundi au vendredi de 8 h 30 à 12 h et de 13 h 30 à 16 h 30)."
)


MESSAGE_NOT_RECORDED = (
    "Votre message n'a pas pu être enregistré pour le moment. Réessayez plus tard, ou appelez la préfecture du"
    " Cantal au 04 71 46 23 00 (du lundi au vendredi de 8 h 30 à 12 h et de 13 h 30 à 16 h 30)."
)


def test_a_booking_form_sent_while_the_disk_is_full_says_it_was_not_recorded_and_to_call(disk):
    """The /rdv/ booking page sent while the store's disk is full. Before: 503 « Service momentanément
    surchargé », « Le service est momentanément surchargé : votre envoi n'a pas été enregistré.
    Réessayez dans un instant. »: the person retried at once, though the disk stays full until someone
    frees it. Now the page says the appointment could not be recorded for now, to try again later or
    to call the préfecture (its number and hours), the form kept as typed; nothing is booked, and the
    same form goes through once space is freed. A message to a service sent from its page likewise."""
    from test_pan_http import hidden, open_slots, slot_values, unescape

    server, mount = disk
    browser, html, _ = open_slots(server)
    form = {
        "csrf": hidden(html, "csrf"),
        "idem": hidden(html, "idem"),
        "site": "aurillac",
        "motif": "carte_grise",
        "slot": slot_values(html)[2],
        "email": "page-plein@exemple.fr",
        "mobile": "",
    }
    with full(mount):
        status, page, headers = browser.post("/rdv/reserver", form)
    shown = unescape(page)
    assert status == 503
    assert BOOKING_NOT_RECORDED in shown
    assert "surchargé" not in shown
    assert 'value="page-plein@exemple.fr"' in shown  # the form as it was typed
    assert db_rows(server.db, "select count(*) as n from pan_bookings where contact = ?", ["page-plein@exemple.fr"]) == [{"n": 0}]
    status, page, _ = browser.post("/rdv/reserver", form)
    assert status == 200, page
    assert db_rows(server.db, "select count(*) as n from pan_bookings where contact = ?", ["page-plein@exemple.fr"]) == [{"n": 1}]
    # A message to a service sent from its page: the same, said of the message.
    status, html, _ = browser.get("/rdv/message?service=armes")
    assert status == 200
    message = {"csrf": hidden(html, "csrf"), "idem": hidden(html, "idem"), "service": "armes", "subject": "Carabine"}
    message |= {"body": "Bonjour, une question sur une carabine héritée.", "email": "message-plein@exemple.fr"}
    with full(mount):
        status, page, _ = browser.post("/rdv/message", message)
    shown = unescape(page)
    assert status == 503
    assert MESSAGE_NOT_RECORDED in shown and "surchargé" not in shown
    assert db_rows(server.db, "select count(*) as n from tickets where contact_email = ?", ["message-plein@exemple.fr"]) == [
        {"n": 0}
    ]
    assert browser.post("/rdv/message", message)[0] == 200
