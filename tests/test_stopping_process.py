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


def test_sigterm_with_a_page_open_then_a_graceful_stop_that_leaves_the_latch_alone(
    tmp_path: Path,
) -> None:
    """SIGTERM while a page is connected and a halt is in force: the process ends by itself
    within gunicorn's graceful timeout, the store records the stop and is checkpointed (the
    database file alone is whole), and the latch is byte-for-byte what it was."""
    data_dir = tmp_path / "var"
    server = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0").start()
    client = socketio.Client(reconnection=False)
    try:
        session = server.login()
        engaged = session.post(
            f"{server.url}/api/control/kill_switch",
            json={"level": "halt", "reason": "graceful stop test"},
            headers={"Origin": server.url},
            timeout=10,
        )
        assert engaged.status_code == 200, engaged.text
        latch = data_dir / "kill_switch.json"
        before = latch.read_bytes()
        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        client.connect(server.url, headers={"Cookie": cookie}, transports=["websocket"])
        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGTERM)
        assert server.proc.wait(15) == 0, server.output()[-3000:]
    finally:
        if client.connected:
            client.disconnect()
        server.stop()
    assert latch.read_bytes() == before
    wal = data_dir / "vigil.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    import sqlite3

    with sqlite3.connect(data_dir / "vigil.sqlite3") as db:
        rows = db.execute(
            "SELECT actor, reason, outcome, details FROM audit WHERE action = 'engine_stopped'"
        ).fetchall()
    assert len(rows) == 1, rows
    actor, _, outcome, details = rows[0]
    assert (actor, outcome) == ("system", "ok")
    assert '"kill_switch_engaged": true' in details
