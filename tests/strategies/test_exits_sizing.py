"""Exit rules (ATR, bracket, trailing stop) and sizing rules (fixed fraction, capped Kelly,
the gateway's limits), alone and through the book on a FakeClock."""

from __future__ import annotations

import pytest

from engine.clock import FakeClock
from engine.market.indicators import atr
from engine.models import AssetClass, Instrument, Side
from engine.strategies.base import Action, Bar, Strategy, StrategyContext, StrategySignal
from engine.strategies.book import Account, StrategyBook
from engine.strategies.exits import ExitRule, TrailingStop
from engine.strategies.sizing import SizingRule, kelly_fraction

# ----- ATR -----


def test_atr_wilder_seed_then_smoothing_with_gaps_counted() -> None:
    highs, lows, closes = [10, 11, 12, 15], [9, 10, 11, 13], [9.5, 10.5, 11.5, 14]

    values = atr(highs, lows, closes, period=2)

    # TRs: 1 (no previous close), max(1, |11-9.5|) = 1.5, 1.5, max(2, |15-11.5|) = 3.5;
    # seed = mean of the first two, then (prev * 1 + tr) / 2.
    assert values == [None, 1.25, 1.375, 2.4375]


# ----- exits -----


def test_bracket_long_and_short_then_stop_at_atr_multiple_and_target_at_r() -> None:
    rule = ExitRule(stop_atr=2.0, take_r=1.5)
    assert rule.bracket(Side.BUY, 100.0, 0.5) == (99.0, 101.5)
    assert rule.bracket(Side.SELL, 100.0, 0.5) == (101.0, 98.5)


def test_trailing_stop_long_follows_the_best_price_never_loosens_then_fires() -> None:
    stop = TrailingStop(Side.BUY, 1.0, 100.0)
    assert stop.stop == 99.0
    assert not stop.update(102.0) and stop.stop == 101.0
    assert not stop.update(101.5) and stop.stop == 101.0  # a dip does not lower it
    assert stop.update(100.9)


def test_trailing_stop_short_mirrors() -> None:
    stop = TrailingStop(Side.SELL, 1.0, 100.0)
    assert not stop.update(97.0) and stop.stop == 98.0
    assert stop.update(98.0)


# ----- sizing -----


def size(rule: SizingRule, **kw: float | list[float]) -> float:
    args: dict = dict(
        equity=100_000.0,
        price=100.0,
        stop_distance=2.0,
        multiplier=1.0,
        lot_size=1.0,
        size_multiplier=1.0,
        pnls=[],
        max_qty=10_000.0,
        max_notional=1e9,
    )
    args.update(kw)
    return rule.quantity(**args)


def test_fixed_fraction_then_risk_over_stop_distance_times_multiplier() -> None:
    rule = SizingRule(risk_fraction=0.01)
    assert size(rule) == 500.0  # 1,000 at risk / 2 per unit
    assert size(rule, size_multiplier=0.5) == 250.0


def test_size_never_above_the_gateways_limits_and_whole_lots() -> None:
    rule = SizingRule(risk_fraction=0.01)
    assert size(rule, max_qty=7.0) == 7.0
    assert size(rule, max_notional=499.0) == 4.0  # 4.99 units, rounded down
    assert size(rule, lot_size=0.3, max_qty=1.0) == pytest.approx(0.9)


@pytest.mark.parametrize(
    "bad",
    [
        {"equity": 0.0},
        {"stop_distance": 0.0},
        {"price": float("nan")},
        {"size_multiplier": 0.0},
        {"equity": float("inf")},
    ],
)
def test_size_with_nonsense_inputs_then_zero(bad: dict) -> None:
    assert size(SizingRule(), **bad) == 0.0


def test_kelly_fraction_from_record() -> None:
    # W = 0.6, R = 100 / 50 = 2 -> 0.6 - 0.4 / 2 = 0.4
    assert kelly_fraction([100, 100, 100, -50, -50]) == pytest.approx(0.4)
    assert kelly_fraction([10, 20]) is None and kelly_fraction([]) is None


def test_kelly_sizing_half_kelly_capped_and_fixed_until_enough_trades() -> None:
    winning = [100.0, 100.0, 100.0, -50.0, -50.0] * 4  # Kelly 0.4
    losing = [10.0, -50.0, -50.0, -50.0] * 5  # negative Kelly
    rule = SizingRule(risk_fraction=0.01, kelly=True, kelly_cap=0.02, kelly_min_trades=20)

    assert rule.fraction(winning[:10]) == 0.01  # too few: the fixed fraction
    assert rule.fraction(winning) == 0.02  # half of 0.4, capped at 0.02
    assert rule.fraction(losing) == 0.0  # no edge: nothing
    assert size(rule, pnls=losing) == 0.0
    assert SizingRule(risk_fraction=0.01).fraction(losing) == 0.01  # Kelly off


# ----- through the book, on a FakeClock -----


class Scripted(Strategy):
    """Buys once, on the first bar it sees while warm and flat."""

    name = "scripted"

    def on_bar(self, bar: Bar, ctx: StrategyContext, *, warm: bool = True) -> list[StrategySignal]:
        if warm and ctx.position_qty == 0:
            return [self.signal(bar, Action.BUY, 0.9, "scripted", price=bar.close, ts=bar.ts)]
        return []


def book_on(clock: FakeClock, **kw) -> StrategyBook:
    inst = {"QQQ": Instrument("QQQ", AssetClass.EQUITY)}
    return StrategyBook(
        inst,
        [Scripted()],
        bar_s=60,
        atr_period=2,
        sizing=SizingRule(risk_fraction=0.01),
        exits=ExitRule(2.0, 2.0, 3.0),
        account=Account(lambda: 100_000.0, lambda: (kw.get("max_qty", 1000.0), 100_000.0)),
    )


def feed(book: StrategyBook, clock: FakeClock, prices: list[float], held: float = 0.0, step=20.0):
    out = []
    for price in prices:
        clock.advance(step)
        out += book.on_price("QQQ", price, clock.time(), held)
    return out


def test_book_entry_then_sized_by_fraction_with_atr_bracket() -> None:
    clock = FakeClock(start=1_700_000_000.0 - 1_700_000_000.0 % 60)
    book = book_on(clock)
    # Three bars of range 1 (ATR 1 with period 2), then the entry on the next closed bar.
    decisions = feed(book, clock, [100, 101, 100] * 4)

    entries = [d for d in decisions if d.order is not None]
    assert entries, decisions
    order = entries[0].order
    assert order.side is Side.BUY and order.tag == "scripted" and order.source == "strategy"
    # The bar closes when the next one starts, at a tick of 100: the bracket is around the
    # price the market order meets, not the closed bar's.
    assert order.stop_loss == 98.0  # 2 ATRs of 1.0 below
    assert order.take_profit == 104.0  # 2 stop distances above
    assert order.qty == 500  # 1,000 at risk / 2.0 per unit
    assert book.owner["QQQ"] == "scripted"


def test_book_entry_capped_by_gateway_max_qty() -> None:
    clock = FakeClock(start=1_700_000_000.0 - 1_700_000_000.0 % 60)
    book = book_on(clock, max_qty=40.0)
    orders = [d.order for d in feed(book, clock, [100, 101, 100] * 4) if d.order]
    assert orders[0].qty == 40


def test_book_trailing_stop_after_a_run_up_then_reduce_only_exit() -> None:
    clock = FakeClock(start=1_700_000_000.0 - 1_700_000_000.0 % 60)
    book = book_on(clock)
    feed(book, clock, [100, 101, 100] * 4)  # enters, owner set, ATR = 1
    assert book.owner["QQQ"] == "scripted"

    assert feed(book, clock, [100.5], held=500) == []  # trail armed at 3 ATRs below 100.5
    assert feed(book, clock, [104, 106, 105], held=500) == []  # best 106: stop 103
    exits = feed(book, clock, [102.9], held=500)

    assert len(exits) == 1 and exits[0].signal.is_exit
    order = exits[0].order
    assert order.reduce_only and order.side is Side.SELL and order.qty == 500
    assert "trailing stop" in exits[0].signal.reason


class Scripted2(Scripted):
    name = "scripted2"


def test_book_two_strategies_enter_on_one_price_then_one_entry_and_one_owner() -> None:
    clock = FakeClock(start=1_700_000_000.0 - 1_700_000_000.0 % 60)
    inst = {"QQQ": Instrument("QQQ", AssetClass.EQUITY)}
    book = StrategyBook(
        inst,
        [Scripted(), Scripted2()],
        bar_s=60,
        atr_period=2,
        account=Account(lambda: 100_000.0, lambda: (1000.0, 100_000.0)),
    )
    entries: list = []
    for price in [100, 101, 100] * 4:  # up to the first price that brings entries
        entries = [d for d in feed(book, clock, [price]) if d.order]
        if entries:
            break
    assert len(entries) == 1 and entries[0].order.tag == "scripted"
    assert book.owner == {"QQQ": "scripted"}
    # While it holds the symbol, the other strategy's entries are not taken.
    more = [d for d in feed(book, clock, [100, 101, 100] * 3, held=500) if d.order]
    assert more == []


def test_book_close_in_flight_then_trade_still_attributed_to_the_owner() -> None:
    from engine.models import ClosedTrade

    clock = FakeClock(start=1_700_000_000.0 - 1_700_000_000.0 % 60)
    booked = {"QQQ": 0.0}
    inst = {"QQQ": Instrument("QQQ", AssetClass.EQUITY)}
    book = StrategyBook(
        inst,
        [Scripted()],
        bar_s=60,
        atr_period=2,
        account=Account(
            lambda: 100_000.0, lambda: (1000.0, 100_000.0), position=lambda s: booked[s]
        ),
    )
    feed(book, clock, [100, 101, 100] * 4)
    assert book.owner == {"QQQ": "scripted"}
    booked["QQQ"] = 500.0
    # The close is in flight: exposure 0, the ledger still holds 500. A price arrives first.
    assert [d for d in feed(book, clock, [100.2], held=0.0) if d.order] == []
    assert book.owner == {"QQQ": "scripted"}  # no new entry, still its position
    trade = ClosedTrade("QQQ", "long", 500, 100, 100.2, 99.0, 1.0, 0, clock.time(), "T1")
    book.on_trade_closed(trade)
    booked["QQQ"] = 0.0
    feed(book, clock, [100.1], held=0.0)

    assert [t.id for t in book.slots["scripted"].trades] == ["T1"]
    assert book.owner == {}  # flat now: the symbol is free again
