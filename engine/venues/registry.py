"""The venue registry: one line per broker or feed name -> the function that builds it.

Adding a provider means its own folder under engine/venues/ plus one line here. A builder
receives the settings, the engine's clock and the instruments (brokers) and returns the
venue; a name without a line is refused at start with one line naming the variable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.clock import Clock
from engine.models import Instrument
from engine.settings import Settings, SettingsError
from engine.venues.alpaca.feed_builder import build_alpaca_feed
from engine.venues.base import Broker, MarketFeed, VenueError
from engine.venues.ccxt.build import build_ccxt_broker, build_ccxt_feed
from engine.venues.paper.venue import PaperVenue
from engine.venues.polygon.builder import build_polygon_feed
from engine.venues.pumped import PumpedFeed, StepSource
from engine.venues.replay.feed import build_replay_feed
from engine.venues.sim.catalogue import select_instruments
from engine.venues.sim.feed import SimulatedFeed
from engine.venues.sim.state import STATE_FILE

BrokerBuilder = Callable[[Settings, Clock, dict[str, Instrument]], Broker]
FeedBuilder = Callable[[Settings, Clock], MarketFeed]


def _paper(settings: Settings, clock: Clock, instruments: dict[str, Instrument]) -> Broker:
    try:
        return _paper_venue(settings, clock, instruments)
    except VenueError as exc:
        raise SettingsError(f"VIGIL_DATA_DIR: {exc}") from None


def _paper_venue(settings: Settings, clock: Clock, instruments: dict[str, Instrument]) -> Broker:
    return PaperVenue(
        instruments,
        settings.paper_venue_path,
        clock=clock,
        fee_bps=settings.fee_bps,
        slippage_bps=settings.slippage_bps,
        latency_ms=settings.paper_latency_ms,
        max_fill_qty=settings.paper_max_fill_qty,
        starting_cash=settings.starting_balance,
        faults=settings.paper_faults,
    )


BROKERS: dict[str, BrokerBuilder] = {
    "paper": _paper,
    "ccxt": build_ccxt_broker,
}


def _pumped(source: StepSource, settings: Settings, clock: Clock) -> MarketFeed:
    """A step-driven source (sim, replay) on its own pump thread, as a MarketFeed."""
    return PumpedFeed(
        source,
        clock=clock,
        tick_s=settings.sim_tick_ms / 1000.0,
        speed=settings.sim_speed,
        checkpoint_s=settings.sim_save_s,
    )


def _sim(settings: Settings, clock: Clock) -> MarketFeed:
    source = SimulatedFeed(
        settings.seed,
        select_instruments(settings.symbol_list),
        state_path=settings.data_dir / STATE_FILE,
        keep_bars_s=settings.sim_history_s,
    )
    return _pumped(source, settings, clock)


FEEDS: dict[str, FeedBuilder] = {
    "sim": _sim,
    "replay": lambda settings, clock: _pumped(build_replay_feed(settings), settings, clock),
    "alpaca": build_alpaca_feed,
    "polygon": build_polygon_feed,
    "ccxt": build_ccxt_feed,
}


def build_feed(settings: Settings, clock: Clock) -> MarketFeed:
    builder = FEEDS.get(settings.feed)
    if builder is None:
        names = " or ".join(sorted(FEEDS))
        raise SettingsError(
            f"VIGIL_FEED: {settings.feed!r} is not available in this version (use {names})"
        )
    return builder(settings, clock)


def build_broker(settings: Settings, clock: Clock, instruments: dict[str, Any]) -> Broker:
    builder = BROKERS.get(settings.broker)
    if builder is None:
        names = " or ".join(sorted(BROKERS))
        raise SettingsError(
            f"VIGIL_BROKER: {settings.broker!r} is not available in this version (use {names})"
        )
    return builder(settings, clock, instruments)
