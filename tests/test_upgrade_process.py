"""Upgrades with the real server: a v1 data directory serves its history; a bad one is refused."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.engine.test_migrations import TRADE_PNL, backups, build_v1_data_dir
from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow


def test_server_starts_on_a_v1_data_dir_with_history_pnl_and_latch(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    counts = build_v1_data_dir(data_dir, time.time(), halted=True)
    server = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0").start()
    try:
        assert server.health()["trading_state"] == "HALTED"
        session = server.login()
        state = session.get(f"{server.url}/api/state", timeout=10).json()
        assert [t["id"] for t in state["trades"]] == ["T-1"]
        account = state["account"]  # the market moves the open QQQ position's part
        assert account["daily_pnl"] - account["unrealized_pnl"] == pytest.approx(TRADE_PNL)
        assert account["realized_pnl"] == pytest.approx(50.0 - 0.16)
        assert [o["id"] for o in state["orders"]] == ["P-4"]
        assert state["safety"]["trading_state"] == "HALTED"
        audit = session.get(f"{server.url}/api/audit", timeout=10).json()["entries"]
        actions = [e["action"] for e in audit]
        assert "store_migrated" in actions and actions.count("place_order") == 2
    finally:
        server.stop()
    [backup] = backups(data_dir)
    with sqlite3.connect(str(backup)) as db:
        for table, n in counts.items():
            assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == n, table


def test_server_refuses_a_database_it_cannot_upgrade_in_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    build_v1_data_dir(data_dir, time.time(), halted=False)
    db_path = data_dir / "vigil.sqlite3"
    with sqlite3.connect(str(db_path)) as db:
        db.execute("UPDATE meta SET value = 'v1?' WHERE key = 'schema_version'")
    size = db_path.stat().st_size
    server = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0")
    assert server.run_to_exit() == 3
    lines = [line for line in server.output().splitlines() if line.startswith("vigil:")]
    assert len(lines) == 1 and "is not a number" in lines[0], server.output()[-2000:]
    assert "Traceback" not in server.output()
    with sqlite3.connect(str(db_path)) as db:
        assert db.execute("SELECT value FROM meta").fetchone() == ("v1?",)
        columns = [row[1] for row in db.execute("PRAGMA table_info(orders)")]
    assert "venue_order_id" not in columns and db_path.stat().st_size == size
