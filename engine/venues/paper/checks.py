"""The checks that make the paper venue refuse an order before it is matched."""

from __future__ import annotations

import math

from engine.models import Instrument, Order, OrderType

_EPS = 1e-9


def invalid_order(order: Order, instruments: dict[str, Instrument]) -> str | None:
    """Why the venue refuses `order` before matching it, or None when it may be matched."""
    instrument = instruments.get(order.symbol)
    if instrument is None:
        return f"unknown instrument {order.symbol}"
    if not (math.isfinite(order.qty) and order.qty > 0):
        return "quantity must be positive"
    lots = order.qty / instrument.lot_size
    if abs(order.qty - round(lots) * instrument.lot_size) > _EPS:
        return f"quantity must be a multiple of the lot size {instrument.lot_size:g}"
    if order.type is OrderType.LIMIT and not _positive(order.limit_price):
        return "limit order needs a positive limit price"
    if order.type is OrderType.STOP and not _positive(order.stop_price):
        return "stop order needs a positive stop price"
    for name, price in (("stop loss", order.stop_loss), ("take profit", order.take_profit)):
        if price is not None and not _positive(price):
            return f"{name} must be positive"
    # A stop on the wrong side of the target would fire at once or never protect.
    if (
        order.stop_loss is not None
        and order.take_profit is not None
        and (order.take_profit - order.stop_loss) * order.side.sign <= 0
    ):
        return "stop loss must be on the losing side of take profit"
    return None


def _positive(price: float | None) -> bool:
    return price is not None and math.isfinite(price) and price > 0
