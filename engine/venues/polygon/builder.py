"""The registry's builder for VIGIL_FEED=polygon: its settings group, then the feed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.settings import EngineSettings
from engine.settings_group import SettingsError

if TYPE_CHECKING:
    from engine.clock import Clock
    from engine.venues.base import MarketFeed

DEFAULT_SYMBOLS = ("SPY", "QQQ")


def build_polygon_feed(settings: EngineSettings, clock: Clock) -> MarketFeed:
    """The Polygon feed from Polygon's group (loaded with the rest, since VIGIL_FEED=polygon);
    a missing POLYGON_API_KEY is refused with one line naming it."""
    # Imported here: massive is loaded only by a process that uses Polygon.
    from engine.venues.polygon.feed import PolygonFeed

    if settings.polygon is None:  # for the type checker: loaded whenever VIGIL_FEED=polygon
        raise SettingsError("POLYGON_API_KEY: required for VIGIL_FEED=polygon")
    symbols = settings.feed.symbol_list or list(DEFAULT_SYMBOLS)
    return PolygonFeed(settings.polygon, symbols, clock=clock)
