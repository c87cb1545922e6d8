"""Reconciliation's comparison and its book of raised / acknowledged mismatches (pure, tabled)."""

from __future__ import annotations

import pytest

from engine.models import Fill, Order, OrderStatus, OrderType, Side
from engine.trading.reconcile import (
    Issue,
    IssueKind,
    ReconciliationBook,
    StoreView,
    compare_orders,
    compare_positions,
    missed_fills,
    reconcile,
)
from engine.venues.base import VenuePosition, VenueRecord

NOW = 1_780_000_000.0
GRACE = 10.0
OLD, YOUNG = NOW - 60, NOW - 2


def order(
    oid: str,
    created: float = OLD,
    status: OrderStatus = OrderStatus.NEW,
    venue_id: str = "",
    symbol: str = "SPY",
) -> Order:
    return Order(
        oid,
        symbol,
        Side.BUY,
        1.0,
        OrderType.LIMIT,
        status,
        created,
        created,
        limit_price=400.0,
        venue_order_id=venue_id,
    )


def fill(fid: str, ts: float = OLD, qty: float = 2.0, symbol: str = "SPY") -> Fill:
    return Fill("P-1", symbol, Side.BUY, qty, 100.0, 0.01, ts, fid)


UNKNOWN_TO_VENUE, UNKNOWN_TO_STORE = (
    IssueKind.ORDER_UNKNOWN_TO_VENUE,
    IssueKind.ORDER_UNKNOWN_TO_STORE,
)


@pytest.mark.parametrize(
    ("store", "venue", "expected"),
    [
        pytest.param([order("P-1")], [order("P-1")], [], id="same id both sides"),
        pytest.param(
            [order("P-1", venue_id="V-9")],
            [order("", venue_id="V-9")],
            [],
            id="venue lacks our id, matched by its own",
        ),
        pytest.param([order("P-1")], [], [(UNKNOWN_TO_VENUE, "P-1")], id="store only"),
        pytest.param([], [order("X-1")], [(UNKNOWN_TO_STORE, "X-1")], id="venue only"),
        pytest.param(
            [], [order("", venue_id="V-7")], [(UNKNOWN_TO_STORE, "V-7")], id="venue only, its id"
        ),
        pytest.param([order("P-1", created=YOUNG)], [], [], id="in flight: sent, not yet acked"),
        pytest.param([], [order("X-1", created=YOUNG)], [], id="in flight: venue child, no event"),
        pytest.param(
            [order("P-1", status=OrderStatus.FILLED)], [], [], id="closed orders are not compared"
        ),
        pytest.param(
            [order("P-1"), order("P-2")],
            [order("P-2"), order("X-3")],
            [(UNKNOWN_TO_STORE, "X-3"), (UNKNOWN_TO_VENUE, "P-1")],
            id="both kinds at once",
        ),
    ],
)
def test_compare_orders(store: list[Order], venue: list[Order], expected: list[tuple]) -> None:
    issues = compare_orders(store, venue, NOW, GRACE)
    assert [(i.kind, i.order_id) for i in issues] == expected
    for issue in issues:  # each side says what it holds, the other side is empty
        assert bool(issue.store) == (issue.kind == UNKNOWN_TO_VENUE)
        assert bool(issue.venue) == (issue.kind == UNKNOWN_TO_STORE)


@pytest.mark.parametrize(
    ("ours", "theirs", "settling", "expected"),
    [
        ({"SPY": 2.0}, {"SPY": 2.0}, (), []),
        ({"SPY": 2.0}, {"SPY": 2.0 + 1e-12}, (), []),
        ({"SPY": 2.0}, {"SPY": 3.0}, (), [("SPY", "2", "3")]),
        ({"SPY": 2.0}, {"SPY": -2.0}, (), [("SPY", "2", "-2")]),
        ({}, {"QQQ": 1.5}, (), [("QQQ", "0", "1.5")]),
        ({"QQQ": 1.5}, {}, (), [("QQQ", "1.5", "0")]),
        ({"SPY": 2.0}, {"SPY": 3.0}, ("SPY",), []),
    ],
)
def test_compare_positions(
    ours: dict, theirs: dict, settling: tuple, expected: list[tuple]
) -> None:
    issues = compare_positions(ours, theirs, settling)
    assert [(i.symbol, i.store, i.venue) for i in issues] == expected
    assert all(i.kind == IssueKind.POSITION_MISMATCH for i in issues)


def test_missed_fills_by_id_or_by_content_oldest_first() -> None:
    stored = [fill("F-1"), Fill("P-2", "SPY", Side.SELL, 1.0, 101.0, 0.0, OLD + 1)]
    venue = [
        fill("F-3", ts=OLD + 5),
        fill("F-1"),
        Fill("P-2", "SPY", Side.SELL, 1.0, 101.0, 0.0, OLD + 1),  # same, no id
        Fill("P-2", "SPY", Side.SELL, 1.0, 101.0, 0.0, OLD + 2),  # another, no id
        fill("F-2", ts=OLD + 3),
    ]
    assert [(f.id, f.ts) for f in missed_fills(venue, stored)] == [
        ("", OLD + 2),
        ("F-2", OLD + 3),
        ("F-3", OLD + 5),
    ]


def test_a_missed_fill_is_booked_and_then_positions_agree() -> None:
    venue = VenueRecord([VenuePosition("SPY", 2.0, 100.0)], [], [fill("F-1")])
    result = reconcile(StoreView((), {}, ()), venue, NOW, GRACE)
    assert [f.id for f in result.fills_to_apply] == ["F-1"]
    assert result.issues == [] and result.settling == set()


def test_a_fill_in_flight_is_left_to_its_event_and_its_symbol_waits() -> None:
    venue = VenueRecord([VenuePosition("SPY", 2.0, 100.0)], [], [fill("F-1", ts=YOUNG)])
    result = reconcile(StoreView((), {}, ()), venue, NOW, GRACE)
    assert result.fills_to_apply == [] and result.settling == {"SPY"} and result.issues == []


def test_missed_fills_that_do_not_explain_the_position_leave_a_mismatch() -> None:
    venue = VenueRecord([VenuePosition("SPY", 5.0, 100.0)], [], [fill("F-1")])
    result = reconcile(StoreView((), {"SPY": 1.0}, ()), venue, NOW, GRACE)
    assert [f.id for f in result.fills_to_apply] == ["F-1"]
    assert [(i.kind, i.store, i.venue) for i in result.issues] == [
        (IssueKind.POSITION_MISMATCH, "3", "5")
    ]


def test_consistent_sides_reconcile_clean() -> None:
    store = StoreView([order("P-1")], {"SPY": 2.0}, [fill("F-1")])
    venue = VenueRecord([VenuePosition("SPY", 2.0, 100.0)], [order("P-1")], [fill("F-1")])
    result = reconcile(store, venue, NOW, GRACE)
    assert result.issues == [] and result.fills_to_apply == []


A = Issue(IssueKind.POSITION_MISMATCH, "SPY", "", "2", "3")
B = Issue(IssueKind.ORDER_UNKNOWN_TO_STORE, "SPY", "X-1", venue="buy 1 SPY limit @ 400")


def test_book_raises_once_holds_until_acknowledged_and_raises_what_is_new() -> None:
    book = ReconciliationBook()
    assert book.report([A], NOW) == [A]
    assert book.report([A], NOW + 30) == []  # the same, found again: not re-alerted
    assert book.payload() is not None and book.payload()["since"] == NOW * 1000
    assert [i["kind"] for i in book.payload()["issues"]] == ["position_mismatch"]
    assert book.acknowledge() == [A] and book.payload() is None
    assert book.report([A], NOW + 60) == []  # acknowledged and still there
    assert book.report([A, B], NOW + 90) == [B]  # a new one after the acknowledgement
    assert book.active == [B] and book.since == NOW + 90


def test_book_forgets_an_acknowledged_mismatch_that_went_away() -> None:
    book = ReconciliationBook()
    book.report([A], NOW)
    book.acknowledge()
    assert book.report([], NOW + 30) == []
    assert book.report([A], NOW + 60) == [A]  # it came back: raised again


def test_book_keeps_a_raised_mismatch_that_went_away_until_acknowledged() -> None:
    book = ReconciliationBook()
    book.report([A], NOW)
    book.report([], NOW + 30)
    assert book.active == [A]


def test_a_partial_report_does_not_forget_acknowledgements() -> None:
    book = ReconciliationBook()
    book.report([A], NOW)
    book.acknowledge()
    other = Issue(IssueKind.OTHER, venue="the venue reports order V-1 Vigil did not place")
    assert book.report([other], NOW + 1, complete=False) == [other]
    assert book.report([A], NOW + 2) == []
