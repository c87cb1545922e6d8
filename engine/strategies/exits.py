"""Exit rules: a stop and a target from the ATR (sent as the entry's bracket), and a trailing
stop the book checks on every price."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.models import Side


@dataclass(frozen=True)
class ExitRule:
    stop_atr: float = 2.0  # the stop sits this many ATRs from the entry
    take_r: float = 2.0  # the target sits this many stop distances away (reward : risk)
    trail_atr: float = 3.0  # the trailing stop follows the best price at this many ATRs; 0 = off

    def bracket(self, side: Side, price: float, atr: float) -> tuple[float, float]:
        """(stop_loss, take_profit) for an entry at `price`."""
        distance = self.stop_atr * atr
        return price - side.sign * distance, price + side.sign * self.take_r * distance


@dataclass
class TrailingStop:
    """The best price since entry and the stop it drags behind it; it only ever tightens."""

    side: Side  # of the position: BUY = long
    distance: float
    best: float
    stop: float = field(init=False)

    def __post_init__(self) -> None:
        self.stop = self.best - self.side.sign * self.distance

    def update(self, price: float) -> bool:
        """Move with a new best price; True when `price` is through the stop (time to exit)."""
        if (price - self.best) * self.side.sign > 0:
            self.best = price
            candidate = price - self.side.sign * self.distance
            if (candidate - self.stop) * self.side.sign > 0:
                self.stop = candidate
        return (self.stop - price) * self.side.sign >= 0
