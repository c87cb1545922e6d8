"""The Alpaca feed against loopback fakes: live data, the msgpack protocol, drops, hangs, refused
keys."""

from __future__ import annotations

import time
from typing import Any

import msgpack
import pytest

from engine.clock import SystemClock
from engine.models import BarEvent, OrderBook, Quote, Side, TradeTick
from engine.settings_group import SettingsError
from engine.venues.alpaca.feed import AlpacaFeed
from engine.venues.base import ConnectionEvent, ConnectionState, MarketFeed, VenueError
from tests.conftest import wait_until
from tests.venues.fakes.alpaca_data import API_KEY, SECRET_KEY
from tests.venues.fakes.alpaca_data_harness import (
    Sink,
    alpaca_settings,
    connected,
    fakes,
    make_feed,
)

__all__ = ["fakes"]  # the fixture


def test_live_trades_quotes_and_bars_from_both_streams_become_engine_events(fakes: Any) -> None:
    _, stream = fakes
    feed, sink = make_feed(fakes, ["SPY", "BTC/USD"]), Sink()
    feed.start(sink)
    try:
        connected(feed, stream, ["SPY", "BTC/USD"])
        assert "stocks: connected" in feed.connection().message
        stream.quote("SPY", 500.10, 500.14, 300, 200, ts=1_800_000_000.5)
        stream.trade("SPY", 500.14, 50, ts=1_800_000_001.0)  # at the ask: a buyer took it
        stream.trade("SPY", 500.10, 20, ts=1_800_000_001.5)  # at the bid: a seller
        stream.bar("SPY", 1_800_000_040.0, 500.0, 500.2, 499.9, 500.1, 1234)
        stream.trade("BTC/USD", 60_000.5, 0.25, ts=1_800_000_002.0)  # taker side "B"
        stream.quote("BTC/USD", 60_000.0, 60_001.0, 0.5, 0.7, ts=1_800_000_002.5)
        wait_until(
            lambda: len(sink.of(TradeTick)) == 3 and sink.of(BarEvent) and len(sink.of(Quote)) == 2
        )
    finally:
        feed.stop()
    quotes = {q.symbol: q for q in sink.of(Quote)}
    assert quotes["SPY"] == Quote("SPY", 500.10, 500.14, 300.0, 200.0, 1_800_000_000.5)
    assert quotes["BTC/USD"] == Quote("BTC/USD", 60_000.0, 60_001.0, 0.5, 0.7, 1_800_000_002.5)
    trades = sink.of(TradeTick)
    spy = [t for t in trades if t.symbol == "SPY"]
    assert spy[0] == TradeTick("SPY", 500.14, 50.0, Side.BUY, 1_800_000_001.0)
    assert spy[1] == TradeTick("SPY", 500.10, 20.0, Side.SELL, 1_800_000_001.5)
    assert TradeTick("BTC/USD", 60_000.5, 0.25, Side.BUY, 1_800_000_002.0) in trades
    assert sink.of(BarEvent) == [
        BarEvent("SPY", 1_800_000_040.0, 500.0, 500.2, 499.9, 500.1, 1234.0, closed=True)
    ]
    assert not feed._threads[0].is_alive() and not feed._threads[1].is_alive()


def test_crypto_order_books_from_snapshot_and_updates(fakes: Any) -> None:
    _, stream = fakes
    feed, sink = make_feed(fakes, ["SPY", "BTC/USD"]), Sink()
    feed.start(sink)
    try:
        connected(feed, stream, ["SPY", "BTC/USD"])
        assert stream.subscribed("orderbooks", "BTC/USD")
        assert not stream.subscribed("orderbooks", "SPY")  # Alpaca has no stock book stream
        bids = [(60_000.0 - i, 0.5 + i) for i in range(12)]
        asks = [(60_001.0 + i, 0.4 + i) for i in range(12)]
        stream.orderbook("BTC/USD", bids, asks, reset=True, ts=1_800_000_000.0)
        stream.orderbook("BTC/USD", [(60_000.0, 0.0), (60_000.5, 1.5)], [(60_001.0, 2.0)])
        wait_until(lambda: len(sink.of(OrderBook)) == 2)
    finally:
        feed.stop()
    first, second = sink.of(OrderBook)
    assert first.ts == 1_800_000_000.0
    assert [(lv.price, lv.size) for lv in first.bids] == bids[:10]
    assert [(lv.price, lv.size) for lv in first.asks] == asks[:10]
    assert [(lv.price, lv.size) for lv in second.bids[:2]] == [(60_000.5, 1.5), (59_999.0, 1.5)]
    assert (second.asks[0].price, second.asks[0].size) == (60_001.0, 2.0)
    assert len(second.bids) == 10


def test_msgpack_protocol_auth_then_one_subscription_per_stream(fakes: Any) -> None:
    _, stream = fakes
    feed = make_feed(fakes, ["SPY", "QQQ", "ETH/USD"])
    feed.start(Sink())
    try:
        connected(feed, stream, ["SPY", "QQQ", "ETH/USD"])
    finally:
        feed.stop()
    auths = [m for m in stream.received if m.get("action") == "auth"]
    assert auths == [{"action": "auth", "key": API_KEY, "secret": SECRET_KEY}] * 2
    subs = [m for m in stream.received if m.get("action") == "subscribe"]
    by_stream = {tuple(m["trades"]): m for m in subs}
    assert set(by_stream) == {("SPY", "QQQ"), ("ETH/USD",)}
    assert by_stream[("SPY", "QQQ")]["quotes"] == ["SPY", "QQQ"]
    assert by_stream[("SPY", "QQQ")]["bars"] == ["SPY", "QQQ"]
    assert stream.connections == 2


def test_subscribe_filters_delivery_and_refuses_a_symbol_it_cannot_serve(fakes: Any) -> None:
    _, stream = fakes
    feed, sink = make_feed(fakes, ["SPY", "QQQ"]), Sink()
    with pytest.raises(VenueError, match="'TSLA'"):
        feed.subscribe(["SPY", "TSLA"])
    feed.subscribe(["QQQ"])
    feed.start(sink)
    try:
        connected(feed, stream, ["SPY", "QQQ"])
        stream.quote("SPY", 500.0, 500.1)
        stream.quote("QQQ", 430.0, 430.1)
        wait_until(lambda: sink.of(Quote))
        stream.quote("QQQ", 430.0, 430.2)
        wait_until(lambda: len(sink.of(Quote)) == 2)
    finally:
        feed.stop()
    assert {q.symbol for q in sink.of(Quote)} == {"QQQ"}


def test_bad_data_messages_are_dropped_and_counted_and_the_stream_carries_on(fakes: Any) -> None:
    _, stream = fakes
    feed, sink = make_feed(fakes, ["SPY"]), Sink()
    feed.start(sink)
    try:
        connected(feed, stream, ["SPY"])
        stamp = msgpack.Timestamp.from_unix(1_800_000_000)
        stream.raw(
            [
                {"T": "q", "S": "SPY", "bp": 501.0, "ap": 500.0, "bs": 1, "as": 1, "t": stamp},
                {"T": "t", "S": "SPY", "p": "abc", "s": 1, "t": stamp},
                {"T": "t", "S": "SPY", "p": float("nan"), "s": 1, "t": stamp},
                {"T": "b", "S": "SPY", "o": 1, "h": 0.5, "l": 0.4, "c": 1, "v": 1, "t": stamp},
                {"T": "t", "S": "SPY", "p": 500.0, "s": 1, "t": "yesterday"},
            ]
        )
        stream.trade("SPY", 500.0, 10)
        wait_until(lambda: sink.of(TradeTick), message="the good trade after the bad ones")
    finally:
        feed.stop()
    assert feed.rejected == 5
    assert not sink.of(Quote) and not sink.of(BarEvent) and len(sink.of(TradeTick)) == 1


def test_dropped_connection_is_reported_then_reconnects_with_backoff_and_resubscribes(
    fakes: Any,
) -> None:
    _, stream = fakes
    feed, sink = make_feed(fakes, ["SPY"]), Sink()
    feed.start(sink)
    try:
        connected(feed, stream, ["SPY"])
        stream.quote("SPY", 500.0, 500.1)
        wait_until(lambda: sink.of(Quote))
        assert stream.drop() == 1
        wait_until(lambda: ConnectionState.RECONNECTING in sink.states(), message="RECONNECTING")
        wait_until(lambda: stream.connections == 2 and stream.subscribed("quotes", "SPY"))
        wait_until(lambda: feed.connection().state is ConnectionState.CONNECTED)
        stream.quote("SPY", 501.0, 501.1)
        wait_until(lambda: len(sink.of(Quote)) == 2, message="data after the reconnect")
    finally:
        feed.stop()
    reconnecting = [e for e in sink.of(ConnectionEvent) if e.state is ConnectionState.RECONNECTING]
    assert reconnecting[0].attempt == 1
    assert "Alpaca stocks" in reconnecting[0].message
    assert "reconnecting in" in reconnecting[0].message
    assert sink.states()[-1] is ConnectionState.CONNECTED


def test_a_blip_that_drops_both_streams_is_reported_once_per_attempt(fakes: Any) -> None:
    _, stream = fakes
    feed, sink = make_feed(fakes, ["SPY", "BTC/USD"], backoff_base_s=0.6), Sink()
    feed.start(sink)
    try:
        connected(feed, stream, ["SPY", "BTC/USD"])
        assert stream.drop() == 2
        wait_until(lambda: stream.connections == 4, message="both streams back")
        connected(feed, stream, ["SPY", "BTC/USD"])
    finally:
        feed.stop()
    # The engine counts each RECONNECTING report as an error (the error-rate breaker).
    assert sink.states().count(ConnectionState.RECONNECTING) == 1


def test_backoff_grows_while_the_server_is_down(fakes: Any) -> None:
    _, stream = fakes
    feed, sink = make_feed(fakes, ["SPY"]), Sink()
    stream.stop()  # nothing listens: every attempt is refused
    feed.start(sink)
    try:
        wait_until(
            lambda: (
                sum(e.state is ConnectionState.RECONNECTING for e in sink.of(ConnectionEvent)) >= 3
            ),
            message="three attempts",
        )
    finally:
        feed.stop()
    attempts = [e for e in sink.of(ConnectionEvent) if e.state is ConnectionState.RECONNECTING]
    assert [e.attempt for e in attempts[:3]] == [1, 2, 3]
    delays = [float(e.message.split("reconnecting in ")[1].split(" s")[0]) for e in attempts[:3]]
    assert delays[0] <= 0.05 and delays[2] >= 0.1  # base 0.05 s doubling, capped at 0.2 s


def test_a_server_that_never_answers_the_connect_times_out_and_the_feed_retries(
    fakes: Any,
) -> None:
    _, stream = fakes
    stream.hang_next(1)
    feed, sink = make_feed(fakes, ["SPY"], VIGIL_ALPACA_HTTP_TIMEOUT_S="0.3"), Sink()
    feed.start(sink)
    try:
        connected(feed, stream, ["SPY"])
    finally:
        feed.stop()
    first = next(e for e in sink.of(ConnectionEvent) if e.state is ConnectionState.RECONNECTING)
    assert "no answer within 0.3 s" in first.message
    assert stream.connections == 2


def test_stop_while_the_connect_hangs_returns_promptly_and_leaves_no_thread(fakes: Any) -> None:
    _, stream = fakes
    stream.hang_next(5)
    feed = make_feed(fakes, ["SPY", "BTC/USD"], VIGIL_ALPACA_HTTP_TIMEOUT_S="30")
    assert isinstance(feed, MarketFeed)
    feed.start(Sink())
    wait_until(lambda: stream.connections == 2, message="both connects hanging")
    started = time.monotonic()
    feed.stop(timeout=5.0)
    assert time.monotonic() - started < 5.0
    assert not any(thread.is_alive() for thread in feed._threads)


def test_refused_keys_are_named_and_the_feed_reports_disconnected(fakes: Any) -> None:
    _, stream = fakes
    stream.reject_auth = True
    feed, sink = make_feed(fakes, ["BTC/USD"]), Sink()
    feed.start(sink)
    try:
        event = wait_until(
            lambda: feed.connection().state is ConnectionState.DISCONNECTED and feed.connection()
        )
        stream.reject_auth = False  # the keys were fixed at Alpaca: the retry gets through
        connected(feed, stream, ["BTC/USD"])
    finally:
        feed.stop()
    assert "ALPACA_API_KEY" in event.message and "auth failed" in event.message


def test_no_keys_refuses_to_build_naming_the_variable(fakes: Any) -> None:
    rest, stream = fakes
    settings = alpaca_settings(rest, stream, ALPACA_API_KEY="", ALPACA_SECRET_KEY="")
    with pytest.raises(SettingsError, match=r"^ALPACA_API_KEY: "):
        AlpacaFeed(settings, ["SPY"], clock=SystemClock())
