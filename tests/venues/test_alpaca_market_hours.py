"""Alpaca's market clock and trading mode as the engine and the page see them: market orders
Alpaca would queue are denied (unless extended hours are allowed), the header's PAPER/LIVE
and account number come in the health payload."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.clock import FakeClock
from tests.conftest import SyncEngine, make_settings, wait_until
from tests.venues.fakes.alpaca_trading import FakeAlpacaTrading
from tests.venues.fakes.alpaca_trading_harness import alpaca_env

Boot = Callable[..., SyncEngine]


@pytest.fixture
def fake() -> Iterator[FakeAlpacaTrading]:
    with FakeAlpacaTrading() as server:
        yield server


@pytest.fixture
def boot(fake: FakeAlpacaTrading, tmp_path: Path) -> Iterator[Boot]:
    engines: list[SyncEngine] = []

    def start(broker: str = "alpaca", **env: str) -> SyncEngine:
        settings = make_settings(
            tmp_path / "var",
            **alpaca_env(fake, **env),
            VIGIL_BROKER=broker,
            VIGIL_STRATEGY="none",
            VIGIL_SYMBOLS="QQQ",
        )
        engine = SyncEngine(settings, FakeClock(start=time.time()))
        engines.append(engine)
        engine.market(1.0)
        quote = engine.parts.market.quote_payload("QQQ")
        fake.set_price("QQQ", quote["bid"], quote["ask"])
        return engine

    yield start
    for engine in engines:
        engine.close()


def health(engine: SyncEngine) -> dict:
    return engine.rt.health_payload()


def test_market_closed_then_market_orders_denied_limits_pass_and_the_page_says_so(
    boot: Boot, fake: FakeAlpacaTrading
) -> None:
    fake.set_market_open(False)
    engine = boot()

    denied = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 1})

    assert denied["error"]["code"] == "MARKET_CLOSED"
    assert "VIGIL_ALPACA_EXTENDED_HOURS" in denied["error"]["message"]
    bid = engine.parts.market.quote_payload("QQQ")["bid"]
    limit = {"symbol": "QQQ", "side": "buy", "qty": 1, "type": "limit", "limit_price": bid - 1}
    assert engine.do("place_order", limit)["ok"]
    market = health(engine)["trading"]["market"]
    assert market["open"] is False and market["next_open_ts"] > time.time() * 1000


def test_market_closed_with_extended_hours_then_market_orders_go(
    boot: Boot, fake: FakeAlpacaTrading
) -> None:
    fake.set_market_open(False)
    engine = boot(VIGIL_ALPACA_EXTENDED_HOURS="1")
    placed = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 1})
    assert placed["ok"], placed
    wait_until(lambda: fake.count("POST", "/v2/orders") == 1, 5, "the order sent")


def test_paper_by_default_then_header_says_paper_and_alpacas_account(boot: Boot) -> None:
    trading = health(boot())["trading"]
    assert (trading["mode"], trading["account"]) == ("PAPER", "PA3FAKE0001")
    assert trading["market"]["open"] is True
    assert trading["venue"]["equity"] == 100_000.0  # Alpaca's own figure


def test_live_then_header_says_live(boot: Boot) -> None:
    engine = boot(VIGIL_TRADING_MODE="live", VIGIL_LIVE_ACCOUNT="PA3FAKE0001")
    assert health(engine)["trading"]["mode"] == "LIVE"


def test_paper_venue_then_paper_and_paper_account(boot: Boot) -> None:
    trading = health(boot(broker="paper"))["trading"]
    assert trading == {"mode": "PAPER", "account": "paper", "market": None, "venue": None}
