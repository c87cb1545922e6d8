"""StrategyBook: the configured strategies behind one `on_price`; it builds their bars, owns
which strategy holds which symbol, sizes entries, adds ATR brackets and trailing stops, keeps
each strategy's switch and size multiplier, and attributes closed trades to strategies."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.market.indicators import AtrState
from engine.models import (
    AssetClass,
    ClosedTrade,
    Instrument,
    OrderRequest,
    OrderType,
    Regime,
    Side,
    Signal,
)
from engine.strategies.base import Action, Bar, Strategy, StrategyContext, StrategySignal
from engine.strategies.demo import Decision, _round_tick
from engine.strategies.exits import ExitRule, TrailingStop
from engine.strategies.sizing import SizingRule
from engine.trading.metrics import performance_by_strategy

MULTIPLIER_RANGE = (0.0, 3.0)


@dataclass
class Slot:
    strategy: Strategy
    enabled: bool = True
    size_multiplier: float = 1.0
    signals: int = 0
    trades: list[ClosedTrade] = field(default_factory=list)


@dataclass
class _Forming:
    bar_ts: float
    open: float
    high: float
    low: float
    close: float


@dataclass
class Account:
    """What sizing must know from outside the book, read when an entry is sized."""

    equity: Callable[[], float]
    limits: Callable[[], tuple[float, float]]  # (max_order_qty, max_notional)
    regime: Callable[[], Regime | None] = lambda: None
    # The booked position (no orders in flight): a close in flight still belongs to its owner.
    position: Callable[[str], float] = lambda symbol: 0.0


class StrategyBook:
    name = "book"

    def __init__(
        self,
        instruments: dict[str, Instrument],
        strategies: list[Strategy],
        *,
        bar_s: float = 60.0,
        atr_period: int = 14,
        sizing: SizingRule | None = None,
        exits: ExitRule | None = None,
        account: Account | None = None,
    ) -> None:
        # Options are left alone, as the demo always did: no strategy here prices them.
        self.instruments = {
            sym: inst
            for sym, inst in instruments.items()
            if inst.asset_class is not AssetClass.OPTION
        }
        self.slots = {s.name: Slot(s) for s in strategies}
        self.bar_s = bar_s
        self.sizing, self.exits = sizing or SizingRule(), exits or ExitRule()
        self.account = account or Account(lambda: 0.0, lambda: (0.0, 0.0))
        self._atr_period = atr_period
        self._atr: dict[str, AtrState] = {}
        self._forming: dict[str, _Forming] = {}
        self.owner: dict[str, str] = {}  # symbol -> the strategy whose position it is
        self.trailing: dict[str, TrailingStop] = {}
        self.on_change: Callable[[], None] = lambda: None

    # ----- configuration (commands) -----
    def configure(
        self, name: str, enabled: bool | None = None, size_multiplier: float | None = None
    ) -> Slot:
        slot = self.slots[name]  # KeyError: the caller answers UNKNOWN_STRATEGY
        if size_multiplier is not None:
            low, high = MULTIPLIER_RANGE
            if not (math.isfinite(size_multiplier) and low < size_multiplier <= high):
                raise ValueError(f"size_multiplier must be in ({low}, {high}]")
            slot.size_multiplier = size_multiplier
        if enabled is not None:
            slot.enabled = enabled
        self.on_change()
        return slot

    # ----- data in -----
    def warm_up(self, symbol: str, price: float, ts: float) -> None:
        self.on_price(symbol, price, ts, 0.0, act=False)

    def on_price(
        self, symbol: str, price: float, ts: float, position_qty: float, *, act: bool = True
    ) -> list[Decision]:
        if symbol not in self.instruments or not (math.isfinite(price) and price > 0):
            return []
        owner = self.owner.get(symbol)
        # Flat once nothing is in flight and nothing is booked: until the close fills, the
        # position (and the trade it closes) is still its owner's.
        if owner is not None and position_qty == 0 and self.account.position(symbol) == 0:
            self.owner.pop(symbol)
            self.trailing.pop(symbol, None)
            owner = None
            self.on_change()
        regime = self.account.regime()
        bar = self._roll_bar(symbol, price, ts)
        atr = self._atr.setdefault(symbol, AtrState(self._atr_period))
        if bar is not None:
            atr.update(bar.high, bar.low, bar.close)
        trail_exit = self._trail(symbol, price, ts, position_qty, atr.value) if act else None
        signals: list[StrategySignal] = []
        for name, slot in self.slots.items():
            held = position_qty if owner == name else 0.0
            ctx = StrategyContext(held, regime, atr.value)
            # Strategies see every price (so they stay warm); they speak only when live.
            live = act and slot.enabled and trail_exit is None
            if bar is not None:
                signals += slot.strategy.on_bar(bar, ctx, warm=live)
            signals += slot.strategy.on_tick(symbol, price, ts, ctx, warm=live)
        if trail_exit is not None:
            return [trail_exit]
        out: list[Decision] = []
        for sig in signals:
            decision = self._decide(sig, position_qty, owner, price, atr.value)
            if decision is None:
                continue
            out.append(decision)
            if decision.signal.is_exit:
                break  # one close per symbol per price; the next signal sees the new holding
            if decision.order is not None:
                owner = self.owner[symbol] = sig.strategy
                self.on_change()
        return out

    def submitted(self, decision: Decision, result: dict[str, Any]) -> None:
        """The desk's answer to an order this book asked for: a refused entry owns nothing."""
        order = decision.order
        if order is None or result.get("ok") or order.reduce_only:
            return
        if self.owner.get(order.symbol) == order.tag:
            self.owner.pop(order.symbol)
            self.on_change()

    def _roll_bar(self, symbol: str, price: float, ts: float) -> Bar | None:
        """Fold the price into its bar; return the previous bar when this price starts a new one."""
        bucket = ts - ts % self.bar_s
        forming = self._forming.get(symbol)
        if forming is None or bucket > forming.bar_ts:
            self._forming[symbol] = _Forming(bucket, price, price, price, price)
            if forming is None:
                return None
            f = forming
            return Bar(symbol, f.bar_ts, f.open, f.high, f.low, f.close)
        forming.high, forming.low = max(forming.high, price), min(forming.low, price)
        forming.close = price
        return None

    # ----- decisions -----
    def _trail(
        self, symbol: str, price: float, ts: float, held: float, atr: float | None
    ) -> Decision | None:
        owner = self.owner.get(symbol)
        if owner is None or held == 0 or self.exits.trail_atr <= 0:
            return None
        side = Side.BUY if held > 0 else Side.SELL
        stop = self.trailing.get(symbol)
        if stop is None or stop.side is not side:
            if atr is None:
                return None
            self.trailing[symbol] = TrailingStop(side, self.exits.trail_atr * atr, price)
            return None
        if not stop.update(price):
            return None
        self.trailing.pop(symbol)
        reason = f"trailing stop {stop.stop:.4g} hit (best {stop.best:.4g})"
        signal = Signal(symbol, side.opposite, 1.0, f"[{owner}] {reason}", price, ts, True)
        order = OrderRequest(
            symbol, side.opposite, abs(held), reduce_only=True, source="strategy", tag=owner
        )
        return Decision(signal, order)

    def _decide(
        self, sig: StrategySignal, held: float, owner: str | None, price: float, atr: float | None
    ) -> Decision | None:
        slot = self.slots.get(sig.strategy)
        if slot is None or not slot.enabled:
            return None
        slot.signals += 1
        mine = owner == sig.strategy
        if held != 0 and not mine:
            return None  # someone else's (or the operator's) position: not this strategy's call
        closes = held != 0 and (
            sig.action is Action.EXIT
            or (sig.action is Action.BUY and held < 0)
            or (sig.action is Action.SELL and held > 0)
        )
        if held != 0 and not closes:
            return None
        if held == 0 and (sig.action is Action.EXIT or owner is not None):
            return None  # nothing to close, or another strategy entered on this same price
        side = (Side.SELL if held > 0 else Side.BUY) if closes else Side(sig.action.value)
        details = {**sig.details, "volatility": sig.volatility}
        signal = Signal(
            sig.symbol,
            side,
            sig.confidence,
            f"[{sig.strategy}] {sig.reason}",
            sig.price,
            sig.ts,
            closes,
            details,
        )
        if closes:
            order = OrderRequest(
                sig.symbol, side, abs(held), reduce_only=True, source="strategy", tag=sig.strategy
            )
            return Decision(signal, order)
        return Decision(signal, self._entry(sig, side, price, atr, slot))

    def _entry(
        self, sig: StrategySignal, side: Side, price: float, atr: float | None, slot: Slot
    ) -> OrderRequest | None:
        inst = self.instruments[sig.symbol]
        if atr is None or atr <= 0:
            return None  # no volatility yet: no stop to size against, so no entry
        stop, take = self.exits.bracket(side, price, atr)
        max_qty, max_notional = self.account.limits()
        qty = self.sizing.quantity(
            equity=self.account.equity(),
            price=price,
            stop_distance=abs(price - stop),
            multiplier=inst.multiplier,
            lot_size=inst.lot_size,
            size_multiplier=slot.size_multiplier,
            pnls=[t.pnl for t in slot.trades],
            max_qty=max_qty,
            max_notional=max_notional,
        )
        if qty <= 0:
            return None
        return OrderRequest(
            sig.symbol,
            side,
            qty,
            OrderType.MARKET,
            stop_loss=_round_tick(stop, inst.tick_size),
            take_profit=_round_tick(take, inst.tick_size),
            source="strategy",
            tag=sig.strategy,
        )

    # ----- what survives a restart (the caller keeps it in the store) -----
    def saved(self) -> dict[str, Any]:
        """Switches, multipliers, who holds what and which closed trade was whose."""
        return {
            "slots": {
                n: {"enabled": s.enabled, "size_multiplier": s.size_multiplier}
                for n, s in self.slots.items()
            },
            "owner": dict(self.owner),
            "trades": {t.id: n for n, s in self.slots.items() for t in s.trades if t.id},
        }

    def restore(self, saved: dict[str, Any], trades: list[ClosedTrade]) -> None:
        """Apply `saved()` from before a restart; strategies no longer configured are ignored
        and a bad entry is skipped (a multiplier out of range keeps the default)."""
        for name, cfg in (saved.get("slots") or {}).items():
            if name in self.slots and isinstance(cfg, dict):
                enabled = cfg.get("enabled")
                mult = cfg.get("size_multiplier")
                with contextlib.suppress(ValueError):
                    self.configure(
                        name,
                        enabled if isinstance(enabled, bool) else None,
                        float(mult) if isinstance(mult, int | float) else None,
                    )
        for symbol, name in (saved.get("owner") or {}).items():
            if name in self.slots and symbol in self.instruments:
                self.owner[symbol] = name
        whose = saved.get("trades") or {}
        for trade in trades:
            name = whose.get(trade.id)
            if name in self.slots:
                self.slots[name].trades.append(trade)

    # ----- attribution -----
    def on_trade_closed(self, trade: ClosedTrade) -> None:
        owner = self.owner.get(trade.symbol)
        if owner in self.slots:
            self.slots[owner].trades.append(trade)
            self.on_change()

    def payload(self, unrealized: Callable[[str], float] = lambda s: 0.0) -> dict[str, Any]:
        """The snapshot's `strategies` section: each strategy's switch, multiplier, record."""
        stats = performance_by_strategy({n: s.trades for n, s in self.slots.items()})
        rows = []
        for name, slot in self.slots.items():
            held = sorted(sym for sym, who in self.owner.items() if who == name)
            rows.append(
                {
                    "name": name,
                    "enabled": slot.enabled,
                    "size_multiplier": slot.size_multiplier,
                    "signals": slot.signals,
                    "symbols": held,
                    "unrealized_pnl": sum(unrealized(s) for s in held),
                    **stats[name],
                }
            )
        return {"strategies": rows}
