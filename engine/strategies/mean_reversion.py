"""Mean reversion: a close outside the Bollinger band (SMA ± k standard deviations) with RSI
at an extreme is expected to come back; out when the close reaches the mean."""

from __future__ import annotations

import math
from collections import deque

from engine.market.indicators import RsiState
from engine.strategies.base import Action, Bar, Strategy, StrategyContext, StrategySignal


class MeanReversionStrategy(Strategy):
    name = "mean_reversion"

    def __init__(self, period: int = 20, k: float = 2.0, rsi_period: int = 14) -> None:
        self.period, self.k, self.rsi_period = period, k, rsi_period
        self._closes: dict[str, deque[float]] = {}
        self._rsi: dict[str, RsiState] = {}

    def on_bar(self, bar: Bar, ctx: StrategyContext, *, warm: bool = True) -> list[StrategySignal]:
        closes = self._closes.setdefault(bar.symbol, deque(maxlen=self.period))
        closes.append(bar.close)
        rsi = self._rsi.setdefault(bar.symbol, RsiState(self.rsi_period)).update(bar.close)
        if len(closes) < self.period or rsi is None or not warm:
            return []
        mean = sum(closes) / self.period
        sd = math.sqrt(sum((c - mean) ** 2 for c in closes) / self.period)
        upper, lower = mean + self.k * sd, mean - self.k * sd
        details = {"mean": mean, "upper": upper, "lower": lower, "rsi": rsi}
        vol = (ctx.atr or 0.0) / bar.close
        held = ctx.position_qty
        if (held > 0 and bar.close >= mean) or (held < 0 and bar.close <= mean):
            return [
                self.signal(
                    bar,
                    Action.EXIT,
                    0.7,
                    "back to the mean",
                    price=bar.close,
                    ts=bar.ts,
                    volatility=vol,
                    details=details,
                )
            ]
        if held != 0 or sd == 0:
            return []
        stretch = min(abs(bar.close - mean) / (self.k * sd) - 1.0, 0.5)
        if bar.close < lower and rsi < 30:
            return [
                self.signal(
                    bar,
                    Action.BUY,
                    0.5 + stretch,
                    f"close below the lower band, RSI {rsi:.0f}",
                    price=bar.close,
                    ts=bar.ts,
                    volatility=vol,
                    details=details,
                )
            ]
        if bar.close > upper and rsi > 70:
            return [
                self.signal(
                    bar,
                    Action.SELL,
                    0.5 + stretch,
                    f"close above the upper band, RSI {rsi:.0f}",
                    price=bar.close,
                    ts=bar.ts,
                    volatility=vol,
                    details=details,
                )
            ]
        return []
