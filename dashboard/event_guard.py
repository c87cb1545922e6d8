"""The gate on inbound Socket.IO messages: a token bucket per account (or share link) across its
connections, a depth check, and dropping a connection that keeps flooding (its account then
gets no new socket for a while); a trader's kill_switch always passes.

It sits between Engine.IO and python-socketio (it replaces Engine.IO's "message" handler) and
runs on the connection's own reader thread, so a refused message costs the server a few
microseconds and no new thread: before, every inbound message started a thread, and one viewer
sending 1,000 request_state/s built 1,000 snapshots a second beside the engine. The buckets
belong to the account, not the connection, so reconnecting does not refill them.

Web processes over Redis also share the account's bucket, patience and block
(dashboard/shared_limits.py): an event this worker's own bucket admits is then asked of the
shared one (one round trip), so an account flooding through several processes gets one
budget. A kill_switch never touches either bucket, so it never waits on Redis.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from socketio import packet

from engine.commands import MAX_PAYLOAD_DEPTH, error, too_deeply_nested

if TYPE_CHECKING:
    from dashboard.shared_limits import SharedLimits

log = logging.getLogger(__name__)

EVENT_RATE = 20.0  # events per second, sustained, per account or share link
EVENT_BURST = 40.0
# Refusals an account may collect (refilled at PATIENCE_RATE/s) before its socket is dropped.
PATIENCE = 100.0
PATIENCE_RATE = 10.0
# After a drop, the same account or link gets no new socket for this long (429 at the upgrade).
DROP_COOLDOWN_S = 10.0
DROP_GRACE_S = 0.5
PRUNE_AT = 1_000
# The WSGI environ key under which the connection guard names the socket's account or link.
CLIENT_KEY = "vigil.client"
# The key prefix of a socket with no account or link (its budget is never shared).
SOCKET_KEY = "sid:"
# The shared budget's verdicts (dashboard/shared_limits.py's script returns these numbers).
ADMIT, REFUSE, DROP = 1, 0, -1

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
class _Client:
    """One account or share link, across all its connections: reconnecting resets nothing."""

    events: TokenBucket
    patience: TokenBucket
    blocked_until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Conn:
    client: _Client
    key: str  # the account or link; SOCKET_KEY + its id for a socket without one
    may_halt: bool = False
    dropped: bool = False


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
        cooldown: float = DROP_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedLimits | None = None,
    ) -> None:
        self._server = server  # the python-socketio Server
        self.shared = shared
        self._rate, self._burst = rate, burst
        self._patience, self._patience_rate = patience, patience_rate
        self._cooldown = cooldown
        self.clock = clock
        self._clients: dict[str, _Client] = {}
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

    def blocked_for(self, client_key: str) -> float:
        """Seconds this account or link must wait before a new socket (after a drop)."""
        with self._lock:
            client = self._clients.get(client_key)
        local = 0.0 if client is None else max(client.blocked_until - self.clock(), 0.0)
        shared = self._shared_for(client_key)
        if local > 0 or shared is None:
            return local
        return shared.blocked_for(client_key)

    def _shared_for(self, key: str) -> SharedLimits | None:
        """The budget shared across workers, for an account or link; a socket with neither is
        this worker's alone."""
        return None if key.startswith(SOCKET_KEY) else self.shared

    def _client(self, key: str) -> _Client:
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if len(self._clients) > PRUNE_AT:
                    self._prune()
                now = self.clock()
                client = _Client(
                    TokenBucket(self._burst, self._rate, now),
                    TokenBucket(self._patience, self._patience_rate, now),
                )
                self._clients[key] = client
            return client

    def _prune(self) -> None:
        """Forget clients whose buckets are full again and who are not blocked: no state lost."""
        now = self.clock()
        for key, client in list(self._clients.items()):
            full = client.events.tokens + (now - client.events.last) * client.events.rate
            if full >= client.events.capacity and client.blocked_until <= now:
                del self._clients[key]

    def _conn(self, eio_sid: str) -> _Conn:
        with self._lock:
            conn = self._conns.get(eio_sid)
        if conn is not None:
            return conn
        # The connection guard put the account (or link) in the handshake's environ.
        environ = self._server.environ.get(eio_sid) or {}
        key = str(environ.get(CLIENT_KEY) or f"{SOCKET_KEY}{eio_sid}")
        conn = _Conn(self._client(key), key)
        with self._lock:
            return self._conns.setdefault(eio_sid, conn)

    def _on_disconnect(self, eio_sid: str, *args: Any) -> Any:
        with self._lock:
            self._conns.pop(eio_sid, None)
            self._clients.pop(f"{SOCKET_KEY}{eio_sid}", None)
        return self._forget(eio_sid, *args)

    def on_message(self, eio_sid: str, data: Any) -> None:
        eio_socket = self._server.eio.sockets.get(eio_sid)
        if eio_socket is None or eio_socket.closing or eio_socket.closed:
            return  # what a dropped or closing connection still had buffered
        conn = self._conn(eio_sid)
        head = _parse_head(data)
        halt = (
            head is not None
            and head.kind == packet.EVENT
            and conn.may_halt
            and _HALT.match(data, head.body) is not None
        )
        client = conn.client
        with client.lock:
            if conn.dropped:
                return
            now = self.clock()
            if not halt and not client.events.take(now):
                drop = not client.patience.take(now)
                if drop:
                    conn.dropped = True
                    client.blocked_until = now + self._cooldown
            else:
                drop = None
        if drop is None and not halt:
            drop = self._shared_verdict(conn)
        elif drop and (shared := self._shared_for(conn.key)) is not None:
            shared.block(conn.key, self._cooldown)  # every worker refuses its new sockets
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

    def _shared_verdict(self, conn: _Conn) -> bool | None:
        """After this worker's bucket admitted: None when the account's budget across every
        worker admits too (or Redis cannot say), False refused, True refused and dropped."""
        shared = self._shared_for(conn.key)
        if shared is None:
            return None
        verdict = shared.take_event(
            conn.key,
            rate=self._rate,
            burst=self._burst,
            patience=self._patience,
            patience_rate=self._patience_rate,
            cooldown_s=self._cooldown,
        )
        if verdict is None or verdict == ADMIT:
            return None
        if verdict == DROP:
            with conn.client.lock:
                conn.dropped = True
                conn.client.blocked_until = self.clock() + self._cooldown
            return True
        return False

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
        """Ignore the connection from now on and cut it at the TCP level a moment later.

        The moment lets the RATE_LIMITED answers already queued reach a client that reads; the
        cut (not a close handshake) means a flooder that does not read cannot stall it.
        """
        self.dropped += 1
        environ = self._server.environ.get(eio_sid) or {}
        log.warning(
            "socket of %s dropped: kept flooding past the rate limit",
            environ.get(CLIENT_KEY, eio_sid),
        )
        transport = environ.get("vigil.websocket")
        if transport is not None:
            timer = threading.Timer(DROP_GRACE_S, transport.abort)
        else:
            eio_socket = self._server.eio.sockets.get(eio_sid)
            if eio_socket is None:
                return
            timer = threading.Timer(DROP_GRACE_S, eio_socket.close, kwargs={"wait": False})
        timer.daemon = True
        timer.start()
