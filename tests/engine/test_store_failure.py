"""Storage failure fails closed: a fill always reaches the ledger, is kept until the store takes
it, halts trading meanwhile, and lands in the store exactly once; no new risk while unwritable."""

from __future__ import annotations

from dataclasses import replace

from engine.models import Fill, Side
from engine.store import Store
from tests.conftest import SyncEngine


def make_store_read_only(engine: SyncEngine, read_only: bool = True) -> None:
    # SQLite itself refuses the engine's writes ("attempt to write a readonly database"), as
    # with a read-only data directory; the engine runs on this thread in SyncEngine.
    engine.parts.store._conn().execute(f"PRAGMA query_only = {'ON' if read_only else 'OFF'}")


def stored_fills(engine: SyncEngine) -> list[Fill]:
    fresh = Store(engine.parts.store.path)
    try:
        return fresh.load_fills()
    finally:
        fresh.close()


def test_fill_when_store_unwritable_then_booked_halted_and_saved_once_after_recovery(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    make_store_read_only(engine)

    answer = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})

    # The truth: placed (the venue's fill arrives right after), but not yet durable.
    assert answer["ok"] is True, answer
    assert answer["order"]["status"] == "new"
    filled = engine.parts.desk.orders.get(answer["order"]["id"])
    assert filled is not None and filled.status.value == "filled"
    assert answer["warning"]["code"] == "NOT_DURABLE"
    position = engine.parts.desk.ledger.position("QQQ")
    assert position is not None and position.qty == 0.5
    assert [p["symbol"] for p in engine.parts.state.snapshot()["positions"]] == ["QQQ"]
    assert engine.parts.safety.trading_state.value == "HALTED"
    assert engine.parts.desk.unsaved_fills == 1 and engine.parts.desk.storage_problem
    assert any(p.get("where") == "store" for p in engine.topics("error"))
    assert stored_fills(engine) == []

    # Still unwritable: the retry keeps the fill, does not duplicate it, stays halted.
    assert engine.parts.desk.retry_unsaved() is False
    assert engine.parts.desk.unsaved_fills == 1

    make_store_read_only(engine, False)
    assert engine.parts.desk.retry_unsaved() is True
    assert engine.parts.desk.unsaved_fills == 0 and not engine.parts.desk.storage_problem
    assert engine.parts.desk.retry_unsaved() is True  # nothing left: no second copy
    fills = stored_fills(engine)
    assert [(f.order_id, f.qty) for f in fills] == [(answer["order"]["id"], 0.5)]
    # The kill switch stays engaged until an operator resets it.
    assert engine.parts.safety.trading_state.value == "HALTED"
    actions = [row["action"] for row in engine.parts.store.audit_log()]
    assert "order_placed" in actions


def test_same_fill_reported_twice_while_store_unwritable_then_booked_once(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    make_store_read_only(engine)
    answer = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})
    order_id = answer["order"]["id"]
    (booked,) = engine.parts.broker.fills_since(0.0)
    fill = Fill(order_id, "QQQ", Side.BUY, 0.5, 400.0, 0.01, engine.clock.time(), booked.id)

    engine.parts.desk.apply_fills([fill, fill])

    position = engine.parts.desk.ledger.position("QQQ")
    assert position is not None and position.qty == 0.5
    make_store_read_only(engine, False)
    assert engine.parts.desk.retry_unsaved()
    assert len(stored_fills(engine)) == 1


def test_recovered_fills_rebuild_the_same_position_after_a_restart(
    engine: SyncEngine, settings, clock
) -> None:
    engine.market(2)
    make_store_read_only(engine)
    assert engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})["ok"]
    make_store_read_only(engine, False)
    assert engine.parts.desk.retry_unsaved()
    engine.close()

    again = SyncEngine(settings, clock)
    try:
        position = again.parts.desk.ledger.position("QQQ")
        assert position is not None and position.qty == 0.5
    finally:
        again.close()


def test_store_unwritable_then_new_entries_denied_and_reduce_only_allowed(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    assert engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})["ok"]
    make_store_read_only(engine)
    bid = engine.parts.market.quote("QQQ").bid
    # No fill, so no halt: but the order row could not be saved, so the answer says so.
    resting = engine.do(
        "place_order",
        {"symbol": "QQQ", "side": "buy", "qty": 0.1, "type": "limit", "limit_price": bid - 5},
    )
    assert resting["ok"] and resting["warning"]["code"] == "NOT_DURABLE"
    assert engine.parts.safety.trading_state.value == "ACTIVE"

    entry = engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 0.1})
    adding = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.1})
    assert entry["error"]["code"] == "STORE_UNAVAILABLE"
    assert adding["error"]["code"] == "STORE_UNAVAILABLE"
    assert engine.parts.desk.ledger.position("SPY") is None
    denied = [p["code"] for p in engine.topics("risk_limit")]
    assert denied.count("STORE_UNAVAILABLE") == 2

    closed = engine.do("close_position", {"symbol": "QQQ"})
    assert closed["ok"], closed
    assert engine.parts.desk.ledger.position("QQQ") is None
    # A fill the store could not take: trading halts until it is saved and an operator resets.
    assert engine.parts.safety.trading_state.value == "HALTED"

    make_store_read_only(engine, False)
    assert engine.parts.desk.retry_unsaved()
    assert sorted(f.side.value for f in stored_fills(engine)) == ["buy", "sell"]
    audit = engine.parts.store.audit_log()
    codes = [row["outcome"] for row in audit if row["action"] == "order_denied"]
    assert codes.count("STORE_UNAVAILABLE") == 2


def test_engine_loop_retries_the_unsaved_fill_once_the_store_takes_writes(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    make_store_read_only(engine)
    assert engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})["ok"]
    engine.clock.advance(1.5)
    engine.rt.run_once()
    assert engine.parts.desk.unsaved_fills == 1

    make_store_read_only(engine, False)
    engine.clock.advance(1.5)
    engine.rt.run_once()

    assert engine.parts.desk.unsaved_fills == 0 and not engine.parts.desk.storage_problem
    assert len(stored_fills(engine)) == 1
    assert "store takes writes again" in engine.topics("system")[-1]["message"]


def test_resting_order_fills_from_market_data_while_store_unwritable_then_booked_and_halted(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    q = engine.parts.market.quote("QQQ")
    limit = round(q.bid * 0.995, 2)
    placed = engine.do(
        "place_order",
        {"symbol": "QQQ", "side": "buy", "qty": 0.5, "type": "limit", "limit_price": limit},
    )
    assert placed["ok"] and placed["order"]["status"] == "new"
    make_store_read_only(engine)

    engine.clock.advance(0.1)
    engine.parts.router.on_market(
        replace(q, bid=limit - 0.02, ask=limit - 0.01, ts=engine.clock.time())
    )

    position = engine.parts.desk.ledger.position("QQQ")
    assert position is not None and position.qty == 0.5
    assert engine.parts.safety.trading_state.value == "HALTED"
    make_store_read_only(engine, False)
    assert engine.parts.desk.retry_unsaved()
    assert [f.order_id for f in stored_fills(engine)] == [placed["order"]["id"]]
    stored = {o.id: o.status.value for o in engine.parts.store.load_orders()}
    assert stored[placed["order"]["id"]] == "filled"
