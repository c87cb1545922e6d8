"""Every kill-switch level through the engine with VIGIL_BROKER=ccxt and VIGIL_FEED=ccxt, built
by the registry from the environment, against the Binance fake (USDT-M perpetuals)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.venues.base import VenueError
from tests.conftest import SyncEngine, make_settings
from tests.venues.fakes.binance_book import FakeMarket
from tests.venues.fakes.binance_rest import API_KEY, SECRET, FakeBinance

SYMBOL = "BTCUSDT"


class CcxtEngine(SyncEngine):
    def settle(self) -> None:
        """The broker's and the feed's news so far, applied by the engine."""
        self.parts.feed.sync()
        with contextlib.suppress(VenueError):  # one that cannot poll has reported why
            self.parts.broker.sync()
        self.venue()

    def place(self, **order: Any) -> dict[str, Any]:
        answer = self.do("place_order", {"symbol": SYMBOL, "side": "buy", "qty": 0.01} | order)
        self.settle()
        return answer


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    server = FakeBinance().start()
    server.ex.add_market(FakeMarket(SYMBOL, "BTC", tick="0.1"), 49_999.9, 50_000.1)
    yield server
    server.stop()


def start_engine(
    fake: FakeBinance, data_dir: Path, clock: FakeClock, key: str = API_KEY
) -> CcxtEngine:
    # The registry builds both from the engine's settings, loaded as at a real start.
    settings = make_settings(
        data_dir,
        VIGIL_BROKER="ccxt",
        VIGIL_FEED="ccxt",
        VIGIL_SYMBOLS=SYMBOL,
        VIGIL_CCXT_EXCHANGE="binance",
        VIGIL_CCXT_MARKET="swap",
        VIGIL_CCXT_API_KEY=key,
        VIGIL_CCXT_SECRET=SECRET,
        VIGIL_CCXT_API_URL=fake.url,
        VIGIL_CCXT_POLL_S="30",
        VIGIL_CCXT_FEED_POLL_S="30",
    )
    sync = CcxtEngine(settings, clock)
    sync.parts.feed.start(sync.rt.submit_market)
    return sync


@pytest.fixture
def engine(fake: FakeBinance, tmp_path: Path, clock: FakeClock) -> Iterator[CcxtEngine]:
    sync = start_engine(fake, tmp_path / "var", clock)
    sync.settle()
    yield sync
    sync.parts.feed.stop()
    sync.close()


def test_halt_with_one_cancel_refused_then_halted_and_it_is_named(
    engine: CcxtEngine, fake: FakeBinance
) -> None:
    ids = [
        engine.place(type="limit", limit_price=49_500.0 - 100 * i)["order"]["id"] for i in range(3)
    ]
    assert len(engine.parts.broker.open_orders()) == 3
    fake.ex.uncancelable.add(ids[1])

    answer = engine.do("kill_switch", {"level": "halt", "reason": "test halt"})

    assert answer["trading_state"] == "HALTED" and answer["unconfirmed"] == [ids[1]]
    (warning,) = [e for e in engine.topics("risk_limit") if e["code"] == "UNCONFIRMED_ORDERS"]
    assert ids[1] in warning["message"] and "Unknown order sent." in warning["message"]
    assert [o.id for o in engine.parts.broker.open_orders()] == [ids[1]]
    engine.settle()
    assert engine.parts.safety.trading_state.value == "HALTED"
    denied = engine.do("place_order", {"symbol": SYMBOL, "side": "buy", "qty": 0.01})
    assert denied["error"]["code"] == "TRADING_HALTED"


def test_flatten_then_reduce_only_closes_and_exchange_flat(
    engine: CcxtEngine, fake: FakeBinance
) -> None:
    first = engine.place(qty=0.008)
    assert first["ok"], first
    assert engine.place(side="sell", qty=0.003)["ok"]
    assert engine.parts.desk.ledger.position(SYMBOL).qty == pytest.approx(0.005)

    answer = engine.do("kill_switch", {"level": "flatten", "reason": "get out"})
    engine.settle()

    assert answer["ok"] and engine.parts.desk.is_flat()
    assert engine.parts.broker.positions() == []  # verified at the exchange, not only in memory
    closes = [o for o in fake.ex.orders.values() if o.reduce_only]
    assert [(o.side, o.qty, o.status) for o in closes] == [("SELL", 0.005, "FILLED")]


def test_order_under_exchange_minimum_then_denied_with_its_code(engine: CcxtEngine) -> None:
    answer = engine.do("place_order", {"symbol": SYMBOL, "side": "buy", "qty": 0.00005})
    assert answer["error"]["code"] == "BELOW_EXCHANGE_MINIMUM", answer
    rounded = engine.place(qty=0.0089)  # rounded down to the 0.001 step, then sent
    assert rounded["ok"] and rounded["order"]["qty"] == 0.008


def test_refused_key_then_engine_halts_and_says_why(
    fake: FakeBinance, tmp_path: Path, clock: FakeClock
) -> None:
    engine = start_engine(fake, tmp_path / "var", clock, key="revoked-key")
    try:
        engine.settle()
        assert engine.parts.safety.trading_state.value == "HALTED"
        reason = engine.parts.safety.kill.reason
        assert "refused the API key" in reason and "Invalid API-key" in reason
    finally:
        engine.parts.feed.stop()
        engine.close()
