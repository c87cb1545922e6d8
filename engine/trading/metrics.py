"""Performance statistics over closed trades and an equity series, as pure functions."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.models import ClosedTrade

TRADING_DAYS_PER_YEAR = 252

EquityPoint = tuple[float, float]  # (epoch seconds, equity)


def daily_returns(equity: Sequence[EquityPoint], tz: str = "UTC") -> list[float]:
    """Simple returns between the closing equity of consecutive calendar days in `tz`.

    Points are grouped by their calendar day in `tz`; a day's equity is its last point (by
    time). return_d = eq_d / eq_{d-1} - 1, where the base for the first day is the first
    point of the series, so a series that moves within its first day yields one return.
    Days with no points are simply absent (no zero return is invented for a weekend). A
    return whose base is not positive is undefined and left out.
    """
    if not equity:
        return []
    zone = ZoneInfo(tz)
    points = sorted(equity, key=lambda p: p[0])
    closes: dict[date, float] = {}
    for ts, value in points:
        closes[datetime.fromtimestamp(ts, zone).date()] = value  # later points overwrite
    returns: list[float] = []
    base = points[0][1]
    for close in closes.values():
        if base > 0:
            returns.append(close / base - 1.0)
        base = close
    return returns


def sharpe_ratio(
    returns: Sequence[float], periods_per_year: int = TRADING_DAYS_PER_YEAR
) -> float | None:
    """Annualised Sharpe ratio with a zero risk-free rate.

    mean(r) / stdev(r) * sqrt(periods_per_year), with the sample standard deviation
    (ddof=1). None with fewer than 2 returns or a zero standard deviation.
    """
    if len(returns) < 2:
        return None
    deviation = statistics.stdev(returns)
    if deviation == 0:
        return None
    return statistics.fmean(returns) / deviation * math.sqrt(periods_per_year)


def sortino_ratio(
    returns: Sequence[float], periods_per_year: int = TRADING_DAYS_PER_YEAR
) -> float | None:
    """Annualised Sortino ratio with a zero target.

    mean(r) / downside deviation * sqrt(periods_per_year), where the downside deviation is
    sqrt(mean(min(r, 0)^2)) taken over all periods (gains count as zero, not dropped). None
    with fewer than 2 returns or no losing period (zero downside deviation).
    """
    if len(returns) < 2:
        return None
    downside = math.sqrt(statistics.fmean(min(r, 0.0) ** 2 for r in returns))
    if downside == 0:
        return None
    return statistics.fmean(returns) / downside * math.sqrt(periods_per_year)


def drawdowns(equity: Sequence[EquityPoint]) -> dict[str, float]:
    """Drawdowns from the running peak of the equity series (taken in time order).

    At each point, drawdown = peak_so_far - equity and drawdown_pct = drawdown / peak_so_far
    (a fraction: 0.05 is 5%). Returns:

    - max_drawdown: the largest drawdown at any point;
    - max_drawdown_pct: the largest fractional drawdown at any point; it can come from a
      different point than max_drawdown, because the peak it divides by differs;
    - current_drawdown / current_drawdown_pct: the drawdown at the last point.

    All are 0.0 for an empty series. A fraction is 0.0 while the peak is not positive, where
    a percentage of the peak means nothing.
    """
    result = {
        "max_drawdown": 0.0,
        "max_drawdown_pct": 0.0,
        "current_drawdown": 0.0,
        "current_drawdown_pct": 0.0,
    }
    peak = -math.inf
    for _ts, value in sorted(equity, key=lambda p: p[0]):
        peak = max(peak, value)
        drawdown = peak - value
        fraction = drawdown / peak if peak > 0 else 0.0
        result["max_drawdown"] = max(result["max_drawdown"], drawdown)
        result["max_drawdown_pct"] = max(result["max_drawdown_pct"], fraction)
        result["current_drawdown"] = drawdown
        result["current_drawdown_pct"] = fraction
    return result


def compute_performance(
    trades: Sequence[ClosedTrade], equity: Sequence[EquityPoint], tz: str = "UTC"
) -> dict[str, Any]:
    """The `performance` object of docs/EVENTS.md.

    From the closed trades (pnl is net of fees):

    - trades: number of closed trades.
    - wins / losses: trades with pnl > 0 / pnl < 0. A trade with pnl == 0 (breakeven) is
      neither, but it still counts in `trades`, so wins + losses can be less than trades.
    - win_rate: wins / trades (a fraction, 0..1); None with no trades.
    - avg_win: mean pnl of the winning trades; None with no wins.
    - avg_loss: mean pnl of the losing trades, a negative number; None with no losses.
    - profit_factor: gross wins / |gross losses|; None when there are no losses (it would
      be infinite or undefined), 0.0 when there are losses but no wins.
    - expectancy: mean pnl per closed trade (breakevens included); None with no trades.
    - total_pnl: sum of trade pnl; 0.0 with no trades.

    From the equity series ((epoch seconds, equity) points):

    - sharpe / sortino: annualised from daily returns in `tz`, see `daily_returns`,
      `sharpe_ratio` and `sortino_ratio`; None with fewer than 2 daily returns or a zero
      deviation.
    - max_drawdown, max_drawdown_pct, current_drawdown, current_drawdown_pct: see
      `drawdowns`; money amounts and fractions of the running peak, 0.0 with no equity.
    """
    pnls = [t.pnl for t in trades]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_win = math.fsum(wins)
    gross_loss = math.fsum(losses)
    returns = daily_returns(equity, tz)
    return {
        "trades": len(pnls),
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": len(wins) / len(pnls) if pnls else None,
        "avg_win": gross_win / len(wins) if wins else None,
        "avg_loss": gross_loss / len(losses) if losses else None,
        "profit_factor": gross_win / abs(gross_loss) if losses else None,
        "expectancy": math.fsum(pnls) / len(pnls) if pnls else None,
        "sharpe": sharpe_ratio(returns),
        "sortino": sortino_ratio(returns),
        **drawdowns(equity),
        "total_pnl": math.fsum(pnls),
    }


def performance_by_strategy(
    trades: dict[str, Sequence[ClosedTrade]],
) -> dict[str, dict[str, Any]]:
    """Each strategy's trade statistics (compute_performance without an equity series: a
    strategy has no account of its own): trades, wins, losses, win_rate, profit_factor,
    expectancy, total_pnl."""
    keep = ("trades", "wins", "losses", "win_rate", "profit_factor", "expectancy", "total_pnl")
    out = {}
    for name, rows in trades.items():
        full = compute_performance(rows, [])
        out[name] = {k: full[k] for k in keep}
    return out
