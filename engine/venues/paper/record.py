"""The paper venue's record file: its JSON shape and the atomic write (temp, fsync, rename)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from engine.models import Fill, Order, OrderStatus, OrderType, Side

RECORD_VERSION = 1


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
