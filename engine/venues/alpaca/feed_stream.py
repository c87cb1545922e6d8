"""One Alpaca market-data websocket (stocks or crypto), run by alpaca-py, reporting its state.

alpaca-py's StockDataStream / CryptoDataStream speak the protocol (msgpack frames, auth,
subscribe, its own reconnect loop). Three of its hooks are taken over so the engine learns
what happens: `_start_ws` (connect and authenticate, bounded by the HTTP timeout: a server that
accepts and never answers would otherwise hold it forever), `_consume` (a dropped connection
names its cause) and `_reconnect_delay` (Vigil's jittered backoff, each attempt reported).
Each stream has a `StreamLink`: its state, attempt, last problem and when data last arrived;
the feed combines the links into the one connection state the page shows.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from typing import Any

import msgpack
from alpaca.data.enums import DataFeed
from alpaca.data.live import CryptoDataStream, StockDataStream

from engine.clock import Clock
from engine.models import BarEvent, Quote, Side, TradeTick
from engine.venues.alpaca.data import number
from engine.venues.base import ConnectionState
from engine.venues.net import Backoff

KEYS_LINE = "Alpaca refused the keys (check ALPACA_API_KEY and ALPACA_SECRET_KEY)"


class StreamLink:
    """What one stream reports; `changed` is called (under no lock) after every change."""

    def __init__(
        self, name: str, clock: Clock, backoff: Backoff, changed: Callable[[], None]
    ) -> None:
        self.name = name  # "stocks" or "crypto"
        self.clock = clock
        self.backoff = backoff
        self._changed = changed
        self.lock = threading.Lock()
        self.state = ConnectionState.CONNECTING
        self.attempt = 0
        self.message = "connecting"
        self.problem = ""
        self.refused = False
        self.last_data = clock.monotonic()
        self.had_data = False
        self.stopping = False
        self.kicked = False  # a reconnect forced by silence is under way

    def _set(self, state: ConnectionState, message: str) -> None:
        with self.lock:
            self.state, self.message = state, message
        self._changed()

    def connected(self) -> None:
        with self.lock:
            self.last_data = self.clock.monotonic()
            self.had_data = self.refused = self.kicked = False
            self.problem = ""
        self._set(ConnectionState.CONNECTED, "connected")

    def failed(self, problem: str, *, refused: bool = False) -> None:
        """Remember why the connection failed; the reconnect that follows reports it."""
        with self.lock:
            if self.kicked and self.problem:
                return  # the socket error of a reconnect we forced: the silence is the cause
            self.problem, self.refused = problem, refused

    def reconnect_delay(self) -> float:
        if self.stopping:
            return 0.0
        delay = self.backoff.next_delay()
        with self.lock:
            self.attempt = self.backoff.attempt
            problem = self.problem or "the connection closed"
            self.kicked = False  # the silence is reported once; later failures name their own
            state = ConnectionState.DISCONNECTED if self.refused else ConnectionState.RECONNECTING
        self._set(state, f"{problem}; reconnecting in {delay:.2f} s (attempt {self.attempt})")
        return delay

    def data(self) -> None:
        with self.lock:
            self.last_data = self.clock.monotonic()
            first = not self.had_data
            self.had_data = True
            stale = self.state is ConnectionState.STALE
        if first:
            self.backoff.reset()  # the connection held long enough to deliver
            with self.lock:
                self.attempt = 0
        if stale:
            self._set(ConnectionState.CONNECTED, "market data resumed")

    def silent_s(self) -> float:
        with self.lock:
            return self.clock.monotonic() - self.last_data

    def went_stale(self, silent: float) -> None:
        self._set(ConnectionState.STALE, f"no market data for {silent:.0f} s, market open")

    def market_closed(self) -> None:
        self._set(ConnectionState.CONNECTED, "market closed: no data expected")

    def ended(self, message: str) -> None:
        if not self.stopping:
            self._set(ConnectionState.DISCONNECTED, message)


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Reporting:
    """The hooks over alpaca-py's DataStream (mixed in before the SDK's class)."""

    link: StreamLink
    connect_timeout_s: float

    async def _start_ws(self) -> None:
        try:
            await asyncio.wait_for(super()._start_ws(), self.connect_timeout_s)  # type: ignore[misc]
        except TimeoutError:
            self.link.failed(f"no answer within {self.connect_timeout_s:g} s")
            raise
        except ValueError as exc:  # the SDK's auth (and "connected" handshake) errors
            text = str(exc)
            refused = "auth" in text or "key" in text
            self.link.failed(f"{KEYS_LINE}: {text}" if refused else text, refused=refused)
            raise
        except Exception as exc:
            self.link.failed(describe(exc))
            raise
        self.link.connected()

    async def _consume(self) -> bool:
        try:
            return await super()._consume()  # type: ignore[misc, no-any-return]
        except Exception as exc:
            self.link.failed(describe(exc))
            raise

    def _reconnect_delay(self, retries: int) -> float:
        return self.link.reconnect_delay()

    async def kick(self) -> None:
        """Close the socket (from the stream's loop): the SDK reconnects through the backoff."""
        ws = getattr(self, "_ws", None)
        if ws is not None:
            await ws.close()


class VigilStockStream(_Reporting, StockDataStream):
    pass


class VigilCryptoStream(_Reporting, CryptoDataStream):
    pass


def make_stream(
    kind: str, endpoint: str, api_key: str, secret_key: str, data_feed: str, timeout_s: float
) -> VigilStockStream | VigilCryptoStream:
    params: dict[str, Any] = {
        # Pings find a dead TCP connection; the SDK's 180 s ping timeout is too slow for us.
        "ping_interval": 10,
        "ping_timeout": 20,
        "max_queue": 1024,
        "open_timeout": timeout_s,
        "close_timeout": 1,
    }
    stream: VigilStockStream | VigilCryptoStream
    if kind == "stocks":
        stream = VigilStockStream(
            api_key,
            secret_key,
            raw_data=True,
            feed=DataFeed(data_feed),
            websocket_params=params,
            url_override=endpoint,
        )
    else:
        stream = VigilCryptoStream(
            api_key, secret_key, raw_data=True, url_override=endpoint, websocket_params=params
        )
    stream.connect_timeout_s = timeout_s
    return stream


# ----- Alpaca's data messages as engine events (raw msgpack dicts; bad ones raise) -----


def message_time(raw: Any) -> float:
    if not isinstance(raw, msgpack.Timestamp):
        raise ValueError(f"time {raw!r} is not a msgpack timestamp")
    ts = raw.to_unix()
    if not math.isfinite(ts) or ts <= 0:
        raise ValueError("time out of range")
    return float(ts)


def _symbol(msg: dict[str, Any]) -> str:
    symbol = msg.get("S")
    if not isinstance(symbol, str) or not symbol:
        raise ValueError("no symbol")
    return symbol


def quote_event(msg: dict[str, Any]) -> Quote:
    bid, ask = number(msg.get("bp"), "bid"), number(msg.get("ap"), "ask")
    if bid > ask:
        raise ValueError(f"crossed quote {bid} > {ask}")
    bid_size = number(msg.get("bs", 0), "bid size", positive=False)
    ask_size = number(msg.get("as", 0), "ask size", positive=False)
    return Quote(_symbol(msg), bid, ask, bid_size, ask_size, message_time(msg.get("t")))


def trade_event(msg: dict[str, Any], last_quote: Quote | None) -> TradeTick:
    """A trade; the aggressor is crypto's taker side, or for stocks (which do not say) the
    side of the last quote the price is nearer to."""
    price = number(msg.get("p"), "price")
    size = number(msg.get("s"), "size", positive=False)
    taker = msg.get("tks")
    if taker in ("B", "S"):
        side = Side.BUY if taker == "B" else Side.SELL
    elif last_quote is not None:
        side = Side.BUY if price >= last_quote.mid else Side.SELL
    else:
        side = Side.BUY
    return TradeTick(_symbol(msg), price, size, side, message_time(msg.get("t")))


def bar_event(msg: dict[str, Any]) -> BarEvent:
    o, h = number(msg.get("o"), "open"), number(msg.get("h"), "high")
    low, c = number(msg.get("l"), "low"), number(msg.get("c"), "close")
    if not low <= min(o, c) <= max(o, c) <= h:
        raise ValueError("inconsistent bar")
    volume = number(msg.get("v", 0), "volume", positive=False)
    return BarEvent(_symbol(msg), message_time(msg.get("t")), o, h, low, c, volume, closed=True)
