"""Error rate: engine and venue errors within a window (3 in 5 min by default)."""

from __future__ import annotations

from engine.safety.breakers.base import HALTED, Breaker, SafetySnapshot, count_since


class ErrorRateBreaker(Breaker):
    name = "error_rate"
    description = "Errors within the window"
    unit = "errors"
    action = HALTED

    def __init__(self, threshold: float = 3, window_s: float = 300.0) -> None:
        super().__init__(threshold)
        self.window_s = window_s

    def measure(self, snapshot: SafetySnapshot) -> float:
        return float(count_since(snapshot.error_times, snapshot.now - self.window_s))
