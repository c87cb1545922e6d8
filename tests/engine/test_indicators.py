"""Indicators against hand-worked numbers, published tables and an exact rational reference."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.market.indicators import (
    EmaState,
    MacdState,
    RsiState,
    SmaState,
    ema,
    macd,
    rsi,
    sma,
)

REL = 1e-6

# StockCharts ChartSchool "Moving Averages" worked example (10-day EMA), closes as in their
# spreadsheet. EMA10 at full precision as published alongside it (10 decimals), and the 2-decimal
# values of the ChartSchool table.
EMA_CLOSES = [
    22.2734, 22.1940, 22.0847, 22.1741, 22.1840, 22.1344, 22.2337, 22.4323, 22.2436, 22.2933,
    22.1542, 22.3926, 22.3816, 22.6109, 23.3558, 24.0519, 23.7530, 23.8324, 23.9516, 23.6338,
    23.8225, 23.8722, 23.6537, 23.1870, 23.0976, 23.3260, 22.6805, 23.0976, 22.4025, 22.1725,
]  # fmt: skip
EMA10_PRECISE = [
    22.2247500000, 22.2119227273, 22.2447731405, 22.2696507513, 22.3316960693, 22.5178967839,
    22.7968064596, 22.9706598306, 23.1273398614, 23.2772053411, 23.3420407336, 23.4293969639,
    23.5099066068, 23.5360508601, 23.4725870674, 23.4044076006, 23.3901516732, 23.2611240963,
    23.2313924424, 23.0806847256, 22.9155602300,
]  # fmt: skip
EMA10_TABLE = [
    22.22, 22.21, 22.24, 22.27, 22.33, 22.52, 22.80, 22.97, 23.13, 23.28, 23.34, 23.43, 23.51,
    23.54, 23.47, 23.40, 23.39, 23.26, 23.23, 23.08, 22.92,
]  # fmt: skip

# Wilder's RSI example as reproduced in StockCharts' ChartSchool "RSI" spreadsheet (RSI 14).
RSI_CLOSES = [
    44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433, 46.0826,
    45.8931, 46.0328, 45.6140, 46.2820, 46.2820, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439,
    46.2122, 46.2521, 45.7137, 46.4515, 45.7835, 45.3548, 44.0288, 44.1783, 44.2181, 44.5672,
    43.4205, 42.6628, 43.1314,
]  # fmt: skip
RSI14_TABLE = [
    70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99,
    41.46, 41.87, 45.46, 37.30, 33.08, 37.77,
]  # fmt: skip


def _frac(values: list[float]) -> list[Fraction]:
    return [Fraction(v) for v in values]


def ref_ema(values: list[Fraction], period: int, start: int = 0) -> list[Fraction | None]:
    """Exact EMA whose first value is at index `start + period - 1`."""
    out: list[Fraction | None] = [None] * len(values)
    first = start + period - 1
    if first >= len(values):
        return out
    alpha = Fraction(2, period + 1)
    prev = sum(values[start : first + 1], Fraction(0)) / period
    out[first] = prev
    for i in range(first + 1, len(values)):
        prev = alpha * values[i] + (1 - alpha) * prev
        out[i] = prev
    return out


def ref_rsi(values: list[Fraction], period: int) -> list[Fraction | None]:
    out: list[Fraction | None] = [None] * len(values)
    changes = [values[i] - values[i - 1] for i in range(1, len(values))]
    if len(changes) < period:
        return out
    gain = sum((max(c, 0) for c in changes[:period]), Fraction(0)) / period
    loss = sum((max(-c, 0) for c in changes[:period]), Fraction(0)) / period
    for i in range(period, len(values)):
        if i > period:
            c = changes[i - 1]
            gain = (gain * (period - 1) + max(c, 0)) / period
            loss = (loss * (period - 1) + max(-c, 0)) / period
        out[i] = Fraction(50) if gain + loss == 0 else 100 * gain / (gain + loss)
    return out


def ref_macd(values: list[Fraction], fast: int, slow: int, signal: int) -> tuple[list, list, list]:
    """TA-Lib MACD: the fast EMA starts where the slow one does (index slow-1)."""
    n = len(values)
    slow_ema = ref_ema(values, slow)
    fast_ema = ref_ema(values, fast, start=slow - fast)
    line: list[Fraction | None] = [
        None if slow_ema[i] is None else fast_ema[i] - slow_ema[i] for i in range(n)
    ]
    sig: list[Fraction | None] = [None] * n
    first = slow - 1
    if first < n:
        tail = ref_ema([x for x in line[first:]], signal)
        sig[first:] = tail
    hist = [None if s is None else line[i] - s for i, s in enumerate(sig)]
    return line, sig, hist


def assert_series_close(got: list, want: list, rel: float = REL) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if w is None:
            assert g is None, f"index {i}: expected warm-up None, got {g}"
        else:
            assert g is not None, f"index {i}: expected {float(w)}, got None"
            assert g == pytest.approx(float(w), rel=rel, abs=1e-12), f"index {i}"


# --- hand-worked examples ------------------------------------------------------------------


def test_sma_averages_each_full_window():
    assert sma([1, 2, 3, 4, 5], 3) == [None, None, 2.0, 3.0, 4.0]


def test_ema_is_seeded_with_sma_then_smoothed_by_two_over_n_plus_one():
    # Period 3: alpha 0.5, seed mean(2,4,6)=4; then 4+.5*(8-4)=6, 6+.5*(12-6)=9, 9+.5*(14-9)=11.5
    assert ema([2, 4, 6, 8, 12, 14], 3) == [None, None, 4.0, 6.0, 9.0, 11.5]


def test_rsi_uses_wilder_smoothing_on_a_hand_worked_series():
    # Changes +1, -0.5, +1.5, -1, +2. Seed: gain 2.5/3, loss 0.5/3 -> 250/3.
    # Next: gain (5/6*2+0)/3 = 5/9, loss (1/6*2+1)/3 = 4/9 -> 500/9.
    # Next: gain (5/9*2+2)/3 = 28/27, loss (4/9*2)/3 = 8/27 -> 700/9.
    got = rsi([10, 11, 10.5, 12, 11, 13], 3)
    assert got[:3] == [None, None, None]
    assert got[3:] == pytest.approx([250 / 3, 500 / 9, 700 / 9], rel=1e-12)


def test_rsi_when_only_gains_then_100_and_only_losses_then_0():
    assert rsi(list(range(1, 20)), 14)[-1] == 100.0
    assert rsi(list(range(20, 1, -1)), 14)[-1] == 0.0


def test_rsi_when_prices_never_move_then_50():
    assert rsi([5.0] * 20, 14)[14:] == [50.0] * 6


# --- published tables ----------------------------------------------------------------------


def test_ema10_matches_stockcharts_worked_example():
    got = ema(EMA_CLOSES, 10)
    assert got[:9] == [None] * 9
    assert got[9:] == pytest.approx(EMA10_PRECISE, rel=REL)
    # The ChartSchool table rounds each value to cents.
    assert [round(v, 2) for v in got[9:]] == pytest.approx(EMA10_TABLE, abs=0.0051)


def test_rsi14_matches_wilder_stockcharts_worked_example():
    got = rsi(RSI_CLOSES, 14)
    assert got[:14] == [None] * 14
    assert got[14:] == pytest.approx(RSI14_TABLE, abs=0.0051)


# --- exact rational reference (independent implementation) ---------------------------------


def test_ema_matches_exact_reference_on_stockcharts_data():
    assert_series_close(ema(EMA_CLOSES, 10), ref_ema(_frac(EMA_CLOSES), 10))
    assert_series_close(ema(EMA_CLOSES, 5), ref_ema(_frac(EMA_CLOSES), 5))


def test_rsi_matches_exact_reference_on_wilder_data():
    assert_series_close(rsi(RSI_CLOSES, 14), ref_rsi(_frac(RSI_CLOSES), 14))


def _wave(n: int) -> list[float]:
    return [100 + 8 * math.sin(i / 5) + 3 * math.cos(i / 2.3) + 0.05 * i for i in range(n)]


def test_macd_matches_exact_talib_convention_reference():
    closes = _wave(90)
    line, signal, hist = macd(closes, 12, 26, 9)
    want_line, want_signal, want_hist = ref_macd(_frac(closes), 12, 26, 9)
    assert line[:25] == [None] * 25 and line[25] is not None
    assert signal[:33] == [None] * 33 and signal[33] is not None
    assert_series_close(line, want_line)
    assert_series_close(signal, want_signal)
    # hist is a difference of near-equal numbers: compare on the scale of the line itself.
    for g, w in zip(hist, want_hist, strict=True):
        assert (g is None) == (w is None)
        if w is not None:
            assert abs(g - float(w)) <= 1e-9 * max(abs(float(x)) for x in want_line if x)


def test_macd_fast_line_is_seeded_at_the_slow_start_not_standalone():
    closes = _wave(40)
    line, _, _ = macd(closes, 3, 6, 2)
    seed_fast = sum(closes[3:6]) / 3  # last `fast` of the first `slow` inputs
    seed_slow = sum(closes[:6]) / 6
    assert line[5] == pytest.approx(seed_fast - seed_slow, rel=1e-12)
    standalone = ema(closes, 3)[5] - ema(closes, 6)[5]
    assert line[5] != pytest.approx(standalone, rel=1e-6)


# --- batch == incremental ------------------------------------------------------------------


finite_prices = st.lists(
    st.floats(min_value=1.0, max_value=1e5, allow_nan=False, allow_infinity=False),
    min_size=0,
    max_size=120,
)


@settings(max_examples=60, deadline=None)
@given(finite_prices)
def test_incremental_states_when_fed_one_by_one_then_equal_batch(values):
    ema_state, rsi_state, macd_state, sma_state = (
        EmaState(20),
        RsiState(14),
        MacdState(),
        SmaState(5),
    )
    inc_ema = [ema_state.update(x) for x in values]
    inc_rsi = [rsi_state.update(x) for x in values]
    inc_macd = [macd_state.update(x) for x in values]
    inc_sma = [sma_state.update(x) for x in values]
    batch_line, batch_signal, batch_hist = macd(values)
    for got, want in (
        (inc_ema, ema(values, 20)),
        (inc_rsi, rsi(values, 14)),
        ([m[0] for m in inc_macd], batch_line),
        ([m[1] for m in inc_macd], batch_signal),
        ([m[2] for m in inc_macd], batch_hist),
        (inc_sma, sma(values, 5)),
    ):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert (g is None) == (w is None)
            if w is not None:
                assert g == pytest.approx(w, rel=1e-9, abs=1e-9)


def test_incremental_rsi_on_wilder_data_equals_batch():
    state = RsiState(14)
    assert [state.update(x) for x in RSI_CLOSES] == rsi(RSI_CLOSES, 14)


def test_invalid_period_is_rejected():
    with pytest.raises(ValueError):
        EmaState(0)
    with pytest.raises(ValueError):
        MacdState(26, 12, 9)
