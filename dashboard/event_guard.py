"""The per-connection gate on inbound Socket.IO messages: a token bucket, a depth check, and
dropping a connection that keeps flooding; a trader's kill_switch always passes.

It sits between Engine.IO and python-socketio (it replaces Engine.IO's "message" handler) and
runs on the connection's own reader thread, so a refused message costs the server a few
microseconds and no new thread: before, every inbound message started a thread, and one viewer
sending 1,000 request_state/s built 1,000 snapshots a second beside the engine.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from socketio import packet

from engine.commands import MAX_PAYLOAD_DEPTH, error, too_deeply_nested

log = logging.getLogger(__name__)

EVENT_RATE = 20.0  # events per second, sustained, per connection
EVENT_BURST = 40.0
# Refusals a connection may collect (refilled at PATIENCE_RATE/s) before it is dropped.
PATIENCE = 100.0
PATIENCE_RATE = 10.0

# A Socket.IO packet: type digit, optional "<n>-" attachments, optional "/nsp,", optional ack id.
_HEAD = re.compile(r"(\d)(?:\d+-)?(/[^,]*,)?(\d*)")
_HALT = re.compile(r'\[\s*"kill_switch"\s*[,\]]')


class TokenBucket:
    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity, self.rate = capacity, rate
        self.tokens, self.last = capacity, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Conn:
    events: TokenBucket
    patience: TokenBucket
    may_halt: bool = False
    dropped: bool = False
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class _Head:
    kind: int
    namespace: str
    ack_id: int | None
    body: int  # where the JSON starts


def _parse_head(data: Any) -> _Head | None:
    if not isinstance(data, str):
        return None  # a binary attachment: counted, never inspected
    match = _HEAD.match(data)
    if match is None:
        return None
    namespace = (match.group(2) or "/,")[:-1]
    ack_id = int(match.group(3)) if match.group(3) else None
    return _Head(int(match.group(1)), namespace, ack_id, match.end())


class EventGuard:
    def __init__(
        self,
        server: Any,
        *,
        rate: float = EVENT_RATE,
        burst: float = EVENT_BURST,
        patience: float = PATIENCE,
        patience_rate: float = PATIENCE_RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server = server  # the python-socketio Server
        self._rate, self._burst = rate, burst
        self._patience, self._patience_rate = patience, patience_rate
        self.clock = clock
        self._conns: dict[str, _Conn] = {}
        self._lock = threading.Lock()
        self._deliver: Callable[[str, Any], Any] = lambda sid, data: None
        self._forget: Callable[..., Any] = lambda *args: None
        self.dropped = 0

    def install(self) -> None:
        eio = self._server.eio
        self._deliver = eio.handlers["message"]
        self._forget = eio.handlers["disconnect"]
        eio.on("message", self.on_message)
        eio.on("disconnect", self._on_disconnect)
        # Run the gate on the reader thread; python-socketio still runs each admitted event
        # on its own thread (its async_handlers), so a slow command never blocks the reader.
        eio.async_handlers = False

    def allow_halt(self, eio_sid: str, allowed: bool) -> None:
        """Called on connect: whether this connection's kill_switch bypasses the bucket."""
        self._conn(eio_sid).may_halt = allowed

    def _conn(self, eio_sid: str) -> _Conn:
        with self._lock:
            conn = self._conns.get(eio_sid)
            if conn is None:
                now = self.clock()
                conn = _Conn(
                    TokenBucket(self._burst, self._rate, now),
                    TokenBucket(self._patience, self._patience_rate, now),
                )
                self._conns[eio_sid] = conn
            return conn

    def _on_disconnect(self, eio_sid: str, *args: Any) -> Any:
        with self._lock:
            self._conns.pop(eio_sid, None)
        return self._forget(eio_sid, *args)

    def on_message(self, eio_sid: str, data: Any) -> None:
        conn = self._conn(eio_sid)
        head = _parse_head(data)
        halt = (
            head is not None
            and head.kind == packet.EVENT
            and conn.may_halt
            and _HALT.match(data, head.body) is not None
        )
        with conn.lock:
            if conn.dropped:
                return
            now = self.clock()
            if not halt and not conn.events.take(now):
                conn.refused += 1
                drop = not conn.patience.take(now)
                if drop:
                    conn.dropped = True
            else:
                drop = None
        if drop is not None:
            self._answer(eio_sid, head, "RATE_LIMITED", "too many messages; slow down")
            if drop:
                self._drop(eio_sid)
            return
        if head is not None and too_deeply_nested(data[head.body :]):
            message = f"payload nested deeper than {MAX_PAYLOAD_DEPTH} levels"
            self._answer(eio_sid, head, "INVALID_PAYLOAD", message)
            return
        try:
            self._deliver(eio_sid, data)
        except ValueError as exc:  # a packet python-socketio cannot decode
            log.info("socket %s: malformed packet refused (%s)", eio_sid, exc)
            self._answer(eio_sid, head, "INVALID_PAYLOAD", "malformed packet")
        except RecursionError:
            log.info("socket %s: packet nested too deeply", eio_sid)
            self._answer(eio_sid, head, "INVALID_PAYLOAD", "payload nested too deeply")

    def _answer(self, eio_sid: str, head: _Head | None, code: str, message: str) -> None:
        """The structured error, as the ack of the event, or as the refusal of a connect."""
        if head is None:
            return
        server = self._server
        if head.kind == packet.EVENT and head.ack_id is not None:
            reply = server.packet_class(
                packet.ACK, namespace=head.namespace, id=head.ack_id, data=[error(code, message)]
            )
        elif head.kind == packet.CONNECT:
            reply = server.packet_class(
                packet.CONNECT_ERROR,
                namespace=head.namespace,
                data={"message": message, "data": error(code, message)},
            )
        else:
            return
        try:
            server._send_packet(eio_sid, reply)
        except Exception:  # the socket may be gone already
            log.debug("socket %s: error answer not sent", eio_sid, exc_info=True)

    def _drop(self, eio_sid: str) -> None:
        """Close at the TCP level: a flooder that does not read cannot stall the close."""
        self.dropped += 1
        log.warning("socket %s dropped: kept flooding past the rate limit", eio_sid)
        environ = self._server.environ.get(eio_sid) or {}
        transport = environ.get("vigil.websocket")
        if transport is not None:
            transport.abort()
            return
        eio_socket = self._server.eio.sockets.get(eio_sid)
        if eio_socket is not None:
            eio_socket.close(wait=False, abort=True)
