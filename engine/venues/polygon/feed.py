"""PolygonFeed: Polygon's stocks data (and the VIX where the plan has it) as a Vigil MarketFeed.

History: the newest 1-minute aggregates of each symbol from REST (engine/venues/polygon/
history.py), fetched on a thread of their own while the engine keeps answering commands.
Live: the stocks cluster's trades (T), quotes (Q), second (A) and minute (AM) aggregates on
one websocket thread; a second-aggregate builds the forming minute's bar, the minute aggregate
is its authority. The regime: I:VIX values from the indices cluster while the plan allows it;
when Polygon refuses indices (403 on REST, an error status on the socket, or
VIGIL_POLYGON_INDICES=off), the realized-volatility proxy of engine/market/vol_proxy.py from
the symbols' minute bars, and each VixUpdate names its source so the page can say which.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from massive import RESTClient
from massive.websocket.models import IndexValue, Market, parse

from engine.clock import Clock
from engine.market.vol_proxy import PROXY_SOURCE, VIX_SOURCE, RealizedVolProxy
from engine.models import AssetClass, BarEvent, Instrument, VixUpdate
from engine.settings_group import SettingsError
from engine.venues.base import ConnectionEvent, ConnectionState, MarketSink, VenueError
from engine.venues.net import Backoff
from engine.venues.polygon.convert import StockEvents, minute_bar, num
from engine.venues.polygon.history import PlanRefused, describe, newest_minutes
from engine.venues.polygon.settings import PolygonSettings
from engine.venues.polygon.stream import PolygonStream

log = logging.getLogger(__name__)
STOCK_CHANNELS = ("T", "Q", "A", "AM")
VIX_TICKER = "I:VIX"
SLICE_WAIT_S = 0.05  # the engine waits at most this long per history slice (commands first)

HistoryEvent = BarEvent | VixUpdate


class PolygonFeed:
    """A MarketFeed over Polygon through massive; see the module docstring."""

    name = "polygon"

    def __init__(
        self,
        config: PolygonSettings,
        symbols: Sequence[str],
        *,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        if not config.has_key:
            raise SettingsError("POLYGON_API_KEY: required for VIGIL_FEED=polygon")
        bad = [s for s in symbols if not s or ":" in s or s != s.strip().upper()]
        if bad or not symbols:
            raise SettingsError(
                f"VIGIL_SYMBOLS: Polygon stock tickers expected, e.g. SPY,QQQ (got {bad or 'none'})"
            )
        self.config = config
        self.clock = clock
        self._rng = rng or random.Random()
        self._instruments = {
            s: Instrument(s, AssetClass.EQUITY, tick_size=0.01, lot_size=1.0) for s in symbols
        }
        self._rest = RESTClient(
            api_key=config.api_key,
            base=config.rest_base,
            connect_timeout=config.http_timeout_s,
            read_timeout=config.http_timeout_s,
            retries=0,
        )
        self._lock = threading.Lock()
        self._subscribed: frozenset[str] = frozenset(symbols)
        self._sink: MarketSink | None = None
        self._stocks: PolygonStream | None = None
        self._indices: PolygonStream | None = None
        self._stop = threading.Event()
        self._connection = ConnectionEvent(
            "feed", self.name, ConnectionState.CONNECTING, clock.time()
        )
        self.regime_source = VIX_SOURCE if config.indices == "auto" else PROXY_SOURCE
        self._proxy = RealizedVolProxy()
        self._stock_events = StockEvents()
        self._vix_before_start: VixUpdate | None = None
        self.history_problems: list[str] = []
        self.history_progress = 0.0

    # ----- MarketFeed -----
    @property
    def instruments(self) -> dict[str, Instrument]:
        return self._instruments

    def subscribe(self, symbols: Sequence[str]) -> None:
        unknown = [s for s in symbols if s not in self._instruments]
        if unknown:
            raise VenueError(f"feed polygon cannot serve {', '.join(repr(s) for s in unknown)}")
        self._subscribed = frozenset(symbols)

    def start(self, sink: MarketSink) -> None:
        if self._stocks is not None or self._stop.is_set():
            return
        self._sink = sink
        host, secure = self.config.ws_host
        common: dict[str, Any] = {
            "api_key": self.config.api_key,
            "host": host,
            "secure": secure,
            "clock": self.clock,
            "open_timeout_s": self.config.http_timeout_s,
        }
        # Every configured symbol's channels: `subscribe` then narrows or widens what passes
        # at any time without a new subscription round trip.
        channels = [f"{c}.{s}" for s in sorted(self._instruments) for c in STOCK_CHANNELS]
        self._stocks = PolygonStream(
            market="stocks",
            channels=channels,
            backoff=self._backoff(),
            stale_after_s=self.config.stale_after_s,
            on_events=self._on_stock_events,
            on_status=self._report,
            **common,
        )
        if self.history_problems:
            self._report(
                ConnectionState.CONNECTING,
                0,
                "chart history incomplete: " + "; ".join(self.history_problems),
            )
        if self.regime_source == VIX_SOURCE:
            if self._vix_before_start is not None:
                # The last VIX before the start: the regime shows at once, not at the first
                # index value (none come while the index is not computed, e.g. at night).
                sink(self._vix_before_start)
            self._indices = PolygonStream(
                market="indices",
                channels=[f"V.{VIX_TICKER}"],
                backoff=self._backoff(),
                stale_after_s=None,
                on_events=self._on_index_events,
                on_status=self._on_index_status,
                on_refused=self._indices_refused,
                **common,
            )
            self._indices.start()
        else:
            self._emit_proxy()
        self._stocks.start()

    def stop(self) -> None:
        self._stop.set()
        for stream in (self._stocks, self._indices):
            if stream is not None:
                stream.stop()

    def connection(self) -> ConnectionEvent:
        with self._lock:
            return self._connection

    def history(self, end: float, seconds: float) -> list[HistoryEvent]:
        """The newest minutes before `end` (about `seconds` of them) per symbol, oldest first,
        then the regime's reading; never raises for Polygon's faults (they are named in
        `history_problems` and reported when the feed starts)."""
        count = max(int(seconds // 60), 1)
        deadline = self.clock.monotonic() + self.config.history_timeout_s
        events: list[HistoryEvent] = []
        symbols = sorted(self._subscribed)
        for done, symbol in enumerate(symbols):
            try:
                aggs = self._minutes(symbol, end, count, deadline)
            except Exception as exc:  # noqa: BLE001 - one symbol's history is not fatal
                self._history_problem(f"{symbol}: {describe(exc)}")
                aggs = []
            events.extend(self._history_bars(symbol, aggs, end))
            self.history_progress = (done + 1) / (len(symbols) + 1)
        if self.regime_source == VIX_SOURCE:
            events.extend(self._history_vix(end, deadline))
        if self.regime_source == PROXY_SOURCE:
            value = self._proxy_value()
            if value is not None:
                events.append(VixUpdate(value, end, PROXY_SOURCE))
        self.history_progress = 1.0
        return events

    def history_slices(
        self, end: float, seconds: float, dt: float = 0.0, steps_per_slice: int = 0
    ) -> Iterator[tuple[float, list[HistoryEvent]]]:
        """The history fetched on its own thread: each slice waits at most SLICE_WAIT_S, so
        the engine handles queued commands between them however slow Polygon is."""
        result: dict[str, Any] = {}
        done = threading.Event()

        def fetch() -> None:
            try:
                result["events"] = self.history(end, seconds)
            except BaseException as exc:  # noqa: BLE001 - handed to the engine thread below
                result["error"] = exc
            finally:
                done.set()

        threading.Thread(target=fetch, name="vigil-polygon-history", daemon=True).start()
        while not done.wait(SLICE_WAIT_S):
            yield min(self.history_progress, 0.99), []
        if "error" in result:
            raise result["error"]
        yield 1.0, result["events"]

    # ----- history -----
    def _minutes(self, ticker: str, end: float, count: int, deadline: float) -> list[Any]:
        return newest_minutes(
            self._rest,
            ticker,
            end,
            count,
            clock=self.clock,
            deadline=deadline,
            backoff=Backoff(0.25, 2.0, self._rng),
            wait=self._stop.wait,
        )

    def _history_problem(self, text: str) -> None:
        log.warning("polygon history: %s", text)
        self.history_problems.append(text)

    def _history_bars(self, symbol: str, aggs: list[Any], end: float) -> list[BarEvent]:
        bars = []
        for agg in aggs:
            bar = minute_bar(symbol, agg.timestamp, agg.open, agg.high, agg.low, agg.close,
                             agg.volume, closed=True)  # fmt: skip
            if bar is None:
                continue
            if bar.ts + 60 > end:  # the minute still running at `end` is still forming
                bar = BarEvent(**{**bar.__dict__, "closed": False})
            bars.append(bar)
            with self._lock:
                self._proxy.add_bar(symbol, bar.ts, bar.close)
        return bars

    def _history_vix(self, end: float, deadline: float) -> list[VixUpdate]:
        try:
            aggs = self._minutes(VIX_TICKER, end, 1, deadline)
        except PlanRefused:
            self._use_proxy("the Polygon plan has no indices (I:VIX refused)")
            return []
        except Exception as exc:  # noqa: BLE001 - the live feed may still bring it
            self._history_problem(f"{VIX_TICKER}: {describe(exc)}")
            return []
        values = [num(a.close) for a in aggs]
        readings = [VixUpdate(v, end, VIX_SOURCE) for v in values[-1:] if v is not None]
        self._vix_before_start = readings[-1] if readings else None
        return readings

    # ----- live: stocks -----
    def _on_stock_events(self, raw: list[dict[str, Any]]) -> None:
        sink = self._sink
        if sink is None or self._stop.is_set():
            return
        for msg in parse(raw, log, Market.Stocks):
            if getattr(msg, "symbol", None) not in self._subscribed:
                continue
            try:
                events = self._stock_events.convert(msg)
            except Exception:
                log.exception("polygon: a stocks message could not be converted: %r", msg)
                continue
            for event in events:
                sink(event)
                if isinstance(event, BarEvent) and event.closed:
                    self._on_minute_closed(event, sink)

    def _on_minute_closed(self, bar: BarEvent, sink: MarketSink) -> None:
        with self._lock:
            self._proxy.add_bar(bar.symbol, bar.ts, bar.close)
        if self.regime_source == PROXY_SOURCE:
            value = self._proxy_value()
            if value is not None:
                sink(VixUpdate(value, self.clock.time(), PROXY_SOURCE))

    # ----- live: the regime -----
    def _on_index_events(self, raw: list[dict[str, Any]]) -> None:
        sink = self._sink
        if sink is None or self._stop.is_set() or self.regime_source != VIX_SOURCE:
            return
        for msg in parse(raw, log, Market.Indices):
            if isinstance(msg, IndexValue) and msg.ticker == VIX_TICKER:
                value = num(msg.value)
                if value is not None:
                    ts = num(msg.timestamp)
                    sink(VixUpdate(value, ts / 1000 if ts else self.clock.time(), VIX_SOURCE))

    def _on_index_status(self, state: ConnectionState, attempt: int, message: str) -> None:
        if state is ConnectionState.DISCONNECTED:
            # The key was refused at the indices cluster's door (a plan without it, or a bad
            # key, which the stocks stream reports as the feed's own state).
            if self._indices is not None:
                self._indices.give_up()
            self._use_proxy("Polygon refused the key for indices")
        else:
            log.info("polygon indices: %s %s", state, message)

    def _indices_refused(self, message: str) -> None:
        """An error status on the indices subscription: the plan does not include them."""
        if self._indices is not None:
            self._indices.give_up()
        self._use_proxy(f"the Polygon plan has no indices ({message})")

    def _use_proxy(self, why: str) -> None:
        if self.regime_source == PROXY_SOURCE:
            return
        self.regime_source = PROXY_SOURCE
        log.warning("polygon: %s; the regime uses the realized-volatility proxy", why)
        if self._sink is not None:
            state = self.connection().state
            self._report(state, 0, f"{why}: the regime now uses the realized-volatility proxy")
            self._emit_proxy()

    def _emit_proxy(self) -> None:
        value = self._proxy_value()
        if value is not None and self._sink is not None:
            self._sink(VixUpdate(value, self.clock.time(), PROXY_SOURCE))

    def _proxy_value(self) -> float | None:
        with self._lock:
            return self._proxy.value()

    # ----- connection state -----
    def _report(self, state: ConnectionState, attempt: int, message: str) -> None:
        event = ConnectionEvent("feed", self.name, state, self.clock.time(), attempt, message)
        with self._lock:
            self._connection = event
        sink = self._sink
        if sink is not None:
            sink(event)

    def _backoff(self) -> Backoff:
        return Backoff(self.config.reconnect_base_s, self.config.reconnect_cap_s, self._rng)
