"""RealizedVolProxy: VIX points from 1-minute closes, gaps, revisions, the basket, the floor."""

from __future__ import annotations

import math

import pytest

from engine.market.regime import classify_regime
from engine.market.vol_proxy import EQUITY_MINUTES_PER_YEAR, RealizedVolProxy
from engine.models import Regime

T0 = 1_767_225_600.0  # a minute boundary


def feed(proxy: RealizedVolProxy, symbol: str, returns: list[float], start: float = T0) -> float:
    price = 100.0
    proxy.add_bar(symbol, start, price)
    for i, r in enumerate(returns, 1):
        price *= math.exp(r)
        proxy.add_bar(symbol, start + 60 * i, price)
    return price


def test_value_when_returns_alternate_then_annualised_in_vix_points() -> None:
    proxy = RealizedVolProxy(window=100, min_returns=20)
    feed(proxy, "SPY", [0.0005 * (-1) ** i for i in range(100)])
    expected = 0.0005 * math.sqrt(EQUITY_MINUTES_PER_YEAR) * 100  # 15.67
    assert proxy.value() == pytest.approx(expected, abs=0.01)
    assert classify_regime(proxy.value() or 0) is Regime.NORMAL_VOL


def test_value_before_min_returns_then_none() -> None:
    proxy = RealizedVolProxy(min_returns=20)
    feed(proxy, "SPY", [0.001] * 19)
    assert proxy.value() is None
    feed(proxy, "QQQ", [0.001])  # another symbol's minute counts once it is a new minute
    assert proxy.value() is None


def test_value_when_symbols_move_opposite_then_the_basket_is_calm() -> None:
    proxy = RealizedVolProxy(window=50, min_returns=10)
    moves = [0.002 * (-1) ** i for i in range(50)]
    feed(proxy, "AAA", moves)
    feed(proxy, "BBB", [-m for m in moves])
    assert proxy.value() == 0.01  # the floor: the classifier refuses 0


def test_overnight_gap_is_skipped_and_a_short_gap_scaled() -> None:
    proxy = RealizedVolProxy(window=100, min_returns=10, max_gap_min=15)
    last = feed(proxy, "SPY", [0.001 * (-1) ** i for i in range(30)])
    before = proxy.value()
    # Next morning, 10 % higher: not a minute's volatility.
    proxy.add_bar("SPY", T0 + 60 * 30 + 17 * 3600, last * 1.1)
    assert proxy.value() == before
    # A 4-minute gap with a 0.2 % move counts as 0.1 % per sqrt(minute): unchanged level.
    proxy2 = RealizedVolProxy(window=100, min_returns=10)
    p = feed(proxy2, "SPY", [0.001] * 20)
    v = proxy2.value()
    proxy2.add_bar("SPY", T0 + 60 * 24, p * math.exp(0.002))
    assert proxy2.value() == pytest.approx(v, abs=0.01)


def test_a_revised_minute_replaces_its_return_and_old_minutes_are_ignored() -> None:
    proxy = RealizedVolProxy(window=100, min_returns=10)
    price = feed(proxy, "SPY", [0.0] * 20)
    assert proxy.value() == 0.01
    proxy.add_bar("SPY", T0 + 60 * 20, price * 1.5)  # the newest minute revised
    revised = proxy.value()
    assert revised is not None and revised > 100
    proxy.add_bar("SPY", T0 + 60 * 20, price)  # revised back
    assert proxy.value() == 0.01
    proxy.add_bar("SPY", T0, 1.0)  # an old minute changes nothing
    assert proxy.value() == 0.01


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_bad_closes_are_ignored(bad: float) -> None:
    proxy = RealizedVolProxy(window=10, min_returns=2)
    feed(proxy, "SPY", [0.001, -0.001, 0.001])
    before = proxy.value()
    proxy.add_bar("SPY", T0 + 600, bad)
    assert proxy.value() == before
