"""Services: everything the web layer uses (settings, users, the engine, the notifier, the
Socket.IO server and bridge, the guards), built once by create_app and stored on the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask, current_app

if TYPE_CHECKING:
    from flask_socketio import SocketIO

    from dashboard.auth import LoginThrottle, SessionRevocations
    from dashboard.bridge import SocketBridge
    from dashboard.connection_guard import ConnectionGuard
    from dashboard.engine_link import EngineLink
    from dashboard.event_guard import EventGuard
    from dashboard.settings import VigilSettings
    from dashboard.share_links import ShareLinks
    from engine.runtime import EngineRuntime
    from engine.store import Store
    from engine.users import UserStore

EXTENSION_KEY = "vigil"


class Notifier(Protocol):
    """What the web layer asks of the notifier (notifier/dispatcher.py `Dispatcher`)."""

    on_status_change: Callable[[list[dict[str, Any]]], None] | None

    def status(self) -> list[dict[str, Any]]: ...

    def send_test(self, message: str | None, timeout: float) -> dict[str, dict[str, Any]]: ...


@dataclass
class Services:
    """One per app, stored under `app.extensions["vigil"]`; every module reads it through
    `services()` (in a request, a socket handler or a CLI command) or `Services.of(app)`."""

    settings: VigilSettings
    users: UserStore
    throttle: LoginThrottle
    sessions: SessionRevocations
    share_links: ShareLinks
    socketio: SocketIO
    bridge: SocketBridge
    event_guard: EventGuard
    connection_guard: ConnectionGuard
    # None in the CLI's app (`flask --app wsgi kill-switch ...`): no engine, no notifier.
    # A web process over Redis has a link but no runtime (the engine is another process).
    runtime: EngineRuntime | None = None
    notifier: Notifier | None = None
    link: EngineLink | None = None

    @staticmethod
    def of(app: Flask) -> Services:
        found: Services = app.extensions[EXTENSION_KEY]
        return found

    def install(self, app: Flask) -> None:
        app.extensions[EXTENSION_KEY] = self

    @property
    def store(self) -> Store | None:
        """The data directory's store (audit rows, trades); None without an engine link."""
        return self.link.store if self.link is not None else None

    def engine_link(self) -> EngineLink:
        """The engine as the web layer reaches it: in this process or over Redis."""
        if self.link is None:
            raise RuntimeError("this app was built without an engine (CLI use)")
        return self.link

    def engine(self) -> EngineRuntime:
        """The engine runtime, for the routes that need it; only the CLI's app has none."""
        if self.runtime is None:
            raise RuntimeError("this app was built without an engine (CLI use)")
        return self.runtime

    def engine_store(self) -> Store:
        return self.engine_link().store

    # ----- the bridge's thread (serve() and the tests start it; the factory only builds) -----
    def start_bridge(self) -> None:
        """Bus → Socket.IO, and the notifier's channel status → the page; then its thread.
        A web process over Redis has no bus: dashboard/relay.py emits in the engine process."""
        if self.runtime is None:
            return
        self.engine().bus.subscribe(self.bridge.on_event)
        if self.notifier is not None:
            bridge = self.bridge
            self.notifier.on_status_change = lambda channels: bridge.on_event(
                "alerts_update", {"channels": channels}
            )
        self.bridge.start()

    def stop_bridge(self) -> None:
        if self.runtime is not None:
            self.runtime.bus.unsubscribe(self.bridge.on_event)
        if self.notifier is not None:
            self.notifier.on_status_change = None
        self.bridge.stop()


def services() -> Services:
    """The current app's services (inside a request, a socket handler or a CLI command)."""
    return Services.of(current_app)
