"""Feeds as MarketFeeds: the pump's connection states (connected, reconnecting with its attempt
count, ended, stale) reach the health payload's `venues`, and a failing feed is an error."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from dashboard.settings import VigilSettings
from engine.clock import FakeClock, SystemClock
from engine.models import TradeTick
from engine.runtime import EngineRuntime
from engine.venues.base import ConnectionEvent, ConnectionState, MarketFeed
from engine.venues.pumped import PumpedFeed
from engine.venues.sim.catalogue import select_instruments
from engine.venues.sim.feed import SimulatedFeed
from tests.conftest import make_engine_settings, make_settings, wait_until

T0 = 1_767_225_600.0


class Flaky:
    """A simulated market whose steps fail while `failing` is set."""

    name = "sim"

    def __init__(self) -> None:
        self.sim = SimulatedFeed(1, select_instruments(["SPY"]))
        self.failing = threading.Event()
        self.instruments = self.sim.instruments
        self.history_slices = self.sim.history_slices

    def step(self, now: float, dt: float) -> list[Any]:
        if self.failing.is_set():
            raise ConnectionError("upstream went away")
        return self.sim.step(now, dt)

    def start_message(self) -> str:
        return "flaky market"

    def checkpoint(self) -> None:
        return None

    def save(self, snapshot: Any) -> None:
        raise AssertionError("nothing to save")


def states(events: list[Any]) -> list[tuple[str, int]]:
    return [(str(e.state), e.attempt) for e in events if isinstance(e, ConnectionEvent)]


def test_pumped_sim_then_is_a_market_feed_connected_once_started() -> None:
    feed = PumpedFeed(Flaky(), clock=SystemClock(), tick_s=0.001)
    assert isinstance(feed, MarketFeed)
    assert feed.connection().state is ConnectionState.CONNECTING
    events: list[Any] = []
    feed.start(events.append)
    try:
        wait_until(lambda: any(isinstance(e, TradeTick) for e in list(events)), 10, "trades")
        assert states(events)[0] == ("connected", 0)
        assert feed.connection().state is ConnectionState.CONNECTED
        assert feed.connection().message == "flaky market"
    finally:
        feed.stop()


def test_failing_steps_then_reconnecting_with_attempts_then_connected_again() -> None:
    source = Flaky()
    feed = PumpedFeed(source, clock=SystemClock(), tick_s=0.001)
    events: list[Any] = []
    source.failing.set()
    feed.start(events.append)
    try:
        wait_until(lambda: len(states(list(events))) >= 4, 10, "three failed attempts")
        assert states(events)[:4] == [
            ("connected", 0),
            ("reconnecting", 1),
            ("reconnecting", 2),
            ("reconnecting", 3),
        ]
        assert "upstream went away" in feed.connection().message
        source.failing.clear()
        wait_until(lambda: feed.connection().state is ConnectionState.CONNECTED, 20, "recovery")
        assert feed.connection().message == "the feed recovered"
    finally:
        feed.stop()


def test_runtime_when_feed_fails_then_errors_counted_and_health_shows_attempts(
    tmp_path: Path,
) -> None:
    rt = EngineRuntime(make_engine_settings(tmp_path / "var", VIGIL_SIM_TICK_MS="5"))
    real_step = rt.parts.feed.step
    failing = threading.Event()
    failing.set()

    def step(now: float, dt: float) -> Any:
        if failing.is_set():
            raise ConnectionError("no route to the market")
        return real_step(now, dt)

    rt.parts.feed.step = step  # type: ignore[method-assign]
    rt.start()
    try:
        feed = wait_until(
            lambda: (v := rt.health_payload()["venues"]["feed"])["attempt"] >= 2 and v, 20, "2"
        )
        assert feed["name"] == "sim" and feed["state"] == "reconnecting"
        assert "no route to the market" in feed["message"]
        assert rt.errors >= 2 and "no route to the market" in (rt.last_error or "")
        assert rt.snapshot()["health"]["venues"]["feed"]["state"] == "reconnecting"
        failing.clear()
        wait_until(
            lambda: rt.health_payload()["venues"]["feed"]["state"] == "connected", 20, "back"
        )
        assert rt.health_payload()["venues"]["broker"] == {
            "name": "paper",
            "state": "connected",
            "attempt": 0,
            "message": "",
            "since_ts": rt.health_payload()["venues"]["broker"]["since_ts"],
        }
    finally:
        rt.stop()


def test_replay_when_played_out_then_health_says_ended(tmp_path: Path) -> None:
    csv = tmp_path / "bars.csv"
    csv.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2020-04-01T08:00:00Z,10,11,9,10.5,50\n"
        "2020-04-01T08:01:00Z,10.5,12,10,11,70\n"
    )
    settings = make_settings(
        tmp_path / "var",
        VIGIL_FEED="replay",
        VIGIL_REPLAY_CSV=str(csv),
        VIGIL_REPLAY_SYMBOL="QQQ",
        VIGIL_REPLAY_SPEED="600",
        VIGIL_SIM_TICK_MS="10",
    )
    rt = EngineRuntime(settings.engine)
    rt.start()
    try:
        wait_until(lambda: rt.health_payload()["venues"]["feed"]["state"] == "ended", 20, "end")
        assert rt.snapshot()["health"]["venues"]["feed"]["name"] == "replay"
        kinds = {a.get("kind") for a in rt.snapshot()["activity"]}
        assert {"feed_connected", "feed_ended"} <= kinds
        assert rt.errors == 0  # a recording that ends is not a fault
    finally:
        rt.stop()


def test_connected_feed_when_silent_then_stale_until_data_arrives(
    settings: VigilSettings, clock: FakeClock
) -> None:
    rt = EngineRuntime(settings.engine, clock=clock)
    rt.boot()
    try:
        assert rt.health_payload()["venues"]["feed"]["state"] == "connecting"
        rt.submit_market(ConnectionEvent("feed", "sim", ConnectionState.CONNECTED, clock.time()))
        rt.drain()
        assert rt.health_payload()["venues"]["feed"]["state"] == "connected"
        clock.advance(settings.engine.limits.stale_quote_s + 1)
        feed = rt.health_payload()["venues"]["feed"]
        assert feed["state"] == "stale" and feed["message"] == "no market data for 11 s"
        for event in rt.parts.feed.step(clock.time(), 0.2):
            rt.submit_market(event)
        rt.drain()
        assert rt.health_payload()["venues"]["feed"]["state"] == "connected"
    finally:
        rt.stop()
