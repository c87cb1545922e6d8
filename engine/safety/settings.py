"""The safety layer's settings: pre-trade limits and which circuit breakers run."""

from __future__ import annotations

from pydantic import Field

from engine.settings_group import SettingsGroup, comma_list

DEFAULT_BREAKERS = "rapid_loss,error_rate,drawdown,daily_loss,max_positions,order_rate,stale_feed"


class LimitSettings(SettingsGroup):
    """Safety: pre-trade checks (some breakers read these limits too)"""

    max_order_qty: float = Field(
        1_000.0, alias="VIGIL_MAX_ORDER_QTY", gt=0, description="largest order, in units"
    )
    max_notional: float = Field(
        500.0, alias="VIGIL_MAX_NOTIONAL", gt=0, description="largest order, USD"
    )
    max_positions: int = Field(
        3, alias="VIGIL_MAX_POSITIONS", ge=0, description="open positions at most"
    )
    daily_loss_limit: float = Field(
        1_000.0,
        alias="VIGIL_DAILY_LOSS_LIMIT",
        gt=0,
        description="session loss that halts trading, USD",
    )
    price_collar_pct: float = Field(
        5.0,
        alias="VIGIL_PRICE_COLLAR_PCT",
        gt=0,
        le=100,
        description="limit/stop price at most this far from the quote mid",
    )
    stale_quote_s: float = Field(
        10.0,
        alias="VIGIL_STALE_QUOTE_S",
        gt=0,
        description="deny orders when the symbol's quote is older",
    )
    order_rate_max: int = Field(
        20,
        alias="VIGIL_ORDER_RATE_MAX",
        ge=1,
        description="orders per window; the next one is denied",
    )
    order_rate_window_s: float = Field(
        60.0, alias="VIGIL_ORDER_RATE_WINDOW_S", gt=0, description="the order-rate window"
    )


class BreakerSettings(SettingsGroup):
    """Safety: circuit breakers"""

    breakers: str = Field(
        DEFAULT_BREAKERS, alias="VIGIL_BREAKERS", description="which run, comma-separated"
    )

    @property
    def names(self) -> list[str]:
        return comma_list(self.breakers)
