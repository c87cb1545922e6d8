"""The paper venue's own account: cash, positions and fills, booked from its own executions."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from engine.models import Fill, Instrument
from engine.venues.base import VenueAccount, VenuePosition

_EPS = 1e-9
_KEEP_FILLS = 5_000  # fills kept for fills_since (reconciliation looks back, not forever)


class PaperAccount:
    """What the venue says the account holds; never the store's view (reconciliation compares)."""

    def __init__(self, instruments: dict[str, Instrument], cash: float) -> None:
        self._instruments = instruments
        self.cash = cash
        self.positions: dict[str, VenuePosition] = {}
        self.fills: deque[Fill] = deque(maxlen=_KEEP_FILLS)

    def snapshot(self, mark: Callable[[str, float], float]) -> VenueAccount:
        """The account now, each position valued at `mark(symbol, its average price)`."""
        equity = self.cash + sum(
            p.qty * mark(p.symbol, p.avg_price) * p.multiplier for p in self.positions.values()
        )
        return VenueAccount("paper", self.cash, equity, max(self.cash, 0.0), mode="paper")

    def book(self, fill: Fill) -> None:
        """The venue's own position and cash, from its own fills."""
        self.fills.append(fill)
        multiplier = self._instruments[fill.symbol].multiplier
        self.cash -= fill.side.sign * fill.qty * fill.price * multiplier + fill.fee
        held = self.positions.get(fill.symbol)
        qty, avg = (held.qty, held.avg_price) if held else (0.0, 0.0)
        signed = fill.side.sign * fill.qty
        new_qty = qty + signed
        if abs(new_qty) <= _EPS:
            self.positions.pop(fill.symbol, None)
            return
        if qty == 0 or qty * signed > 0:
            avg = (avg * abs(qty) + fill.price * fill.qty) / abs(new_qty)
        elif qty * new_qty < 0:  # flipped: the rest opened at this price
            avg = fill.price
        self.positions[fill.symbol] = VenuePosition(fill.symbol, new_qty, avg, multiplier)
