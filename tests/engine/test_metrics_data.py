"""The engine's plain numbers for /metrics: orders counted once by outcome, events counted per
topic, and metrics_data() as JSON-able data that survives a round trip."""

from __future__ import annotations

import json

from engine.bus import EventBus
from engine.clock import FakeClock
from engine.models import Fill, Order, OrderStatus, OrderType, Side
from engine.trading.orders import OrderTracker
from engine.venues.base import OrderEvent, OrderEventKind
from tests.conftest import SyncEngine

NOW = 1_767_225_600.0


def _order(tracker: OrderTracker, status: OrderStatus = OrderStatus.NEW) -> Order:
    order = Order(tracker.next_id(), "SPY", Side.BUY, 1.0, OrderType.MARKET, status, NOW, NOW)
    tracker.add(order)
    return order


def _event(order: Order, kind: OrderEventKind, fill: Fill | None = None) -> OrderEvent:
    return OrderEvent(kind, order.id, "", order.symbol, NOW + 1, fill=fill)


def test_orders_closed_then_counted_once_by_final_status() -> None:
    tracker = OrderTracker()
    filled, cancelled, refused = _order(tracker), _order(tracker), _order(tracker)
    fill = Fill(filled.id, "SPY", Side.BUY, 1.0, 100.0, 0.0, NOW + 1, id="f-1")

    tracker.apply(_event(filled, OrderEventKind.ACCEPTED))
    tracker.apply(_event(filled, OrderEventKind.FILLED, fill))
    tracker.apply(_event(filled, OrderEventKind.FILLED, fill))  # the venue repeats itself
    tracker.apply(_event(filled, OrderEventKind.CANCELED))  # late news about a closed order
    tracker.close(cancelled.id, OrderStatus.CANCELED, "operator", NOW + 2)
    tracker.close(cancelled.id, OrderStatus.CANCELED, "operator", NOW + 3)
    tracker.apply(_event(refused, OrderEventKind.REJECTED))
    _order(tracker, OrderStatus.REJECTED)  # a synchronous answer: closed on arrival
    _order(tracker)  # still open: not an outcome yet

    assert tracker.outcomes == {"filled": 1, "canceled": 1, "rejected": 2}


def test_publish_then_counted_per_topic() -> None:
    bus = EventBus(FakeClock())
    bus.subscribe(lambda topic, payload: None, {"quote_update"})

    for topic in ("quote_update", "quote_update", "safety_update"):
        bus.publish(topic, {})

    assert bus.published_counts() == {"quote_update": 2, "safety_update": 1}


def test_metrics_data_then_json_round_trip_unchanged_and_live_numbers(engine: SyncEngine) -> None:
    engine.market(2)
    answer = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 1})
    assert answer["ok"], answer
    engine.market(1)  # the snapshot's positions are published with the market

    data = engine.rt.metrics_data()

    assert json.loads(json.dumps(data)) == data
    assert data["orders"].get("filled") == 1 and data["open_positions"] == 1
    assert data["published"]["orders_update"] >= 1
    assert data["trading_state"] == "ACTIVE" and data["kill_switch_engaged"] is False
    assert set(data["queues"]) == {"commands", "venue", "market"}
    assert {"link": "broker", "venue": "paper", "state": "connected"} in data["venues"]
    assert set(data["breakers"]) and not any(data["breakers"].values())
    assert data["heartbeat_age_s"] >= 0 and data["ts"] == engine.clock.time()
