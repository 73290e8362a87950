"""Demo data (issue 6): `python -m tools.demo_data --days 90` fills a fresh install with varied traffic.

The generator does not write traffic rows itself: it drives the REAL endpoints of a running server
(`make run`) as users and callers would:

- the chat webhook (`POST /chat/webhook`): questions on every topic of the tree in the generator's own
  phrasings, off-topic questions, messages the bot cannot understand, multi-turn conversations;
- the phone webhooks (`/webhooks/ivr/*`), signed like Twilio (tools.ivr.simulate.Call): keypad and speech,
  transfers, voicemails, PAN bookings by keypad, callers hanging up mid-menu (the final status
  callback `CallStatus=completed`, as Twilio sends it);
- the forms of `/rdv/` (bot/web/rdv/): messages to a service mailbox and PAN bookings;
- the rating endpoint `POST /chat/feedback` when the server has it (else `bot.services.feedback.record`).

Agent actions (tickets answered, no-shows) go through the console's functions (bot/services/tickets.py,
bot/services/pan.py) on the same SQLite file. Then the generator spreads the rows IT created (it knows their
sender ids, CallSids and idempotency keys) over the last N days with a weekday/hour profile, rewriting
their timestamps (due dates recomputed in working days), and marks them `demo = 1`: indicators and the
report leave them out unless asked. `--purge` deletes demo rows, and only them.

The phrasings are in tools/demo_phrases.py, the traffic in tools/demo_traffic.py, the spreading,
marking and purge in tools/demo_marking.py.

Deterministic with `--seed`: the same seed sends the same messages and calls in the same order.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sys
import urllib.error
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.clock import PARIS
from tools.demo_marking import finish, purge, spread_times
from tools.demo_phrases import (  # noqa: F401 - re-exported: bench/report_bench.py reads them here
    DEMO_CALLERS,
    FEEDBACK_COMMENTS,
    GREETINGS,
    HOUR_WEIGHTS,
    NOT_UNDERSTOOD,
    OUTCOME_LABELS,
    PHONE_HOURS,
    PHRASES,
    SPEECH,
    THANKS,
    TOPIC_WEIGHTS,
    WEEKDAY_WEIGHTS,
    fold,
)
from tools.demo_traffic import (
    CALL_FIRST,
    CALL_KINDS,
    CALL_WEIGHTS,
    DemoError,
    Http,
    Made,
    chat_script,
    check_server,
    play_call,
    rate,
    send_booking,
    send_chat,
    send_ticket,
)

DEFAULT_CONVERSATIONS = 300
DEFAULT_CALLS = 150
DEFAULT_DAYS = 90
MAX_SESSIONS = 20_000  # per kind: the marking step lists the ids it made in one SQL statement each


def shown(store) -> str:
    """Where the store is, for a message: the SQLite file, or PostgreSQL's host and database (never
    the URL's password)."""
    return str(store.path) if store.backend == "sqlite" else "PostgreSQL " + str(store.path).split("@")[-1].split("?")[0]


def default_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('PORT') or '5005'}"


# --- the run ---------------------------------------------------------------------------------------


def generate(
    url: str,
    days: int = DEFAULT_DAYS,
    conversations: int = DEFAULT_CONVERSATIONS,
    calls: int = DEFAULT_CALLS,
    seed: int | None = None,
    token: str | None = None,
    public_url: str | None = None,
    store_path: Path | None = None,
    progress=None,
    now: datetime | None = None,
) -> dict:
    """Drive the server at `url`, then spread and mark what was created. Returns the French summary's figures."""
    from bot.core import config as config_mod
    from bot.store.database import Store

    if days < 1:
        raise DemoError("--days doit être au moins 1.", 2)
    if conversations < 0 or calls < 0:
        raise DemoError("--conversations et --calls doivent être positifs ou nuls.", 2)
    if conversations > MAX_SESSIONS or calls > MAX_SESSIONS:
        raise DemoError(
            f"--conversations et --calls : {MAX_SESSIONS} au plus (une démonstration, pas un essai de "
            "charge : pour un an de trafic, voir bench/report_bench.py).",
            2,
        )
    http = Http(url)
    check_server(http)
    if seed is None:
        seed = secrets.randbits(32)
    # One generator per concern, so that what is sent never depends on today's date or hour.
    rng, call_rng = random.Random(f"chat:{seed}"), random.Random(f"calls:{seed}")
    time_rng, agent_rng = random.Random(f"times:{seed}"), random.Random(f"agents:{seed}")
    run = secrets.token_hex(3)  # sender ids, CallSids and keys of this run only
    now = now or datetime.now(UTC)
    made = Made()
    store = Store(store_path)
    bar = progress(total=conversations + calls, desc="démo", unit="échange") if progress else None
    state: dict = {"pref": None}
    try:
        try:
            drive(http, store, made, state, run, rng, call_rng, time_rng, days, now, conversations, calls, token, public_url, bar)
            failure = None
        except DemoError as exc:
            failure = exc
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            failure = DemoError(f"Le serveur {url} ne répond plus ({exc}) : la génération s'est arrêtée.")
        if bar:
            bar.set_postfix_str("dates et marquage")
        # Whatever happened, what was created is spread and marked demo: never left looking real.
        result = finish(store, state["pref"] or config_mod.current(), agent_rng, made, days, now)
        if failure is not None:
            done = f"{result['conversations']} conversations et {result['calls']} appels déjà créés sont marqués démo."
            raise DemoError(f"{failure.message}\n{done}", failure.code)
        return result
    finally:
        if bar:
            bar.close()
        store.close()


def drive(
    http: Http,
    store,
    made: Made,
    state: dict,
    run: str,
    rng: random.Random,
    call_rng: random.Random,
    time_rng: random.Random,
    days: int,
    now: datetime,
    conversations: int,
    calls: int,
    token: str | None,
    public_url: str | None,
    bar,
) -> None:
    """Send the chat traffic, then the calls; what is created is recorded in `made` as it goes."""
    from bot.core import config as config_mod
    from ivr.signature import LOCAL_DEV_TOKEN

    conv_times = spread_times(time_rng, conversations, days, now)
    call_times = spread_times(time_rng, calls, days, now, PHONE_HOURS)
    feedback_ok: bool | None = None
    for i, start in enumerate(conv_times):
        sender = f"demo-{run}-c{i:05d}"
        kind, msgs, follow = chat_script(rng, i)
        gaps = []
        made.conversations.append((sender, start))
        made.turn_gaps[sender] = gaps
        last: list = []
        for text in msgs:
            last = send_chat(http, sender, text)
            gaps.append(rng.randrange(8, 90))
        if state["pref"] is None:
            row = store.db.execute("select prefecture from conversations where id = ?", [sender]).fetchone()
            if row is None:
                raise DemoError(
                    f"La base {shown(store)} ne contient pas les conversations envoyées au serveur {http.url} : lancez "
                    "cette commande avec la même base que le serveur (DATABASE_URL, sinon AIGUILLAGE_DB ; make run : "
                    "var/aiguillage.db)."
                )
            state["pref"] = config_mod.load_prefecture(row[0])
        pref = state["pref"]
        end = start + timedelta(seconds=sum(gaps))
        if follow and follow.startswith("ticket:"):
            key = f"demo-{run}-t{i:05d}"
            if send_ticket(http, pref, rng, follow.split(":", 1)[1], key):
                made.tickets.append((key, end + timedelta(minutes=rng.randrange(2, 15))))
        elif follow == "pan":
            key = f"demo-{run}-b{i:05d}"
            mobile = f"06 12 00 {rng.randrange(10, 99)} {rng.randrange(10, 99)}"
            if send_booking(http, pref, rng, key, mobile):
                made.bookings.append((key, end + timedelta(minutes=rng.randrange(2, 15))))
        if rng.random() < 0.35:
            feedback_ok = rate(http, made, rng, sender, feedback_ok, last if i % 2 == 0 else [])
        if bar:
            bar.update(1)
    if calls:
        drive_calls(
            http,
            call_rng,
            run,
            call_times,
            token or os.environ.get("TWILIO_AUTH_TOKEN") or LOCAL_DEV_TOKEN,
            public_url or os.environ.get("PUBLIC_BASE_URL") or http.url,
            made,
            bar,
        )


def drive_calls(
    http: Http, rng: random.Random, run: str, times: list[datetime], token: str, public_url: str, made: Made, bar
) -> None:
    from tools.ivr.simulate import Call, SimulatorError

    for i, start in enumerate(times):
        kind = CALL_FIRST[i] if i < len(CALL_FIRST) else rng.choices(CALL_KINDS, CALL_WEIGHTS)[0]
        sid = "CA" + f"de{run}{i:06d}".ljust(32, "0")
        call = Call(
            http.url,
            token,
            public_url=public_url,
            caller=rng.choice(DEMO_CALLERS),
            call_sid=sid,
            now=start.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M:%S"),
        )
        sids: list[str] = []
        original = call.record

        def record(*args, _orig=original, _sids=sids, **kwargs):
            _sids.append(kwargs.get("recording_sid") or "")
            return _orig(*args, **kwargs)

        call.record = record
        made.calls.append((sid, start, 30))  # recorded before the first webhook: marked demo whatever happens
        try:
            play_call(call, kind, rng)
        except SimulatorError as exc:
            text = str(exc)
            if "answered 503" in text or "answered 403" in text:
                made.calls.pop()  # refused: nothing was stored for it
            if "answered 503" in text:
                made.phone_note = (
                    "le serveur ne sert pas le téléphone (pas de TWILIO_AUTH_TOKEN) : aucun appel "
                    "généré. Pour des appels de démonstration, relancez le serveur avec "
                    "`IVR_LOCAL_DEV=1 make run`, puis cette commande."
                )
                return
            if "answered 403" in text:
                made.phone_note = (
                    "le serveur refuse la signature des appels (403) : donnez son jeton Twilio avec "
                    "--token (ou TWILIO_AUTH_TOKEN) et son PUBLIC_BASE_URL avec --public-url. Aucun "
                    "appel généré."
                )
                return
            raise DemoError(f"Appel de démonstration interrompu : {text[:300]}") from None
        duration = max(8, 6 * max(1, call.inputs) + rng.randrange(5, 60))
        call.hangup(duration=duration, status="completed")
        made.calls[-1] = (sid, start, duration)
        made.recordings += [(r, start + timedelta(seconds=duration // 2)) for r in sids if r]
        if bar:
            bar.update(1)


def format_summary(s: dict) -> str:
    lines = [
        f"Données de démonstration créées sur les {s['days']} derniers jours (marquées « démo ») :",
        f"  {s['conversations']} conversations écrites ({s['turns']} messages)",
        f"  {s['calls']} appels"
        + (
            " (" + ", ".join(f"{OUTCOME_LABELS.get(k, k)} : {v}" for k, v in s["outcomes"].items()) + ")" if s["outcomes"] else ""
        ),
        f"  {s['voicemails']} messages vocaux",
        f"  {s['tickets']} messages aux services, dont {s['tickets_answered']} marqués répondus",
        f"  {s['bookings']} rendez-vous PAN, dont {s['no_shows']} non honorés",
        f"  {s['ratings']} avis des usagers",
    ]
    if s.get("phone_note"):
        lines.append(f"Téléphone : {s['phone_note']}")
    last = datetime.now(PARIS).date()
    first = last - timedelta(days=s["days"] - 1)
    lines += [
        "",
        "Pour les voir : la console des agents, page /console/indicateurs (case « Inclure les données de démonstration »),",
        f"ou `python -m bot report --from {first.isoformat()} --to {last.isoformat()} --include-demo` ;",
        "`python -m tools.demo_data --purge` les supprime (et seulement elles).",
    ]
    return "\n".join(lines)


# --- CLI -------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.demo_data", description="demo traffic through the real endpoints of a running server (marked demo)"
    )
    p.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"spread over the last N days (default {DEFAULT_DAYS})")
    p.add_argument(
        "--conversations", type=int, default=DEFAULT_CONVERSATIONS, help=f"chat conversations (default {DEFAULT_CONVERSATIONS})"
    )
    p.add_argument("--calls", type=int, default=DEFAULT_CALLS, help=f"phone calls (default {DEFAULT_CALLS})")
    p.add_argument("--seed", type=int, default=None, help="the same seed sends the same messages and calls")
    p.add_argument("--url", default=None, help="the running server (default http://127.0.0.1:$PORT, PORT=5005)")
    p.add_argument(
        "--token", default=None, help="the server's Twilio auth token (default $TWILIO_AUTH_TOKEN, else the IVR_LOCAL_DEV token)"
    )
    p.add_argument("--public-url", default=None, help="the server's PUBLIC_BASE_URL, for the signatures (default --url)")
    p.add_argument("--purge", action="store_true", help="delete the demo rows (and only them), then stop")
    p.add_argument(
        "--allow-mail",
        action="store_true",
        help="run even though SMTP_HOST is set (the server would e-mail the services about demo tickets)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return cmd_demo_data(build_parser().parse_args(argv))


def cmd_demo_data(args) -> int:
    from bot.store.database import Store

    if args.purge:
        store = Store()
        try:
            done = purge(store)
        finally:
            store.close()
        print(
            f"Données de démonstration supprimées de {shown(store)} : {done['conversations']} conversations "
            f"({done['turns']} messages), {done['calls']} appels ({done['voicemails']} messages vocaux), "
            f"{done['tickets']} messages aux services, {done['pan_bookings']} rendez-vous PAN, "
            f"{done['feedback']} avis. Les données réelles n'ont pas été touchées."
        )
        return 0
    if os.environ.get("SMTP_HOST") and not args.allow_mail:
        print(
            "SMTP_HOST est défini : un serveur lancé avec ces réglages enverrait aux services (et aux usagers) "
            "les messages et rendez-vous de démonstration. Lancez la démonstration sur un serveur sans SMTP, "
            "ou ajoutez --allow-mail si ce serveur n'envoie vers aucune vraie boîte.",
            file=sys.stderr,
        )
        return 2
    from tqdm import tqdm

    def progress(**kw):
        return tqdm(file=sys.stderr, dynamic_ncols=True, **kw)

    try:
        result = generate(
            args.url or default_url(),
            days=args.days,
            conversations=args.conversations,
            calls=args.calls,
            seed=args.seed,
            token=args.token,
            public_url=args.public_url,
            progress=progress,
        )
    except DemoError as exc:
        print(exc.message, file=sys.stderr)
        return exc.code
    print(format_summary(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
