"""The venue contract: what every Broker must do, written once against engine.venues.base.

A provider's test module subclasses `BrokerContract` and supplies a `venue` fixture: a
`VenueHarness` around its broker (the paper venue here; a real provider around its loopback
fake). Every test drives the broker only through the Broker interface plus the harness.
"""

from __future__ import annotations

from typing import Protocol

import pytest

from engine.models import Order, OrderStatus, OrderType, Side
from engine.venues.base import (
    Broker,
    OrderEvent,
    OrderEventKind,
    VenueEvent,
)

SYMBOL = "QQQ"
BID, ASK = 399.9, 400.1


class VenueHarness(Protocol):
    broker: Broker
    events: list[VenueEvent]

    def market(self, bid: float, ask: float) -> None:
        """Make the venue's market this bid/ask (the paper venue: feed it a quote)."""

    def settle(self) -> None:
        """Return once every event the venue has sent so far is in `events`."""

    def reject_next(self, reason: str) -> None:
        """Make the venue refuse the next order."""

    def restart(self) -> Broker:
        """A new broker on the same account (the process restarted); becomes `broker`."""


_seq = [0]


def make_order(
    side: Side = Side.BUY,
    qty: float = 2.0,
    type_: OrderType = OrderType.MARKET,
    *,
    limit: float | None = None,
    stop_loss: float | None = None,
    take_profit: float | None = None,
    reduce_only: bool = False,
) -> Order:
    _seq[0] += 1
    return Order(
        id=f"C-{_seq[0]}",
        symbol=SYMBOL,
        side=side,
        qty=qty,
        type=type_,
        status=OrderStatus.NEW,
        created_ts=0.0,
        updated_ts=0.0,
        limit_price=limit,
        stop_loss=stop_loss,
        take_profit=take_profit,
        reduce_only=reduce_only,
        source="manual",
    )


def order_events(venue: VenueHarness, order_id: str | None = None) -> list[OrderEvent]:
    venue.settle()
    return [
        e
        for e in venue.events
        if isinstance(e, OrderEvent) and (order_id is None or e.order_id == order_id)
    ]


def kinds(venue: VenueHarness, order_id: str) -> list[OrderEventKind]:
    return [e.kind for e in order_events(venue, order_id)]


class BrokerContract:
    """Subclass with a `venue` fixture yielding a VenueHarness at BID/ASK."""

    def test_is_a_broker(self, venue: VenueHarness) -> None:
        assert isinstance(venue.broker, Broker)

    def test_submit_market_then_accepted_then_filled(self, venue: VenueHarness) -> None:
        order = make_order()
        venue.broker.submit(order)
        events = order_events(venue, order.id)
        assert [e.kind for e in events] == [OrderEventKind.ACCEPTED, OrderEventKind.FILLED]
        fill = events[-1].fill
        assert fill is not None and fill.qty == 2.0 and fill.order_id == order.id
        assert fill.price >= ASK  # a buy pays the offer (plus slippage, if any)
        assert events[0].venue_order_id and events[0].venue_order_id == events[1].venue_order_id

    def test_limit_rests_then_fills_on_market_data(self, venue: VenueHarness) -> None:
        order = make_order(type_=OrderType.LIMIT, limit=399.0)
        venue.broker.submit(order)
        assert kinds(venue, order.id) == [OrderEventKind.ACCEPTED]
        assert [o.id for o in venue.broker.open_orders()] == [order.id]

        venue.market(398.8, 398.9)

        assert kinds(venue, order.id) == [OrderEventKind.ACCEPTED, OrderEventKind.FILLED]
        fill = order_events(venue, order.id)[-1].fill
        assert fill is not None and fill.price <= 399.0
        assert venue.broker.open_orders() == []

    def test_cancel_one_then_canceled_event(self, venue: VenueHarness) -> None:
        keep = make_order(type_=OrderType.LIMIT, limit=390.0)
        drop = make_order(type_=OrderType.LIMIT, limit=391.0)
        venue.broker.submit(keep)
        venue.broker.submit(drop)

        outcome = venue.broker.cancel(drop.id)

        assert outcome.ok and outcome.order_id == drop.id
        assert kinds(venue, drop.id)[-1] is OrderEventKind.CANCELED
        assert [o.id for o in venue.broker.open_orders()] == [keep.id]
        again = venue.broker.cancel(drop.id)
        assert not again.ok and again.reason

    def test_cancel_all_then_one_outcome_per_order(self, venue: VenueHarness) -> None:
        orders = [make_order(type_=OrderType.LIMIT, limit=390.0 + i) for i in range(3)]
        for order in orders:
            venue.broker.submit(order)

        outcomes = venue.broker.cancel_all()

        assert sorted(o.order_id for o in outcomes) == sorted(o.id for o in orders)
        assert all(o.ok for o in outcomes)
        assert venue.broker.open_orders() == []
        for order in orders:
            assert kinds(venue, order.id)[-1] is OrderEventKind.CANCELED

    def test_close_position_then_flat(self, venue: VenueHarness) -> None:
        venue.broker.submit(make_order(qty=3.0))
        venue.settle()
        assert [(p.symbol, p.qty) for p in venue.broker.positions()] == [(SYMBOL, 3.0)]

        closing = venue.broker.close_position(SYMBOL)

        assert closing is not None and closing.side is Side.SELL and closing.qty == 3.0
        assert kinds(venue, closing.id)[-1] is OrderEventKind.FILLED
        assert venue.broker.positions() == []
        assert venue.broker.close_position(SYMBOL) is None

    def test_bracket_children_then_replace_stops_moves_them(self, venue: VenueHarness) -> None:
        entry = make_order(stop_loss=390.0, take_profit=410.0)
        venue.broker.submit(entry)
        children = [o for o in venue.broker.open_orders() if o.parent_id == entry.id]
        assert sorted(o.type for o in children) == [OrderType.LIMIT, OrderType.STOP]
        # The venue made them: they arrive described, naming our order as their parent.
        described = [e.order for e in order_events(venue) if e.order and e.order.parent_id]
        assert {o.id for o in described} == {o.id for o in children}

        changed = venue.broker.replace_stops(SYMBOL, 392.0, None)

        assert [(o.type, o.stop_price) for o in changed] == [(OrderType.STOP, 392.0)]
        stop = next(o for o in venue.broker.open_orders() if o.type is OrderType.STOP)
        assert stop.stop_price == 392.0
        last = [e for e in order_events(venue, stop.id) if e.order is not None][-1]
        assert last.order is not None and last.order.stop_price == 392.0

    def test_record_agrees_with_what_was_reported(self, venue: VenueHarness) -> None:
        venue.broker.submit(make_order(qty=2.0))
        venue.broker.submit(make_order(Side.SELL, qty=0.5))
        resting = make_order(type_=OrderType.LIMIT, limit=395.0)
        venue.broker.submit(resting)

        reported = [e.fill for e in order_events(venue) if e.fill is not None]
        assert sorted(f.id for f in venue.broker.fills_since(0.0)) == sorted(f.id for f in reported)
        net = sum(f.side.sign * f.qty for f in reported)
        assert [(p.symbol, p.qty) for p in venue.broker.positions()] == [(SYMBOL, net)]
        assert [o.id for o in venue.broker.open_orders()] == [resting.id]
        account = venue.broker.account()
        assert account.equity > 0 and account.cash < account.equity

    def test_reject_then_rejected_event_with_reason(self, venue: VenueHarness) -> None:
        venue.reject_next("insufficient buying power")
        order = make_order()
        venue.broker.submit(order)
        (event,) = order_events(venue, order.id)
        assert event.kind is OrderEventKind.REJECTED
        assert event.reason == "insufficient buying power"
        assert venue.broker.positions() == [] and venue.broker.open_orders() == []

    def test_invalid_order_then_rejected_not_raised(self, venue: VenueHarness) -> None:
        order = make_order(qty=-1.0)
        venue.broker.submit(order)
        assert kinds(venue, order.id) == [OrderEventKind.REJECTED]

    def test_restart_then_record_reloaded(self, venue: VenueHarness) -> None:
        venue.broker.submit(make_order(qty=2.0))
        resting = make_order(type_=OrderType.LIMIT, limit=395.0)
        venue.broker.submit(resting)
        venue.settle()
        fills = venue.broker.fills_since(0.0)

        broker = venue.restart()

        assert [(p.symbol, p.qty) for p in broker.positions()] == [(SYMBOL, 2.0)]
        assert [o.id for o in broker.open_orders()] == [resting.id]
        assert [f.id for f in broker.fills_since(0.0)] == [f.id for f in fills]
        # The resting order still trades after the restart, under its own id.
        venue.market(394.8, 394.9)
        assert kinds(venue, resting.id)[-1] is OrderEventKind.FILLED


@pytest.fixture
def contract_symbol() -> str:
    return SYMBOL
