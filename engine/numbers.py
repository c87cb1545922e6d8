"""Rounding a price or quantity to its instrument's step, for what people read (CSV, audit)."""

from __future__ import annotations

import math


def step_digits(step: float | None) -> int | None:
    """Decimals of a step: 0.01 -> 2, 1 -> 0, 0.00001 -> 5; None for no usable step."""
    if step is None or not math.isfinite(step) or step <= 0:
        return None
    for digits in range(11):
        scaled = step * 10**digits
        if abs(round(scaled) - scaled) < 1e-6:
            return digits
    return 10


def price_round(value: float, tick: float | None) -> float:
    """A price at its tick's decimals (a paper fill's 499.74997 reads 499.75), else 8."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return value
    digits = step_digits(tick)
    return round(value, 8 if digits is None else max(digits, 2))


def step_round(value: float, step: float | None, *, fallback: int = 8) -> float:
    """A quantity at the step's decimals (0.12200000000000001 -> 0.122 with a 0.001 step);
    without a step, or for a value that is really off the step (not float noise: 0.5 of a
    1-lot), at `fallback` decimals, which still drops float noise."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return value
    digits = step_digits(step)
    if digits is not None:
        rounded = round(value, digits)
        if abs(rounded - value) <= 1e-9 * max(1.0, abs(value)):
            return int(rounded) if digits == 0 else rounded
    return round(value, fallback)
