"""The breakers package: one module per breaker, each registered and built from settings."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import engine.safety.breakers as package
from engine.safety.breakers import BREAKER_TYPES, Breaker, build_breakers
from tests.conftest import make_settings

SHARED_MODULES = {"base", "board"}


def test_every_breaker_module_when_imported_then_its_breaker_is_registered() -> None:
    found: dict[str, type[Breaker]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in SHARED_MODULES:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        classes = [
            v
            for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, Breaker) and v is not Breaker
        ]
        assert len(classes) == 1, f"{info.name}.py should define exactly one breaker"
        assert classes[0].name == info.name, "a breaker's module is named after the breaker"
        found[info.name] = classes[0]
    assert found == BREAKER_TYPES


def test_breakers_when_built_from_settings_then_thresholds_follow_the_settings(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        VIGIL_DAILY_LOSS_LIMIT="250",
        VIGIL_MAX_POSITIONS="7",
        VIGIL_ORDER_RATE_MAX="9",
    )
    built = {b.name: b for b in build_breakers(list(BREAKER_TYPES), settings.engine.limits)}
    assert built["daily_loss"].threshold == 250
    assert built["max_positions"].threshold == 7
    assert built["order_rate"].threshold == 18  # the runaway guard sits at twice the limit
    assert built["rapid_loss"].threshold == 2.0 and built["drawdown"].threshold == 5.0
