"""A loopback fake of Alpaca's market-data websocket: msgpack frames as alpaca-py's streams speak.

StockDataStream / CryptoDataStream (`url_override` = `stock_url` / `crypto_url`) connect, get
[{"T": "success", "msg": "connected"}], send {"action": "auth", "key", "secret"} and get
"authenticated" (or {"T": "error", "code": 402, "msg": "auth failed"} and a close), then
{"action": "subscribe" | "unsubscribe", "trades": [...], "quotes": [...], "bars": [...]}
answered by a "subscription" message listing every channel. The test publishes trades
("t"), quotes ("q") and minute bars ("b") to the connections subscribed to the symbol.
Faults: refuse the keys, hang the next connections (never say "connected"), drop every
connection, and going quiet (a ticker that can be paused).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from tests.venues.fakes.alpaca_data import API_KEY, SECRET_KEY

STOCK_PATHS = ("/v2/iex", "/v2/sip")
CRYPTO_PATH = "/v1beta3/crypto/us"
CHANNELS = ("trades", "quotes", "bars", "orderbooks")
_ALL_CHANNELS = (
    "trades",
    "quotes",
    "bars",
    "orderbooks",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
)


def _stamp(ts: float) -> msgpack.Timestamp:
    return msgpack.Timestamp.from_unix_nano(round(ts * 1e9))


@dataclass
class _Client:
    ws: ServerConnection
    path: str
    authed: bool = False
    subs: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in CHANNELS})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, messages: list[dict[str, Any]]) -> None:
        with self.lock:
            self.ws.send(msgpack.packb(messages))

    def wants(self, channel: str, symbol: str) -> bool:
        subs = self.subs[channel]
        return symbol in subs or "*" in subs


class FakeAlpacaStream:
    """The market-data websocket on 127.0.0.1, in a thread. Use as a context manager."""

    def __init__(self, api_key: str = API_KEY, secret_key: str = SECRET_KEY) -> None:
        self.api_key, self.secret_key = api_key, secret_key
        self.reject_auth = False
        self.connections = 0  # every connection accepted so far
        self.received: list[dict[str, Any]] = []  # every client message, decoded
        self._hang = 0
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._ids = itertools.count(1)
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._ticker: threading.Thread | None = None
        self._ticking = threading.Event()
        self.prices: dict[str, float] = {}

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}"

    @property
    def stock_url(self) -> str:
        return self.url + STOCK_PATHS[0]

    @property
    def crypto_url(self) -> str:
        return self.url + CRYPTO_PATH

    def start(self) -> FakeAlpacaStream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._ticking.clear()
        self.drop()
        self._server.shutdown()

    def __enter__(self) -> FakeAlpacaStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- faults -----
    def hang_next(self, count: int = 1) -> None:
        """The next `count` connections are accepted and then never spoken to."""
        with self._lock:
            self._hang += count

    def drop(self) -> int:
        """Close every open connection (as a network drop would); how many were closed."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.ws.close()
        return len(clients)

    # ----- what the test sees -----
    def subscribed(self, channel: str, symbol: str) -> bool:
        """Whether an authenticated connection now receives `channel` for `symbol`."""
        with self._lock:
            return any(c.authed and c.wants(channel, symbol) for c in self._clients)

    def open_connections(self) -> int:
        with self._lock:
            return len(self._clients)

    # ----- market data -----
    def trade(self, symbol: str, price: float, size: float, ts: float | None = None) -> int:
        msg: dict[str, Any] = {"T": "t", "S": symbol, "i": next(self._ids), "p": price, "s": size}
        msg["t"] = _stamp(time.time() if ts is None else ts)
        if "/" in symbol:
            msg["tks"] = "B"
        else:
            msg.update({"x": "V", "c": ["@"], "z": "A"})
        return self._publish("trades", symbol, msg)

    def quote(
        self,
        symbol: str,
        bid: float,
        ask: float,
        bid_size: float = 100.0,
        ask_size: float = 100.0,
        ts: float | None = None,
    ) -> int:
        msg: dict[str, Any] = {"T": "q", "S": symbol, "bp": bid, "bs": bid_size}
        msg.update({"ap": ask, "as": ask_size, "t": _stamp(time.time() if ts is None else ts)})
        if "/" not in symbol:
            msg.update({"bx": "V", "ax": "V", "c": ["R"], "z": "A"})
        return self._publish("quotes", symbol, msg)

    def bar(
        self, symbol: str, ts: float, o: float, h: float, low: float, c: float, v: float
    ) -> int:
        msg = {"T": "b", "S": symbol, "o": o, "h": h, "l": low, "c": c, "v": v, "t": _stamp(ts)}
        msg.update({"n": 5, "vw": round((h + low + c) / 3, 4)})
        return self._publish("bars", symbol, msg)

    def orderbook(
        self,
        symbol: str,
        bids: list[tuple[float, float]],
        asks: list[tuple[float, float]],
        *,
        reset: bool = False,
        ts: float | None = None,
    ) -> int:
        """A crypto book message: the whole book when `reset`, else changed levels (size 0
        removes one)."""
        msg: dict[str, Any] = {
            "T": "o",
            "S": symbol,
            "t": _stamp(time.time() if ts is None else ts),
        }
        msg["b"] = [{"p": p, "s": s} for p, s in bids]
        msg["a"] = [{"p": p, "s": s} for p, s in asks]
        if reset:
            msg["r"] = True
        return self._publish("orderbooks", symbol, msg)

    def raw(self, messages: list[dict[str, Any]]) -> None:
        """Send these messages as they are to every authenticated connection."""
        with self._lock:
            clients = [c for c in self._clients if c.authed]
        for client in clients:
            with contextlib.suppress(ConnectionClosed):
                client.send(messages)

    def start_ticking(self, prices: dict[str, float], interval_s: float = 0.1) -> None:
        """Send a quote and a trade of every symbol every `interval_s` (a live market)."""
        self.prices.update(prices)
        self._ticking.set()
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick_loop, args=(interval_s,), daemon=True)
            self._ticker.start()

    def pause_ticking(self) -> None:
        """Go quiet: connections stay open, no data flows (a stale feed)."""
        self._ticking.clear()

    def _tick_loop(self, interval_s: float) -> None:
        step = 0
        while not self._stopped.wait(interval_s):
            if not self._ticking.is_set():
                continue
            step += 1
            for symbol, price in list(self.prices.items()):
                drift = price * 0.0005 * (1 if step % 7 < 4 else -1)
                price = round(price + drift, 2)
                self.prices[symbol] = price
                spread = max(round(price * 0.0002, 2), 0.01)
                self.quote(symbol, round(price - spread, 2), round(price + spread, 2))
                self.trade(symbol, price, 10.0 if "/" not in symbol else 0.01)

    def _publish(self, channel: str, symbol: str, msg: dict[str, Any]) -> int:
        with self._lock:
            clients = [c for c in self._clients if c.authed and c.wants(channel, symbol)]
        sent = 0
        for client in clients:
            try:
                client.send([msg])
                sent += 1
            except ConnectionClosed:
                pass
        return sent

    # ----- one connection -----
    def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        client = _Client(ws, path)
        with self._lock:
            self.connections += 1
            hang, self._hang = self._hang > 0, max(self._hang - 1, 0)
            self._clients.append(client)
        try:
            if path not in (*STOCK_PATHS, CRYPTO_PATH):
                client.send([{"T": "error", "code": 404, "msg": "not found"}])
                return
            if hang:
                self._stopped.wait()
                return
            client.send([{"T": "success", "msg": "connected"}])
            for frame in ws:
                message = msgpack.unpackb(frame) if isinstance(frame, bytes) else None
                if not isinstance(message, dict):
                    client.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
                    continue
                with self._lock:
                    self.received.append(message)
                if not self._on_message(client, message):
                    return
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)

    def _on_message(self, client: _Client, message: dict[str, Any]) -> bool:
        """Answer one client message; False closes the connection."""
        action = message.get("action")
        if action == "auth":
            if client.authed:
                client.send([{"T": "error", "code": 403, "msg": "already authenticated"}])
                return True
            ok = message.get("key") == self.api_key and message.get("secret") == self.secret_key
            if self.reject_auth or not ok:
                client.send([{"T": "error", "code": 402, "msg": "auth failed"}])
                return False
            client.authed = True
            client.send([{"T": "success", "msg": "authenticated"}])
            return True
        if not client.authed:
            client.send([{"T": "error", "code": 401, "msg": "not authenticated"}])
            return True
        if action not in ("subscribe", "unsubscribe"):
            client.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
            return True
        with self._lock:
            for channel in CHANNELS:
                symbols = message.get(channel) or []
                if action == "subscribe":
                    client.subs[channel].update(symbols)
                else:
                    client.subs[channel].difference_update(symbols)
            answer: dict[str, Any] = {"T": "subscription"}
            for channel in _ALL_CHANNELS:
                answer[channel] = sorted(client.subs.get(channel, ()))
        client.send([answer])
        return True
