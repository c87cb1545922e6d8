"""The real server (gunicorn, as the Procfile runs it) on a data directory whose disk fills up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.store import Store
from tests.conftest import wait_until
from tests.server_process import ServerProcess
from tests.small_disk import SmallDisk, small_disk_at


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    # The data directory itself is the small disk; the server's log stays outside it.
    with small_disk_at(tmp_path / "srv" / "var", size="32m") as disk:
        yield disk


def test_order_fills_on_a_full_disk_then_truthful_answer_halt_and_saved_once_space_returns(
    small_disk: SmallDisk,
) -> None:
    server = ServerProcess(small_disk.root, VIGIL_SIM_HISTORY_S="0", VIGIL_STRATEGY="none")
    server.start()
    try:
        session = server.login()

        def state() -> dict[str, Any]:
            return session.get(f"{server.url}/api/state", timeout=5).json()

        def order(symbol: str, qty: float) -> requests.Response:
            body = {"symbol": symbol, "side": "buy", "qty": qty}
            return session.post(f"{server.url}/api/control/place_order", json=body, timeout=15)

        wait_until(
            lambda: (state().get("market") or {}).get("quotes", {}).get("QQQ"), 15.0, "a QQQ quote"
        )
        small_disk.fill()

        answer = order("QQQ", 0.5)

        assert answer.status_code == 200, answer.text
        body = answer.json()
        # Sent (the venue fills it a moment later), but not yet durable.
        assert body["ok"] is True and body["order"]["status"] == "new"
        assert body["warning"]["code"] == "NOT_DURABLE"
        snapshot = wait_until(
            lambda: (
                (s := state())["safety"].get("trading_state") == "HALTED" and s["positions"] and s
            ),
            15.0,
            "HALTED with the QQQ position",
        )
        assert [p["symbol"] for p in snapshot["positions"]] == ["QQQ"]
        denied = order("SPY", 0.1)
        assert denied.status_code == 400 and not denied.json()["ok"]

        small_disk.free()

        def stored_fills() -> list[Any]:
            fresh = Store(small_disk.root / "vigil.sqlite3")
            try:
                return fresh.load_fills()
            finally:
                fresh.close()

        fills = wait_until(stored_fills, 15.0, "the fill in the store")
        assert [(f.order_id, f.qty) for f in fills] == [(body["order"]["id"], 0.5)]
    finally:
        server.stop()
