"""Upgrades keep the user's data: a data directory written by schema v1 opens under this Vigil."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.models import KillLevel
from engine.safety.latch import KillSwitchLatch
from engine.store import SCHEMA_VERSION, Store, StoreError
from engine.store.migrations import backup_path
from tests.conftest import SyncEngine, make_settings

# The v1 schema exactly as Vigil wrote it before issue #10 (git show 6b10e1b:engine/store.py),
# as literal SQL: the test must not follow later edits of the code's own CREATE statements.
V1_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE IF NOT EXISTS orders (
        id TEXT PRIMARY KEY, symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')), qty REAL NOT NULL,
        type TEXT NOT NULL, status TEXT NOT NULL,
        created_ts REAL NOT NULL, updated_ts REAL NOT NULL,
        limit_price REAL, stop_price REAL, take_profit REAL, stop_loss REAL,
        reduce_only INTEGER NOT NULL, source TEXT NOT NULL, tag TEXT NOT NULL,
        parent_id TEXT, oco_id TEXT, filled_qty REAL NOT NULL, avg_fill_price REAL NOT NULL,
        reject_reason TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS orders_status ON orders (status)",
    """CREATE TABLE IF NOT EXISTS fills (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, order_id TEXT NOT NULL,
        symbol TEXT NOT NULL, side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        qty REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL, ts REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS fills_ts ON fills (ts)",
    """CREATE TABLE IF NOT EXISTS trades (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, symbol TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('long', 'short')), qty REAL NOT NULL,
        entry_price REAL NOT NULL, exit_price REAL NOT NULL, pnl REAL NOT NULL,
        fees REAL NOT NULL, entry_ts REAL NOT NULL, exit_ts REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS trades_exit_ts ON trades (exit_ts)",
    """CREATE TABLE IF NOT EXISTS equity (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, equity REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS equity_ts ON equity (ts)",
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, reason TEXT NOT NULL, outcome TEXT NOT NULL,
        details TEXT NOT NULL)""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

ORDER_SQL = (
    "INSERT INTO orders (id, symbol, side, qty, type, status, created_ts, updated_ts, "
    "limit_price, stop_price, take_profit, stop_loss, reduce_only, source, tag, parent_id, "
    "oco_id, filled_qty, avg_fill_price, reject_reason) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, 'manual', 'admin', NULL, NULL, "
    "?, ?, '')"
)
FILL_SQL = (
    "INSERT INTO fills (id, order_id, symbol, side, qty, price, fee, ts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
TRADE_SQL = (
    "INSERT INTO trades (id, symbol, direction, qty, entry_price, exit_price, pnl, fees, "
    "entry_ts, exit_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
AUDIT_SQL = (
    "INSERT INTO audit (ts, actor, action, reason, outcome, details) VALUES (?, ?, ?, ?, ?, ?)"
)
TRADE_PNL = 49.9  # (101 - 96) x 10 less 0.1 of fees


def build_v1_data_dir(data_dir: Path, now: float, *, halted: bool) -> dict[str, Any]:
    """A data directory as the v1 Vigil left it: history, an open position, an open order, a
    closed round trip today, equity points, audit rows and (optionally) an engaged latch."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(data_dir / "vigil.sqlite3"), isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    for statement in V1_SCHEMA:
        db.execute(statement)
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    t0 = now - 600
    orders = [
        ("P-1", "SPY", "buy", 10.0, "market", "filled", t0, t0, None, 0, 10.0, 96.0),
        ("P-2", "SPY", "sell", 10.0, "market", "filled", now - 1, now - 1, None, 1, 10.0, 101.0),
        ("P-3", "QQQ", "buy", 2.0, "market", "filled", t0 + 1, t0 + 1, None, 0, 2.0, 300.0),
        ("P-4", "QQQ", "buy", 1.0, "limit", "new", t0 + 2, t0 + 2, 250.0, 0, 0.0, 0.0),
    ]
    db.executemany(ORDER_SQL, orders)
    db.executemany(
        FILL_SQL,
        [
            ("F-1", "P-1", "SPY", "buy", 10.0, 96.0, 0.05, t0),
            ("F-2", "P-2", "SPY", "sell", 10.0, 101.0, 0.05, now - 1),
            ("F-3", "P-3", "QQQ", "buy", 2.0, 300.0, 0.06, t0 + 1),
        ],
    )
    db.execute(TRADE_SQL, ("T-1", "SPY", "long", 10.0, 96.0, 101.0, TRADE_PNL, 0.1, t0, now - 1))
    db.executemany(
        "INSERT INTO equity (ts, equity) VALUES (?, ?)",
        [(t0 + 60 * i, 100_000.0 + i) for i in range(5)],
    )
    db.executemany(
        AUDIT_SQL,
        [
            (t0, "admin", "place_order", "", "P-1", json.dumps({"symbol": "SPY"})),
            (now - 1, "admin", "place_order", "", "P-2", json.dumps({"symbol": "SPY"})),
        ],
    )
    db.close()
    if halted:
        KillSwitchLatch(data_dir / "kill_switch.json").engage(
            KillLevel.HALT, "halted before the upgrade", "admin", now - 30
        )
    return {"orders": len(orders), "fills": 3, "trades": 1, "equity": 5, "audit": 2}


def columns(db_path: Path, table: str) -> list[str]:
    with sqlite3.connect(str(db_path)) as db:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def backups(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("vigil.sqlite3.v1-*.bak"))


def test_v1_data_dir_upgrades_with_history_pnl_and_latch_intact(tmp_path: Path) -> None:
    clock = FakeClock(start=1_780_000_000.0)
    data_dir = tmp_path / "var"
    counts = build_v1_data_dir(data_dir, clock.time(), halted=True)
    engine = SyncEngine(make_settings(data_dir), clock)
    c, state = engine.parts, engine.rt.state
    try:
        assert c.store.migration is not None and c.store.migration.to_version == SCHEMA_VERSION
        # The history and the P&L, as the page sees them.
        assert [t["id"] for t in state.get("trades")] == ["T-1"]
        # v3: a trade from before exit reasons were recorded has none, not a guessed one.
        assert [t["exit_reason"] for t in state.get("trades")] == [""]
        assert state.get("account")["daily_pnl"] == pytest.approx(TRADE_PNL)
        assert c.desk.ledger.realized_pnl == pytest.approx(50.0 - 0.16)  # every fill's fee
        assert {p["symbol"]: p["qty"] for p in state.get("positions")} == {"QQQ": 2.0}
        assert [o["id"] for o in state.get("orders")] == ["P-4"]
        assert [o.venue_order_id for o in c.store.load_orders()] == [""] * 4
        assert len(c.store.load_equity()) == counts["equity"]
        # The latch: still HALTED, before any order could go out.
        assert c.safety.trading_state.value == "HALTED"
        # Old audit rows kept, the upgrade itself recorded and announced.
        actions = [row["action"] for row in c.store.audit_log()]
        assert actions.count("place_order") == 2 and "store_migrated" in actions
        messages = [p.get("message", "") for topic, p in engine.events if topic == "system"]
        assert any("backup" in m and "v1" in m for m in messages), messages
    finally:
        engine.rt.stop()
    db_path = data_dir / "vigil.sqlite3"
    assert "venue_order_id" in columns(db_path, "orders")
    with sqlite3.connect(str(db_path)) as db:
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)
    # The backup is the v1 database, complete and openable.
    [backup] = backups(data_dir)
    with sqlite3.connect(str(backup)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT value FROM meta").fetchone() == ("1",)
        for table, n in counts.items():
            assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == n, table
    assert "venue_order_id" not in columns(backup, "orders")
    # A second start finds v2: no second backup, no second upgrade.
    again = Store(db_path)
    assert again.migration is None
    again.close()
    assert backups(data_dir) == [backup]


def test_new_database_is_created_at_the_latest_version_without_backup(tmp_path: Path) -> None:
    store = Store(tmp_path / "vigil.sqlite3")
    assert store.migration is None
    store.close()
    assert "venue_order_id" in columns(tmp_path / "vigil.sqlite3", "orders")
    assert list(tmp_path.glob("*.bak")) == []


def snapshot_db(path: Path) -> dict[str, Any]:
    with sqlite3.connect(str(path)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master ORDER BY name")]
        return {
            "schema": [r for r in db.execute("SELECT sql FROM sqlite_master ORDER BY name")],
            "rows": {
                t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in tables
                if t in {"meta", "orders", "fills", "trades", "equity", "audit", "kv"}
            },
        }


def test_failed_step_leaves_the_database_untouched_and_refuses_in_one_line(
    tmp_path: Path,
) -> None:
    build_v1_data_dir(tmp_path, 1_780_000_000.0, halted=False)
    db_path = tmp_path / "vigil.sqlite3"
    before = snapshot_db(db_path)

    def boom(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE orders ADD COLUMN half_done TEXT")
        raise ValueError("disk said no")

    with pytest.raises(StoreError) as caught:
        Store(db_path, steps=(boom,))
    message = str(caught.value)
    assert "\n" not in message and "v1 -> v2 failed" in message and "disk said no" in message
    assert snapshot_db(db_path) == before  # the half-done ALTER rolled back too
    # The backup taken before the step is there and holds the same database.
    [backup] = backups(tmp_path)
    assert snapshot_db(backup)["rows"] == before["rows"]


@pytest.mark.parametrize(
    ("value", "words"),
    [("not-a-number", "is not a number"), ("0", "is not valid"), (str(99), "is newer")],
)
def test_bad_or_newer_version_is_refused_and_left_alone(
    tmp_path: Path, value: str, words: str
) -> None:
    build_v1_data_dir(tmp_path, 1_780_000_000.0, halted=False)
    db_path = tmp_path / "vigil.sqlite3"
    with sqlite3.connect(str(db_path)) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
    before = snapshot_db(db_path)
    with pytest.raises(StoreError, match=words) as caught:
        Store(db_path)
    assert "\n" not in str(caught.value)
    assert snapshot_db(db_path) == before
    assert backups(tmp_path) == []


def test_tables_without_a_version_are_refused(tmp_path: Path) -> None:
    build_v1_data_dir(tmp_path, 1_780_000_000.0, halted=False)
    db_path = tmp_path / "vigil.sqlite3"
    with sqlite3.connect(str(db_path)) as db:
        db.execute("DELETE FROM meta")
    with pytest.raises(StoreError, match="no schema version"):
        Store(db_path)
    assert "venue_order_id" not in columns(db_path, "orders")


def test_backup_never_overwrites_an_older_one(tmp_path: Path) -> None:
    db_path = tmp_path / "vigil.sqlite3"
    now = 1_780_000_000.0
    first = backup_path(db_path, 1, now)
    first.write_text("an older backup")
    second = backup_path(db_path, 1, now)
    assert second != first and second.name.endswith(".bak")
    second.write_text("another")
    assert backup_path(db_path, 1, now) not in {first, second}
    assert first.read_text() == "an older backup"
