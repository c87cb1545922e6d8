"""The simulated market's catalogue: its instruments and each one's price and liquidity profile."""

from __future__ import annotations

from dataclasses import dataclass

from engine.models import AssetClass, Instrument
from engine.settings_group import SettingsError
from engine.venues.sim.maths import CALENDAR_YEAR_S, parse_option

OPTION_SYMBOL = "SPY 261218C500"
DEFAULT_INSTRUMENTS: dict[str, Instrument] = {
    "SPY": Instrument("SPY", AssetClass.EQUITY, tick_size=0.01, lot_size=0.01),
    "QQQ": Instrument("QQQ", AssetClass.EQUITY, tick_size=0.01, lot_size=0.01),
    "BTC/USD": Instrument("BTC/USD", AssetClass.CRYPTO, tick_size=0.01, lot_size=0.0001),
    "ETH/USD": Instrument("ETH/USD", AssetClass.CRYPTO, tick_size=0.01, lot_size=0.001),
    OPTION_SYMBOL: Instrument(
        OPTION_SYMBOL, AssetClass.OPTION, multiplier=100.0, tick_size=0.01, lot_size=1.0
    ),
}


def select_instruments(symbols: list[str]) -> dict[str, Instrument]:
    """The simulated instruments VIGIL_SYMBOLS names (all of them for an empty list).

    Raises SettingsError naming the first unknown symbol, or an option listed without its
    underlying (the simulation prices an option from its underlying's path).
    """
    if not symbols:
        return dict(DEFAULT_INSTRUMENTS)
    for symbol in symbols:
        if symbol not in DEFAULT_INSTRUMENTS:
            raise SettingsError(
                f"VIGIL_SYMBOLS: {symbol!r} is not in the simulated market "
                f"(choose from {', '.join(DEFAULT_INSTRUMENTS)})"
            )
        spec = parse_option(symbol)
        if spec is not None and spec.underlying not in symbols:
            raise SettingsError(
                f"VIGIL_SYMBOLS: the option {symbol!r} needs its underlying "
                f"{spec.underlying} in the list"
            )
    return {symbol: DEFAULT_INSTRUMENTS[symbol] for symbol in symbols}


_TRADING_YEAR_S = 252 * 6.5 * 3600  # equities' vol is quoted per trading year


@dataclass(frozen=True)
class Profile:
    """How one instrument moves and trades in the simulation."""

    start: float
    annual_vol: float
    year_s: float
    market_corr: float  # loading on the equity-market shock
    crypto_corr: float  # loading on the shared crypto shock
    spread_bps: float  # at VIX 17; widens with volatility
    level_ticks: int  # book level spacing at VIX 17
    level_size: float  # size at the touch
    trade_size: float
    trade_rate: float  # trades per simulated second


PROFILES = {
    "SPY": Profile(500.0, 0.16, _TRADING_YEAR_S, 1.0, 0.0, 0.2, 1, 400.0, 100.0, 4.0),
    "QQQ": Profile(430.0, 0.21, _TRADING_YEAR_S, 0.9, 0.0, 0.3, 1, 300.0, 80.0, 3.0),
    "BTC/USD": Profile(60_000.0, 0.55, CALENDAR_YEAR_S, 0.25, 0.85, 0.4, 50, 0.8, 0.02, 3.0),
    "ETH/USD": Profile(3_000.0, 0.70, CALENDAR_YEAR_S, 0.25, 0.85, 0.8, 5, 8.0, 0.4, 2.0),
}
GENERIC_PROFILES = {
    AssetClass.EQUITY: Profile(100.0, 0.25, _TRADING_YEAR_S, 0.7, 0.0, 1.0, 1, 200.0, 50.0, 1.0),
    AssetClass.CRYPTO: Profile(100.0, 0.80, CALENDAR_YEAR_S, 0.2, 0.8, 2.0, 1, 50.0, 5.0, 1.0),
    # Options take their price from the underlying; these drive spread, book and trades.
    AssetClass.OPTION: Profile(0.0, 0.0, _TRADING_YEAR_S, 0.0, 0.0, 150.0, 5, 25.0, 5.0, 0.1),
}
