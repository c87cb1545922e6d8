"""The market regime's settings: the VIX levels between its three regimes."""

from __future__ import annotations

from pydantic import Field

from engine.settings_group import SettingsError, SettingsGroup


class RegimeSettings(SettingsGroup):
    """Market regime"""

    ultra_low_below: float = Field(
        12.0, alias="VIGIL_REGIME_ULTRA_LOW_BELOW", gt=0, description="VIX below → ULTRA_LOW_VOL"
    )
    high_above: float = Field(
        25.0, alias="VIGIL_REGIME_HIGH_ABOVE", gt=0, description="VIX above → HIGH_VOL"
    )

    def check(self) -> None:
        if self.ultra_low_below >= self.high_above:
            raise SettingsError(
                "VIGIL_REGIME_ULTRA_LOW_BELOW: must be below VIGIL_REGIME_HIGH_ABOVE"
            )
