"""Vigil's durable record: orders, fills, trades, equity and the audit log in one SQLite file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from engine.clock import Clock, SystemClock
from engine.models import ClosedTrade, Fill, Order, OrderStatus, Side
from engine.store.connections import SqliteConnections, StoreError
from engine.store.migrations import (
    STEPS,
    Migration,
    MigrationError,
    Step,
    migrate,
    read_version,
)
from engine.store.rows import (
    AUDIT_INSERT,
    FILL_COLUMNS,
    ORDER_COLUMNS,
    TRADE_COLUMNS,
    AuditRow,
    audit_row,
    fill_row,
    insert_sql,
    order_from_row,
    order_row,
    trade_row,
)
from engine.store.schema import SCHEMA

_OPEN_STATUSES = tuple(s.value for s in OrderStatus if s.is_open)
_COUNTED_TABLES = ("orders", "fills", "trades", "equity", "audit")


class StoreWriteError(StoreError):
    """SQLite refused a write (disk full, read-only file or directory, I/O error)."""


class Store:
    """SQLite in WAL mode: one connection per thread, writes serialised by one lock.

    The engine thread writes; web threads read concurrently from their own connections and
    see every committed write. `synchronous=FULL` because a committed fill or audit row must
    survive a power cut, not just a crash of the process.
    """

    def __init__(
        self, path: Path, *, clock: Clock | None = None, steps: Sequence[Step] = STEPS
    ) -> None:
        """Open (creating or upgrading) the database; `steps` is for tests of upgrades.

        Raises StoreError, in one line, for a database this Vigil cannot use as it is.
        """
        self.path = Path(path)
        # Set when this open upgraded an older schema (the engine announces it).
        self.migration: Migration | None = None
        self._clock = clock or SystemClock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connections = SqliteConnections(
            self.path, ("busy_timeout = 5000", "foreign_keys = ON", "synchronous = FULL"), rows=True
        )
        conn = self._conn()
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            self.close()
            raise StoreError(f"{self.path}: cannot enable WAL journal mode (got {mode!r})")
        try:
            self._migrate(steps)
        except BaseException:
            self.close()
            raise

    # -- connections ---------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._connections.write()

    def _migrate(self, steps: Sequence[Step]) -> None:
        latest = len(steps) + 1
        with self._write() as conn:
            try:
                found = read_version(conn, self.path)
                if found > latest:
                    raise MigrationError(
                        f"{self.path}: schema version {found} is newer than this Vigil "
                        f"understands ({latest}); refusing to open it"
                    )
                if 0 < found < latest:
                    self.migration = migrate(conn, self.path, found, self._clock.time(), steps)
            except MigrationError as exc:
                raise StoreError(str(exc)) from exc
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(latest),),
            )
            if self.migration is not None:
                # In the same transaction: the upgrade and its record land together.
                details = {"from": found, "to": latest, "backup": str(self.migration.backup)}
                conn.execute(
                    AUDIT_INSERT,
                    audit_row(
                        AuditRow(
                            self._clock.time(),
                            "system",
                            "store_migrated",
                            outcome=f"v{latest}",
                            details=details,
                        )
                    ),
                )

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the main file and empty it (at a graceful stop, so a
        backup of the database file alone is whole)."""
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def close(self) -> None:
        """Close every thread's connection; later calls on this Store raise StoreError."""
        self._connections.close()

    def pragmas(self) -> dict[str, Any]:
        """The calling thread's connection settings, for health checks and tests."""
        conn = self._conn()
        return {
            name: conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }

    # -- writes --------------------------------------------------------------------------

    def save_order(self, order: Order) -> None:
        """Insert the order, or replace every field of the row with the same id."""
        self.save_orders([order])

    def save_orders(self, orders: Sequence[Order]) -> None:
        """Upsert many orders in one transaction: one fsync, not one per order (a cancel-all
        of 100 orders would otherwise spend most of the kill switch's time committing)."""
        self.save_batch(orders=orders)

    def save_fill(self, fill: Fill) -> bool:
        """Record a fill; a fill whose non-empty id is already stored is ignored.

        Returns True when a row was written, so a caller can avoid applying a replayed fill
        twice. Fills without an id are always written.
        """
        with self._write() as conn:
            sql = f"{insert_sql('fills', FILL_COLUMNS)} ON CONFLICT (id) DO NOTHING"
            return conn.execute(sql, fill_row(fill)).rowcount == 1

    def save_trade(self, trade: ClosedTrade) -> bool:
        """Record a closed trade; like fills, a repeated non-empty id is ignored (returns False)."""
        with self._write() as conn:
            sql = f"{insert_sql('trades', TRADE_COLUMNS)} ON CONFLICT (id) DO NOTHING"
            return conn.execute(sql, trade_row(trade)).rowcount == 1

    def save_batch(
        self,
        *,
        fills: Sequence[Fill] = (),
        trades: Sequence[ClosedTrade] = (),
        orders: Sequence[Order] = (),
        audits: Sequence[AuditRow] = (),
    ) -> None:
        """Write fills, trades, orders and audit rows in ONE transaction: all or nothing.

        Replay-safe: a fill or trade whose non-empty id is stored already is skipped, so a
        batch retried after a failure lands exactly once. Raises StoreWriteError when SQLite
        refuses the write; nothing of the batch is then stored.
        """
        try:
            with self._write() as conn:
                if fills:
                    conn.executemany(
                        f"{insert_sql('fills', FILL_COLUMNS)} ON CONFLICT (id) DO NOTHING",
                        [fill_row(f) for f in fills],
                    )
                if trades:
                    conn.executemany(
                        f"{insert_sql('trades', TRADE_COLUMNS)} ON CONFLICT (id) DO NOTHING",
                        [trade_row(t) for t in trades],
                    )
                if orders:
                    updates = ", ".join(f"{name} = excluded.{name}" for name in ORDER_COLUMNS[1:])
                    conn.executemany(
                        f"{insert_sql('orders', ORDER_COLUMNS)} "
                        f"ON CONFLICT (id) DO UPDATE SET {updates}",
                        [order_row(o) for o in orders],
                    )
                if audits:
                    conn.executemany(AUDIT_INSERT, [audit_row(a) for a in audits])
        except sqlite3.Error as exc:
            raise StoreWriteError(str(exc)) from exc  # the path stays in the log, off the page

    def save_equity(self, ts: float, equity: float) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO equity (ts, equity) VALUES (?, ?)", (ts, equity))

    def audit(
        self,
        actor: str,
        action: str,
        *,
        reason: str = "",
        outcome: str = "",
        details: dict[str, Any] | None = None,
        ts: float | None = None,
    ) -> int:
        """Append one audit row and return its id; `ts` defaults to the store's clock.

        Values in `details` that JSON cannot encode are stored as their str(): an audit row
        must never be lost to a serialisation error.
        """
        when = self._clock.time() if ts is None else ts
        row = AuditRow(when, actor, action, reason, outcome, details or {})
        with self._write() as conn:
            cursor = conn.execute(AUDIT_INSERT, audit_row(row))
            return int(cursor.lastrowid or 0)

    def set_kv(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def get_kv(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # -- reads ---------------------------------------------------------------------------

    def load_orders(self, open_only: bool = False) -> list[Order]:
        """Orders oldest first (by creation time); `open_only` keeps new and partially filled."""
        sql = f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders"
        params: tuple[str, ...] = ()
        if open_only:
            sql += f" WHERE status IN ({', '.join('?' for _ in _OPEN_STATUSES)})"
            params = _OPEN_STATUSES
        sql += " ORDER BY created_ts, rowid"
        return [order_from_row(row) for row in self._conn().execute(sql, params)]

    def load_fills(self, since: float | None = None) -> list[Fill]:
        """Every fill (`since`: with ts >= since), oldest first (by ts, then by insertion)."""
        sql = f"SELECT {', '.join(FILL_COLUMNS)} FROM fills"
        params: tuple[float, ...] = ()
        if since is not None:
            sql += " WHERE ts >= ?"
            params = (since,)
        return [
            Fill(**{**dict(row), "side": Side(row["side"]), "id": row["id"] or ""})
            for row in self._conn().execute(sql + " ORDER BY ts, seq", params)
        ]

    def last_fill_ts(self) -> float | None:
        """The newest stored fill's time; None when no fill is stored."""
        row = self._conn().execute("SELECT MAX(ts) FROM fills").fetchone()
        return None if row[0] is None else float(row[0])

    def load_trades(
        self, limit: int | None = None, since: float | None = None
    ) -> list[ClosedTrade]:
        """Closed trades newest first (by exit time); `since` keeps exit_ts >= since."""
        sql = f"SELECT {', '.join(TRADE_COLUMNS)} FROM trades"
        params: list[float | int] = []
        if since is not None:
            sql += " WHERE exit_ts >= ?"
            params.append(since)
        sql += " ORDER BY exit_ts DESC, seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(int(limit), 0))
        return [
            ClosedTrade(**{**dict(row), "id": row["id"] or ""})
            for row in self._conn().execute(sql, params)
        ]

    def load_equity(
        self, since: float | None = None, limit: int | None = None
    ) -> list[tuple[float, float]]:
        """(ts, equity) oldest first; with `limit`, the newest `limit` points, oldest first."""
        sql = "SELECT ts, equity FROM equity"
        params: list[float | int] = []
        if since is not None:
            sql += " WHERE ts >= ?"
            params.append(since)
        sql += " ORDER BY ts DESC, seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(int(limit), 0))
        points = [(row[0], row[1]) for row in self._conn().execute(sql, params)]
        points.reverse()
        return points

    def audit_log(self, limit: int = 200, before_id: int | None = None) -> list[dict[str, Any]]:
        """Audit rows newest first; `before_id` pages back. `ts` here is epoch milliseconds."""
        sql = "SELECT id, ts, actor, action, reason, outcome, details FROM audit"
        params: list[int] = []
        if before_id is not None:
            sql += " WHERE id < ?"
            params.append(int(before_id))
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(max(int(limit), 0))
        return [
            {
                "id": row["id"],
                "ts": round(row["ts"] * 1000),
                "actor": row["actor"],
                "action": row["action"],
                "reason": row["reason"],
                "outcome": row["outcome"],
                "details": json.loads(row["details"]),
            }
            for row in self._conn().execute(sql, params)
        ]

    def realized_pnl_since(self, ts: float) -> float:
        """Sum of closed-trade pnl (net of fees) with exit_ts >= ts; 0.0 when there is none."""
        row = (
            self._conn()
            .execute("SELECT COALESCE(SUM(pnl), 0.0) FROM trades WHERE exit_ts >= ?", (ts,))
            .fetchone()
        )
        return float(row[0])

    def counts(self) -> dict[str, int]:
        """Row counts of orders, fills, trades, equity and audit, read from one snapshot."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            return {
                table: int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                for table in _COUNTED_TABLES
            }
        finally:
            conn.execute("COMMIT")
