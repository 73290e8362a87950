"""A write lock held on a SQLite file by another connection, as another process would (for the
tests of a locked store: the phone's fail soft, the tracker store, the chat during a lock)."""

from __future__ import annotations

import sqlite3
import threading
import time


class Lock:
    """Another connection holds the file's write lock (BEGIN IMMEDIATE) for `seconds`."""

    def __init__(self, path, seconds: float):
        self.path, self.seconds = path, seconds
        self.held = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            self.held.set()
            time.sleep(self.seconds)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    def __enter__(self):
        self.thread.start()
        assert self.held.wait(10)
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.thread.join()
