"""The engine on VIGIL_FEED=polygon (registry, runtime, paper broker) against the Polygon fakes:
history candles, live quotes, the stale-feed breaker halting on silence, the regime's source."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.commands import parse_command
from engine.runtime import EngineRuntime
from engine.settings import SettingsError
from engine.venues.base import ConnectionState
from engine.venues.registry import build_feed
from tests.conftest import make_settings, wait_until
from tests.venues.fakes.polygon import polygon_env, rest_fixture, ws_fixture
from tests.venues.fakes.polygon_rest import FakePolygonRest
from tests.venues.fakes.polygon_ws import FakePolygonWs, index_value, quote, trade

__all__ = ["rest_fixture", "ws_fixture"]  # the fakes, as fixtures `rest` and `ws`

SETTINGS = {
    "VIGIL_FEED": "polygon",
    "VIGIL_SYMBOLS": "SPY,QQQ",
    "VIGIL_STRATEGY": "none",
    "VIGIL_SIM_HISTORY_S": "3600",
    "VIGIL_MAX_NOTIONAL": "5000",
}


@pytest.fixture
def start_engine(tmp_path: Path, rest: FakePolygonRest, ws: FakePolygonWs) -> Iterator[Any]:
    runtimes: list[EngineRuntime] = []

    def start(wait: bool = True, **env: str) -> tuple[EngineRuntime, FakeClock]:
        clock = FakeClock(start=time.time())
        settings = make_settings(tmp_path / "var", **SETTINGS, **polygon_env(rest, ws, **env))
        rt = EngineRuntime(settings.engine, clock=clock)
        runtimes.append(rt)
        rt.start()
        if not wait:
            return rt, clock
        wait_until(rt.history_loaded.is_set, 10.0, "the history")
        wait_until(lambda: ws.live("stocks"), 10.0, "the stocks subscription")
        wait_until(
            lambda: rt.connections["feed"].state is ConnectionState.CONNECTED, 5.0, "connected"
        )
        return rt, clock

    yield start
    for rt in runtimes:
        rt.stop()


def chart(rt: EngineRuntime, symbol: str) -> list[dict[str, Any]]:
    bars = rt.parts.market.bars.bars(symbol, "1m")
    return [bar.to_dict() for bar in bars]


def test_history_and_live_quotes_reach_the_snapshot_and_the_charts(
    start_engine: Any, rest: FakePolygonRest, ws: FakePolygonWs
) -> None:
    rt, _ = start_engine()
    history = chart(rt, "SPY")
    assert len(history) == 60
    assert [b["c"] for b in history] == [r["c"] for r in rest.bars["SPY"][-60:]]
    ws.send("stocks", [quote("SPY", 499.9, 500.1), trade("SPY", 500.0, 7)])
    wait_until(lambda: rt.snapshot()["market"]["quotes"].get("SPY"), 5.0, "the SPY quote")
    assert rt.snapshot()["market"]["quotes"]["SPY"]["bid"] == 499.9
    wait_until(lambda: chart(rt, "SPY")[-1]["c"] == 500.0, 5.0, "the live trade in the candle")


def test_a_hung_history_request_never_delays_a_command(
    start_engine: Any, rest: FakePolygonRest
) -> None:
    rest.hang_next(1)  # the first history request waits out its 2 s read timeout
    rt, _ = start_engine(wait=False, VIGIL_POLYGON_HTTP_TIMEOUT_S="2")
    wait_until(lambda: len(rest.requests) >= 1, 5.0, "the history under way")
    started_at = time.monotonic()
    pause = parse_command("kill_switch", {"level": "pause", "reason": "test"})
    assert rt.call("kill_switch", pause, "alice", timeout=5.0)["ok"]
    assert time.monotonic() - started_at < 0.5
    assert not rt.history_loaded.is_set()  # answered while the history was still loading
    wait_until(rt.history_loaded.is_set, 10.0, "the history, after the timeout and a retry")
    assert len(chart(rt, "SPY")) == 60


def test_silence_with_a_position_open_then_stale_and_the_breaker_halts(
    start_engine: Any, ws: FakePolygonWs
) -> None:
    rt, clock = start_engine(VIGIL_POLYGON_STALE_S="5")
    ws.send("stocks", [quote("SPY", 499.9, 500.1, ts=clock.time())])
    wait_until(lambda: rt.snapshot()["market"]["quotes"].get("SPY"), 5.0, "the SPY quote")
    order = parse_command("place_order", {"symbol": "SPY", "side": "buy", "qty": 1})
    assert rt.call("place_order", order, "alice")["ok"]
    wait_until(lambda: rt.snapshot()["positions"], 5.0, "the SPY position")
    assert rt.snapshot()["safety"]["trading_state"] == "ACTIVE"

    clock.advance(31.0)  # nothing from Polygon for longer than the breaker's 30 s

    def stale_feed() -> dict[str, Any]:
        return next(b for b in rt.snapshot()["breakers"] if b["name"] == "stale_feed")

    wait_until(lambda: stale_feed()["triggered"], 5.0, "the stale-feed breaker")
    wait_until(lambda: rt.snapshot()["safety"]["trading_state"] == "HALTED", 5.0, "trading halted")
    wait_until(lambda: rt.connections["feed"].state is ConnectionState.STALE, 5.0, "feed STALE")
    venues = rt.health_payload()["venues"]
    assert venues["feed"]["state"] == "stale"
    assert "no data from Polygon" in venues["feed"]["message"]


def test_plan_without_indices_then_the_regime_is_the_proxy_and_says_so(
    start_engine: Any, rest: FakePolygonRest, ws: FakePolygonWs
) -> None:
    rest.indices = ws.indices = False
    rt, _ = start_engine()
    regime = wait_until(lambda: rt.snapshot().get("regime"), 5.0, "the regime")
    assert regime["source"] == "realized-vol proxy"
    assert regime["vix"] > 0 and regime["regime"] in {"ULTRA_LOW_VOL", "NORMAL_VOL", "HIGH_VOL"}


def test_plan_with_indices_then_the_regime_is_the_vix(
    start_engine: Any, rest: FakePolygonRest, ws: FakePolygonWs
) -> None:
    rt, _ = start_engine()
    # At once: the last VIX minute of the history (none come live while the index is shut).
    regime = wait_until(lambda: rt.snapshot().get("regime"), 5.0, "the regime")
    assert regime["source"] == "VIX" and regime["vix"] == rest.bars["I:VIX"][-1]["c"]
    wait_until(lambda: ws.live("indices"), 5.0, "the indices subscription")
    ws.send("indices", [index_value(27.5)])
    regime = wait_until(
        lambda: rt.snapshot()["regime"]["vix"] == 27.5 and rt.snapshot()["regime"], 5.0, "27.5"
    )
    assert regime == {
        "regime": "HIGH_VOL",
        "vix": 27.5,
        "source": "VIX",
        "thresholds": {"ultra_low_below": 12.0, "high_above": 25.0},
    }


def test_without_the_key_then_the_start_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    settings = make_settings(tmp_path / "var", **SETTINGS)
    with pytest.raises(SettingsError, match=r"^POLYGON_API_KEY: required"):
        build_feed(settings.engine, FakeClock())
