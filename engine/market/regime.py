"""Volatility regime from the VIX level, and the `regime` payload the page shows."""

from __future__ import annotations

import math
from typing import Any

from engine.models import Regime


def _check_thresholds(ultra_low_below: float, high_above: float) -> None:
    if not (math.isfinite(ultra_low_below) and math.isfinite(high_above)):
        raise ValueError("regime thresholds must be finite")
    if not 0 < ultra_low_below <= high_above:
        raise ValueError(
            f"regime thresholds must satisfy 0 < ultra_low_below <= high_above "
            f"(got {ultra_low_below!r}, {high_above!r})"
        )


def classify_regime(vix: float, ultra_low_below: float = 12.0, high_above: float = 25.0) -> Regime:
    """ULTRA_LOW_VOL when vix < ultra_low_below, HIGH_VOL when vix > high_above, else NORMAL_VOL.

    Both boundaries belong to NORMAL_VOL. A VIX that is not a finite positive number is a bad
    feed value, not a calm market, so it raises ValueError instead of being classified.
    """
    _check_thresholds(ultra_low_below, high_above)
    if not math.isfinite(vix) or vix <= 0:
        raise ValueError(f"VIX must be a finite positive number (got {vix!r})")
    if vix < ultra_low_below:
        return Regime.ULTRA_LOW_VOL
    if vix > high_above:
        return Regime.HIGH_VOL
    return Regime.NORMAL_VOL


def regime_payload(
    vix: float | None, ultra_low_below: float = 12.0, high_above: float = 25.0
) -> dict[str, Any]:
    """The `regime` object of docs/EVENTS.md.

    `{"regime": "NORMAL_VOL", "vix": 17.2, "thresholds": {"ultra_low_below": 12.0,
    "high_above": 25.0}}`. Before the first VIX reading (`vix` None) both `regime` and `vix`
    are None, so the snapshot keeps its shape. An invalid VIX raises ValueError.
    """
    _check_thresholds(ultra_low_below, high_above)
    regime = None if vix is None else classify_regime(vix, ultra_low_below, high_above).value
    return {
        "regime": regime,
        "vix": None if vix is None else float(vix),
        "thresholds": {"ultra_low_below": float(ultra_low_below), "high_above": float(high_above)},
    }
