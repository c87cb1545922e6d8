"""Operator commands and their validation: each inbound payload becomes one or an error."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

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


class ModifyStopsCmd(Command):
    symbol: Symbol
    stop_loss: Positive | None = None
    take_profit: Positive | None = None


class EmptyCmd(Command):
    pass


class SignalIdCmd(Command):
    id: Annotated[str, Field(min_length=1, max_length=64)]


OVERRIDE_BOUNDS: dict[str, tuple[float, float]] = {
    "max_notional": (1.0, 10_000_000.0),
    "max_order_qty": (1e-9, 10_000_000.0),
    "max_positions": (0, 1_000),
    "daily_loss_limit": (1.0, 10_000_000.0),
    "price_collar_pct": (0.01, 100.0),
}


class RiskOverrideCmd(Command):
    name: Literal[
        "max_notional", "max_order_qty", "max_positions", "daily_loss_limit", "price_collar_pct"
    ]
    value: Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
    reason: Reason = "risk override"

    @model_validator(mode="after")
    def _in_bounds(self) -> RiskOverrideCmd:
        low, high = OVERRIDE_BOUNDS[self.name]
        if not low <= self.value <= high:
            raise ValueError(f"{self.name} must be between {low:g} and {high:g}")
        if self.name == "max_positions" and self.value != int(self.value):
            raise ValueError("max_positions must be a whole number")
        return self


class AckReconciliationCmd(Command):
    reason: Reason = "acknowledged"


COMMANDS: dict[str, type[Command]] = {
    "kill_switch": KillSwitchCmd,
    "reset_kill_switch": ResetKillSwitchCmd,
    "test_notification": TestNotificationCmd,
    "place_order": PlaceOrderCmd,
    "close_position": SymbolCmd,
    "modify_stops": ModifyStopsCmd,
    "pause_entries": EmptyCmd,
    "resume_entries": EmptyCmd,
    "bot_start": EmptyCmd,
    "bot_stop": EmptyCmd,
    "approve_signal": SignalIdCmd,
    "reject_signal": SignalIdCmd,
    "set_risk_override": RiskOverrideCmd,
    "acknowledge_reconciliation": AckReconciliationCmd,
}


# No Vigil payload nests deeper than a few levels; json.loads recurses once per level and
# raises RecursionError near 1,000, so deeper input is refused before it is decoded.
MAX_PAYLOAD_DEPTH = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def too_deeply_nested(text: str | bytes | bytearray, limit: int = MAX_PAYLOAD_DEPTH) -> bool:
    """True when JSON `text` nests arrays/objects deeper than `limit` (strings not counted)."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "replace")
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case, at C speed
    depth = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


def parse_command(name: str, payload: Any) -> Command | dict[str, Any]:
    """The validated command, or the structured error to send back. Never raises."""
    model = COMMANDS.get(name)
    if model is None:
        return error("UNKNOWN_COMMAND", f"unknown command {name!r}")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        return error("INVALID_PAYLOAD", "payload must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return error("INVALID_PAYLOAD", f"{where}: {first['msg']}")
    except ValueError as exc:
        return error("INVALID_PAYLOAD", str(exc))
