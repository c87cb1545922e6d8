"""Polygon's stocks messages (as massive parses them) -> Vigil's Quote, TradeTick and BarEvent.

Every field is checked: a missing, non-numeric, non-finite or non-positive price, size or time
drops the message (a crossed quote too) rather than reaching the engine. Polygon does not say
who initiated a trade, so a trade at or above the mid (or, before any quote, an uptick) counts
as a buy. A second aggregate (A) builds the forming minute's bar; the minute aggregate (AM) is
the authority for its minute, and a second aggregate arriving after it is ignored.
"""

from __future__ import annotations

import math
from typing import Any

from massive.websocket.models import EquityAgg, EquityQuote, EquityTrade

from engine.models import BarEvent, Quote, Side, TradeTick

StockEvent = Quote | TradeTick | BarEvent


def num(value: Any) -> float | None:
    """A finite positive number, or None (a field Polygon left out or sent broken)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0 else None


def minute_bar(
    symbol: str, start_ms: Any, o: Any, h: Any, lo: Any, c: Any, v: Any, *, closed: bool
) -> BarEvent | None:
    """A 1-minute BarEvent from an aggregate's fields (REST Agg or websocket AM)."""
    values = [num(x) for x in (start_ms, o, h, lo, c)]
    if any(x is None for x in values) or (v is not None and not isinstance(v, int | float)):
        return None
    ts, open_, high, low, close = values  # type: ignore[misc]
    minute = float(int(ts / 1000) // 60 * 60)
    return BarEvent(symbol, minute, open_, high, low, close, float(v or 0), closed)


class StockEvents:
    """The conversion, with the little state it needs per symbol (one stream thread uses it)."""

    def __init__(self) -> None:
        self._mid: dict[str, float] = {}
        self._last_price: dict[str, float] = {}
        self._forming: dict[str, list[float]] = {}  # symbol -> [minute, o, h, l, c, v]
        self._closed_minute: dict[str, float] = {}  # symbol -> newest AM bar's minute

    def convert(self, msg: Any) -> list[StockEvent]:
        symbol = getattr(msg, "symbol", None)
        if not isinstance(symbol, str):
            return []
        if isinstance(msg, EquityQuote):
            return self._quote(symbol, msg)
        if isinstance(msg, EquityTrade):
            return self._trade(symbol, msg)
        if isinstance(msg, EquityAgg) and msg.event_type == "AM":
            return self._minute_agg(symbol, msg)
        if isinstance(msg, EquityAgg) and msg.event_type == "A":
            return self._second_agg(symbol, msg)
        return []

    def _quote(self, symbol: str, q: EquityQuote) -> list[StockEvent]:
        bid, ask, ts = num(q.bid_price), num(q.ask_price), num(q.timestamp)
        if bid is None or ask is None or ts is None or ask < bid:
            return []
        self._mid[symbol] = (bid + ask) / 2
        sizes = num(q.bid_size) or 0.0, num(q.ask_size) or 0.0
        return [Quote(symbol, bid, ask, sizes[0], sizes[1], ts / 1000)]

    def _trade(self, symbol: str, t: EquityTrade) -> list[StockEvent]:
        price, size, ts = num(t.price), num(t.size), num(t.timestamp)
        if price is None or size is None or ts is None:
            return []
        ref = self._mid.get(symbol, self._last_price.get(symbol, price))
        self._last_price[symbol] = price
        side = Side.BUY if price >= ref else Side.SELL
        return [TradeTick(symbol, price, size, side, ts / 1000)]

    def _minute_agg(self, symbol: str, a: EquityAgg) -> list[StockEvent]:
        bar = minute_bar(symbol, a.start_timestamp, a.open, a.high, a.low, a.close, a.volume,
                         closed=True)  # fmt: skip
        if bar is None:
            return []
        self._closed_minute[symbol] = max(self._closed_minute.get(symbol, 0.0), bar.ts)
        forming = self._forming.get(symbol)
        if forming is not None and forming[0] <= bar.ts:
            del self._forming[symbol]
        return [bar]

    def _second_agg(self, symbol: str, a: EquityAgg) -> list[StockEvent]:
        o, h, lo, c, start = (num(x) for x in (a.open, a.high, a.low, a.close, a.start_timestamp))
        if o is None or h is None or lo is None or c is None or start is None:
            return []
        volume = num(a.volume) or 0.0
        minute = float(int(start / 1000) // 60 * 60)
        if minute <= self._closed_minute.get(symbol, -1.0):
            return []  # the minute's own aggregate has come: it is the authority
        bar = self._forming.get(symbol)
        if bar is None or bar[0] != minute:
            bar = self._forming[symbol] = [minute, o, h, lo, c, volume]
        else:
            bar[2], bar[3], bar[4] = max(bar[2], h), min(bar[3], lo), c
            bar[5] += volume
        return [BarEvent(symbol, bar[0], bar[1], bar[2], bar[3], bar[4], bar[5], closed=False)]
