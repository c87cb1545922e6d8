"""A behaving fake of the venue's record: what Broker.positions / open_orders / fills_since
answer, held as plain data a test can edit (as an operator might trade outside Vigil)."""

from __future__ import annotations

from engine.models import Fill, Order
from engine.venues.base import VenueError, VenuePosition


class FakeVenueRecord:
    def __init__(self) -> None:
        self.held: dict[str, float] = {}
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self.down = False  # True: every read raises VenueError, as an unreachable venue does
        self.reads = 0

    # -- what a test does at the venue --
    def rest(self, order: Order) -> None:
        self.orders[order.id] = order

    def execute(self, fill: Fill) -> None:
        """An execution at the venue: recorded, and it moves the venue's position."""
        self.fills.append(fill)
        self.held[fill.symbol] = self.held.get(fill.symbol, 0.0) + fill.side.sign * fill.qty

    # -- the Broker protocol's three reads --
    def _read(self) -> None:
        if self.down:
            raise VenueError("venue unreachable (fake)")
        self.reads += 1

    def positions(self) -> list[VenuePosition]:
        self._read()
        return [VenuePosition(s, q, 100.0) for s, q in sorted(self.held.items()) if q]

    def open_orders(self) -> list[Order]:
        self._read()
        return [o for o in self.orders.values() if o.status.is_open]

    def fills_since(self, ts: float) -> list[Fill]:
        self._read()
        return [f for f in self.fills if f.ts >= ts]
