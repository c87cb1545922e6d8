"""The venue registry: one line per broker or feed name -> the function that builds it.

Adding a provider means its own folder under engine/venues/ plus one line here. A builder
receives the engine's settings (its own group is `settings.<name>`, an optional field of
EngineSettings loaded only when this venue is chosen), the engine's clock and the instruments
(brokers) and returns the venue; a name without a line is refused at start with one line
naming the variable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from engine.clock import Clock
from engine.models import Instrument
from engine.settings import EngineSettings
from engine.settings_group import SettingsError
from engine.venues.base import Broker, MarketFeed, VenueError
from engine.venues.paper.venue import PaperVenue
from engine.venues.pumped import PumpedFeed, StepSource
from engine.venues.replay.feed import build_replay_feed
from engine.venues.sim.catalogue import select_instruments
from engine.venues.sim.feed import SimulatedFeed
from engine.venues.sim.state import STATE_FILE

BrokerBuilder = Callable[[EngineSettings, Clock, dict[str, Instrument]], Broker]
FeedBuilder = Callable[[EngineSettings, Clock], MarketFeed]


def _when_chosen(module: str, name: str) -> Callable[..., Any]:
    """A builder imported only when its venue is chosen: the providers' SDKs (ccxt, alpaca-py,
    massive, pandas) weigh ~80 MB, which the simulated default and every web process never use."""

    def build(*args: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args)

    build.__name__ = name
    return build


def _paper(settings: EngineSettings, clock: Clock, instruments: dict[str, Instrument]) -> Broker:
    try:
        return _paper_venue(settings, clock, instruments)
    except VenueError as exc:
        raise SettingsError(f"VIGIL_DATA_DIR: {exc}") from None


def _paper_venue(
    settings: EngineSettings, clock: Clock, instruments: dict[str, Instrument]
) -> Broker:
    paper = settings.paper
    return PaperVenue(
        instruments,
        settings.store.paper_venue_path,
        clock=clock,
        fee_bps=paper.fee_bps,
        slippage_bps=paper.slippage_bps,
        latency_ms=paper.latency_ms,
        max_fill_qty=paper.max_fill_qty,
        starting_cash=paper.starting_balance,
        faults=paper.faults,
    )


BROKERS: dict[str, BrokerBuilder] = {
    "paper": _paper,
    "alpaca": _when_chosen("engine.venues.alpaca.entry", "build_alpaca_broker"),
    "ccxt": _when_chosen("engine.venues.ccxt.build", "build_ccxt_broker"),
}


def _pumped(source: StepSource, settings: EngineSettings, clock: Clock) -> MarketFeed:
    """A step-driven source (sim, replay) on its own pump thread, as a MarketFeed."""
    return PumpedFeed(
        source,
        clock=clock,
        tick_s=settings.feed.sim_tick_ms / 1000.0,
        speed=settings.feed.sim_speed,
        checkpoint_s=settings.feed.sim_save_s,
    )


def _sim(settings: EngineSettings, clock: Clock) -> MarketFeed:
    feed = settings.feed
    source = SimulatedFeed(
        feed.seed,
        select_instruments(feed.symbol_list),
        state_path=settings.store.data_dir / STATE_FILE,
        keep_bars_s=feed.sim_history_s,
    )
    return _pumped(source, settings, clock)


FEEDS: dict[str, FeedBuilder] = {
    "sim": _sim,
    "replay": lambda settings, clock: _pumped(build_replay_feed(settings.feed), settings, clock),
    "alpaca": _when_chosen("engine.venues.alpaca.feed_builder", "build_alpaca_feed"),
    "polygon": _when_chosen("engine.venues.polygon.builder", "build_polygon_feed"),
    "ccxt": _when_chosen("engine.venues.ccxt.build", "build_ccxt_feed"),
}


def build_feed(settings: EngineSettings, clock: Clock) -> MarketFeed:
    builder = FEEDS.get(settings.feed.name)
    if builder is None:
        names = " or ".join(sorted(FEEDS))
        raise SettingsError(
            f"VIGIL_FEED: {settings.feed.name!r} is not available in this version (use {names})"
        )
    return builder(settings, clock)


def build_broker(settings: EngineSettings, clock: Clock, instruments: dict[str, Any]) -> Broker:
    builder = BROKERS.get(settings.broker.name)
    if builder is None:
        names = " or ".join(sorted(BROKERS))
        raise SettingsError(
            f"VIGIL_BROKER: {settings.broker.name!r} is not available in this version (use {names})"
        )
    return builder(settings, clock, instruments)
