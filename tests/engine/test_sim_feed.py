"""SimulatedFeed: determinism, book shape, regimes and the market realism the strategy relies on."""

from __future__ import annotations

import itertools
import math

import pytest

from engine.models import AssetClass, Instrument, OrderBook, Quote, Side, TradeTick, VixUpdate
from engine.venues.sim.catalogue import DEFAULT_INSTRUMENTS, OPTION_SYMBOL
from engine.venues.sim.feed import SimEvent, SimulatedFeed

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
Rows = list[tuple[str, float, Quote, list[TradeTick]]]
BTC_ONLY = {"BTC/USD": DEFAULT_INSTRUMENTS["BTC/USD"]}


def run(feed: SimulatedFeed, steps: int, dt: float = 0.2, start: float = START) -> list[SimEvent]:
    events: list[SimEvent] = []
    for i in range(1, steps + 1):
        events.extend(feed.step(start + i * dt, dt))
    return events


def on_grid(value: float, step: float) -> bool:
    return abs(value / step - round(value / step)) < 1e-6


def test_default_instruments_when_listed_then_match_the_brief() -> None:
    assert set(DEFAULT_INSTRUMENTS) == {"SPY", "QQQ", "BTC/USD", "ETH/USD", OPTION_SYMBOL}
    option = DEFAULT_INSTRUMENTS[OPTION_SYMBOL]
    assert option.asset_class is AssetClass.OPTION and option.multiplier == 100
    btc = DEFAULT_INSTRUMENTS["BTC/USD"]
    assert (btc.tick_size, btc.lot_size) == (0.01, 0.0001)
    assert DEFAULT_INSTRUMENTS["ETH/USD"].lot_size == 0.001
    feed = SimulatedFeed(42)
    assert feed.last_price("SPY") == 500.0 and feed.last_price("BTC/USD") == 60_000.0
    assert feed.vix == 17.0


def test_step_when_same_seed_and_calls_then_identical_events() -> None:
    assert run(SimulatedFeed(7), 60) == run(SimulatedFeed(7), 60)


def test_step_when_different_seed_then_different_events() -> None:
    assert run(SimulatedFeed(7), 20) != run(SimulatedFeed(8), 20)


def test_step_when_called_then_one_vix_and_a_quote_and_book_per_symbol_stamped_now() -> None:
    feed = SimulatedFeed(1)
    events = feed.step(START + 5.0, 5.0)
    assert all(e.ts == START + 5.0 for e in events)
    assert sum(isinstance(e, VixUpdate) for e in events) == 1
    for kind in (Quote, OrderBook):
        assert sorted(e.symbol for e in events if isinstance(e, kind)) == sorted(
            DEFAULT_INSTRUMENTS
        )
    # 5 s of SPY at ~4 trades/s: some trades, each with a side and a positive size
    spy_trades = [e for e in events if isinstance(e, TradeTick) and e.symbol == "SPY"]
    assert spy_trades
    assert all(t.size > 0 and t.aggressor in (Side.BUY, Side.SELL) for t in spy_trades)


def test_book_when_stepped_then_ten_sorted_levels_on_tick_and_lot_grid() -> None:
    events = run(SimulatedFeed(3), 50)
    quotes = {(e.symbol, e.ts): e for e in events if isinstance(e, Quote)}
    books = [e for e in events if isinstance(e, OrderBook)]
    assert len(books) == 50 * len(DEFAULT_INSTRUMENTS)
    for book in books:
        instrument = DEFAULT_INSTRUMENTS[book.symbol]
        bids = [lvl.price for lvl in book.bids]
        asks = [lvl.price for lvl in book.asks]
        assert len(bids) == len(asks) == 10
        assert all(a > b for a, b in itertools.pairwise(bids))
        assert all(b > a for a, b in itertools.pairwise(asks))
        assert 0 < bids[0] < asks[0]
        assert all(on_grid(p, instrument.tick_size) for p in bids + asks)
        sizes = [lvl.size for lvl in book.bids + book.asks]
        assert all(s > 0 and on_grid(s, instrument.lot_size) for s in sizes)
        quote = quotes[(book.symbol, book.ts)]
        assert (quote.bid, quote.ask) == (bids[0], asks[0])
        assert (quote.bid_size, quote.ask_size) == (book.bids[0].size, book.asks[0].size)


def test_book_when_averaged_then_sizes_grow_away_from_touch() -> None:
    books = [e for e in run(SimulatedFeed(4), 40) if isinstance(e, OrderBook)]
    near = sum(lvl.size for b in books if b.symbol == "SPY" for lvl in b.bids[:3])
    far = sum(lvl.size for b in books if b.symbol == "SPY" for lvl in b.bids[-3:])
    # expected ratio (1 + 0.4*8) / (1 + 0.4*1) = 3
    assert far > 2 * near


def test_trades_when_stepped_then_at_the_touch_on_the_right_side() -> None:
    events = run(SimulatedFeed(5), 30, dt=1.0)
    quotes = {(e.symbol, e.ts): e for e in events if isinstance(e, Quote)}
    trades = [e for e in events if isinstance(e, TradeTick)]
    assert trades
    for trade in trades:
        quote = quotes[(trade.symbol, trade.ts)]
        expected = quote.ask if trade.aggressor is Side.BUY else quote.bid
        assert trade.price == expected
        assert on_grid(trade.size, DEFAULT_INSTRUMENTS[trade.symbol].lot_size)


def test_option_when_priced_then_follows_spy_and_has_time_value() -> None:
    feed = SimulatedFeed(9)
    events = feed.step(START + 1.0, 1.0)
    option = next(e for e in events if isinstance(e, Quote) and e.symbol == OPTION_SYMBOL)
    # SPY ~500 against a 500 strike, ~50 weeks out at VIX 17: at the money, so nearly all
    # time value; Black-Scholes ATM ~ 0.4 * 500 * 0.17 * sqrt(0.96) ~ $33.
    assert 20.0 < option.mid < 50.0
    assert option.bid < option.ask


@pytest.fixture(scope="module")
def long_run() -> Rows:
    """~67 simulated hours of BTC in 5-minute steps: regime, VIX, quote, trades per step."""
    feed = SimulatedFeed(11, BTC_ONLY)
    rows = []
    for i in range(1, 801):
        events = feed.step(START + i * 300.0, 300.0)
        quote = next(e for e in events if isinstance(e, Quote))
        trades = [e for e in events if isinstance(e, TradeTick)]
        rows.append((feed.regime, feed.vix, quote, trades))
    return rows


def test_long_run_when_stepped_then_all_regimes_visited_and_vix_ranges(long_run: Rows) -> None:
    assert {regime for regime, *_ in long_run} == {"calm", "normal", "stressed"}
    vix = [v for _, v, _, _ in long_run]
    assert min(vix) < 13 and max(vix) > 25
    assert all(8 <= v <= 90 for v in vix)


def test_long_run_when_vix_high_then_spreads_and_moves_wider(long_run: Rows) -> None:
    calm = [(q.ask - q.bid) for _, v, q, _ in long_run if v < 13]
    stressed = [(q.ask - q.bid) for _, v, q, _ in long_run if v > 25]
    assert sum(stressed) / len(stressed) > 1.5 * sum(calm) / len(calm)
    moves = [
        (v, abs(math.log(b.mid / a.mid)))
        for (_, _, a, _), (_, v, b, _) in itertools.pairwise(long_run)
    ]
    calm_moves = [m for v, m in moves if v < 13]
    stressed_moves = [m for v, m in moves if v > 25]
    mean_calm = sum(calm_moves) / len(calm_moves)
    assert sum(stressed_moves) / len(stressed_moves) > 1.5 * mean_calm


def test_long_run_when_price_rises_then_buyers_dominate(long_run: Rows) -> None:
    up = [0, 0]
    down = [0, 0]
    for (_, _, before, _), (_, _, after, trades) in itertools.pairwise(long_run):
        buys = sum(t.aggressor is Side.BUY for t in trades)
        bucket = up if after.mid > before.mid else down
        bucket[0] += buys
        bucket[1] += len(trades) - buys
    assert up[0] / sum(up) > 0.55
    assert down[0] / sum(down) < 0.45


def test_history_when_followed_by_step_then_carries_on_like_plain_steps() -> None:
    end = START + 300.0
    warmed = SimulatedFeed(21)
    history = warmed.history(end, seconds=300.0, dt=1.0)
    assert history and history[-1].ts == end
    assert all(isinstance(e, TradeTick | VixUpdate) for e in history)
    assert [e.ts for e in history] == sorted(e.ts for e in history)
    assert sum(isinstance(e, VixUpdate) for e in history) == 300
    last_trade = next(
        e for e in reversed(history) if isinstance(e, TradeTick) and e.symbol == "SPY"
    )
    assert abs(last_trade.price - warmed.last_price("SPY")) < 0.05

    stepped = SimulatedFeed(21)
    plain = [e for e in run(stepped, 300, dt=1.0) if not isinstance(e, Quote | OrderBook)]
    assert plain == history  # the warm-up is the same path the live feed would have taken
    after_warm = warmed.step(end + 1.0, 1.0)
    after_plain = stepped.step(end + 1.0, 1.0)

    def prices(events: list[SimEvent]) -> list[tuple[str, float, float]]:
        return [(e.symbol, e.bid, e.ask) for e in events if isinstance(e, Quote)]

    assert prices(after_warm) == prices(after_plain)
    assert warmed.last_price("BTC/USD") == stepped.last_price("BTC/USD")


def test_step_when_dt_negative_then_error() -> None:
    feed = SimulatedFeed(1)
    with pytest.raises(ValueError):
        feed.step(START, -1.0)
    with pytest.raises(ValueError):
        feed.history(START, 10.0, 0.0)


def test_step_when_custom_instrument_then_generic_profile_used() -> None:
    custom = {"AAPL": Instrument("AAPL", AssetClass.EQUITY)}
    events = SimulatedFeed(2, custom).step(START + 1.0, 1.0)
    book = next(e for e in events if isinstance(e, OrderBook))
    assert book.symbol == "AAPL" and len(book.bids) == 10
