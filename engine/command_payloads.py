"""The payload model of each operator command: what a valid command carries, and its bounds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from engine.models import KillLevel, OrderType, Side


# No control characters: a reason ends up in the audit log, alerts and the page.
def _printable(text: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("must not contain control characters")
    return text


Reason = Annotated[str, Field(min_length=3, max_length=500), AfterValidator(_printable)]
# strict: true and "1" are not quantities; ints are still accepted as floats.
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False, lt=1e12, strict=True)]
Symbol = Annotated[str, Field(min_length=1, max_length=40)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class KillSwitchCmd(Command):
    level: KillLevel
    reason: Reason


class ResetKillSwitchCmd(Command):
    reason: Reason
    confirm: Literal["RESET"]
    password: Annotated[str, Field(min_length=1, max_length=1024, repr=False)]


class TestNotificationCmd(Command):
    message: Annotated[str, Field(max_length=500)] = "Test notification from Vigil"


class PlaceOrderCmd(Command):
    symbol: Symbol
    side: Side
    qty: Positive
    type: OrderType = OrderType.MARKET
    limit_price: Positive | None = None
    stop_price: Positive | None = None
    stop_loss: Positive | None = None
    take_profit: Positive | None = None

    @model_validator(mode="after")
    def _prices_match_type(self) -> PlaceOrderCmd:
        if self.type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("limit_price is required for a limit order")
        if self.type is OrderType.STOP and self.stop_price is None:
            raise ValueError("stop_price is required for a stop order")
        return self


class SymbolCmd(Command):
    symbol: Symbol


class ClosePositionCmd(Command):
    """All of the position, or `fraction` (0 < f <= 1) of it, or `qty` of it."""

    symbol: Symbol
    fraction: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, strict=True)] | None = None
    qty: Positive | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> ClosePositionCmd:
        if self.fraction is not None and self.qty is not None:
            raise ValueError("give fraction or qty, not both")
        return self


class OrderIdCmd(Command):
    id: Annotated[str, Field(min_length=1, max_length=64)]


class ModifyStopsCmd(Command):
    symbol: Symbol
    stop_loss: Positive | None = None
    take_profit: Positive | None = None


class EmptyCmd(Command):
    pass


class StrategyCmd(Command):
    """Turn one strategy on or off and/or set its size multiplier (at least one of the two)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    enabled: Annotated[bool, Field(strict=True)] | None = None
    size_multiplier: (
        Annotated[float, Field(gt=0, le=3, allow_inf_nan=False, strict=True)] | None
    ) = None

    @model_validator(mode="after")
    def _something(self) -> StrategyCmd:
        if self.enabled is None and self.size_multiplier is None:
            raise ValueError("give enabled and/or size_multiplier")
        return self


class SignalIdCmd(Command):
    id: Annotated[str, Field(min_length=1, max_length=64)]


class SignalModeCmd(Command):
    mode: Literal["auto", "approve"]


OVERRIDE_BOUNDS: dict[str, tuple[float, float]] = {
    "size_multiplier": (0.5, 2.0),
    "min_confidence": (0.0, 1.0),
    "max_notional": (1.0, 10_000_000.0),
    "max_order_qty": (1e-9, 10_000_000.0),
    "max_positions": (0, 1_000),
    "daily_loss_limit": (1.0, 10_000_000.0),
    "price_collar_pct": (0.01, 100.0),
}


OverrideName = Literal[
    "size_multiplier",
    "min_confidence",
    "max_notional",
    "max_order_qty",
    "max_positions",
    "daily_loss_limit",
    "price_collar_pct",
]
# The page's overrides: each must say when it ends (the others may last the process's life).
EXPIRING_OVERRIDES = ("size_multiplier", "min_confidence", "max_positions")
MAX_OVERRIDE_S = 7 * 86_400


class RiskOverrideCmd(Command):
    name: OverrideName
    value: Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
    reason: Reason = "risk override"
    # Seconds from now (engine clock) after which it reverts by itself.
    expires_in_s: (
        Annotated[float, Field(ge=10, le=MAX_OVERRIDE_S, allow_inf_nan=False, strict=True)] | None
    ) = None

    @model_validator(mode="after")
    def _in_bounds(self) -> RiskOverrideCmd:
        low, high = OVERRIDE_BOUNDS[self.name]
        if not low <= self.value <= high:
            raise ValueError(f"{self.name} must be between {low:g} and {high:g}")
        if self.name == "max_positions" and self.value != int(self.value):
            raise ValueError("max_positions must be a whole number")
        if self.name in EXPIRING_OVERRIDES and self.expires_in_s is None:
            raise ValueError(f"a {self.name} override needs expires_in_s (10 s to 7 days)")
        return self


class ClearOverrideCmd(Command):
    name: OverrideName
    reason: Reason = "override cleared"


class AckReconciliationCmd(Command):
    reason: Reason = "acknowledged"
