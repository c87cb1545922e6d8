"""How the store's model objects become SQLite rows and back (one place for the columns)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields
from typing import Any

from engine.models import ClosedTrade, Fill, Order, OrderStatus, OrderType, Side

# Columns are named after the dataclass fields, so a field added to a model without a
# migration fails the round-trip tests instead of being dropped silently.
ORDER_COLUMNS = tuple(f.name for f in fields(Order))
FILL_COLUMNS = tuple(f.name for f in fields(Fill))
TRADE_COLUMNS = tuple(f.name for f in fields(ClosedTrade))


@dataclass(frozen=True)
class AuditRow:
    """An audit entry stamped when it happened, so a delayed write keeps the true time."""

    ts: float
    actor: str
    action: str
    reason: str = ""
    outcome: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    marks = ", ".join(f":{name}" for name in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({marks})"


def order_row(order: Order) -> dict[str, Any]:
    values = {name: getattr(order, name) for name in ORDER_COLUMNS}
    # Through the enums, so a stray string is refused here rather than on a later load.
    values["side"] = Side(order.side).value
    values["type"] = OrderType(order.type).value
    values["status"] = OrderStatus(order.status).value
    values["reduce_only"] = int(bool(order.reduce_only))
    return values


AUDIT_INSERT = (
    "INSERT INTO audit (ts, actor, action, reason, outcome, details) VALUES (?, ?, ?, ?, ?, ?)"
)


def audit_row(row: AuditRow) -> tuple[float, str, str, str, str, str]:
    # Values JSON cannot encode are stored as their str(): an audit row is never lost to that.
    details = json.dumps(row.details, sort_keys=True, default=str)
    return (row.ts, row.actor, row.action, row.reason, row.outcome, details)


def fill_row(fill: Fill) -> dict[str, Any]:
    values = {name: getattr(fill, name) for name in FILL_COLUMNS}
    values["side"] = Side(fill.side).value
    values["id"] = fill.id or None
    return values


def trade_row(trade: ClosedTrade) -> dict[str, Any]:
    values = {name: getattr(trade, name) for name in TRADE_COLUMNS}
    values["id"] = trade.id or None
    return values


def order_from_row(row: sqlite3.Row) -> Order:
    values = dict(row)
    values["side"] = Side(row["side"])
    values["type"] = OrderType(row["type"])
    values["status"] = OrderStatus(row["status"])
    values["reduce_only"] = bool(row["reduce_only"])
    return Order(**values)
