"""JSON-ready views of engine objects, shaped as docs/EVENTS.md says."""

from __future__ import annotations

from typing import Any

from engine.models import ClosedTrade, Order, OrderBook, Position, Signal


def ms(ts: float | None) -> int | None:
    return None if ts is None else int(ts * 1000)


def order_payload(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "symbol": order.symbol,
        "side": str(order.side),
        "qty": order.qty,
        "type": str(order.type),
        "status": str(order.status),
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "stop_loss": order.stop_loss,
        "take_profit": order.take_profit,
        "filled_qty": order.filled_qty,
        "avg_fill_price": order.avg_fill_price,
        "source": order.source,
        "reduce_only": order.reduce_only,
        "parent_id": order.parent_id,
        "reject_reason": order.reject_reason,
        "venue_order_id": order.venue_order_id,
        "created_ts": ms(order.created_ts),
    }


def position_payload(position: Position) -> dict[str, Any]:
    cost = abs(position.avg_price * position.qty * position.multiplier)
    return {
        "symbol": position.symbol,
        "side": "long" if position.qty > 0 else "short",
        "qty": abs(position.qty),
        "avg_price": position.avg_price,
        "last_price": position.last_price,
        "unrealized_pnl": position.unrealized_pnl,
        "unrealized_pct": position.unrealized_pnl / cost if cost else 0.0,
        "realized_pnl": position.realized_pnl,
        "market_value": position.market_value,
        "multiplier": position.multiplier,
        "stop_loss": position.stop_loss,
        "take_profit": position.take_profit,
        "opened_ts": ms(position.opened_ts),
    }


def trade_payload(trade: ClosedTrade) -> dict[str, Any]:
    return {
        "id": trade.id,
        "symbol": trade.symbol,
        "direction": trade.direction,
        "qty": trade.qty,
        "entry_price": trade.entry_price,
        "exit_price": trade.exit_price,
        "pnl": trade.pnl,
        "fees": trade.fees,
        "entry_ts": ms(trade.entry_ts),
        "exit_ts": ms(trade.exit_ts),
        "exit_reason": trade.exit_reason,
    }


def book_payload(book: OrderBook) -> dict[str, Any]:
    return {
        "symbol": book.symbol,
        "bids": [[level.price, level.size] for level in book.bids[:10]],
        "asks": [[level.price, level.size] for level in book.asks[:10]],
    }


def signal_payload(signal: Signal) -> dict[str, Any]:
    return {
        "symbol": signal.symbol,
        "side": str(signal.side),
        "confidence": round(signal.confidence, 3),
        "reason": signal.reason,
        "price": signal.price,
    }
