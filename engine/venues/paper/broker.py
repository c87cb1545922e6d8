"""The paper venue's matching engine: fills orders against the latest book or quote it is fed."""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict

from engine.models import (
    Fill,
    Instrument,
    Order,
    OrderBook,
    OrderRequest,
    OrderStatus,
    OrderType,
    Quote,
    Side,
)
from engine.venues.paper.checks import invalid_order

_EPS = 1e-9
_MAX_CLOSED = 10_000  # closed orders kept for order() look-ups; the store keeps the rest
Level = tuple[float, float]


class PaperBroker:
    """Fills market orders by walking the book, rests limits and stops, manages brackets.

    It never holds positions: the runtime hands every returned fill to the Ledger. All public
    methods return copies of orders so the broker stays their only writer.
    Simplifications, on purpose: a resting limit or triggered stop fills its whole remaining
    quantity once the touch crosses it, and a book is taken as infinitely deep at its last level.
    """

    def __init__(
        self,
        instruments: dict[str, Instrument],
        *,
        fee_bps: float = 1.0,
        slippage_bps: float = 1.0,
        id_prefix: str = "P",
        max_fill_qty: float = 0.0,
    ) -> None:
        self._instruments = dict(instruments)
        self._fee_rate = fee_bps / 1e4
        self._slippage = slippage_bps / 1e4
        self._prefix = id_prefix
        # Largest quantity one fill may take (0: no cap); the rest fills on later market data.
        self._max_fill = max_fill_qty
        self._seq = 0
        self._open: dict[str, Order] = {}  # insertion order = matching priority
        self._closed: OrderedDict[str, Order] = OrderedDict()
        self._changed: dict[str, Order] = {}
        self._fill_counts: dict[str, int] = {}
        self._books: dict[str, OrderBook] = {}
        self._quotes: dict[str, Quote] = {}
        # The broker's own time never runs backwards: market data stamped before an order was
        # placed (queued behind the command) must not date its fills before the order, nor a
        # closing fill before the fill that opened the position.
        self._now = 0.0

    # market data -------------------------------------------------------------------------

    def update_book(self, book: OrderBook) -> list[Fill]:
        self._books[book.symbol] = book
        bid = book.bids[0].price if book.bids else None
        ask = book.asks[0].price if book.asks else None
        return self._match_resting(book.symbol, bid, ask, self._tick(book.ts))

    def update_quote(self, quote: Quote) -> list[Fill]:
        self._quotes[quote.symbol] = quote
        return self._match_resting(quote.symbol, quote.bid, quote.ask, self._tick(quote.ts))

    def last_quote(self, symbol: str) -> Quote | None:
        return self._quotes.get(symbol)

    def last_book(self, symbol: str) -> OrderBook | None:
        return self._books.get(symbol)

    # orders ------------------------------------------------------------------------------

    def submit(self, req: OrderRequest, now: float) -> tuple[Order, list[Fill]]:
        now = self._tick(now)
        order = Order.from_request(self._next_id(), req, now)
        reason = invalid_order(order, self._instruments)
        if reason is None and order.type is OrderType.MARKET:
            levels = self._levels(order.symbol, order.side)
            if levels is None:
                reason = "no market data"
        if reason is not None:
            order.status = OrderStatus.REJECTED
            order.reject_reason = reason
            self._retire(order)
            return self._copy(order), []

        self._open[order.id] = order
        self._touch(order, now)
        fills: list[Fill] = []
        if order.type is OrderType.MARKET:
            fills.append(self._fill_at_market(order, now))
        elif order.type is OrderType.LIMIT:
            levels = self._levels(order.symbol, order.side)
            if levels is not None:
                qty, price = _walk(levels, self._cap(order.qty), order.limit_price, order.side)
                if qty > _EPS:
                    fills.append(self._fill(order, qty, price, now))
        self._settle(order, now)
        return self._copy(order), fills

    def cancel(self, order_id: str, now: float) -> Order | None:
        order = self._open.get(order_id)
        if order is None:
            return None
        self._cancel(order, self._tick(now))
        return self._copy(order)

    def cancel_all(self, now: float) -> list[Order]:
        now = self._tick(now)
        cancelled = list(self._open.values())
        for order in cancelled:
            self._cancel(order, now)
        return [self._copy(o) for o in cancelled]

    def cancel_symbol(
        self, symbol: str, now: float, *, reduce_only: bool | None = None
    ) -> list[Order]:
        """Cancel a symbol's open orders (only the reduce-only ones, or only the others, if
        asked); the runtime calls this when a position goes flat so stale brackets die."""
        now = self._tick(now)
        cancelled = [
            o
            for o in self._open.values()
            if o.symbol == symbol and (reduce_only is None or o.reduce_only == reduce_only)
        ]
        for order in cancelled:
            self._cancel(order, now)
        return [self._copy(o) for o in cancelled]

    def modify_stops(
        self, symbol: str, stop_loss: float | None, take_profit: float | None, now: float
    ) -> list[Order]:
        for price in (stop_loss, take_profit):
            if price is not None and not (math.isfinite(price) and price > 0):
                raise ValueError(f"protective price must be positive, got {price}")
        now = self._tick(now)
        changed: list[Order] = []
        for order in self._open.values():
            if order.symbol != symbol or not order.reduce_only or order.parent_id is None:
                continue
            if order.type is OrderType.STOP and stop_loss is not None:
                if order.stop_price == stop_loss:
                    continue
                order.stop_price = stop_loss
            elif order.type is OrderType.LIMIT and take_profit is not None:
                if order.limit_price == take_profit:
                    continue
                order.limit_price = take_profit
            else:
                continue
            self._touch(order, now)
            changed.append(self._copy(order))
        return changed

    def protective_orders(self, symbol: str) -> list[Order]:
        """The open stop-loss and take-profit children of `symbol`'s bracketed entries."""
        return [
            self._copy(o)
            for o in self._open.values()
            if o.symbol == symbol and o.reduce_only and o.parent_id is not None
        ]

    def fit_reduce_only(self, symbol: str, position_qty: float, now: float) -> list[Order]:
        """Make `symbol`'s reduce-only orders fit the position the fills left.

        Flat or on the same side as the position (they would add to it): cancelled. Larger
        than the position: cut to it, so that filling one closes and never flips. Returns the
        orders changed.
        """
        now = self._tick(now)
        changed: list[Order] = []
        held = abs(position_qty)
        for order in [o for o in self._open.values() if o.symbol == symbol and o.reduce_only]:
            opposes = position_qty * order.side.sign < 0
            if held <= _EPS or not opposes:
                self._cancel(order, now)
            elif order.remaining > held + _EPS:
                order.qty = order.filled_qty + held
                self._touch(order, now)
            else:
                continue
            changed.append(self._copy(order))
        return changed

    def open_orders(self) -> list[Order]:
        return [self._copy(o) for o in self._open.values()]

    def order(self, order_id: str) -> Order | None:
        order = self._open.get(order_id) or self._closed.get(order_id)
        return self._copy(order) if order is not None else None

    def restore_orders(self, orders: list[Order]) -> None:
        """Reload persisted orders after a restart.

        Open ones rest again; every order given (open or not) moves the id counter past its id,
        so pass all persisted orders, or at least the newest, to keep ids unique.
        """
        for order in orders:
            head, _, number = order.id.rpartition("-")
            if head == self._prefix and number.isdigit():
                self._seq = max(self._seq, int(number))
            self._now = max(self._now, order.updated_ts)
            if order.status.is_open:
                self._open[order.id] = self._copy(order)
                self._fill_counts[order.id] = 1 if order.filled_qty > 0 else 0

    def drain_changed(self) -> list[Order]:
        changed = [self._copy(o) for o in self._changed.values()]
        self._changed.clear()
        return changed

    # internals ---------------------------------------------------------------------------

    def _levels(self, symbol: str, side: Side) -> list[Level] | None:
        """The liquidity a taker on `side` meets, best first; the last level is bottomless."""
        book = self._books.get(symbol)
        quote = self._quotes.get(symbol)
        if book is not None and (quote is None or quote.ts <= book.ts):
            book_side = book.asks if side is Side.BUY else book.bids
            if book_side:
                levels = [(lvl.price, lvl.size) for lvl in book_side]
                levels[-1] = (levels[-1][0], math.inf)
                return levels
        if quote is not None:
            return [(quote.ask if side is Side.BUY else quote.bid, math.inf)]
        return None

    def _fill_at_market(self, order: Order, now: float) -> Fill:
        levels = self._levels(order.symbol, order.side)
        assert levels is not None  # callers only get here right after market data arrived
        qty, price = _walk(levels, self._cap(order.remaining), None, order.side)
        return self._fill(order, qty, price * (1 + order.side.sign * self._slippage), now)

    def _match_resting(
        self, symbol: str, bid: float | None, ask: float | None, now: float
    ) -> list[Fill]:
        fills: list[Fill] = []
        for order in [o for o in self._open.values() if o.symbol == symbol]:
            if not order.status.is_open:  # an OCO sibling filled earlier in this pass
                continue
            buying = order.side is Side.BUY
            touch = ask if buying else bid
            if touch is None:
                continue
            if order.type is OrderType.LIMIT:
                limit = order.limit_price
                assert limit is not None
                if (touch - limit) * order.side.sign > _EPS:
                    continue
                price = min(limit, touch) if buying else max(limit, touch)
                fills.append(self._fill(order, self._cap(order.remaining), price, now))
            elif order.type is OrderType.MARKET:  # a large one filling a step at a time
                fills.append(self._fill_at_market(order, now))
            elif order.type is OrderType.STOP:
                stop = order.stop_price
                assert stop is not None
                if (stop - touch) * order.side.sign > _EPS:
                    continue
                fills.append(self._fill_at_market(order, now))
            self._settle(order, now)
        return fills

    def _fill(self, order: Order, qty: float, price: float, now: float) -> Fill:
        instrument = self._instruments[order.symbol]
        notional_before = order.avg_fill_price * order.filled_qty
        order.filled_qty += qty
        order.avg_fill_price = (notional_before + qty * price) / order.filled_qty
        if order.remaining <= _EPS:
            order.filled_qty = order.qty
            order.status = OrderStatus.FILLED
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
        self._touch(order, now)
        count = self._fill_counts.get(order.id, 0) + 1
        self._fill_counts[order.id] = count
        return Fill(
            order_id=order.id,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            fee=self._fee_rate * qty * price * instrument.multiplier,
            ts=now,
            id=f"{order.id}-F{count}",
        )

    def _settle(self, order: Order, now: float) -> None:
        """After a fill: retire the order, spawn bracket children, cancel an OCO sibling."""
        if order.status is not OrderStatus.FILLED:
            return
        self._retire(order)
        bracketed = order.stop_loss is not None or order.take_profit is not None
        if order.parent_id is None and bracketed:
            self._spawn_children(order, now)
        if order.oco_id is not None:
            for sibling in [o for o in self._open.values() if o.oco_id == order.oco_id]:
                self._cancel(sibling, now)

    def _spawn_children(self, parent: Order, now: float) -> None:
        for child, _ in parent.exit_orders(parent.filled_qty, now):
            child.id = self._next_id()
            self._open[child.id] = child
            self._touch(child, now)

    def _cancel(self, order: Order, now: float) -> None:
        order.status = OrderStatus.CANCELED
        self._touch(order, now)
        self._retire(order)

    def _retire(self, order: Order) -> None:
        self._open.pop(order.id, None)
        self._fill_counts.pop(order.id, None)
        self._closed[order.id] = order
        self._changed[order.id] = order
        while len(self._closed) > _MAX_CLOSED:
            self._closed.popitem(last=False)

    def _touch(self, order: Order, now: float) -> None:
        order.updated_ts = now
        self._changed[order.id] = order

    def _cap(self, qty: float) -> float:
        return min(qty, self._max_fill) if self._max_fill > 0 else qty

    def _tick(self, now: float) -> float:
        self._now = max(self._now, now)
        return self._now

    def _next_id(self) -> str:
        self._seq += 1
        return f"{self._prefix}-{self._seq}"

    @staticmethod
    def _copy(order: Order) -> Order:
        return dataclasses.replace(order)


def _walk(levels: list[Level], qty: float, limit: float | None, side: Side) -> tuple[float, float]:
    """Take `qty` from `levels`, never beyond `limit`: (filled qty, average price)."""
    filled = 0.0
    notional = 0.0
    for price, size in levels:
        if limit is not None and (price - limit) * side.sign > _EPS:
            break
        take = min(size, qty - filled)
        filled += take
        notional += take * price
        if qty - filled <= _EPS:
            filled = qty
            break
    return filled, (notional / filled if filled > 0 else 0.0)
