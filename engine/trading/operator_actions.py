"""The operator's order and position actions on the desk: cancel one order, close all or part
of a position, set or move its stop-loss and take-profit. Each answers, and each refusal is
audited and changes nothing."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.commands import error
from engine.models import Order, OrderRequest, OrderStatus, OrderType, Side
from engine.payloads import order_payload
from engine.safety.checks import review_protective_move
from engine.trading.exits import STOP_LOSS, TAKE_PROFIT, exit_tag
from engine.venues.base import VenueError

if TYPE_CHECKING:
    from engine.clock import Clock
    from engine.market.view import MarketView
    from engine.safety.checks import PreTradeContext
    from engine.safety.manager import SafetyManager
    from engine.trading.ledger import Ledger
    from engine.trading.orders import OrderTracker
    from engine.venues.base import Broker

_EPS = 1e-9


class OperatorActions:
    """Mixed into TradingDesk, which provides the parts named below."""

    _clock: Clock
    broker: Broker
    ledger: Ledger
    market: MarketView
    orders: OrderTracker
    safety: SafetyManager
    _audit: Callable[..., None]
    _save: Callable[[], bool]
    publish_orders: Callable[[], None]
    publish_positions: Callable[[], None]
    exposure: Callable[[str], float]
    submit: Callable[[OrderRequest, str], dict[str, Any]]
    _send: Callable[[OrderRequest, float], Order]
    _deny: Callable[[OrderRequest, str, str, str], dict[str, Any]]
    _context: Callable[[OrderRequest, float], PreTradeContext]
    _venue_rejected: Callable[[Order, str], None]
    _with_durability: Callable[[dict[str, Any]], dict[str, Any]]

    def clock_time(self) -> float:
        """The engine's clock, for the controls that stamp what they set (overrides)."""
        return self._clock.time()

    def record(self, actor: str, action: str, **fields: Any) -> None:
        """An audit row through the desk's durable writer (kept and retried if the store
        refuses it), saved now."""
        self._audit(actor, action, **fields)
        self._save()

    def _refuse(
        self, actor: str, action: str, code: str, message: str, **details: Any
    ) -> dict[str, Any]:
        """A refused control: audited with what was asked, nothing else changes."""
        self._audit(actor, f"{action}_refused", reason=message, outcome=code, details=details)
        self._save()
        return error(code, message)

    # ----- cancel one order -----
    def cancel_order(self, order_id: str, actor: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            return self._refuse(
                actor, "cancel_order", "UNKNOWN_ORDER", f"no order {order_id}", id=order_id
            )
        if not order.status.is_open:
            return self._refuse(
                actor,
                "cancel_order",
                "ORDER_NOT_OPEN",
                f"{order_id} is already {order.status.value}: nothing to cancel",
                id=order_id,
            )
        try:
            outcome = self.broker.cancel(order_id)
        except VenueError as exc:
            return self._refuse(
                actor,
                "cancel_order",
                "BROKER_UNAVAILABLE",
                f"{order_id} was not cancelled: {exc}",
                id=order_id,
            )
        if not outcome.ok:
            return self._refuse(
                actor,
                "cancel_order",
                "CANCEL_REFUSED",
                f"the venue did not cancel {order_id}: {outcome.reason or outcome.status}",
                id=order_id,
            )
        self.orders.cancel_requested.add(order_id)
        if outcome.status == OrderStatus.CANCELED.value:
            # The venue's answer says cancelled: closed now; its CANCELED event is old news.
            self.orders.close(
                order_id, OrderStatus.CANCELED, f"cancelled by {actor}", now=self._clock.time()
            )
        self._audit(actor, "cancel_order", outcome=outcome.status, details=order_payload(order))
        self.publish_orders()
        self.publish_positions()
        return self._with_durability({"ok": True, "id": order_id, "status": outcome.status})

    # ----- close all or part of a position -----
    def close_position(
        self,
        symbol: str,
        actor: str,
        source: str = "manual",
        *,
        fraction: float | None = None,
        qty: float | None = None,
    ) -> dict[str, Any]:
        """Close the whole position, `fraction` of it (0 < f <= 1) or `qty` of it."""
        asked = {"symbol": symbol, "fraction": fraction, "qty": qty}
        if symbol not in self.market.instruments:
            return self._refuse(
                actor, "close_position", "UNKNOWN_SYMBOL", f"unknown symbol {symbol!r}", **asked
            )
        position = self.ledger.position(symbol)
        if position is None:
            return self._refuse(
                actor, "close_position", "NO_POSITION", f"no open position in {symbol}", **asked
            )
        held = self.exposure(symbol)
        if held * position.qty <= 0:
            return self._refuse(
                actor,
                "close_position",
                "CLOSE_IN_FLIGHT",
                f"an order closing {symbol} is already in flight",
                **asked,
            )
        available = abs(held)
        amount = available
        if qty is not None:
            if qty > available + _EPS:
                return self._refuse(
                    actor,
                    "close_position",
                    "QTY_EXCEEDS_POSITION",
                    f"cannot close {qty:g} {symbol}: {available:g} held"
                    + (" (net of closes in flight)" if available != abs(position.qty) else ""),
                    **asked,
                )
            amount = qty
        elif fraction is not None and fraction < 1:
            lot = self.market.instruments[symbol].lot_size
            # Down to whole lots: a partial close never closes more than was asked.
            amount = math.floor(available * fraction / lot + _EPS) * lot
            if amount <= _EPS:
                return self._refuse(
                    actor,
                    "close_position",
                    "QTY_TOO_SMALL",
                    f"{fraction:.0%} of {available:g} {symbol} is less than one lot ({lot:g})",
                    **asked,
                )
        amount = min(amount, available)
        side = Side.SELL if held > 0 else Side.BUY
        req = OrderRequest(symbol, side, amount, reduce_only=True, source=source, tag=actor)
        result = self.submit(req, actor)
        if result.get("ok"):
            result["closing"] = amount
            result["remaining"] = available - amount
        return result

    # ----- stop-loss and take-profit -----
    def modify_stops(
        self, symbol: str, stop_loss: float | None, take_profit: float | None, actor: str
    ) -> dict[str, Any]:
        """Set or move a position's stop-loss / take-profit, each reviewed as a new order.

        A level the position has as a bracket's child is moved at the venue; a level it does
        not have is added as a reduce-only order for the whole position; one added here
        before is replaced (cancelled, then sent anew). Every level is reviewed before
        anything is sent, so a refusal changes nothing.
        """
        asked = {"symbol": symbol, "stop_loss": stop_loss, "take_profit": take_profit}
        if symbol not in self.market.instruments:
            return self._refuse(
                actor, "modify_stops", "UNKNOWN_SYMBOL", f"unknown symbol {symbol!r}", **asked
            )
        if stop_loss is None and take_profit is None:
            return self._refuse(
                actor,
                "modify_stops",
                "NOTHING_TO_CHANGE",
                "give a stop_loss or a take_profit",
                **asked,
            )
        position = self.ledger.position(symbol)
        if position is None:
            return self._refuse(
                actor, "modify_stops", "NO_POSITION", f"no open position in {symbol}", **asked
            )
        now = self._clock.time()
        entry_side = Side.BUY if position.qty > 0 else Side.SELL
        exit_side = entry_side.opposite
        protective = self.orders.protective(symbol)
        plan: list[tuple[OrderRequest, Order | None]] = []
        for kind, price in ((OrderType.STOP, stop_loss), (OrderType.LIMIT, take_profit)):
            if price is None:
                continue
            existing = next((o for o in protective if o.type is kind), None)
            is_stop = kind is OrderType.STOP
            req = OrderRequest(
                symbol,
                exit_side,
                existing.remaining if existing is not None else abs(position.qty),
                kind,
                limit_price=None if is_stop else price,
                stop_price=price if is_stop else None,
                reduce_only=True,
                source="manual",
                tag=exit_tag(STOP_LOSS if is_stop else TAKE_PROFIT),
            )
            ctx = self._context(req, now)
            if existing is not None:
                # The order being moved is already counted; review as if it were not there.
                ctx = _without(ctx, existing)
            denial = review_protective_move(req, entry_side, ctx, self.safety.limits)
            if denial is not None:
                return self._deny(req, actor, denial.code, denial.message)
            plan.append((req, existing))

        moves = [(req, old) for req, old in plan if old is not None and old.parent_id is not None]
        changed: list[Order] = []
        if moves:
            move_stop = next((r.stop_price for r, _ in moves if r.type is OrderType.STOP), None)
            move_take = next((r.limit_price for r, _ in moves if r.type is OrderType.LIMIT), None)
            try:
                changed = self.broker.replace_stops(symbol, move_stop, move_take)
            except VenueError as exc:
                return self._refuse(
                    actor,
                    "modify_stops",
                    "BROKER_UNAVAILABLE",
                    f"the stops were not moved: {exc}",
                    **asked,
                )
            for order in changed:
                self.orders.replace(order)
        for req, old in plan:
            if old is not None and old.parent_id is not None:
                continue
            if old is not None:
                try:
                    outcome = self.broker.cancel(old.id)
                except VenueError as exc:
                    outcome = None
                    problem = str(exc)
                else:
                    problem = outcome.reason or outcome.status
                if outcome is None or not outcome.ok:
                    return self._refuse(
                        actor,
                        "modify_stops",
                        "BROKER_UNAVAILABLE",
                        f"{old.id} could not be replaced: {problem}",
                        **asked,
                    )
                self.orders.cancel_requested.add(old.id)
                if outcome.status == OrderStatus.CANCELED.value:
                    self.orders.close(old.id, OrderStatus.CANCELED, "replaced", now)
            self.safety.record_order(now)
            order = self._send(req, now)
            if order.status is OrderStatus.REJECTED:
                self._venue_rejected(order, actor)
                return error("BROKER_UNAVAILABLE", order.reject_reason)
            changed.append(order)
        self._audit(
            actor,
            "modify_stops",
            details={**asked, "orders": [o.id for o in changed]},
        )
        self.publish_orders()
        self.publish_positions()
        return self._with_durability({"ok": True, "orders": [order_payload(o) for o in changed]})


def _without(ctx: PreTradeContext, order: Order) -> PreTradeContext:
    """The context as if `order` (an open protective order in flight) were not there."""
    if order.status is not OrderStatus.NEW and order.type is not OrderType.MARKET:
        return ctx
    return dataclasses.replace(
        ctx, position_qty=ctx.position_qty - order.side.sign * order.remaining
    )
