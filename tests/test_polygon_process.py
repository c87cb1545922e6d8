"""The real server (gunicorn, as the Procfile runs it) on VIGIL_FEED=polygon against the Polygon
fakes: quotes, candles from history and live trades, the regime with its source; no key, no
start."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.server_process import ServerProcess, serve_once
from tests.venues.fakes.polygon import Streamer, polygon_env, rest_fixture, ws_fixture
from tests.venues.fakes.polygon_rest import FakePolygonRest
from tests.venues.fakes.polygon_ws import FakePolygonWs

__all__ = ["rest_fixture", "ws_fixture"]  # the fakes, as fixtures `rest` and `ws`


@pytest.fixture
def streamer(ws: FakePolygonWs) -> Iterator[Streamer]:
    live = Streamer(ws).start()
    yield live
    live.stop()


def start_server(tmp_path: Path, rest: FakePolygonRest, ws: FakePolygonWs) -> ServerProcess:
    return ServerProcess(
        tmp_path / "var",
        VIGIL_FEED="polygon",
        VIGIL_SYMBOLS="SPY,QQQ",
        VIGIL_SIM_HISTORY_S="3600",
        **polygon_env(rest, ws, VIGIL_POLYGON_HTTP_TIMEOUT_S="5"),
    ).start()


def test_polygon_server_then_quotes_candles_and_the_vix_regime(
    tmp_path: Path, rest: FakePolygonRest, ws: FakePolygonWs, streamer: Streamer
) -> None:
    server = start_server(tmp_path, rest, ws)
    try:
        session = server.login()

        def state() -> dict[str, Any]:
            return session.get(f"{server.url}/api/state", timeout=10).json()

        wait_until(lambda: state()["health"]["history_loaded"], 30.0, "the history")
        quotes = wait_until(lambda: state()["market"]["quotes"].get("SPY"), 30.0, "a SPY quote")
        assert 400 < quotes["bid"] < 600
        regime = wait_until(lambda: state().get("regime"), 30.0, "the regime")
        assert regime["source"] == "VIX"  # the history's last VIX minute at first, then live:
        before = rest.bars["I:VIX"][-1]["c"]
        live = wait_until(lambda: state()["regime"]["vix"] != before, 30.0, "a live VIX")
        assert live and state()["regime"]["source"] == "VIX"

        def bars() -> list[dict[str, Any]]:
            answer = session.get(
                f"{server.url}/api/chart",
                params={"symbol": "SPY", "timeframe": "1m", "limit": 500},
                timeout=10,
            ).json()
            return answer["bars"]

        history = {r["t"]: r for r in rest.bars["SPY"][-60:]}
        candles = wait_until(
            lambda: (b := bars()) and len(b) > 60 and b[-1]["t"] not in history and b,
            30.0,
            "history and a live candle",
        )
        for bar in candles:
            if bar["t"] in history:
                assert (bar["o"], bar["c"]) == (history[bar["t"]]["o"], history[bar["t"]]["c"])
        assert sum(bar["t"] in history for bar in candles) >= 59
        feed = state()["health"]["venues"]["feed"]
        assert feed["name"] == "polygon" and feed["state"] == "connected"
    finally:
        server.stop()


def test_polygon_server_without_indices_then_the_proxy_and_its_label(
    tmp_path: Path, rest: FakePolygonRest, ws: FakePolygonWs, streamer: Streamer
) -> None:
    rest.indices = ws.indices = False
    server = start_server(tmp_path, rest, ws)
    try:
        session = server.login()
        regime = wait_until(
            lambda: session.get(f"{server.url}/api/state", timeout=10).json().get("regime"),
            30.0,
            "the regime",
        )
        assert regime["source"] == "realized-vol proxy" and regime["vix"] > 0
    finally:
        server.stop()


def test_polygon_without_a_key_then_one_line_naming_it_and_exit_3(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "POLYGON_API_KEY"},
        "VIGIL_DATA_DIR": str(tmp_path / "var"),
        "VIGIL_FEED": "polygon",
    }
    out = serve_once(env)
    assert out.returncode == 3, out.stderr  # gunicorn's boot-error code: its master stops too
    assert out.stderr.strip().splitlines() == [
        "vigil: configuration error: POLYGON_API_KEY: required for VIGIL_FEED=polygon"
    ]
