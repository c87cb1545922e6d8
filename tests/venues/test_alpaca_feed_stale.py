"""The Alpaca feed's staleness: silence while the market is open is STALE, data clears it, a
closed market is not stale, a long silence forces a reconnect; US stock hours."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.venues.alpaca.feed import us_stocks_open
from engine.venues.base import ConnectionEvent, ConnectionState
from tests.conftest import wait_until
from tests.venues.fakes.alpaca_data_harness import Sink, connected, fakes, make_feed

__all__ = ["fakes"]  # the fixture


def test_silence_while_the_market_is_open_is_stale_and_data_clears_it(fakes: Any) -> None:
    _, stream = fakes
    clock = FakeClock(start=time.time())
    feed, sink = make_feed(fakes, ["BTC/USD"], clock=clock, VIGIL_ALPACA_STALE_S="10"), Sink()
    feed.start(sink)
    try:
        connected(feed, stream, ["BTC/USD"])
        clock.advance(9.0)
        feed.check_stale()
        assert feed.connection().state is ConnectionState.CONNECTED
        clock.advance(2.0)
        wait_until(lambda: feed.connection().state is ConnectionState.STALE, message="STALE")
        assert "no market data for 11 s" in feed.connection().message
        stream.quote("BTC/USD", 60_000.0, 60_001.0)
        wait_until(lambda: feed.connection().state is ConnectionState.CONNECTED)
    finally:
        feed.stop()
    assert "market data resumed" in feed.connection().message
    assert stream.connections == 1


def test_stocks_are_not_stale_while_their_market_is_closed(fakes: Any) -> None:
    _, stream = fakes
    clock = FakeClock(start=time.time())
    is_open = {"now": False}
    feed = make_feed(
        fakes,
        ["SPY"],
        clock=clock,
        market_open=lambda ts: is_open["now"],
        VIGIL_ALPACA_STALE_S="10",
    )
    feed.start(Sink())
    try:
        connected(feed, stream, ["SPY"])
        clock.advance(3600.0)
        feed.check_stale()
        assert feed.connection().state is ConnectionState.CONNECTED
        is_open["now"] = True  # the bell rings and nothing comes
        wait_until(lambda: feed.connection().state is ConnectionState.STALE)
        is_open["now"] = False
        wait_until(lambda: feed.connection().state is ConnectionState.CONNECTED)
    finally:
        feed.stop()
    assert "market closed" in feed.connection().message


def test_a_long_silence_forces_a_reconnect(fakes: Any) -> None:
    _, stream = fakes
    clock = FakeClock(start=time.time())
    env = {"VIGIL_ALPACA_STALE_S": "10", "VIGIL_ALPACA_STALE_RECONNECT_S": "60"}
    feed, sink = make_feed(fakes, ["ETH/USD"], clock=clock, **env), Sink()
    feed.start(sink)
    try:
        connected(feed, stream, ["ETH/USD"])
        clock.advance(11.0)
        wait_until(lambda: feed.connection().state is ConnectionState.STALE)
        assert stream.connections == 1
        clock.advance(50.0)
        wait_until(lambda: stream.connections == 2, message="a second connection")
        wait_until(lambda: feed.connection().state is ConnectionState.CONNECTED)
    finally:
        feed.stop()
    reconnecting = [e for e in sink.of(ConnectionEvent) if e.state is ConnectionState.RECONNECTING]
    assert "no market data for 61 s" in reconnecting[0].message


@pytest.mark.parametrize(
    ("iso_utc", "extended", "expected"),
    [
        ("2026-12-01T14:29:00+00:00", False, False),  # Tuesday 9:29 New York
        ("2026-12-01T14:30:00+00:00", False, True),
        ("2026-12-01T20:59:00+00:00", False, True),
        ("2026-12-01T21:00:00+00:00", False, False),
        ("2026-12-01T09:00:00+00:00", True, True),  # 4:00 pre-market
        ("2026-12-05T15:00:00+00:00", False, False),  # Saturday
        ("2026-07-01T13:30:00+00:00", False, True),  # summer time: 9:30 is 13:30 UTC
    ],
)
def test_us_stock_hours_in_new_york_time(iso_utc: str, extended: bool, expected: bool) -> None:
    assert us_stocks_open(datetime.fromisoformat(iso_utc).timestamp(), extended) is expected
