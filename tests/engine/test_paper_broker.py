"""PaperBroker matching, brackets and bookkeeping, with fill prices worked out by hand."""

from __future__ import annotations

import pytest

from engine.models import (
    AssetClass,
    BookLevel,
    Instrument,
    Order,
    OrderBook,
    OrderRequest,
    OrderStatus,
    OrderType,
    Quote,
    Side,
)
from engine.venues.paper.broker import PaperBroker

INSTRUMENTS = {
    "SPY": Instrument("SPY", AssetClass.EQUITY),
    "OPT": Instrument("OPT", AssetClass.OPTION, multiplier=100.0),
    "BTC/USD": Instrument("BTC/USD", AssetClass.CRYPTO, lot_size=0.0001),
}

# asks 100.00 x10, 100.01 x20, 100.02 x30; bids 99.99 x10, 99.98 x20, 99.97 x30
ASKS = ((100.00, 10), (100.01, 20), (100.02, 30))
BIDS = ((99.99, 10), (99.98, 20), (99.97, 30))


def book(
    bids: tuple[tuple[float, float], ...] = BIDS,
    asks: tuple[tuple[float, float], ...] = ASKS,
    ts: float = 1.0,
    symbol: str = "SPY",
) -> OrderBook:
    return OrderBook(
        symbol=symbol,
        bids=tuple(BookLevel(p, s) for p, s in bids),
        asks=tuple(BookLevel(p, s) for p, s in asks),
        ts=ts,
    )


def quote(bid: float, ask: float, ts: float = 1.0, symbol: str = "SPY") -> Quote:
    return Quote(symbol=symbol, bid=bid, ask=ask, bid_size=1, ask_size=1, ts=ts)


def req(side: Side, qty: float, **kw: object) -> OrderRequest:
    symbol = str(kw.pop("symbol", "SPY"))
    return OrderRequest(symbol=symbol, side=side, qty=qty, **kw)  # type: ignore[arg-type]


@pytest.fixture
def broker() -> PaperBroker:
    # 10 bps fee and 10 bps slippage keep the hand arithmetic readable
    b = PaperBroker(INSTRUMENTS, fee_bps=10.0, slippage_bps=10.0)
    b.update_book(book())
    return b


def test_market_buy_when_larger_than_touch_then_walks_levels_plus_slippage(
    broker: PaperBroker,
) -> None:
    order, fills = broker.submit(req(Side.BUY, 25), now=2.0)
    # 10 @ 100.00 + 15 @ 100.01 = 2500.15 -> vwap 100.006; +10 bps = 100.106006
    assert order.status is OrderStatus.FILLED and order.id == "P-1"
    (fill,) = fills
    assert fill.qty == 25 and fill.side is Side.BUY
    assert fill.price == pytest.approx(100.106006)
    # fee = 10 bps of 25 * 100.106006 = 2.50265015
    assert fill.fee == pytest.approx(2.50265015)
    assert order.avg_fill_price == pytest.approx(100.106006)
    assert fill.ts == 2.0 and fill.order_id == "P-1"


def test_market_buy_when_deeper_than_book_then_rest_at_last_level() -> None:
    broker = PaperBroker(INSTRUMENTS, fee_bps=0.0, slippage_bps=0.0)
    broker.update_book(book())
    _, (fill,) = broker.submit(req(Side.BUY, 100), now=2.0)
    # 10 @ 100.00 + 20 @ 100.01 + 70 @ 100.02 = 10001.6 -> 100.016
    assert fill.price == pytest.approx(100.016)
    assert fill.fee == 0.0


def test_market_sell_when_only_quote_then_fills_at_bid_less_slippage() -> None:
    broker = PaperBroker(INSTRUMENTS, fee_bps=10.0, slippage_bps=10.0)
    broker.update_quote(quote(99.99, 100.01))
    _, (fill,) = broker.submit(req(Side.SELL, 5), now=2.0)
    # 99.99 * (1 - 0.001) = 99.89001
    assert fill.price == pytest.approx(99.89001)


def test_market_when_book_older_than_quote_then_quote_used(broker: PaperBroker) -> None:
    broker.update_quote(quote(101.00, 101.02, ts=5.0))
    _, (fill,) = broker.submit(req(Side.BUY, 1), now=6.0)
    # stale book ignored: 101.02 * 1.001 = 101.12102
    assert fill.price == pytest.approx(101.12102)


def test_option_fee_when_filled_then_includes_multiplier() -> None:
    broker = PaperBroker(INSTRUMENTS, fee_bps=10.0, slippage_bps=0.0)
    broker.update_quote(quote(3.40, 3.50, symbol="OPT"))
    _, (fill,) = broker.submit(req(Side.BUY, 2, symbol="OPT"), now=2.0)
    # 10 bps of 2 * 3.50 * 100 = 0.7
    assert fill.price == pytest.approx(3.50)
    assert fill.fee == pytest.approx(0.7)


def test_market_when_no_market_data_then_rejected() -> None:
    broker = PaperBroker(INSTRUMENTS)
    order, fills = broker.submit(req(Side.BUY, 1), now=2.0)
    assert fills == []
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason == "no market data"
    assert broker.open_orders() == []
    stored = broker.order(order.id)
    assert stored is not None and stored.status is OrderStatus.REJECTED
    assert [o.id for o in broker.drain_changed()] == [order.id]


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (req(Side.BUY, 0), "quantity must be positive"),
        (req(Side.BUY, -3), "quantity must be positive"),
        (req(Side.BUY, 1.5), "lot size"),
        (req(Side.BUY, 0.00015, symbol="BTC/USD"), "lot size"),
        (req(Side.BUY, 1, type=OrderType.LIMIT), "limit price"),
        (req(Side.BUY, 1, type=OrderType.STOP), "stop price"),
        (req(Side.BUY, 1, symbol="XYZ"), "unknown instrument"),
        (req(Side.BUY, 1, stop_loss=101.0, take_profit=99.0), "losing side"),
        (req(Side.SELL, 1, stop_loss=99.0, take_profit=101.0), "losing side"),
    ],
)
def test_submit_when_invalid_then_rejected_with_reason(
    broker: PaperBroker, request_: OrderRequest, reason: str
) -> None:
    order, fills = broker.submit(request_, now=2.0)
    assert order.status is OrderStatus.REJECTED
    assert reason in order.reject_reason
    assert fills == []
    assert broker.open_orders() == []


def test_submit_when_crypto_qty_on_lot_grid_then_accepted() -> None:
    broker = PaperBroker(INSTRUMENTS)
    broker.update_quote(quote(60_000.0, 60_000.5, symbol="BTC/USD"))
    order, (fill,) = broker.submit(req(Side.BUY, 0.0003, symbol="BTC/USD"), now=2.0)
    assert order.status is OrderStatus.FILLED and fill.qty == 0.0003


def test_limit_when_not_marketable_then_rests_and_fills_on_later_book(
    broker: PaperBroker,
) -> None:
    order, fills = broker.submit(req(Side.BUY, 5, type=OrderType.LIMIT, limit_price=99.95), 2.0)
    assert fills == [] and order.status is OrderStatus.NEW
    assert [o.id for o in broker.open_orders()] == [order.id]
    # touch still above the limit: nothing
    assert broker.update_book(book(asks=((99.96, 5), (99.97, 5)), ts=3.0)) == []
    (fill,) = broker.update_book(book(asks=((99.94, 3), (99.95, 10)), ts=4.0))
    # fills at min(limit 99.95, ask 99.94); fee = 5 * 99.94 * 0.001 = 0.4997
    assert fill.price == pytest.approx(99.94) and fill.qty == 5
    assert fill.fee == pytest.approx(0.4997)
    done = broker.order(order.id)
    assert done is not None and done.status is OrderStatus.FILLED and done.updated_ts == 4.0
    assert broker.open_orders() == []


def test_limit_when_marketable_then_fills_within_limit_and_rest_remains(
    broker: PaperBroker,
) -> None:
    order, (fill,) = broker.submit(
        req(Side.BUY, 40, type=OrderType.LIMIT, limit_price=100.01), now=2.0
    )
    # 10 @ 100.00 + 20 @ 100.01 = 3000.2 over 30 -> 100.00667, no slippage on a limit
    assert fill.qty == 30
    assert fill.price == pytest.approx(3000.2 / 30)
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.remaining == 10
    (rest,) = broker.update_quote(quote(100.00, 100.01, ts=3.0))
    assert rest.qty == 10 and rest.price == pytest.approx(100.01)
    done = broker.order(order.id)
    # avg = (3000.2 + 1000.1) / 40 = 100.0075
    assert done is not None and done.status is OrderStatus.FILLED
    assert done.avg_fill_price == pytest.approx(100.0075)
    assert rest.id != fill.id


def test_sell_limit_when_marketable_then_walks_bids_down_to_limit(broker: PaperBroker) -> None:
    _, (fill,) = broker.submit(req(Side.SELL, 15, type=OrderType.LIMIT, limit_price=99.98), 2.0)
    # 10 @ 99.99 + 5 @ 99.98 = 1499.8 over 15 -> 99.98667
    assert fill.qty == 15 and fill.price == pytest.approx(1499.8 / 15)


def test_sell_stop_when_bid_reaches_stop_then_fills_as_market(broker: PaperBroker) -> None:
    order, fills = broker.submit(req(Side.SELL, 5, type=OrderType.STOP, stop_price=99.90), 2.0)
    assert fills == [] and order.status is OrderStatus.NEW
    assert broker.update_book(book(bids=((99.92, 5), (99.91, 5)), ts=3.0)) == []
    (fill,) = broker.update_book(book(bids=((99.90, 3), (99.89, 10)), ts=4.0))
    # 3 @ 99.90 + 2 @ 99.89 = 499.48 -> 99.896; less 10 bps = 99.796104
    assert fill.price == pytest.approx(99.796104)
    assert fill.qty == 5


def test_buy_stop_when_ask_reaches_stop_then_triggers(broker: PaperBroker) -> None:
    broker.submit(req(Side.BUY, 1, type=OrderType.STOP, stop_price=100.50), 2.0)
    assert broker.update_quote(quote(100.40, 100.49, ts=3.0)) == []
    (fill,) = broker.update_quote(quote(100.50, 100.52, ts=4.0))
    # quote newer than book: 100.52 * 1.001 = 100.62052
    assert fill.price == pytest.approx(100.62052)


def bracket_children(broker: PaperBroker, entry: Order) -> dict[OrderType, Order]:
    return {o.type: o for o in broker.open_orders() if o.parent_id == entry.id}


def test_bracket_when_entry_filled_then_sl_and_tp_children_rest(broker: PaperBroker) -> None:
    entry, _ = broker.submit(req(Side.BUY, 10, stop_loss=99.0, take_profit=101.0), 2.0)
    children = bracket_children(broker, entry)
    stop, target = children[OrderType.STOP], children[OrderType.LIMIT]
    assert (stop.side, stop.qty, stop.stop_price) == (Side.SELL, 10, 99.0)
    assert (target.side, target.qty, target.limit_price) == (Side.SELL, 10, 101.0)
    assert stop.reduce_only and target.reduce_only
    assert stop.oco_id is not None and stop.oco_id == target.oco_id
    assert {o.id for o in broker.drain_changed()} == {entry.id, stop.id, target.id}


def test_bracket_when_take_profit_fills_then_stop_cancelled(broker: PaperBroker) -> None:
    entry, _ = broker.submit(req(Side.BUY, 10, stop_loss=99.0, take_profit=101.0), 2.0)
    children = bracket_children(broker, entry)
    broker.drain_changed()
    (fill,) = broker.update_book(book(bids=((101.02, 50),), asks=((101.03, 50),), ts=3.0))
    # sell limit at 101 with bid 101.02: fills at max(101, 101.02)
    assert fill.order_id == children[OrderType.LIMIT].id
    assert fill.price == pytest.approx(101.02) and fill.side is Side.SELL
    stop = broker.order(children[OrderType.STOP].id)
    assert stop is not None and stop.status is OrderStatus.CANCELED and stop.updated_ts == 3.0
    assert broker.open_orders() == []
    changed = {o.id: o.status for o in broker.drain_changed()}
    assert changed == {
        children[OrderType.LIMIT].id: OrderStatus.FILLED,
        children[OrderType.STOP].id: OrderStatus.CANCELED,
    }


def test_bracket_when_stop_loss_triggers_then_target_cancelled(broker: PaperBroker) -> None:
    entry, _ = broker.submit(req(Side.BUY, 10, stop_loss=99.0, take_profit=101.0), 2.0)
    children = bracket_children(broker, entry)
    (fill,) = broker.update_book(book(bids=((98.90, 50),), asks=((98.92, 50),), ts=3.0))
    assert fill.order_id == children[OrderType.STOP].id
    target = broker.order(children[OrderType.LIMIT].id)
    assert target is not None and target.status is OrderStatus.CANCELED


def test_bracket_when_limit_entry_rests_then_children_only_after_fill(
    broker: PaperBroker,
) -> None:
    entry, _ = broker.submit(
        req(Side.BUY, 5, type=OrderType.LIMIT, limit_price=99.50, stop_loss=98.0), 2.0
    )
    assert bracket_children(broker, entry) == {}
    broker.update_quote(quote(99.48, 99.50, ts=3.0))
    children = bracket_children(broker, entry)
    # stop loss only: a single child, no OCO partner
    assert list(children) == [OrderType.STOP]
    assert children[OrderType.STOP].qty == 5 and children[OrderType.STOP].oco_id is None


def test_modify_stops_when_bracket_open_then_children_moved(broker: PaperBroker) -> None:
    entry, _ = broker.submit(req(Side.BUY, 10, stop_loss=99.0, take_profit=101.0), 2.0)
    changed = broker.modify_stops("SPY", 98.5, 102.0, now=3.0)
    assert {(o.type, o.stop_price, o.limit_price) for o in changed} == {
        (OrderType.STOP, 98.5, None),
        (OrderType.LIMIT, None, 102.0),
    }
    assert all(o.updated_ts == 3.0 for o in changed)
    # 98.90 would have hit the old stop at 99, not the new one at 98.5
    assert broker.update_book(book(bids=((98.90, 50),), asks=((98.92, 50),), ts=4.0)) == []
    assert len(bracket_children(broker, entry)) == 2
    assert broker.modify_stops("QQQ", 90.0, None, now=5.0) == []


def test_cancel_when_open_then_cancelled_and_unknown_gives_none(broker: PaperBroker) -> None:
    order, _ = broker.submit(req(Side.BUY, 5, type=OrderType.LIMIT, limit_price=90.0), 2.0)
    cancelled = broker.cancel(order.id, now=3.0)
    assert cancelled is not None and cancelled.status is OrderStatus.CANCELED
    assert cancelled.updated_ts == 3.0
    assert broker.cancel(order.id, now=4.0) is None
    assert broker.cancel("P-999", now=4.0) is None
    assert broker.open_orders() == []
    # a cancelled order never fills later
    assert broker.update_book(book(asks=((89.0, 50),), ts=5.0)) == []


def test_cancel_all_when_brackets_open_then_every_order_cancelled(broker: PaperBroker) -> None:
    broker.submit(req(Side.BUY, 10, stop_loss=99.0, take_profit=101.0), 2.0)
    broker.submit(req(Side.BUY, 5, type=OrderType.LIMIT, limit_price=90.0), 2.0)
    cancelled = broker.cancel_all(now=3.0)
    assert len(cancelled) == 3
    assert all(o.status is OrderStatus.CANCELED for o in cancelled)
    assert broker.open_orders() == []


def test_cancel_symbol_when_reduce_only_asked_then_only_brackets_cancelled(
    broker: PaperBroker,
) -> None:
    broker.submit(req(Side.BUY, 10, stop_loss=99.0, take_profit=101.0), 2.0)
    resting, _ = broker.submit(req(Side.BUY, 5, type=OrderType.LIMIT, limit_price=90.0), 2.0)
    cancelled = broker.cancel_symbol("SPY", now=3.0, reduce_only=True)
    assert len(cancelled) == 2 and all(o.reduce_only for o in cancelled)
    assert [o.id for o in broker.open_orders()] == [resting.id]


def test_drain_changed_when_drained_then_cleared(broker: PaperBroker) -> None:
    order, _ = broker.submit(req(Side.BUY, 1), 2.0)
    assert [(o.id, o.status) for o in broker.drain_changed()] == [(order.id, OrderStatus.FILLED)]
    assert broker.drain_changed() == []


def test_restore_orders_when_restarted_then_rest_again_and_ids_continue() -> None:
    resting = Order(
        id="P-7",
        symbol="SPY",
        side=Side.BUY,
        qty=5,
        type=OrderType.LIMIT,
        status=OrderStatus.NEW,
        created_ts=1.0,
        updated_ts=1.0,
        limit_price=99.5,
    )
    filled = Order(
        id="P-9",
        symbol="SPY",
        side=Side.BUY,
        qty=1,
        type=OrderType.MARKET,
        status=OrderStatus.FILLED,
        created_ts=1.0,
        updated_ts=1.0,
        filled_qty=1,
    )
    broker = PaperBroker(INSTRUMENTS)
    broker.restore_orders([resting, filled])
    assert [o.id for o in broker.open_orders()] == ["P-7"]
    assert broker.drain_changed() == []
    broker.update_book(book(ts=2.0))
    order, _ = broker.submit(req(Side.BUY, 1), now=2.0)
    assert order.id == "P-10"
    (fill,) = broker.update_quote(quote(99.40, 99.45, ts=3.0))
    assert fill.order_id == "P-7" and fill.price == pytest.approx(99.45)


def test_returned_orders_when_mutated_then_broker_unchanged(broker: PaperBroker) -> None:
    order, _ = broker.submit(req(Side.BUY, 5, type=OrderType.LIMIT, limit_price=90.0), 2.0)
    order.limit_price = 200.0
    broker.open_orders()[0].status = OrderStatus.CANCELED
    stored = broker.order(order.id)
    assert stored is not None
    assert stored.limit_price == 90.0 and stored.status is OrderStatus.NEW


def test_stop_triggered_by_market_data_stamped_before_the_order_then_fill_not_before_it(
    broker: PaperBroker,
) -> None:
    _, (opening,) = broker.submit(req(Side.BUY, 10, stop_loss=99.0), 10.0)
    # Market data generated before the order but handled after it (queued behind it).
    (closing,) = broker.update_book(book(bids=((98.90, 50),), asks=((98.92, 50),), ts=9.21))
    assert opening.ts == 10.0
    assert closing.ts >= opening.ts
    stop = broker.order(closing.order_id)
    assert stop is not None and stop.updated_ts >= stop.created_ts


def test_fit_reduce_only_when_position_on_their_side_then_cancelled(broker: PaperBroker) -> None:
    broker.submit(req(Side.BUY, 10, stop_loss=99.0, take_profit=101.0), 2.0)
    # The sell-side children would add to a short instead of closing a long.
    changed = broker.fit_reduce_only("SPY", -4.0, 3.0)
    assert {o.status for o in changed} == {OrderStatus.CANCELED}
    assert broker.protective_orders("SPY") == []


def test_fit_reduce_only_when_position_smaller_then_cut_to_it(broker: PaperBroker) -> None:
    broker.submit(req(Side.BUY, 10, stop_loss=99.0, take_profit=101.0), 2.0)
    changed = broker.fit_reduce_only("SPY", 4.0, 3.0)
    assert len(changed) == 2
    assert [o.remaining for o in broker.protective_orders("SPY")] == [4.0, 4.0]
    assert broker.fit_reduce_only("SPY", 4.0, 3.0) == []  # fits already: nothing changes
    assert broker.fit_reduce_only("SPY", 0.0, 3.0) and broker.open_orders() == []


def test_max_fill_qty_when_large_market_then_one_capped_fill_per_market_update() -> None:
    matcher = PaperBroker(INSTRUMENTS, fee_bps=0.0, slippage_bps=0.0, max_fill_qty=4)
    matcher.update_quote(quote(99.99, 100.01))
    order, (first,) = matcher.submit(req(Side.BUY, 10), now=2.0)
    assert first.qty == 4 and order.status is OrderStatus.PARTIALLY_FILLED
    assert [o.id for o in matcher.open_orders()] == [order.id]

    (second,) = matcher.update_quote(quote(99.99, 100.02, ts=3.0))
    (last,) = matcher.update_quote(quote(99.99, 100.03, ts=4.0))

    assert (second.qty, second.price, last.qty, last.price) == (4, 100.02, 2, 100.03)
    done = matcher.order(order.id)
    assert done is not None and done.status is OrderStatus.FILLED and done.filled_qty == 10
    assert matcher.update_quote(quote(99.99, 100.04, ts=5.0)) == []
