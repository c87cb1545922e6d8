"""MarketFeed.subscribe (PumpedFeed filters by symbol) and a provider's 1m bars as market events
through the real MarketRouter.on_market: the charts equal the provider's bars on every timeframe."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from engine.bus import EventBus
from engine.clock import FakeClock, SystemClock
from engine.market.bars import Bar
from engine.models import BarEvent, Quote, Side, TradeTick, VixUpdate
from engine.parts import EngineParts, build_parts
from engine.runtime import EngineRuntime
from engine.state import DashboardState
from engine.venues.base import ConnectionEvent, VenueError
from engine.venues.pumped import PumpedFeed
from engine.venues.sim.catalogue import select_instruments
from tests.conftest import make_engine_settings, wait_until

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: a 4h bucket boundary
SYMBOLS = ["SPY", "QQQ", "BTC/USD"]


class ThreeSymbols:
    """A step source that prints one trade and one quote per symbol and the VIX every step."""

    name = "sim"

    def __init__(self) -> None:
        self.instruments = select_instruments(SYMBOLS)

    def step(self, now: float, dt: float) -> list[Any]:
        events: list[Any] = [VixUpdate(18.0, now)]
        for symbol in SYMBOLS:
            events.append(TradeTick(symbol, 100.0, 1.0, Side.BUY, now))
            events.append(Quote(symbol, 99.9, 100.1, 1.0, 1.0, now))
        return events

    def history_slices(
        self, end: float, seconds: float, dt: float, steps_per_slice: int
    ) -> Iterator[tuple[float, list[Any]]]:
        yield 1.0, [TradeTick(s, 100.0, 1.0, Side.BUY, end - 1) for s in SYMBOLS]

    def start_message(self) -> str:
        return "three symbols"

    def checkpoint(self) -> None:
        return None

    def save(self, snapshot: Any) -> None:
        raise AssertionError("nothing to save")


def test_subscribe_when_a_subset_then_only_those_symbols_reach_the_sink() -> None:
    feed = PumpedFeed(ThreeSymbols(), clock=SystemClock(), tick_s=0.001)
    feed.subscribe(["QQQ"])
    events: list[Any] = []
    feed.start(events.append)
    try:
        wait_until(lambda: sum(isinstance(e, VixUpdate) for e in list(events)) >= 3, 10, "steps")
    finally:
        feed.stop()
    symbols = {e.symbol for e in events if hasattr(e, "symbol")}
    assert symbols == {"QQQ"}
    assert any(isinstance(e, TradeTick) for e in events)
    assert any(isinstance(e, Quote) for e in events)
    assert any(isinstance(e, ConnectionEvent) for e in events)  # connection always passes
    assert {e.symbol for e in feed.history(T0, 60)} == {"QQQ"}


def test_subscribe_when_unset_then_every_instrument() -> None:
    feed = PumpedFeed(ThreeSymbols(), clock=SystemClock(), tick_s=0.001)
    assert {e.symbol for e in feed.history(T0, 60)} == set(SYMBOLS)


def test_subscribe_when_a_symbol_is_unknown_then_venue_error_naming_it_and_nothing_changes() -> (
    None
):
    feed = PumpedFeed(ThreeSymbols(), clock=SystemClock(), tick_s=0.001)
    feed.subscribe(["SPY"])
    with pytest.raises(VenueError, match="'DOGE'"):
        feed.subscribe(["QQQ", "DOGE"])
    assert {e.symbol for e in feed.history(T0, 60)} == {"SPY"}


def test_runtime_subscribes_the_configured_instruments_before_the_feed_starts(
    tmp_path: Path,
) -> None:
    rt = EngineRuntime(make_engine_settings(tmp_path / "var", VIGIL_SYMBOLS="QQQ, BTC/USD"))
    calls: list[Any] = []
    feed = rt.parts.feed
    real_subscribe, real_start = feed.subscribe, feed.start

    def subscribe(symbols: Sequence[str]) -> None:
        calls.append(("subscribe", list(symbols)))
        real_subscribe(symbols)

    def start(sink: Any) -> None:
        calls.append(("start",))
        real_start(sink)

    feed.subscribe = subscribe  # type: ignore[method-assign]
    feed.start = start  # type: ignore[method-assign]
    rt.start()
    try:
        wait_until(lambda: ("start",) in calls, 20, "feed started")
        assert calls == [("subscribe", ["QQQ", "BTC/USD"]), ("start",)]
    finally:
        rt.stop()


# ----- a provider's bars -----


def engine_parts(tmp_path: Path) -> tuple[EngineParts, list[tuple[str, dict[str, Any]]], FakeClock]:
    clock = FakeClock(T0 + 10_000)
    bus = EventBus(clock)
    published: list[tuple[str, dict[str, Any]]] = []
    bus.subscribe(lambda topic, payload: published.append((topic, payload)), {"bar_update"})
    c = build_parts(
        make_engine_settings(tmp_path / "var", VIGIL_SYMBOLS="QQQ"), clock, bus, DashboardState()
    )
    return c, published, clock


def minute(i: int, o: float, h: float, lo: float, c: float, v: float, **kw: Any) -> BarEvent:
    return BarEvent("QQQ", T0 + 60 * i, o, h, lo, c, v, **kw)


def ohlcv(bars: list[Bar]) -> list[tuple[float, ...]]:
    return [(b.t, b.o, b.h, b.l, b.c, b.v) for b in bars]


def as_row(e: BarEvent) -> tuple[float, ...]:
    return (e.ts, e.open, e.high, e.low, e.close, e.volume)


DELIVERED = [
    minute(0, 100.0, 101.0, 99.5, 100.5, 10.0),
    minute(1, 100.5, 102.0, 100.0, 101.5, 20.0),
    minute(2, 101.5, 101.6, 98.0, 99.0, 5.0),
    minute(3, 99.0, 99.5, 98.5, 99.2, 7.0),
    minute(4, 99.2, 100.0, 99.0, 99.9, 1.0),
    minute(5, 99.9, 103.0, 99.8, 102.5, 30.0),
    minute(6, 102.5, 102.6, 101.0, 101.1, 4.0),
]


def test_bars_only_feed_then_every_chart_equals_the_delivered_bars(tmp_path: Path) -> None:
    c, published, clock = engine_parts(tmp_path)

    class Recorder:
        def __init__(self) -> None:
            self.prices: list[tuple[str, float, float]] = []

        def on_price(self, symbol: str, price: float, ts: float, held: float) -> list[Any]:
            self.prices.append((symbol, price, ts))
            return []

    recorder = Recorder()
    c.router.strategy = recorder  # type: ignore[assignment]
    try:
        for event in DELIVERED:
            c.router.on_market(event)
        assert ohlcv(c.market.bars.bars("QQQ", "1m")) == [as_row(e) for e in DELIVERED]
        assert ohlcv(c.market.bars.bars("QQQ", "5m")) == [
            (T0, 100.0, 102.0, 98.0, 99.9, 43.0),
            (T0 + 300, 99.9, 103.0, 99.8, 101.1, 34.0),
        ]
        assert ohlcv(c.market.bars.bars("QQQ", "4h")) == [(T0, 100.0, 103.0, 98.0, 101.1, 77.0)]
        assert c.market.bars.bars("QQQ", "1s") == []  # built from trades only
        assert c.market.last_price("QQQ") == 101.1
        assert c.market.last_data_ts == clock.time()  # the stale-feed clock moves
        # The strategy sees each minute's close at the minute's end.
        assert recorder.prices == [("QQQ", e.close, e.ts + 60) for e in DELIVERED]
        last_1m = [p for t, p in published if p["timeframe"] == "1m"][-1]
        assert last_1m["symbol"] == "QQQ" and last_1m["closed"] is True
        assert last_1m["bar"]["t"] == round((T0 + 360) * 1000) and last_1m["bar"]["c"] == 101.1
        closed_5m = [p["bar"]["c"] for t, p in published if p["timeframe"] == "5m" and p["closed"]]
        assert closed_5m[-1] == 99.9  # the first 5m bar closed when minute 5 arrived
    finally:
        c.close()


def test_bar_for_a_bucket_built_from_trades_then_the_provider_bar_replaces_it(
    tmp_path: Path,
) -> None:
    c, published, _ = engine_parts(tmp_path)
    try:
        for i, price in enumerate([100.0, 105.0, 95.0, 101.0]):  # minute 0 from trades
            c.router.on_market(TradeTick("QQQ", price, 2.0, Side.BUY, T0 + 10 * i))
        c.router.on_market(TradeTick("QQQ", 120.0, 1.0, Side.SELL, T0 + 90))  # minute 1 from trades
        c.router.on_market(minute(0, 100.0, 104.0, 96.0, 101.5, 50.0))  # the provider's minute 0
        assert ohlcv(c.market.bars.bars("QQQ", "1m")) == [
            (T0, 100.0, 104.0, 96.0, 101.5, 50.0),
            (T0 + 60, 120.0, 120.0, 120.0, 120.0, 1.0),
        ]
        assert ohlcv(c.market.bars.bars("QQQ", "5m")) == [(T0, 100.0, 120.0, 96.0, 120.0, 51.0)]
        # Trades moved on to minute 1: the last price stays the newer trade's.
        assert c.market.last_price("QQQ") == 120.0
        replaced = [p for _, p in published if p["timeframe"] == "1m"][-1]
        assert replaced["bar"]["t"] == round(T0 * 1000) and replaced["closed"] is True
        # A revised provider bar for the forming minute replaces the earlier version too.
        c.router.on_market(minute(1, 120.0, 121.0, 119.0, 119.5, 9.0, closed=False))
        c.router.on_market(minute(1, 120.0, 122.0, 119.0, 121.0, 12.0))
        assert ohlcv(c.market.bars.bars("QQQ", "1m"))[-1] == (T0 + 60, 120, 122, 119, 121, 12)
        assert ohlcv(c.market.bars.bars("QQQ", "5m")) == [(T0, 100.0, 122.0, 96.0, 121.0, 62.0)]
    finally:
        c.close()


@pytest.mark.parametrize(
    "bad",
    [
        minute(0, 100.0, 99.0, 98.0, 100.0, 1.0),  # open above the high
        minute(0, 100.0, 101.0, 0.0, 100.0, 1.0),  # a zero low
        minute(0, 100.0, 101.0, 99.0, 100.0, -1.0),  # negative volume
        minute(0, 100.0, 101.0, 99.0, float("nan"), 1.0),
        minute(0, 100.0, 101.0, 99.0, 100.0, 1.0, timeframe="5m"),  # only 1m is a provider bar
    ],
)
def test_bad_bar_then_dropped_and_counted(tmp_path: Path, bad: BarEvent) -> None:
    c, published, _ = engine_parts(tmp_path)
    try:
        c.router.on_market(bad)
        assert c.market.bars.bars("QQQ", "1m") == [] and published == []
        assert c.market.bars.rejected == 1 and c.market.last_data_ts is None
    finally:
        c.close()
