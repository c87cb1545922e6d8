"""Rounding prices and quantities to their instrument's step for what people read."""

from __future__ import annotations

import math

from engine.numbers import price_round, step_digits, step_round


def test_step_digits_then_decimals_of_the_step() -> None:
    assert [step_digits(s) for s in (0.01, 1, 0.00001, 0.5, 1000)] == [2, 0, 5, 1, 0]
    assert step_digits(None) is None and step_digits(0) is None and step_digits(-1) is None


def test_step_round_then_float_noise_gone_and_real_fractions_kept() -> None:
    assert step_round(0.12200000000000001, 0.001) == 0.122
    assert step_round(3.0000000000000004, 1) == 3 and isinstance(step_round(3.0, 1), int)
    assert step_round(0.5, 1) == 0.5  # a real half share is not rounded to 0 or 1
    assert step_round(0.12200000000000001, None) == 0.122
    assert math.isnan(step_round(float("nan"), 0.01))


def test_price_round_then_tick_decimals_at_least_cents() -> None:
    assert price_round(499.74997, 0.01) == 499.75
    assert price_round(1.100004, 0.00001) == 1.1
    assert price_round(501.0, 1) == 501.0
    assert price_round(0.123456789, None) == 0.12345679
