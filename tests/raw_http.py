"""One raw HTTP/1.1 request over a socket, for the limits tests: any declared length, a chunked
body, an answer read even when the server closes before the whole body is sent."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes
    seconds: float  # from the first byte sent to the last byte read

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict | None = None,
    declared: int | None = None,
    chunked: bool = False,
    timeout: float = 60,
) -> Answer:
    head = {"Host": f"{host}:{port}", "Connection": "close", **(headers or {})}
    if chunked:
        head["Transfer-Encoding"] = "chunked"
    else:
        head["Content-Length"] = str(len(body) if declared is None else declared)
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall((f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n").encode())
        try:
            if chunked:
                for i in range(0, len(body), 65536):
                    chunk = body[i : i + 65536]
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sock.sendall(b"0\r\n\r\n")
            else:
                sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body was sent
        data = until_closed(sock)
    return parse(data, time.monotonic() - start)


def send(host: str, port: int, data: bytes, timeout: float = 30) -> Answer:
    """Bytes as they are (a request no HTTP client would write), then the answer until the server closes."""
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        received = until_closed(sock)
    return parse(received, time.monotonic() - start)


def until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (or resets it)."""
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            break
        if not part:
            break
        data += part
    return data


def parse(data: bytes, seconds: float) -> Answer:
    raw_head, _, payload = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    found = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        found.setdefault(name.strip().lower(), value.strip())
    if not lines[0]:
        return Answer(0, {}, b"", seconds)  # closed without an answer
    return Answer(int(lines[0].split()[1]), found, payload, seconds)
