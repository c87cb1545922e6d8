"""What every breaker shares: the snapshot it reads, its reading and trip, the base class."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from engine.models import TradingState
from engine.safety.settings import LimitSettings

HALTED = TradingState.HALTED.value
REDUCING = TradingState.REDUCING.value


@dataclass(frozen=True)
class SafetySnapshot:
    now: float
    equity: float
    peak_equity: float
    equity_history: Sequence[tuple[float, float]]  # (ts, equity), oldest first
    daily_pnl: float
    open_positions: int
    error_times: Sequence[float]
    order_times: Sequence[float]
    last_market_data_ts: float | None


@dataclass(frozen=True)
class Reading:
    name: str
    description: str
    value: float
    threshold: float
    unit: str
    pct: float  # percent of the threshold used, >= 0
    triggered: bool
    action: str


@dataclass(frozen=True)
class Trip:
    name: str
    value: float
    threshold: float
    unit: str
    action: str
    at: float  # epoch seconds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self) -> str:
        """The banner's sentence: "breaker error_rate tripped: 3 errors against 3 errors"."""
        return (
            f"breaker {self.name} tripped: {format_amount(self.value, self.unit)} against "
            f"{format_amount(self.threshold, self.unit)}; action {self.action}"
        )


def format_amount(value: float, unit: str) -> str:
    """A breaker value in its unit, as a person writes it: 2.15%, $1,000.00, 31.2 s, 3 errors."""
    if unit == "%":
        return f"{value:.2f}%"
    if unit == "$":
        return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"
    if unit == "s":
        return f"{value:.1f} s"
    number = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return f"{number} {unit}" if unit else number


def pct_of(value: float, threshold: float) -> float:
    if not value > 0:
        return 0.0
    if threshold <= 0:
        return 100.0
    return value / threshold * 100


def count_since(times: Sequence[float], start: float) -> int:
    return sum(1 for t in times if t > start)


class Breaker(ABC):
    """Base class: a subclass sets the class attributes and implements `measure`."""

    name: ClassVar[str]
    description: ClassVar[str]
    unit: ClassVar[str]
    action: ClassVar[str]
    # "above" trips only past the threshold (a limit you may sit at); "at" trips on reaching it.
    trips_at_threshold: ClassVar[bool] = True

    def __init__(self, threshold: float) -> None:
        self.threshold = float(threshold)

    @classmethod
    def from_settings(cls, limits: LimitSettings) -> Breaker:
        """Build the breaker from the limits it reads; the default reads none."""
        return cls()  # type: ignore[call-arg]  # subclasses give every argument a default

    @abstractmethod
    def measure(self, snapshot: SafetySnapshot) -> float:
        """The breaker's current value, in its unit; NaN when it cannot be measured."""

    def evaluate(self, snapshot: SafetySnapshot) -> Reading:
        value = self.measure(snapshot)
        if math.isnan(value):
            triggered = True  # a breaker that cannot measure fails closed
            value = self.threshold
        elif self.trips_at_threshold:
            triggered = value >= self.threshold
        else:
            triggered = value > self.threshold
        return Reading(
            name=self.name,
            description=self.description,
            value=value,
            threshold=self.threshold,
            unit=self.unit,
            pct=pct_of(value, self.threshold),
            triggered=triggered,
            action=self.action,
        )
