"""Trend following: a fast EMA crossing a slow one on the book's bars, entered only when the
slow EMA slopes the same way; out on the opposite cross."""

from __future__ import annotations

from engine.market.indicators import EmaState
from engine.strategies.base import Action, Bar, Strategy, StrategyContext, StrategySignal


class TrendStrategy(Strategy):
    name = "trend"

    def __init__(self, fast: int = 10, slow: int = 30) -> None:
        self.fast, self.slow = fast, slow
        self._state: dict[str, tuple[EmaState, EmaState]] = {}
        self._prev: dict[str, tuple[float, float]] = {}

    def on_bar(self, bar: Bar, ctx: StrategyContext, *, warm: bool = True) -> list[StrategySignal]:
        fast_s, slow_s = self._state.setdefault(
            bar.symbol, (EmaState(self.fast), EmaState(self.slow))
        )
        fast, slow = fast_s.update(bar.close), slow_s.update(bar.close)
        if fast is None or slow is None:
            return []
        prev = self._prev.get(bar.symbol)
        self._prev[bar.symbol] = (fast - slow, slow)
        if prev is None or not warm:
            return []
        prev_diff, prev_slow = prev
        diff = fast - slow
        up, down = prev_diff <= 0 < diff, prev_diff >= 0 > diff
        details = {"ema_fast": fast, "ema_slow": slow}
        vol = (ctx.atr or 0.0) / bar.close
        held = ctx.position_qty
        if (held > 0 and down) or (held < 0 and up):
            return [
                self.signal(
                    bar,
                    Action.EXIT,
                    0.7,
                    "EMA cross against the trend held",
                    price=bar.close,
                    ts=bar.ts,
                    volatility=vol,
                    details=details,
                )
            ]
        if held != 0:
            return []
        strength = min(abs(diff) / bar.close * 1_000, 0.5)
        if up and slow > prev_slow:
            return [
                self.signal(
                    bar,
                    Action.BUY,
                    0.5 + strength,
                    "fast EMA crossed above a rising slow EMA",
                    price=bar.close,
                    ts=bar.ts,
                    volatility=vol,
                    details=details,
                )
            ]
        if down and slow < prev_slow:
            return [
                self.signal(
                    bar,
                    Action.SELL,
                    0.5 + strength,
                    "fast EMA crossed below a falling slow EMA",
                    price=bar.close,
                    ts=bar.ts,
                    volatility=vol,
                    details=details,
                )
            ]
        return []
