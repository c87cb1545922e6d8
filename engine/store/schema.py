"""The latest schema of Vigil's store, as CREATE statements for a new database."""

from __future__ import annotations

# One statement per entry: executescript() would commit behind our back, and the schema is
# created inside the same IMMEDIATE transaction that checks the version. This is the latest
# schema, for a new database; an older one is brought here by engine/store/migrations.py.
SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS orders (
        id TEXT PRIMARY KEY, symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')), qty REAL NOT NULL,
        type TEXT NOT NULL, status TEXT NOT NULL,
        created_ts REAL NOT NULL, updated_ts REAL NOT NULL,
        limit_price REAL, stop_price REAL, take_profit REAL, stop_loss REAL,
        reduce_only INTEGER NOT NULL, source TEXT NOT NULL, tag TEXT NOT NULL,
        parent_id TEXT, oco_id TEXT, filled_qty REAL NOT NULL, avg_fill_price REAL NOT NULL,
        reject_reason TEXT NOT NULL, venue_order_id TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX IF NOT EXISTS orders_status ON orders (status)",
    # No foreign key to orders: a fill is a fact reported by the broker, and refusing to record
    # it because its order row is missing (an order placed outside Vigil) would lose money data.
    # id is NULL when the broker gave none; UNIQUE ignores NULLs, so those are never merged.
    """CREATE TABLE IF NOT EXISTS fills (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, order_id TEXT NOT NULL,
        symbol TEXT NOT NULL, side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        qty REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL, ts REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS fills_ts ON fills (ts)",
    """CREATE TABLE IF NOT EXISTS trades (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, symbol TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('long', 'short')), qty REAL NOT NULL,
        entry_price REAL NOT NULL, exit_price REAL NOT NULL, pnl REAL NOT NULL,
        fees REAL NOT NULL, entry_ts REAL NOT NULL, exit_ts REAL NOT NULL,
        exit_reason TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX IF NOT EXISTS trades_exit_ts ON trades (exit_ts)",
    """CREATE TABLE IF NOT EXISTS equity (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, equity REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS equity_ts ON equity (ts)",
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, reason TEXT NOT NULL, outcome TEXT NOT NULL,
        details TEXT NOT NULL)""",
    # The audit trail is append-only, even for someone holding the sqlite3 shell.
    """CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
