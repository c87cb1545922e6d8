"""AlpacaFeed: Alpaca's market data (stock and crypto streams, minute-bar history) as a MarketFeed.

`history` preloads the charts from REST bars (engine/venues/alpaca/data.py), bounded by
VIGIL_ALPACA_HISTORY_TIMEOUT_S; a symbol whose history fails is named on the activity log when
the feed starts, and only a history that failed for every symbol raises (the engine reports
the error and carries on live). `start` runs the stock and the crypto websocket (alpaca-py,
see feed_stream.py) on one asyncio loop in the thread "vigil-feed-alpaca": trades, quotes and
minute bars become TradeTick, Quote and BarEvent, crypto order books OrderBook (feed_book.py).
A watchdog thread marks a stream STALE when no data arrived for VIGIL_ALPACA_STALE_S while its
market is open (crypto: always; stocks: US regular hours, or 4:00-20:00 New York with
VIGIL_ALPACA_EXTENDED_HOURS; exchange holidays are not known to this rule) and forces a
reconnect after VIGIL_ALPACA_STALE_RECONNECT_S. The
stale-feed breaker needs nothing from here but silence: it measures the time since the last
market data the engine applied, and this feed never sends anything that is not market data.
Alpaca has no VIX: the regime reads the realized-volatility proxy of engine/market/vol_proxy.py
from the symbols' minute bars (history, then each live bar), and the page says so. The history
is fetched on its own thread (engine/venues/history_fetch.py) so commands never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.clock import Clock
from engine.market.vol_proxy import (
    CRYPTO_MINUTES_PER_YEAR,
    EQUITY_MINUTES_PER_YEAR,
    PROXY_SOURCE,
    RealizedVolProxy,
)
from engine.models import BarEvent, Instrument, OrderBook, Quote, TradeTick, VixUpdate
from engine.settings_group import SettingsError
from engine.venues.alpaca.data import BarHistory, alpaca_instruments, is_crypto
from engine.venues.alpaca.feed_book import CryptoBooks
from engine.venues.alpaca.feed_stream import (
    StreamLink,
    VigilCryptoStream,
    VigilStockStream,
    bar_event,
    describe,
    make_stream,
    quote_event,
    trade_event,
)
from engine.venues.alpaca.settings import AlpacaSettings
from engine.venues.base import ConnectionEvent, ConnectionState, MarketSink, VenueError
from engine.venues.history_fetch import background_slices
from engine.venues.net import Backoff

log = logging.getLogger(__name__)


def _without_traceback(record: logging.LogRecord) -> bool:
    """alpaca-py logs every failed connect with a traceback; the cause is in the message and
    in the feed's ConnectionEvent, so the server log keeps one line per attempt."""
    record.exc_info, record.exc_text = None, None
    return True


logging.getLogger("alpaca.data.live.websocket").addFilter(_without_traceback)

NEW_YORK = ZoneInfo("America/New_York")
_WORST_FIRST = (
    ConnectionState.DISCONNECTED,
    ConnectionState.RECONNECTING,
    ConnectionState.CONNECTING,
    ConnectionState.STALE,
    ConnectionState.CONNECTED,
)
Stream = VigilStockStream | VigilCryptoStream


def us_stocks_open(ts: float, extended: bool = False) -> bool:
    """Whether US stocks trade at `ts` (weekdays, New York time; holidays not known)."""
    local = datetime.fromtimestamp(ts, NEW_YORK)
    if local.weekday() >= 5:
        return False
    minute = local.hour * 60 + local.minute
    return (240 <= minute < 1200) if extended else (570 <= minute < 960)


class AlpacaFeed:
    """Alpaca market data for VIGIL_SYMBOLS (stocks and crypto pairs; no options, no VIX)."""

    name = "alpaca"

    def __init__(
        self,
        settings: AlpacaSettings,
        symbols: Sequence[str],
        *,
        clock: Clock,
        market_open: Callable[[float], bool] | None = None,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 30.0,
        rng: random.Random | None = None,
        poll_s: float = 0.5,
    ) -> None:
        if not settings.has_keys:
            raise SettingsError(
                "ALPACA_API_KEY: VIGIL_FEED=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY"
            )
        self.settings = settings
        self.clock = clock
        self._instruments = alpaca_instruments(symbols)
        self._history = BarHistory(settings)
        self._stocks_open = market_open or (lambda ts: us_stocks_open(ts, settings.extended_hours))
        self._backoff = (backoff_base_s, backoff_cap_s, rng or random.Random())
        self.poll_s = poll_s
        base = settings.stream_url.rstrip("/")
        self.endpoints = {
            "stocks": f"{base}/v2/{settings.data_feed}",
            "crypto": f"{base}/v1beta3/crypto/us",
        }
        self._subscribed: frozenset[str] | None = None
        self._sink: MarketSink | None = None
        self._links: dict[str, StreamLink] = {}
        self._streams: dict[str, Stream] = {}
        self._quotes: dict[str, Quote] = {}
        self._books = CryptoBooks()
        # Stocks trade 390 minutes a day, crypto all year: a crypto-only list annualises so.
        only_crypto = bool(self._instruments) and all(is_crypto(s) for s in self._instruments)
        self._proxy = RealizedVolProxy(
            minutes_per_year=CRYPTO_MINUTES_PER_YEAR if only_crypto else EQUITY_MINUTES_PER_YEAR
        )
        self._proxy_lock = threading.Lock()  # the history thread, then the stream thread
        self.history_progress = 0.0
        self.history_problems: list[str] = []
        self.rejected = 0  # data messages that failed validation and were dropped
        self._lock = threading.RLock()  # one connection state, whichever thread reports
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._threads: list[threading.Thread] = []
        self._connection = ConnectionEvent(
            "feed", self.name, ConnectionState.CONNECTING, clock.time()
        )

    # ----- MarketFeed -----
    @property
    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    def subscribe(self, symbols: Sequence[str]) -> None:
        """Deliver these symbols only. Every instrument stays subscribed on the wire (a short
        list), so a change is a filter and never waits on the network."""
        unknown = [s for s in symbols if s not in self._instruments]
        if unknown:
            raise VenueError(f"feed alpaca cannot serve {', '.join(repr(s) for s in unknown)}")
        self._subscribed = frozenset(symbols)

    def history(self, end: float, seconds: float) -> list[BarEvent | VixUpdate]:
        if seconds <= 0:
            return []
        symbols = list(self._instruments)
        self.history_progress = 0.0
        bars, problems = self._history.load(symbols, end, seconds)
        self.history_problems = problems
        if problems:
            log.warning("alpaca chart history: %s", "; ".join(problems))
            if len(problems) == len(symbols):
                raise VenueError(f"Alpaca chart history failed: {'; '.join(problems)}")
        events: list[BarEvent | VixUpdate] = list(bars)
        reading = self._add_to_proxy(bars, end)
        if reading is not None:
            events.append(reading)
        self.history_progress = 1.0
        return events

    def history_slices(
        self, end: float, seconds: float, dt: float = 0.0, steps_per_slice: int = 0
    ) -> Iterator[tuple[float, list[BarEvent | VixUpdate]]]:
        """The history fetched on its own thread: the engine handles commands meanwhile."""
        return background_slices(
            lambda: self.history(end, seconds),
            lambda: self.history_progress,
            name="vigil-alpaca-history",
        )

    def _add_to_proxy(self, bars: Sequence[BarEvent], ts: float) -> VixUpdate | None:
        with self._proxy_lock:
            for bar in bars:
                self._proxy.add_bar(bar.symbol, bar.ts, bar.close)
            value = self._proxy.value()
        return VixUpdate(value, ts, PROXY_SOURCE) if value is not None else None

    def connection(self) -> ConnectionEvent:
        with self._lock:
            return self._connection

    def start(self, sink: MarketSink) -> None:
        if self._sink is not None:
            return
        self._sink = sink
        if self.history_problems:
            self._emit(
                ConnectionState.CONNECTING,
                0,
                f"Alpaca chart history incomplete: {'; '.join(self.history_problems)}",
            )
        groups = {
            "stocks": [s for s in self._instruments if not is_crypto(s)],
            "crypto": [s for s in self._instruments if is_crypto(s)],
        }
        for kind, symbols in groups.items():
            if symbols:
                self._streams[kind] = self._make(kind, symbols)
        loop_thread = threading.Thread(target=self._run_loop, name="vigil-feed-alpaca", daemon=True)
        watch = threading.Thread(target=self._watch, name="vigil-feed-alpaca-watch", daemon=True)
        for thread in (loop_thread, watch):
            thread.start()
        self._threads = [loop_thread, watch]  # only started threads: stop() joins them

    def stop(self, timeout: float = 5.0) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        for link in self._links.values():
            link.stopping = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(lambda: [task.cancel() for task in self._tasks])
        for thread in self._threads:
            thread.join(timeout)

    # ----- the streams -----
    def _make(self, kind: str, symbols: list[str]) -> Stream:
        base, cap, rng = self._backoff
        link = StreamLink(kind, self.clock, Backoff(base, cap, rng), self._link_changed)
        self._links[kind] = link
        s = self.settings
        stream = make_stream(
            kind, self.endpoints[kind], s.api_key, s.secret_key, s.data_feed, s.http_timeout_s
        )
        stream.link = link

        async def on_trade(msg: dict[str, Any]) -> None:
            self._on_data(link, msg, lambda m: trade_event(m, self._quotes.get(m.get("S"))))

        async def on_quote(msg: dict[str, Any]) -> None:
            self._on_data(link, msg, quote_event)

        async def on_bar(msg: dict[str, Any]) -> None:
            self._on_data(link, msg, bar_event)

        stream.subscribe_trades(on_trade, *symbols)
        stream.subscribe_quotes(on_quote, *symbols)
        stream.subscribe_bars(on_bar, *symbols)
        if isinstance(stream, VigilCryptoStream):  # stocks have no book on Alpaca's streams

            async def on_book(msg: dict[str, Any]) -> None:
                self._on_data(link, msg, self._books.apply)

            stream.subscribe_orderbooks(on_book, *symbols)
        return stream

    def _on_data(
        self,
        link: StreamLink,
        msg: dict[str, Any],
        convert: Callable[[dict[str, Any]], Quote | TradeTick | BarEvent | OrderBook],
    ) -> None:
        link.data()
        try:
            event = convert(msg)
        except (ValueError, TypeError) as exc:
            self.rejected += 1
            if self.rejected <= 5 or self.rejected % 1000 == 0:
                log.warning("alpaca %s: dropped a bad message (%s): %r", link.name, exc, msg)
            return
        if isinstance(event, Quote):
            self._quotes[event.symbol] = event
        subscribed = self._subscribed
        if (subscribed is None or event.symbol in subscribed) and self._sink is not None:
            self._sink(event)
        if isinstance(event, BarEvent) and self._sink is not None:
            reading = self._add_to_proxy([event], self.clock.time())
            if reading is not None:
                self._sink(reading)

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._tasks = [
                loop.create_task(self._run_stream(kind, stream))
                for kind, stream in self._streams.items()
            ]
            if not self._stop.is_set():
                loop.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
            for stream in self._streams.values():
                with contextlib.suppress(Exception):  # closing a socket that is gone
                    loop.run_until_complete(asyncio.wait_for(stream.close(), 2.0))
        finally:
            loop.close()

    async def _run_stream(self, kind: str, stream: Stream) -> None:
        link = self._links[kind]
        try:
            await stream._run_forever()
        except asyncio.CancelledError:
            return
        except Exception as exc:  # noqa: BLE001 - the SDK gave up: say so, never die silently
            link.ended(f"the stream stopped: {describe(exc)}")
            return
        link.ended(f"Alpaca ended the stream: {link.problem or 'closed'}")

    # ----- staleness -----
    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.check_stale()

    def check_stale(self) -> None:
        """Mark silent streams STALE while their market is open; force a reconnect when the
        silence lasts VIGIL_ALPACA_STALE_RECONNECT_S (the watchdog calls this every poll)."""
        now = self.clock.time()
        for kind, link in self._links.items():
            is_open = kind == "crypto" or self._stocks_open(now)
            silent = link.silent_s()
            state = link.state
            if state is ConnectionState.CONNECTED and is_open and silent > self.settings.stale_s:
                link.went_stale(silent)
            elif state is ConnectionState.STALE and not is_open:
                link.market_closed()
            elif state is ConnectionState.STALE and self._should_kick(link, silent):
                link.failed(f"no market data for {silent:.0f} s")
                link.kicked = True  # after `failed`: the cause named is the silence
                self._kick(self._streams[kind])

    def _should_kick(self, link: StreamLink, silent: float) -> bool:
        limit = self.settings.stale_reconnect_s
        return bool(limit) and silent > limit and not link.kicked

    def _kick(self, stream: Stream) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(stream.kick(), loop)

    # ----- the one connection state -----
    def _link_changed(self) -> None:
        with self._lock:
            links = list(self._links.values())
            if not links:
                return
            worst = min(links, key=lambda link: _WORST_FIRST.index(link.state))
            if worst.state is ConnectionState.CONNECTED:
                names = ", ".join(f"{link.name}: {link.message}" for link in links)
                message = f"Alpaca market data ({names})"
            else:
                message = f"Alpaca {worst.name}: {worst.message}"
            self._emit(worst.state, worst.attempt, message)

    def _emit(self, state: ConnectionState, attempt: int, message: str) -> None:
        with self._lock:
            last = self._connection
            # The engine counts every RECONNECTING / DISCONNECTED report as an error (the
            # error-rate breaker): one per attempt, not one per stream a network blip dropped.
            failing = state in (ConnectionState.RECONNECTING, ConnectionState.DISCONNECTED)
            key = (state, attempt) if failing else (state, message)
            if key == ((last.state, last.attempt) if failing else (last.state, last.message)):
                return
            event = ConnectionEvent("feed", self.name, state, self.clock.time(), attempt, message)
            self._connection = event
            sink = self._sink
            if sink is not None:
                sink(event)
