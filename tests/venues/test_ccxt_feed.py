"""The crypto feed against the Binance fake with the real ccxt: instruments from the markets,
book/quote/trades/bars by polling, funding for perpetuals, OHLCV history, faults reported."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from engine.models import BarEvent, OrderBook, Quote, TradeTick
from engine.settings_group import load_group
from engine.venues.base import ConnectionEvent, ConnectionState, MarketFeed, VenueError
from engine.venues.ccxt.feed import CcxtFeed
from engine.venues.mode import TradingModeSettings
from engine.venues.net import Backoff
from tests.venues.broker_contract import ASK, BID, SYMBOL, make_order
from tests.venues.ccxt_harness import MARKET_ID, CcxtHarness, ccxt_settings, fast_exchange


class FeedHarness:
    def __init__(self, market: str = "swap", start: bool = True, **env: str) -> None:
        self.venue = CcxtHarness(market)  # the broker makes trades on the same fake
        self.fake = self.venue.fake
        settings = ccxt_settings(self.fake.url, market, VIGIL_CCXT_FEED_POLL_S="30", **env)
        self.feed = CcxtFeed(
            settings,
            load_group(TradingModeSettings, {}),
            [SYMBOL],
            exchange=fast_exchange(settings),
            backoff=Backoff(0.01, 0.05, rng=random.Random(2)),
        )
        self.events: list[object] = []
        if start:
            self.feed.start(self.events.append)

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]

    def close(self) -> None:
        self.feed.stop()
        self.venue.close()


@pytest.fixture
def feed() -> Iterator[FeedHarness]:
    harness = FeedHarness()
    yield harness
    harness.close()


def test_instruments_are_the_exchanges_markets(feed: FeedHarness) -> None:
    assert isinstance(feed.feed, MarketFeed)
    (instrument,) = feed.feed.instruments.values()
    assert (instrument.symbol, instrument.tick_size, instrument.lot_size) == (SYMBOL, 0.01, 0.001)
    with pytest.raises(VenueError, match="NOPE"):
        feed.feed.subscribe(["NOPE"])


def test_poll_then_quote_book_trades_bars_and_funding(feed: FeedHarness) -> None:
    feed.feed.sync()
    quote = feed.of(Quote)[-1]
    assert (quote.symbol, quote.bid, quote.ask) == (SYMBOL, BID, ASK)
    book = feed.of(OrderBook)[-1]
    assert len(book.bids) == len(book.asks) == 10 and book.bids[0].price > book.bids[1].price
    assert feed.of(BarEvent) and feed.of(BarEvent)[-1].closed is False
    assert feed.feed.connection().state is ConnectionState.CONNECTED
    funding = feed.feed.details()["funding"][SYMBOL]
    assert funding["rate"] == 0.0001 and funding["next_ts"] > time.time()

    feed.venue.broker.submit(make_order(qty=0.5))  # a trade on the exchange
    feed.venue.settle()
    feed.feed.sync()

    (tick,) = feed.of(TradeTick)
    assert (tick.symbol, tick.price, tick.size, tick.aggressor.value) == (SYMBOL, ASK, 0.5, "buy")
    feed.feed.sync()
    assert len(feed.of(TradeTick)) == 1  # each trade once


def test_exchange_fails_then_reconnecting_and_back(feed: FeedHarness) -> None:
    feed.feed.sync()
    feed.fake.fail_next(1, 503, -1001, "Internal error.", path="/fapi/v1/depth")
    feed.feed.sync()
    states = [e.state for e in feed.of(ConnectionEvent)]
    assert states[-1] is ConnectionState.RECONNECTING
    assert "OperationFailed" in feed.feed.connection().message
    feed.feed.sync()
    assert feed.feed.connection().state is ConnectionState.CONNECTED


def test_history_then_closed_minute_bars_oldest_first(feed: FeedHarness) -> None:
    end = time.time()
    bars = feed.feed.history(end, 600)
    assert 9 <= len(bars) <= 11
    assert all(isinstance(b, BarEvent) and b.closed and b.ts + 60 <= end for b in bars)
    assert [b.ts for b in bars] == sorted(b.ts for b in bars)
    assert bars[-1].close == pytest.approx((BID + ASK) / 2)
    assert feed.fake.calls("/fapi/v1/klines") >= 1
    assert MARKET_ID in feed.fake.ex.markets


def test_history_before_start_when_exchange_hangs_then_empty_within_the_call_timeout() -> None:
    # The engine loads history on its own thread before the feed starts: the exchange is
    # still asked on the feed's thread, and the engine waits no longer than the call timeout.
    harness = FeedHarness(
        start=False, VIGIL_CCXT_HTTP_TIMEOUT_S="10", VIGIL_CCXT_CALL_TIMEOUT_S="0.5"
    )
    try:
        harness.fake.hang_next(1, path="/fapi/v1/klines")
        started = time.monotonic()
        assert harness.feed.history(time.time(), 600) == []
        assert time.monotonic() - started < 2.0
        assert "history not loaded" in harness.feed.connection().message
    finally:
        harness.close()


def test_quiet_hours_then_the_next_trade_still_arrives() -> None:
    """Binance answers a trades start time with that hour only: the feed asks for the most
    recent trades instead, so a trade after a quiet spell is not lost."""
    harness = FeedHarness("spot")
    try:
        harness.venue.broker.submit(make_order(qty=0.5))
        harness.venue.settle()
        harness.feed.sync()
        harness.fake.ex.shift_ms = 3 * 3_600_000  # three quiet hours at the exchange
        harness.venue.broker.submit(make_order(qty=0.25))
        harness.venue.settle()
        harness.feed.sync()
        assert [t.size for t in harness.of(TradeTick)][-1] == 0.25
    finally:
        harness.close()
