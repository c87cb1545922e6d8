"""The real server (gunicorn, as the Procfile starts it) with VIGIL_BROKER=ccxt and
VIGIL_FEED=ccxt against the loopback Binance fake: what a user sees on /api/state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.server_process import ServerProcess
from tests.venues.fakes.binance_book import FakeMarket
from tests.venues.fakes.binance_rest import API_KEY, SECRET, FakeBinance

pytestmark = pytest.mark.slow


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    server = FakeBinance().start()
    server.ex.add_market(FakeMarket("BTCUSDT", "BTC", tick="0.1"), 49_999.9, 50_000.1)
    server.ex.add_market(FakeMarket("ETHUSDT", "ETH"), 2_999.99, 3_000.01)
    yield server
    server.stop()


def state(session: Any, server: ServerProcess) -> dict[str, Any]:
    return session.get(f"{server.url}/api/state", timeout=10).json()


def control(session: Any, server: ServerProcess, name: str, body: dict[str, Any]) -> dict:
    answer = session.post(
        f"{server.url}/api/control/{name}", json=body, headers={"Origin": server.url}, timeout=15
    )
    return answer.json()


def test_server_on_the_fake_exchange_shows_venue_book_positions_and_halts(
    fake: FakeBinance, tmp_path: Path
) -> None:
    server = ServerProcess(
        tmp_path / "var",
        VIGIL_BROKER="ccxt",
        VIGIL_FEED="ccxt",
        VIGIL_SYMBOLS="BTCUSDT,ETHUSDT",
        VIGIL_STRATEGY="none",
        VIGIL_CCXT_EXCHANGE="binance",
        VIGIL_CCXT_MARKET="swap",
        VIGIL_CCXT_API_KEY=API_KEY,
        VIGIL_CCXT_SECRET=SECRET,
        VIGIL_CCXT_API_URL=fake.url,
        VIGIL_CCXT_POLL_S="0.3",
        VIGIL_CCXT_FEED_POLL_S="0.3",
    ).start(90)
    try:
        session = server.login()
        snap = wait_until(
            lambda: (s := state(session, server))["market"]["books"].get("BTCUSDT") and s,
            30,
            "the exchange's book on the page",
        )
        book = snap["market"]["books"]["BTCUSDT"]
        assert book["bids"][0] == [49_999.9, 10.0] and len(book["asks"]) == 10
        broker = snap["health"]["venues"]["broker"]
        assert broker["name"] == "ccxt" and broker["state"] == "connected"
        details = broker["details"]
        assert (details["exchange"], details["market"], details["mode"]) == (
            "binance",
            "swap",
            "testnet",
        )
        wait_until(
            lambda: state(session, server)["health"]["venues"]["broker"]["details"]["account"],
            30,
            "the exchange's balances",
        )

        placed = control(
            session, server, "place_order", {"symbol": "BTCUSDT", "side": "buy", "qty": 0.004}
        )
        assert placed["ok"], placed
        wait_until(
            lambda: [p["qty"] for p in state(session, server)["positions"]] == [0.004],
            30,
            "the position from the exchange's fill",
        )
        perps = wait_until(
            lambda: state(session, server)["health"]["venues"]["broker"]["details"]["positions"],
            30,
            "the perpetual's exchange-side details",
        )
        assert perps[0]["symbol"] == "BTCUSDT" and perps[0]["leverage"] == 10
        assert perps[0]["liquidation"] and perps[0]["side"] == "long"
        funding = state(session, server)["health"]["venues"]["feed"]["details"]["funding"]
        assert funding["BTCUSDT"]["rate"] == 0.0001

        flat = control(session, server, "kill_switch", {"level": "flatten", "reason": "e2e"})
        assert flat["ok"] and flat["trading_state"] == "HALTED", flat
        wait_until(lambda: state(session, server)["positions"] == [], 30, "flat")
        assert not [p for p in fake.ex.positions.values() if p.qty]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"VIGIL_CCXT_API_KEY": ""}, "VIGIL_CCXT_API_KEY"),
        ({"VIGIL_CCXT_MARKET": "futures"}, "VIGIL_CCXT_MARKET"),
        ({"VIGIL_TRADING_MODE": "live", "VIGIL_LIVE_ACCOUNT": "999"}, "VIGIL_LIVE_ACCOUNT"),
    ],
)
def test_start_refused_then_one_line_naming_the_variable(
    fake: FakeBinance, tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    base = {
        "VIGIL_BROKER": "ccxt",
        "VIGIL_FEED": "ccxt",
        "VIGIL_SYMBOLS": "BTCUSDT",
        "VIGIL_CCXT_MARKET": "swap",
        "VIGIL_CCXT_API_KEY": API_KEY,
        "VIGIL_CCXT_SECRET": SECRET,
        "VIGIL_CCXT_API_URL": fake.url,
    }
    server = ServerProcess(tmp_path / "var", **(base | env))
    code = server.run_to_exit(60)
    output = server.output()
    assert code != 0, output
    errors = [line for line in output.splitlines() if line.startswith("vigil:")]
    assert len(errors) == 1 and variable in errors[0], output
    assert "Traceback" not in output
