"""The crypto broker around the loopback Binance fake, for the contract and the fault tests."""

from __future__ import annotations

import random
from typing import Any

from engine.clock import Clock
from engine.models import AssetClass, Instrument
from engine.settings_group import load_group
from engine.venues.base import VenueEvent
from engine.venues.ccxt.broker import CcxtBroker
from engine.venues.ccxt.exchange import make_exchange
from engine.venues.ccxt.settings import CcxtSettings
from engine.venues.mode import TradingModeSettings
from engine.venues.net import Backoff
from tests.venues.broker_contract import ASK, BID, SYMBOL
from tests.venues.fakes.binance_book import FakeMarket
from tests.venues.fakes.binance_rest import API_KEY, SECRET, FakeBinance

MARKET_ID = f"{SYMBOL}USDT"


def ccxt_settings(url: str, market: str = "swap", **env: str) -> CcxtSettings:
    values = {
        "VIGIL_CCXT_EXCHANGE": "binance",
        "VIGIL_CCXT_MARKET": market,
        "VIGIL_CCXT_API_KEY": API_KEY,
        "VIGIL_CCXT_SECRET": SECRET,
        "VIGIL_CCXT_API_URL": url,
        "VIGIL_CCXT_HTTP_TIMEOUT_S": "1",
        "VIGIL_CCXT_CALL_TIMEOUT_S": "5",
        "VIGIL_CCXT_POLL_S": "30",  # tests poll on demand (sync)
    } | env
    return load_group(CcxtSettings, values)


def fast_exchange(settings: CcxtSettings) -> Any:
    """ccxt with its rate limiter still on, but spacing calls 1 ms apart: the fake has no
    limit to respect and the tests stay quick."""
    exchange = make_exchange(settings, live=False)
    exchange.rateLimit = 1
    return exchange


class CcxtHarness:
    def __init__(
        self,
        market: str = "swap",
        fake: FakeBinance | None = None,
        clock: Clock | None = None,
        **env: str,
    ) -> None:
        self.clock = clock
        self.fake = fake or FakeBinance().start()
        if MARKET_ID not in self.fake.ex.markets:
            self.fake.ex.add_market(FakeMarket(MARKET_ID, SYMBOL), BID, ASK)
        self.market_type = market
        self.env = env
        self.events: list[VenueEvent] = []
        self.broker: CcxtBroker = self._open()

    def _open(self) -> CcxtBroker:
        settings = ccxt_settings(self.fake.url, self.market_type, **self.env)
        broker = CcxtBroker(
            settings,
            load_group(TradingModeSettings, {}),
            {SYMBOL: Instrument(SYMBOL, AssetClass.CRYPTO)},
            clock=self.clock,
            exchange=fast_exchange(settings),
            backoff=Backoff(0.01, 0.05, rng=random.Random(1)),
        )
        broker.start(self.events.append)
        return broker

    def market(self, bid: float, ask: float) -> None:
        self.fake.ex.set_market(MARKET_ID, bid, ask)

    def settle(self) -> None:
        self.broker.sync()

    def reject_next(self, reason: str) -> None:
        self.fake.ex.reject_next.append((-2010, reason))

    def restart(self) -> CcxtBroker:
        self.broker.stop()
        self.broker = self._open()
        return self.broker

    def close(self) -> None:
        self.broker.stop()
        self.fake.stop()
