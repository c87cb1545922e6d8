"""Bar aggregation from ticks and the rolling tick cache."""

from __future__ import annotations

import csv
import io
import math

import pytest

from engine.clock import FakeClock
from engine.market.bars import TIMEFRAMES, Bar, BarAggregator, TickCache
from engine.models import Side, TradeTick

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a multiple of every timeframe


def tick(ts: float, price: float, size: float = 1.0, side: Side = Side.BUY, symbol: str = "SPY"):
    return TradeTick(symbol=symbol, price=price, size=size, aggressor=side, ts=ts)


def test_bucket_start_is_epoch_aligned_for_every_timeframe():
    agg = BarAggregator(["SPY"])
    ts = T0 + 4 * 3600 + 15 * 60 + 7.25  # 04:15:07.25
    agg.on_trade(tick(ts, 100.0))
    expected = {
        "1s": T0 + 15307,
        "1m": T0 + 15300,
        "5m": T0 + 15300,
        "15m": T0 + 15300,
        "1h": T0 + 14400,
        "4h": T0 + 14400,
        "1d": T0,
    }
    for tf, start in expected.items():
        (bar,) = agg.bars("SPY", tf)
        assert bar.t == start, tf


def test_ticks_in_one_bucket_build_ohlc_and_split_volume_by_aggressor():
    agg = BarAggregator(["SPY"])
    for ts, price, size, side in [
        (T0 + 1, 100.0, 2.0, Side.BUY),
        (T0 + 10, 103.0, 1.0, Side.SELL),
        (T0 + 20, 98.5, 4.0, Side.SELL),
        (T0 + 59.999, 101.0, 0.5, Side.BUY),
    ]:
        agg.on_trade(tick(ts, price, size, side))
    (bar,) = agg.bars("SPY", "1m")
    assert (bar.o, bar.h, bar.l, bar.c) == (100.0, 103.0, 98.5, 101.0)
    assert (bar.v, bar.buy_v, bar.sell_v) == (7.5, 2.5, 5.0)
    assert bar.to_dict() == {
        "t": 1_767_225_600_000,
        "o": 100.0,
        "h": 103.0,
        "l": 98.5,
        "c": 101.0,
        "v": 7.5,
        "buy_v": 2.5,
        "sell_v": 5.0,
    }


def test_tick_on_the_boundary_opens_the_next_bar_and_reports_the_closed_one():
    agg = BarAggregator(["SPY"])
    agg.on_trade(tick(T0 + 30, 100.0))
    updates = agg.on_trade(tick(T0 + 60, 105.0))
    closed = [(tf, bar) for tf, bar, is_closed in updates if is_closed]
    forming = {tf: bar for tf, bar, is_closed in updates if not is_closed}
    assert [tf for tf, _ in closed] == ["1s", "1m"]
    closed_1m = dict(closed)["1m"]
    assert (closed_1m.t, closed_1m.c) == (T0, 100.0)
    assert set(forming) == set(TIMEFRAMES)
    assert (forming["1m"].t, forming["1m"].o) == (T0 + 60, 105.0)
    assert forming["5m"].t == T0 and forming["5m"].c == 105.0
    assert [b.t for b in agg.bars("SPY", "1m")] == [T0, T0 + 60]


def test_gap_in_trading_produces_no_empty_bars():
    agg = BarAggregator(["SPY"])
    agg.on_trade(tick(T0, 100.0))
    agg.on_trade(tick(T0 + 600, 101.0))
    assert [b.t for b in agg.bars("SPY", "1m")] == [T0, T0 + 600]


def test_late_tick_folds_into_forming_bar_without_moving_close_or_history():
    agg = BarAggregator(["SPY"])
    agg.on_trade(tick(T0 + 10, 100.0, 1.0))
    agg.on_trade(tick(T0 + 70, 101.0, 1.0))
    updates = agg.on_trade(tick(T0 + 50, 95.0, 3.0, Side.SELL))  # belongs to the closed minute
    assert not any(is_closed for _, _, is_closed in updates)
    closed, forming = agg.bars("SPY", "1m")
    assert (closed.l, closed.v) == (100.0, 1.0)
    assert (forming.t, forming.o, forming.c, forming.l) == (T0 + 60, 101.0, 101.0, 95.0)
    assert (forming.v, forming.sell_v) == (4.0, 3.0)
    # Same bucket on 5m, but older than the last trade: the close stays the latest trade.
    (five,) = agg.bars("SPY", "5m")
    assert five.c == 101.0 and five.l == 95.0


@pytest.mark.parametrize(
    "price,size,ts",
    [
        (0.0, 1.0, T0 + 1),
        (-1.0, 1.0, T0 + 1),
        (math.nan, 1.0, T0 + 1),
        (math.inf, 1.0, T0 + 1),
        (1.0, -2.0, T0 + 1),
        (101.0, 1.0, math.nan),
    ],
)
def test_bad_tick_is_rejected_and_changes_no_bar(price, size, ts):
    agg = BarAggregator(["SPY"])
    agg.on_trade(tick(T0, 100.0))
    assert agg.on_trade(tick(ts, price, size)) == []
    assert agg.rejected == 1
    (bar,) = agg.bars("SPY", "1m")
    assert (bar.l, bar.h, bar.v) == (100.0, 100.0, 1.0)


def test_closed_bars_are_bounded_by_max_bars_and_limit_slices_newest():
    agg = BarAggregator(["SPY"], max_bars=5)
    for i in range(50):
        agg.on_trade(tick(T0 + 60 * i, 100.0 + i))
    bars = agg.bars("SPY", "1m")
    assert len(bars) == 6  # 5 closed + the forming bar
    assert [b.c for b in bars] == [144.0, 145.0, 146.0, 147.0, 148.0, 149.0]
    assert [b.c for b in agg.bars("SPY", "1m", limit=2)] == [148.0, 149.0]
    assert agg.bars("SPY", "1m", limit=0) == []


def test_bars_returns_a_copy_of_the_forming_bar():
    agg = BarAggregator(["SPY"])
    agg.on_trade(tick(T0, 100.0))
    (snapshot,) = agg.bars("SPY", "1m")
    agg.on_trade(tick(T0 + 1, 110.0))
    assert snapshot.c == 100.0
    assert agg.bars("SPY", "1m")[0].c == 110.0


def test_unknown_symbol_or_timeframe_is_an_error_and_new_symbols_are_tracked():
    agg = BarAggregator(["SPY"])
    assert agg.bars("SPY", "1m") == []
    with pytest.raises(KeyError):
        agg.bars("QQQ", "1m")
    with pytest.raises(ValueError):
        agg.bars("SPY", "2m")
    agg.on_trade(tick(T0, 50.0, symbol="QQQ"))
    assert agg.symbols == ["SPY", "QQQ"]
    assert agg.bars("QQQ", "1h")[0].c == 50.0


def test_symbols_are_aggregated_independently():
    agg = BarAggregator(["SPY", "QQQ"])
    agg.on_trade(tick(T0, 100.0, symbol="SPY"))
    agg.on_trade(tick(T0 + 1, 200.0, 5.0, symbol="QQQ"))
    assert agg.bars("SPY", "1m")[0].h == 100.0
    assert agg.bars("QQQ", "1m")[0].v == 5.0


def test_bar_to_dict_uses_epoch_milliseconds():
    bar = Bar(T0 + 0.5, 1.0, 2.0, 0.5, 1.5, 3.0, 1.0, 2.0)
    assert bar.to_dict()["t"] == 1_767_225_600_500


# --- tick cache ----------------------------------------------------------------------------


def test_tick_cache_keeps_only_the_last_15_minutes_by_tick_time():
    cache = TickCache()
    cache.add(tick(T0, 100.0))
    cache.add(tick(T0 + 899, 101.0))
    assert [t.price for t in cache.ticks("SPY")] == [100.0, 101.0]
    cache.add(tick(T0 + 901, 102.0))
    assert [t.price for t in cache.ticks("SPY")] == [101.0, 102.0]


def test_tick_cache_ages_out_ticks_by_clock_when_the_feed_stalls():
    clock = FakeClock(T0)
    cache = TickCache(clock=clock)
    cache.add(tick(T0, 100.0))
    clock.advance(600)
    cache.add(tick(T0 + 600, 101.0))
    clock.advance(400)  # now T0+1000: the first tick is 1000 s old
    assert [t.price for t in cache.ticks("SPY")] == [101.0]
    clock.advance(600)
    assert cache.ticks("SPY") == []


def test_tick_cache_is_bounded_by_count_per_symbol():
    cache = TickCache(max_ticks=100)
    for i in range(1000):
        cache.add(tick(T0 + i * 0.01, 100.0 + i))
        cache.add(tick(T0 + i * 0.01, 1.0, symbol="QQQ"))
    spy = cache.ticks("SPY")
    assert len(spy) == 100 and spy[-1].price == 1099.0 and spy[0].price == 1000.0
    assert len(cache) == 200


def test_tick_cache_exports_csv_with_header_and_sides():
    cache = TickCache()
    cache.add(tick(T0 + 0.123, 100.25, 2.0, Side.BUY, symbol="BTC/USD"))
    cache.add(tick(T0 + 1, 100.5, 0.1, Side.SELL, symbol="BTC/USD"))
    text = cache.to_csv("BTC/USD")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["ts_ms", "symbol", "price", "size", "aggressor"],
        ["1767225600123", "BTC/USD", "100.25", "2.0", "buy"],
        ["1767225601000", "BTC/USD", "100.5", "0.1", "sell"],
    ]
    assert cache.to_csv("ETH/USD") == "ts_ms,symbol,price,size,aggressor\n"


def test_ticks_round_trip_as_trade_ticks():
    cache = TickCache()
    original = tick(T0, 10.0, 3.0, Side.SELL)
    cache.add(original)
    assert cache.ticks("SPY") == [original]


def test_daily_timeframe_then_one_bar_per_utc_day():
    agg = BarAggregator(["SPY"])
    for ts, price in [(T0 + 3600, 100.0), (T0 + 50_000, 104.0), (T0 + 86_399, 99.0)]:
        agg.on_trade(tick(ts, price))
    updates = agg.on_trade(tick(T0 + 86_400, 101.0))
    closed = {tf: bar for tf, bar, is_closed in updates if is_closed}
    assert (closed["1d"].t, closed["1d"].o, closed["1d"].h, closed["1d"].c) == (T0, 100, 104, 99)
    assert [b.t for b in agg.bars("SPY", "1d")] == [T0, T0 + 86_400]
