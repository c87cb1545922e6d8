"""The registry's entry for VIGIL_BROKER=alpaca: alpaca-py is imported only when chosen."""

from __future__ import annotations

from typing import Any

from engine.clock import Clock
from engine.models import Instrument
from engine.venues.base import Broker


def build_alpaca_broker(settings: Any, clock: Clock, instruments: dict[str, Instrument]) -> Broker:
    from engine.venues.alpaca.build import build_from_env

    return build_from_env(getattr(settings, "data_dir", None), clock, instruments)
