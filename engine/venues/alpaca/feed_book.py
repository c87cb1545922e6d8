"""Alpaca's crypto order books ("o" messages: a full book when `r` is true, else changed levels,
size 0 removing a level) kept per symbol and handed on as the engine's OrderBook, top levels."""

from __future__ import annotations

from typing import Any

from engine.models import BookLevel, OrderBook
from engine.venues.alpaca.data import number
from engine.venues.alpaca.feed_stream import message_time

DEPTH = 10


class CryptoBooks:
    """Every subscribed pair's book, rebuilt from Alpaca's snapshots and updates."""

    def __init__(self) -> None:
        self._bids: dict[str, dict[float, float]] = {}
        self._asks: dict[str, dict[float, float]] = {}

    def apply(self, msg: dict[str, Any]) -> OrderBook:
        """Apply one message; the book after it. A malformed message raises ValueError and
        changes nothing; an update before any snapshot builds from empty (Alpaca starts every
        subscription with a snapshot)."""
        symbol = msg.get("S")
        if not isinstance(symbol, str) or not symbol:
            raise ValueError("no symbol")
        ts = message_time(msg.get("t"))
        bids, asks = _levels(msg.get("b")), _levels(msg.get("a"))
        if msg.get("r"):
            self._bids[symbol], self._asks[symbol] = {}, {}
        for side, changes in ((self._bids, bids), (self._asks, asks)):
            book = side.setdefault(symbol, {})
            for price, size in changes:
                if size == 0:
                    book.pop(price, None)
                else:
                    book[price] = size
        top_bids = sorted(self._bids[symbol].items(), reverse=True)[:DEPTH]
        top_asks = sorted(self._asks[symbol].items())[:DEPTH]
        return OrderBook(
            symbol,
            tuple(BookLevel(p, s) for p, s in top_bids),
            tuple(BookLevel(p, s) for p, s in top_asks),
            ts,
        )


def _levels(raw: Any) -> list[tuple[float, float]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("book levels are not a list")
    levels = []
    for level in raw:
        if not isinstance(level, dict):
            raise ValueError("a book level is not an object")
        levels.append(
            (number(level.get("p"), "price"), number(level.get("s"), "size", positive=False))
        )
    return levels
