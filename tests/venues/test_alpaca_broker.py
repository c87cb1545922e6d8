"""The Alpaca broker against the loopback fake: refusals, faults, the stream's gaps, partial
fills, the kill path's budget, options, and the start guard (keys, live account)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.models import OrderType, Side
from engine.settings import SettingsError
from engine.settings_group import load_group
from engine.venues.alpaca.build import client_suffix, connect_alpaca
from engine.venues.alpaca.settings import AlpacaSettings
from engine.venues.base import ConnectionState, OrderEvent, OrderEventKind, VenueError
from engine.venues.mode import TradingModeSettings
from tests.conftest import wait_until
from tests.venues.broker_contract import ASK, BID, SYMBOL, make_order
from tests.venues.fakes.alpaca_trading import FakeAlpacaTrading
from tests.venues.fakes.alpaca_trading_harness import SUFFIX, AlpacaHarness, alpaca_env, client


@pytest.fixture
def fake() -> Iterator[FakeAlpacaTrading]:
    with FakeAlpacaTrading() as server:
        yield server


@pytest.fixture
def venue(fake: FakeAlpacaTrading) -> Iterator[AlpacaHarness]:
    harness = AlpacaHarness(fake, SYMBOL, BID, ASK)
    yield harness
    harness.close()


def order_events(venue: AlpacaHarness, order_id: str) -> list[OrderEvent]:
    venue.settle()
    return [e for e in venue.of_kind(OrderEvent) if e.order_id == order_id]


# ----- refusals and faults -----
def test_4xx_then_rejected_with_alpacas_message(venue: AlpacaHarness) -> None:
    venue.fake.fail_next(422, message="qty must be a multiple of 1", method="POST")
    order = make_order(qty=1.5)
    venue.broker.submit(order)
    [event] = order_events(venue, order.id)
    assert event.kind is OrderEventKind.REJECTED
    assert event.reason == "qty must be a multiple of 1"


def test_5xx_then_venue_error(venue: AlpacaHarness) -> None:
    venue.fake.fail_next(500, method="POST")
    with pytest.raises(VenueError, match="500"):
        venue.broker.submit(make_order())
    assert venue.fake.position_qty(SYMBOL) == 0.0


def test_429_then_venue_error_at_once_without_sdk_retries(venue: AlpacaHarness) -> None:
    venue.fake.fail_next(429, n=3, method="DELETE", path="/v2/orders")
    with pytest.raises(VenueError, match="429"):
        venue.broker.cancel_all()
    # alpaca-py would have slept 3 s and asked again, three times: one request only.
    assert venue.fake.count("DELETE", "/v2/orders") == 1


def test_hang_then_venue_error_within_the_timeout(venue: AlpacaHarness) -> None:
    venue.fake.hang_next(method="DELETE", path="/v2/orders")
    with pytest.raises(VenueError, match="no answer within 1 s"):
        venue.broker.cancel_all()
    assert venue.broker.cancel_all() == []  # the next call is answered


def test_budget_spent_then_reads_refused_but_cancels_still_go(fake: FakeAlpacaTrading) -> None:
    harness = AlpacaHarness(fake, SYMBOL, BID, ASK, VIGIL_ALPACA_REQUESTS_PER_MINUTE="10")
    try:
        with pytest.raises(VenueError, match="budget"):
            for _ in range(10):
                harness.broker.account()
        resting = make_order(type_=OrderType.LIMIT, limit=390.0)
        fake.set_price(SYMBOL, BID, ASK)
        outcomes = harness.broker.cancel_all()  # the kill path's reserve
        assert outcomes == []
        with pytest.raises(VenueError, match="budget"):
            harness.broker.submit(resting)
    finally:
        harness.close()


# ----- orders -----
def test_partial_fills_then_each_event_carries_its_own_execution(venue: AlpacaHarness) -> None:
    venue.fake.partial_fills(1.0)
    order = make_order(qty=2.5)
    venue.broker.submit(order)
    venue.market(BID, ASK)
    venue.market(BID, ASK)
    fills = [(e.kind, e.fill.qty) for e in order_events(venue, order.id) if e.fill]
    assert fills == [
        (OrderEventKind.PARTIALLY_FILLED, 1.0),
        (OrderEventKind.PARTIALLY_FILLED, 1.0),
        (OrderEventKind.FILLED, 0.5),
    ]
    assert [p.qty for p in venue.broker.positions()] == [2.5]


def test_stop_and_stop_limit_then_sent_as_alpacas_types(venue: AlpacaHarness) -> None:
    stop = dataclasses.replace(make_order(Side.SELL, type_=OrderType.STOP), stop_price=390.0)
    stop_limit = dataclasses.replace(stop, id="C-stop-limit", limit_price=389.5)
    venue.broker.submit(stop)
    venue.broker.submit(stop_limit)
    assert venue.fake.order(client(stop.id)).type == "stop"
    sent = venue.fake.order(client(stop_limit.id))
    assert (sent.type, sent.stop_price, sent.limit_price) == ("stop_limit", 390.0, 389.5)
    assert {o.id for o in venue.broker.open_orders()} == {stop.id, stop_limit.id}


def test_cancel_all_then_the_order_alpaca_would_not_cancel_is_named(venue: AlpacaHarness) -> None:
    keep = make_order(type_=OrderType.LIMIT, limit=390.0)
    stuck = make_order(type_=OrderType.LIMIT, limit=391.0)
    venue.broker.submit(keep)
    venue.broker.submit(stuck)
    venue.fake.refuse_cancel(client(stuck.id))

    outcomes = {o.order_id: o for o in venue.broker.cancel_all()}

    assert outcomes[keep.id].ok
    assert not outcomes[stuck.id].ok and outcomes[stuck.id].reason == "order is not cancelable"
    assert [o.id for o in venue.broker.open_orders()] == [stuck.id]


def test_close_position_under_bracket_exits_then_exits_cancelled_and_flat(
    venue: AlpacaHarness,
) -> None:
    entry = make_order(qty=3.0, stop_loss=390.0, take_profit=410.0)
    venue.broker.submit(entry)
    venue.settle()
    closing = venue.broker.close_position(SYMBOL)
    assert closing is not None and closing.qty == 3.0 and closing.reduce_only
    assert venue.fake.position_qty(SYMBOL) == 0.0
    assert venue.broker.open_orders() == []
    kinds = [e.kind for e in order_events(venue, f"{entry.id}-SL")]
    assert kinds == [OrderEventKind.ACCEPTED, OrderEventKind.CANCELED]


def test_reduce_only_order_held_by_exits_then_exits_cancelled_and_sent(
    venue: AlpacaHarness,
) -> None:
    """The kill switch flattens with a reduce-only market order (not DELETE /positions)."""
    venue.broker.submit(make_order(qty=2.0, stop_loss=390.0, take_profit=410.0))
    closing = make_order(Side.SELL, qty=2.0, reduce_only=True)
    venue.broker.submit(closing)
    assert [e.kind for e in order_events(venue, closing.id)][-1] is OrderEventKind.FILLED
    assert venue.fake.position_qty(SYMBOL) == 0.0


def test_close_all_positions_then_alpaca_flattens_every_symbol(venue: AlpacaHarness) -> None:
    venue.broker.submit(make_order(qty=1.0))
    venue.fake.set_price("SPY", 499.9, 500.1)
    spy = dataclasses.replace(make_order(qty=2.0), symbol="SPY")
    venue.broker.submit(spy)
    answers = venue.broker.close_all_positions()
    assert sorted(a["symbol"] for a in answers) == ["QQQ", "SPY"]
    assert venue.broker.positions() == []


def test_option_position_then_multiplier_100(venue: AlpacaHarness) -> None:
    venue.fake.add_position("SPY261218C00500000", 2.0, 3.5)
    [position] = venue.broker.positions()
    assert (position.symbol, position.qty, position.multiplier) == ("SPY261218C00500000", 2.0, 100)


# ----- the stream -----
def test_stream_drop_then_reconnects_and_reports_what_happened_meanwhile(
    venue: AlpacaHarness,
) -> None:
    resting = make_order(type_=OrderType.LIMIT, limit=395.0, qty=2.0)
    venue.broker.submit(resting)
    venue.settle()
    venue.fake.block_stream()
    wait_until(lambda: ConnectionState.RECONNECTING in venue.states(), 10, "RECONNECTING")
    venue.fake.fill(client(resting.id), 2.0, 395.0)  # said on the stream while nobody listened
    assert [e.kind for e in order_events(venue, resting.id)] == [OrderEventKind.ACCEPTED]

    venue.fake.block_stream(False)

    wait_until(lambda: venue.states()[-1] is ConnectionState.CONNECTED, 15, "reconnected")
    wait_until(
        lambda: (
            [e.kind for e in venue.of_kind(OrderEvent) if e.order_id == resting.id][-1]
            is OrderEventKind.FILLED
        ),
        10,
        "the fill found by the resync",
    )
    [fill] = [e.fill for e in venue.of_kind(OrderEvent) if e.fill]
    assert (fill.qty, fill.price) == (2.0, 395.0)
    assert [f.id for f in venue.broker.fills_since(0.0)] == [fill.id]


# ----- the start guard -----
def guard_env(fake: FakeAlpacaTrading, **more: str) -> dict[str, str]:
    return alpaca_env(fake, **more)


def connect(env: dict[str, str]) -> object:
    from engine.clock import FakeClock
    from engine.venues.sim.catalogue import DEFAULT_INSTRUMENTS

    broker = connect_alpaca(
        load_group(AlpacaSettings, env),
        load_group(TradingModeSettings, env),
        FakeClock(),
        dict(DEFAULT_INSTRUMENTS),
    )
    return broker


def test_no_keys_then_start_refused_naming_alpaca_api_key(fake: FakeAlpacaTrading) -> None:
    env = guard_env(fake)
    del env["ALPACA_API_KEY"]
    with pytest.raises(SettingsError, match=r"^ALPACA_API_KEY: required"):
        connect(env)


def test_wrong_keys_then_start_refused_naming_alpaca_api_key(fake: FakeAlpacaTrading) -> None:
    env = guard_env(fake, ALPACA_SECRET_KEY="wrong")
    with pytest.raises(SettingsError, match=r"^ALPACA_API_KEY: Alpaca refused the keys"):
        connect(env)


def test_paper_by_default_then_any_account_and_mode_paper(fake: FakeAlpacaTrading) -> None:
    broker = connect(guard_env(fake))
    assert broker.mode == "paper" and broker.last_account.account_id == "PA3FAKE0001"


def test_live_without_the_account_then_refused(fake: FakeAlpacaTrading) -> None:
    with pytest.raises(SettingsError, match=r"^VIGIL_LIVE_ACCOUNT: required"):
        connect(guard_env(fake, VIGIL_TRADING_MODE="live"))
    with pytest.raises(SettingsError, match="reports account 'PA3FAKE0001', not 'PA3OTHER'"):
        connect(guard_env(fake, VIGIL_TRADING_MODE="live", VIGIL_LIVE_ACCOUNT="PA3OTHER"))


def test_live_with_the_reported_account_then_live(fake: FakeAlpacaTrading) -> None:
    broker = connect(guard_env(fake, VIGIL_TRADING_MODE="live", VIGIL_LIVE_ACCOUNT="PA3FAKE0001"))
    assert broker.mode == "live" and broker.account().mode == "live"


def test_unreachable_then_start_refused_naming_the_url(fake: FakeAlpacaTrading) -> None:
    fake.hang_next(path="/v2/account")
    with pytest.raises(SettingsError, match=r"^VIGIL_ALPACA_TRADING_URL: alpaca: read the account"):
        connect(guard_env(fake))


def test_client_order_id_carries_vigils_id_and_the_data_directorys_mark(
    venue: AlpacaHarness, tmp_path: Path
) -> None:
    order = make_order(type_=OrderType.LIMIT, limit=390.0)
    venue.broker.submit(order)
    assert venue.fake.order(order.id + SUFFIX) is not None
    assert [o.id for o in venue.broker.open_orders()] == [order.id]
    # Another data directory (or a fresh one) marks its ids apart, and keeps its mark.
    first = client_suffix(tmp_path / "a")
    assert first == client_suffix(tmp_path / "a") != client_suffix(tmp_path / "b")
    assert first.startswith(".v")


def test_order_from_another_vigil_then_not_taken_for_ours(venue: AlpacaHarness) -> None:
    other = make_order(type_=OrderType.LIMIT, limit=390.0)
    with venue.fake.lock:
        venue.fake.book.submit(
            {
                "symbol": SYMBOL,
                "side": "buy",
                "qty": 1,
                "type": "limit",
                "limit_price": 390,
                "client_order_id": other.id + ".vother99",
            }
        )
    [seen] = venue.broker.open_orders()
    assert seen.id == other.id + ".vother99"


def test_two_executions_during_a_gap_then_resync_reports_each_partial_then_filled(
    venue: AlpacaHarness,
) -> None:
    resting = make_order(type_=OrderType.LIMIT, limit=395.0, qty=3.0)
    venue.broker.submit(resting)
    venue.settle()
    venue.fake.block_stream()
    wait_until(lambda: ConnectionState.RECONNECTING in venue.states(), 10, "RECONNECTING")
    venue.fake.fill(client(resting.id), 1.0, 395.0)
    venue.fake.fill(client(resting.id), 2.0, 394.5)

    venue.fake.block_stream(False)

    def fills() -> list[tuple[OrderEventKind, float]]:
        return [(e.kind, e.fill.qty) for e in venue.of_kind(OrderEvent) if e.fill]

    wait_until(lambda: len(fills()) == 2, 15, "both executions found by the resync")
    assert fills() == [(OrderEventKind.PARTIALLY_FILLED, 1.0), (OrderEventKind.FILLED, 2.0)]


def test_restart_then_fills_name_vigils_orders_with_one_listing(venue: AlpacaHarness) -> None:
    orders = [make_order(qty=1.0) for _ in range(3)]
    for order in orders:
        venue.broker.submit(order)
    venue.settle()
    broker = venue.restart()
    listings = venue.fake.count("GET", "/v2/orders")

    fills = broker.fills_since(0.0)

    assert [f.order_id for f in fills] == [o.id for o in orders]
    assert venue.fake.count("GET", "/v2/orders") == listings + 1


def test_bracket_exits_start_without_their_own_update_then_still_reported(
    venue: AlpacaHarness,
) -> None:
    venue.fake.book.announce_legs = False
    entry = make_order(stop_loss=390.0, take_profit=410.0)
    venue.broker.submit(entry)
    described = {
        e.order.id: e.order.parent_id
        for e in order_events(venue, f"{entry.id}-SL") + order_events(venue, f"{entry.id}-TP")
        if e.kind is OrderEventKind.ACCEPTED and e.order is not None
    }
    assert described == {f"{entry.id}-SL": entry.id, f"{entry.id}-TP": entry.id}
