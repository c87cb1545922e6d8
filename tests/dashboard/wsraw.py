"""Raw websocket clients for the client-abuse tests: hand-made handshakes and frames, and the
served worker's memory, read from /proc."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import requests

from tests.server_process import ServerProcess

WS_PATH = "/socket.io/?EIO=4&transport=websocket"


def worker_pid(server: ServerProcess) -> int:
    """The gunicorn worker (the one child of the arbiter the Procfile starts)."""
    assert server.proc is not None
    pid = server.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def cookie_of(session: requests.Session) -> str:
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def upgrade_request(port: int, cookie: str = "", *headers: str) -> bytes:
    """The HTTP request that opens a Socket.IO websocket on 127.0.0.1:`port`, with any further
    header lines (the benchmarks' clients send it too)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {WS_PATH} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def upgrade(
    port: int,
    *,
    cookie: str | None = None,
    deflate: bool = False,
    forwarded_for: str | None = None,
    timeout: float = 10.0,
) -> tuple[socket.socket, int, bytes]:
    """Open a TCP connection and ask for the websocket upgrade; returns the socket, the HTTP
    status and whatever followed the headers (the body of a refusal, or the first frames)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    extra = []
    if deflate:
        extra.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    if forwarded_for:
        extra.append(f"X-Forwarded-For: {forwarded_for}")
    sock.sendall(upgrade_request(port, cookie or "", *extra))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    header, _, rest = head.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1]) if header else 0
    return sock, status, rest


def frame(payload: bytes, *, opcode: int = 1, compressed: bool = False) -> bytes:
    """One final client frame, masked with a zero key (valid, and the payload stays as is)."""
    first = 0x80 | (0x40 if compressed else 0) | opcode
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", first, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, size)
    return head + b"\0\0\0\0" + payload


def deflate_bomb(inflated_mib: int) -> bytes:
    """A Socket.IO text message that is `inflated_mib` MiB once inflated, ~1000x smaller sent."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [comp.compress(b'42["request_state","')]
    block = b"x" * (1 << 20)
    for _ in range(inflated_mib):
        out.append(comp.compress(block))
    out.append(comp.compress(b'"]'))
    out.append(comp.flush(zlib.Z_SYNC_FLUSH))
    data = b"".join(out)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]  # permessage-deflate drops the sync-flush tail


def send_quietly(sock: socket.socket, data: bytes) -> None:
    """sendall that accepts the server closing the connection part-way."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
        sock.sendall(data)


def closed(sock: socket.socket, timeout: float = 10.0) -> bool:
    """True once the server has closed the connection (it may send a close frame first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
    return False


def timed(call: Any, *args: Any, **kwargs: Any) -> float:
    started = time.perf_counter()
    call(*args, **kwargs)
    return time.perf_counter() - started
