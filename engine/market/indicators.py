"""Technical indicators (SMA, EMA, Wilder RSI, MACD) as batch series and as incremental states.

Conventions follow TA-Lib with its default settings (no unstable period, default compatibility):

* EMA(n): alpha = 2/(n+1); the first value sits at index n-1 and is the simple mean of the first
  n inputs; then ``ema = (x - prev) * alpha + prev``.
* RSI(n), Wilder smoothing: the first average gain/loss is the simple mean of the first n changes,
  then ``avg = (prev * (n-1) + x) / n``; the first value sits at index n. RSI is
  ``100 * avg_gain / (avg_gain + avg_loss)``: all gains give 100, all losses give 0. A window with
  no movement at all gives 50 where TA-Lib gives 0 — a flat market is neither overbought nor
  oversold, and 0 would look like an extreme oversold reading to a strategy.
* MACD(fast, slow, signal) as TA-Lib's TA_MACD: both EMAs start at index slow-1. The slow EMA is
  seeded with the mean of the first ``slow`` inputs and the fast EMA with the mean of the last
  ``fast`` of those same inputs (so the fast line is *not* the standalone EMA(fast) series).
  The MACD line is fast - slow from index slow-1; the signal line is an EMA(signal) of the MACD
  line seeded with the mean of its first ``signal`` values (index slow+signal-2), and the
  histogram is macd - signal. TA-Lib withholds the MACD line until the signal exists; we show it
  from slow-1 because it is already fully defined there. Where TA-Lib outputs a value, ours is
  the same number.

Batch functions return lists aligned with the input (None during warm-up) and are built on the
incremental classes, so the two always produce the same floats.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

Series = list[float | None]


def _check_period(period: int) -> None:
    if period < 1:
        raise ValueError(f"period must be >= 1, got {period}")


class SmaState:
    """Simple moving average over the last `period` inputs, kept as a running sum."""

    __slots__ = ("_sum", "_window", "period", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._window: deque[float] = deque()
        self._sum = 0.0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        self._window.append(x)
        self._sum += x
        if len(self._window) > self.period:
            self._sum -= self._window.popleft()
        if len(self._window) == self.period:
            self.value = self._sum / self.period
        return self.value


class EmaState:
    """EMA seeded with the SMA of the first `period` inputs (TA-Lib's convention)."""

    __slots__ = ("_count", "_seed_sum", "alpha", "period", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self.alpha = 2.0 / (period + 1)
        self._count = 0
        self._seed_sum = 0.0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        value = self.value
        if value is not None:
            value = (x - value) * self.alpha + value
            self.value = value
            return value
        self._count += 1
        self._seed_sum += x
        if self._count == self.period:
            self.value = self._seed_sum / self.period
        return self.value


class RsiState:
    """Wilder's RSI: simple-mean seed over the first `period` changes, then Wilder smoothing."""

    __slots__ = ("_avg_gain", "_avg_loss", "_changes", "_prev", "period", "value")

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self.period = period
        self._prev: float | None = None
        self._changes = 0
        self._avg_gain = 0.0
        self._avg_loss = 0.0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        prev = self._prev
        self._prev = x
        if prev is None:
            return None
        change = x - prev
        gain = change if change > 0 else 0.0
        loss = -change if change < 0 else 0.0
        period = self.period
        if self._changes < period:
            # Warm-up: accumulate sums; divided once, as TA-Lib does, to keep the same floats.
            self._changes += 1
            self._avg_gain += gain
            self._avg_loss += loss
            if self._changes < period:
                return None
            self._avg_gain /= period
            self._avg_loss /= period
        else:
            self._avg_gain = (self._avg_gain * (period - 1) + gain) / period
            self._avg_loss = (self._avg_loss * (period - 1) + loss) / period
        total = self._avg_gain + self._avg_loss
        self.value = 50.0 if total == 0.0 else 100.0 * (self._avg_gain / total)
        return self.value


class MacdState:
    """TA-Lib MACD, one input at a time; `update` returns (macd, signal, hist), None in warm-up."""

    __slots__ = (
        "_fast",
        "_fast_alpha",
        "_slow",
        "_slow_alpha",
        "_warm",
        "fast_period",
        "signal",
        "slow_period",
        "value",
    )

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        for period in (fast, slow, signal):
            _check_period(period)
        if fast > slow:
            raise ValueError(f"fast period {fast} must not exceed slow period {slow}")
        self.fast_period = fast
        self.slow_period = slow
        self._fast_alpha = 2.0 / (fast + 1)
        self._slow_alpha = 2.0 / (slow + 1)
        self._warm: list[float] | None = []
        self._fast = 0.0
        self._slow = 0.0
        self.signal = EmaState(signal)
        self.value: tuple[float | None, float | None, float | None] = (None, None, None)

    def update(self, x: float) -> tuple[float | None, float | None, float | None]:
        warm = self._warm
        if warm is not None:
            warm.append(x)
            if len(warm) < self.slow_period:
                return self.value
            self._slow = sum(warm) / self.slow_period
            self._fast = sum(warm[-self.fast_period :]) / self.fast_period
            self._warm = None
        else:
            self._fast = (x - self._fast) * self._fast_alpha + self._fast
            self._slow = (x - self._slow) * self._slow_alpha + self._slow
        line = self._fast - self._slow
        signal = self.signal.update(line)
        self.value = (line, signal, None if signal is None else line - signal)
        return self.value


def sma(values: Sequence[float], period: int) -> Series:
    state = SmaState(period)
    return [state.update(x) for x in values]


def ema(values: Sequence[float], period: int) -> Series:
    state = EmaState(period)
    return [state.update(x) for x in values]


def rsi(values: Sequence[float], period: int = 14) -> Series:
    state = RsiState(period)
    return [state.update(x) for x in values]


def macd(
    values: Sequence[float], fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[Series, Series, Series]:
    """Return (macd, signal, hist) aligned with `values`; see the module docstring."""
    state = MacdState(fast, slow, signal)
    line: Series = []
    sig: Series = []
    hist: Series = []
    for x in values:
        m, s, h = state.update(x)
        line.append(m)
        sig.append(s)
        hist.append(h)
    return line, sig, hist


class AtrState:
    """Wilder's average true range: the simple mean of the first `period` true ranges, then
    ``atr = (prev * (n-1) + tr) / n`` (TA-Lib's ATR); the first bar has no previous close, so
    its range is high - low."""

    __slots__ = ("_count", "_prev_close", "_seed_sum", "period", "value")

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self.period = period
        self._prev_close: float | None = None
        self._count = 0
        self._seed_sum = 0.0
        self.value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        prev = self._prev_close
        self._prev_close = close
        if prev is None:
            true_range = high - low
        else:
            true_range = max(high - low, abs(high - prev), abs(low - prev))
        if self.value is not None:
            self.value = (self.value * (self.period - 1) + true_range) / self.period
            return self.value
        self._count += 1
        self._seed_sum += true_range
        if self._count == self.period:
            self.value = self._seed_sum / self.period
        return self.value


def atr(
    highs: Sequence[float], lows: Sequence[float], closes: Sequence[float], period: int = 14
) -> Series:
    state = AtrState(period)
    return [state.update(h, lo, c) for h, lo, c in zip(highs, lows, closes, strict=True)]
