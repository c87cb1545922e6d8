"""Every kill-switch level, and reconciliation at start, with the engine on the Alpaca broker
(VIGIL_BROKER=alpaca through the registry) against the loopback fake."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.models import TradingState
from tests.conftest import SyncEngine, make_settings, wait_until
from tests.venues.fakes.alpaca_trading import FakeAlpacaTrading
from tests.venues.fakes.alpaca_trading_harness import alpaca_env

SYMBOL = "QQQ"


@pytest.fixture
def fake() -> Iterator[FakeAlpacaTrading]:
    with FakeAlpacaTrading() as server:
        yield server


@pytest.fixture
def start(fake: FakeAlpacaTrading, tmp_path: Path) -> Iterator[Callable[[], SyncEngine]]:
    """Starts (and at the end stops) engines on one data directory, the broker on the fake."""
    engines: list[SyncEngine] = []

    def boot() -> SyncEngine:
        settings = make_settings(
            tmp_path / "var",
            **alpaca_env(fake),
            VIGIL_BROKER="alpaca",
            VIGIL_STRATEGY="none",
            VIGIL_SYMBOLS="QQQ",
        )
        engine = SyncEngine(settings, FakeClock(start=time.time()))
        engines.append(engine)
        wait_until(lambda: fake.stream_clients() == 1, 10, "the trade updates stream")
        engine.market(1.0)
        quote = engine.parts.market.quote_payload(SYMBOL)
        fake.set_price(SYMBOL, quote["bid"], quote["ask"])
        return engine

    yield boot
    for engine in engines:
        engine.close()


def until(engine: SyncEngine, predicate: Callable[[], Any], what: str) -> Any:
    """Apply what the venue reports until `predicate` holds."""
    return wait_until(lambda: (engine.venue(), predicate())[1], 10, what)


def place(engine: SyncEngine, **order: Any) -> dict[str, Any]:
    result = engine.do("place_order", {"symbol": SYMBOL, **order})
    assert result["ok"], result
    return result["order"]


def held(engine: SyncEngine) -> float:
    position = engine.parts.desk.ledger.position(SYMBOL)
    return position.qty if position is not None else 0.0


def open_ids(engine: SyncEngine) -> set[str]:
    return {o.id for o in engine.parts.desk.orders.open_orders()}


def limit_below(engine: SyncEngine, pct: float = 0.5) -> float:
    quote = engine.parts.market.quote_payload(SYMBOL)
    return round(quote["bid"] * (1 - pct / 100), 2)


def test_halt_where_alpaca_cannot_cancel_one_order_then_halted_and_it_is_named(
    start: Callable[[], SyncEngine], fake: FakeAlpacaTrading
) -> None:
    engine = start()
    keep = place(engine, side="buy", qty=1, type="limit", limit_price=limit_below(engine))
    stuck = place(engine, side="buy", qty=1, type="limit", limit_price=limit_below(engine, 1))
    until(engine, lambda: len(fake.open_orders()) == 2, "both orders at Alpaca")
    fake.refuse_cancel(fake.open_orders()[1].client_order_id)

    result = engine.do("kill_switch", {"level": "halt", "reason": "test halt"})

    assert engine.parts.safety.trading_state is TradingState.HALTED
    assert result["unconfirmed"] == [stuck["id"]]
    [warning] = [p for p in engine.topics("risk_limit") if p["code"] == "UNCONFIRMED_ORDERS"]
    assert stuck["id"] in warning["message"] and "order is not cancelable" in warning["message"]
    until(engine, lambda: open_ids(engine) == {stuck["id"]}, "the other order cancelled")
    assert [o.client_order_id.split(".")[0] for o in fake.open_orders()] == [stuck["id"]]
    assert keep["id"] not in open_ids(engine)


def test_flatten_then_every_position_closed_and_latched_until_alpaca_is_flat(
    start: Callable[[], SyncEngine], fake: FakeAlpacaTrading
) -> None:
    engine = start()
    place(engine, side="buy", qty=1)
    until(engine, lambda: held(engine) == 1, "the entry filled")
    fake.fail_next(500, method="POST", path="/v2/orders")  # the first close does not get out

    engine.do("kill_switch", {"level": "flatten", "reason": "test flatten"})

    assert engine.parts.safety.trading_state is TradingState.HALTED
    assert fake.position_qty(SYMBOL) == 1 and engine.parts.safety.flatten_pending
    refused = engine.do(
        "reset_kill_switch", {"reason": "too early", "confirm": "RESET", "password": "x"}
    )
    assert refused["error"]["code"] == "FLATTEN_IN_PROGRESS"

    engine.market(1.0)  # the periodic work sends the close again

    until(engine, lambda: held(engine) == 0, "the position closed")
    assert fake.position_qty(SYMBOL) == 0 and fake.book.positions == {}
    reset = engine.do("reset_kill_switch", {"reason": "flat", "confirm": "RESET", "password": "x"})
    assert reset["ok"], reset


def test_pause_then_entries_denied_and_alpaca_sees_nothing(
    start: Callable[[], SyncEngine], fake: FakeAlpacaTrading
) -> None:
    engine = start()
    engine.do("kill_switch", {"level": "pause", "reason": "test pause"})
    denied = engine.do("place_order", {"symbol": SYMBOL, "side": "buy", "qty": 1})
    assert not denied["ok"]
    assert fake.count("POST", "/v2/orders") == 0


def test_restart_finding_a_position_and_an_order_vigil_does_not_know_then_reducing(
    start: Callable[[], SyncEngine], fake: FakeAlpacaTrading
) -> None:
    engine = start()
    place(engine, side="buy", qty=1)
    until(engine, lambda: held(engine) == 1, "the entry filled")
    engine.close()
    # While Vigil is down, someone trades the account on Alpaca's own page: a filled buy
    # (its fill is not Vigil's to book), a position from elsewhere, a resting order.
    fake.set_price("SPY", 499.9, 500.1)
    fake.add_position("AAPL", 5, 190.0)
    with fake.lock:
        fake.book.submit({"symbol": "SPY", "side": "buy", "qty": 2, "type": "market"})
        outside = fake.book.submit(
            {"symbol": SYMBOL, "side": "sell", "qty": 1, "type": "limit", "limit_price": 9999}
        )
        outside.created_at = "2020-01-02T15:00:00Z"  # older than the in-flight grace

    engine = start()

    assert engine.parts.safety.trading_state is TradingState.REDUCING
    matters = engine.parts.safety.payload(0.0, 0)["reconciliation"]
    described = str(matters)
    assert "SPY: store holds 0, venue holds 2" in described
    assert "AAPL: store holds 0, venue holds 5" in described
    assert outside.client_order_id in described
    assert held(engine) == 1  # what Vigil knew still stands
    assert engine.parts.desk.ledger.position("SPY") is None  # the outside fill is not booked

    engine.do("acknowledge_reconciliation", {"reason": "mine"}, actor="admin")

    assert engine.parts.safety.trading_state is TradingState.ACTIVE


@pytest.mark.parametrize("fault", ["429", "500", "hang"])
def test_halt_while_alpaca_fails_the_cancel_all_then_halted_and_every_order_named(
    start: Callable[[], SyncEngine], fake: FakeAlpacaTrading, fault: str
) -> None:
    engine = start()
    first = place(engine, side="buy", qty=1, type="limit", limit_price=limit_below(engine))
    second = place(engine, side="buy", qty=1, type="limit", limit_price=limit_below(engine, 1))
    until(engine, lambda: len(fake.open_orders()) == 2, "both orders at Alpaca")
    if fault == "hang":
        fake.hang_next(method="DELETE", path="/v2/orders")
    else:
        fake.fail_next(int(fault), n=5, method="DELETE", path="/v2/orders")

    result = engine.do("kill_switch", {"level": "halt", "reason": f"halt on {fault}"})

    assert engine.parts.safety.trading_state is TradingState.HALTED
    assert sorted(result["unconfirmed"]) == sorted([first["id"], second["id"]])
    assert fake.count("DELETE", "/v2/orders") == 1  # no retry-sleeps on the kill path


def test_alpaca_faults_then_the_error_rate_breaker_trips(
    start: Callable[[], SyncEngine], fake: FakeAlpacaTrading
) -> None:
    engine = start()
    fake.fail_next(500, n=2, method="POST", path="/v2/orders")
    fake.fail_next(403, message="insufficient buying power", method="POST", path="/v2/orders")
    for _ in range(3):
        answer = engine.do("place_order", {"symbol": SYMBOL, "side": "buy", "qty": 1})
        if answer["ok"]:  # the refusal arrives as an event: applied below
            until(engine, lambda: not open_ids(engine), "the rejection applied")
    engine.market(0.5)
    tripped = [b for b in engine.parts.safety.board.tripped() if b.name == "error_rate"]
    assert tripped, engine.topics("breaker_update")[-1]
