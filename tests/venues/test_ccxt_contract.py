"""The venue contract run against the crypto broker: the real ccxt and the loopback Binance fake,
for USDT-M perpetuals (swap) and for spot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.venues.broker_contract import BrokerContract
from tests.venues.ccxt_harness import CcxtHarness


class TestCcxtSwapContract(BrokerContract):
    @pytest.fixture
    def venue(self) -> Iterator[CcxtHarness]:
        harness = CcxtHarness("swap")
        yield harness
        harness.close()


class TestCcxtSpotContract(BrokerContract):
    @pytest.fixture
    def venue(self) -> Iterator[CcxtHarness]:
        harness = CcxtHarness("spot")
        yield harness
        harness.close()
