"""The engine's settings: its groups, each owned by the package that reads it, in one tree.

Every group is a `SettingsGroup` (engine/settings_group.py) whose fields name their
environment variable; `EngineSettings.load(env)` builds them all from one mapping (default:
os.environ) and refuses a bad value with one line naming the variable. A venue's own group is
one optional field here, named after the venue: it is loaded only when VIGIL_BROKER or
VIGIL_FEED names that venue (docs/ARCHITECTURE.md, "Adding a setting").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.market.settings import RegimeSettings
from engine.safety.settings import BreakerSettings, LimitSettings
from engine.settings_group import SettingsError, SettingsTree
from engine.signals.settings import SignalSettings
from engine.store.settings import StoreSettings
from engine.strategies.settings import StrategySettings
from engine.trading.settings import ReconcileSettings, SessionSettings
from engine.venues.alpaca.settings import AlpacaSettings
from engine.venues.ccxt.settings import CcxtSettings
from engine.venues.mode import TradingModeSettings
from engine.venues.paper.settings import PaperSettings
from engine.venues.polygon.settings import PolygonSettings
from engine.venues.settings import BrokerSettings, FeedSettings

# The one error every group raises (engine/settings_group.py), importable from here as before.
__all__ = ["EngineSettings", "SettingsError"]


class EngineSettings(SettingsTree):
    broker: BrokerSettings
    feed: FeedSettings
    strategy: StrategySettings
    signals: SignalSettings
    regime: RegimeSettings
    limits: LimitSettings
    breakers: BreakerSettings
    session: SessionSettings
    reconcile: ReconcileSettings
    # Paper or live, for every real broker (engine/venues/mode.py).
    mode: TradingModeSettings
    # Always loaded (every field has a default): its starting balance is the ledger's too.
    paper: PaperSettings
    # Last of the required groups: its check creates the data directory, once all is valid.
    store: StoreSettings
    # Other venues: one optional field each, named as in VIGIL_BROKER / VIGIL_FEED; `wants`
    # loads it only when that venue is chosen, else it is None.
    alpaca: AlpacaSettings | None = None
    polygon: PolygonSettings | None = None
    ccxt: CcxtSettings | None = None

    @classmethod
    def wants(cls, name: str, loaded: Mapping[str, Any]) -> bool:
        return name in (loaded["broker"].name, loaded["feed"].name)
