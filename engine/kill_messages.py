"""What the kill switch's and the reset's answers say happened, in one sentence for the page."""

from __future__ import annotations

from typing import Any

from engine.models import KillLevel


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def engage_message(
    asked: KillLevel, answer: dict[str, Any], *, closing: int, positions: int
) -> str:
    """The truth about an engage: what changed, or that nothing did and why."""
    state = answer.get("trading_state", "?")
    in_force = (answer.get("kill_switch") or {}).get("level") or "none"
    if not answer.get("changed"):
        return (
            f"Nothing changed: the kill switch is already at {in_force} (trading {state}); "
            f"{asked} is not above it."
        )
    cancelled = answer.get("cancelled")
    orders = "orders not confirmed" if cancelled is None else _count(cancelled, "order")
    parts = [f"Kill switch engaged ({asked}): {orders} cancelled"]
    if asked is KillLevel.FLATTEN:
        if positions == 0:
            parts.append("no open position to close")
        else:
            parts.append(
                f"closing {_count(positions, 'position')} ({_count(closing, 'close order')} sent)"
            )
    if asked is KillLevel.PAUSE:
        parts = [f"Kill switch engaged ({asked}): no new entries; open orders and exits continue"]
    return "; ".join(parts) + f". Trading {state} until an admin resets it."


def reset_message(answer: dict[str, Any], strategy: str) -> str:
    """A reset restores the trading state, not the bot: say when the bot stays stopped."""
    line = f"Kill switch reset: trading {answer.get('trading_state', '?')}."
    if strategy == "stopped":
        line += " The bot stays stopped: start it with Bot ▸ Start when you are ready."
    elif strategy == "none":
        line += " No strategy is configured: only manual orders trade."
    return line
