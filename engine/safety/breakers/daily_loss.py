"""Daily loss: the session's realized and unrealized loss against VIGIL_DAILY_LOSS_LIMIT."""

from __future__ import annotations

import math

from engine.safety.breakers.base import HALTED, Breaker, SafetySnapshot
from engine.safety.settings import LimitSettings


class DailyLossBreaker(Breaker):
    name = "daily_loss"
    description = "Session loss, realized and unrealized"
    unit = "$"
    action = HALTED

    def __init__(self, threshold: float = 1000.0) -> None:
        super().__init__(threshold)

    def measure(self, snapshot: SafetySnapshot) -> float:
        return max(-snapshot.daily_pnl, 0.0) if not math.isnan(snapshot.daily_pnl) else math.nan

    @classmethod
    def from_settings(cls, limits: LimitSettings) -> Breaker:
        return cls(limits.daily_loss_limit)
