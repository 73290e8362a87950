"""Benchmark: the agents' console and the operators' commands on a year of a large préfecture.

    python bench/console_bench.py [--baseline DIR] [--rounds 3] [--gets 5] [--only pages,commands,purge] [--stores 1/10,year]
                                  [--names indicators,report]

The stores (bench/console_store.py): a year of 150,000 conversations and 110,000 calls with what agents and
Rasa add to it (4 million of Rasa's events), and 1/10 of it, the baseline of how things scale. For this
checkout, and DIR (another checkout of the repository with its .venv and models/, e.g. a worktree of the
commit before a change) when given, in turn, each round on fresh copies of the stores:

- pages: a real server (`python -m bot serve`, bench/servers.py) on a copy, an admin signed in, each page
  an agent opens in a day got `--gets` times: the median server time (HTTP round trip on the loopback),
  the page's size, its table rows and whether it links to a next page; the first of the gets apart too
  (`first_s`: what the server keeps, the indicators' charts, is not kept yet);
- commands: `python -m bot indicators`, `report --no-pdf`, `review export`, `tickets failures`,
  `purge --dry-run`, each run `--gets` times (median wall time; the interpreter's start-up alone is given);
- purge: `python -m bot purge` past every period on the year, with a server on the same copy answering a
  chat turn and a phone call's first step every 0.5 s, and a writer taking the write lock every 50 ms
  (BEGIN IMMEDIATE; COMMIT on its own connection: its waits are the purge's holds of the lock).

Writes OUT/console_bench.json (every figure, the machine's load at each measure). A benchmark, not a
test: nothing here asserts a timing. Not imported by the product.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import servers  # noqa: E402
from bench.console_store import console_store  # noqa: E402

FULL, TENTH = (150_000, 110_000), (15_000, 11_000)
PREFECTURE = "vienne"  # bench/report_store.py's
ADMIN = ("bench-admin", "bench-admin-pass-1")
YEAR = "from=2025-12-03&to=2026-12-02"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PURGE_NOW = "2027-06-05T12:00"  # every conversation, call and event of the year past its 180 days


def pages(db: Path) -> list[tuple[str, str, dict | None, str]]:
    """(name, path, form: None for a GET, the page a form is posted from) of the pages measured, with real
    ids of `db`."""
    c = sqlite3.connect(db)
    one = lambda sql: c.execute(sql).fetchone()[0]  # noqa: E731
    chat = one("select id from conversations where status = 'unresolved' order by updated_at desc limit 1")
    call = one("select call_sid from calls where unresolved = 1 order by started_at desc limit 1")
    ref = one("select reference from tickets where status = 'open' and contact_email is not null order by id desc limit 1")
    pan = one("select reference from pan_bookings order by id desc limit 1")
    busy = one("select substr(slot_start, 1, 10) d from pan_bookings group by d order by count(*) desc limit 1")
    c.close()
    read = [
        ("queue", "/file"),
        ("queue, last page", "/file?page=100000"),
        ("queue, calls", "/file?canal=phone"),
        ("queue, a topic", "/file?theme=carte_grise"),
        ("queue, new ones", "/file?statut=new"),
        ("queue, a month", "/file?du=2026-11-01&au=2026-11-30"),
        ("queue, rated not useful", "/file?avis=pas_utile"),
        ("queue, corrected by the person", "/file?avis=corrige"),  # before 015: the queue (an unknown view)
        ("a conversation", f"/element/chat/{chat}"),
        ("a call", f"/element/phone/{call}"),
        ("messages waiting", "/messages"),
        ("messages, answered too", "/messages?repondus=1"),
        ("a message", f"/messages/{ref}"),
        ("PAN day, busiest", f"/rdv?jour={busy}"),
        ("indicators, the year", f"/indicateurs?{YEAR}"),
        ("indicators, a month", "/indicateurs?from=2026-11-01&to=2026-11-30"),
        ("indicators CSV, the year", f"/indicateurs.csv?{YEAR}&table=indicateurs"),
        ("committee report, the year", f"/indicateurs/rapport.html?{YEAR}"),
        ("admin and audit log", "/admin"),
        ("audit log, page 200", "/admin?page=200"),
        ("audit log of a booking", f"/admin?element={pan}"),
    ]
    forms = [
        ("reply preview (POST)", f"/messages/{ref}/repondre", {"reponse": "Bonjour, voici la réponse."}, f"/messages/{ref}"),
        ("contact search (POST)", "/admin/contact", {"contact": "personne12@exemple.fr"}, "/admin"),
        ("export of the examples (POST)", "/admin/export", {}, "/admin"),
    ]
    return [(name, path, None, "") for name, path in read] + forms


class Agent:
    """An admin's browser: cookies, the CSRF token of the last page."""

    def __init__(self, url: str):
        self.url = url + "/console"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), NoRedirect())
        self.csrf = ""

    def send(self, path: str, form: dict | None = None) -> tuple[int, bytes, float]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        began = time.perf_counter()
        try:
            with self.opener.open(self.url + path, data=data, timeout=600) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        elapsed = time.perf_counter() - began
        found = CSRF.search(body.decode("utf-8", "replace"))
        self.csrf = found.group(1) if found else self.csrf
        return status, body, elapsed

    def login(self) -> None:
        self.send("/connexion")
        status, _, _ = self.send("/connexion", {"csrf": self.csrf, "identifiant": ADMIN[0], "mot_de_passe": ADMIN[1]})
        if status != 303:
            raise RuntimeError(f"login refused: {status}")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def copy_store(db: Path, tmp: Path, name: str) -> Path:
    """A fresh copy of `db` (a file of its own: an earlier copy's -wal would be replayed into it)."""
    work = tmp / f"{name}-{uuid.uuid4().hex[:8]}.db"
    shutil.copy(db, work)
    return work


def drop_store(work: Path) -> None:
    for path in (work, Path(f"{work}-wal"), Path(f"{work}-shm")):
        path.unlink(missing_ok=True)


def cli(checkout: Path, db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, AIGUILLAGE_DB=str(db), PREFECTURE=PREFECTURE, TF_CPP_MIN_LOG_LEVEL="3")
    # The review files (an export; the purge takes erased reviews' sentences out of them): beside the copy, never the checkout's.
    env.update(AIGUILLAGE_REVIEW_OUT=str(db.parent / "nlu_review.yml"), AIGUILLAGE_REVIEWED_SET=str(db.parent / "reviewed.jsonl"))
    env.pop("DATABASE_URL", None)
    python = checkout / ".venv" / "bin" / "python"
    return subprocess.run([str(python), "-m", "bot", *args], cwd=checkout, env=env, input=stdin, capture_output=True, text=True)


def serve(checkout: Path, db: Path, tmp: Path) -> servers.Launched:
    port = servers.free_port()
    env = servers.base_env(port, db)
    env.update(PREFECTURE=PREFECTURE, AIGUILLAGE_PURGE_FIRST_S="1e9", AIGUILLAGE_REVIEW_OUT=str(tmp / "nlu_review.yml"))
    env.update(AIGUILLAGE_REVIEWED_SET=str(tmp / "public_reviewed.jsonl"))  # the admin's export: never the checkout's var/
    model = checkout / "models" / "aiguillage.tar.gz"
    server = servers.Launched(servers.ours_cmd(port, model, root=checkout), env, tmp / f"serve-{port}.log", port, root=checkout)
    server.wait_ready()
    return server


def measure_pages(checkout: Path, db: Path, tmp: Path, gets: int, names: list[str]) -> dict:
    work = copy_store(db, tmp, "pages")
    done = cli(checkout, work, "agents", "add", ADMIN[0], "--role", "admin", "--password-stdin", stdin=ADMIN[1] + "\n")
    if done.returncode:
        raise RuntimeError(done.stderr)
    server = serve(checkout, work, tmp)
    out = {}
    try:
        agent = Agent(server.url)
        agent.login()
        for name, path, form, origin in pages(work):
            if not chosen(name, names):
                continue
            times = []
            for _ in range(gets):
                if origin:  # a form posted from its page, with that page's token
                    agent.send(origin)
                status, body, elapsed = agent.send(path, None if form is None else dict(form, csrf=agent.csrf))
                times.append(elapsed)
            text = body.decode("utf-8", "replace")
            out[name] = {
                "status": status,
                "median_s": round(statistics.median(times), 3),
                "first_s": round(times[0], 3),
                "kb": round(len(body) / 1024, 1),
                "rows": text.count("<tr"),
                "next_page": "Page suivante" in text,
                "load": round(os.getloadavg()[0], 2),
            }
            print(json.dumps({name: out[name]}), flush=True)
    finally:
        server.stop()
        drop_store(work)
    return out


COMMANDS = {
    "indicators, the year": ["indicators", "--from", "2025-12-03", "--to", "2026-12-02"],
    "indicators, a month": ["indicators", "--from", "2026-11-01", "--to", "2026-11-30"],
    "report, the year (HTML)": ["report", "--from", "2025-12-03", "--to", "2026-12-02", "--no-pdf", "--quiet", "--out", "OUT"],
    "review export": ["review", "export", "--out", "OUT/nlu_review.yml"],
    "tickets failures": ["tickets", "failures"],
    "purge --dry-run": ["purge", "--dry-run", "--now", PURGE_NOW],
    "(start-up: purge --help)": ["purge", "--help"],
}


def measure_commands(checkout: Path, db: Path, tmp: Path, gets: int, names: list[str]) -> dict:
    work = copy_store(db, tmp, "commands")
    out = {}
    try:
        for name, args in COMMANDS.items():
            if not chosen(name, names):
                continue
            times = []
            for _ in range(gets):
                began = time.perf_counter()
                done = cli(checkout, work, *[a.replace("OUT", str(tmp)) for a in args])
                times.append(time.perf_counter() - began)
            out[name] = {
                "rc": done.returncode,
                "median_s": round(statistics.median(times), 2),
                "load": round(os.getloadavg()[0], 2),
            }
            print(json.dumps({name: out[name]}), flush=True)
    finally:
        drop_store(work)
    return out


def chosen(name: str, names: list[str]) -> bool:
    """Whether a page or command is measured: `--names` empty, or one of its words in the name."""
    return not names or any(word in name for word in names)


def every(seconds: float, probe, into: list, phase: list, stop: threading.Event) -> None:
    """`probe()` every `seconds` until `stop`: (phase, its time, whether it answered) into `into`."""
    while not stop.is_set():
        began = time.perf_counter()
        try:
            ok = probe()
        except Exception:  # noqa: BLE001 - a refused or failed answer is what is counted
            ok = False
        into.append((phase[0], time.perf_counter() - began, ok))
        time.sleep(seconds)


def summary(rows: list) -> dict:
    """Per phase (before, during, after the purge): count, median and longest time, failures."""
    out = {}
    for p in ("before", "during", "after"):
        seconds = [s for q, s, _ in rows if q == p]
        if seconds:
            failed = sum(1 for q, _, ok in rows if q == p and not ok)
            out[p] = {
                "n": len(seconds),
                "median_s": round(statistics.median(seconds), 3),
                "max_s": round(max(seconds), 3),
                "failed": failed,
            }
    return out


def measure_purge(checkout: Path, db: Path, tmp: Path) -> dict:
    from tools.ivr.simulate import Call

    work = copy_store(db, tmp, "purge")
    server = serve(checkout, work, tmp)
    phase, stop = ["before"], threading.Event()
    chat, phone, writer = [], [], []

    def chat_turn() -> bool:
        request = urllib.request.Request(
            server.url + "/chat/webhook",
            json.dumps({"sender": "probe-" + uuid.uuid4().hex[:8], "message": "je veux refaire ma carte grise"}).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as resp:
            return resp.status == 200 and bool(json.loads(resp.read()))

    lock = sqlite3.connect(work, timeout=600, isolation_level=None, check_same_thread=False)  # the writer thread's

    def take_lock() -> bool:
        lock.execute("begin immediate")
        lock.execute("commit")
        return True

    threads = [
        threading.Thread(target=every, args=(0.5, chat_turn, chat, phase, stop)),
        threading.Thread(target=every, args=(0.5, lambda: bool(Call(server.url).start().says), phone, phase, stop)),
        threading.Thread(target=every, args=(0.05, take_lock, writer, phase, stop)),
    ]
    for t in threads:
        t.start()
    try:
        time.sleep(8)
        phase[0] = "during"
        began = time.perf_counter()
        done = cli(checkout, work, "purge", "--now", PURGE_NOW)
        wall = time.perf_counter() - began
        phase[0] = "after"
        time.sleep(5)
    finally:
        stop.set()
        for t in threads:
            t.join()
        lock.close()
        server.stop()
        drop_store(work)

    rows = json.loads(done.stdout or "{}").get("rows", {})
    return {
        "purge_s": round(wall, 1),
        "rc": done.returncode,
        "rows": rows,
        "chat": summary(chat),
        "phone": summary(phone),
        "writer_wait": summary(writer),
        "load": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout measured in turn with this one")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--gets", type=int, default=5)
    parser.add_argument("--only", default="pages,commands,purge")
    parser.add_argument("--stores", default="1/10,year", help="which stores: 1/10, year")
    parser.add_argument("--names", default="", help="only the pages and commands whose name has one of these words")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    sizes = {"1/10": TENTH, "year": FULL}
    stores = {name: console_store(*sizes[name])[0] for name in args.stores.split(",")}
    checkouts = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    wanted = args.only.split(",")
    names = [w for w in args.names.split(",") if w]
    results: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="aiguillage-console-bench-"))
    try:
        for round_ in range(1, args.rounds + 1):
            for label, checkout in checkouts.items():
                for size, db in stores.items():
                    entry = {"round": round_, "checkout": label, "store": size, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
                    print(json.dumps(entry), flush=True)
                    if "pages" in wanted:
                        entry["pages"] = measure_pages(checkout, db, tmp, args.gets, names)
                    if "commands" in wanted:
                        entry["commands"] = measure_commands(checkout, db, tmp, args.gets, names)
                    if "purge" in wanted and size == "year":
                        entry["purge"] = measure_purge(checkout, db, tmp)
                        print(json.dumps(entry["purge"]), flush=True)
                    results.append(entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    machine = {"cores": os.cpu_count(), "load_at_end": os.getloadavg()}
    (args.out / "console_bench.json").write_text(json.dumps({"machine": machine, "runs": results}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
