"""The Alpaca fake's orders and positions as Alpaca's JSON describes them."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

OPEN = {"new", "accepted", "partially_filled", "held", "pending_new", "pending_cancel"}
OPTION_SYMBOL = re.compile(r"^[A-Z]{1,6}\d{6}[CP]\d{8}$")


class ApiError(Exception):
    """An answer other than 2xx: Alpaca's {"code", "message"} body."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or status * 100000


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def asset_class(symbol: str) -> str:
    if "/" in symbol:
        return "crypto"
    return "us_option" if OPTION_SYMBOL.match(symbol) else "us_equity"


def multiplier(symbol: str) -> float:
    return 100.0 if asset_class(symbol) == "us_option" else 1.0


def parse_positive(value: Any, name: str, *, required: bool = False) -> float | None:
    if value is None or value == "":
        if required:
            raise ApiError(422, f"{name} is required", 40010000)
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ApiError(422, f"invalid {name}", 40010000) from None
    if not number > 0:
        raise ApiError(422, f"{name} must be > 0", 40010000)
    return number


@dataclass
class FakeOrder:
    symbol: str
    side: str
    qty: float
    type: str
    client_order_id: str
    time_in_force: str = "day"
    limit_price: float | None = None
    stop_price: float | None = None
    order_class: str = "simple"
    extended_hours: bool = False
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "new"
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    filled_at: str | None = None
    canceled_at: str | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    legs: list[FakeOrder] = field(default_factory=list)
    parent: FakeOrder | None = field(default=None, repr=False)
    triggered: bool = False

    @property
    def remaining(self) -> float:
        return max(self.qty - self.filled_qty, 0.0)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def json(self, *, status: str | None = None) -> dict[str, Any]:
        def text(value: float | None) -> str | None:
            return None if value is None else f"{value:g}"

        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "submitted_at": self.created_at,
            "filled_at": self.filled_at,
            "expired_at": None,
            "canceled_at": self.canceled_at,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.symbol)),
            "symbol": self.symbol,
            "asset_class": asset_class(self.symbol),
            "notional": None,
            "qty": text(self.qty),
            "filled_qty": f"{self.filled_qty:g}",
            "filled_avg_price": text(self.filled_avg_price),
            "order_class": self.order_class,
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": None,
            "time_in_force": self.time_in_force,
            "limit_price": text(self.limit_price),
            "stop_price": text(self.stop_price),
            "status": status or self.status,
            "extended_hours": self.extended_hours,
            "legs": [leg.json() for leg in self.legs] if self.legs else None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
        }


@dataclass
class FakePosition:
    symbol: str
    qty: float
    avg_entry_price: float

    def json(self, price: float | None) -> dict[str, Any]:
        mark = price if price is not None else self.avg_entry_price
        mult = multiplier(self.symbol)
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.symbol)),
            "symbol": self.symbol,
            "exchange": "NASDAQ" if asset_class(self.symbol) == "us_equity" else "CRYPTO",
            "asset_class": asset_class(self.symbol),
            "asset_marginable": True,
            "avg_entry_price": f"{self.avg_entry_price:g}",
            "qty": f"{self.qty:g}",
            "qty_available": f"{self.qty:g}",
            "side": "long" if self.qty > 0 else "short",
            "market_value": f"{mark * self.qty * mult:g}",
            "cost_basis": f"{self.avg_entry_price * self.qty * mult:g}",
            "unrealized_pl": f"{(mark - self.avg_entry_price) * self.qty * mult:g}",
            "current_price": f"{mark:g}",
        }
