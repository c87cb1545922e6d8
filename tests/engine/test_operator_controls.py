"""The operator's order and position controls: cancel one order, partial close, stops from the
row, and the exit reason every closed trade records (FakeClock, paper venue)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from engine.commands import parse_command
from engine.models import OrderType, Quote
from tests.conftest import SyncEngine, make_settings

SYMBOL = "SPY"
# Room for a few SPY shares (the default notional limit is $500) and big daily losses.
ROOMY = {"VIGIL_MAX_NOTIONAL": "100000", "VIGIL_DAILY_LOSS_LIMIT": "100000"}


@pytest.fixture
def settings(tmp_path: Any) -> Any:
    return make_settings(tmp_path / "var", **ROOMY)


def quote(engine: SyncEngine, symbol: str = SYMBOL) -> Quote:
    q = engine.parts.market.quote(symbol)
    assert q is not None
    return q


def push_quote(engine: SyncEngine, bid: float, ask: float) -> None:
    q = quote(engine)
    engine.parts.router.on_market(replace(q, bid=bid, ask=ask, ts=engine.clock.time()))


def held(engine: SyncEngine, symbol: str = SYMBOL) -> float:
    position = engine.parts.desk.ledger.position(symbol)
    return position.qty if position is not None else 0.0


def buy(engine: SyncEngine, qty: float = 10, **extra: Any) -> dict[str, Any]:
    engine.market(2)
    answer = engine.do("place_order", {"symbol": SYMBOL, "side": "buy", "qty": qty, **extra})
    assert answer["ok"], answer
    return answer


def audit(engine: SyncEngine, action: str) -> list[dict[str, Any]]:
    return [r for r in engine.parts.store.audit_log() if r["action"] == action]


def open_ids(engine: SyncEngine) -> list[str]:
    return [o.id for o in engine.parts.desk.orders.open_orders()]


# ----- cancel_order -----


def test_cancel_order_resting_limit_then_cancelled_and_audited(engine: SyncEngine) -> None:
    engine.market(2)
    far = round(quote(engine).bid * 0.98, 2)
    placed = engine.do(
        "place_order",
        {"symbol": SYMBOL, "side": "buy", "qty": 1, "type": "limit", "limit_price": far},
    )
    order_id = placed["order"]["id"]
    assert open_ids(engine) == [order_id]

    answer = engine.do("cancel_order", {"id": order_id})

    assert answer == {"ok": True, "id": order_id, "status": "canceled"}
    assert open_ids(engine) == []
    assert engine.parts.broker.open_orders() == []
    assert engine.topics("orders_update")[-1]["orders"] == []
    assert audit(engine, "cancel_order")[0]["outcome"] == "canceled"


def test_cancel_order_unknown_or_already_closed_then_refused_and_audited(
    engine: SyncEngine,
) -> None:
    filled = buy(engine, 1)["order"]["id"]

    unknown = engine.do("cancel_order", {"id": "P-999"})
    closed = engine.do("cancel_order", {"id": filled})

    assert unknown["error"]["code"] == "UNKNOWN_ORDER"
    assert closed["error"]["code"] == "ORDER_NOT_OPEN"
    assert "filled" in closed["error"]["message"]
    assert held(engine) == 1
    refused = audit(engine, "cancel_order_refused")
    assert [r["outcome"] for r in refused] == ["ORDER_NOT_OPEN", "UNKNOWN_ORDER"]


# ----- partial close -----


@pytest.mark.parametrize(("fraction", "left"), [(0.25, 7.5), (0.5, 5.0), (0.75, 2.5), (1, 0.0)])
def test_close_position_fraction_then_that_share_closed(
    engine: SyncEngine, fraction: float, left: float
) -> None:
    buy(engine, 10)

    answer = engine.do("close_position", {"symbol": SYMBOL, "fraction": fraction})

    assert answer["ok"], answer
    assert answer["closing"] == pytest.approx(10 - left)
    assert held(engine) == pytest.approx(left)


def test_close_position_free_qty_then_that_qty_closed(engine: SyncEngine) -> None:
    buy(engine, 10)
    assert engine.do("close_position", {"symbol": SYMBOL, "qty": 3})["ok"]
    assert held(engine) == pytest.approx(7)


def test_close_position_more_than_held_then_refused_nothing_changes(engine: SyncEngine) -> None:
    buy(engine, 10)

    answer = engine.do("close_position", {"symbol": SYMBOL, "qty": 10.5})

    assert answer["error"]["code"] == "QTY_EXCEEDS_POSITION"
    assert "10 held" in answer["error"]["message"]
    assert held(engine) == 10
    assert audit(engine, "close_position_refused")[0]["outcome"] == "QTY_EXCEEDS_POSITION"


def test_close_position_of_a_closed_or_unknown_position_then_refused(engine: SyncEngine) -> None:
    buy(engine, 2)
    assert engine.do("close_position", {"symbol": SYMBOL})["ok"]

    again = engine.do("close_position", {"symbol": SYMBOL, "fraction": 0.5})
    unknown = engine.do("close_position", {"symbol": "NOPE", "fraction": 0.5})

    assert again["error"]["code"] == "NO_POSITION"
    assert unknown["error"]["code"] == "UNKNOWN_SYMBOL"
    assert held(engine) == 0
    assert len(audit(engine, "close_position_refused")) == 2


def test_close_position_fraction_below_one_lot_then_refused(engine: SyncEngine) -> None:
    buy(engine, 0.01)
    answer = engine.do("close_position", {"symbol": SYMBOL, "fraction": 0.25})
    assert answer["error"]["code"] == "QTY_TOO_SMALL"
    assert held(engine) == pytest.approx(0.01)


@pytest.mark.parametrize(
    "payload",
    [
        {"symbol": SYMBOL, "fraction": 0},
        {"symbol": SYMBOL, "fraction": -0.5},
        {"symbol": SYMBOL, "fraction": 1.5},
        {"symbol": SYMBOL, "fraction": float("nan")},
        {"symbol": SYMBOL, "qty": 0},
        {"symbol": SYMBOL, "qty": -1},
        {"symbol": SYMBOL, "qty": float("inf")},
        {"symbol": SYMBOL, "qty": 1e13},
        {"symbol": SYMBOL, "qty": "5"},
        {"symbol": SYMBOL, "qty": 1, "fraction": 0.5},
        {"symbol": SYMBOL, "fraction": 0.5, "extra": 1},
    ],
)
def test_close_position_bad_payload_then_invalid(payload: dict[str, Any]) -> None:
    result = parse_command("close_position", payload)
    assert isinstance(result, dict) and result["error"]["code"] == "INVALID_PAYLOAD", result


@pytest.mark.parametrize("payload", [{}, {"id": ""}, {"id": 5}, {"id": "x" * 65}])
def test_cancel_order_bad_payload_then_invalid(payload: dict[str, Any]) -> None:
    result = parse_command("cancel_order", payload)
    assert isinstance(result, dict) and result["error"]["code"] == "INVALID_PAYLOAD", result


# ----- stop-loss and take-profit from the row -----


def protective(engine: SyncEngine) -> dict[OrderType, tuple[float | None, float]]:
    return {
        o.type: (o.stop_price if o.type is OrderType.STOP else o.limit_price, o.qty)
        for o in engine.parts.broker.open_orders()
        if o.reduce_only
    }


def test_modify_stops_on_a_position_without_any_then_added(engine: SyncEngine) -> None:
    buy(engine, 4)
    q = quote(engine)
    stop, target = round(q.bid * 0.99, 2), round(q.ask * 1.01, 2)

    answer = engine.do("modify_stops", {"symbol": SYMBOL, "stop_loss": stop, "take_profit": target})

    assert answer["ok"], answer
    assert protective(engine) == {OrderType.STOP: (stop, 4), OrderType.LIMIT: (target, 4)}
    row = engine.topics("positions_update")[-1]["positions"][0]
    assert (row["stop_loss"], row["take_profit"]) == (stop, target)
    assert audit(engine, "modify_stops")


def test_modify_stops_added_before_then_moved_not_doubled(engine: SyncEngine) -> None:
    buy(engine, 4)
    q = quote(engine)
    assert engine.do("modify_stops", {"symbol": SYMBOL, "stop_loss": round(q.bid * 0.99, 2)})["ok"]
    moved = round(q.bid * 0.995, 2)

    answer = engine.do("modify_stops", {"symbol": SYMBOL, "stop_loss": moved})

    assert answer["ok"], answer
    assert protective(engine) == {OrderType.STOP: (moved, 4)}
    assert len([o for o in engine.parts.desk.orders.open_orders() if o.reduce_only]) == 1


def test_modify_stops_added_stop_on_the_wrong_side_then_refused_nothing_sent(
    engine: SyncEngine,
) -> None:
    buy(engine, 4)
    q = quote(engine)

    above = engine.do("modify_stops", {"symbol": SYMBOL, "stop_loss": round(q.ask * 1.01, 2)})
    both = engine.do(
        "modify_stops",
        {
            "symbol": SYMBOL,
            "take_profit": round(q.ask * 1.01, 2),
            "stop_loss": round(q.ask * 1.01, 2),
        },
    )

    assert above["error"]["code"] == "WRONG_SIDE", above
    assert both["error"]["code"] == "WRONG_SIDE", both
    assert protective(engine) == {}


def test_modify_stops_without_a_position_or_a_level_then_refused(engine: SyncEngine) -> None:
    engine.market(2)
    none_held = engine.do("modify_stops", {"symbol": SYMBOL, "stop_loss": 1.0})
    nothing = engine.do("modify_stops", {"symbol": SYMBOL})
    assert none_held["error"]["code"] == "NO_POSITION"
    assert nothing["error"]["code"] == "NOTHING_TO_CHANGE"
    assert protective(engine) == {}


# ----- exit reasons -----


def last_trade(engine: SyncEngine) -> dict[str, Any]:
    return engine.topics("trade_history_update")[-1]["new"]


def test_manual_close_then_trade_records_manual(engine: SyncEngine) -> None:
    buy(engine, 2)
    engine.do("close_position", {"symbol": SYMBOL, "fraction": 0.5})
    assert last_trade(engine)["exit_reason"] == "manual"


def test_added_stop_triggered_then_trade_records_stop_loss(engine: SyncEngine) -> None:
    buy(engine, 2)
    q = quote(engine)
    stop = round(q.bid * 0.99, 2)
    assert engine.do("modify_stops", {"symbol": SYMBOL, "stop_loss": stop})["ok"]

    push_quote(engine, round(stop * 0.99, 2), round(stop * 0.995, 2))

    assert held(engine) == 0
    assert last_trade(engine)["exit_reason"] == "stop_loss"


def test_bracket_take_profit_hit_then_trade_records_take_profit(engine: SyncEngine) -> None:
    engine.market(2)
    q = quote(engine)
    target = round(q.ask * 1.005, 2)
    buy(engine, 2, take_profit=target, stop_loss=round(q.bid * 0.99, 2))

    push_quote(engine, round(target * 1.002, 2), round(target * 1.003, 2))

    assert held(engine) == 0
    assert last_trade(engine)["exit_reason"] == "take_profit"


def test_flatten_then_trade_records_flatten(engine: SyncEngine) -> None:
    buy(engine, 2)
    engine.do("kill_switch", {"level": "flatten", "reason": "test flatten"})
    engine.market(1)
    assert held(engine) == 0
    assert last_trade(engine)["exit_reason"] == "flatten"


def test_exit_reason_survives_a_restart(tmp_path: Any, clock: Any) -> None:
    settings = make_settings(tmp_path / "var", **ROOMY)
    first = SyncEngine(settings, clock)
    buy(first, 2)
    first.do("close_position", {"symbol": SYMBOL})
    first.close()

    second = SyncEngine(settings, clock)
    try:
        trades = second.parts.store.load_trades()
        assert [t.exit_reason for t in trades] == ["manual"]
        assert second.rt.state.get("trades")[0]["exit_reason"] == "manual"
    finally:
        second.close()


def test_exit_reason_of_each_kind_of_order() -> None:
    from engine.models import Order, OrderStatus, OrderType, Side
    from engine.trading.exits import exit_reason, exit_tag

    def order(**kw: Any) -> Order:
        base: dict[str, Any] = {
            "id": "P-1",
            "symbol": SYMBOL,
            "side": Side.SELL,
            "qty": 1.0,
            "type": OrderType.MARKET,
            "status": OrderStatus.FILLED,
            "created_ts": 0.0,
            "updated_ts": 0.0,
        }
        return Order(**{**base, **kw})

    assert exit_reason(order(source="strategy", reduce_only=True)) == "strategy_exit"
    assert exit_reason(order(source="manual", reduce_only=True)) == "manual"
    assert exit_reason(order(source="kill_switch", reduce_only=True)) == "flatten"
    stop = order(type=OrderType.STOP, reduce_only=True, parent_id="P-0", source="strategy")
    assert exit_reason(stop) == "stop_loss"
    take = order(type=OrderType.LIMIT, reduce_only=True, parent_id="P-0", source="manual")
    assert exit_reason(take) == "take_profit"
    trail = order(type=OrderType.STOP, reduce_only=True, tag=exit_tag("trailing_stop"))
    assert exit_reason(trail) == "trailing_stop"
    assert exit_reason(order(source="manual", tag="flatten")) == "manual"  # a user's name
    assert exit_reason(None) == "manual"


def test_strategy_exit_through_the_desk_then_trade_records_strategy_exit(
    engine: SyncEngine,
) -> None:
    from engine.models import OrderRequest, Side

    buy(engine, 2)
    req = OrderRequest(SYMBOL, Side.SELL, 2, reduce_only=True, source="strategy", tag="demo")
    assert engine.parts.desk.submit(req, "strategy")["ok"]
    engine.venue()
    assert last_trade(engine)["exit_reason"] == "strategy_exit"


@pytest.mark.parametrize(
    "payload",
    [
        {"symbol": SYMBOL, "stop_loss": 0},
        {"symbol": SYMBOL, "stop_loss": float("inf")},
        {"symbol": SYMBOL, "take_profit": -3},
        {"symbol": SYMBOL, "stop_loss": 1e13},
        {"symbol": "", "stop_loss": 1},
    ],
)
def test_modify_stops_bad_payload_then_invalid(payload: dict[str, Any]) -> None:
    result = parse_command("modify_stops", payload)
    assert isinstance(result, dict) and result["error"]["code"] == "INVALID_PAYLOAD", result


def test_modify_stops_unknown_symbol_then_refused(engine: SyncEngine) -> None:
    engine.market(1)
    answer = engine.do("modify_stops", {"symbol": "NOPE", "stop_loss": 1.0})
    assert answer["error"]["code"] == "UNKNOWN_SYMBOL"
    assert audit(engine, "modify_stops_refused")[0]["outcome"] == "UNKNOWN_SYMBOL"
