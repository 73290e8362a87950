"""What the spool keeps for a call whose row the store could not write (ivr/kept_steps.py), written
in whatever order its retries bring the entries: the keys applied while the call had no row
(`add_unrecorded`), the transfer nobody answered (`transfer_unanswered`) and the call's end (the
status callback, `Calls.end`). Real stores (SQLite and PostgreSQL), the real flow of the Cantal's
phone menu; the webhooks that keep them are tested over HTTP in tests/test_ivr_fail_soft.py, where the order the
retries take is not chosen by the test: here every order is."""

import itertools
from datetime import datetime

import pytest

from bot.core.config import load_prefecture
from bot.core.tree import load_tree
from bot.store.database import Store
from ivr import hours, kept_steps
from ivr.calls import Calls
from ivr.flow import Flow, Input
from ivr.twiml import Speaker

pytestmark = pytest.mark.usefixtures("store_backend")  # SQLite and PostgreSQL (tests/store_backends.py)

CALLER = "+33612345678"
WRITES = ("keys", "unanswered", "end")


@pytest.fixture(scope="module")
def cantal():
    pref = load_prefecture("cantal")
    speaker = Speaker(load_tree(), pref, "https://svi.prefecture.example")
    return pref, speaker


@pytest.mark.parametrize("order", list(itertools.permutations(WRITES)), ids="-".join)
def test_a_transfer_nobody_answered_for_a_call_never_recorded_counts_the_same_in_every_order(tmp_path, cantal, order):
    """Issue 11 (helper brief left11c, item 1): "0" at the keypad welcome of a call the store refused
    (the standard open: the transfer), nobody answers, the caller hangs up without a message. However
    the spool's three writes come in, the row ends `abandoned` and unresolved as a recorded call's
    does (not `transferred`; the person's node is no answer), with its key and its path. Before, `transfer_unanswered` before `add_unrecorded`
    found no row, and the fact was dropped."""
    pref, speaker = cantal
    flow = Flow(speaker)
    open_now = hours.OpenAt(datetime(2026, 3, 10, 10, 0), pref.get("prefecture.phone_hours.days"))
    assert open_now  # a Tuesday morning: the standard answers
    st = flow.placed("CA1", "menu", "root", 0)  # as ivr/call_hooks.py `_unrecorded` serves the key
    flow.handle(st, Input(digits="0"), open_now)
    assert (st.state, st.node, st.transferred, st.step) == ("transfer", "human", True, 1)  # the Dial, at step 1
    kept = kept_steps.unrecorded_step(st, 0)
    store = Store(tmp_path / "aiguillage.db")
    try:
        calls = Calls(store, pref, speaker.tree)
        writes = {
            "keys": lambda: kept_steps.add_unrecorded(calls, "CA1", pref.id, CALLER, kept),
            "unanswered": lambda: kept_steps.transfer_unanswered(calls, "CA1", 1, CALLER),
            "end": lambda: calls.end("CA1", "completed", 35, pref.id, CALLER),
        }
        for write in order:
            writes[write]()
        row = calls.row("CA1")
    finally:
        store.close()
    assert (row["outcome"], row["unresolved"], row["duration_s"]) == ("abandoned", 1, 35)
    assert (row["path"], row["inputs"]) == ('["root","human"]', '[{"step":1,"digits":"0","reached":["human"]}]')
