"""Between ccxt's unified structures and Vigil's: orders, trades (fills), positions, balances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.models import Fill, Order, OrderStatus, OrderType, Side
from engine.venues.base import VenueAccount, VenuePosition
from engine.venues.ccxt.exchange import MarketRules

# Vigil's child orders of a bracketed entry carry its id plus one of these suffixes, so a
# restarted broker knows them (and their parent) from the exchange's client order id alone.
STOP_SUFFIX, TAKE_SUFFIX = "-SL", "-TP"


def parent_of(client_id: str) -> str | None:
    for suffix in (STOP_SUFFIX, TAKE_SUFFIX):
        if client_id.endswith(suffix):
            return client_id[: -len(suffix)]
    return None


def order_args(
    order: Order, rules: MarketRules, swap: bool, exchange: str = "binance"
) -> dict[str, Any]:
    """ccxt create_order's arguments for a Vigil order (already rounded and checked)."""
    params: dict[str, Any] = {"clientOrderId": order.id}
    if order.reduce_only and swap:
        params["reduceOnly"] = True
    price: float | None = None
    type_ = "market"
    if order.type is OrderType.LIMIT:
        type_, price = "limit", order.limit_price
    elif order.type is OrderType.STOP:
        params["triggerPrice"] = order.stop_price
        if exchange == "bybit" and swap:  # Bybit's contracts want the trigger's direction
            params["triggerDirection"] = "ascending" if order.side.sign > 0 else "descending"
    return {
        "symbol": rules.ccxt_symbol,
        "type": type_,
        "side": order.side.value,
        "amount": order.qty,
        "price": price,
        "params": params,
    }


def is_trigger(order: Order) -> bool:
    return order.type is OrderType.STOP


_TYPES = {
    "limit": OrderType.LIMIT,
    "limit_maker": OrderType.LIMIT,
    "market": OrderType.MARKET,
    "stop_market": OrderType.STOP,
    "stop_loss": OrderType.STOP,
    "stop": OrderType.STOP,
}
_STATUS = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def vigil_order(raw: dict[str, Any], vigil_symbol: str) -> Order:
    """An order the exchange reports, as Vigil's Order (Vigil's id where it carries one)."""
    client_id = str(raw.get("clientOrderId") or raw.get("id"))
    filled = float(raw.get("filled") or 0.0)
    status = _STATUS.get(str(raw.get("status")), OrderStatus.ACCEPTED)
    if status is OrderStatus.ACCEPTED and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    ts = float(raw.get("timestamp") or 0) / 1000.0
    trigger = raw.get("triggerPrice") or raw.get("stopPrice")
    type_ = _TYPES.get(str(raw.get("type") or "").lower(), OrderType.MARKET)
    if trigger and type_ is OrderType.MARKET:
        type_ = OrderType.STOP
    return Order(
        id=client_id,
        symbol=vigil_symbol,
        side=Side(str(raw.get("side") or "buy")),
        qty=float(raw.get("amount") or 0.0),
        type=type_,
        status=status,
        created_ts=ts,
        updated_ts=float(raw.get("lastUpdateTimestamp") or raw.get("timestamp") or 0) / 1000.0,
        limit_price=float(raw["price"]) if type_ is OrderType.LIMIT and raw.get("price") else None,
        stop_price=float(trigger) if trigger else None,
        reduce_only=bool(raw.get("reduceOnly")) or parent_of(client_id) is not None,
        source="venue",
        parent_id=parent_of(client_id),
        filled_qty=filled,
        avg_fill_price=float(raw.get("average") or 0.0),
        venue_order_id=str(raw.get("id") or ""),
    )


@dataclass(frozen=True)
class Trade:
    """One of the account's executions, before it is known which Vigil order it belongs to."""

    id: str
    venue_order_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    ts: float
    gross_qty: float = 0.0  # what the order filled (qty is what the account received)

    def fill(self, order_id: str, exchange: str) -> Fill:
        return Fill(
            order_id=order_id,
            symbol=self.symbol,
            side=self.side,
            qty=self.qty,
            price=self.price,
            fee=self.fee,
            ts=self.ts,
            id=f"{exchange}-{self.id}",
        )


def trade(raw: dict[str, Any], rules: MarketRules) -> Trade:
    """An execution in the quote currency's terms. Binance spot takes a buy's fee in the coin
    bought (unless paid in BNB): the fill is then the coins received at the price that cost,
    so Vigil's position is what the exchange holds and the cash paid is unchanged."""
    fee = raw.get("fee") or {}
    cost = float(fee.get("cost") or 0.0)
    currency = fee.get("currency")
    qty, price = float(raw["amount"]), float(raw["price"])
    if currency == rules.base and 0 < cost < qty:
        price, qty, cost = price * qty / (qty - cost), qty - cost, 0.0
    elif currency not in (None, rules.quote):
        cost = 0.0  # paid in a third coin (BNB): not in the quote currency's terms
    return Trade(
        id=str(raw["id"]),
        venue_order_id=str(raw.get("order") or ""),
        symbol=rules.vigil,
        side=Side(str(raw["side"])),
        qty=qty,
        price=price,
        fee=cost,
        ts=float(raw.get("timestamp") or 0) / 1000.0,
        gross_qty=float(raw["amount"]),
    )


@dataclass(frozen=True)
class PerpPosition:
    """A perpetual position with what the page shows beside it."""

    symbol: str
    side: str
    qty: float  # signed, in base units
    entry: float
    mark: float
    liquidation: float | None
    leverage: float | None
    unrealized_pnl: float

    def venue(self) -> VenuePosition:
        return VenuePosition(self.symbol, self.qty, self.entry)

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "side": self.side,
            "qty": self.qty,
            "entry": self.entry,
            "mark": self.mark,
            "liquidation": self.liquidation,
            "leverage": self.leverage,
            "unrealized_pnl": self.unrealized_pnl,
        }


def perp_position(raw: dict[str, Any], rules: MarketRules) -> PerpPosition | None:
    contracts = float(raw.get("contracts") or 0.0)
    if contracts == 0:
        return None
    side = str(raw.get("side") or "long")
    qty = contracts * float(raw.get("contractSize") or rules.contract_size)
    liquidation = raw.get("liquidationPrice")
    leverage = raw.get("leverage")
    return PerpPosition(
        symbol=rules.vigil,
        side=side,
        qty=qty if side == "long" else -qty,
        entry=float(raw.get("entryPrice") or 0.0),
        mark=float(raw.get("markPrice") or 0.0),
        liquidation=float(liquidation) if liquidation else None,
        leverage=float(leverage) if leverage else None,
        unrealized_pnl=float(raw.get("unrealizedPnl") or 0.0),
    )


def account(
    balance: dict[str, Any], quote: str, swap: bool, holdings: float, mode: str
) -> VenueAccount:
    """The venue account from fetch_balance: futures report wallet, margin and available
    balance; spot holds the quote currency plus `holdings` (base assets at market)."""
    info = balance.get("info") or {}
    total = float((balance.get("total") or {}).get(quote) or 0.0)
    free = float((balance.get("free") or {}).get(quote) or 0.0)
    account_id = str(info.get("uid") or info.get("accountId") or "")
    if swap and isinstance(info, dict) and "totalMarginBalance" in info:
        equity = float(info["totalMarginBalance"])
        available = float(info.get("availableBalance") or free)
        return VenueAccount(account_id, available, equity, available, quote, mode)
    return VenueAccount(account_id, free, total + holdings, free, quote, mode)
