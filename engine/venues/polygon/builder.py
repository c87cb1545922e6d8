"""The registry's builder for VIGIL_FEED=polygon: its settings group, then the feed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.settings import Settings, SettingsError
from engine.settings_group import SettingsError as GroupSettingsError
from engine.settings_group import load_group

if TYPE_CHECKING:
    from engine.clock import Clock
    from engine.venues.base import MarketFeed

DEFAULT_SYMBOLS = ("SPY", "QQQ")


def build_polygon_feed(settings: Settings, clock: Clock) -> MarketFeed:
    """The Polygon feed from the process environment; a missing POLYGON_API_KEY or a bad
    variable is refused with one line naming it."""
    # Imported here: massive is loaded only by a process that uses Polygon.
    from engine.venues.polygon.feed import PolygonFeed
    from engine.venues.polygon.settings import PolygonSettings

    try:
        config = load_group(PolygonSettings)
        return PolygonFeed(config, settings.symbol_list or list(DEFAULT_SYMBOLS), clock=clock)
    except GroupSettingsError as exc:
        raise SettingsError(str(exc)) from None
