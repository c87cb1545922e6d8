"""Stale feed: seconds without market data while positions are open."""

from __future__ import annotations

import math

from engine.safety.breakers.base import HALTED, Breaker, SafetySnapshot


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
