"""Who may hold a connection open: the session check, the caps on held sockets, and the
websocket transport that refuses oversized or compressed messages before buffering them.

Each open websocket holds one of gunicorn's threads for its whole life, and the engine shares
the process. So a socket is only opened for a valid session (a logged-in account or an active
share link, the same rule as every request), at most VIGIL_MAX_CONNECTIONS_PER_IP per client
address, and at most the thread count minus a reserve in total: the reserved threads stay free
for login, /api/state, /healthz and the HTTP kill switch. A refused upgrade gets a JSON error
(401, 429 or 503) at once; the connection then idles in gunicorn's poller like any keep-alive
connection, on no thread. The page retries with back-off and keeps its HTTP fallback for the
kill switch meanwhile. An account whose socket was dropped for flooding gets 429 for a while.
Web processes over Redis share the per-address count (dashboard/shared_limits.py): this
worker's own cap is checked first, then the count across every worker; the total cap stays
per worker (it protects this process's own resources).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import simple_websocket
from flask import Flask

from dashboard.auth import current_user
from dashboard.event_guard import CLIENT_KEY, EventGuard
from dashboard.settings import WebSettings

if TYPE_CHECKING:
    from dashboard.shared_limits import SharedLimits

log = logging.getLogger(__name__)

SOCKET_PATH = "/socket.io"
LOG_EVERY_S = 10.0

StartResponse = Callable[..., Any]


def reserved_threads(threads: int) -> int:
    """Threads never given to a held socket: login, state, health and the kill switch."""
    return max(3, threads // 4)


def max_held_sockets(threads: int) -> int:
    return max(1, threads - reserved_threads(threads))


class ConnectionGuard:
    """WSGI middleware in front of the Socket.IO app; other paths pass straight through."""

    def __init__(
        self,
        inner: Callable[..., Any],
        app: Flask,
        web: WebSettings,
        events: EventGuard,
        *,
        max_held: int | None = None,
        shared: SharedLimits | None = None,
    ) -> None:
        self._inner = inner
        self._app = app
        self._events = events
        # Given for a gevent worker (a socket holds a greenlet, not one of the threads).
        self.max_held = max_held if max_held is not None else max_held_sockets(web.threads)
        self.per_address = web.max_connections_per_ip
        self.shared = shared
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}
        self._total = 0
        self._refused = 0
        self._last_log = 0.0

    def held(self) -> int:
        with self._lock:
            return self._total

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not str(environ.get("PATH_INFO", "")).startswith(SOCKET_PATH):
            return self._inner(environ, start_response)
        client = self._client_of(environ)
        if client is None:
            return self._refuse(start_response, 401, "UNAUTHENTICATED", "log in first")
        environ[CLIENT_KEY] = client
        wait = self._events.blocked_for(client)
        if wait > 0:
            message = f"dropped for flooding; try again in {int(wait) + 1} s"
            return self._refuse(start_response, 429, "RATE_LIMITED", message)
        if environ.get("REQUEST_METHOD") != "GET":
            return self._inner(environ, start_response)  # a POST answers at once
        address = str(environ.get("REMOTE_ADDR") or "unknown")
        refusal = self._acquire(address)
        if refusal is not None:
            return self._refuse(start_response, *refusal)
        hold = self._hold_shared(address)
        if hold is None:
            self._release(address)
            return self._refuse(start_response, *self._too_many())
        try:
            # A websocket lives inside this call (the transport runs its read loop here), so
            # the slot is released when the socket has closed.
            return self._inner(environ, start_response)
        finally:
            self._release(address)
            if self.shared is not None and hold:
                self.shared.release(address, hold)

    def _client_of(self, environ: dict[str, Any]) -> str | None:
        """The session's account (or share link's viewer), by the rule every HTTP request
        follows: signed cookie, not revoked, not expired; None without one."""
        try:
            with self._app.request_context(environ):
                user = current_user()
        except Exception:  # a cookie we cannot read is no session; never a traceback
            log.warning("socket upgrade: session could not be read", exc_info=True)
            return None
        return None if user is None else user.username

    def _too_many(self) -> tuple[int, str, str]:
        message = f"at most {self.per_address} open connections per address"
        return 429, "TOO_MANY_CONNECTIONS", message

    def _hold_shared(self, address: str) -> str | None:
        """The hold in the count across workers ("" without one); None: at the shared cap.
        Redis not answering admits: this worker's own cap, checked first, still holds."""
        if self.shared is None:
            return ""
        return self.shared.hold(address, self.per_address)

    def _acquire(self, address: str) -> tuple[int, str, str] | None:
        with self._lock:
            if self._held.get(address, 0) >= self.per_address:
                return self._too_many()
            if self._total >= self.max_held:
                return 503, "SERVER_BUSY", "no free connection slot; retry shortly"
            self._held[address] = self._held.get(address, 0) + 1
            self._total += 1
            return None

    def _release(self, address: str) -> None:
        with self._lock:
            left = self._held.get(address, 0) - 1
            if left > 0:
                self._held[address] = left
            else:
                self._held.pop(address, None)
            self._total -= 1

    def _refuse(
        self, start_response: StartResponse, status: int, code: str, message: str
    ) -> list[bytes]:
        self._note_refusal(code)
        body = json.dumps({"ok": False, "error": {"code": code, "message": message}}).encode()
        reason = {401: "UNAUTHORIZED", 429: "TOO MANY REQUESTS", 503: "SERVICE UNAVAILABLE"}
        start_response(
            f"{status} {reason[status]}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]

    def _note_refusal(self, code: str) -> None:
        # One log line per interval, not one per refusal: a flood must not fill the disk.
        now = time.monotonic()
        with self._lock:
            self._refused += 1
            if now - self._last_log < LOG_EVERY_S:
                return
            self._last_log, count, self._refused = now, self._refused, 0
        log.warning("socket connections refused (%s): %d since the last report", code, count)


class BoundedWebSocket:
    """python-engineio's SimpleWebSocketWSGI, with two limits it does not set.

    - `max_message_size`: simple-websocket closes the socket (1009) once a message's frames
      add up past it, instead of buffering the whole message first.
    - No permessage-deflate: the client's offer is not passed on, so wsproto negotiates no
      compression; a message can then never inflate past its size on the wire, and a
      compressed frame is a protocol error that closes the socket.
    The instance is stored in the WSGI environ (`vigil.websocket`) so the event guard can cut
    a flooding connection at the TCP level.
    """

    max_message_size = 65_536
    # simple-websocket's concurrency classes (thread, event, selector); None: the standard
    # library's. A gevent worker passes gevent's, as engineio's gevent driver does.
    concurrency: dict[str, Any] = {}

    def __init__(self, handler: Callable[[Any], Any], server: Any, **_: Any) -> None:
        self.app = handler
        self.ws: simple_websocket.Server | None = None

    @classmethod
    def limited_to(cls, max_message_size: int, *, gevent: bool = False) -> type[BoundedWebSocket]:
        concurrency: dict[str, Any] = {}
        if gevent:
            import gevent.event
            import gevent.selectors
            from engineio.async_drivers.gevent import Thread

            concurrency = {
                "thread_class": Thread,
                "event_class": gevent.event.Event,
                "selector_class": gevent.selectors.DefaultSelector,
            }
        attrs = {"max_message_size": max_message_size, "concurrency": concurrency}
        return type("BoundedWebSocket", (cls,), attrs)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        offered = {k: v for k, v in environ.items() if k != "HTTP_SEC_WEBSOCKET_EXTENSIONS"}
        self.ws = simple_websocket.Server(
            offered, max_message_size=self.max_message_size, **self.concurrency
        )
        # engine.io sets its ping deadline as a timeout on `_sock`: a peer that stops reading
        # cannot block the writer for ever.
        self._sock = self.ws.sock
        environ["vigil.websocket"] = self
        ret = self.app(self)
        if self.ws.mode == "gunicorn":
            raise StopIteration()
        if self.ws.mode == "werkzeug":
            raise ConnectionError()
        return ret

    def abort(self) -> None:
        """Cut the connection: both directions shut down, every blocked read or write ends."""
        if self.ws is not None:
            with contextlib.suppress(OSError):
                self.ws.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self.ws is not None and self.ws.connected:
            with contextlib.suppress(OSError, simple_websocket.ConnectionClosed):
                self.ws.close()

    def send(self, message: Any) -> Any:
        assert self.ws is not None
        try:
            return self.ws.send(message)
        except simple_websocket.ConnectionClosed:
            raise OSError() from None

    def wait(self) -> Any:
        assert self.ws is not None
        try:
            return self.ws.receive()
        except simple_websocket.ConnectionClosed:
            return None
