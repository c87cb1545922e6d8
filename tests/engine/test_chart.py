"""The /api/chart payload: indicator alignment, warm slicing, marker filtering."""

from __future__ import annotations

import json
import math

import pytest

from engine.market.bars import Bar
from engine.market.chart import chart_payload
from engine.market.indicators import ema, macd, rsi
from engine.market.levels import support_resistance, volume_profile

T0 = 1_767_225_600.0
SERIES_KEYS = ("ema20", "ema50", "rsi14", "macd", "macd_signal", "macd_hist")


def make_bars(n: int) -> list[Bar]:
    bars = []
    for i in range(n):
        c = 100 + 6 * math.sin(i / 6) + 2 * math.cos(i / 2.1)
        bars.append(Bar(T0 + 60 * i, c - 0.1, c + 0.4, c - 0.5, c, 10.0 + i % 7, 6.0, 4.0 + i % 7))
    return bars


def ms(i: int) -> int:
    return round((T0 + 60 * i) * 1000)


def test_indicators_are_computed_on_all_bars_then_sliced_to_limit():
    bars = make_bars(200)
    closes = [b.c for b in bars]
    payload = chart_payload("SPY", "1m", bars, [], limit=100)
    assert [b["t"] for b in payload["bars"]] == [ms(i) for i in range(100, 200)]
    for key in SERIES_KEYS:
        assert len(payload[key]) == 100, key
        assert None not in payload[key], f"{key} should be warm in the visible window"
    line, signal, hist = macd(closes)
    assert payload["ema20"] == ema(closes, 20)[100:]
    assert payload["ema50"] == ema(closes, 50)[100:]
    assert payload["rsi14"] == rsi(closes, 14)[100:]
    assert payload["macd"] == line[100:]
    assert payload["macd_signal"] == signal[100:]
    assert payload["macd_hist"] == hist[100:]


def test_short_history_keeps_warm_up_nones_aligned_with_bars():
    bars = make_bars(40)
    payload = chart_payload("SPY", "1m", bars, [], limit=500)
    assert len(payload["bars"]) == 40
    for key in SERIES_KEYS:
        assert len(payload[key]) == 40, key
    assert payload["ema20"][18] is None and payload["ema20"][19] is not None
    assert all(v is None for v in payload["ema50"])
    assert payload["rsi14"][13] is None and payload["rsi14"][14] is not None
    assert payload["macd"][24] is None and payload["macd"][25] is not None
    assert payload["macd_signal"][32] is None and payload["macd_signal"][33] is not None


def test_markers_outside_the_visible_bars_are_dropped_and_the_rest_sorted():
    bars = make_bars(60)
    markers = [
        {"t": ms(55) + 5000, "side": "sell", "kind": "fill", "price": 101.0, "text": "fill"},
        {"t": ms(10), "side": "buy", "kind": "signal", "price": 99.0, "text": "too old"},
        {"t": ms(50), "side": "buy", "kind": "signal", "price": 100.0, "text": "first bar"},
        {"t": ms(59) + 59_999, "side": "buy", "kind": "fill", "price": 100.0, "text": "last"},
        {"t": ms(60), "side": "sell", "kind": "signal", "price": 100.0, "text": "future"},
    ]
    payload = chart_payload("SPY", "1m", bars, markers, limit=10)
    assert [m["text"] for m in payload["markers"]] == ["first bar", "fill", "last"]


def test_levels_and_volume_profile_describe_only_the_visible_bars():
    bars = make_bars(300)
    payload = chart_payload("SPY", "5m", bars, [], limit=120)
    visible = bars[-120:]
    assert payload["levels"] == support_resistance(visible)
    assert payload["levels"], "the wave has swing pivots"
    assert payload["volume_profile"] == volume_profile(visible)
    low = min(b.l for b in visible)
    assert payload["volume_profile"]["bins"][0]["price_low"] == low


def test_payload_is_plain_json_with_symbol_and_timeframe():
    payload = chart_payload("BTC/USD", "1h", make_bars(80), [], limit=50)
    decoded = json.loads(json.dumps(payload, allow_nan=False))
    assert decoded["symbol"] == "BTC/USD" and decoded["timeframe"] == "1h"
    assert set(decoded) == {
        "symbol", "timeframe", "bars", "markers", "levels", "volume_profile", *SERIES_KEYS
    }  # fmt: skip


def test_no_bars_gives_empty_lists():
    payload = chart_payload("SPY", "1m", [], [{"t": 1, "side": "buy"}], limit=10)
    assert payload["bars"] == [] and payload["markers"] == [] and payload["levels"] == []
    assert all(payload[key] == [] for key in SERIES_KEYS)
    assert payload["volume_profile"] == {"bins": [], "poc": None}


@pytest.mark.parametrize("timeframe,limit", [("2m", 10), ("1m", 0)])
def test_bad_timeframe_or_limit_is_rejected(timeframe, limit):
    with pytest.raises(ValueError):
        chart_payload("SPY", timeframe, make_bars(5), [], limit=limit)
