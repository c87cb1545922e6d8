"""The desk's order state machine: Vigil's orders as the venue's events move them.

new (sent, unconfirmed) -> accepted -> partially filled -> filled / canceled / rejected /
expired. A status never moves backwards (a late ACCEPTED after the fill changes nothing), a
fill is counted once per fill id, and a fill for an order already closed still counts: the
money moved whatever the order's status says.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass

from engine.models import Fill, Order, OrderStatus, OrderType
from engine.venues.base import OrderEvent, OrderEventKind

_EPS = 1e-9
_MAX_CLOSED = 2_000  # closed orders kept for late events; the store keeps the rest
_TERMINAL = {
    OrderEventKind.CANCELED: OrderStatus.CANCELED,
    OrderEventKind.REJECTED: OrderStatus.REJECTED,
    OrderEventKind.EXPIRED: OrderStatus.EXPIRED,
}


@dataclass(frozen=True)
class Applied:
    """What one venue event did: the order after it (None if unknown to Vigil), whether the
    order was unknown, whether it changed, and whether it was adopted (a venue-made child)."""

    order: Order | None
    unknown: bool = False
    changed: bool = False
    adopted: bool = False
    rejected: bool = False


class OrderTracker:
    """Every open order Vigil knows, by Vigil's id, with the venue's id next to it."""

    def __init__(self, id_prefix: str = "P") -> None:
        self._prefix = id_prefix
        self._seq = 0
        self._open: dict[str, Order] = {}
        self._closed: OrderedDict[str, Order] = OrderedDict()
        self._by_venue: dict[str, str] = {}
        self._changed: dict[str, Order] = {}
        self._counted_fills: set[str] = set()
        self.cancel_requested: set[str] = set()
        # Orders closed since start, by final status (filled, canceled...), for /metrics.
        self.outcomes: dict[str, int] = {}

    # ----- ids and restart -----
    def next_id(self) -> str:
        self._seq += 1
        return f"{self._prefix}-{self._seq}"

    def restore(self, orders: list[Order]) -> None:
        """Reload the store's orders: open ones are tracked again; every id moves the counter
        past it so new ids never repeat old ones."""
        for order in orders:
            head, _, number = order.id.rpartition("-")
            if head == self._prefix and number.isdigit():
                self._seq = max(self._seq, int(number))
            if order.status.is_open:
                self._open[order.id] = dataclasses.replace(order)
                if order.venue_order_id:
                    self._by_venue[order.venue_order_id] = order.id

    # ----- reads -----
    def get(self, order_id: str) -> Order | None:
        order = self._open.get(order_id) or self._closed.get(order_id)
        return dataclasses.replace(order) if order is not None else None

    def open_orders(self) -> list[Order]:
        return [dataclasses.replace(o) for o in self._open.values()]

    def unconfirmed(self) -> list[Order]:
        """Sent, and the venue has not said it holds them."""
        return [dataclasses.replace(o) for o in self._open.values() if o.status is OrderStatus.NEW]

    def in_flight(self) -> list[Order]:
        """Orders whose outcome is due any moment: unconfirmed ones and open market orders."""
        return [
            dataclasses.replace(o)
            for o in self._open.values()
            if o.status is OrderStatus.NEW or o.type is OrderType.MARKET
        ]

    def protective(self, symbol: str) -> list[Order]:
        """The symbol's open stop-loss and take-profit orders: a bracket's children (parent
        set) and the reduce-only stop / limit orders added from the position's row."""
        return [
            dataclasses.replace(o)
            for o in self._open.values()
            if o.symbol == symbol and o.reduce_only and o.type is not OrderType.MARKET
        ]

    def drain_changed(self) -> list[Order]:
        changed = [dataclasses.replace(o) for o in self._changed.values()]
        self._changed.clear()
        return changed

    # ----- writes -----
    def add(self, order: Order) -> None:
        """A new order about to be sent (status NEW) or one a synchronous answer settled."""
        if order.status.is_open:
            self._open[order.id] = order
        else:
            self._retire(order)
        if order.venue_order_id:
            self._by_venue[order.venue_order_id] = order.id
        self._changed[order.id] = order

    def close(self, order_id: str, status: OrderStatus, reason: str, now: float) -> None:
        order = self._open.get(order_id)
        if order is None:
            return
        order.status, order.reject_reason, order.updated_ts = status, reason, now
        self._retire(order)

    def replace(self, changed: Order) -> None:
        """The venue answered a replace (stop moved, quantity cut) synchronously."""
        order = self._open.get(changed.id)
        if order is None:
            return
        order.qty, order.limit_price, order.stop_price = (
            changed.qty,
            changed.limit_price,
            changed.stop_price,
        )
        order.updated_ts = max(order.updated_ts, changed.updated_ts)
        self._changed[order.id] = order

    def apply(self, event: OrderEvent) -> Applied:
        """Move one order by one venue event."""
        order_id = event.order_id or self._by_venue.get(event.venue_order_id, "")
        order = self._open.get(order_id) or self._closed.get(order_id)
        if order is None:
            return self._unknown(event)
        if event.venue_order_id and not order.venue_order_id:
            order.venue_order_id = event.venue_order_id
            self._by_venue[event.venue_order_id] = order.id
        order.updated_ts = max(order.updated_ts, event.ts)
        self._changed[order.id] = order
        if event.kind is OrderEventKind.ACCEPTED:
            if order.status is OrderStatus.NEW:
                order.status = OrderStatus.ACCEPTED
            if event.order is not None and order.status.is_open:
                order.qty = event.order.qty
                order.limit_price = event.order.limit_price
                order.stop_price = event.order.stop_price
            return Applied(dataclasses.replace(order), changed=True)
        if event.fill is not None:
            self._count_fill(order, event.fill, event.kind is OrderEventKind.FILLED)
            return Applied(dataclasses.replace(order), changed=True)
        status = _TERMINAL.get(event.kind)
        if status is None or not order.status.is_open:
            return Applied(dataclasses.replace(order))  # late news about a closed order
        order.status = status
        order.reject_reason = event.reason or order.reject_reason
        self._retire(order)
        return Applied(
            dataclasses.replace(order), changed=True, rejected=status is OrderStatus.REJECTED
        )

    # ----- internals -----
    def _unknown(self, event: OrderEvent) -> Applied:
        described = event.order
        parent = self._open.get(described.parent_id or "") if described else None
        parent = parent or (self._closed.get(described.parent_id or "") if described else None)
        if described is not None and parent is not None and described.status.is_open:
            # A bracket child the venue made for one of our orders: ours from now on.
            child = dataclasses.replace(
                described,
                id=event.order_id or event.venue_order_id,
                status=OrderStatus.ACCEPTED,
                venue_order_id=event.venue_order_id,
            )
            self.add(child)
            return Applied(dataclasses.replace(child), changed=True, adopted=True)
        return Applied(None, unknown=True)

    def _count_fill(self, order: Order, fill: Fill, final: bool) -> None:
        if fill.id and fill.id in self._counted_fills:
            return
        if fill.id:
            self._counted_fills.add(fill.id)
        before = order.avg_fill_price * order.filled_qty
        order.filled_qty += fill.qty
        order.avg_fill_price = (before + fill.qty * fill.price) / order.filled_qty
        if not order.status.is_open:
            return  # money moved on an order already closed: counted, status kept
        if final or order.remaining <= _EPS:
            order.filled_qty = max(order.filled_qty, order.qty) if final else order.qty
            order.status = OrderStatus.FILLED
            self._retire(order)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED

    def _retire(self, order: Order) -> None:
        if order.id not in self._closed:  # counted once, whatever comes later
            self.outcomes[order.status.value] = self.outcomes.get(order.status.value, 0) + 1
        self._open.pop(order.id, None)
        self.cancel_requested.discard(order.id)
        self._closed[order.id] = order
        self._changed[order.id] = order
        while len(self._closed) > _MAX_CLOSED:
            self._closed.popitem(last=False)
