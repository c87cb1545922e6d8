"""The daily summary published at each session end: P&L, trades, win rate, largest loss, trips."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.models import ClosedTrade
from engine.payloads import ms


def daily_summary(
    session_start: float,
    session_end: float,
    pnl: float,
    trades: Iterable[ClosedTrade],
    breakers_tripped: Iterable[str],
) -> dict[str, Any]:
    """The `daily_summary` payload for the session [session_start, session_end)."""
    closed = [t for t in trades if session_start <= t.exit_ts < session_end]
    wins = sum(1 for t in closed if t.pnl > 0)
    losses = sum(1 for t in closed if t.pnl < 0)
    largest_loss = min((t.pnl for t in closed if t.pnl < 0), default=0.0)
    win_rate = wins / len(closed) if closed else None
    tripped = sorted(set(breakers_tripped))
    rate = "n/a" if win_rate is None else f"{win_rate:.0%}"
    message = (
        f"session closed: P&L {pnl:+.2f}, {len(closed)} trade(s), win rate {rate}, "
        f"largest loss {largest_loss:.2f}, breakers tripped: {', '.join(tripped) or 'none'}"
    )
    return {
        "session_start": ms(session_start),
        "session_end": ms(session_end),
        "pnl": round(pnl, 2),
        "trades": len(closed),
        "wins": wins,
        "losses": losses,
        "win_rate": win_rate,
        "largest_loss": round(largest_loss, 2),
        "breakers_tripped": tripped,
        "message": message,
    }
