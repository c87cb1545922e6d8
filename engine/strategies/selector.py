"""Regime selector: runs breakout, trend and mean reversion side by side and lets only the one
that suits the market regime (engine/market/regime.py) enter; exits come from the one that
entered."""

from __future__ import annotations

from dataclasses import replace

from engine.models import Regime
from engine.strategies.base import Action, Bar, Strategy, StrategyContext, StrategySignal
from engine.strategies.breakout import BreakoutStrategy
from engine.strategies.mean_reversion import MeanReversionStrategy
from engine.strategies.trend import TrendStrategy

# Quiet markets range (fade the extremes), normal ones trend, wild ones break out.
REGIME_PICKS: dict[Regime, str] = {
    Regime.ULTRA_LOW_VOL: "mean_reversion",
    Regime.NORMAL_VOL: "trend",
    Regime.HIGH_VOL: "breakout",
}


class RegimeSelector(Strategy):
    name = "selector"

    def __init__(self, children: list[Strategy] | None = None) -> None:
        kids = children or [BreakoutStrategy(), TrendStrategy(), MeanReversionStrategy()]
        self.children = {child.name: child for child in kids}
        self._entered_by: dict[str, str] = {}

    def pick(self, regime: Regime | None) -> str | None:
        """The child that may enter in this regime; None before the first regime reading."""
        return None if regime is None else REGIME_PICKS.get(regime)

    def on_bar(self, bar: Bar, ctx: StrategyContext, *, warm: bool = True) -> list[StrategySignal]:
        chosen = self.pick(ctx.regime)
        if ctx.position_qty == 0:
            self._entered_by.pop(bar.symbol, None)
        owner = self._entered_by.get(bar.symbol)
        out: list[StrategySignal] = []
        for name, child in self.children.items():
            # Every child sees every bar, so the one picked next is warm; a child that does
            # not own the position is told it is flat, and only its entries count.
            mine = owner == name
            child_ctx = replace(ctx, position_qty=ctx.position_qty if mine else 0.0)
            for sig in child.on_bar(bar, child_ctx, warm=warm):
                if (mine and sig.action is Action.EXIT) or (
                    owner is None and name == chosen and sig.action is not Action.EXIT
                ):
                    if sig.action is not Action.EXIT:
                        self._entered_by[bar.symbol] = name
                    regime = ctx.regime.value if ctx.regime else "none"
                    out.append(
                        replace(sig, strategy=self.name, reason=f"[{name} · {regime}] {sig.reason}")
                    )
        return out[:1]
