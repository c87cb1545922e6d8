"""The paper venue's record file: its JSON shape, loading it, the atomic write (fsync, rename)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from engine.models import Fill, Order, OrderStatus, OrderType, Side
from engine.venues.base import VenueError, VenuePosition

RECORD_VERSION = 1


@dataclasses.dataclass
class VenueRecord:
    """Everything the paper venue keeps across a restart."""

    cash: float
    clients: dict[str, str]  # venue id -> Vigil's (client) id
    open_orders: list[Order]
    closed_orders: list[Order]
    positions: list[VenuePosition]
    fills: list[Fill]


def save_record(path: Path, record: VenueRecord) -> None:
    """Write `record` atomically; an OSError is the caller's to report."""
    values = {
        "version": RECORD_VERSION,
        "cash": record.cash,
        "clients": record.clients,
        "open_orders": [order_dict(o) for o in record.open_orders],
        "closed_orders": [order_dict(o) for o in record.closed_orders],
        "positions": [dataclasses.asdict(p) for p in record.positions],
        "fills": [fill_dict(f) for f in record.fills],
    }
    write_atomically(path, values)


def load_record(path: Path) -> VenueRecord:
    """The record at `path`; VenueError when it cannot be read or is of another version."""
    try:
        values: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if values.get("version") != RECORD_VERSION:
            raise ValueError(f"version {values.get('version')!r}, expected {RECORD_VERSION}")
        return VenueRecord(
            cash=float(values["cash"]),
            clients={str(k): str(v) for k, v in values["clients"].items()},
            open_orders=[order_from(d) for d in values["open_orders"]],
            closed_orders=[order_from(d) for d in values["closed_orders"]],
            positions=[VenuePosition(**p) for p in values["positions"]],
            fills=[fill_from(d) for d in values["fills"]],
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # A record the venue cannot read is a venue that cannot be trusted: refuse to start.
        raise VenueError(f"paper venue record {path} is unreadable: {exc}") from exc


def write_atomically(path: Path, record: dict[str, Any]) -> None:
    """Readers see the old record or the new one, never half of one, even after a crash."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


def order_dict(order: Order) -> dict[str, Any]:
    values = dataclasses.asdict(order)
    for name in ("side", "type", "status"):
        values[name] = str(values[name])
    return values


def order_from(values: dict[str, Any]) -> Order:
    return Order(
        **{
            **values,
            "side": Side(values["side"]),
            "type": OrderType(values["type"]),
            "status": OrderStatus(values["status"]),
        }
    )


def fill_dict(fill: Fill) -> dict[str, Any]:
    values = dataclasses.asdict(fill)
    values["side"] = str(values["side"])
    return values


def fill_from(values: dict[str, Any]) -> Fill:
    return Fill(**{**values, "side": Side(values["side"])})
