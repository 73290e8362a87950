"""The phone's spool: bot/store/spool.py (shared with the chat since issue 16), imported from here
by the phone's code and its tests."""

from bot.store.spool import SCHEMA, Spool, alive

__all__ = ["SCHEMA", "Spool", "alive"]
