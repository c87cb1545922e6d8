"""Strategies by name (`VIGIL_STRATEGIES`): one line each."""

from __future__ import annotations

from collections.abc import Callable

from engine.models import Instrument
from engine.strategies.base import Strategy
from engine.strategies.breakout import BreakoutStrategy
from engine.strategies.demo import DemoPlugin
from engine.strategies.mean_reversion import MeanReversionStrategy
from engine.strategies.selector import RegimeSelector
from engine.strategies.trend import TrendStrategy

STRATEGIES: dict[str, Callable[[dict[str, Instrument]], Strategy]] = {
    "demo": DemoPlugin,
    "breakout": lambda _instruments: BreakoutStrategy(),
    "trend": lambda _instruments: TrendStrategy(),
    "mean_reversion": lambda _instruments: MeanReversionStrategy(),
    "selector": lambda _instruments: RegimeSelector(),
}


def build_strategies(names: list[str], instruments: dict[str, Instrument]) -> list[Strategy]:
    return [STRATEGIES[name](instruments) for name in names]
