"""The real server on a replay of the QQQ recording: candles equal the file, the strategy trades."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.venues.replay.csv_file import load_replay
from tests.conftest import wait_until
from tests.engine.test_replay_feed import qqq_csv
from tests.server_process import ServerProcess, serve_once


@pytest.fixture
def replay_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path / "var",
        VIGIL_FEED="replay",
        VIGIL_REPLAY_CSV=str(qqq_csv()),
        VIGIL_REPLAY_SYMBOL="QQQ",
        VIGIL_REPLAY_SPEED="600",
        VIGIL_REPLAY_START="2020-04-01T13:30:00Z",
        VIGIL_SIM_HISTORY_S="3600",
    )
    server.start()
    yield server
    server.stop()


def test_replay_server_then_candles_equal_the_file_and_the_demo_strategy_trades(
    replay_server: ServerProcess,
) -> None:
    rows = {round(r.t * 1000): r for r in load_replay([qqq_csv()], ["QQQ"]).rows["QQQ"]}
    session = replay_server.login()

    def state() -> dict[str, Any]:
        return session.get(f"{replay_server.url}/api/state", timeout=10).json()

    wait_until(lambda: state()["trades"], 60.0, "a closed trade")
    chart = session.get(
        f"{replay_server.url}/api/chart",
        params={"symbol": "QQQ", "timeframe": "1m", "limit": 1500},
        timeout=10,
    ).json()
    closed = chart["bars"][:-1]  # the last one is still forming
    assert len(closed) > 60  # the hour of history before the start, and what has played since
    for bar in closed:
        row = rows[bar["t"]]
        assert (bar["o"], bar["h"], bar["l"], bar["c"], bar["v"]) == (
            row.o,
            row.h,
            row.l,
            row.c,
            row.v,
        )
    snapshot = state()
    assert all(t["symbol"] == "QQQ" and 150 < t["entry_price"] < 250 for t in snapshot["trades"])
    assert snapshot["regime"]["vix"] is not None
    assert snapshot["health"]["feed"] == "replay"
    assert any(
        a["type"] == "system" and a["message"].startswith("replaying QQQ")
        for a in snapshot["activity"]
    )


def test_bad_replay_file_when_serving_then_one_line_and_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2020-04-01T08:00:00Z,10,x,9,10,5\n")
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(tmp_path / "var"),
        "VIGIL_FEED": "replay",
        "VIGIL_REPLAY_CSV": str(bad),
        "VIGIL_REPLAY_SYMBOL": "QQQ",
    }
    out = serve_once(env)
    assert out.returncode == 3  # gunicorn's boot-error code: its master stops too
    assert out.stderr.strip().splitlines() == [
        f"vigil: configuration error: VIGIL_REPLAY_CSV: {bad} line 2: high is not a number ('x')"
    ]
