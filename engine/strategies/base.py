"""The strategy interface: what a strategy sees (bars, ticks, a context) and what it emits."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from engine.models import Regime


class Action(StrEnum):
    BUY = "buy"  # go long (or close a short)
    SELL = "sell"  # go short (or close a long)
    EXIT = "exit"  # close whatever the strategy holds in the symbol


class Bias(StrEnum):
    BULLISH = "bullish"
    BEARISH = "bearish"
    NEUTRAL = "neutral"


@dataclass(frozen=True)
class Bar:
    """One closed bar of the strategies' own timeframe; `ts` is its open (epoch s)."""

    symbol: str
    ts: float
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class StrategyContext:
    """What a strategy may know besides its own data: the position it holds in the symbol
    (signed, orders in flight counted), the market regime (None before the first reading) and
    the symbol's ATR."""

    position_qty: float = 0.0
    regime: Regime | None = None
    atr: float | None = None  # of the book's bars, in price units


@dataclass(frozen=True)
class StrategySignal:
    """A strategy's opinion; the book turns it into an order (sized, with exits) or drops it.

    `volatility` is a fraction of the price (an ATR over the close, say); `details` are the
    indicator values behind it, shown in the activity log."""

    symbol: str
    action: Action
    confidence: float  # 0..1
    bias: Bias
    volatility: float
    reason: str
    price: float
    ts: float
    details: dict[str, float] = field(default_factory=dict)
    strategy: str = ""


class Strategy:
    """Base class: override `on_bar` (closed bars of the book's timeframe) and/or `on_tick`
    (every sampled price). Both return signals; neither sends orders. `warm` is False while
    history is loading: update state, emit nothing."""

    name: str = ""

    def on_bar(self, bar: Bar, ctx: StrategyContext, *, warm: bool = True) -> list[StrategySignal]:
        return []

    def on_tick(
        self, symbol: str, price: float, ts: float, ctx: StrategyContext, *, warm: bool = True
    ) -> list[StrategySignal]:
        return []

    def signal(
        self,
        bar_or_symbol: Bar | str,
        action: Action,
        confidence: float,
        reason: str,
        *,
        price: float,
        ts: float,
        volatility: float = 0.0,
        details: dict[str, float] | None = None,
    ) -> StrategySignal:
        symbol = bar_or_symbol.symbol if isinstance(bar_or_symbol, Bar) else bar_or_symbol
        bias = {Action.BUY: Bias.BULLISH, Action.SELL: Bias.BEARISH}.get(action, Bias.NEUTRAL)
        return StrategySignal(
            symbol,
            action,
            max(0.0, min(1.0, confidence)),
            bias,
            volatility,
            reason,
            price,
            ts,
            dict(details or {}),
            self.name,
        )
