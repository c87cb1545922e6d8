"""The 1m bars of the trades the simulated market produced: its chart across a restart."""

from __future__ import annotations

import math
from collections.abc import Iterator

from engine.models import Instrument, TradeTick, VixUpdate
from engine.venues.bar_trades import BarRow, bar_trades

BAR_S = 60.0


class BarRecord:
    """The last `keep_s` seconds of 1m bars [t, o, h, l, c, v] per symbol, oldest first."""

    def __init__(self, symbols: list[str], keep_s: float) -> None:
        self.bars: dict[str, list[list[float]]] = {s: [] for s in symbols}
        self._keep = max(math.ceil(keep_s / BAR_S) + 2, 2)

    def add(self, trades: list[TradeTick]) -> None:
        for trade in trades:
            bars = self.bars[trade.symbol]
            t = math.floor(trade.ts / BAR_S) * BAR_S
            if bars and bars[-1][0] == t:
                bar = bars[-1]
                bar[2] = max(bar[2], trade.price)
                bar[3] = min(bar[3], trade.price)
                bar[4] = trade.price
                bar[5] += trade.size
            elif not bars or t > bars[-1][0]:
                bars.append([t, trade.price, trade.price, trade.price, trade.price, trade.size])
                if len(bars) > self._keep:
                    del bars[: len(bars) - self._keep]

    def copy(self) -> dict[str, list[list[float]]]:
        return {s: [list(bar) for bar in bars] for s, bars in self.bars.items()}

    def load(self, saved: dict[str, list[list[float]]]) -> None:
        for symbol in self.bars:
            bars = saved.get(symbol, [])
            self.bars[symbol] = [[float(x) for x in bar] for bar in bars][-self._keep :]

    def history(
        self,
        instruments: dict[str, Instrument],
        saved: float,
        vix: float,
        seconds: float,
        chunk: int,
    ) -> Iterator[tuple[float, list[TradeTick | VixUpdate]]]:
        """The bars of the `seconds` before `saved` as trades whose open, high, low and close
        are each bar's (the replay's way), then the VIX, in chunks: (fraction, events)."""
        trades: list[TradeTick] = []
        for symbol, bars in self.bars.items():
            tick = instruments[symbol].tick_size
            for t, o, h, low, c, v in bars:
                if t + BAR_S <= saved - seconds:
                    continue
                # The bar in progress at the stop ends at the stop, not at its full minute.
                span = min(BAR_S, max(saved - t, 1e-3))
                trades.extend(bar_trades(symbol, BarRow(t, o, h, low, c, v, 0), span, tick))
        trades.sort(key=lambda trade: trade.ts)
        events: list[TradeTick | VixUpdate] = [*trades, VixUpdate(round(vix, 2), saved)]
        chunk = max(chunk, 1)
        for first in range(0, len(events), chunk):
            yield min(first + chunk, len(events)) / len(events), events[first : first + chunk]
