"""The desk's order state machine driven by venue events, through the engine (SyncEngine)."""

from __future__ import annotations

from pathlib import Path

from dashboard.settings import VigilSettings
from engine.clock import FakeClock
from engine.models import Fill, Order, OrderStatus, OrderType, Side
from engine.venues.base import OrderEvent, OrderEventKind
from tests.conftest import SyncEngine, make_settings


def place(engine: SyncEngine, **body: object) -> dict:
    answer = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5, **body})
    assert answer["ok"], answer
    return answer["order"]


def order(engine: SyncEngine, order_id: str) -> Order:
    found = engine.parts.desk.orders.get(order_id)
    assert found is not None
    return found


def resting_limit(engine: SyncEngine) -> str:
    q = engine.parts.market.quote("QQQ")
    assert q is not None
    return place(engine, type="limit", limit_price=round(q.bid * 0.995, 2))["id"]


def venue_event(engine: SyncEngine, event: OrderEvent) -> None:
    """A venue report through the engine's queue, as the venue's thread would send it."""
    engine.rt.submit_venue(event)
    engine.venue()


def fill_event(
    engine: SyncEngine, o: Order, qty: float, fill_id: str, kind: OrderEventKind
) -> OrderEvent:
    now = engine.clock.time()
    fill = Fill(o.id, o.symbol, o.side, qty, 400.0, 0.01, now, fill_id)
    return OrderEvent(kind, o.id, o.venue_order_id, o.symbol, now, fill=fill)


def test_market_order_then_new_then_accepted_then_filled_with_both_ids(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    engine.parts.broker.stall()  # hold the venue's answers to see each step
    placed = place(engine)
    assert placed["status"] == "new" and order(engine, placed["id"]).status is OrderStatus.NEW

    engine.parts.broker.resume()
    engine.venue()

    done = order(engine, placed["id"])
    assert done.status is OrderStatus.FILLED and done.venue_order_id.startswith("PV-")
    stored = {o.id: o for o in engine.parts.store.load_orders()}
    assert stored[placed["id"]].venue_order_id == done.venue_order_id


def test_large_order_then_partially_filled_then_filled(tmp_path: Path, clock: FakeClock) -> None:
    engine = SyncEngine(make_settings(tmp_path / "var", VIGIL_PAPER_MAX_FILL_QTY="0.2"), clock)
    try:
        engine.market(2)
        placed = place(engine)
        first = order(engine, placed["id"])
        assert first.status is OrderStatus.PARTIALLY_FILLED and first.filled_qty == 0.2
        position = engine.parts.desk.ledger.position("QQQ")
        assert position is not None and position.qty == 0.2
        assert engine.rt.snapshot()["orders"][0]["status"] == "partially_filled"

        engine.market(1)

        assert order(engine, placed["id"]).status is OrderStatus.FILLED
        position = engine.parts.desk.ledger.position("QQQ")
        assert position is not None and abs(position.qty - 0.5) < 1e-9
    finally:
        engine.close()


def test_fill_after_cancel_request_then_booked_and_filled(engine: SyncEngine) -> None:
    engine.market(2)
    engine.parts.broker.stall()  # the cancel cannot reach the venue; its fill is already on the way
    placed = place(engine, type="limit", limit_price=round(engine.parts.market.quote("QQQ").bid, 2))
    engine.parts.desk.cancel_all_orders("operator")
    assert placed["id"] in engine.parts.desk.orders.cancel_requested

    o = order(engine, placed["id"])
    venue_event(engine, fill_event(engine, o, 0.5, "X-F1", OrderEventKind.FILLED))

    assert order(engine, placed["id"]).status is OrderStatus.FILLED
    position = engine.parts.desk.ledger.position("QQQ")
    assert position is not None and position.qty == 0.5


def test_same_fill_twice_then_booked_once(engine: SyncEngine) -> None:
    engine.market(2)
    o = order(engine, resting_limit(engine))
    event = fill_event(engine, o, 0.2, "DUP-1", OrderEventKind.PARTIALLY_FILLED)
    venue_event(engine, event)
    venue_event(engine, event)

    assert order(engine, o.id).filled_qty == 0.2
    position = engine.parts.desk.ledger.position("QQQ")
    assert position is not None and position.qty == 0.2


def test_fill_booked_by_reconciliation_then_late_event_moves_the_order_only(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    o = order(engine, resting_limit(engine))
    event = fill_event(engine, o, 0.5, "RECON-1", OrderEventKind.FILLED)
    assert event.fill is not None
    engine.parts.desk.apply_fills([event.fill], "reconciliation")  # found in the venue's record

    venue_event(engine, event)  # the venue's own report arrives late

    assert order(engine, o.id).status is OrderStatus.FILLED  # not left open for ever
    position = engine.parts.desk.ledger.position("QQQ")
    assert position is not None and position.qty == 0.5  # booked once


def test_fill_for_a_closed_order_then_still_booked(engine: SyncEngine) -> None:
    engine.market(2)
    o = order(engine, resting_limit(engine))
    now = engine.clock.time()
    venue_event(engine, OrderEvent(OrderEventKind.CANCELED, o.id, o.venue_order_id, "QQQ", now))
    assert order(engine, o.id).status is OrderStatus.CANCELED

    venue_event(engine, fill_event(engine, o, 0.5, "LATE-1", OrderEventKind.FILLED))

    position = engine.parts.desk.ledger.position("QQQ")
    assert position is not None and position.qty == 0.5  # money moved
    assert order(engine, o.id).status is OrderStatus.CANCELED


def test_venue_rejects_then_rejected_and_counted_as_venue_error(engine: SyncEngine) -> None:
    engine.market(2)
    engine.parts.broker.reject_next("insufficient buying power")
    placed = place(engine)
    rejected = order(engine, placed["id"])
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.reject_reason == "insufficient buying power"
    assert len(engine.parts.safety.error_times) == 1
    assert engine.parts.desk.ledger.position("QQQ") is None
    assert engine.rt.snapshot()["orders"] == []


def test_venue_unreachable_then_rejected_not_sent(engine: SyncEngine) -> None:
    engine.market(2)
    engine.parts.broker.fail_next()
    answer = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})
    assert answer["error"]["code"] == "BROKER_UNAVAILABLE"
    assert engine.parts.desk.orders.open_orders() == []


def test_expiry_then_expired_and_no_longer_open(engine: SyncEngine) -> None:
    engine.market(2)
    o = order(engine, resting_limit(engine))
    venue_event(
        engine,
        OrderEvent(OrderEventKind.EXPIRED, o.id, o.venue_order_id, "QQQ", engine.clock.time()),
    )
    assert order(engine, o.id).status is OrderStatus.EXPIRED
    assert engine.rt.snapshot()["orders"] == []
    assert {x.id: x for x in engine.parts.store.load_orders()}[o.id].status is OrderStatus.EXPIRED


def test_late_accepted_after_fill_then_status_stays_filled(engine: SyncEngine) -> None:
    engine.market(2)
    placed = place(engine)
    o = order(engine, placed["id"])
    venue_event(
        engine,
        OrderEvent(OrderEventKind.ACCEPTED, o.id, o.venue_order_id, "QQQ", engine.clock.time()),
    )
    assert order(engine, o.id).status is OrderStatus.FILLED


def test_unknown_order_from_the_venue_then_recorded_and_reducing(engine: SyncEngine) -> None:
    engine.market(2)
    now = engine.clock.time()
    outside = Order(
        "EXT-1",
        "QQQ",
        Side.BUY,
        1.0,
        OrderType.LIMIT,
        OrderStatus.ACCEPTED,
        now,
        now,
        limit_price=300.0,
    )
    venue_event(
        engine, OrderEvent(OrderEventKind.ACCEPTED, "EXT-1", "V-9", "QQQ", now, order=outside)
    )
    fill = Fill("EXT-2", "QQQ", Side.BUY, 0.1, 400.0, 0.0, now, "EXT-2-F1")
    venue_event(engine, OrderEvent(OrderEventKind.FILLED, "EXT-2", "V-10", "QQQ", now, fill=fill))

    assert [o.id for o in engine.parts.desk.orders.open_orders()] == ["EXT-1"]
    position = engine.parts.desk.ledger.position("QQQ")
    assert position is not None and position.qty == 0.1  # a fill is money, known or not
    assert engine.parts.safety.trading_state.value == "REDUCING"
    codes = [e["code"] for e in engine.topics("risk_limit")]
    assert codes.count("RECONCILIATION") == 2
    assert [r for r in engine.parts.store.audit_log() if r["action"] == "unknown_venue_order"]


def test_bracket_children_made_by_the_venue_then_adopted_under_the_parent(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    q = engine.parts.market.quote("QQQ")
    assert q is not None
    placed = place(engine, stop_loss=round(q.bid * 0.99, 2), take_profit=round(q.ask * 1.01, 2))
    children = [o for o in engine.parts.desk.orders.open_orders() if o.parent_id == placed["id"]]
    assert sorted(o.type for o in children) == [OrderType.LIMIT, OrderType.STOP]
    assert all(o.venue_order_id and o.status is OrderStatus.ACCEPTED for o in children)
    assert engine.parts.safety.trading_state.value == "ACTIVE"
    position = engine.rt.snapshot()["positions"][0]
    assert position["stop_loss"] == round(q.bid * 0.99, 2)


def test_venue_never_answers_then_kill_switch_halts_and_names_unconfirmed(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    engine.parts.broker.stall()
    placed = place(engine)

    answer = engine.do("kill_switch", {"level": "halt", "reason": "venue silent"})

    assert answer["ok"] and answer["trading_state"] == "HALTED"
    assert answer["unconfirmed"] == [placed["id"]]
    engaged = [r for r in engine.parts.store.audit_log() if r["action"] == "kill_switch_engaged"]
    outcomes = engaged[-1]["details"]["outcomes"]
    assert [(o["order_id"], o["status"]) for o in outcomes] == [(placed["id"], "unconfirmed")]
    unconfirmed = [e for e in engine.topics("risk_limit") if e["code"] == "UNCONFIRMED_ORDERS"]
    assert unconfirmed and placed["id"] in unconfirmed[-1]["message"]
    (shown,) = engine.rt.snapshot()["orders"]
    assert shown["status"] == "new" and shown["cancel_requested"] is True


def test_orders_in_flight_count_against_position_and_notional_limits(
    tmp_path: Path, clock: FakeClock
) -> None:
    engine = SyncEngine(make_settings(tmp_path / "var", VIGIL_MAX_POSITIONS="1"), clock)
    try:
        engine.market(2)
        engine.parts.broker.stall()  # nothing fills: both entries stay in flight
        place(engine, qty=0.5)

        other = engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 0.1})
        more = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.9})

        assert other["error"]["code"] == "MAX_POSITIONS", other
        assert more["error"]["code"] == "MAX_NOTIONAL", more
        assert "in flight" in more["error"]["message"]
    finally:
        engine.close()


def test_restart_then_desk_and_venue_match_orders_by_vigil_id(
    settings: VigilSettings, clock: FakeClock
) -> None:
    first = SyncEngine(settings, clock)
    first.market(2)
    order_id = resting_limit(first)
    first.close()

    second = SyncEngine(settings, clock)
    try:
        assert [o.id for o in second.parts.desk.orders.open_orders()] == [order_id]
        assert [o.id for o in second.parts.broker.open_orders()] == [order_id]
        assert second.parts.safety.trading_state.value == "ACTIVE"
        q = second.parts.market.quote("QQQ")
        limit = order(second, order_id).limit_price
        assert limit is not None
        second.market(0.2)
        from dataclasses import replace

        quote = second.parts.market.quote("QQQ") or q
        assert quote is not None
        second.parts.router.on_market(
            replace(quote, bid=limit - 0.02, ask=limit - 0.01, ts=clock.time())
        )
        assert order(second, order_id).status is OrderStatus.FILLED
    finally:
        second.close()


def test_data_dir_from_before_the_venue_record_then_venue_adopts_the_store(
    settings: VigilSettings, clock: FakeClock
) -> None:
    first = SyncEngine(settings, clock)
    first.market(2)
    place(first)  # a position
    order_id = resting_limit(first)
    first.close()
    # As the previous version left it: no venue record.
    settings.engine.store.paper_venue_path.unlink()

    second = SyncEngine(settings, clock)
    try:
        assert second.parts.safety.trading_state.value == "ACTIVE", (
            second.parts.safety.reconcile_issue
        )
        assert [(p.symbol, p.qty) for p in second.parts.broker.positions()] == [("QQQ", 0.5)]
        assert [o.id for o in second.parts.broker.open_orders()] == [order_id]
        assert settings.engine.store.paper_venue_path.exists()
        limit = order(second, order_id).limit_price
        quote = second.parts.market.quote("QQQ")
        assert (limit is not None and quote is None) or quote is not None
        second.market(0.2)
        from dataclasses import replace

        q = second.parts.market.quote("QQQ")
        assert q is not None
        second.parts.router.on_market(
            replace(q, bid=limit - 0.02, ask=limit - 0.01, ts=clock.time())
        )
        assert order(second, order_id).status is OrderStatus.FILLED
        assert second.parts.broker.positions()[0].qty == 1.0
    finally:
        second.close()
