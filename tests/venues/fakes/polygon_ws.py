"""A loopback fake of Polygon's websocket clusters (/stocks, /indices), for massive's client.

JSON text frames holding lists of events, as Polygon sends them: `connected` on connect, then
`auth_success` or `auth_failed` (and a close) for the key, one `success` status per channel
subscribed; stocks T./Q./A./AM. events and the indices V. value of I:VIX. A plan without
indices answers each indices subscription with Polygon's `error` status instead. Faults the
test injects: refuse new connections (HTTP 503 at the handshake), accept and never greet (a
hang), drop every connection without a close frame, stop sending data (pings still answered).
"""

from __future__ import annotations

import json
import threading
import time
from http import HTTPStatus
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tests.venues.fakes.polygon_rest import API_KEY

PLAN_ERROR = (
    "Your plan doesn't include websocket access to indices. "
    "Visit https://polygon.io/pricing to upgrade."
)


def status(state: str, message: str) -> dict[str, Any]:
    return {"ev": "status", "status": state, "message": message}


def trade(sym: str, price: float, size: float = 100, ts: float | None = None) -> dict[str, Any]:
    t = int((time.time() if ts is None else ts) * 1000)
    return {"ev": "T", "sym": sym, "x": 4, "i": "1", "z": 3, "p": price, "s": size, "t": t, "q": 1}


def quote(
    sym: str, bid: float, ask: float, size: float = 200, ts: float | None = None
) -> dict[str, Any]:
    t = int((time.time() if ts is None else ts) * 1000)
    return {"ev": "Q", "sym": sym, "bx": 4, "bp": bid, "bs": size, "ax": 7, "ap": ask,
            "as": size, "c": 0, "t": t, "z": 3, "q": 1}  # fmt: skip


def agg(ev: str, sym: str, start: float, o: float, h: float, lo: float, c: float, v: float):
    """An A (second) or AM (minute) aggregate whose window starts at `start` (epoch s)."""
    span = 1 if ev == "A" else 60
    s = int(start * 1000)
    return {"ev": ev, "sym": sym, "v": v, "av": v, "op": o, "vw": c, "o": o, "c": c, "h": h,
            "l": lo, "a": c, "z": 100, "s": s, "e": s + span * 1000}  # fmt: skip


def index_value(value: float, ticker: str = "I:VIX", ts: float | None = None) -> dict[str, Any]:
    t = int((time.time() if ts is None else ts) * 1000)
    return {"ev": "V", "val": value, "T": ticker, "t": t}


class FakePolygonWs:
    """The fake server; `url` is what VIGIL_POLYGON_WS_URL takes (massive: feed=host:port,
    secure=False)."""

    def __init__(self, *, api_key: str = API_KEY, indices: bool = True) -> None:
        self.api_key = api_key
        self.indices = indices
        self.refusing = False
        self.hanging = False
        self.silent = False
        self.connections_made = 0
        self.auth_attempts = 0
        self.subscribed: dict[str, set[str]] = {"stocks": set(), "indices": set()}
        self._conns: dict[ServerConnection, tuple[str, set[str]]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: Server = serve(
            self._session,
            "127.0.0.1",
            0,
            process_request=self._gate,
            compression=None,
            close_timeout=0.5,  # a client gone mid-close never holds `stop` for long
        )
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakePolygonWs:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.drop()
        self._server.shutdown()

    # ----- what the test controls -----
    def send(self, market: str, events: list[dict[str, Any]]) -> int:
        """Send `events` to every authenticated connection of `market` subscribed to them (one
        frame per connection); returns how many connections got something."""
        if self.silent:
            return 0
        sent = 0
        with self._lock:
            conns = [(c, subs) for c, (m, subs) in self._conns.items() if m == market]
        for conn, subs in conns:
            wanted = [e for e in events if _channel(e) in subs or f"{e['ev']}.*" in subs]
            if not wanted:
                continue
            try:
                conn.send(json.dumps(wanted))
                sent += 1
            except ConnectionClosed:
                pass
        return sent

    def drop(self) -> None:
        """Cut every connection without a close frame (the client sees an abnormal close)."""
        with self._lock:
            conns, self._conns = list(self._conns), {}
        for conn in conns:
            conn.close_socket()

    def live(self, market: str = "stocks") -> int:
        """Connections of `market` that authenticated and subscribed something."""
        with self._lock:
            return sum(1 for m, subs in self._conns.values() if m == market and subs)

    # ----- the server -----
    def _gate(self, conn: ServerConnection, request: Request) -> Response | None:
        if self.refusing:
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "fake: refusing connections\n")
        if request.path not in ("/stocks", "/indices"):
            return conn.respond(HTTPStatus.NOT_FOUND, "no such cluster\n")
        return None

    def _session(self, conn: ServerConnection) -> None:
        market = (conn.request.path if conn.request else "/stocks").strip("/")
        self.connections_made += 1
        if self.hanging:
            self._stopping.wait()
            return
        try:
            conn.send(json.dumps([status("connected", "Connected Successfully")]))
            auth = json.loads(conn.recv())
            self.auth_attempts += 1
            if auth.get("action") != "auth" or auth.get("params") != self.api_key:
                conn.send(json.dumps([status("auth_failed", "authentication failed")]))
                conn.close()
                return
            conn.send(json.dumps([status("auth_success", "authenticated")]))
            subs: set[str] = set()
            with self._lock:
                self._conns[conn] = (market, subs)
            for raw in conn:
                self._on_action(conn, market, subs, json.loads(raw))
        except (ConnectionClosed, OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._conns.pop(conn, None)

    def _on_action(
        self, conn: ServerConnection, market: str, subs: set[str], msg: dict[str, Any]
    ) -> None:
        channels = [c.strip() for c in str(msg.get("params", "")).split(",") if c.strip()]
        replies = []
        for channel in channels:
            if msg.get("action") == "subscribe":
                if market == "indices" and not self.indices:
                    replies.append(status("error", PLAN_ERROR))
                    continue
                with self._lock:
                    subs.add(channel)
                    self.subscribed[market].add(channel)
                replies.append(status("success", f"subscribed to: {channel}"))
            elif msg.get("action") == "unsubscribe":
                with self._lock:
                    subs.discard(channel)
                replies.append(status("success", f"unsubscribed to: {channel}"))
        if replies:
            conn.send(json.dumps(replies))


def _channel(event: dict[str, Any]) -> str:
    return f"{event['ev']}.{event.get('sym') or event.get('T')}"
