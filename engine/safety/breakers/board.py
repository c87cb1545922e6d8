"""The breaker board: the configured breakers, their latched trips, and the trips' record."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from engine.safety.breakers.base import Breaker, SafetySnapshot, Trip, pct_of


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
                    "pct": pct_of(trip.value, trip.threshold),
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
