"""A voicemail the caller was thanked for survives the death of the process that took it while the
store refused the write (ivr/spool.py): real servers over HTTP, Twilio's complete bodies, a real
SQLite write lock held by another connection, a real kill -9."""

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import ROOT, TWILIO_TEST_TOKEN, db_rows, launch, stop
from store_lock import Lock

from ivr.spool import Spool
from tools.ivr.simulate import Call

THANKS = "Merci. Votre message a été transmis au service concerné"


def spool_rows(path: Path) -> list[dict]:
    return db_rows(path, "select kind from spool order by id")


def test_what_a_dead_process_left_in_the_spool_is_taken_over_once(tmp_path):
    path = tmp_path / "aiguillage.phone-spool.db"
    when = "2026-03-02T10:15:00+01:00"
    # another process keeps a voicemail, then dies (its pid is gone)
    script = (
        "import sys; from datetime import datetime; from pathlib import Path; from ivr.spool import Spool; "
        f"Spool(Path(sys.argv[1])).add('voicemail', ['CA1', 'RE1', 'armes', 'https://api.twilio.com/r/RE1', 12, "
        f"datetime.fromisoformat('{when}'), '+33612345678'])"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, check=True)
    # a live process (sleeping) keeps a call's end: not ours to take
    sleeper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from ivr.spool import Spool; "
            "Spool(Path(sys.argv[1])).add('status', ['CA2', 'completed', 30, '+33612345678']); print('kept', flush=True); time.sleep(60)",
            str(path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sleeper.stdout.readline().strip() == "kept"
        ours, beside = Spool(path), Spool(path)
        taken = ours.orphans()
        assert taken == [
            (
                1,
                "voicemail",
                ["CA1", "RE1", "armes", "https://api.twilio.com/r/RE1", 12, datetime.fromisoformat(when), "+33612345678"],
            )
        ]
        assert beside.orphans() == []  # taken once: the other process starting beside us gets nothing
        assert ours.pending() == 2
        ours.remove(1)
        assert spool_rows(path) == [{"kind": "status"}]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert Spool(path).orphans() == [(2, "status", ["CA2", "completed", 30, "+33612345678"])]  # its owner is gone now


TAKERS = ("the next process", "a running sibling")


@pytest.mark.parametrize("taker", TAKERS)
def test_a_voicemail_thanked_while_the_store_is_locked_survives_a_kill_9(tmp_path, taker):
    """Taken over by the next process started on the host, or by a sibling process that runs all
    along (a cluster's other process), at its next sweep (AIGUILLAGE_SPOOL_SWEEP_S)."""
    db = tmp_path / "aiguillage.db"
    spool = tmp_path / "aiguillage.phone-spool.db"
    env = {"AIGUILLAGE_SPOOL_SWEEP_S": "1"}
    first = launch(tmp_path, db=db, extra_env=env)
    sibling = launch(tmp_path, db=db, extra_env=env) if taker == "a running sibling" else None
    try:
        caller = Call(first.url, TWILIO_TEST_TOKEN, timeout=15)
        caller.start()
        caller.press("5")
        caller.press("1")
        assert caller.press("2").record is not None  # the weapons service's voicemail (Cantal)
        rsid = "RE" + caller.call_sid[2:]
        with Lock(db, 10):
            done = caller.record("Merci de me rappeler au sujet de mon permis de chasser.", recording_sid=rsid)
            assert done.says[0].startswith(THANKS)
            assert caller.hangup(duration=40) == 200
            first.proc.kill()  # kill -9 while the store still refuses the writes
            first.proc.wait(timeout=10)
            assert db_rows(db, "select recording_sid from voicemails where recording_sid = ?", [rsid]) == []
            kept = [{"kind": "voicemail"}, {"kind": "recording"}, {"kind": "recording"}, {"kind": "status"}]
            assert spool_rows(spool) == kept
            assert [form for form in CALLER_FORMS if form in spool_bytes(spool)] == []  # the caller's From, encrypted
    except BaseException:
        if sibling is not None:
            stop(sibling)
        raise
    finally:
        stop(first)
    second = sibling or launch(tmp_path, db=db)  # the sibling running all along, or the next process
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            vms = db_rows(db, "select transcription, status, mailbox from voicemails where recording_sid = ?", [rsid])
            ended = db_rows(db, "select duration_s from calls where call_sid = ?", [caller.call_sid])
            if vms and vms[0]["status"] == "transcribed" and ended and ended[0]["duration_s"] == 40 and not spool_rows(spool):
                break
            time.sleep(0.5)
        assert vms == [
            {
                "transcription": "Merci de me rappeler au sujet de mon permis de chasser.",
                "status": "transcribed",
                "mailbox": "armes",
            }
        ]
        assert ended == [{"duration_s": 40}]
        tickets = db_rows(db, "select mailbox from tickets where idempotency_key = ?", [f"voicemail:{rsid}"])
        assert tickets == [{"mailbox": "armes"}]
        assert spool_rows(spool) == []
        assert "left in the spool by a stopped process will be written" in second.log.read_text()
    finally:
        stop(second)


CALLER_FORMS = (b"+33612345678", b"0612345678", b"06 12 34 56 78", b"612345678")


def spool_bytes(path: Path) -> bytes:
    """Every byte the spool left on disk: the file, its write-ahead log and its shared memory."""
    return b"".join(
        p.read_bytes() for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")) if p.exists()
    )


def test_the_spool_never_holds_the_callers_number_in_clear(tmp_path):
    """The caller's number (the call-back number a voicemail keeps) is on local disk while the store is
    busy: not in clear there, and nothing of a removed entry lingers in the file's free pages."""
    path = tmp_path / "aiguillage.phone-spool.db"
    when = "2026-03-02T10:15:00+01:00"
    script = (  # a process keeps a voicemail and a call's end, then dies
        "import sys; from datetime import datetime; from pathlib import Path; from ivr.spool import Spool; "
        "s = Spool(Path(sys.argv[1])); "
        f"s.add('voicemail', ['CA1', 'RE1', 'armes', 'https://api.twilio.com/r/RE1', 12, datetime.fromisoformat('{when}'), "
        "'+33612345678']); s.add('status', ['CA1', 'completed', 30, '+33612345678'])"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, check=True)
    assert [form for form in CALLER_FORMS if form in spool_bytes(path)] == []
    assert [row["kind"] for row in spool_rows(path)] == ["voicemail", "status"]
    # the next process reads the entries back as they were given, writes them, removes them
    spool = Spool(path)
    assert spool.orphans() == [
        (
            1,
            "voicemail",
            ["CA1", "RE1", "armes", "https://api.twilio.com/r/RE1", 12, datetime.fromisoformat(when), "+33612345678"],
        ),
        (2, "status", ["CA1", "completed", 30, "+33612345678"]),
    ]
    spool.remove(1)
    spool.remove(2)
    assert spool.pending() == 0
    left = spool_bytes(path)
    assert [form for form in CALLER_FORMS if form in left] == []
    # the removed rows are wiped, not left in free pages: neither their kind nor their owner remains
    assert (b"voicemail" in left, spool.owner.encode() in left) == (False, False)
    # This host's SQLite (Debian's) wipes deleted rows by default; the spool asks for it on every build.
    with spool._connect() as conn:
        assert conn.execute("pragma secure_delete").fetchone() == (1,)


def test_the_spool_files_are_readable_by_their_owner_only(tmp_path):
    """An outside-in audit found var/aiguillage.phone-spool.db made 0644 beside the store's 0600: its rows
    are encrypted (its key is 0600), but who called and when is in the file's own metadata too."""
    import stat

    spool = Spool(tmp_path / "var" / "phone-spool.db")
    spool.add("status", ["CA9", "completed", 30, "+33612345678"])
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "var").iterdir() if p.name.startswith("phone-spool")}
    assert modes and set(modes.values()) == {0o600}, modes
