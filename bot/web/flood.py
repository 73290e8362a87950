"""The chat's messages per client address: a sliding window in this process's memory
(`throttle.per_address.chat` in the préfecture files; docs/operations.md "Throttling").

An audit posted 400 new conversations in 3 s from one address, and each was run by the NLU and
written. Bookings, cancellations and messages to a service are counted in the store
(bot/services/throttle.py), so that their limits hold across processes and restarts. A chat turn is
not: it must not wait for the store (a turn is answered while another writer holds it, and written
later: bot/services/deferred.py), and a flood is a matter of seconds, not of hours. So each server
process counts the messages it receives; behind nginx, N processes let through at most N times the
limit. Addresses listed in AIGUILLAGE_THROTTLE_EXEMPT are not counted.

The `limits` library would do this, but it needs `packaging>=21` and Rasa 3.6 pins `packaging==20.9`
(requirements/lock.txt).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque


def window_key(address: str) -> str:
    """What one window counts: an IPv4 address, or the /64 network of an IPv6 address (anyone with
    IPv6 holds a whole /64, and could otherwise change address at every message)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return address or ""
    if ip.version == 6:
        if ip.ipv4_mapped is not None:  # ::ffff:10.1.2.3, an IPv4 client of a dual-stack socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Windows:
    """Sliding windows of event times per key, for the event loop's thread only. At most `capacity`
    keys are remembered (the least recently seen is forgotten first), so that many addresses cannot
    grow the memory without end."""

    def __init__(self, capacity: int = 50_000):
        self.capacity = capacity
        self._times: OrderedDict[str, deque[float]] = OrderedDict()
        self._refused: set[str] = set()  # refused since last let through (logged once: a flood is no log flood)

    def __len__(self) -> int:
        return len(self._times)

    def __contains__(self, key: str) -> bool:
        return key in self._times

    def take(self, key: str, limit: int, window_s: float, t: float | None = None) -> int:
        """Count one event of `key` if fewer than `limit` happened in the last `window_s` seconds
        (returns 0); else the whole seconds until one more is allowed (nothing counted)."""
        t = time.monotonic() if t is None else t
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque()
            while len(self._times) > self.capacity:
                self._refused.discard(self._times.popitem(last=False)[0])
        self._times.move_to_end(key)
        while times and times[0] <= t - window_s:
            times.popleft()
        if len(times) >= limit:
            return max(1, math.ceil(times[-limit] + window_s - t))
        times.append(t)
        self._refused.discard(key)
        return 0

    def first_refusal(self, key: str) -> bool:
        """True once for a key refused by `take`, until it is let through again."""
        if key in self._refused:
            return False
        self._refused.add(key)
        return True
