"""Drawdown: equity below its peak (5% by default)."""

from __future__ import annotations

from engine.safety.breakers.base import HALTED, Breaker, SafetySnapshot


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
