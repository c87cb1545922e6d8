"""Alpaca's JSON (REST answers and trade_updates) to Vigil's types, and Vigil's orders to
alpaca-py's order requests."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from alpaca.trading.enums import OrderClass, OrderSide, TimeInForce
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)

from engine.models import AssetClass, Fill, Instrument, Order, OrderStatus, OrderType, Side
from engine.venues.base import VenueAccount, VenuePosition

OPTION_SYMBOL = re.compile(r"^[A-Z]{1,6}\d{6}[CP]\d{8}$")
OPTION_MULTIPLIER = 100.0

_TYPES = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stop_limit": OrderType.STOP,
    "trailing_stop": OrderType.STOP,
}
_STATUS = {
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "done_for_day": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
    "suspended": OrderStatus.REJECTED,
}
# Orders Alpaca holds that do not (yet) work: a bracket's exits before the entry fills.
NOT_WORKING = {"held"}


def ts_of(value: Any) -> float:
    """Alpaca's RFC 3339 time (nanoseconds, "Z") as epoch seconds; 0.0 when absent."""
    if not value:
        return 0.0
    if isinstance(value, datetime):
        return value.timestamp()
    text = str(value).replace("Z", "+00:00")
    match = re.match(r"^(.*?T[\d:]+)(\.\d+)?(.*)$", text)
    if match:  # Python reads at most six fractional digits
        head, fraction, zone = match.groups()
        text = head + (fraction or "")[:7] + (zone or "+00:00")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def number(value: Any, default: float = 0.0) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _price(value: Any) -> float | None:
    return float(value) if value not in (None, "") else None


def is_option(symbol: str) -> bool:
    return bool(OPTION_SYMBOL.match(symbol))


def vigil_symbol(symbol: str, instruments: dict[str, Instrument]) -> str:
    """Alpaca names a crypto position BTCUSD where its orders say BTC/USD: Vigil's name."""
    if symbol in instruments:
        return symbol
    for name in instruments:
        if name.replace("/", "") == symbol:
            return name
    return symbol


def status_of(raw: dict[str, Any]) -> OrderStatus:
    return _STATUS.get(str(raw.get("status")), OrderStatus.ACCEPTED)


def to_order(raw: dict[str, Any], order_id: str, parent_id: str | None, source: str) -> Order:
    """Alpaca's order as Vigil describes it (`order_id` is Vigil's name for it)."""
    kind = str(raw.get("type") or raw.get("order_type") or "market")
    created = ts_of(raw.get("submitted_at") or raw.get("created_at"))
    order = Order(
        id=order_id,
        symbol=str(raw.get("symbol") or ""),
        side=Side.BUY if raw.get("side") == "buy" else Side.SELL,
        qty=number(raw.get("qty")),
        type=_TYPES.get(kind, OrderType.MARKET),
        status=status_of(raw),
        created_ts=created,
        updated_ts=max(ts_of(raw.get("updated_at")), created),
        limit_price=_price(raw.get("limit_price")),
        stop_price=_price(raw.get("stop_price")),
        reduce_only=parent_id is not None,
        source=source,
        parent_id=parent_id,
        filled_qty=number(raw.get("filled_qty")),
        avg_fill_price=number(raw.get("filled_avg_price")),
        venue_order_id=str(raw.get("id") or ""),
    )
    for leg in raw.get("legs") or []:
        if leg.get("type") == "limit":
            order.take_profit = _price(leg.get("limit_price"))
        elif "stop" in str(leg.get("type")):
            order.stop_loss = _price(leg.get("stop_price"))
    return order


def to_position(raw: dict[str, Any], instruments: dict[str, Instrument]) -> VenuePosition:
    symbol = vigil_symbol(str(raw.get("symbol") or ""), instruments)
    qty = abs(number(raw.get("qty")))
    if raw.get("side") == "short" or number(raw.get("qty")) < 0:
        qty = -qty
    instrument = instruments.get(symbol)
    if raw.get("asset_class") == "us_option" or is_option(symbol):
        mult = OPTION_MULTIPLIER
    else:
        mult = instrument.multiplier if instrument is not None else 1.0
    return VenuePosition(symbol, qty, number(raw.get("avg_entry_price")), mult)


def to_account(raw: dict[str, Any], mode: str) -> VenueAccount:
    return VenueAccount(
        account_id=str(raw.get("account_number") or ""),
        cash=number(raw.get("cash")),
        equity=number(raw.get("equity") or raw.get("portfolio_value")),
        buying_power=number(raw.get("buying_power")),
        currency=str(raw.get("currency") or "USD"),
        mode=mode,
    )


def execution_id(activity_id: str) -> str:
    """A fill activity's id is "<time>::<execution id>"; trade_updates carry the execution id
    alone. Both paths name a fill by it, so reconciliation never books one twice."""
    return activity_id.split("::", 1)[-1]


def to_fill(raw: dict[str, Any], order_id: str, instruments: dict[str, Instrument]) -> Fill:
    return Fill(
        order_id=order_id,
        symbol=vigil_symbol(str(raw.get("symbol") or ""), instruments),
        side=Side.BUY if raw.get("side") == "buy" else Side.SELL,
        qty=number(raw.get("qty")),
        price=number(raw.get("price")),
        fee=0.0,  # Alpaca charges no commission; regulatory fees arrive as other activities
        ts=ts_of(raw.get("transaction_time")),
        id=execution_id(str(raw.get("id") or "")),
    )


def time_in_force(instrument: Instrument | None) -> TimeInForce:
    crypto = instrument is not None and instrument.asset_class is AssetClass.CRYPTO
    return TimeInForce.GTC if crypto else TimeInForce.DAY


def order_request(
    order: Order,
    instrument: Instrument | None,
    *,
    client_order_id: str,
    extended_hours: bool = False,
) -> OrderRequest:
    """Vigil's order as alpaca-py's request: its id in client_order_id, a bracket as
    order_class bracket (both exits) or oto (one)."""
    common: dict[str, Any] = {
        "symbol": order.symbol,
        "qty": order.qty,
        "side": OrderSide.BUY if order.side is Side.BUY else OrderSide.SELL,
        "time_in_force": time_in_force(instrument),
        "client_order_id": client_order_id,
    }
    if order.take_profit is not None or order.stop_loss is not None:
        both = order.take_profit is not None and order.stop_loss is not None
        common["order_class"] = OrderClass.BRACKET if both else OrderClass.OTO
        if order.take_profit is not None:
            common["take_profit"] = TakeProfitRequest(limit_price=order.take_profit)
        if order.stop_loss is not None:
            common["stop_loss"] = StopLossRequest(stop_price=order.stop_loss)
    if extended_hours and order.type is OrderType.LIMIT:
        common["extended_hours"] = True  # Alpaca takes it on day limit orders only
    if order.type is OrderType.LIMIT:
        return LimitOrderRequest(limit_price=order.limit_price, **common)
    if order.type is OrderType.STOP and order.limit_price is not None:
        return StopLimitOrderRequest(
            stop_price=order.stop_price, limit_price=order.limit_price, **common
        )
    if order.type is OrderType.STOP:
        return StopOrderRequest(stop_price=order.stop_price, **common)
    return MarketOrderRequest(**common)
