"""Breakout: enter when a bar closes beyond the highest high / lowest low of the last N bars
(a Donchian channel); leave when it closes back beyond the shorter channel's other side."""

from __future__ import annotations

from collections import deque

from engine.strategies.base import Action, Bar, Strategy, StrategyContext, StrategySignal


class BreakoutStrategy(Strategy):
    name = "breakout"

    def __init__(self, lookback: int = 20, exit_lookback: int = 10) -> None:
        self.lookback, self.exit_lookback = lookback, exit_lookback
        self._bars: dict[str, deque[Bar]] = {}

    def on_bar(self, bar: Bar, ctx: StrategyContext, *, warm: bool = True) -> list[StrategySignal]:
        window = self._bars.setdefault(bar.symbol, deque(maxlen=self.lookback))
        full = len(window) == self.lookback
        high = max((b.high for b in window), default=0.0)
        low = min((b.low for b in window), default=0.0)
        recent = list(window)[-self.exit_lookback :]
        exit_high = max((b.high for b in recent), default=0.0)
        exit_low = min((b.low for b in recent), default=0.0)
        window.append(bar)
        if not (full and warm):
            return []
        vol = (ctx.atr or 0.0) / bar.close
        details = {"channel_high": high, "channel_low": low}
        held = ctx.position_qty
        if held > 0 and bar.close < exit_low:
            return [
                self._sig(
                    bar, Action.EXIT, 0.7, f"close below {self.exit_lookback}-bar low", vol, details
                )
            ]
        if held < 0 and bar.close > exit_high:
            return [
                self._sig(
                    bar,
                    Action.EXIT,
                    0.7,
                    f"close above {self.exit_lookback}-bar high",
                    vol,
                    details,
                )
            ]
        if held != 0:
            return []
        span = max(high - low, 1e-12)
        if bar.close > high:
            conf = 0.5 + min((bar.close - high) / span, 0.5)
            return [
                self._sig(
                    bar, Action.BUY, conf, f"close above {self.lookback}-bar high", vol, details
                )
            ]
        if bar.close < low:
            conf = 0.5 + min((low - bar.close) / span, 0.5)
            return [
                self._sig(
                    bar, Action.SELL, conf, f"close below {self.lookback}-bar low", vol, details
                )
            ]
        return []

    def _sig(
        self,
        bar: Bar,
        action: Action,
        conf: float,
        reason: str,
        vol: float,
        details: dict[str, float],
    ) -> StrategySignal:
        return self.signal(
            bar, action, conf, reason, price=bar.close, ts=bar.ts, volatility=vol, details=details
        )
