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
from engine.venues.base import Broker, VenueError
from engine.venues.paper.venue import PaperVenue
from engine.venues.replay.feed import ReplayFeed, build_replay_feed
from engine.venues.sim.feed import SimulatedFeed, select_instruments

Feed = SimulatedFeed | ReplayFeed
BrokerBuilder = Callable[[Settings, Clock, dict[str, Instrument]], Broker]
FeedBuilder = Callable[[Settings], Feed]


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
}

FEEDS: dict[str, FeedBuilder] = {
    "sim": lambda s: SimulatedFeed(s.seed, select_instruments(s.symbol_list)),
    "replay": build_replay_feed,
}


def build_feed(settings: Settings) -> Feed:
    builder = FEEDS.get(settings.feed)
    if builder is None:
        names = " or ".join(sorted(FEEDS))
        raise SettingsError(
            f"VIGIL_FEED: {settings.feed!r} is not available in this version (use {names})"
        )
    return builder(settings)


def build_broker(settings: Settings, clock: Clock, instruments: dict[str, Any]) -> Broker:
    builder = BROKERS.get(settings.broker)
    if builder is None:
        names = " or ".join(sorted(BROKERS))
        raise SettingsError(
            f"VIGIL_BROKER: {settings.broker!r} is not available in this version (use {names})"
        )
    return builder(settings, clock, instruments)
