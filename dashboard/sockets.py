"""Socket.IO handlers: authenticated connect, the initial snapshot, and every client command."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, request
from flask_socketio import SocketIO, emit, join_room, leave_room

from dashboard.auth import COMMAND_ROLES, check_password, current_user, socket_rooms
from dashboard.bridge import bar_room
from engine.commands import COMMANDS, ResetKillSwitchCmd, TestNotificationCmd, error, parse_command
from engine.market.bars import TIMEFRAMES

log = logging.getLogger(__name__)


def snapshot_for(user: Any) -> dict[str, Any]:
    runtime = current_app.extensions["vigil.runtime"]
    snap = runtime.snapshot()
    snap["user"] = {"username": user.username, "role": user.role}
    notifier = current_app.extensions.get("vigil.notifier")
    snap["alerts"] = notifier.status() if notifier is not None else []
    snap["ts"] = int(runtime.clock.time() * 1000)
    return snap


def register(socketio: SocketIO) -> None:
    @socketio.on("connect")
    def _connect(auth: Any = None) -> bool:
        user = current_user()
        if user is None:
            return False  # refused: Socket.IO tells the client "connection refused"
        for room in socket_rooms(user):
            join_room(room)
        # A trader's kill_switch passes the per-connection rate limit: never throttle a halt.
        guard = current_app.extensions.get("vigil.event_guard")
        if guard is not None:
            eio_sid = socketio.server.manager.eio_sid_from_sid(request.sid, "/")  # type: ignore[attr-defined]
            guard.allow_halt(eio_sid, user.has_role("trader"))
        snap = snapshot_for(user)
        emit("initial_state", snap)
        return True

    @socketio.on("request_state")
    def _request_state(*args: Any) -> dict[str, Any]:
        user = current_user()
        if user is None:
            return error("UNAUTHENTICATED", "log in first")
        if len(args) > 1 or (args and args[0] not in (None, {})):
            return error("INVALID_PAYLOAD", "request_state takes no payload (or {})")
        return {"ok": True, "state": snapshot_for(user)}

    @socketio.on("subscribe_bars")
    def _subscribe_bars(*args: Any) -> dict[str, Any]:
        user = current_user()
        if user is None:
            return error("UNAUTHENTICATED", "log in first")
        runtime = current_app.extensions["vigil.runtime"]
        payload = args[0] if len(args) == 1 else None
        if (
            not isinstance(payload, dict)
            or set(payload) != {"symbol", "timeframe"}
            or not isinstance(payload["timeframe"], str)
            or payload["timeframe"] not in TIMEFRAMES
            or payload["symbol"] not in runtime.state.symbols
        ):
            return error(
                "INVALID_PAYLOAD",
                "send {symbol, timeframe} with a known symbol "
                f"and one of {', '.join(TIMEFRAMES)}",
            )
        for symbol in runtime.state.symbols:
            for timeframe in TIMEFRAMES:
                leave_room(bar_room(symbol, timeframe))
        join_room(bar_room(payload["symbol"], payload["timeframe"]))
        return {"ok": True}

    for name in COMMANDS:
        socketio.on_event(name, _command_handler(name))

    @socketio.on("*")
    def _unknown_event(event: Any, *args: Any) -> dict[str, Any]:
        """Any other event name gets an answer too, so a client never waits on a typo."""
        return error("UNKNOWN_EVENT", "unknown event")

    @socketio.on_error_default
    def _on_error(exc: Exception) -> dict[str, Any]:
        # The event name only: its arguments may hold a password.
        event = request.event["message"]  # type: ignore[attr-defined]
        log.exception("socket handler failed: %s", event)
        return error("INTERNAL", "the server could not handle that request")


def _command_handler(name: str) -> Any:
    def handler(*args: Any) -> dict[str, Any]:
        if len(args) > 1:
            return error("INVALID_PAYLOAD", "send one payload object")
        return run_command(name, args[0] if args else None)

    handler.__name__ = f"on_{name}"
    return handler


def run_command(name: str, payload: Any) -> dict[str, Any]:
    """Authenticate, authorise, validate, then hand the command to the engine thread."""
    store = current_app.extensions["vigil.store"]
    user = current_user()
    if user is None:
        return error("UNAUTHENTICATED", "log in first")
    if name not in COMMANDS:
        return error("UNKNOWN_COMMAND", "unknown command")
    needed = COMMAND_ROLES.get(name, "admin")
    if not user.has_role(needed):
        store.audit(
            user.username, f"{name}_denied", reason=f"needs the {needed} role", outcome="FORBIDDEN"
        )
        return error("FORBIDDEN", f"{name} needs the {needed} role; you are {user.role}")
    command = parse_command(name, payload)
    if isinstance(command, dict):
        if name in ("kill_switch", "reset_kill_switch"):
            store.audit(
                user.username,
                f"{name}_invalid",
                reason=command["error"]["message"],
                outcome=command["error"]["code"],
            )
        return command
    runtime = current_app.extensions["vigil.runtime"]
    symbol = getattr(command, "symbol", None)
    if symbol is not None and symbol not in runtime.state.symbols:
        return error("UNKNOWN_SYMBOL", "symbol: not one this server trades")
    if isinstance(command, ResetKillSwitchCmd):
        matches, wait = check_password(user, command.password)
        if not matches:
            code = "LOCKED_OUT" if wait > 0 else "WRONG_PASSWORD"
            store.audit(
                user.username,
                "reset_kill_switch_denied",
                reason="too many wrong passwords" if wait > 0 else "wrong password",
                outcome=code,
            )
            if wait > 0:
                return error(code, f"too many wrong passwords; try again in {int(wait) + 1} s")
            return error(code, "that is not your password")
    if isinstance(command, TestNotificationCmd):
        return _test_notification(command)
    return runtime.call(name, command, user.username)


def _test_notification(command: TestNotificationCmd) -> dict[str, Any]:
    notifier = current_app.extensions.get("vigil.notifier")
    if notifier is None:
        return error("NO_CHANNELS", "notifications are not set up")
    results = notifier.send_test(command.message, timeout=15.0)
    return {"ok": True, "results": results}
