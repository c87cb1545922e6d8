"""Alpaca's market clock as last read (GET /v2/clock at start and every minute): whether
the US market is open, and what that means for a market order."""

from __future__ import annotations

from typing import Any

from engine.venues.alpaca.convert import iso, ts_of


class MarketClock:
    """Alpaca's market clock as last read: open or not, and when that changes."""

    def __init__(self) -> None:
        self.known = False
        self.is_open = True
        self.next_open = 0.0
        self.next_close = 0.0

    def update(self, raw: dict[str, Any]) -> None:
        self.is_open = bool(raw.get("is_open"))
        self.next_open = ts_of(raw.get("next_open"))
        self.next_close = ts_of(raw.get("next_close"))
        self.known = True

    def closed_reason(self) -> str:
        """Why a market order would be queued now (Alpaca holds it for the open); empty
        while the market is open or the clock has not been read."""
        if not self.known or self.is_open:
            return ""
        opens = iso(self.next_open) if self.next_open else "the next session"
        return (
            f"the US market is closed (opens {opens}): Alpaca would queue this market order; "
            "use a limit order, or set VIGIL_ALPACA_EXTENDED_HOURS=1 to allow it"
        )
