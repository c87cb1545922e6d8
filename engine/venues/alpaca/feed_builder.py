"""The registry's builder of the Alpaca feed: refuses a start without keys, imports the SDK late.

alpaca-py takes most of a second to import; a CLI command (the kill switch) or a start with
another feed should not pay for it, so the feed module is imported only when it is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.clock import Clock
from engine.settings import SettingsError
from engine.settings_group import SettingsError as GroupSettingsError
from engine.settings_group import load_group
from engine.venues.alpaca.settings import AlpacaSettings

if TYPE_CHECKING:
    from engine.venues.alpaca.feed import AlpacaFeed


def build_alpaca_feed(settings: Any, clock: Clock) -> AlpacaFeed:
    """Alpaca's group from the process environment, VIGIL_SYMBOLS from the root settings.

    Raises the root's SettingsError (the one the server prints as one line and exits 3).
    """
    try:
        group = load_group(AlpacaSettings)
        if not group.has_keys:
            raise GroupSettingsError(
                "ALPACA_API_KEY: VIGIL_FEED=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY "
                "(the keys of your Alpaca account)"
            )
        from engine.venues.alpaca.feed import AlpacaFeed

        return AlpacaFeed(group, settings.symbol_list, clock=clock)
    except GroupSettingsError as exc:
        raise SettingsError(str(exc)) from None
