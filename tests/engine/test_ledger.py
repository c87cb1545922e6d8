"""Ledger accounting checked against numbers worked out by hand in the comments."""

from __future__ import annotations

import pytest

from engine.models import AssetClass, Fill, Instrument, Side
from engine.trading.ledger import Ledger

INSTRUMENTS = {
    "SPY": Instrument("SPY", AssetClass.EQUITY),
    "OPT": Instrument("OPT", AssetClass.OPTION, multiplier=100.0),
    "BTC/USD": Instrument("BTC/USD", AssetClass.CRYPTO, lot_size=0.0001),
}


def fill(
    side: Side, qty: float, price: float, fee: float = 0.0, ts: float = 0.0, symbol: str = "SPY"
) -> Fill:
    return Fill(order_id="O", symbol=symbol, side=side, qty=qty, price=price, fee=fee, ts=ts)


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(INSTRUMENTS, starting_cash=10_000.0)


def test_long_round_trip_when_closed_then_pnl_net_of_both_fees(ledger: Ledger) -> None:
    assert ledger.apply(fill(Side.BUY, 10, 100.0, fee=1.0, ts=1.0)) == []
    # cash = 10000 - 10*100 - 1 = 8999
    assert ledger.cash == pytest.approx(8_999.0)
    trades = ledger.apply(fill(Side.SELL, 10, 110.0, fee=1.1, ts=2.0))
    # gross = (110-100)*10 = 100; net = 100 - 1 (entry) - 1.1 (exit) = 97.9
    assert len(trades) == 1
    trade = trades[0]
    assert (trade.direction, trade.qty, trade.entry_price, trade.exit_price) == (
        "long",
        10,
        100.0,
        110.0,
    )
    assert trade.pnl == pytest.approx(97.9)
    assert trade.fees == pytest.approx(2.1)
    assert (trade.entry_ts, trade.exit_ts, trade.id) == (1.0, 2.0, "T-1")
    # cash = 8999 + 1100 - 1.1 = 10097.9
    assert ledger.cash == pytest.approx(10_097.9)
    assert ledger.realized_pnl == pytest.approx(97.9)
    assert ledger.fees == pytest.approx(2.1)
    assert ledger.equity == pytest.approx(10_097.9)
    assert ledger.position("SPY") is None
    assert ledger.positions() == {}
    assert ledger.open_position_count == 0


def test_short_round_trip_when_price_falls_then_profit(ledger: Ledger) -> None:
    ledger.apply(fill(Side.SELL, 5, 200.0, fee=0.5))
    position = ledger.position("SPY")
    assert position is not None and position.qty == -5
    # cash = 10000 + 1000 - 0.5
    assert ledger.cash == pytest.approx(10_999.5)
    (trade,) = ledger.apply(fill(Side.BUY, 5, 190.0, fee=0.5))
    # gross = (190-200)*5*(-1) = 50; net = 50 - 1 = 49
    assert trade.direction == "short"
    assert trade.pnl == pytest.approx(49.0)
    # cash = 10999.5 - 950 - 0.5 = 10049
    assert ledger.cash == pytest.approx(10_049.0)
    assert ledger.equity == pytest.approx(10_049.0)


def test_partial_close_when_reduced_then_entry_fees_shared_by_quantity(ledger: Ledger) -> None:
    ledger.apply(fill(Side.BUY, 10, 100.0, fee=2.0))
    (first,) = ledger.apply(fill(Side.SELL, 4, 105.0, fee=0.4))
    # gross = 5*4 = 20; entry share = 2*4/10 = 0.8; net = 20 - 0.4 - 0.8 = 18.8
    assert first.qty == 4
    assert first.pnl == pytest.approx(18.8)
    assert first.fees == pytest.approx(1.2)
    position = ledger.position("SPY")
    assert position is not None
    assert position.qty == 6 and position.avg_price == 100.0
    assert position.realized_pnl == pytest.approx(18.8)
    (second,) = ledger.apply(fill(Side.SELL, 6, 95.0, fee=0.6))
    # gross = -5*6 = -30; entry share left = 1.2; net = -30 - 0.6 - 1.2 = -31.8
    assert second.pnl == pytest.approx(-31.8)
    assert second.id == "T-2"
    # realized = 20 - 30 - (2 + 0.4 + 0.6) = -13 = 18.8 - 31.8
    assert ledger.realized_pnl == pytest.approx(-13.0)
    assert ledger.equity == pytest.approx(10_000.0 - 13.0)


def test_add_then_close_when_averaged_then_pnl_from_weighted_price(ledger: Ledger) -> None:
    ledger.apply(fill(Side.BUY, 10, 100.0))
    ledger.apply(fill(Side.BUY, 30, 104.0))
    position = ledger.position("SPY")
    # avg = (10*100 + 30*104) / 40 = 4120 / 40 = 103
    assert position is not None
    assert position.qty == 40 and position.avg_price == pytest.approx(103.0)
    (trade,) = ledger.apply(fill(Side.SELL, 40, 105.0))
    # (105 - 103) * 40 = 80
    assert trade.entry_price == pytest.approx(103.0)
    assert trade.pnl == pytest.approx(80.0)


def test_flip_through_zero_when_oversold_then_close_and_open_short(ledger: Ledger) -> None:
    ledger.apply(fill(Side.BUY, 10, 100.0, fee=1.0, ts=1.0))
    (closed,) = ledger.apply(fill(Side.SELL, 15, 110.0, fee=1.5, ts=5.0))
    # closes 10: gross 100, exit fee 1.5*10/15 = 1.0, entry fee 1.0 -> net 98
    assert closed.qty == 10 and closed.direction == "long"
    assert closed.pnl == pytest.approx(98.0)
    position = ledger.position("SPY")
    assert position is not None
    # remainder: short 5 @110 opened at the flip, carrying the other 0.5 of the fee
    assert position.qty == -5 and position.avg_price == 110.0 and position.opened_ts == 5.0
    assert position.fees == pytest.approx(0.5)
    (short,) = ledger.apply(fill(Side.BUY, 5, 100.0, ts=9.0))
    # (100 - 110) * 5 * (-1) = 50; net of its 0.5 entry fee = 49.5
    assert short.direction == "short" and short.entry_ts == 5.0
    assert short.pnl == pytest.approx(49.5)
    # cash = 10000 - 1000 - 1 + 1650 - 1.5 - 500 = 10147.5
    assert ledger.cash == pytest.approx(10_147.5)
    assert ledger.realized_pnl == pytest.approx(147.5)


def test_option_multiplier_when_closed_then_pnl_times_100(ledger: Ledger) -> None:
    ledger.apply(fill(Side.BUY, 2, 3.50, fee=0.07, symbol="OPT"))
    # cash = 10000 - 2*3.5*100 - 0.07 = 9299.93
    assert ledger.cash == pytest.approx(9_299.93)
    ledger.mark("OPT", 3.80)
    # unrealized = 0.30 * 2 * 100 = 60
    assert ledger.unrealized_pnl == pytest.approx(60.0)
    (trade,) = ledger.apply(fill(Side.SELL, 2, 4.00, fee=0.08, symbol="OPT"))
    # gross = 0.5 * 2 * 100 = 100; net = 100 - 0.15 = 99.85
    assert trade.pnl == pytest.approx(99.85)
    assert ledger.cash == pytest.approx(10_099.85)


def test_mark_when_position_open_then_equity_identity_holds(ledger: Ledger) -> None:
    ledger.mark("SPY", 49.0)  # a mark before the open becomes the position's last price
    ledger.apply(fill(Side.BUY, 3, 50.0, fee=0.15))
    position = ledger.position("SPY")
    assert position is not None and position.last_price == 49.0
    ledger.mark("SPY", 52.0)
    # unrealized = (52-50)*3 = 6; equity = 10000 - 150.15 + 156 = 10005.85
    assert ledger.unrealized_pnl == pytest.approx(6.0)
    assert ledger.equity == pytest.approx(10_005.85)
    assert ledger.realized_pnl == pytest.approx(-0.15)
    assert ledger.equity == pytest.approx(
        ledger.starting_cash + ledger.realized_pnl + ledger.unrealized_pnl
    )
    assert ledger.open_position_count == 1


def test_float_dust_when_closed_by_lots_then_flat(ledger: Ledger) -> None:
    for _ in range(3):
        ledger.apply(fill(Side.BUY, 0.1, 60_000.0, symbol="BTC/USD"))
    position = ledger.position("BTC/USD")
    assert position is not None and position.qty != 0.3  # 0.30000000000000004
    (trade,) = ledger.apply(fill(Side.SELL, 0.3, 60_100.0, symbol="BTC/USD"))
    assert trade.pnl == pytest.approx(30.0)
    assert ledger.position("BTC/USD") is None
    assert ledger.positions() == {}


def test_positions_when_caller_mutates_copy_then_ledger_unchanged(ledger: Ledger) -> None:
    ledger.apply(fill(Side.BUY, 1, 10.0))
    ledger.positions()["SPY"].qty = 99
    position = ledger.position("SPY")
    assert position is not None and position.qty == 1


def test_set_stops_when_open_then_recorded_and_none_when_flat(ledger: Ledger) -> None:
    assert ledger.set_stops("SPY", 95.0, 110.0) is None
    ledger.apply(fill(Side.BUY, 1, 100.0))
    updated = ledger.set_stops("SPY", 95.0, 110.0)
    assert updated is not None and (updated.stop_loss, updated.take_profit) == (95.0, 110.0)


def test_apply_when_unknown_instrument_then_error_and_nothing_changes(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="unknown instrument"):
        ledger.apply(fill(Side.BUY, 1, 10.0, symbol="XYZ"))
    assert ledger.cash == 10_000.0
    assert ledger.positions() == {}
