"""Circuit breakers: one module per breaker, configured by name; each a pure function of a
snapshot and the time, built from the settings it reads (engine/safety/breakers/<name>.py).

Adding a breaker: a module here with a `Breaker` subclass (name, description, unit, action,
`measure`, and `from_settings` if it reads the limits) and one line in `BREAKER_TYPES`.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.safety.breakers.base import (
    Breaker,
    Reading,
    SafetySnapshot,
    Trip,
    format_amount,
)
from engine.safety.breakers.board import BreakerBoard
from engine.safety.breakers.daily_loss import DailyLossBreaker
from engine.safety.breakers.drawdown import DrawdownBreaker
from engine.safety.breakers.error_rate import ErrorRateBreaker
from engine.safety.breakers.max_positions import MaxPositionsBreaker
from engine.safety.breakers.order_rate import OrderRateBreaker
from engine.safety.breakers.rapid_loss import RapidLossBreaker
from engine.safety.breakers.stale_feed import StaleFeedBreaker
from engine.safety.settings import LimitSettings

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


def build_breakers(names: Sequence[str], limits: LimitSettings) -> list[Breaker]:
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
        breakers.append(BREAKER_TYPES[name].from_settings(limits))
    return breakers


__all__ = [
    "BREAKER_TYPES",
    "Breaker",
    "BreakerBoard",
    "DailyLossBreaker",
    "DrawdownBreaker",
    "ErrorRateBreaker",
    "MaxPositionsBreaker",
    "OrderRateBreaker",
    "RapidLossBreaker",
    "Reading",
    "SafetySnapshot",
    "StaleFeedBreaker",
    "Trip",
    "build_breakers",
    "format_amount",
]
