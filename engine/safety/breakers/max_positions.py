"""Max positions: open positions against VIGIL_MAX_POSITIONS (REDUCING beyond)."""

from __future__ import annotations

from engine.safety.breakers.base import REDUCING, Breaker, SafetySnapshot
from engine.safety.settings import LimitSettings


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

    @classmethod
    def from_settings(cls, limits: LimitSettings) -> Breaker:
        return cls(limits.max_positions)
