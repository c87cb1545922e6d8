"""Circuit breakers: small plugins, configured by name, each a pure function of a snapshot."""

from __future__ import annotations

import json
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

from engine.models import TradingState

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


class _BreakerSettings(Protocol):
    daily_loss_limit: float
    max_positions: int
    order_rate_max: int
    order_rate_window_s: float


def _pct(value: float, threshold: float) -> float:
    if not value > 0:
        return 0.0
    if threshold <= 0:
        return 100.0
    return value / threshold * 100


def _count_since(times: Sequence[float], start: float) -> int:
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
            pct=_pct(value, self.threshold),
            triggered=triggered,
            action=self.action,
        )


class RapidLossBreaker(Breaker):
    name = "rapid_loss"
    description = "Equity lost within the window, as % of the equity at its start"
    unit = "%"
    action = HALTED

    def __init__(self, threshold: float = 2.0, window_s: float = 900.0) -> None:
        super().__init__(threshold)
        self.window_s = window_s

    def measure(self, snapshot: SafetySnapshot) -> float:
        history = snapshot.equity_history
        if not history:
            return 0.0
        window_start = snapshot.now - self.window_s
        # The last point at or before the window start; with a shorter history, the oldest.
        start_equity = history[0][1]
        for ts, equity in history:
            if ts > window_start:
                break
            start_equity = equity
        if not start_equity > 0:
            return 0.0
        return max((start_equity - snapshot.equity) / start_equity * 100, 0.0)


class ErrorRateBreaker(Breaker):
    name = "error_rate"
    description = "Errors within the window"
    unit = "errors"
    action = HALTED

    def __init__(self, threshold: float = 3, window_s: float = 300.0) -> None:
        super().__init__(threshold)
        self.window_s = window_s

    def measure(self, snapshot: SafetySnapshot) -> float:
        return float(_count_since(snapshot.error_times, snapshot.now - self.window_s))


class DrawdownBreaker(Breaker):
    name = "drawdown"
    description = "Drawdown from peak equity"
    unit = "%"
    action = HALTED

    def __init__(self, threshold: float = 5.0) -> None:
        super().__init__(threshold)

    def measure(self, snapshot: SafetySnapshot) -> float:
        peak = snapshot.peak_equity
        if not peak > 0:
            return 0.0
        return max((peak - snapshot.equity) / peak * 100, 0.0)


class DailyLossBreaker(Breaker):
    name = "daily_loss"
    description = "Session loss, realized and unrealized"
    unit = "$"
    action = HALTED

    def __init__(self, threshold: float = 1000.0) -> None:
        super().__init__(threshold)

    def measure(self, snapshot: SafetySnapshot) -> float:
        return max(-snapshot.daily_pnl, 0.0) if not math.isnan(snapshot.daily_pnl) else math.nan


class MaxPositionsBreaker(Breaker):
    name = "max_positions"
    description = "Open positions against the limit"
    unit = "positions"
    action = REDUCING
    trips_at_threshold = False

    def __init__(self, threshold: float = 3) -> None:
        super().__init__(threshold)

    def measure(self, snapshot: SafetySnapshot) -> float:
        return float(snapshot.open_positions)


class OrderRateBreaker(Breaker):
    name = "order_rate"
    description = "Orders within the window (runaway-loop guard)"
    unit = "orders"
    action = HALTED

    def __init__(self, threshold: float = 40, window_s: float = 60.0) -> None:
        super().__init__(threshold)
        self.window_s = window_s

    def measure(self, snapshot: SafetySnapshot) -> float:
        return float(_count_since(snapshot.order_times, snapshot.now - self.window_s))


class StaleFeedBreaker(Breaker):
    name = "stale_feed"
    description = "Seconds since the last market data while positions are open"
    unit = "s"
    action = HALTED

    def __init__(self, threshold: float = 30.0) -> None:
        super().__init__(threshold)

    def measure(self, snapshot: SafetySnapshot) -> float:
        if snapshot.open_positions <= 0:
            return 0.0
        if snapshot.last_market_data_ts is None:
            return math.nan  # positions nobody is pricing: fail closed
        return max(snapshot.now - snapshot.last_market_data_ts, 0.0)


BREAKER_TYPES: dict[str, type[Breaker]] = {
    cls.name: cls
    for cls in (
        RapidLossBreaker,
        ErrorRateBreaker,
        DrawdownBreaker,
        DailyLossBreaker,
        MaxPositionsBreaker,
        OrderRateBreaker,
        StaleFeedBreaker,
    )
}


def _make(name: str, settings: _BreakerSettings) -> Breaker:
    if name == DailyLossBreaker.name:
        return DailyLossBreaker(settings.daily_loss_limit)
    if name == MaxPositionsBreaker.name:
        return MaxPositionsBreaker(settings.max_positions)
    if name == OrderRateBreaker.name:
        return OrderRateBreaker(2 * settings.order_rate_max, settings.order_rate_window_s)
    return BREAKER_TYPES[name]()


def build_breakers(names: Sequence[str], settings: _BreakerSettings) -> list[Breaker]:
    """Breakers in the configured order; a typo or a repeat stops the start, never passes."""
    known = ", ".join(BREAKER_TYPES)
    seen: set[str] = set()
    breakers: list[Breaker] = []
    for raw in names:
        name = raw.strip()
        if name not in BREAKER_TYPES:
            raise ValueError(f"VIGIL_BREAKERS: unknown breaker {name!r} (known: {known})")
        if name in seen:
            raise ValueError(f"VIGIL_BREAKERS: breaker {name!r} is listed twice")
        seen.add(name)
        breakers.append(_make(name, settings))
    return breakers


def _since_ms(at: float | None) -> int | None:
    return None if at is None else round(at * 1000)


class BreakerBoard:
    """The configured breakers and their latched trips; a trip holds until reset."""

    def __init__(self, breakers: Sequence[Breaker]) -> None:
        names = [b.name for b in breakers]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate breakers in {names}")
        self._breakers = list(breakers)
        self._trips: dict[str, Trip] = {}
        self._lock = threading.Lock()

    @property
    def breakers(self) -> list[Breaker]:
        return list(self._breakers)

    def evaluate(self, snapshot: SafetySnapshot) -> list[Trip]:
        """Latch and return the trips that are new since the last call or reset."""
        new: list[Trip] = []
        with self._lock:
            for breaker in self._breakers:
                reading = breaker.evaluate(snapshot)
                if reading.triggered and breaker.name not in self._trips:
                    trip = Trip(
                        reading.name,
                        reading.value,
                        reading.threshold,
                        reading.unit,
                        reading.action,
                        snapshot.now,
                    )
                    self._trips[breaker.name] = trip
                    new.append(trip)
        return new

    def readings(self, snapshot: SafetySnapshot) -> list[dict[str, Any]]:
        """The `breakers` list of docs/EVENTS.md; pure (call `evaluate` to latch trips)."""
        with self._lock:
            trips = dict(self._trips)
        out: list[dict[str, Any]] = []
        for breaker in self._breakers:
            reading = breaker.evaluate(snapshot)
            trip = trips.pop(breaker.name, None)
            out.append(
                {
                    "name": reading.name,
                    "description": reading.description,
                    "triggered": reading.triggered or trip is not None,
                    "value": reading.value,
                    "threshold": reading.threshold,
                    "unit": reading.unit,
                    "pct": reading.pct,
                    "since": _since_ms(trip.at if trip else None),
                    "action": reading.action,
                }
            )
        # Trips restored for breakers no longer configured still hold until someone resets them.
        for trip in trips.values():
            out.append(
                {
                    "name": trip.name,
                    "description": "Tripped before a restart; no longer configured",
                    "triggered": True,
                    "value": trip.value,
                    "threshold": trip.threshold,
                    "unit": trip.unit,
                    "pct": _pct(trip.value, trip.threshold),
                    "since": _since_ms(trip.at),
                    "action": trip.action,
                }
            )
        return out

    def tripped(self) -> list[Trip]:
        with self._lock:
            return list(self._trips.values())

    def reset(self, name: str | None = None) -> list[str]:
        """Release one latched breaker (or all); returns the names released."""
        with self._lock:
            if name is None:
                released = list(self._trips)
                self._trips.clear()
                return released
            if name not in self._trips and name not in {b.name for b in self._breakers}:
                raise ValueError(f"unknown breaker {name!r}")
            return [name] if self._trips.pop(name, None) is not None else []

    def to_json(self) -> str:
        with self._lock:
            trips = [t.to_dict() for t in self._trips.values()]
        return json.dumps({"version": 1, "trips": trips}, sort_keys=True)

    def restore(self, data: str) -> BreakerBoard:
        """A new board with this one's breakers and the trips saved by `to_json`.

        This board is left untouched, so a damaged record (ValueError) restores nothing.
        """
        board = BreakerBoard(self._breakers)
        try:
            doc = json.loads(data)
            if not isinstance(doc, dict) or doc.get("version") != 1:
                raise ValueError("unsupported breaker record")
            for raw in doc["trips"]:
                trip = Trip(
                    name=str(raw["name"]),
                    value=float(raw["value"]),
                    threshold=float(raw["threshold"]),
                    unit=str(raw["unit"]),
                    action=str(raw["action"]),
                    at=float(raw["at"]),
                )
                board._trips[trip.name] = trip
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"breaker record is damaged: {exc}") from None
        return board
