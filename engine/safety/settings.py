"""The safety layer's settings: pre-trade limits and which circuit breakers run."""

from __future__ import annotations

from pydantic import Field

from engine.settings_group import SettingsGroup, comma_list

DEFAULT_BREAKERS = "rapid_loss,error_rate,drawdown,daily_loss,max_positions,order_rate,stale_feed"


class LimitSettings(SettingsGroup):
    """The pre-trade checks' limits (engine/safety/checks.py); some breakers read them too."""

    max_order_qty: float = Field(1_000.0, alias="VIGIL_MAX_ORDER_QTY", gt=0)
    max_notional: float = Field(500.0, alias="VIGIL_MAX_NOTIONAL", gt=0)
    max_positions: int = Field(3, alias="VIGIL_MAX_POSITIONS", ge=0)
    daily_loss_limit: float = Field(1_000.0, alias="VIGIL_DAILY_LOSS_LIMIT", gt=0)
    price_collar_pct: float = Field(5.0, alias="VIGIL_PRICE_COLLAR_PCT", gt=0, le=100)
    stale_quote_s: float = Field(10.0, alias="VIGIL_STALE_QUOTE_S", gt=0)
    order_rate_max: int = Field(20, alias="VIGIL_ORDER_RATE_MAX", ge=1)
    order_rate_window_s: float = Field(60.0, alias="VIGIL_ORDER_RATE_WINDOW_S", gt=0)


class BreakerSettings(SettingsGroup):
    breakers: str = Field(DEFAULT_BREAKERS, alias="VIGIL_BREAKERS")

    @property
    def names(self) -> list[str]:
        return comma_list(self.breakers)
