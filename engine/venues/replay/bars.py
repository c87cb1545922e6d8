"""How one recorded bar becomes trades, and the realized-volatility proxy for the VIX."""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal
from itertools import pairwise

from engine.models import AssetClass, Instrument, Side, TradeTick
from engine.venues.replay.csv_file import BarRow

_INTERMEDIATE = 2  # prices between each pair of the bar's O, H/L, L/H, C points
_VOL_WINDOW = 30  # bars of log returns behind the realized-volatility VIX proxy
_TRADING_YEAR_S = 252 * 6.5 * 3600
_CALENDAR_YEAR_S = 365 * 24 * 3600


def replay_instrument(symbol: str, decimals: int, lowest: float) -> Instrument:
    """The spec of a replayed symbol: an equity (crypto when written A/B), multiplier 1.

    The tick is a cent; only a symbol trading below 1.00 gets the finer tick its file's
    prices show (a cent tick would make its quotes meaningless). Sub-penny prints of a
    dearer symbol are played as recorded; the generated quotes stay on the cent grid.
    """
    tick = 0.01 if lowest >= 1.0 else float(Decimal(1).scaleb(-max(2, decimals)))
    if "/" in symbol:
        return Instrument(symbol, AssetClass.CRYPTO, tick_size=tick, lot_size=0.0001)
    return Instrument(symbol, AssetClass.EQUITY, tick_size=tick, lot_size=0.01)


def bar_trades(symbol: str, row: BarRow, interval: float, tick: float) -> list[TradeTick]:
    """Trades inside one bar whose first, highest, lowest and last prices are its O, H, L, C.

    The path goes open → low → high → close on an up bar (open → high → low → close on a down
    one) with a few prices on the tick grid in between; sizes add up to the bar's volume.
    """
    up = row.c >= row.o
    anchors = (row.o, row.l, row.h, row.c) if up else (row.o, row.h, row.l, row.c)
    places = decimals_of(tick)
    prices = [row.o]
    for a, b in pairwise(anchors):
        for k in range(1, _INTERMEDIATE + 1):
            between = round(round((a + (b - a) * k / (_INTERMEDIATE + 1)) / tick) * tick, places)
            between = min(max(between, row.l), row.h)
            if between not in (prices[-1], b):
                prices.append(between)
        if b != prices[-1]:
            prices.append(b)
    sizes = split_volume(row.v, len(prices))
    trades = []
    previous_side = Side.BUY if up else Side.SELL
    for k, (price, size) in enumerate(zip(prices, sizes, strict=True)):
        if k and price != prices[k - 1]:
            previous_side = Side.BUY if price > prices[k - 1] else Side.SELL
        ts = row.t + interval * k / len(prices)
        trades.append(TradeTick(symbol, price, size, previous_side, ts))
    return trades


def split_volume(volume: float, n: int) -> list[float]:
    """`n` sizes whose running float sum (the order bars add them in) is exactly `volume`."""
    if volume == int(volume) and volume < 2**53:
        base, extra = divmod(int(volume), n)
        return [float(base + (1 if k < extra else 0)) for k in range(n)]
    sizes = [volume / n] * (n - 1)
    total = 0.0
    for size in sizes:
        total += size
    # total >= volume / 2, so volume - total is exact (Sterbenz) and total + it == volume.
    return [*sizes, volume - total]


class RealizedVol:
    """Annualised close-to-close volatility of the last bars, in VIX points."""

    def __init__(self, interval: float, year_s: float) -> None:
        self._per_year = year_s / interval
        self._returns: deque[float] = deque(maxlen=_VOL_WINDOW)
        self._last: float | None = None

    def add(self, close: float) -> None:
        if self._last is not None:
            self._returns.append(math.log(close / self._last))
        self._last = close

    @property
    def value(self) -> float | None:
        n = len(self._returns)
        if n < 2:
            return None
        mean = sum(self._returns) / n
        variance = sum((r - mean) ** 2 for r in self._returns) / (n - 1)
        # A flat recording would give 0, which the regime classifier refuses as a bad value.
        return round(max(math.sqrt(variance * self._per_year) * 100, 0.01), 2)


def year_seconds(instrument: Instrument) -> float:
    """Seconds in a volatility year: trading hours for equities, the calendar for crypto."""
    return _CALENDAR_YEAR_S if instrument.asset_class is AssetClass.CRYPTO else _TRADING_YEAR_S


def decimals_of(step: float) -> int:
    return max(0, -int(Decimal(repr(step)).normalize().as_tuple().exponent))
