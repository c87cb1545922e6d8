"""The real server restarted on the same data directory: the simulated market carries on from
its last prices, with the chart's closed 1m bars from before the restart, after a clean stop
(SIGTERM) and after a crash (SIGKILL: the periodic save)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.venues.sim.state import STATE_FILE
from tests.conftest import wait_until
from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow
ENV = {
    "VIGIL_SYMBOLS": "SPY,QQQ",
    "VIGIL_STRATEGY": "none",
    "VIGIL_SIM_HISTORY_S": "900",
    "VIGIL_SIM_SAVE_S": "0.5",
}


def saved_at(data: Path) -> float:
    try:
        return float(json.loads((data / STATE_FILE).read_text())["now"])
    except (OSError, ValueError, KeyError):
        return 0.0


def state(server: ServerProcess, session: requests.Session) -> dict[str, Any]:
    return session.get(f"{server.url}/api/state", timeout=10).json()


def closed_bars(server: ServerProcess, session: requests.Session) -> list[dict[str, Any]]:
    chart = session.get(
        f"{server.url}/api/chart", params={"symbol": "SPY", "timeframe": "1m"}, timeout=10
    ).json()
    return chart["bars"][:-1]


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
def test_server_restart_then_market_resumes_where_it_stopped(tmp_path: Path, crash: bool) -> None:
    data = tmp_path / "var"
    server = ServerProcess(data, VIGIL_SIM_SPEED="200", VIGIL_SIM_TICK_MS="20", **ENV).start()
    try:
        session = server.login()
        wait_until(lambda: state(server, session)["market"]["quotes"].get("SPY"), 60, "quotes")
        before = closed_bars(server, session)
        fetched = time.time()
        assert before
        wait_until(lambda: saved_at(data) > fetched, 20, "a periodic save after that")
    finally:
        if crash:
            server.kill()
        else:
            server.stop()
    saved = json.loads((data / STATE_FILE).read_text())
    again = ServerProcess(data, VIGIL_SIM_SPEED="1", **ENV).start()
    try:
        session = again.login()
        quote = wait_until(
            lambda: state(again, session)["market"]["quotes"].get("SPY"), 60, "quotes again"
        )
        # The saved market's SPY price (the crash loses at most the last half second of it).
        spy = 2.718281828459045 ** saved["log_prices"]["SPY"]
        assert abs(quote["mid"] - spy) / spy < 1e-3, (quote["mid"], spy)
        after = {bar["t"]: bar for bar in closed_bars(again, session)}
        for bar in before:
            assert {k: after[bar["t"]][k] for k in "ohlc"} == {k: bar[k] for k in "ohlc"}
        venues = state(again, session)["health"]["venues"]
        assert venues["feed"]["name"] == "sim" and venues["feed"]["state"] == "connected"
        assert "resumed from its last prices" in venues["feed"]["message"]
    finally:
        again.stop()
