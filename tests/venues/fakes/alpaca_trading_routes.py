"""The Alpaca fake's REST routes: /v2/account, /v2/clock, /v2/orders, /v2/positions and the
fill activities, as alpaca-py's TradingClient calls them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from tests.venues.fakes.alpaca_trading_book import AlpacaBook
from tests.venues.fakes.alpaca_trading_orders import ApiError


def route(
    book: AlpacaBook, method: str, path: str, query: dict[str, str], body: Any
) -> tuple[int, Any]:
    """One REST request against the account: (status, JSON body); raises ApiError."""
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if parts[:1] != ["v2"]:
        raise ApiError(404, "endpoint not found", 40410000)
    parts = parts[1:]
    if parts == ["account"] and method == "GET":
        return 200, book.account_json()
    if parts == ["clock"] and method == "GET":
        return 200, _clock(book)
    if parts[:2] == ["account", "activities"] and method == "GET":
        return 200, _activities(book, parts[2:], query)
    if parts == ["orders:by_client_order_id"] and method == "GET":
        order = book.find(query.get("client_order_id", ""))
        if order is None:
            raise ApiError(404, "order not found", 40410000)
        return 200, order.json()
    if parts == ["orders"]:
        if method == "POST":
            return 200, book.submit(body or {}).json()
        if method == "GET":
            return 200, _list_orders(book, query)
        if method == "DELETE":
            return 207, book.cancel_all()
    if len(parts) == 2 and parts[0] == "orders":
        order = book.orders.get(parts[1])
        if order is None:
            raise ApiError(404, "order not found", 40410000)
        if method == "GET":
            return 200, order.json()
        if method == "DELETE":
            book.cancel(order)
            return 204, None
        if method == "PATCH":
            return 200, book.replace(order, body or {}).json()
    if parts == ["positions"]:
        if method == "GET":
            return 200, [p.json(_mid(book, s)) for s, p in book.positions.items()]
        if method == "DELETE":
            return 207, book.close_all(query.get("cancel_orders") in ("true", "True", "1"))
    if len(parts) == 2 and parts[0] == "positions":
        symbol = parts[1]
        if method == "GET":
            position = book.positions.get(symbol)
            if position is None:
                raise ApiError(404, "position does not exist", 40410000)
            return 200, position.json(_mid(book, symbol))
        if method == "DELETE":
            qty = float(query["qty"]) if query.get("qty") else None
            return 200, book.close_position(symbol, qty).json()
    raise ApiError(404, "endpoint not found", 40410000)


def _mid(book: AlpacaBook, symbol: str) -> float | None:
    bid_ask = book.prices.get(symbol)
    return (bid_ask[0] + bid_ask[1]) / 2 if bid_ask else None


def _clock(book: AlpacaBook) -> dict[str, Any]:
    now = datetime.now(UTC)
    day = timedelta(days=1)
    return {
        "timestamp": now.isoformat(),
        "is_open": book.market_open,
        "next_open": (now + (day if book.market_open else timedelta(hours=3))).isoformat(),
        "next_close": (now + timedelta(hours=3 if book.market_open else 27)).isoformat(),
    }


def _list_orders(book: AlpacaBook, query: dict[str, str]) -> list[dict[str, Any]]:
    status = query.get("status", "open")
    nested = query.get("nested") in ("true", "True", "1")
    orders = list(book.orders.values())
    if nested:
        orders = [o for o in orders if o.parent is None]
    if status == "open":
        # A bracket whose entry filled is open while its exits work.
        orders = [o for o in orders if o.is_open or any(leg.is_open for leg in o.legs)]
    elif status == "closed":
        orders = [o for o in orders if not o.is_open]
    if query.get("after"):
        orders = [o for o in orders if o.created_at > query["after"]]
    if query.get("symbols"):
        wanted = set(query["symbols"].split(","))
        orders = [o for o in orders if o.symbol in wanted]
    if query.get("direction", "desc") == "desc":
        orders.reverse()
    limit = min(int(query.get("limit") or 50), 500)
    return [o.json() for o in orders[:limit]]


def _activities(book: AlpacaBook, parts: list[str], query: dict[str, str]) -> list[dict[str, Any]]:
    types = parts[:1] or query.get("activity_types", "FILL").split(",")
    if "FILL" not in types:
        return []
    items = list(book.activities)
    if query.get("after"):
        items = [a for a in items if a["transaction_time"] > query["after"]]
    if query.get("direction", "desc") == "desc":
        items.reverse()
    if query.get("page_token"):
        ids = [a["id"] for a in items]
        start = ids.index(query["page_token"]) + 1 if query["page_token"] in ids else 0
        items = items[start:]
    size = min(int(query.get("page_size") or 100), 100)
    return items[:size]
