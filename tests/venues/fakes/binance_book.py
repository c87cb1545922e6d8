"""The fake Binance's exchange: markets, a settable top of book, an account, orders that match.

One instance models Binance spot (/api/v3) and USDT-M futures (/fapi) at once; the HTTP layer
(binance_rest.py) turns requests into calls here and answers in Binance's JSON. Matching is
deliberately simple: a market order takes the touch, a limit order fills when the market
reaches it, a stop-market triggers at its stop; `fill_cap` makes fills partial.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

FEE_RATE = 0.001


class Refusal(Exception):
    """An order Binance refuses: HTTP 400 with its error code and message."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


@dataclass
class FakeMarket:
    id: str
    base: str
    quote: str = "USDT"
    tick: str = "0.01"
    step: str = "0.001"
    min_qty: str = "0.001"
    min_notional: str = "5"


@dataclass
class FakeOrder:
    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    qty: float
    price: float
    stop_price: float
    reduce_only: bool
    swap: bool
    time_ms: int
    status: str = "NEW"
    executed: float = 0.0
    cum_quote: float = 0.0
    update_ms: int = 0
    algo: bool = False  # a conditional order of the futures algo service
    actual_id: int = 0  # the regular order an algo order became when it triggered
    list_id: int = 0  # the two legs of a spot OCO share it

    @property
    def open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass
class Position:
    qty: float = 0.0
    entry: float = 0.0
    leverage: int = 10


@dataclass
class FakeExchange:
    markets: dict[str, FakeMarket] = field(default_factory=dict)
    # symbol -> (bid, ask, size)
    book: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    spot: dict[str, float] = field(default_factory=lambda: {"USDT": 100_000.0})
    wallet: float = 100_000.0  # USDT-M futures wallet
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[int, FakeOrder] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    public_trades: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    funding_rate: float = 0.0001
    fill_cap: float | None = None  # the most one match may fill: partial fills
    uncancelable: set[str] = field(default_factory=set)  # client ids cancel cannot touch
    reject_next: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # The exchange's clock (trade and order times); a test may move it.
    shift_ms: int = 0
    fee_in_base: bool = False  # spot buys pay their fee in the coin bought
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.shift_ms

    def add_market(self, market: FakeMarket, bid: float, ask: float) -> None:
        self.markets[market.id] = market
        self.book[market.id] = (bid, ask, 10.0)

    def market(self, symbol: str) -> FakeMarket:
        found = self.markets.get(symbol)
        if found is None:
            raise Refusal(-1121, "Invalid symbol.")
        return found

    # ----- the market moves -----
    def set_market(self, symbol: str, bid: float, ask: float, size: float = 10.0) -> None:
        with self.lock:
            self.book[symbol] = (bid, ask, size)
            for order in sorted(self.orders.values(), key=lambda o: o.order_id):
                if order.open and order.symbol == symbol:
                    self._match(order, taker=False)

    # ----- orders -----
    def place(
        self,
        p: dict[str, str],
        swap: bool,
        algo: bool = False,
        list_id: int = 0,
        skip_checks: bool = False,
    ) -> FakeOrder:
        with self.lock:
            if self.reject_next:
                code, msg = self.reject_next.pop(0)
                raise Refusal(code, msg)
            market = self.market(p.get("symbol", ""))
            type_ = p.get("type") or p.get("orderType") or ""
            qty = _number(p.get("quantity"), "quantity")
            price = float(p.get("price") or 0)
            stop = float(p.get("stopPrice") or p.get("triggerPrice") or 0)
            client_id = p.get("newClientOrderId") or p.get("clientAlgoId") or f"x-{next(self._ids)}"
            if any(o.client_id == client_id and o.open for o in self.orders.values()):
                raise Refusal(-4015, "Client order id is not valid.")
            self._filters(market, qty, price or self.book[market.id][1], price)
            now = self.now_ms()
            order = FakeOrder(
                next(self._ids), client_id, market.id, p.get("side", ""), type_, qty, price,
                stop, p.get("reduceOnly") == "true", swap, now, update_ms=now, algo=algo,
                list_id=list_id,
            )  # fmt: skip
            if order.reduce_only:
                self._reduce_cap(order)
            if not skip_checks:  # the second leg of an OCO shares the first one's balance
                self._afford(order)
            self.orders[order.order_id] = order
            self._match(order, taker=True)
            return order

    def _filters(self, market: FakeMarket, qty: float, ref_price: float, price: float) -> None:
        if qty < float(market.min_qty) or not _multiple(qty, market.step):
            raise Refusal(-1013, "Filter failure: LOT_SIZE")
        if price and not _multiple(price, market.tick):
            raise Refusal(-1013, "Filter failure: PRICE_FILTER")
        if qty * ref_price < float(market.min_notional):
            raise Refusal(-1013, "Filter failure: NOTIONAL")

    def _reduce_cap(self, order: FakeOrder) -> None:
        held = self.positions.get(order.symbol, Position()).qty
        reducing = (held > 0 and order.side == "SELL") or (held < 0 and order.side == "BUY")
        if not reducing:
            raise Refusal(-2022, "ReduceOnly Order is rejected.")

    def _afford(self, order: FakeOrder) -> None:
        ask = self.book[order.symbol][1]
        notional = order.qty * (order.price or ask)
        if order.swap:
            position = self.positions.get(order.symbol, Position())
            if not order.reduce_only and notional / position.leverage > self.wallet:
                raise Refusal(-2019, "Margin is insufficient.")
            return
        short_of_cash = order.side == "BUY" and notional > self.spot.get("USDT", 0.0)
        short_of_coins = order.side == "SELL" and order.qty > self._free_base(order.symbol) + 1e-12
        if short_of_cash or short_of_coins:
            raise Refusal(-2010, "Account has insufficient balance for requested action.")

    def _free_base(self, symbol: str) -> float:
        """Spot: the base asset held, less what open sells lock (an OCO locks once)."""
        locked: dict[int | str, float] = {}
        for o in self.orders.values():
            if o.open and not o.swap and o.symbol == symbol and o.side == "SELL":
                locked[o.list_id or f"o{o.order_id}"] = o.qty - o.executed
        return self.spot.get(self.markets[symbol].base, 0.0) - sum(locked.values())

    def place_oco(self, p: dict[str, str]) -> list[FakeOrder]:
        with self.lock:
            list_id = next(self._ids)
            legs = []
            for leg in ("above", "below"):
                type_ = p.get(f"{leg}Type", "")
                params = {
                    "symbol": p.get("symbol", ""), "side": p.get("side", ""),
                    "quantity": p.get("quantity", ""), "type": type_,
                    "price": p.get(f"{leg}Price", ""), "stopPrice": p.get(f"{leg}StopPrice", ""),
                    "newClientOrderId": p.get(f"{leg}ClientOrderId", ""),
                }  # fmt: skip
                legs.append(params)
            placed: list[FakeOrder] = []
            for params in legs:
                order = self.place(params, swap=False, list_id=list_id, skip_checks=bool(placed))
                placed.append(order)
            return placed

    def cancel(self, symbol: str, order: FakeOrder | None) -> FakeOrder:
        with self.lock:
            if order is None or not order.open or order.symbol != symbol:
                raise Refusal(-2011, "Unknown order sent.")
            if order.client_id in self.uncancelable:
                raise Refusal(-2011, "Unknown order sent.")
            for leg in self._legs(order):
                leg.status = "CANCELED"
                leg.update_ms = self.now_ms()
            return order

    def _legs(self, order: FakeOrder) -> list[FakeOrder]:
        if not order.list_id:
            return [order]
        return [o for o in self.orders.values() if o.list_id == order.list_id and o.open]

    def find(self, p: dict[str, str]) -> FakeOrder | None:
        with self.lock:
            if p.get("orderId") or p.get("algoId"):
                return self.orders.get(int(p.get("orderId") or p.get("algoId") or 0))
            client_id = p.get("origClientOrderId") or p.get("clientAlgoId")
            matches = [o for o in self.orders.values() if o.client_id == client_id]
            return matches[-1] if matches else None

    # ----- matching -----
    def _match(self, order: FakeOrder, taker: bool) -> None:
        bid, ask, _ = self.book[order.symbol]
        buy = order.side == "BUY"
        touch = ask if buy else bid
        if order.algo:
            if _triggered(order, bid, ask):
                self._spawn(order)
            return
        if order.type in ("STOP_MARKET", "STOP_LOSS", "TAKE_PROFIT_MARKET"):
            stop_hit = (touch >= order.stop_price) if buy else (touch <= order.stop_price)
            if order.type == "TAKE_PROFIT_MARKET":
                stop_hit = (touch <= order.stop_price) if buy else (touch >= order.stop_price)
            if not stop_hit:
                return
            price = touch
        elif order.type in ("LIMIT", "LIMIT_MAKER"):
            crosses = touch <= order.price if buy else touch >= order.price
            if not crosses:
                return
            price = touch if taker else order.price
        else:
            price = touch
        remaining = order.qty - order.executed
        qty = remaining if self.fill_cap is None else min(remaining, self.fill_cap)
        if order.reduce_only and order.swap:
            qty = min(qty, abs(self.positions.get(order.symbol, Position()).qty))
        if qty <= 0:
            order.status = "EXPIRED"
            return
        self._fill(order, round(qty, 12), price)

    def _spawn(self, algo: FakeOrder) -> None:
        """A triggered algo order: finished, and a regular market order in its place."""
        now = self.now_ms()
        order = FakeOrder(
            next(self._ids), algo.client_id, algo.symbol, algo.side, "MARKET", algo.qty, 0.0,
            0.0, algo.reduce_only, True, now, update_ms=now,
        )  # fmt: skip
        algo.status, algo.actual_id, algo.update_ms = "FINISHED", order.order_id, now
        self.orders[order.order_id] = order
        self._match(order, taker=True)

    def _fill(self, order: FakeOrder, qty: float, price: float) -> None:
        now = self.now_ms()
        order.executed = round(order.executed + qty, 12)
        order.cum_quote += qty * price
        order.update_ms = now
        order.status = "FILLED" if order.executed >= order.qty - 1e-12 else "PARTIALLY_FILLED"
        for other in self._legs(order):
            if other is not order:
                other.status, other.update_ms = "EXPIRED", now
        sign = 1 if order.side == "BUY" else -1
        fee, fee_asset = qty * price * FEE_RATE, "USDT"
        pnl = self._book_swap(order.symbol, sign * qty, price) if order.swap else 0.0
        if order.swap:
            self.wallet += pnl - fee
        else:
            base = self.markets[order.symbol].base
            if self.fee_in_base and sign > 0:  # Binance's default: a buy pays in the coin
                fee, fee_asset = round(qty * FEE_RATE, 12), base
            self.spot[base] = (
                self.spot.get(base, 0.0) + sign * qty - (fee if fee_asset == base else 0)
            )
            self.spot["USDT"] = (
                self.spot.get("USDT", 0.0)
                - sign * qty * price
                - (fee if fee_asset == "USDT" else 0)
            )
        trade_id = next(self._ids)
        self.trades.append(
            {
                "id": trade_id, "orderId": order.order_id, "symbol": order.symbol,
                "side": order.side, "price": price, "qty": qty, "fee": fee, "time": now,
                "fee_asset": fee_asset,
                "swap": order.swap, "pnl": pnl, "maker": order.type == "LIMIT",
            }
        )  # fmt: skip
        self.public_trades.setdefault(order.symbol, []).append(
            {"id": trade_id, "price": price, "qty": qty, "time": now, "buyer_maker": sign < 0}
        )

    def _book_swap(self, symbol: str, signed: float, price: float) -> float:
        position = self.positions.setdefault(symbol, Position())
        held = position.qty
        if held == 0 or (held > 0) == (signed > 0):
            total = held + signed
            position.entry = (held * position.entry + signed * price) / total
            position.qty = round(total, 12)
            return 0.0
        closed = min(abs(signed), abs(held))
        pnl = closed * (price - position.entry) * (1 if held > 0 else -1)
        position.qty = round(held + signed, 12)
        if position.qty == 0:
            position.entry = 0.0
        elif (position.qty > 0) != (held > 0):
            position.entry = price
        return pnl

    # ----- views -----
    def mark(self, symbol: str) -> float:
        bid, ask, _ = self.book[symbol]
        return (bid + ask) / 2


def _triggered(order: FakeOrder, bid: float, ask: float) -> bool:
    touch = ask if order.side == "BUY" else bid
    above = touch >= order.stop_price
    if order.type == "TAKE_PROFIT_MARKET":
        return not above if order.side == "BUY" else above
    return above if order.side == "BUY" else touch <= order.stop_price


def _number(text: str | None, name: str) -> float:
    try:
        value = float(text or "")
    except ValueError:
        raise Refusal(-1102, f"Mandatory parameter '{name}' was not sent.") from None
    if value <= 0:
        raise Refusal(-1013, "Filter failure: LOT_SIZE")
    return value


def _multiple(value: float, step: str) -> bool:
    quotient = Decimal(repr(value)) / Decimal(step)
    return quotient == quotient.to_integral_value()
