"""What the spool keeps of a call whose row the store could not read or write at the time, written
to that row once it can (ivr/phone.py `Phone.keep`, ivr/spool.py): the end of a transfer nobody
answered (`transfer_unanswered`) and the keys applied from the Gather's URL while the call could not be
recorded (`add_unrecorded`: the agents' console then shows its keys, its path and its outcome). The
two are written in whatever order the spool's retries bring them: a call the store could never record
gets the same outcome as a recorded one either way.
"""

from __future__ import annotations

from bot.store.database import lock_key, now
from ivr.calls import Calls, dumps, state_from_row
from ivr.state import CallState
from ivr.voice import ROOT


def unrecorded_step(st: CallState, step: int | None) -> dict:
    """What a key applied without the call's row did (`CallHooks._unrecorded`), as the spool keeps it
    for `add_unrecorded`: the input, the nodes reached, where the call is after it."""
    return {
        "step": step,
        # A placed state starts with no input and no path: this key's only, with the nodes it reached
        # (`reached`: the row's path is rebuilt in the order of the steps, whatever the order of the writes).
        "inputs": [i | {"reached": list(st.path)} for i in st.inputs],
        "path": list(st.path),
        "state": st.state,
        "node": st.node,
        "next_step": st.step,
        "mailbox": st.mailbox,
        "reached_leaf": st.reached_leaf,
        "transferred": st.transferred,
    }


def transfer_unanswered(calls: Calls, call_sid: str, step: int, caller: str = "") -> bool:
    """A transfer not answered, learnt while the call's row could not be read or written (the spool
    keeps it: ivr/call_hooks.py `dialed`): the call no longer counts as transferred, as when the offer
    after the failed transfer is written (Flow.dialed). The row keeps its place (state `transfer`, at
    the Dial's step: a hold's replay gives that offer, a Record action at that step is applied); a call
    already ended gets its outcome again. A row that has not reached that Dial yet, or none (a call the
    store could never record: the keys that led to the Dial are kept by the spool too, `add_unrecorded`,
    written in any order with this), keeps the fact (`unanswered_dial`) for when those keys reach it.
    False when the row has moved on."""
    with calls.store.transaction(lock_key("call", call_sid)):
        row = calls.row(call_sid)
        if row is None:  # made here, as add_unrecorded and the status callback would
            calls.create(CallState(call_sid, path=[ROOT]), calls.pref.id, caller, "")
            row = calls.row(call_sid)
        st = state_from_row(row)
        if st.step < step:
            st.unanswered_dial = step
            calls.db.execute(
                "update calls set flow = ?, updated_at = ? where call_sid = ?", [dumps(st.as_dict()), now(), call_sid]
            )
            return True
        if st.state != "transfer" or st.step != step or not st.transferred:
            return False
        _unanswered(st)
        outcome, unresolved = _outcome(row, st)
        calls.db.execute(
            "update calls set flow = ?, outcome = ?, unresolved = ?, updated_at = ? where call_sid = ? and step = ?",
            [dumps(st.as_dict()), outcome, unresolved, now(), call_sid, step],
        )
        return True


def _unanswered(st: CallState) -> None:
    """The transfer the call is at was not answered: not counted transferred (as Flow.dialed does)."""
    st.transferred, st.transfer_failed = False, True


def add_unrecorded(calls: Calls, call_sid: str, prefecture: str, caller: str, kept: dict) -> bool:
    """A key applied while the store could not record the call (ivr/call_hooks.py `_unrecorded`,
    kept by the spool): its input and the nodes it reached added to the call's row (made here if
    the store never had it), so that the agents' console shows the call's keys and path. The
    latest step known sets the call's place (a Dial's step for `transfer_unanswered`). False for
    a step the row already has (a replayed entry)."""
    with calls.store.transaction(lock_key("call", call_sid)):
        row = calls.row(call_sid)
        if row is None:
            calls.create(CallState(call_sid, path=[ROOT]), prefecture, caller, "")
            row = calls.row(call_sid)
        st = state_from_row(row)
        known = {i.get("step") for i in st.inputs}
        new = [i for i in kept["inputs"] if i.get("step") not in known]
        if not new:
            return False
        st.inputs = sorted(st.inputs + new, key=lambda i: i.get("step") or 0)
        if all("reached" in i for i in st.inputs):  # only keys kept without the row: their order rebuilt
            st.path = [ROOT] + [node for i in st.inputs for node in i["reached"]]
        else:  # after steps the row recorded: appended
            st.path = (st.path or [ROOT]) + kept["path"]
        st.reached_leaf = st.reached_leaf or kept["reached_leaf"]
        if kept["next_step"] >= st.step:  # the latest step: where the call is now
            st.step, st.state, st.node = kept["next_step"], kept["state"], kept["node"]
            st.mailbox, st.transferred = kept["mailbox"], kept["transferred"]
        if st.state == "transfer" and st.transferred and st.unanswered_dial == st.step:  # told before this key
            _unanswered(st)
        st.voicemail = st.voicemail or calls.has_voicemail(call_sid)
        _write_merged(calls, row, st)
        return True


def _write_merged(calls: Calls, row: dict, st: CallState) -> None:
    """add_unrecorded's write: the state, and the outcome (final once the call has ended)."""
    outcome, unresolved = _outcome(row, st)
    cols = calls.columns(st, row.get("last_twiml") or "") | {"outcome": outcome, "unresolved": unresolved}
    sets = ", ".join(f"{k} = ?" for k in cols)
    calls.db.execute(f"update calls set {sets} where call_sid = ?", [*cols.values(), st.call_sid])


def _outcome(row: dict, st: CallState) -> tuple[str | None, int]:
    """The outcome and `unresolved` to write with `st`: final once the call has ended (its row's
    `ended_at`), else the state's outcome so far with the row's `unresolved` as it is."""
    if row.get("ended_at"):
        return st.final_outcome()
    return st.outcome, row.get("unresolved") or 0
