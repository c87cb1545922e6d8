"""The real server with VIGIL_BROKER=alpaca against the loopback Alpaca fake: the account,
positions and orders on /api/state, every kill-switch level over HTTP changing what Alpaca
holds, and a start refused in one line without keys or with the wrong live account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_PASSWORD, wait_until
from tests.server_process import ServerProcess
from tests.venues.fakes.alpaca_trading import FakeAlpacaTrading
from tests.venues.fakes.alpaca_trading_harness import alpaca_env

pytestmark = pytest.mark.slow


@pytest.fixture
def fake() -> Iterator[FakeAlpacaTrading]:
    with FakeAlpacaTrading() as server:
        yield server


def server_env(fake: FakeAlpacaTrading, **more: str) -> dict[str, str]:
    return {
        "VIGIL_BROKER": "alpaca",
        "VIGIL_SYMBOLS": "QQQ,SPY",
        "VIGIL_SIM_HISTORY_S": "0",
        "VIGIL_STRATEGY": "none",
        **alpaca_env(fake, VIGIL_ALPACA_HTTP_TIMEOUT_S="5", VIGIL_ALPACA_POLL_S="1"),
        **more,
    }


def state(session: Any, server: ServerProcess) -> dict[str, Any]:
    return session.get(f"{server.url}/api/state", timeout=10).json()


def control(session: Any, server: ServerProcess, name: str, body: dict[str, Any]) -> dict:
    answer = session.post(
        f"{server.url}/api/control/{name}", json=body, headers={"Origin": server.url}, timeout=10
    )
    return answer.json()


def qty(snapshot: dict[str, Any], symbol: str) -> float:
    return sum(p["qty"] for p in snapshot["positions"] if p["symbol"] == symbol)


def test_alpaca_account_then_state_shows_it_and_every_kill_switch_level_acts_on_alpaca(
    fake: FakeAlpacaTrading, tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "var", **server_env(fake)).start()
    try:
        session = server.login()
        quotes = wait_until(
            lambda: (q := state(session, server)["market"]["quotes"]) and len(q) == 2 and q,
            30,
            "QQQ and SPY quotes",
        )
        for symbol in ("QQQ", "SPY"):
            fake.set_price(symbol, quotes[symbol]["bid"], quotes[symbol]["ask"])
        snapshot = state(session, server)
        assert snapshot["health"]["trading"]["mode"] == "PAPER"
        assert snapshot["health"]["trading"]["account"] == "PA3FAKE0001"
        assert snapshot["health"]["venues"]["broker"]["name"] == "alpaca"
        wait_until(
            lambda: state(session, server)["health"]["venues"]["broker"]["state"] == "connected",
            30,
            "the trade updates stream connected",
        )

        for symbol in ("QQQ", "SPY"):
            placed = control(
                session, server, "place_order", {"symbol": symbol, "side": "buy", "qty": 0.5}
            )
            assert placed["ok"], placed
        wait_until(
            lambda: qty(state(session, server), "QQQ") == 0.5 == qty(state(session, server), "SPY"),
            30,
            "both fills on the page",
        )
        assert fake.position_qty("QQQ") == 0.5 == fake.position_qty("SPY")
        bid = (
            quotes.get("QQQ", {}).get("bid")
            or state(session, server)["market"]["quotes"]["QQQ"]["bid"]
        )
        limit = {
            "symbol": "QQQ",
            "side": "buy",
            "qty": 0.5,
            "type": "limit",
            "limit_price": round(bid * 0.995, 2),
        }
        assert control(session, server, "place_order", limit)["ok"]
        wait_until(lambda: len(state(session, server)["orders"]) == 1, 30, "the resting order")
        assert len(fake.open_orders()) == 1

        # the trade updates stream drops: the page says so, then it is back
        def broker_state() -> str:
            return str(state(session, server)["health"]["venues"]["broker"]["state"])

        fake.block_stream()
        wait_until(lambda: broker_state() == "reconnecting", 30, "the page says reconnecting")
        fake.block_stream(False)
        wait_until(lambda: broker_state() == "connected", 60, "the page says connected again")

        # pause: entries refused, Alpaca sees nothing new
        sent = fake.count("POST", "/v2/orders")
        assert control(session, server, "kill_switch", {"level": "pause", "reason": "e2e"})["ok"]
        refused = control(
            session, server, "place_order", {"symbol": "SPY", "side": "buy", "qty": 0.1}
        )
        assert refused["ok"] is False
        assert fake.count("POST", "/v2/orders") == sent

        # halt: every order cancelled at Alpaca
        assert control(session, server, "kill_switch", {"level": "halt", "reason": "e2e"})["ok"]
        wait_until(lambda: fake.open_orders() == [], 30, "Alpaca's orders cancelled")
        wait_until(lambda: state(session, server)["orders"] == [], 30, "no open order on the page")
        assert state(session, server)["safety"]["trading_state"] == "HALTED"

        # flatten: every position closed at Alpaca, latched until flat
        assert control(session, server, "kill_switch", {"level": "flatten", "reason": "e2e"})["ok"]
        wait_until(lambda: fake.book.positions == {}, 30, "Alpaca flat")
        wait_until(lambda: state(session, server)["positions"] == [], 30, "the page flat")
        reset = control(
            session,
            server,
            "reset_kill_switch",
            {"reason": "e2e done", "confirm": "RESET", "password": ADMIN_PASSWORD},
        )
        assert reset["ok"], reset
        wait_until(
            lambda: state(session, server)["safety"]["trading_state"] == "ACTIVE", 30, "ACTIVE"
        )
    finally:
        server.stop()


def test_no_keys_then_start_refused_in_one_line(fake: FakeAlpacaTrading, tmp_path: Path) -> None:
    env = server_env(fake)
    env["ALPACA_API_KEY"] = ""
    server = ServerProcess(tmp_path / "var", **env)
    assert server.run_to_exit(60) != 0
    [line] = [x for x in server.output().splitlines() if "ALPACA_API_KEY" in x]
    assert line.startswith("vigil: configuration error: ALPACA_API_KEY: required")
    assert "Traceback" not in server.output()


def test_live_with_another_account_then_start_refused_in_one_line(
    fake: FakeAlpacaTrading, tmp_path: Path
) -> None:
    env = server_env(fake, VIGIL_TRADING_MODE="live", VIGIL_LIVE_ACCOUNT="PA3SOMEONEELSE")
    server = ServerProcess(tmp_path / "var", **env)
    assert server.run_to_exit(60) != 0
    [line] = [x for x in server.output().splitlines() if "VIGIL_LIVE_ACCOUNT" in x]
    assert "reports account 'PA3FAKE0001'" in line and "live trading refused" in line
    assert fake.count("POST", "/v2/orders") == 0
