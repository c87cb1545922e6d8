"""The Alpaca fake's account: orders, positions, fills and the trade updates they cause.

Behaves as Alpaca's trading API does where Vigil depends on it: orders carry the caller's
client_order_id, brackets hold their legs until the entry fills and then run them as an OCO,
a cancel answers "pending_cancel" and the stream confirms it, closing a position that open
orders hold is refused for lack of available quantity. Not thread-safe: the server holds a lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.venues.fakes.alpaca_trading_orders import (
    ApiError,
    FakeOrder,
    FakePosition,
    multiplier,
    now_iso,
    parse_positive,
)

Publish = Callable[[str, FakeOrder, dict[str, Any]], None]


class AlpacaBook:
    """One Alpaca account: what the REST routes read and change."""

    def __init__(self, publish: Publish, account_number: str = "PA3FAKE0001") -> None:
        self.publish = publish
        self.account_number = account_number
        self.account_id = str(uuid.uuid4())
        self.cash = 100_000.0
        self.prices: dict[str, tuple[float, float]] = {}
        self.orders: dict[str, FakeOrder] = {}  # every order and leg by Alpaca's id
        self.positions: dict[str, FakePosition] = {}
        self.activities: list[dict[str, Any]] = []
        self.max_fill_qty = 0.0  # 0: fill in full; else at most this much per match
        self.uncancelable: set[str] = set()  # client order ids the venue will not cancel
        self.reject_reason: str | None = None
        self.market_open = True
        self.announce_legs = True  # False: a bracket's exits start without a trade update

    # ----- queries -----
    def account_json(self) -> dict[str, Any]:
        value = sum(
            p.qty * self._mark(p.symbol, p.avg_entry_price) * multiplier(p.symbol)
            for p in self.positions.values()
        )
        equity = self.cash + value
        return {
            "id": self.account_id,
            "account_number": self.account_number,
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "cash": f"{self.cash:.2f}",
            "buying_power": f"{max(self.cash, 0.0) * 2:.2f}",
            "portfolio_value": f"{equity:.2f}",
            "equity": f"{equity:.2f}",
            "last_equity": f"{equity:.2f}",
            "long_market_value": f"{value:.2f}",
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "shorting_enabled": True,
            "multiplier": "2",
            "daytrade_count": 0,
            "created_at": "2024-01-02T15:00:00Z",
        }

    def find(self, client_order_id: str) -> FakeOrder | None:
        return next((o for o in self.orders.values() if o.client_order_id == client_order_id), None)

    def top_level(self) -> list[FakeOrder]:
        return [o for o in self.orders.values() if o.parent is None]

    def _mark(self, symbol: str, fallback: float) -> float:
        bid_ask = self.prices.get(symbol)
        return (bid_ask[0] + bid_ask[1]) / 2 if bid_ask else fallback

    # ----- orders -----
    def submit(self, body: dict[str, Any]) -> FakeOrder:
        symbol = str(body.get("symbol") or "").upper()
        if not symbol:
            raise ApiError(422, "symbol is required", 40010000)
        side = body.get("side")
        if side not in ("buy", "sell"):
            raise ApiError(422, "invalid side", 40010000)
        qty = parse_positive(body.get("qty"), "qty", required=True)
        assert qty is not None
        order_type = body.get("type") or body.get("order_type")
        if order_type not in ("market", "limit", "stop", "stop_limit"):
            raise ApiError(422, f"invalid order type {order_type!r}", 40010000)
        limit = parse_positive(
            body.get("limit_price"), "limit_price", required="limit" in order_type
        )
        stop = parse_positive(body.get("stop_price"), "stop_price", required="stop" in order_type)
        client_id = str(body.get("client_order_id") or uuid.uuid4())
        if self.find(client_id) is not None:
            raise ApiError(422, "client_order_id must be unique", 40010001)
        if self.reject_reason is not None:
            reason, self.reject_reason = self.reject_reason, None
            raise ApiError(403, reason, 40310000)
        order = FakeOrder(
            symbol,
            side,
            qty,
            order_type,
            client_id,
            time_in_force=str(body.get("time_in_force") or "day"),
            limit_price=limit,
            stop_price=stop,
            order_class=str(body.get("order_class") or "simple"),
            extended_hours=bool(body.get("extended_hours")),
        )
        if order.order_class == "bracket":
            take = parse_positive(
                (body.get("take_profit") or {}).get("limit_price"), "take_profit.limit_price"
            )
            loss = body.get("stop_loss") or {}
            stop_loss = parse_positive(loss.get("stop_price"), "stop_loss.stop_price")
            if take is None or stop_loss is None:
                raise ApiError(422, "bracket orders require take_profit and stop_loss", 40010000)
            exit_side = "sell" if side == "buy" else "buy"
            for leg_type, leg_limit, leg_stop in (("limit", take, None), ("stop", None, stop_loss)):
                leg = FakeOrder(
                    symbol,
                    exit_side,
                    qty,
                    leg_type,
                    str(uuid.uuid4()),
                    time_in_force=order.time_in_force,
                    limit_price=leg_limit,
                    stop_price=leg_stop,
                    order_class="bracket",
                    status="held",
                    parent=order,
                )
                order.legs.append(leg)
                self.orders[leg.id] = leg
        self.orders[order.id] = order
        self.publish("new", order, {})
        self.match(order)
        return order

    def match(self, order: FakeOrder) -> None:
        """Fill what the market allows of one working order."""
        if order.status not in ("new", "accepted", "partially_filled"):
            return
        bid_ask = self.prices.get(order.symbol)
        if bid_ask is None:
            return
        bid, ask = bid_ask
        buying = order.side == "buy"
        touch = ask if buying else bid
        sign = 1 if buying else -1
        if "stop" in order.type and not order.triggered:
            assert order.stop_price is not None
            if (order.stop_price - touch) * sign > 1e-9:
                return
            order.triggered = True
        price = touch
        if "limit" in order.type:
            assert order.limit_price is not None
            if (touch - order.limit_price) * sign > 1e-9:
                return
            price = min(order.limit_price, touch) if buying else max(order.limit_price, touch)
        qty = order.remaining
        if self.max_fill_qty > 0:
            qty = min(qty, self.max_fill_qty)
        self.fill(order, qty, price)

    def fill(self, order: FakeOrder, qty: float, price: float) -> None:
        before = order.filled_qty
        order.filled_qty = before + qty
        order.filled_avg_price = ((order.filled_avg_price or 0.0) * before + qty * price) / (
            order.filled_qty
        )
        done = order.remaining <= 1e-9
        order.status = "filled" if done else "partially_filled"
        order.updated_at = now_iso()
        if done:
            order.filled_at = order.updated_at
        signed = qty if order.side == "buy" else -qty
        self.cash -= signed * price * multiplier(order.symbol)
        position_qty = self._move_position(order.symbol, signed, price)
        execution_id = str(uuid.uuid4())
        self.activities.append(
            {
                "id": f"{datetime.now(UTC):%Y%m%d%H%M%S%f}::{execution_id}",
                "account_id": self.account_id,
                "activity_type": "FILL",
                "transaction_time": order.updated_at,
                "type": "fill" if done else "partial_fill",
                "price": f"{price:g}",
                "qty": f"{qty:g}",
                "side": order.side,
                "symbol": order.symbol,
                "leaves_qty": f"{order.remaining:g}",
                "order_id": order.id,
                "cum_qty": f"{order.filled_qty:g}",
                "order_status": order.status,
            }
        )
        extra = {
            "price": f"{price:g}",
            "qty": f"{qty:g}",
            "position_qty": f"{position_qty:g}",
            "execution_id": execution_id,
        }
        self.publish("fill" if done else "partial_fill", order, extra)
        if done and order.legs:  # the bracket's exits start working
            for leg in order.legs:
                leg.status, leg.qty = "new", order.filled_qty
                leg.updated_at = now_iso()
                if self.announce_legs:
                    self.publish("new", leg, {})
            for leg in order.legs:
                self.match(leg)
        elif done and order.parent is not None:  # one exit filled: the other is cancelled
            for sibling in order.parent.legs:
                if sibling is not order and sibling.is_open:
                    self._cancelled(sibling)

    def _move_position(self, symbol: str, signed: float, price: float) -> float:
        position = self.positions.get(symbol)
        if position is None:
            self.positions[symbol] = FakePosition(symbol, signed, price)
            return signed
        new_qty = position.qty + signed
        if abs(new_qty) < 1e-9:
            del self.positions[symbol]
            return 0.0
        if position.qty * signed > 0:  # adding: the average moves
            position.avg_entry_price = (
                position.avg_entry_price * position.qty + price * signed
            ) / new_qty
        elif position.qty * new_qty < 0:  # flipped: the rest opens at this price
            position.avg_entry_price = price
        position.qty = new_qty
        return new_qty

    def set_price(self, symbol: str, bid: float, ask: float) -> None:
        self.prices[symbol] = (bid, ask)
        for order in [o for o in self.orders.values() if o.symbol == symbol]:
            self.match(order)

    def cancel(self, order: FakeOrder) -> dict[str, Any]:
        """Cancel one order (a bracket with its legs); the answer Alpaca gives: the order as
        pending_cancel, the stream says canceled."""
        if order.client_order_id in self.uncancelable:
            raise ApiError(422, "order is not cancelable", 42210000)
        if not order.is_open:
            raise ApiError(422, f'order is already in "{order.status}" state', 42210000)
        answer = order.json(status="pending_cancel")
        family = [order, *order.legs]
        if order.parent is not None:  # a leg takes the whole bracket's exits with it
            family = list(order.parent.legs)
        for member in family:
            if member.is_open:
                self._cancelled(member)
        return answer

    def _cancelled(self, order: FakeOrder) -> None:
        order.status = "canceled"
        order.canceled_at = order.updated_at = now_iso()
        self.publish("canceled", order, {})

    def cancel_all(self) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        for order in [o for o in self.orders.values() if o.is_open]:
            if not order.is_open:  # cancelled with its bracket above
                continue
            try:
                body = self.cancel(order)
            except ApiError as exc:
                answers.append(
                    {
                        "id": order.id,
                        "status": 500,
                        "body": {"code": exc.code, "message": exc.message},
                    }
                )
            else:
                answers.append({"id": order.id, "status": 200, "body": body})
        return answers

    def replace(self, order: FakeOrder, body: dict[str, Any]) -> FakeOrder:
        if order.client_order_id in self.uncancelable or order.status not in (
            "new",
            "accepted",
            "held",
        ):
            raise ApiError(422, "order is not replaceable", 42210000)
        new = FakeOrder(
            order.symbol,
            order.side,
            parse_positive(body.get("qty"), "qty") or order.qty,
            order.type,
            str(body.get("client_order_id") or uuid.uuid4()),
            time_in_force=str(body.get("time_in_force") or order.time_in_force),
            limit_price=parse_positive(body.get("limit_price"), "limit_price") or order.limit_price,
            stop_price=parse_positive(body.get("stop_price"), "stop_price") or order.stop_price,
            order_class=order.order_class,
            status="new" if order.status != "held" else "held",
            replaces=order.id,
            parent=order.parent,
        )
        if self.find(new.client_order_id) is not None:
            raise ApiError(422, "client_order_id must be unique", 40010001)
        order.status, order.replaced_by = "replaced", new.id
        order.updated_at = now_iso()
        if order.parent is not None:
            legs = order.parent.legs
            legs[legs.index(order)] = new
        self.orders[new.id] = new
        self.publish("replaced", order, {})
        self.publish("new", new, {})
        self.match(new)
        return new

    # ----- positions -----
    def close_position(self, symbol: str, qty: float | None = None) -> FakeOrder:
        position = self.positions.get(symbol)
        if position is None:
            raise ApiError(404, f"position not found: {symbol}", 40410000)
        side = "sell" if position.qty > 0 else "buy"
        held = sum(
            o.remaining
            for o in self.orders.values()
            if o.symbol == symbol and o.side == side and o.status in ("new", "partially_filled")
        )
        amount = abs(position.qty) if qty is None else min(qty, abs(position.qty))
        if amount > abs(position.qty) - held + 1e-9:
            available = abs(position.qty) - held
            raise ApiError(
                403,
                f"insufficient qty available for order (requested: {amount:g}, "
                f"available: {available:g})",
                40310000,
            )
        return self.submit(
            {
                "symbol": symbol,
                "side": side,
                "qty": amount,
                "type": "market",
                "time_in_force": "day",
            }
        )

    def close_all(self, cancel_orders: bool) -> list[dict[str, Any]]:
        if cancel_orders:
            self.cancel_all()
        answers: list[dict[str, Any]] = []
        for symbol in list(self.positions):
            try:
                order = self.close_position(symbol)
            except ApiError as exc:
                body = {"code": exc.code, "message": exc.message, "symbol": symbol}
                answers.append({"symbol": symbol, "status": exc.status, "body": body})
            else:
                answers.append(
                    {"symbol": symbol, "status": 200, "order_id": order.id, "body": order.json()}
                )
        return answers
