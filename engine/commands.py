"""Operator commands: one registry entry per command (role, payload model, handler)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from engine.command_payloads import (
    AckReconciliationCmd,
    ClearOverrideCmd,
    ClosePositionCmd,
    Command,
    EmptyCmd,
    KillSwitchCmd,
    ModifyStopsCmd,
    OrderIdCmd,
    PlaceOrderCmd,
    ResetKillSwitchCmd,
    RiskOverrideCmd,
    SignalIdCmd,
    SignalModeCmd,
    StrategyCmd,
    TestNotificationCmd,
)

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
# The engine process's relay (dashboard/relay.py): its link to the web processes (Redis) was
# lost (payload: why) or is back (payload ""). No client event, no role.
LINK_STATE = "link_state"

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
