"""What the Alpaca feed tests share: settings pointed at the fakes, a sink, a feed with fast
backoff, and waiting until it is connected and subscribed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from engine.clock import SystemClock
from engine.settings_group import load_group
from engine.venues.alpaca.feed import AlpacaFeed
from engine.venues.alpaca.settings import AlpacaSettings
from engine.venues.base import ConnectionEvent, ConnectionState
from tests.conftest import wait_until
from tests.venues.fakes.alpaca_data import API_KEY, SECRET_KEY, FakeAlpacaData
from tests.venues.fakes.alpaca_data_stream import FakeAlpacaStream
from tests.venues.fakes.sink import EventSink


def alpaca_settings(rest: FakeAlpacaData, stream: FakeAlpacaStream, **env: str) -> AlpacaSettings:
    base = {
        "ALPACA_API_KEY": API_KEY,
        "ALPACA_SECRET_KEY": SECRET_KEY,
        "VIGIL_ALPACA_DATA_URL": rest.url,
        "VIGIL_ALPACA_STREAM_URL": stream.url,
        "VIGIL_ALPACA_HTTP_TIMEOUT_S": "1",
        "VIGIL_ALPACA_HISTORY_TIMEOUT_S": "3",
    }
    return load_group(AlpacaSettings, {**base, **env})


class Sink(EventSink):
    """Collects what the feed hands the engine (from its threads)."""

    def states(self) -> list[ConnectionState]:
        return [e.state for e in self.of(ConnectionEvent)]


@pytest.fixture
def fakes() -> Iterator[tuple[FakeAlpacaData, FakeAlpacaStream]]:
    with FakeAlpacaData() as rest, FakeAlpacaStream() as stream:
        yield rest, stream


def make_feed(
    fakes: tuple[FakeAlpacaData, FakeAlpacaStream],
    symbols: list[str],
    clock: Any = None,
    market_open: Any = None,
    backoff_base_s: float = 0.05,
    **env: str,
) -> AlpacaFeed:
    rest, stream = fakes
    return AlpacaFeed(
        alpaca_settings(rest, stream, **env),
        symbols,
        clock=clock or SystemClock(),
        market_open=market_open,
        backoff_base_s=backoff_base_s,
        backoff_cap_s=max(0.2, backoff_base_s),
        rng=random.Random(7),
        poll_s=0.02,
    )


def connected(feed: AlpacaFeed, stream: FakeAlpacaStream, symbols: list[str]) -> None:
    wait_until(
        lambda: (
            feed.connection().state is ConnectionState.CONNECTED
            and all(
                stream.subscribed(channel, s)
                for s in symbols
                for channel in ("trades", "quotes", "bars")
            )
        ),
        5.0,
        "the feed connected and subscribed",
    )
