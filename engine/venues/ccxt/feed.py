"""CcxtFeed: a crypto exchange's market data by polling through ccxt, on the feed's own thread.

Every poll (VIGIL_CCXT_FEED_POLL_S, ccxt's enableRateLimit spacing the calls) reads each
subscribed market's book (top 10: an OrderBook, and its top as the Quote; the ticker endpoint
gives the same top at a higher request weight on futures) and its new public trades; every
few polls the last minute bars and, for perpetuals, the funding rate and next funding time.
A failed poll reports RECONNECTING and backs off; with no quote the stale-feed breaker trips.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from engine.clock import Clock, SystemClock
from engine.models import BarEvent, BookLevel, Instrument, OrderBook, Quote, Side, TradeTick
from engine.venues.base import ConnectionEvent, ConnectionState, MarketSink, VenueError
from engine.venues.ccxt import errors
from engine.venues.ccxt.exchange import MarketRules, make_exchange, resolve_markets
from engine.venues.ccxt.settings import CcxtSettings
from engine.venues.ccxt.worker import VenueThread
from engine.venues.mode import TradingModeSettings
from engine.venues.net import Backoff

NAME = "ccxt"
BOOK_DEPTH = 10
BARS_EVERY = 10  # polls between minute-bar reads
FUNDING_EVERY = 30  # polls between funding-rate reads
TRADES_LIMIT = 100  # recent public trades per poll (more between two polls: the oldest missed)


class CcxtFeed:
    name = NAME

    def __init__(
        self,
        settings: CcxtSettings,
        mode: TradingModeSettings,
        symbols: Sequence[str],
        *,
        clock: Clock | None = None,
        exchange: Any = None,
        backoff: Backoff | None = None,
    ) -> None:
        """Loads the markets now (the instruments are the exchange's): raises VenueError
        when the exchange cannot be reached or lists no such market."""
        self.settings = settings
        self.swap = settings.market == "swap"
        self._clock = clock or SystemClock()
        self.exchange = exchange or make_exchange(settings, mode.live)
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=30.0)
        try:
            self.exchange.load_markets()
        except Exception as exc:  # noqa: BLE001 - any ccxt failure is sorted by errors.classify
            message = f"{settings.exchange}: markets not loaded ({errors.describe(exc)})"
            raise VenueError(message) from None
        self.rules: dict[str, MarketRules] = resolve_markets(
            self.exchange, list(symbols), "swap" if self.swap else "spot"
        )
        self._active = list(self.rules)
        self._sink: MarketSink | None = None
        self._thread = VenueThread(
            f"ccxt-feed-{settings.exchange}", self._poll, settings.feed_poll_s
        )
        self._state = ConnectionEvent("feed", NAME, ConnectionState.CONNECTING, self._clock.time())
        self._last_trade: dict[str, tuple[int, str]] = {}
        self._polls = 0
        self._lock = threading.Lock()
        self.funding: dict[str, dict[str, Any]] = {}

    @property
    def instruments(self) -> dict[str, Instrument]:
        return {symbol: rules.instrument() for symbol, rules in self.rules.items()}

    def subscribe(self, symbols: Sequence[str]) -> None:
        unknown = [s for s in symbols if s not in self.rules]
        if unknown:
            raise VenueError(f"{self.settings.exchange} does not serve {', '.join(unknown)}")
        self._active = list(symbols)

    def start(self, sink: MarketSink) -> None:
        self._sink = sink
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()

    def connection(self) -> ConnectionEvent:
        with self._lock:
            return self._state

    def sync(self, timeout: float = 10.0) -> None:
        """Poll now and return when done (tests)."""
        self._thread.call(self._poll, timeout)

    def details(self) -> dict[str, Any]:
        """For the page: the exchange, market type, and perpetuals' funding (any thread)."""
        return {
            "exchange": self.settings.exchange,
            "market": self.settings.market,
            "funding": dict(self.funding),
        }

    def history(self, end: float, seconds: float) -> list[BarEvent]:
        """Minute bars before `end`, oldest first, from the exchange's OHLCV; none when the
        exchange does not answer in time (the engine thread waits no longer than that)."""
        try:
            return self._thread.call(
                lambda: self._history(end, seconds), self.settings.call_timeout_s
            )
        except VenueError as exc:
            self._report(ConnectionState.RECONNECTING, f"history not loaded: {exc}")
            return []

    # ----- on the feed thread -----
    def _history(self, end: float, seconds: float) -> list[BarEvent]:
        bars: list[BarEvent] = []
        since = int((end - seconds) * 1000)
        limit = min(max(int(seconds // 60) + 1, 1), 1000)
        for symbol in self._active:
            rules = self.rules[symbol]
            try:
                rows = self.exchange.fetch_ohlcv(rules.ccxt_symbol, "1m", since=since, limit=limit)
            except Exception as exc:  # noqa: BLE001 - any ccxt failure is sorted by errors.classify
                self._report(ConnectionState.RECONNECTING, errors.describe(exc))
                continue
            bars += [_bar(symbol, row, closed=True) for row in rows if row[0] / 1000 + 60 <= end]
        return sorted(bars, key=lambda b: b.ts)

    def _poll(self) -> float:
        try:
            events = self._read()
        except Exception as exc:  # noqa: BLE001 - any ccxt failure is sorted by errors.classify
            self._report(ConnectionState.RECONNECTING, errors.describe(exc))
            return self._backoff.next_delay()
        self._backoff.reset()
        if self._state.state is not ConnectionState.CONNECTED:
            self._report(ConnectionState.CONNECTED, f"{self.settings.exchange} market data")
        for event in events:
            self._emit(event)
        return 0.0

    def _read(self) -> list[Any]:
        events: list[Any] = []
        self._polls += 1
        now = self._clock.time()
        for symbol in list(self._active):
            rules = self.rules[symbol]
            book = self.exchange.fetch_order_book(rules.ccxt_symbol, BOOK_DEPTH)
            bids = tuple(BookLevel(float(p), float(q)) for p, q, *_ in book["bids"][:BOOK_DEPTH])
            asks = tuple(BookLevel(float(p), float(q)) for p, q, *_ in book["asks"][:BOOK_DEPTH])
            if bids and asks:
                ts = now  # when it arrived: staleness is about our view, not their clock
                events.append(Quote(symbol, bids[0].price, asks[0].price, bids[0].size,
                                    asks[0].size, ts))  # fmt: skip
                events.append(OrderBook(symbol, bids, asks, ts))
            events += self._trades(symbol, rules)
            if self._polls % BARS_EVERY == 1:
                rows = self.exchange.fetch_ohlcv(rules.ccxt_symbol, "1m", limit=2)
                events += [
                    _bar(symbol, row, closed=i < len(rows) - 1) for i, row in enumerate(rows)
                ]
            if self.swap and self._polls % FUNDING_EVERY == 1:
                rate = self.exchange.fetch_funding_rate(rules.ccxt_symbol)
                self.funding[symbol] = {
                    "rate": rate.get("fundingRate"),
                    "next_ts": (rate.get("fundingTimestamp") or 0) / 1000 or None,
                    "mark": rate.get("markPrice"),
                }
        return events

    def _trades(self, symbol: str, rules: MarketRules) -> list[TradeTick]:
        # The most recent trades, not "since the last one": Binance answers a start time with
        # that hour only, so a quiet hour would hide every trade after it.
        last = self._last_trade.get(symbol)
        rows = self.exchange.fetch_trades(rules.ccxt_symbol, limit=TRADES_LIMIT)
        rows = sorted(rows, key=lambda r: (r.get("timestamp") or 0, str(r.get("id"))))
        if last is None:  # the first read only marks where live trades begin
            if rows:
                self._last_trade[symbol] = (rows[-1]["timestamp"], str(rows[-1]["id"]))
            else:
                self._last_trade[symbol] = (int(self._clock.time() * 1000), "")
            return []
        fresh = [r for r in rows if (r["timestamp"], str(r["id"])) > last]
        if fresh:
            self._last_trade[symbol] = (fresh[-1]["timestamp"], str(fresh[-1]["id"]))
        return [
            TradeTick(symbol, float(r["price"]), float(r["amount"]),
                      Side.BUY if r.get("side") == "buy" else Side.SELL, r["timestamp"] / 1000)
            for r in fresh
        ]  # fmt: skip

    def _report(self, state: ConnectionState, message: str) -> None:
        attempt = self._backoff.attempt
        event = ConnectionEvent("feed", NAME, state, self._clock.time(), attempt, message)
        with self._lock:
            self._state = event
        self._emit(event)

    def _emit(self, event: Any) -> None:
        if self._sink is not None:
            self._sink(event)


def _bar(symbol: str, row: Sequence[Any], closed: bool) -> BarEvent:
    ts, o, h, low, c, v = row[:6]
    return BarEvent(symbol, ts / 1000, float(o), float(h), float(low), float(c), float(v or 0.0),
                    closed=closed)  # fmt: skip
