"""Who is asking: the client address of a request, for throttling (bot/services/throttle.py).

Behind a reverse proxy (nginx) every request comes from the proxy's socket address. The client's
own address is then read from X-Forwarded-For, but only when the operator lists the proxy in
AIGUILLAGE_TRUSTED_PROXIES (bot/settings.py): the header is read from the right, each hop added by a
trusted proxy is skipped, and the first address not trusted is the client. Anyone can send the
header, so without that setting (or from a peer not listed) it is ignored: the socket address counts.
"""

from __future__ import annotations

import ipaddress
import logging

from sanic.request import Request

from bot import settings


def _ip(value: str):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _within(ip, networks) -> bool:
    return ip is not None and any(ip in net for net in networks)


logger = logging.getLogger(__name__)
_proxy_warned = False  # said once per process


def _untrusted_proxy(peer: str, request: Request) -> None:
    """Log once that a local proxy forwards requests while AIGUILLAGE_TRUSTED_PROXIES is unset: then
    the whole public shares its address, and the per-address limits stop everyone together."""
    global _proxy_warned
    ip = _ip(peer)
    if _proxy_warned or ip is None or not (ip.is_loopback or ip.is_private) or not request.headers.get("x-forwarded-for"):
        return
    _proxy_warned = True
    logger.warning(
        "requests come through a proxy at %s (X-Forwarded-For) but AIGUILLAGE_TRUSTED_PROXIES is unset: every "
        "client counts as that one address for the per-address limits; list the proxy there (docs/operations.md 'Throttling')",
        peer,
    )


def client_address(request: Request) -> str:
    peer = request.ip or ""
    trusted = settings.trusted_proxies()
    if not trusted:
        _untrusted_proxy(peer, request)
    if not trusted or not _within(_ip(peer), trusted):
        return peer
    hops = [h.strip() for value in request.headers.getall("x-forwarded-for", []) for h in value.split(",") if h.strip()]
    address = peer
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:  # not an address: stop at the last one a trusted proxy vouched for
            break
        address = str(ip)
        if not _within(ip, trusted):
            break
    return address


def exempt(address: str) -> bool:
    """No per-address limit on booking, cancelling and messages for this address (AIGUILLAGE_THROTTLE_EXEMPT)."""
    return _within(_ip(address), settings.throttle_exempt())
