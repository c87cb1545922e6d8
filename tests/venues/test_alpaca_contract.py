"""The venue contract run against the Alpaca broker: alpaca-py against the loopback fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.venues.broker_contract import ASK, BID, SYMBOL, BrokerContract
from tests.venues.fakes.alpaca_trading import FakeAlpacaTrading
from tests.venues.fakes.alpaca_trading_harness import AlpacaHarness


@pytest.fixture
def fake() -> Iterator[FakeAlpacaTrading]:
    with FakeAlpacaTrading() as server:
        yield server


class TestAlpacaContract(BrokerContract):
    @pytest.fixture
    def venue(self, fake: FakeAlpacaTrading) -> Iterator[AlpacaHarness]:
        harness = AlpacaHarness(fake, SYMBOL, BID, ASK)
        yield harness
        harness.close()
