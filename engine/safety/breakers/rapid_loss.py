"""Rapid loss: equity lost within a window (2% in 15 min by default)."""

from __future__ import annotations

from engine.safety.breakers.base import HALTED, Breaker, SafetySnapshot


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
