"""A logged-in python-socketio client that records every event, for the scale-out tests."""

from __future__ import annotations

import threading
from typing import Any

import requests
import socketio

from tests.conftest import wait_until
from tests.server_process import ServerProcess


class PageClient:
    """One page: a websocket client on one web process, with what it received by event."""

    def __init__(self, server: ServerProcess, session: requests.Session | None = None) -> None:
        self.server = server
        self.session = session or server.login()
        self.client = socketio.Client(reconnection=False)
        self.inbox: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

        @self.client.on("*")
        def _any(event: str, data: Any = None) -> None:
            with self._lock:
                self.inbox.setdefault(event, []).append(data)

    def connect(self) -> PageClient:
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)
        self.client.connect(
            self.server.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10
        )
        return self

    def events(self, name: str) -> list[Any]:
        with self._lock:
            return list(self.inbox.get(name, []))

    def count(self, name: str) -> int:
        return len(self.events(name))

    def wait_for(self, name: str, predicate: Any = None, timeout: float = 15.0) -> Any:
        def found() -> Any:
            for item in self.events(name):
                if predicate is None or predicate(item):
                    return item
            return None

        return wait_until(found, timeout, f"{name} on {self.server.url}")

    def wait_new(self, name: str, after: int, timeout: float = 15.0) -> Any:
        """An event `name` received after the first `after` ones."""
        return wait_until(
            lambda: self.events(name)[after:], timeout, f"a new {name} on {self.server.url}"
        )[0]

    def call(self, event: str, payload: Any, timeout: float = 15.0) -> Any:
        return self.client.call(event, payload, timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
