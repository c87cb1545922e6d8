"""Socket.IO handlers: authenticated connect, the initial snapshot, and every client command."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import request
from flask_socketio import SocketIO, emit, join_room, leave_room

from dashboard import metrics
from dashboard.auth import check_password, current_user, socket_rooms
from dashboard.bridge import bar_room
from dashboard.engine_link import TEST_NOTIFICATION_TIMEOUT_S
from dashboard.services import services
from engine.command_payloads import ResetKillSwitchCmd, TestNotificationCmd
from engine.commands import COMMAND_SPECS, SPECS, error, parse_command
from engine.market.bars import TIMEFRAMES
from engine.store.connections import release_thread_connections

log = logging.getLogger(__name__)


NOT_READY = error("NOT_READY", "the engine has not restored its state yet")


def snapshot_for(user: Any) -> dict[str, Any] | None:
    """The engine's snapshot for `user`; None when the engine has not published one yet."""
    link = services().engine_link()
    snap = link.snapshot()
    if snap is None:
        return None
    snap["user"] = {"username": user.username, "role": user.role}
    snap["ts"] = int(link.clock.time() * 1000)
    return snap


def register(socketio: SocketIO) -> None:
    @socketio.on("connect")
    def _connect(auth: Any = None) -> bool:
        try:
            return _accept()
        finally:
            # This runs on the thread (greenlet) that holds the socket for its whole life:
            # the session check's SQLite connections must not stay open with it.
            release_thread_connections()

    def _accept() -> bool:
        user = current_user()
        if user is None:
            return False  # refused: Socket.IO tells the client "connection refused"
        for room in socket_rooms(user):
            join_room(room)
        # A trader's kill_switch passes the per-connection rate limit: never throttle a halt.
        eio_sid = socketio.server.manager.eio_sid_from_sid(request.sid, "/")  # type: ignore[attr-defined]
        services().event_guard.allow_halt(eio_sid, user.has_role(SPECS["kill_switch"].role))
        metrics.client_connected(request.sid, user.role)  # type: ignore[attr-defined]
        snap = snapshot_for(user)
        if snap is None:
            # No snapshot yet (an engine process that never ran): the page is told as
            # /api/state tells it, and asks again with request_state.
            emit("system", {"message": NOT_READY["error"]["message"], "kind": "not_ready"})
            return True
        # To this socket only, never through the message queue.
        emit("initial_state", snap, ignore_queue=True)
        return True

    @socketio.on("disconnect")
    def _disconnect(*_reason: Any) -> None:
        # A client may also send an event named "disconnect": only the real one (the server
        # has marked the socket as leaving) uncounts it.
        if not socketio.server.manager.is_connected(request.sid, "/"):  # type: ignore[attr-defined]
            metrics.client_disconnected(request.sid)  # type: ignore[attr-defined]

    _check_web_handlers()
    for spec in COMMAND_SPECS:
        raw = SOCKET_EVENTS.get(spec.name)
        socketio.on_event(spec.name, raw if raw is not None else _command_handler(spec.name))

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


def _request_state(*args: Any) -> dict[str, Any]:
    user = current_user()
    if user is None:
        return error("UNAUTHENTICATED", "log in first")
    if len(args) > 1 or (args and args[0] not in (None, {})):
        return error("INVALID_PAYLOAD", "request_state takes no payload (or {})")
    snap = snapshot_for(user)
    if snap is None:
        return NOT_READY
    return {"ok": True, "state": snap}


def _subscribe_bars(*args: Any) -> dict[str, Any]:
    user = current_user()
    if user is None:
        return error("UNAUTHENTICATED", "log in first")
    symbols = services().engine_link().symbols()
    payload = args[0] if len(args) == 1 else None
    if (
        not isinstance(payload, dict)
        or set(payload) != {"symbol", "timeframe"}
        or not isinstance(payload["timeframe"], str)
        or payload["timeframe"] not in TIMEFRAMES
        or payload["symbol"] not in symbols
    ):
        return error(
            "INVALID_PAYLOAD",
            f"send {{symbol, timeframe}} with a known symbol and one of {', '.join(TIMEFRAMES)}",
        )
    for symbol in symbols:
        for timeframe in TIMEFRAMES:
            leave_room(bar_room(symbol, timeframe))
    join_room(bar_room(payload["symbol"], payload["timeframe"]))
    return {"ok": True}


def _command_handler(name: str) -> Any:
    def handler(*args: Any) -> dict[str, Any]:
        if len(args) > 1:
            return error("INVALID_PAYLOAD", "send one payload object")
        return run_command(name, args[0] if args else None)

    handler.__name__ = f"on_{name}"
    return handler


def run_command(name: str, payload: Any) -> dict[str, Any]:
    """Authenticate, authorise, validate, then hand the command to the engine thread."""
    store = services().engine_store()
    user = current_user()
    if user is None:
        return error("UNAUTHENTICATED", "log in first")
    spec = SPECS.get(name)
    if spec is None or spec.model is None:
        return error("UNKNOWN_COMMAND", "unknown command")
    needed = spec.role
    if not user.has_role(needed):
        store.audit(
            user.username, f"{name}_denied", reason=f"needs the {needed} role", outcome="FORBIDDEN"
        )
        return error("FORBIDDEN", f"{name} needs the {needed} role; you are {user.role}")
    command = parse_command(name, payload)
    if isinstance(command, dict):
        if spec.audit_invalid:
            store.audit(
                user.username,
                f"{name}_invalid",
                reason=command["error"]["message"],
                outcome=command["error"]["code"],
            )
        return command
    link = services().engine_link()
    symbol = getattr(command, "symbol", None)
    if symbol is not None and symbol not in link.symbols():
        # Not echoed: what was typed may be anything, a pasted secret included.
        refused = error("UNKNOWN_SYMBOL", "symbol: not one this server trades")
        if spec.audit_invalid:  # an operator control: its bad input is on the record too
            store.audit(
                user.username,
                f"{name}_invalid",
                reason=refused["error"]["message"],
                outcome="UNKNOWN_SYMBOL",
            )
        return refused
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
    if spec.handler is None:
        return WEB_COMMANDS[name](command, user.username)
    return link.call(name, command, user.username)


def _test_notification(command: TestNotificationCmd, actor: str) -> dict[str, Any]:
    # The notifier lives with the engine (it raises the alerts): in this process or not.
    return (
        services()
        .engine_link()
        .call("test_notification", command, actor, TEST_NOTIFICATION_TIMEOUT_S + 5)
    )


# The commands the web layer answers itself (their registry entry names no engine handler):
# with a payload model, after run_command's checks; without one, as raw socket events.
WEB_COMMANDS: dict[str, Callable[[Any, str], dict[str, Any]]] = {
    "test_notification": _test_notification,
}
SOCKET_EVENTS: dict[str, Callable[..., dict[str, Any]]] = {
    "request_state": _request_state,
    "subscribe_bars": _subscribe_bars,
}


def _check_web_handlers() -> None:
    """Refuse to start with a web-answered entry that has no handler here, or the reverse."""
    with_model = {s.name for s in COMMAND_SPECS if s.handler is None and s.model is not None}
    without = {s.name for s in COMMAND_SPECS if s.model is None}
    if with_model != set(WEB_COMMANDS) or without != set(SOCKET_EVENTS):
        raise RuntimeError("dashboard/sockets.py web handlers out of step with engine/commands.py")
