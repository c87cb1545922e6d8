"""Which strategy trades: the demo strategy, or none (manual orders only)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.settings_group import SettingsGroup


class StrategySettings(SettingsGroup):
    """Strategy"""

    name: Literal["demo", "none"] = Field(
        "demo", alias="VIGIL_STRATEGY", description="demo | none (manual orders only)"
    )
