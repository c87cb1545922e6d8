"""Tests for engine.market.regime: classification table, boundaries, bad input and the payload."""

from __future__ import annotations

import math

import pytest

from engine.market.regime import classify_regime, regime_payload
from engine.models import Regime


@pytest.mark.parametrize(
    ("vix", "expected"),
    [
        (0.01, Regime.ULTRA_LOW_VOL),
        (9.0, Regime.ULTRA_LOW_VOL),
        (11.999, Regime.ULTRA_LOW_VOL),
        (12.0, Regime.NORMAL_VOL),  # the lower boundary is NORMAL (strictly below is ULTRA_LOW)
        (17.2, Regime.NORMAL_VOL),
        (25.0, Regime.NORMAL_VOL),  # the upper boundary is NORMAL (strictly above is HIGH)
        (25.001, Regime.HIGH_VOL),
        (80.0, Regime.HIGH_VOL),
    ],
)
def test_classify_regime_with_default_thresholds(vix: float, expected: Regime) -> None:
    assert classify_regime(vix) is expected


@pytest.mark.parametrize(
    ("vix", "low", "high", "expected"),
    [
        (14.9, 15.0, 30.0, Regime.ULTRA_LOW_VOL),
        (15.0, 15.0, 30.0, Regime.NORMAL_VOL),
        (30.0, 15.0, 30.0, Regime.NORMAL_VOL),
        (30.5, 15.0, 30.0, Regime.HIGH_VOL),
        (20.0, 20.0, 20.0, Regime.NORMAL_VOL),  # equal thresholds leave a one-point band
    ],
)
def test_classify_regime_with_custom_thresholds(
    vix: float, low: float, high: float, expected: Regime
) -> None:
    assert classify_regime(vix, low, high) is expected


@pytest.mark.parametrize("vix", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_classify_regime_with_non_positive_or_non_finite_vix_then_value_error(
    vix: float,
) -> None:
    with pytest.raises(ValueError, match="VIX"):
        classify_regime(vix)


@pytest.mark.parametrize(
    ("low", "high"), [(25.0, 12.0), (0.0, 25.0), (-1.0, 25.0), (12.0, math.nan)]
)
def test_classify_regime_with_inconsistent_thresholds_then_value_error(
    low: float, high: float
) -> None:
    with pytest.raises(ValueError, match="thresholds"):
        classify_regime(17.0, low, high)


def test_regime_payload_matches_the_contract_shape() -> None:
    assert regime_payload(17.2, 12.0, 25.0) == {
        "regime": "NORMAL_VOL",
        "vix": 17.2,
        "thresholds": {"ultra_low_below": 12.0, "high_above": 25.0},
    }
    payload = regime_payload(30, 10, 20)
    assert payload == {
        "regime": "HIGH_VOL",
        "vix": 30.0,
        "thresholds": {"ultra_low_below": 10.0, "high_above": 20.0},
    }
    assert type(payload["regime"]) is str  # a plain string on the wire, not the enum


def test_regime_payload_before_first_vix_reading_then_nulls_and_thresholds() -> None:
    assert regime_payload(None, 12.0, 25.0) == {
        "regime": None,
        "vix": None,
        "thresholds": {"ultra_low_below": 12.0, "high_above": 25.0},
    }


def test_regime_payload_with_invalid_vix_then_value_error() -> None:
    with pytest.raises(ValueError):
        regime_payload(math.nan, 12.0, 25.0)
