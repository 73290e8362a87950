"""Call state, call records and voicemails in the SQLite store (tables of migration 002).

The state of a call lives in its `calls` row, not in memory: the server can restart between two
webhooks. Duplicated webhooks are harmless: a step is applied only if the row is still at that
step (compare-and-set on `step`; otherwise the last answer is replayed), and a voicemail is keyed
by its RecordingSid (UNIQUE). Everything written here is masked (bot.core.masking.mask). A voicemail
is also a service-mailbox ticket (bot/tickets.py, origin "phone"), once per RecordingSid.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields

from bot.core.masking import mask
from bot.store.database import Store, lock_key, now
from ivr.state import CallState

logger = logging.getLogger(__name__)
_FIELD_NAMES = tuple(f.name for f in fields(CallState))  # in order: the `flow` JSON keeps its key order
_STATE_FIELDS = set(_FIELD_NAMES)
FINAL_STATUSES = ("completed", "busy", "failed", "no-answer", "canceled")
# Twilio's call statuses in the order a call goes through them: a callback that arrives late
# (out of order) never moves a call back.
PROGRESS = ("queued", "initiated", "ringing", "in-progress")


def is_over(row: dict | None) -> bool:
    """The call has ended (status callback received): later webhooks change nothing."""
    return bool(row) and (bool(row.get("ended_at")) or row.get("call_status") in FINAL_STATUSES)


# json.dumps(value, ensure_ascii=False, separators=(",", ":")), without building an encoder per call.
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _masked(value: str) -> str:
    """mask(value); a single character (a key: the flow keeps one key per input) is no personal data
    and masks to itself (tests/test_masking_phone.py checks every one): not run through the masking."""
    return mask(value) if len(value) > 1 else value


def _ticket_key(recording_sid: str) -> str:
    """The idempotency key of a voicemail's ticket: one ticket per RecordingSid."""
    return f"voicemail:{recording_sid}"


def state_from_row(row: dict) -> CallState:
    data = json.loads(row.get("flow") or "{}")
    data = {k: v for k, v in data.items() if k in _STATE_FIELDS}
    data["call_sid"] = row["call_sid"]
    return CallState(**data)


class Calls:
    def __init__(self, store: Store, pref=None, tree=None):
        self.store = store
        self.db = store.db
        self.pref = pref  # with a préfecture, each voicemail also becomes a mailbox ticket (bot/tickets.py)
        self.tree = tree

    # ---- calls -----------------------------------------------------------------------------
    def row(self, call_sid: str) -> dict | None:
        # One statement: sqlite-utils' query() wraps a SELECT in a SAVEPOINT and its RELEASE.
        cur = self.db.execute("select * from calls where call_sid = ?", [call_sid])
        rows = cur.fetchall()  # all fetched: the statement is done, no read left open on the connection
        return dict(zip([d[0] for d in cur.description], rows[0])) if rows else None

    def load(self, call_sid: str) -> tuple[CallState | None, str | None]:
        row = self.row(call_sid)
        return (state_from_row(row), row.get("last_twiml")) if row else (None, None)

    def columns(self, st: CallState, twiml: str, saved_step: int = -1) -> dict:
        # Speech arrives masked (bot.core.masking.prepare, ivr/channel.py); masked again here as a safety
        # net, in `inputs` and in the `flow` copy of the state alike (issue 13 §6: both kept names in clear).
        # The inputs of steps up to `saved_step` were masked when that step was saved (the state is read
        # back from `flow`): only the new ones are.
        inputs = [
            i if i.get("step", 0) <= saved_step else {k: (_masked(v) if isinstance(v, str) else v) for k, v in i.items()}
            for i in st.inputs
        ]
        state = st.__dict__  # the dataclass's fields, read without one getattr each
        return {
            "updated_at": now(),
            "state": st.state,
            "node": st.node,
            "step": st.step,
            "retries": st.retries,
            "misses": st.misses,
            "path": dumps(st.path),
            "inputs": dumps(inputs),
            "confidence": st.confidence,
            "outcome": st.outcome,
            # 1 once the caller's words got an answer (ivr/flow.py `_speech`): the base of the corrections' share
            "spoken_answer": int(any(i.get("answered") for i in st.inputs)),
            "corrected": int(any("corrects" in i for i in st.inputs)),
            # the topic the words were answered before the last correction: the corrections' view filters on it
            "corrected_topic": next((i["corrects"] for i in reversed(st.inputs) if i.get("corrects")), None),
            "flow": dumps({name: state[name] for name in _FIELD_NAMES} | {"inputs": inputs}),
            "last_twiml": twiml,
        }

    def create(self, st: CallState, prefecture: str, caller: str, twiml: str) -> bool:
        """Insert a new call; False when the CallSid is already known (a replayed first webhook)."""
        cols = self.columns(st, twiml) | {
            "call_sid": st.call_sid,
            "prefecture": prefecture,
            "caller": mask(caller or ""),
            "started_at": now(),
            "unresolved": 0,
        }
        names = list(cols)
        with self.store.transaction(lock_key("call", st.call_sid)):
            cur = self.db.execute(
                f"insert or ignore into calls ({', '.join(names)}) values ({', '.join('?' for _ in names)})",
                [cols[n] for n in names],
            )
        return cur.rowcount == 1

    def save(self, st: CallState, expected_step: int, twiml: str) -> bool:
        """Write the new state if the call is still at `expected_step` (else: a duplicate, not applied)."""
        cols = self.columns(st, twiml, expected_step)
        sets = ", ".join(f"{k} = ?" for k in cols)
        with self.store.transaction(lock_key("call", st.call_sid)):
            cur = self.db.execute(
                f"update calls set {sets} where call_sid = ? and step = ?", [*cols.values(), st.call_sid, expected_step]
            )
        return cur.rowcount == 1

    def end(self, call_sid: str, call_status: str, duration_s: int | None, prefecture: str, caller: str = "") -> dict:
        """The status callback: outcome, unresolved flag, end time and duration (once). One
        transaction: a call first seen here is created and ended together (both or neither), and two
        callbacks of the same call never both read it unended."""
        with self.store.transaction(lock_key("call", call_sid)):
            return self._end(call_sid, call_status, duration_s, prefecture, caller)

    def _end(self, call_sid: str, call_status: str, duration_s: int | None, prefecture: str, caller: str) -> dict:
        """end()'s work, inside its transaction on the call's lock. Its writes take no transaction of
        their own: an unkeyed one nested here would ask PostgreSQL for the store's exclusive lock while
        this one holds it shared, and two calls ending at once would deadlock."""
        row = self.row(call_sid)
        if row is None:  # the call ended before its first webhook was answered
            st = CallState(call_sid)
            self.create(st, prefecture, caller, "")
            row = self.row(call_sid)
        if call_status not in FINAL_STATUSES or row.get("ended_at"):
            if call_status in PROGRESS and not is_over(row):
                known = row.get("call_status")
                if known not in PROGRESS or PROGRESS.index(call_status) > PROGRESS.index(known):
                    self.db.execute(
                        "update calls set call_status = ?, updated_at = ? where call_sid = ? and ended_at is null",
                        [call_status, now(), call_sid],
                    )
            return self.row(call_sid)
        st = state_from_row(row)
        st.voicemail = st.voicemail or self.has_voicemail(call_sid)  # kept while the call had no row
        outcome, unresolved = st.final_outcome()
        self.db.execute(
            "update calls set ended_at = ?, updated_at = ?, call_status = ?, duration_s = ?, outcome = ?, "
            "unresolved = ? where call_sid = ? and ended_at is null",
            [now(), now(), call_status, duration_s, outcome, unresolved, call_sid],
        )
        return self.row(call_sid)

    def has_voicemail(self, call_sid: str) -> bool:
        return self.db.execute("select 1 from voicemails where call_sid = ? limit 1", [call_sid]).fetchone() is not None

    def mark_voicemail(self, call_sid: str) -> None:
        """A message was recorded: the call's outcome is a voicemail, even when the Record action
        (the caller hung up: Digits=hangup) arrives after the call's final status callback."""
        # Read and write the call's state with no other writer of the call between (on PostgreSQL, the
        # call's own lock: other calls are written in parallel, docs/store.md).
        with self.store.transaction(lock_key("call", call_sid)):
            row = self.row(call_sid)
            if row is None:
                return
            st = state_from_row(row)
            st.voicemail = True
            if row.get("ended_at"):
                self.db.execute(
                    "update calls set flow = ?, outcome = 'voicemail', unresolved = 0, updated_at = ? where call_sid = ?",
                    [dumps(st.as_dict()), now(), call_sid],
                )
            else:
                self.db.execute(
                    "update calls set flow = ?, updated_at = ? where call_sid = ?", [dumps(st.as_dict()), now(), call_sid]
                )

    # ---- voicemails ------------------------------------------------------------------------
    def add_voicemail(
        self,
        call_sid: str,
        recording_sid: str,
        mailbox: str,
        service: str,
        recording_url: str,
        duration_s: int | None,
        when=None,
        callback: str | None = None,
    ) -> bool:
        """One voicemail per RecordingSid; False when it already exists (a replayed callback).

        With a préfecture, the voicemail is also a ticket for the same service mailbox (origin
        "phone", idempotency key = the RecordingSid: a replayed callback never makes a second one).
        `callback` (Twilio's From) is kept only in the ticket's own `callback` column, never in the
        calls or voicemails rows (their `caller` is masked)."""
        row = self.row(call_sid) or {}
        created = self._insert_voicemail(call_sid, recording_sid, mailbox, service, recording_url, duration_s, row)
        if self.pref is not None and recording_sid:
            try:
                self.voicemail_ticket(call_sid, recording_sid, mailbox, recording_url, duration_s, row, when, callback)
            except Exception:  # noqa: BLE001 - the voicemail is kept; a replayed callback retries the ticket
                logger.exception("voicemail %s: the ticket could not be created", recording_sid)
        return created

    def voicemail_reference(self, recording_sid: str) -> str | None:
        """The reference of the ticket made from this voicemail (None before it is written)."""
        found = self.db.execute(
            "select reference from tickets where idempotency_key = ?", [_ticket_key(recording_sid)]
        ).fetchone()
        return found[0] if found else None

    def voicemail_ticket(
        self,
        call_sid: str,
        recording_sid: str,
        mailbox: str,
        recording_url: str,
        duration_s: int | None,
        row: dict,
        when=None,
        callback: str | None = None,
    ) -> dict:
        from bot.core import texts
        from bot.services import identity, tickets

        try:
            path = json.loads(row.get("path") or "[]")
        except json.JSONDecodeError:
            path = []
        titles = []
        for node_id in path:
            if node_id == "root":
                continue
            try:
                titles.append(self.tree.node(node_id).title if self.tree is not None else node_id)
            except Exception:  # noqa: BLE001 - an id the tree no longer has is shown as is
                titles.append(node_id)
        started = tickets.naive(when or tickets.paris_now())
        body = "\n".join(
            [
                texts.say("tickets.voicemail_intro", self.pref, call_sid=call_sid),
                texts.say("tickets.voicemail_path", self.pref, path=" > ".join(titles) or "—"),
                texts.say("tickets.voicemail_caller", self.pref, caller=row.get("caller") or "—"),
                texts.say(
                    "tickets.voicemail_recording",
                    self.pref,
                    url=recording_url or "—",
                    seconds=duration_s if duration_s is not None else "?",
                ),
            ]
        )
        subject = texts.say("tickets.voicemail_subject", self.pref, when=started.strftime("%d/%m/%Y %H:%M"))
        number = identity.say_phone(callback)  # None for a hidden number
        # The ticket is found again by its idempotency key "voicemail:<RecordingSid>".
        ticket = tickets.create_ticket(
            self.store,
            self.pref,
            mailbox,
            subject,
            body,
            None,
            origin="phone",
            channel="phone",
            idempotency_key=_ticket_key(recording_sid),
            now=when,
            callback=number,
        )
        if number and not ticket.get("callback") and tickets.set_callback(self.store, ticket["id"], number):
            ticket["callback"] = number  # made first by the recording-status callback, which has no From
        return ticket

    def _insert_voicemail(self, call_sid, recording_sid, mailbox, service, recording_url, duration_s, row) -> bool:
        # The call's key, as its other writes (docs/store.md): the row is written beside other calls'
        # and chats' transactions; a replay of the same RecordingSid meets the unique key (no duplicate).
        with self.store.transaction(lock_key("call", call_sid)):
            cur = self.db.execute(
                "insert or ignore into voicemails (call_sid, recording_sid, mailbox, service, path, caller, "
                "recording_url, duration_s, created_at, updated_at, status) values (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    call_sid,
                    recording_sid,
                    mailbox,
                    service,
                    row.get("path") or "[]",
                    row.get("caller") or "",
                    recording_url,
                    duration_s,
                    now(),
                    now(),
                    "new",
                ],
            )
            if cur.rowcount == 0 and recording_url:
                self.db.execute(
                    "update voicemails set recording_url = coalesce(recording_url, ?), "
                    "duration_s = coalesce(duration_s, ?) where recording_sid = ?",
                    [recording_url, duration_s, recording_sid],
                )
        return cur.rowcount == 1

    def set_transcription(
        self,
        call_sid: str,
        recording_sid: str,
        mailbox: str,
        service: str,
        recording_url: str,
        text: str,
        status: str,
        callback: str | None = None,
    ) -> None:
        ok = status == "completed"
        # The voicemail (and its ticket) and its transcription: both or neither, under the call's key
        # and the ticket's (taken together, sorted: the ticket's creation nested here adds nothing).
        from bot.services.tickets import creation_lock

        keys = [lock_key("call", call_sid)]
        if self.pref is not None and recording_sid:
            keys.append(creation_lock(_ticket_key(recording_sid)))
        with self.store.transaction(*keys):
            self.add_voicemail(call_sid, recording_sid, mailbox, service, recording_url, None, callback=callback)
            self.db.execute(
                "update voicemails set transcription = ?, transcription_status = ?, status = ?, updated_at = ? "
                "where recording_sid = ?",
                [mask(text) if ok else None, status, "transcribed" if ok else "transcription_failed", now(), recording_sid],
            )

    def voicemails(self, call_sid: str | None = None) -> list[dict]:
        if call_sid is None:
            return list(self.db["voicemails"].rows_where(order_by="id"))
        return list(self.db["voicemails"].rows_where("call_sid = ?", [call_sid], order_by="id"))
