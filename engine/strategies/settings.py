"""Which strategies trade (by name), and the sizing and exit rules the book applies to them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.settings_group import SettingsError, SettingsGroup, comma_list

KNOWN = ("demo", "breakout", "trend", "mean_reversion", "selector")


class StrategySettings(SettingsGroup):
    """Strategy"""

    name: Literal["demo", "none"] = Field(
        "demo",
        alias="VIGIL_STRATEGY",
        description="demo | none (manual orders only); used when VIGIL_STRATEGIES is empty",
    )
    strategies: str = Field(
        "",
        alias="VIGIL_STRATEGIES",
        description="strategies by name, comma-separated: demo, breakout, trend, "
        "mean_reversion, selector; `none` for manual orders only",
    )
    bar_s: float = Field(
        60.0, alias="VIGIL_STRATEGY_BAR_S", ge=1, le=3600, description="strategies' bar, seconds"
    )
    risk_fraction: float = Field(
        0.01,
        alias="VIGIL_RISK_FRACTION",
        gt=0,
        le=0.1,
        description="equity at risk per entry (to its ATR stop)",
    )
    kelly: bool = Field(
        False, alias="VIGIL_KELLY", description="size by half-Kelly from the strategy's record"
    )
    kelly_cap: float = Field(
        0.02, alias="VIGIL_KELLY_CAP", gt=0, le=0.25, description="the most Kelly may risk"
    )
    stop_atr: float = Field(
        2.0, alias="VIGIL_STOP_ATR", gt=0, le=20, description="stop-loss distance, in ATRs"
    )
    take_r: float = Field(
        2.0, alias="VIGIL_TAKE_PROFIT_R", gt=0, le=20, description="take-profit, in stop distances"
    )
    trail_atr: float = Field(
        3.0, alias="VIGIL_TRAIL_ATR", ge=0, le=20, description="trailing stop in ATRs; 0 = off"
    )

    @property
    def names(self) -> list[str]:
        """VIGIL_STRATEGIES, or else VIGIL_STRATEGY mapped (demo → [demo], none → [])."""
        listed = comma_list(self.strategies)
        if not listed:
            return [] if self.name == "none" else ["demo"]
        return [] if listed == ["none"] else listed

    def check(self) -> None:
        listed = comma_list(self.strategies)
        if listed == ["none"]:
            return
        unknown = [n for n in listed if n not in KNOWN]
        if unknown:
            raise SettingsError(
                f"VIGIL_STRATEGIES: unknown {', '.join(unknown)} (known: {', '.join(KNOWN)})"
            )
        if len(set(listed)) != len(listed):
            raise SettingsError("VIGIL_STRATEGIES: a strategy is named twice")
