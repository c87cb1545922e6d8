"""MarketView: the engine's picture of each symbol: quotes, last trades, 24 h stats, bars."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engine.clock import Clock
from engine.market.bars import BarAggregator, TickCache
from engine.models import BarEvent, Instrument, Quote, TradeTick

DAY_S = 86_400.0
MARKER_LIMIT = 500


@dataclass
class _SymbolStats:
    last: float | None = None
    quote: Quote | None = None
    # (minute bucket start, first price, volume) for the rolling 24 h change and volume.
    minutes: deque[list[float]] = field(default_factory=lambda: deque(maxlen=1440))
    markers: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MARKER_LIMIT))
    volume_24h: float = 0.0
    last_bar_t: float = float("-inf")  # the newest provider 1m bar's bucket


class MarketView:
    """Owned by the engine thread. Everything a market widget or a chart needs, per symbol."""

    def __init__(self, instruments: dict[str, Instrument], clock: Clock | None = None) -> None:
        self.instruments = instruments
        # With a clock, `last_data_ts` is when data last *arrived* (the engine's time), so the
        # stale-feed breaker works for a feed whose events carry another time (a replay).
        self._clock = clock
        self.symbols = list(instruments)
        self._stats = {symbol: _SymbolStats() for symbol in instruments}
        self.bars = BarAggregator(self.symbols)
        self.ticks = TickCache()
        self.last_data_ts: float | None = None

    def on_trade(self, tick: TradeTick) -> list[tuple[str, Any, bool]]:
        stats = self._stats.get(tick.symbol)
        if stats is None:
            return []
        stats.last = tick.price
        bucket = tick.ts - tick.ts % 60
        stats.volume_24h += tick.size
        if stats.minutes and stats.minutes[-1][0] == bucket:
            stats.minutes[-1][2] += tick.size
        else:
            if len(stats.minutes) == stats.minutes.maxlen:
                stats.volume_24h -= stats.minutes[0][2]
            stats.minutes.append([bucket, tick.price, tick.size])
            while stats.minutes and stats.minutes[0][0] < tick.ts - DAY_S:
                stats.volume_24h -= stats.minutes.popleft()[2]
        self.ticks.add(tick)
        self.last_data_ts = self._clock.time() if self._clock else tick.ts
        return self.bars.on_trade(tick)

    def on_bar(self, bar: BarEvent) -> tuple[list[tuple[str, Any, bool]], bool]:
        """A provider's 1m bar, the authority for its minute (see BarAggregator.on_bar): the
        bars changed, and whether it is the symbol's newest minute (its close is the price)."""
        stats = self._stats.get(bar.symbol)
        if stats is None:
            return [], False
        updates = self.bars.on_bar(bar)
        if not updates:
            return [], False
        bucket = bar.ts - bar.ts % 60
        minutes = stats.minutes
        # Not the newest when trades have moved on to a later minute (their price is newer).
        latest = bucket >= stats.last_bar_t and (not minutes or bucket >= minutes[-1][0])
        if latest:
            stats.last_bar_t = bucket
            stats.last = bar.close
        # The 24 h change and volume: the provider's minute replaces what trades made of it.
        row = next((r for r in reversed(minutes) if r[0] <= bucket), None)
        if row is not None and row[0] == bucket:
            stats.volume_24h += bar.volume - row[2]
            row[1], row[2] = bar.open, bar.volume
        elif not minutes or bucket > minutes[-1][0]:
            if len(minutes) == minutes.maxlen:
                stats.volume_24h -= minutes[0][2]
            minutes.append([bucket, bar.open, bar.volume])
            stats.volume_24h += bar.volume
            while minutes and minutes[0][0] < bucket - DAY_S:
                stats.volume_24h -= minutes.popleft()[2]
        self.last_data_ts = self._clock.time() if self._clock else bar.ts
        return updates, latest

    def on_quote(self, quote: Quote) -> None:
        stats = self._stats.get(quote.symbol)
        if stats is not None:
            stats.quote = quote
            self.last_data_ts = self._clock.time() if self._clock else quote.ts

    def quote(self, symbol: str) -> Quote | None:
        stats = self._stats.get(symbol)
        return stats.quote if stats else None

    def last_price(self, symbol: str) -> float | None:
        stats = self._stats.get(symbol)
        if stats is None:
            return None
        if stats.last is not None:
            return stats.last
        return stats.quote.mid if stats.quote else None

    def add_marker(
        self, symbol: str, ts: float, side: str, kind: str, price: float, text: str
    ) -> None:
        stats = self._stats.get(symbol)
        if stats is not None:
            stats.markers.append(
                {"t": int(ts * 1000), "side": side, "kind": kind, "price": price, "text": text}
            )

    def markers(self, symbol: str) -> list[dict[str, Any]]:
        stats = self._stats.get(symbol)
        return list(stats.markers) if stats else []

    def quote_payload(self, symbol: str) -> dict[str, Any] | None:
        stats = self._stats[symbol]
        quote = stats.quote
        if quote is None:
            return None
        last = stats.last if stats.last is not None else quote.mid
        minutes = stats.minutes
        bars_24h = self.bars.bars(symbol, "1h", 24) or []
        high = max((bar.h for bar in bars_24h), default=last)
        low = min((bar.l for bar in bars_24h), default=last)
        first = minutes[0][1] if minutes else last
        spread = quote.ask - quote.bid
        return {
            "symbol": symbol,
            "bid": quote.bid,
            "ask": quote.ask,
            "bid_size": quote.bid_size,
            "ask_size": quote.ask_size,
            "mid": quote.mid,
            "spread": spread,
            "spread_bps": spread / quote.mid * 10_000 if quote.mid else 0.0,
            "last": last,
            "change_pct": (last / first - 1) if first else 0.0,
            "volume": stats.volume_24h,
            "high": max(high, last),
            "low": min(low, last),
        }
