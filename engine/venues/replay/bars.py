"""A replayed symbol's instrument spec, and the realized-volatility proxy for the VIX."""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal

from engine.models import AssetClass, Instrument

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
