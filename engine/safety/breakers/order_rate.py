"""Order rate: a runaway-loop guard at twice the pre-trade order-rate limit."""

from __future__ import annotations

from engine.safety.breakers.base import (
    HALTED,
    Breaker,
    SafetySnapshot,
    count_since,
)
from engine.safety.settings import LimitSettings


class OrderRateBreaker(Breaker):
    name = "order_rate"
    description = "Orders within the window (runaway-loop guard)"
    unit = "orders"
    action = HALTED

    def __init__(self, threshold: float = 40, window_s: float = 60.0) -> None:
        super().__init__(threshold)
        self.window_s = window_s

    def measure(self, snapshot: SafetySnapshot) -> float:
        return float(count_since(snapshot.order_times, snapshot.now - self.window_s))

    @classmethod
    def from_settings(cls, limits: LimitSettings) -> Breaker:
        return cls(2 * limits.order_rate_max, limits.order_rate_window_s)
