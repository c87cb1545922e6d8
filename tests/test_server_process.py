"""The real thing: gunicorn as the Procfile runs it, a python-socketio client over a websocket."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "var").start()
    yield proc
    proc.stop()


def connect(server: ServerProcess, session: Any) -> tuple[socketio.Client, dict[str, list[Any]]]:
    client = socketio.Client(reconnection=False)
    inbox: dict[str, list[Any]] = {}
    arrived = threading.Event()

    @client.on("*")
    def _any(event: str, data: Any) -> None:
        inbox.setdefault(event, []).append(data)
        if event == "quote_update":
            arrived.set()

    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    client.connect(
        server.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10
    )
    assert arrived.wait(10), f"no quote_update; got {sorted(inbox)}"
    return client, inbox


def test_gunicorn_server_then_websocket_client_gets_snapshot_and_live_updates(
    server: ServerProcess,
) -> None:
    client, inbox = connect(server, server.login())
    try:
        assert client.transport() == "websocket"
        snap = inbox["initial_state"][0]
        assert snap["user"]["username"] == "admin"
        assert snap["health"]["broker"] == "paper"
        assert inbox["quote_update"][0]["symbol"] in snap["market"]["symbols"]
        answer = client.call("kill_switch", {"level": "halt", "reason": "integration"}, timeout=10)
        assert answer["ok"] and answer["changed"]
        assert server.health()["trading_state"] == "HALTED"
    finally:
        client.disconnect()


def test_socket_without_session_then_refused(server: ServerProcess) -> None:
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, transports=["websocket"], wait_timeout=5)


def test_healthz_then_status_and_heartbeat_without_auth(server: ServerProcess) -> None:
    body = server.health()
    assert body["status"] == "OK" and body["engine_running"] is True
    assert body["heartbeat_ts"] > 0
