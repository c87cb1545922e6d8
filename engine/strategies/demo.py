"""The demo strategy: an EMA crossover with an RSI filter, sampling each symbol's price."""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.market.indicators import EmaState, RsiState
from engine.models import AssetClass, Instrument, OrderRequest, OrderType, Side, Signal
from engine.strategies.base import Action, Strategy, StrategyContext, StrategySignal


@dataclass(frozen=True)
class Decision:
    signal: Signal
    order: OrderRequest | None


@dataclass
class _SymbolTrack:
    fast: EmaState
    slow: EmaState
    rsi: RsiState
    next_sample: float = 0.0
    prev_diff: float | None = None


class DemoStrategy:
    """Goes long when the fast EMA crosses above the slow one (RSI below 70), short on the
    opposite cross (RSI above 30), and exits on the reverse cross. Entries carry a bracket
    stop-loss and take-profit. Options are left alone. It never sends an order itself: it
    returns decisions and the desk passes every order through the safety gateway.
    """

    name = "ema_rsi_demo"

    def __init__(
        self,
        instruments: dict[str, Instrument],
        *,
        fast: int = 9,
        slow: int = 21,
        rsi_period: int = 14,
        sample_s: float = 1.0,
        target_notional: float = 400.0,
        stop_pct: float = 0.004,
        take_pct: float = 0.008,
    ) -> None:
        self._instruments = {
            symbol: inst
            for symbol, inst in instruments.items()
            if inst.asset_class is not AssetClass.OPTION
        }
        self._sample_s = sample_s
        self._target_notional = target_notional
        self._stop_pct = stop_pct
        self._take_pct = take_pct
        self._tracks = {
            symbol: _SymbolTrack(EmaState(fast), EmaState(slow), RsiState(rsi_period))
            for symbol in self._instruments
        }

    def warm_up(self, symbol: str, price: float, ts: float) -> None:
        """Feed history without acting on it, so the first live cross is a real one."""
        self.on_price(symbol, price, ts, position_qty=0.0, act=False)

    def on_price(
        self, symbol: str, price: float, ts: float, position_qty: float, *, act: bool = True
    ) -> list[Decision]:
        track = self._tracks.get(symbol)
        if track is None or ts < track.next_sample:
            return []
        track.next_sample = ts + self._sample_s
        fast, slow, rsi = (
            track.fast.update(price),
            track.slow.update(price),
            track.rsi.update(price),
        )
        if fast is None or slow is None or rsi is None:
            return []
        diff = fast - slow
        prev, track.prev_diff = track.prev_diff, diff
        if prev is None or not act:
            return []
        crossed_up, crossed_down = prev <= 0 < diff, prev >= 0 > diff
        if not (crossed_up or crossed_down):
            return []
        strength = min(abs(diff) / price * 2_000, 1.0)
        details = {"ema_fast": fast, "ema_slow": slow, "rsi": rsi}
        if position_qty > 0 and crossed_down:
            return [self._exit(symbol, Side.SELL, position_qty, price, ts, details)]
        if position_qty < 0 and crossed_up:
            return [self._exit(symbol, Side.BUY, -position_qty, price, ts, details)]
        if position_qty != 0:
            return []
        side = Side.BUY if crossed_up else Side.SELL
        if (side is Side.BUY and rsi >= 70) or (side is Side.SELL and rsi <= 30):
            return []
        return [self._entry(symbol, side, price, ts, 0.5 + 0.5 * strength, details)]

    def _entry(
        self,
        symbol: str,
        side: Side,
        price: float,
        ts: float,
        confidence: float,
        details: dict[str, float],
    ) -> Decision:
        inst = self._instruments[symbol]
        lots = math.floor(self._target_notional / (price * inst.multiplier) / inst.lot_size)
        qty = round(lots * inst.lot_size, 10)
        word = "above" if side is Side.BUY else "below"
        signal = Signal(
            symbol,
            side,
            confidence,
            f"EMA fast crossed {word} slow, RSI {details['rsi']:.0f}",
            price,
            ts,
            False,
            details,
        )
        if qty <= 0:
            return Decision(signal, None)
        stop = price * (1 - side.sign * self._stop_pct)
        take = price * (1 + side.sign * self._take_pct)
        order = OrderRequest(
            symbol,
            side,
            qty,
            OrderType.MARKET,
            stop_loss=_round_tick(stop, inst.tick_size),
            take_profit=_round_tick(take, inst.tick_size),
            source="strategy",
            tag=self.name,
        )
        return Decision(signal, order)

    def _exit(
        self,
        symbol: str,
        side: Side,
        qty: float,
        price: float,
        ts: float,
        details: dict[str, float],
    ) -> Decision:
        signal = Signal(
            symbol, side, 0.8, "EMA cross against the position", price, ts, True, details
        )
        order = OrderRequest(
            symbol, side, qty, OrderType.MARKET, reduce_only=True, source="strategy", tag=self.name
        )
        return Decision(signal, order)


def _round_tick(price: float, tick: float) -> float:
    return round(round(price / tick) * tick, 10)


class DemoPlugin(Strategy):
    """The EMA/RSI demo as a plug-in: the same crosses, sampled per tick; the book sizes it."""

    name = "demo"

    def __init__(self, instruments: dict[str, Instrument], **options: float) -> None:
        self._inner = DemoStrategy(instruments, **options)  # type: ignore[arg-type]

    def on_tick(
        self, symbol: str, price: float, ts: float, ctx: StrategyContext, *, warm: bool = True
    ) -> list[StrategySignal]:
        out = []
        for decision in self._inner.on_price(symbol, price, ts, ctx.position_qty, act=warm):
            sig = decision.signal
            action = Action.EXIT if sig.is_exit else Action(sig.side.value)
            vol = (ctx.atr or 0.0) / price if price > 0 else 0.0
            out.append(
                self.signal(
                    symbol,
                    action,
                    sig.confidence,
                    sig.reason,
                    price=price,
                    ts=ts,
                    volatility=vol,
                    details=sig.details,
                )
            )
        return out
