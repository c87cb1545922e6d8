"""Vigil's safety layer: the kill switch latch, the pre-trade gateway and circuit breakers."""

from engine.safety.breakers import (
    BREAKER_TYPES,
    Breaker,
    BreakerBoard,
    Reading,
    SafetySnapshot,
    Trip,
    build_breakers,
)
from engine.safety.checks import (
    CHECK_CODES,
    Denial,
    Limits,
    PreTradeContext,
    is_reducing,
    review_order,
)
from engine.safety.latch import KillSwitchLatch, LastReset, LatchCorrupt, LatchState

__all__ = [
    "BREAKER_TYPES",
    "CHECK_CODES",
    "Breaker",
    "BreakerBoard",
    "Denial",
    "KillSwitchLatch",
    "LastReset",
    "LatchCorrupt",
    "LatchState",
    "Limits",
    "PreTradeContext",
    "Reading",
    "SafetySnapshot",
    "Trip",
    "build_breakers",
    "is_reducing",
    "review_order",
]
