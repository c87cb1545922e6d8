"""App fixtures: a real engine thread behind a real Flask-SocketIO app, driven by test clients."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard import create_app
from dashboard.services import Services
from dashboard.settings import VigilSettings
from engine.runtime import EngineRuntime
from engine.users import UserStore
from tests.conftest import ADMIN_PASSWORD, CHEAP_HASHER, wait_until

MARKER = "test_marker"
PASSWORDS = {"admin": ADMIN_PASSWORD, "tina": "trader-pass-1", "vic": "viewer-pass-1"}


class LiveApp:
    _markers = 0

    def __init__(self, settings: VigilSettings) -> None:
        self.runtime = EngineRuntime(settings.engine)
        self.runtime.boot()
        self.users = UserStore(settings.engine.store.db_path, hasher=CHEAP_HASHER)
        self.users.ensure_admin(settings.web.admin_password)
        self.users.add("tina", PASSWORDS["tina"], "trader")
        self.users.add("vic", PASSWORDS["vic"], "viewer")
        self.app: Flask = create_app(settings, self.runtime, users=self.users)
        self.services = Services.of(self.app)
        self.socketio = self.services.socketio
        self.services.start_bridge()  # the factory starts no thread; serve() starts these
        self.runtime.start(feed=False)

    def push_market(self, seconds: float = 1.0, dt: float = 0.2) -> None:
        now = time.time()
        for i in range(max(int(seconds / dt), 1)):
            for event in self.runtime.parts.feed.step(now + i * dt, dt):
                self.runtime.submit_market(event)
        self.wait_idle()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until the engine has handled everything queued so far (not a guess with a sleep)."""
        assert self.runtime.wait_idle(timeout), f"the engine was not idle within {timeout} s"

    def settle(self, client: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Everything `client` was sent up to now, once the engine and the bridge caught up.

        The engine goes idle first; then a marker goes through the bus and the bridge's
        immediate path, which keeps order: once the client has it, every immediate event
        published before it has arrived too, so "nothing else came" can be asserted.
        """
        self.wait_idle(timeout)
        self._markers += 1
        marker = self._markers
        self.runtime.bus.publish(MARKER, {"n": marker})
        seen: list[dict[str, Any]] = []

        def arrived() -> bool:
            seen.extend(client.get_received())
            return any(m["name"] == MARKER and m["args"][0]["n"] == marker for m in seen)

        wait_until(arrived, timeout, "the bridge to deliver the marker")
        return [m for m in seen if m["name"] != MARKER]

    def http(self, user: str | None = None) -> FlaskClient:
        client = self.app.test_client()
        if user is not None:
            answer = client.post("/api/login", json={"username": user, "password": PASSWORDS[user]})
            assert answer.status_code == 200, answer.get_json()
        return client

    def socket(self, user: str | None = None) -> Any:
        return self.socketio.test_client(self.app, flask_test_client=self.http(user))

    def close(self) -> None:
        self.services.stop_bridge()
        self.runtime.stop()


@pytest.fixture
def live(settings: VigilSettings) -> Iterator[LiveApp]:
    app = LiveApp(settings)
    app.push_market(1.0)
    yield app
    app.close()


def received(client: Any, name: str) -> list[Any]:
    return [m["args"][0] for m in client.get_received() if m["name"] == name]
