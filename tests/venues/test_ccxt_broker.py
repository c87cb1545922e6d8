"""The crypto broker against the Binance fake with the real ccxt: markets and rounding, partial
fills, cancel-all with one failure, and every fault class (418/429, 5xx -1001, a hang, a lost
answer, -2015, -1013, insufficient margin) mapped by ccxt's exception tree."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from engine.clock import FakeClock
from engine.models import OrderRequest, OrderType, Side
from engine.venues.base import ConnectionEvent, ConnectionState, OrderEventKind, VenueError
from engine.venues.ccxt.exchange import BELOW_MINIMUM
from tests.conftest import wait_until
from tests.venues.broker_contract import SYMBOL, kinds, make_order, order_events
from tests.venues.ccxt_harness import MARKET_ID, CcxtHarness


@pytest.fixture
def venue() -> Iterator[CcxtHarness]:
    harness = CcxtHarness("swap")
    yield harness
    harness.close()


def connections(venue: CcxtHarness) -> list[ConnectionEvent]:
    return [e for e in venue.events if isinstance(e, ConnectionEvent)]


def test_markets_loaded_then_orders_rounded_and_minimums_denied(venue: CcxtHarness) -> None:
    venue.settle()
    rules = venue.broker.rules[SYMBOL]
    assert (rules.market_id, rules.ccxt_symbol) == (MARKET_ID, f"{SYMBOL}/USDT:USDT")
    assert (rules.tick, rules.step, rules.min_qty, rules.min_notional) == (0.01, 0.001, 0.001, 5)
    instrument = rules.instrument()
    assert (instrument.tick_size, instrument.lot_size) == (0.01, 0.001)

    req = OrderRequest(SYMBOL, Side.BUY, 1.23456, OrderType.LIMIT, limit_price=399.1234)
    rounded, code, _ = venue.broker.prepare(req, 400.1)
    assert (rounded.qty, rounded.limit_price, code) == (1.234, 399.12, "")

    small = OrderRequest(SYMBOL, Side.BUY, 0.01)  # 4 USDT at 400: under the 5 USDT minimum
    _, code, message = venue.broker.prepare(small, 400.1)
    assert code == BELOW_MINIMUM and "minimum 5 USDT" in message
    dust = OrderRequest(SYMBOL, Side.BUY, 0.0004)  # rounds down to nothing
    _, code, message = venue.broker.prepare(dust, 400.1)
    assert code == BELOW_MINIMUM and "0.001" in message


def test_partial_fills_then_each_reported_with_its_own_qty(venue: CcxtHarness) -> None:
    venue.fake.ex.fill_cap = 0.5
    order = make_order(qty=1.2, type_=OrderType.LIMIT, limit=401.0)  # marketable
    venue.broker.submit(order)
    assert kinds(venue, order.id) == [OrderEventKind.ACCEPTED, OrderEventKind.PARTIALLY_FILLED]

    venue.market(399.9, 400.1)
    venue.market(399.9, 400.1)

    fills = [(e.kind, e.fill.qty) for e in order_events(venue, order.id) if e.fill]
    assert fills == [
        (OrderEventKind.PARTIALLY_FILLED, 0.5),
        (OrderEventKind.PARTIALLY_FILLED, 0.5),
        (OrderEventKind.FILLED, 0.2),
    ]
    assert [(p.symbol, p.qty) for p in venue.broker.positions()] == [(SYMBOL, 1.2)]


def test_cancel_all_with_one_refused_then_it_is_named_and_still_open(venue: CcxtHarness) -> None:
    orders = [make_order(type_=OrderType.LIMIT, limit=390.0 + i) for i in range(3)]
    for order in orders:
        venue.broker.submit(order)
    venue.fake.ex.uncancelable.add(orders[1].id)

    outcomes = {o.order_id: o for o in venue.broker.cancel_all()}

    assert set(outcomes) == {o.id for o in orders}
    assert outcomes[orders[0].id].ok and outcomes[orders[2].id].ok
    stuck = outcomes[orders[1].id]
    assert not stuck.ok and stuck.status == "open" and stuck.reason == "Unknown order sent."
    assert [o.id for o in venue.broker.open_orders()] == [orders[1].id]
    assert kinds(venue, orders[0].id)[-1] is OrderEventKind.CANCELED
    assert kinds(venue, orders[1].id) == [OrderEventKind.ACCEPTED]


@pytest.mark.parametrize("status", [429, 418])
def test_rate_limited_then_retried_and_reported(venue: CcxtHarness, status: int) -> None:
    venue.settle()
    venue.fake.fail_next(1, status, -1003, "Too many requests.", path="/fapi/v1/order")
    order = make_order()
    venue.broker.submit(order)
    assert kinds(venue, order.id) == [OrderEventKind.ACCEPTED, OrderEventKind.FILLED]
    (fault,) = [c for c in connections(venue) if c.state is ConnectionState.RECONNECTING]
    assert fault.message.startswith("DDoSProtection") and "Too many requests." in fault.message
    assert connections(venue)[-1].state is ConnectionState.CONNECTED
    assert len(venue.broker.positions()) == 1  # sent once, filled once


def test_server_error_1001_then_retried_with_backoff(venue: CcxtHarness) -> None:
    venue.settle()
    venue.fake.fail_next(
        1, 503, -1001, "Internal error; unable to process your request.", path="/fapi/v1/order"
    )
    order = make_order()
    venue.broker.submit(order)
    assert kinds(venue, order.id) == [OrderEventKind.ACCEPTED, OrderEventKind.FILLED]
    (fault,) = [c for c in connections(venue) if c.state is ConnectionState.RECONNECTING]
    assert fault.message.startswith("OperationFailed")


def test_answer_lost_then_order_found_not_sent_twice(venue: CcxtHarness) -> None:
    venue.settle()
    venue.fake.lose_next_answer("/fapi/v1/order")
    order = make_order()
    venue.broker.submit(order)
    assert kinds(venue, order.id) == [OrderEventKind.ACCEPTED, OrderEventKind.FILLED]
    assert venue.fake.calls("/fapi/v1/order") >= 2  # the lost POST, then the lookup GET
    assert [(p.symbol, p.qty) for p in venue.broker.positions()] == [(SYMBOL, 2.0)]
    assert "RequestTimeout" in connections(venue)[-2].message


def test_exchange_hangs_then_engine_call_returns_within_its_timeout() -> None:
    harness = CcxtHarness("swap", VIGIL_CCXT_HTTP_TIMEOUT_S="5", VIGIL_CCXT_CALL_TIMEOUT_S="0.5")
    try:
        harness.settle()
        harness.fake.hang_next(1, path="/fapi/v2/positionRisk")
        started = time.monotonic()
        with pytest.raises(VenueError, match=r"no answer within 0\.5 s"):
            harness.broker.positions()
        assert time.monotonic() - started < 2.0
    finally:
        harness.close()


def test_refused_key_then_halt_is_reported_and_orders_rejected() -> None:
    harness = CcxtHarness("swap", VIGIL_CCXT_API_KEY="not-the-key")
    try:
        with pytest.raises(VenueError, match="AuthenticationError"):
            harness.settle()
        halt = wait_until(lambda: [c for c in connections(harness) if c.halt])
        assert halt[0].state is ConnectionState.DISCONNECTED
        assert "refused the API key" in halt[0].message and "-2015" not in halt[0].message
        assert "Invalid API-key" in halt[0].message
        assert harness.broker.halt_reason == halt[0].message
        order = make_order()
        harness.broker.submit(order)
        rejected = wait_until(lambda: order_events_now(harness, order.id))
        assert rejected[0].kind is OrderEventKind.REJECTED
    finally:
        harness.close()


def order_events_now(venue: CcxtHarness, order_id: str) -> list:  # type: ignore[type-arg]
    return [e for e in venue.events if getattr(e, "order_id", None) == order_id]


def test_notional_filter_then_rejected_with_the_exchange_message(venue: CcxtHarness) -> None:
    order = make_order(qty=0.01)  # past prepare(): the exchange's own -1013
    venue.broker.submit(order)
    (event,) = order_events(venue, order.id)
    assert event.kind is OrderEventKind.REJECTED and event.reason == "Filter failure: NOTIONAL"
    assert not [c for c in connections(venue) if c.state is ConnectionState.RECONNECTING]


def test_insufficient_margin_then_rejected_with_the_exchange_message(venue: CcxtHarness) -> None:
    venue.fake.ex.wallet = 10.0
    order = make_order(qty=5.0)
    venue.broker.submit(order)
    (event,) = order_events(venue, order.id)
    assert event.kind is OrderEventKind.REJECTED and event.reason == "Margin is insufficient."


def test_perpetual_position_details_for_the_page(venue: CcxtHarness) -> None:
    venue.broker.submit(make_order(Side.SELL, qty=1.5))
    venue.settle()
    venue.broker.positions()
    (shown,) = venue.broker.details()["positions"]
    assert shown["symbol"] == SYMBOL and shown["side"] == "short" and shown["qty"] == -1.5
    assert shown["entry"] == 399.9 and shown["leverage"] == 10
    assert shown["liquidation"] == pytest.approx(399.9 * 1.1)
    assert shown["unrealized_pnl"] == pytest.approx(-1.5 * (400.0 - 399.9))
    details = venue.broker.details()
    assert (details["exchange"], details["market"], details["mode"]) == (
        "binance",
        "swap",
        "testnet",
    )


def test_quiet_day_then_new_trades_still_found_past_binances_window() -> None:
    """Binance lists a start time's own window only (spot: 24 h): after a quiet day the
    broker must ask from inside today's window, not from its last trade."""
    clock = FakeClock(start=time.time())
    harness = CcxtHarness("spot", clock=clock)
    try:
        first = make_order(qty=1.0)
        harness.broker.submit(first)
        assert kinds(harness, first.id)[-1] is OrderEventKind.FILLED
        two_days = 2 * 86_400
        harness.fake.ex.shift_ms = two_days * 1000
        clock.advance(two_days)
        resting = make_order(type_=OrderType.LIMIT, limit=399.0, qty=1.0)
        harness.broker.submit(resting)
        harness.settle()
        harness.market(398.8, 398.9)  # fills at the exchange two days after the first trade
        assert kinds(harness, resting.id) == [OrderEventKind.ACCEPTED, OrderEventKind.FILLED]
    finally:
        harness.close()


def test_exchange_clock_a_minute_ahead_then_signed_requests_still_accepted() -> None:
    """Binance refuses a timestamp outside its recvWindow (-1021): ccxt measures the clock
    difference when it loads the markets, so orders still go through."""
    harness = CcxtHarness("swap")
    try:
        harness.fake.ex.shift_ms = 60_000
        order = make_order()
        harness.broker.submit(order)
        assert kinds(harness, order.id) == [OrderEventKind.ACCEPTED, OrderEventKind.FILLED]
    finally:
        harness.close()


def test_spot_fee_paid_in_the_coin_then_fills_match_what_the_exchange_holds() -> None:
    harness = CcxtHarness("spot")
    try:
        harness.fake.ex.fee_in_base = True  # Binance spot's default without BNB
        order = make_order(qty=2.0)
        harness.broker.submit(order)
        events = order_events(harness, order.id)
        assert [e.kind for e in events] == [OrderEventKind.ACCEPTED, OrderEventKind.FILLED]
        fill = events[-1].fill
        assert fill is not None and fill.qty == pytest.approx(1.998) and fill.fee == 0.0
        assert fill.qty * fill.price == pytest.approx(2.0 * 400.1)  # the cash paid, unchanged
        (held,) = harness.broker.positions()
        assert held.qty == pytest.approx(fill.qty)  # Vigil's position is the exchange's

        closing = harness.broker.close_position(SYMBOL)

        assert closing is not None and closing.qty == pytest.approx(1.998)
        assert kinds(harness, closing.id)[-1] is OrderEventKind.FILLED
        assert harness.broker.positions() == []
    finally:
        harness.close()


def test_markets_not_loaded_then_orders_denied_not_sent_unchecked(venue: CcxtHarness) -> None:
    venue.fake.fail_next(10_000, 503, -1001, "Internal error.", path="/fapi/v1/exchangeInfo")
    fresh = CcxtHarness("swap", fake=venue.fake)
    try:
        req = OrderRequest(SYMBOL, Side.BUY, 1.0)
        _, code, message = fresh.broker.prepare(req, 400.1)
        assert code == "VENUE_NOT_READY" and "markets are not loaded" in message
    finally:
        fresh.broker.stop()
