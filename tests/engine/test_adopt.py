"""Adopting the venue's positions on acknowledgement: the fill that makes Vigil hold them."""

from __future__ import annotations

import pytest

from engine.models import AssetClass, Instrument, Position, Side
from engine.trading.adopt import adoption_fills
from engine.venues.base import VenuePosition

INSTRUMENTS = {s: Instrument(s, AssetClass.EQUITY) for s in ("SPY", "QQQ")}
NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("ours", "venue", "side", "qty", "price"),
    [
        (None, (5.0, 400.0), Side.BUY, 5.0, 400.0),  # held nothing: the venue's average
        (None, (-2.0, 410.0), Side.SELL, 2.0, 410.0),  # a short
        ((2.0, 100.0), (5.0, 102.0), Side.BUY, 3.0, (5 * 102 - 2 * 100) / 3),  # averages agree
        ((5.0, 100.0), (2.0, 100.0), Side.SELL, 3.0, 100.0),  # the venue holds less
        ((2.0, 100.0), (0.0, 0.0), Side.SELL, 2.0, 100.0),  # the venue is flat: closed at cost
        ((2.0, 100.0), (-1.0, 105.0), Side.SELL, 3.0, 105.0),  # flipped short
    ],
)
def test_adoption_fill_makes_vigil_hold_what_the_venue_holds(
    ours: tuple[float, float] | None,
    venue: tuple[float, float],
    side: Side,
    qty: float,
    price: float,
) -> None:
    mine = {"SPY": Position("SPY", ours[0], ours[1])} if ours else {}
    held = [VenuePosition("SPY", venue[0], venue[1])] if venue[0] else []
    plan = adoption_fills(["SPY"], held, mine, INSTRUMENTS, NOW)
    assert plan.skipped == {}
    [fill] = plan.fills
    assert (fill.side, fill.qty, fill.symbol, fill.fee) == (side, qty, "SPY", 0.0)
    assert fill.price == pytest.approx(price)
    assert fill.id.startswith("adopt:SPY:") and fill.ts == NOW


def test_symbol_vigil_does_not_trade_is_named_not_booked() -> None:
    plan = adoption_fills(["AAPL"], [VenuePosition("AAPL", 3, 190.0)], {}, INSTRUMENTS, NOW)
    assert plan.fills == [] and "VIGIL_SYMBOLS" in plan.skipped["AAPL"]


def test_positions_that_already_agree_book_nothing() -> None:
    mine = {"SPY": Position("SPY", 3.0, 500.0)}
    plan = adoption_fills(["SPY"], [VenuePosition("SPY", 3.0, 500.0)], mine, INSTRUMENTS, NOW)
    assert plan.fills == [] and plan.skipped == {}
