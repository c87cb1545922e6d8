"""The registry's builders for VIGIL_BROKER=ccxt and VIGIL_FEED=ccxt: each reads the venue's
group (settings.ccxt) and the trading mode, and refuses a start it cannot serve, in one line."""

from __future__ import annotations

from engine.clock import Clock
from engine.models import Instrument
from engine.settings import EngineSettings, SettingsError
from engine.venues.base import Broker, MarketFeed, VenueError
from engine.venues.ccxt.broker import CcxtBroker
from engine.venues.ccxt.feed import CcxtFeed
from engine.venues.ccxt.settings import DEFAULT_SYMBOLS, CcxtSettings


def _group(settings: EngineSettings, variable: str) -> CcxtSettings:
    if settings.ccxt is None:  # for the type checker: loaded whenever either names ccxt
        raise SettingsError(f"{variable}: the ccxt settings were not loaded")
    return settings.ccxt


def build_ccxt_broker(
    settings: EngineSettings, clock: Clock, instruments: dict[str, Instrument]
) -> Broker:
    group, mode = _group(settings, "VIGIL_BROKER"), settings.mode
    if not group.has_keys:
        raise SettingsError(
            "VIGIL_CCXT_API_KEY: VIGIL_BROKER=ccxt needs the exchange's API key and "
            "VIGIL_CCXT_SECRET (testnet keys unless VIGIL_TRADING_MODE=live)"
        )
    if settings.feed.name != "ccxt":
        raise SettingsError(
            "VIGIL_FEED: VIGIL_BROKER=ccxt needs VIGIL_FEED=ccxt (its symbols are the "
            "exchange's markets)"
        )
    broker = CcxtBroker(group, mode, instruments, clock=clock)
    try:
        broker.connect()  # markets (rounding, minimums) ready before the first order
    except VenueError as exc:
        if mode.live:  # the live-account guard refuses the start here, in one line
            text = str(exc)
            line = text if text.startswith("VIGIL_") else f"VIGIL_BROKER: {text}"
            broker.stop()
            raise SettingsError(line) from None
        # Testnet: a fault is retried once started, a refused key halts, saying so.
    return broker


def build_ccxt_feed(settings: EngineSettings, clock: Clock) -> MarketFeed:
    group = _group(settings, "VIGIL_FEED")
    symbols = settings.feed.symbol_list or list(DEFAULT_SYMBOLS)
    try:
        return CcxtFeed(group, settings.mode, symbols, clock=clock)
    except VenueError as exc:
        raise SettingsError(f"VIGIL_CCXT_EXCHANGE: {exc}") from None
