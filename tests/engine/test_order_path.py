"""The order path rejects what it should: stops, brackets, reducing brackets, typos, trade times."""

from __future__ import annotations

from dataclasses import replace

from engine.models import OrderType, Quote, Side
from tests.conftest import SyncEngine


def quote(engine: SyncEngine, symbol: str = "QQQ") -> Quote:
    q = engine.parts.market.quote(symbol)
    assert q is not None
    return q


def push_quote(engine: SyncEngine, bid: float, ask: float, ts: float | None = None) -> None:
    """A quote through the engine as the feed would send it (the book is older, so it rules)."""
    q = quote(engine)
    stamp = engine.clock.time() if ts is None else ts
    engine.parts.router.on_market(replace(q, bid=bid, ask=ask, ts=stamp))


def open_bracketed_short(engine: SyncEngine) -> tuple[Quote, dict]:
    engine.market(2)
    q = quote(engine)
    answer = engine.do(
        "place_order",
        {
            "symbol": "QQQ",
            "side": "sell",
            "qty": 0.5,
            "stop_loss": round(q.ask * 1.01, 2),
            "take_profit": round(q.bid * 0.99, 2),
        },
    )
    assert answer["ok"], answer
    return q, answer


def protective(engine: SyncEngine) -> dict[OrderType, float | None]:
    return {
        o.type: (o.stop_price if o.type is OrderType.STOP else o.limit_price)
        for o in engine.parts.broker.open_orders()
        if o.reduce_only and o.parent_id
    }


# ----- modify_stops goes through the gateway -----


def test_modify_stops_buy_stop_below_the_market_on_a_short_then_denied(
    engine: SyncEngine,
) -> None:
    q, _ = open_bracketed_short(engine)
    before = protective(engine)

    answer = engine.do("modify_stops", {"symbol": "QQQ", "stop_loss": round(q.bid * 0.97, 2)})

    assert answer["error"]["code"] == "WRONG_SIDE", answer
    assert protective(engine) == before
    assert engine.topics("risk_limit")[-1]["code"] == "WRONG_SIDE"


def test_modify_stops_absurd_or_marketable_take_profit_then_denied(engine: SyncEngine) -> None:
    q, _ = open_bracketed_short(engine)
    before = protective(engine)

    absurd = engine.do("modify_stops", {"symbol": "QQQ", "take_profit": 1e11})
    crossing = engine.do("modify_stops", {"symbol": "QQQ", "take_profit": round(q.ask * 1.002, 2)})
    far_stop = engine.do("modify_stops", {"symbol": "QQQ", "stop_loss": round(q.ask * 1.5, 2)})

    assert absurd["error"]["code"] == "PRICE_COLLAR"
    assert crossing["error"]["code"] == "WRONG_SIDE"
    assert far_stop["error"]["code"] == "PRICE_COLLAR"
    assert protective(engine) == before


def test_modify_stops_valid_then_moved(engine: SyncEngine) -> None:
    q, _ = open_bracketed_short(engine)
    new_stop, new_target = round(q.ask * 1.005, 2), round(q.bid * 0.995, 2)

    answer = engine.do(
        "modify_stops", {"symbol": "QQQ", "stop_loss": new_stop, "take_profit": new_target}
    )

    assert answer["ok"], answer
    assert protective(engine) == {OrderType.STOP: new_stop, OrderType.LIMIT: new_target}


# ----- bracket prices are checked -----


def test_bracket_with_absurd_take_profit_then_denied_and_nothing_opened(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    answer = engine.do(
        "place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5, "take_profit": 1e11}
    )
    assert answer["error"]["code"] == "PRICE_COLLAR", answer
    assert engine.parts.desk.ledger.position("QQQ") is None
    assert engine.parts.broker.open_orders() == []


# ----- a bracket never protects the wrong side -----


def test_bracketed_buy_that_reduces_a_short_then_denied(engine: SyncEngine) -> None:
    engine.market(2)
    assert engine.do("place_order", {"symbol": "QQQ", "side": "sell", "qty": 0.5})["ok"]
    q = quote(engine)

    answer = engine.do(
        "place_order",
        {
            "symbol": "QQQ",
            "side": "buy",
            "qty": 0.3,
            "stop_loss": round(q.bid * 0.99, 2),
            "take_profit": round(q.ask * 1.01, 2),
        },
    )

    assert answer["error"]["code"] == "BRACKET_ON_REDUCING", answer
    position = engine.parts.desk.ledger.position("QQQ")
    assert position is not None and position.qty == -0.5
    assert engine.parts.broker.open_orders() == []


def _rest_bracketed_buy(engine: SyncEngine, qty: float) -> float:
    """A bracketed buy limit resting below the market, placed while flat (allowed)."""
    q = quote(engine)
    limit = round(q.bid * 0.995, 2)
    answer = engine.do(
        "place_order",
        {
            "symbol": "QQQ",
            "side": "buy",
            "qty": qty,
            "type": "limit",
            "limit_price": limit,
            "stop_loss": round(limit * 0.99, 2),
            "take_profit": round(limit * 1.01, 2),
        },
    )
    assert answer["ok"] and answer["order"]["status"] == "new", answer
    return limit


def test_resting_bracket_fills_into_a_short_then_no_sell_side_protection(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    limit = _rest_bracketed_buy(engine, 0.3)
    assert engine.do("place_order", {"symbol": "QQQ", "side": "sell", "qty": 0.5})["ok"]

    push_quote(engine, limit - 0.02, limit - 0.01)  # the resting buy fills: short -0.2 left

    position = engine.parts.desk.ledger.position("QQQ")
    assert position is not None and round(position.qty, 9) == -0.2
    wrong = [o for o in engine.parts.broker.open_orders() if o.reduce_only and o.side is Side.SELL]
    assert wrong == []
    row = next(p for p in engine.parts.state.snapshot()["positions"] if p["symbol"] == "QQQ")
    assert row["stop_loss"] is None and row["take_profit"] is None


def test_resting_bracket_fills_through_a_short_then_protection_cut_to_the_new_long(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    limit = _rest_bracketed_buy(engine, 0.8)
    assert engine.do("place_order", {"symbol": "QQQ", "side": "sell", "qty": 0.5})["ok"]

    push_quote(engine, limit - 0.02, limit - 0.01)  # the buy of 0.8 leaves a long of 0.3

    position = engine.parts.desk.ledger.position("QQQ")
    assert position is not None and round(position.qty, 9) == 0.3
    children = [o for o in engine.parts.broker.open_orders() if o.reduce_only]
    assert {o.type for o in children} == {OrderType.STOP, OrderType.LIMIT}
    assert all(o.side is Side.SELL and round(o.remaining, 9) == 0.3 for o in children)


# ----- a trade never ends before it began -----


def test_bracket_stop_triggered_by_a_quote_stamped_before_the_order_then_exit_after_entry(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    q = quote(engine)
    stop_loss = round(q.bid * 0.995, 2)
    placed_at = engine.clock.time()
    answer = engine.do(
        "place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5, "stop_loss": stop_loss}
    )
    assert answer["ok"], answer

    # Market data queued behind the command carries the feed's earlier time stamp.
    push_quote(engine, stop_loss - 0.05, stop_loss - 0.04, ts=placed_at - 0.79)

    assert engine.parts.desk.ledger.position("QQQ") is None
    trade = engine.parts.desk.trades[-1]
    assert trade.exit_ts >= trade.entry_ts
    stored = engine.parts.store.load_trades(limit=1)[0]
    assert stored.exit_ts >= stored.entry_ts


# ----- an operator's typo is not an engine error -----


def test_three_swapped_bracket_typos_then_three_denials_and_no_error_rate_trip(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    q = quote(engine)
    for _ in range(3):
        answer = engine.do(
            "place_order",
            {
                "symbol": "QQQ",
                "side": "buy",
                "qty": 0.5,
                # stop-loss and take-profit swapped: the stop is above the market
                "stop_loss": round(q.ask * 1.01, 2),
                "take_profit": round(q.bid * 0.99, 2),
            },
        )
        assert answer["error"]["code"] == "WRONG_SIDE", answer
        engine.clock.advance(1)
    engine.rt.run_once()
    engine.parts.safety_loop.evaluate(engine.clock.time())

    assert list(engine.parts.safety.error_times) == []
    assert engine.parts.safety.trading_state.value == "ACTIVE"
    assert not engine.parts.safety.board.tripped()
    assert engine.topics("error") == []


def test_broker_rejects_orders_the_gateway_passed_then_counted_as_venue_errors(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    for _ in range(3):
        # A venue that refuses the order, as a closed or failing market does; it says so later.
        engine.parts.broker.reject_next("the venue is closed")
        answer = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})
        rejected = engine.parts.desk.orders.get(answer["order"]["id"])
        assert rejected is not None and rejected.status.value == "rejected", answer
        assert rejected.reject_reason == "the venue is closed"
        engine.clock.advance(1)
    engine.parts.safety_loop.evaluate(engine.clock.time())

    assert len(engine.parts.safety.error_times) == 3
    assert [t.name for t in engine.parts.safety.board.tripped()] == ["error_rate"]
    assert engine.parts.safety.trading_state.value == "HALTED"
