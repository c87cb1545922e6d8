"""Position sizing: a fixed fraction of equity put at risk to the stop, optionally a capped
Kelly fraction from the strategy's own recent record, never above the gateway's limits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NOTIONAL_MARGIN = 0.99


def kelly_fraction(pnls: Sequence[float]) -> float | None:
    """Kelly's f* = W - (1 - W) / R from closed trades (W win rate, R mean win / mean loss).

    None when the record cannot say: no wins or no losses. Negative means the record has no
    edge (the caller trades nothing)."""
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p < 0]
    if not wins or not losses:
        return None
    win_rate = len(wins) / (len(wins) + len(losses))
    ratio = (sum(wins) / len(wins)) / (sum(losses) / len(losses))
    return win_rate - (1 - win_rate) / ratio


@dataclass(frozen=True)
class SizingRule:
    risk_fraction: float = 0.01  # of equity lost if the stop is hit
    kelly: bool = False
    kelly_cap: float = 0.02  # the risk fraction Kelly may reach at most
    kelly_min_trades: int = 20
    kelly_window: int = 50  # the strategy's most recent trades

    def fraction(self, pnls: Sequence[float]) -> float:
        """The risk fraction for the next trade: Kelly (half of it, capped) once the record
        is long enough, else the fixed fraction."""
        recent = list(pnls)[-self.kelly_window :]
        if not self.kelly or len(recent) < self.kelly_min_trades:
            return self.risk_fraction
        f = kelly_fraction(recent)
        if f is None:
            return self.risk_fraction
        # Half-Kelly: the full fraction is optimal only if the record's odds are the truth.
        return max(0.0, min(f / 2, self.kelly_cap))

    def quantity(
        self,
        *,
        equity: float,
        price: float,
        stop_distance: float,
        multiplier: float,
        lot_size: float,
        size_multiplier: float,
        pnls: Sequence[float],
        max_qty: float,
        max_notional: float,
    ) -> float:
        """Units to trade: equity * fraction * size multiplier at risk over the stop distance,
        then cut to the gateway's max quantity and (99% of) its max notional, rounded down to
        whole lots.
        0 when anything is not a finite positive number."""
        values = (equity, price, stop_distance, multiplier, lot_size, max_qty, max_notional)
        if not all(math.isfinite(v) and v > 0 for v in values) or size_multiplier <= 0:
            return 0.0
        risk = equity * self.fraction(pnls) * size_multiplier
        qty = risk / (stop_distance * multiplier)
        # A hair under the notional limit: the gateway prices the order at the quote, which
        # may have moved a tick since this price.
        qty = min(qty, max_qty, max_notional * NOTIONAL_MARGIN / (price * multiplier))
        lots = math.floor(qty / lot_size + 1e-9)
        return round(lots * lot_size, 10)
