"""The daily summary: published once at the session's end with the session's own figures."""

from __future__ import annotations

from engine.models import ClosedTrade
from engine.trading.session import session_start
from engine.trading.summary import daily_summary
from tests.conftest import SyncEngine


def _trade(pnl: float, exit_ts: float) -> ClosedTrade:
    return ClosedTrade("SPY", "long", 1, 100, 100 + pnl, pnl, 0.0, exit_ts - 10, exit_ts)


def test_summary_then_counts_only_the_sessions_trades_with_win_rate_and_largest_loss() -> None:
    trades = [
        _trade(5, 50),
        _trade(-2, 1_100),
        _trade(3, 1_200),
        _trade(-7, 1_300),
        _trade(-1, 2_100),
    ]

    summary = daily_summary(1_000, 2_000, -6.0, trades, ["rapid_loss", "drawdown", "rapid_loss"])

    assert summary["trades"] == 3 and summary["wins"] == 1 and summary["losses"] == 2
    assert summary["win_rate"] == 1 / 3 and summary["largest_loss"] == -7.0
    assert summary["pnl"] == -6.0 and summary["breakers_tripped"] == ["drawdown", "rapid_loss"]
    assert summary["session_start"] == 1_000_000 and summary["session_end"] == 2_000_000
    assert "win rate 33%" in summary["message"]


def test_no_trades_then_win_rate_none_and_no_loss() -> None:
    summary = daily_summary(0, 10, 0.0, [], [])

    assert summary["win_rate"] is None and summary["largest_loss"] == 0.0
    assert "win rate n/a" in summary["message"] and "breakers tripped: none" in summary["message"]


def test_session_rolls_over_then_one_daily_summary_with_the_closed_trade(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    assert engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 1})["ok"]
    engine.market(1)
    assert engine.do("close_position", {"symbol": "QQQ"})["ok"]
    engine.market(1)
    tz = engine.parts.settings.session.tz
    now = engine.clock.time()
    next_start = session_start(now + 86_400, tz)
    if next_start <= now:  # now is right after a session start: the next is a day later
        next_start = session_start(now + 2 * 86_400, tz)

    engine.clock.set(next_start - 5)
    engine.rt.run_once()
    before = engine.topics("daily_summary")
    engine.clock.set(next_start + 1)
    engine.rt.run_once()
    engine.clock.advance(1)
    engine.rt.run_once()

    assert before == []
    [summary] = engine.topics("daily_summary")
    assert summary["trades"] == 1 and summary["losses"] + summary["wins"] == 1
    assert summary["session_end"] == int(next_start * 1000)
    assert any(p.get("kind") == "session_end" for p in engine.topics("system"))
