"""The Alpaca broker around the loopback fake, as the contract suite's VenueHarness and for
the Alpaca tests: the real alpaca-py client and stream, only their URLs pointed here."""

from __future__ import annotations

import time
from typing import Any

from engine.clock import FakeClock
from engine.models import Instrument
from engine.settings_group import load_group
from engine.venues.alpaca.broker import AlpacaBroker
from engine.venues.alpaca.build import make_alpaca_broker
from engine.venues.alpaca.settings import AlpacaSettings
from engine.venues.base import ConnectionEvent, ConnectionState, VenueEvent
from engine.venues.mode import TradingModeSettings
from engine.venues.sim.catalogue import DEFAULT_INSTRUMENTS
from tests.conftest import wait_until
from tests.venues.fakes.alpaca_trading import KEY, SECRET, FakeAlpacaTrading


def alpaca_env(fake: FakeAlpacaTrading, **more: str) -> dict[str, str]:
    return {
        "ALPACA_API_KEY": KEY,
        "ALPACA_SECRET_KEY": SECRET,
        "VIGIL_ALPACA_TRADING_URL": fake.url,
        "VIGIL_ALPACA_TRADING_STREAM_URL": fake.stream_url,
        "VIGIL_ALPACA_HTTP_TIMEOUT_S": "1",
        "VIGIL_ALPACA_POLL_S": "300",
        **more,
    }


SUFFIX = ".vtest01"  # as a data directory's own would be


def client(order_id: str) -> str:
    """The client_order_id Alpaca holds for Vigil's order `order_id`."""
    return order_id + SUFFIX


class AlpacaHarness:
    def __init__(
        self,
        fake: FakeAlpacaTrading,
        symbol: str,
        bid: float,
        ask: float,
        *,
        instruments: dict[str, Instrument] | None = None,
        **env: str,
    ) -> None:
        self.fake, self.symbol = fake, symbol
        self.env = alpaca_env(fake, **env)
        self.instruments = dict(instruments or DEFAULT_INSTRUMENTS)
        self.clock = FakeClock(start=time.time())
        self.events: list[VenueEvent] = []
        self.brokers: list[AlpacaBroker] = []
        fake.set_price(symbol, bid, ask)
        self.broker: AlpacaBroker = self._open()

    def _open(self) -> AlpacaBroker:
        broker = make_alpaca_broker(
            load_group(AlpacaSettings, self.env),
            load_group(TradingModeSettings, self.env),
            self.clock,
            self.instruments,
            client_suffix=SUFFIX,
        )
        broker.connect()
        broker.start(self.events.append)
        self.brokers.append(broker)
        wait_until(lambda: self.fake.stream_clients() >= 1, 10, "the trade_updates stream")
        return broker

    def market(self, bid: float, ask: float) -> None:
        self.fake.set_price(self.symbol, bid, ask)

    def settle(self) -> None:
        """Every message the fake sent so far has been through the broker."""
        wait_until(
            lambda: self.fake.sent_to_clients() <= self.broker.stream_messages,
            10,
            "the broker to read every trade update",
        )

    def reject_next(self, reason: str) -> None:
        self.fake.reject_next(reason)

    def restart(self) -> AlpacaBroker:
        self.broker.stop()
        wait_until(lambda: self.fake.stream_clients() == 0, 10, "the old stream to close")
        self.broker = self._open()
        return self.broker

    def states(self) -> list[ConnectionState]:
        return [e.state for e in self.events if isinstance(e, ConnectionEvent)]

    def of_kind(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def close(self) -> None:
        for broker in self.brokers:
            broker.stop()
