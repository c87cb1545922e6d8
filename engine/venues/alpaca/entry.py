"""The registry's entry for VIGIL_BROKER=alpaca: alpaca-py is imported only when chosen."""

from __future__ import annotations

from engine.clock import Clock
from engine.models import Instrument
from engine.settings import EngineSettings
from engine.settings_group import SettingsError
from engine.venues.base import Broker


def build_alpaca_broker(
    settings: EngineSettings, clock: Clock, instruments: dict[str, Instrument]
) -> Broker:
    from engine.venues.alpaca.build import build_from_settings

    if settings.alpaca is None:  # for the type checker: loaded whenever VIGIL_BROKER=alpaca
        raise SettingsError("ALPACA_API_KEY: required when VIGIL_BROKER=alpaca")
    return build_from_settings(
        settings.alpaca, settings.mode, settings.store.data_dir, clock, instruments
    )
