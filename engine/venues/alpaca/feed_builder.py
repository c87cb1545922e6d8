"""The registry's builder of the Alpaca feed: refuses a start without keys, imports the SDK late.

alpaca-py takes most of a second to import; a CLI command (the kill switch) or a start with
another feed should not pay for it, so the feed module is imported only when it is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.clock import Clock
from engine.settings import EngineSettings
from engine.settings_group import SettingsError

if TYPE_CHECKING:
    from engine.venues.alpaca.feed import AlpacaFeed


def build_alpaca_feed(settings: EngineSettings, clock: Clock) -> AlpacaFeed:
    """Alpaca's group (loaded with the rest, since VIGIL_FEED=alpaca) and VIGIL_SYMBOLS.

    Raises SettingsError (the one the server prints as one line and exits 3).
    """
    alpaca = settings.alpaca
    if alpaca is None or not alpaca.has_keys:
        raise SettingsError(
            "ALPACA_API_KEY: VIGIL_FEED=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY "
            "(the keys of your Alpaca account)"
        )
    from engine.venues.alpaca.feed import AlpacaFeed

    return AlpacaFeed(alpaca, settings.feed.symbol_list, clock=clock)
