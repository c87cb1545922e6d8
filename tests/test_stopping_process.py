"""A stopping server tells its pages before it goes: the real gunicorn, a real websocket."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow


def test_sigterm_then_clients_told_stopping_before_the_socket_closes(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "var").start()
    try:
        client = socketio.Client(reconnection=False)
        events: list[tuple[str, Any]] = []
        stopping, snapshot = threading.Event(), threading.Event()

        @client.on("*")
        def _any(event: str, data: Any) -> None:
            events.append((event, data))
            if event == "initial_state":
                snapshot.set()
            if event == "system" and data.get("kind") == "stopping":
                stopping.set()

        @client.on("disconnect")
        def _gone(*_: Any) -> None:
            events.append(("disconnect", None))

        session = server.login()
        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        client.connect(server.url, headers={"Cookie": cookie}, transports=["websocket"])
        assert snapshot.wait(10)
        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGTERM)  # as the Procfile's runner stops it
        assert stopping.wait(10), [e for e, _ in events][-20:]
        names = [e for e, _ in events]
        told = names.index("system", names.index("initial_state"))
        assert "disconnect" not in names[:told]
        client.disconnect()
    finally:
        server.stop()
