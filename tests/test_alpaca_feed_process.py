"""The real server with VIGIL_FEED=alpaca (paper broker) against the loopback Alpaca fakes:
charts preloaded from REST bars, live quotes and candles from the msgpack stream, a dropped
stream shown and recovered; and a start without keys refused in one line."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.server_process import ServerProcess, serve_once
from tests.venues.fakes.alpaca_data import API_KEY, SECRET_KEY, FakeAlpacaData
from tests.venues.fakes.alpaca_data_stream import FakeAlpacaStream

HISTORY_MINUTES = 60


@pytest.fixture
def alpaca() -> Iterator[tuple[FakeAlpacaData, FakeAlpacaStream, float]]:
    with FakeAlpacaData() as rest, FakeAlpacaStream() as stream:
        minute = time.time() // 60 * 60
        start = minute - HISTORY_MINUTES * 60
        rest.add_minutes("SPY", start, [500 + 0.1 * i for i in range(HISTORY_MINUTES)], 1000)
        rest.add_minutes("BTC/USD", start, [60_000 + i for i in range(HISTORY_MINUTES)], 2)
        stream.start_ticking({"SPY": 510.0, "BTC/USD": 60_100.0}, interval_s=0.1)
        yield rest, stream, start


def test_server_with_alpaca_feed_then_history_and_live_quotes_and_candles(
    tmp_path: Path, alpaca: tuple[FakeAlpacaData, FakeAlpacaStream, float]
) -> None:
    rest, stream, start = alpaca
    server = ServerProcess(
        tmp_path / "var",
        VIGIL_FEED="alpaca",
        VIGIL_BROKER="paper",
        VIGIL_SYMBOLS="SPY,BTC/USD",
        VIGIL_STRATEGY="none",
        VIGIL_SIM_HISTORY_S=str(HISTORY_MINUTES * 60),
        ALPACA_API_KEY=API_KEY,
        ALPACA_SECRET_KEY=SECRET_KEY,
        VIGIL_ALPACA_DATA_URL=rest.url,
        VIGIL_ALPACA_STREAM_URL=stream.url,
    )
    server.start()
    try:
        session = server.login()

        def state() -> dict[str, Any]:
            return session.get(f"{server.url}/api/state", timeout=10).json()

        def feed_venue() -> dict[str, Any]:
            return state()["health"]["venues"]["feed"]

        quotes = wait_until(
            lambda: len(state()["market"]["quotes"]) == 2 and state()["market"]["quotes"],
            30.0,
            "live quotes of both symbols",
        )
        assert 500 < quotes["SPY"]["bid"] < quotes["SPY"]["ask"] < 520
        assert 60_000 < quotes["BTC/USD"]["bid"] < quotes["BTC/USD"]["ask"] < 61_000
        venue = feed_venue()
        assert venue["name"] == "alpaca" and venue["state"] == "connected"

        chart = session.get(
            f"{server.url}/api/chart",
            params={"symbol": "SPY", "timeframe": "1m", "limit": 500},
            timeout=10,
        ).json()
        seeded = {round(b.ts * 1000): b for b in rest.bars["SPY"]}
        history = [bar for bar in chart["bars"] if bar["t"] in seeded]
        assert len(history) >= HISTORY_MINUTES - 1  # the first may fall before the window
        for bar in history:
            want = seeded[bar["t"]]
            assert (bar["o"], bar["h"], bar["l"], bar["c"], bar["v"]) == (
                want.open,
                want.high,
                want.low,
                want.close,
                want.volume,
            )
        live = chart["bars"][-1]
        assert live["t"] >= (start + HISTORY_MINUTES * 60) * 1000  # the minute the stream built
        assert 505 < live["c"] < 520

        # A dropped stream is visible on the page and recovers by itself.
        assert stream.drop() == 2
        wait_until(lambda: stream.connections >= 4, 30.0, "both streams reconnected")
        wait_until(lambda: feed_venue()["state"] == "connected", 30.0, "connected again")
        activity = [a.get("message", "") for a in state()["activity"]]
        assert any("reconnecting in" in message for message in activity), activity[-10:]
    finally:
        server.stop()


def test_alpaca_feed_without_keys_is_refused_in_one_line(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY")
    }
    env.update({"VIGIL_DATA_DIR": str(tmp_path / "var"), "VIGIL_FEED": "alpaca"})
    out = serve_once(env)
    assert out.returncode == 3
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("vigil: configuration error: ALPACA_API_KEY: ")
