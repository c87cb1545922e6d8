"""Operator commands and their validation: each inbound payload becomes one or an error."""

from __future__ import annotations

import re
from dataclasses import dataclass
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


Role = Literal["viewer", "trader", "admin"]  # engine.users.ROLES, least first


@dataclass(frozen=True)
class CommandSpec:
    """One client → server command: the socket event, its HTTP mirror, its role, its docs."""

    name: str  # the Socket.IO event, and POST /api/control/<name> when `http`
    role: Role  # the least role that may send it
    summary: str  # one line for docs/EVENTS.md
    # Validates the payload. None: the web layer checks the payload itself (no HTTP mirror).
    model: type[Command] | None
    # The OperatorControls method that runs it on the engine thread. None: the web layer
    # answers it (dashboard/sockets.py: WEB_COMMANDS with a model, SOCKET_EVENTS without).
    handler: str | None
    # Risk-reducing: still run when the caller timed out before the engine reached it (and
    # say so); any other engine command is then dropped, audited and announced.
    runs_late: bool = False
    http: bool = True
    http_alias: str | None = None  # a dedicated endpoint as well, e.g. the kill switch's
    audit_invalid: bool = False  # a refused payload is audited as `<name>_invalid`
    payload_doc: str = ""  # the payload in the docs when there is no model

    def __post_init__(self) -> None:
        if self.model is None and (self.http or self.handler is not None):
            raise ValueError(f"{self.name}: an HTTP or engine command needs a payload model")
        if self.http_alias is not None and not self.http:
            raise ValueError(f"{self.name}: an HTTP alias needs http=True")
        if self.runs_late and self.handler is None:
            raise ValueError(f"{self.name}: only engine commands are queued, so run late")


@dataclass(frozen=True)
class QuerySpec:
    """A read of engine-owned data (bars, ticks) for an HTTP route, run on the engine thread.

    Not a client event: no socket handler and no role of its own (the route checks the
    login), the payload is built by the route, and it changes nothing, so nothing is
    published after it and a late one is dropped silently.
    """

    name: str
    handler: str  # the OperatorControls method


# Every client → server command, in the order docs/EVENTS.md lists them. Adding a command is
# one entry here (and its handler); see docs/ARCHITECTURE.md, "Adding a command".
COMMAND_SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "kill_switch",
        "trader",
        "pause entries, halt (cancel open orders) or flatten (halt, then close everything)",
        KillSwitchCmd,
        "engage_kill_switch",
        runs_late=True,
        http_alias="/api/kill-switch",
        audit_invalid=True,
    ),
    CommandSpec(
        "reset_kill_switch",
        "admin",
        "release the kill switch (the user's own password); audited and alerted",
        ResetKillSwitchCmd,
        "reset_kill_switch",
        http_alias="/api/kill-switch/reset",
        audit_invalid=True,
    ),
    CommandSpec(
        "test_notification",
        "trader",
        "a test alert on every configured channel; answers each channel's result",
        TestNotificationCmd,
        None,
    ),
    CommandSpec(
        "place_order",
        "trader",
        "a manual order, through the same safety gateway as every order",
        PlaceOrderCmd,
        "place_order",
    ),
    CommandSpec(
        "close_position",
        "trader",
        "close the symbol's position: all, a `fraction` (0 < f <= 1) or a `qty` of it",
        ClosePositionCmd,
        "close_position",
        runs_late=True,
        audit_invalid=True,
    ),
    CommandSpec(
        "cancel_order",
        "trader",
        "cancel one open order by Vigil's id",
        OrderIdCmd,
        "cancel_order",
        runs_late=True,
        audit_invalid=True,
    ),
    CommandSpec(
        "modify_stops",
        "trader",
        "set or move the position's stop-loss and take-profit (reviewed as new orders)",
        ModifyStopsCmd,
        "modify_stops",
        audit_invalid=True,
    ),
    CommandSpec(
        "pause_entries",
        "trader",
        "no new entries; orders that reduce a position still go",
        EmptyCmd,
        "pause_entries",
        runs_late=True,
    ),
    CommandSpec("resume_entries", "trader", "undo pause_entries", EmptyCmd, "resume_entries"),
    CommandSpec("bot_start", "trader", "start the strategy", EmptyCmd, "start_strategy"),
    CommandSpec(
        "bot_stop", "trader", "stop the strategy", EmptyCmd, "stop_strategy", runs_late=True
    ),
    CommandSpec(
        "set_signal_mode",
        "trader",
        "`auto`: signals go to the gateway; `approve`: they wait in the inbox",
        SignalModeCmd,
        "set_signal_mode",
    ),
    CommandSpec(
        "set_strategy",
        "trader",
        "turn one strategy on or off, set its size multiplier (0 < m <= 3)",
        StrategyCmd,
        "set_strategy",
    ),
    CommandSpec(
        "approve_signal",
        "trader",
        "send a pending signal's order through the gateway (once, however many approve)",
        SignalIdCmd,
        "approve_signal",
    ),
    CommandSpec(
        "reject_signal",
        "trader",
        "discard a pending signal; nothing is sent",
        SignalIdCmd,
        "reject_signal",
        runs_late=True,
    ),
    CommandSpec(
        "set_risk_override",
        "admin",
        "size multiplier, minimum confidence or one risk limit, within fixed bounds, until "
        "`expires_in_s`; never loosens a kill switch or a breaker; audited",
        RiskOverrideCmd,
        "set_risk_override",
        audit_invalid=True,
    ),
    CommandSpec(
        "clear_risk_override",
        "admin",
        "end an override now: what was in force before it returns; audited",
        ClearOverrideCmd,
        "clear_risk_override",
        runs_late=True,
    ),
    CommandSpec(
        "acknowledge_reconciliation",
        "admin",
        "accept the venue's record: its positions in traded symbols are booked (`adopted`), "
        "others named (`not_adopted`); REDUCING ends",
        AckReconciliationCmd,
        "acknowledge_reconciliation",
    ),
    CommandSpec(
        "request_state",
        "viewer",
        "answers with the snapshot in the acknowledgement",
        None,
        None,
        http=False,
        payload_doc="{} or none",
    ),
    CommandSpec(
        "subscribe_bars",
        "viewer",
        "join that pair's `bar_update` room; leaves the others",
        None,
        None,
        http=False,
        payload_doc='{"symbol": str, "timeframe": str}',
    ),
)
QUERY_SPECS: tuple[QuerySpec, ...] = (
    QuerySpec("query_chart", "query_chart"),
    QuerySpec("query_ticks_csv", "query_ticks_csv"),
)

# The signal webhook's hand-over to the engine (dashboard/webhook.py): no client event.
INTAKE_SIGNAL = "intake_signal"

SPECS: dict[str, CommandSpec] = {spec.name: spec for spec in COMMAND_SPECS}
QUERIES: dict[str, QuerySpec] = {query.name: query for query in QUERY_SPECS}
# The commands whose payload parse_command validates.
COMMANDS: dict[str, type[Command]] = {
    spec.name: spec.model for spec in COMMAND_SPECS if spec.model is not None
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
