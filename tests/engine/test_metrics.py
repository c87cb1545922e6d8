"""Tests for engine.trading.metrics, each checked by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from engine.models import ClosedTrade
from engine.trading.metrics import (
    compute_performance,
    daily_returns,
    drawdowns,
    sharpe_ratio,
    sortino_ratio,
)

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday
HOUR = 3_600.0

PERFORMANCE_KEYS = {
    "trades",
    "wins",
    "losses",
    "win_rate",
    "avg_win",
    "avg_loss",
    "profit_factor",
    "expectancy",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_pct",
    "current_drawdown",
    "current_drawdown_pct",
    "total_pnl",
}


def trade(pnl: float, i: int = 0) -> ClosedTrade:
    return ClosedTrade("SPY", "long", 1.0, 500.0, 500.0 + pnl, pnl, 0.0, T0 + i, T0 + i + 60)


def test_compute_performance_with_empty_history_then_zeros_and_nones() -> None:
    assert compute_performance([], []) == {
        "trades": 0,
        "wins": 0,
        "losses": 0,
        "win_rate": None,
        "avg_win": None,
        "avg_loss": None,
        "profit_factor": None,
        "expectancy": None,
        "sharpe": None,
        "sortino": None,
        "max_drawdown": 0.0,
        "max_drawdown_pct": 0.0,
        "current_drawdown": 0.0,
        "current_drawdown_pct": 0.0,
        "total_pnl": 0.0,
    }


def test_compute_performance_matches_the_contract_example() -> None:
    # docs/EVENTS.md: 6 wins averaging 12, 4 losses averaging -8.
    trades = [trade(p, i) for i, p in enumerate([10, 14, 12, 11, 13, 12, -6, -10, -8, -8])]
    perf = compute_performance(trades, [])
    assert set(perf) == PERFORMANCE_KEYS
    assert (perf["trades"], perf["wins"], perf["losses"]) == (10, 6, 4)
    assert perf["win_rate"] == pytest.approx(0.6)  # 6 / 10
    assert perf["avg_win"] == pytest.approx(12.0)  # 72 / 6
    assert perf["avg_loss"] == pytest.approx(-8.0)  # -32 / 4
    assert perf["profit_factor"] == pytest.approx(2.25)  # 72 / 32
    assert perf["expectancy"] == pytest.approx(4.0)  # (72 - 32) / 10
    assert perf["total_pnl"] == pytest.approx(40.0)  # 72 - 32


def test_breakeven_trade_counts_in_trades_but_is_neither_win_nor_loss() -> None:
    perf = compute_performance([trade(10.0), trade(-5.0, 1), trade(0.0, 2)], [])
    assert (perf["trades"], perf["wins"], perf["losses"]) == (3, 1, 1)
    assert perf["win_rate"] == pytest.approx(1 / 3)  # 1 win / 3 trades
    assert perf["expectancy"] == pytest.approx(5 / 3)  # (10 - 5 + 0) / 3
    assert perf["profit_factor"] == pytest.approx(2.0)  # 10 / 5


def test_no_losses_then_profit_factor_none_and_no_wins_then_zero() -> None:
    only_wins = compute_performance([trade(3.0), trade(5.0, 1)], [])
    assert only_wins["profit_factor"] is None
    assert only_wins["avg_loss"] is None
    assert only_wins["avg_win"] == pytest.approx(4.0)  # (3 + 5) / 2
    only_losses = compute_performance([trade(-3.0), trade(-1.0, 1)], [])
    assert only_losses["profit_factor"] == 0.0  # 0 / 4
    assert only_losses["avg_loss"] == pytest.approx(-2.0)  # (-3 - 1) / 2
    assert only_losses["avg_win"] is None
    assert only_losses["win_rate"] == 0.0


def test_daily_returns_use_each_days_last_point_and_first_point_as_base() -> None:
    equity = [
        (T0, 100.0),  # day 1 opens at 100: the base of the first return
        (T0 + 12 * HOUR, 110.0),  # day 1 closes at 110 -> 110/100 - 1 = +0.10
        (T0 + DAY + 10 * HOUR, 99.0),  # day 2 closes at 99 -> 99/110 - 1 = -0.10
        (T0 + 2 * DAY + 10 * HOUR, 108.9),  # day 3 closes at 108.9 -> 108.9/99 - 1 = +0.10
    ]
    assert daily_returns(equity) == pytest.approx([0.10, -0.10, 0.10])
    assert daily_returns(list(reversed(equity))) == pytest.approx([0.10, -0.10, 0.10])
    assert daily_returns([]) == []


def test_daily_returns_group_days_in_the_given_time_zone() -> None:
    equity = [
        (T0 + 2 * HOUR, 100.0),  # 02:00Z Jan 1 = 21:00 Dec 31 in New York
        (T0 + 10 * HOUR, 110.0),  # 10:00Z Jan 1 = 05:00 Jan 1 in New York
        (T0 + 20 * HOUR, 121.0),  # 20:00Z Jan 1 = 15:00 Jan 1 in New York
    ]
    # UTC: one day, closes at 121 on a base of 100 -> [0.21].
    assert daily_returns(equity, "UTC") == pytest.approx([0.21])
    # New York: Dec 31 closes at 100 (100/100 - 1 = 0), Jan 1 at 121 (121/100 - 1 = 0.21).
    assert daily_returns(equity, "America/New_York") == pytest.approx([0.0, 0.21])


def test_sharpe_and_sortino_from_hand_computed_returns() -> None:
    returns = [0.10, -0.10, 0.10]
    # mean = 0.1/3 = 1/30; sample var = ((1/15)^2 + (2/15)^2 + (1/15)^2) / 2 = 6/450 = 1/75
    # sharpe = (1/30) / sqrt(1/75) * sqrt(252) = sqrt(75 * 252) / 30 = sqrt(18900) / 30
    assert sharpe_ratio(returns) == pytest.approx(math.sqrt(18_900) / 30)  # ~4.5826
    # downside dev = sqrt((0 + 0.01 + 0) / 3) = sqrt(1/300)
    # sortino = (1/30) / sqrt(1/300) * sqrt(252) = sqrt(300 * 252) / 30 = sqrt(75600) / 30
    assert sortino_ratio(returns) == pytest.approx(math.sqrt(75_600) / 30)  # ~9.1652


def test_sharpe_and_sortino_with_too_few_or_flat_returns_then_none() -> None:
    assert sharpe_ratio([]) is None
    assert sharpe_ratio([0.05]) is None
    assert sortino_ratio([-0.05]) is None
    assert sharpe_ratio([0.0, 0.0, 0.0]) is None  # zero standard deviation
    assert sortino_ratio([0.01, 0.02]) is None  # no losing day: zero downside deviation
    # Sharpe still exists for the all-gains case: mean 0.015, sd = sqrt(0.00005) = 0.0070711
    assert sharpe_ratio([0.01, 0.02]) == pytest.approx(0.015 / math.sqrt(0.00005) * math.sqrt(252))


def test_compute_performance_derives_sharpe_sortino_from_daily_equity() -> None:
    equity = [
        (T0, 100.0),
        (T0 + 12 * HOUR, 110.0),
        (T0 + DAY + 10 * HOUR, 99.0),
        (T0 + 2 * DAY + 10 * HOUR, 108.9),
    ]  # daily returns +0.10, -0.10, +0.10 as in the test above
    perf = compute_performance([], equity)
    assert perf["sharpe"] == pytest.approx(math.sqrt(18_900) / 30)
    assert perf["sortino"] == pytest.approx(math.sqrt(75_600) / 30)


def test_compute_performance_with_one_day_of_equity_then_ratios_none() -> None:
    equity = [(T0, 100.0), (T0 + HOUR, 90.0), (T0 + 2 * HOUR, 120.0)]  # one return: +0.20
    perf = compute_performance([], equity)
    assert perf["sharpe"] is None
    assert perf["sortino"] is None


def test_drawdowns_from_running_peak() -> None:
    values = [100.0, 120.0, 90.0, 130.0, 117.0, 125.0]
    # peak:     100    120    120   130    130    130
    # drawdown:   0      0     30     0     13      5
    # fraction:   0      0   0.25     0    0.1  5/130
    equity = [(T0 + i * HOUR, v) for i, v in enumerate(values)]
    assert drawdowns(equity) == pytest.approx(
        {
            "max_drawdown": 30.0,
            "max_drawdown_pct": 0.25,
            "current_drawdown": 5.0,
            "current_drawdown_pct": 5 / 130,
        }
    )
    assert drawdowns(list(reversed(equity))) == drawdowns(equity)


def test_max_drawdown_and_max_drawdown_pct_can_come_from_different_points() -> None:
    values = [100.0, 50.0, 1000.0, 900.0]
    # drawdowns: 0, 50 (50/100 = 0.5), 0, 100 (100/1000 = 0.1): largest amount is 100,
    # largest fraction is 0.5; the last point is 100 (0.1) below its peak.
    equity = [(T0 + i * HOUR, v) for i, v in enumerate(values)]
    assert drawdowns(equity) == pytest.approx(
        {
            "max_drawdown": 100.0,
            "max_drawdown_pct": 0.5,
            "current_drawdown": 100.0,
            "current_drawdown_pct": 0.1,
        }
    )


def test_compute_performance_reports_drawdowns_of_the_equity_series() -> None:
    equity = [(T0, 100_000.0), (T0 + HOUR, 100_040.0), (T0 + 2 * HOUR, 100_000.0)]
    perf = compute_performance([], equity)
    assert perf["max_drawdown"] == pytest.approx(40.0)  # 100040 - 100000
    assert perf["max_drawdown_pct"] == pytest.approx(40 / 100_040)
    assert perf["current_drawdown"] == pytest.approx(40.0)
    assert perf["current_drawdown_pct"] == pytest.approx(40 / 100_040)
