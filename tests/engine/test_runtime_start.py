"""The engine's start and its queue: complete snapshot at boot, history between commands,
late commands, the idle barrier and the injected clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from dashboard.settings import VigilSettings
from engine.clock import FakeClock
from engine.command_payloads import EmptyCmd, KillSwitchCmd, PlaceOrderCmd, ResetKillSwitchCmd
from engine.models import KillLevel
from engine.runtime import EngineRuntime
from tests.conftest import make_settings, wait_until


class _Blocked:
    """Stands in for the writer thread: `call` queues, nothing runs until the test drains."""

    def __init__(self) -> None:
        self._gate = threading.Event()
        self.thread = threading.Thread(target=self._gate.wait, daemon=True)
        self.thread.start()

    def release(self) -> None:
        self._gate.set()


@pytest.fixture
def blocked(settings: VigilSettings, clock: FakeClock) -> Iterator[EngineRuntime]:
    rt = EngineRuntime(settings.engine, clock=clock)
    rt.boot()
    gate = _Blocked()
    rt._thread = gate.thread  # the engine "runs" but is stuck: commands wait in the queue
    yield rt
    gate.release()
    rt._thread = None
    rt.stop()


def messages(rt: EngineRuntime, kind: str) -> list[str]:
    return [a["message"] for a in rt.snapshot()["activity"] if a.get("kind") == kind]


def test_boot_then_snapshot_complete_before_the_engine_thread_runs(settings: VigilSettings) -> None:
    rt = EngineRuntime(settings.engine)
    rt.boot()
    try:
        snap = rt.snapshot()
        for section in ("account", "safety", "breakers", "health"):
            assert snap[section], f"{section} is empty after boot"
        assert snap["safety"]["trading_state"] == "ACTIVE"
        assert snap["account"]["balance"] == settings.engine.paper.starting_balance
        assert snap["health"]["status"] == "OK"
        assert rt.readiness() == (False, "the engine is not running")
    finally:
        rt.stop()


def test_long_history_then_a_command_answers_while_it_still_loads(tmp_path: Any) -> None:
    settings = make_settings(tmp_path / "var", VIGIL_SIM_HISTORY_S=str(3 * 86_400))
    rt = EngineRuntime(settings.engine)
    rt.start()
    try:
        assert rt.readiness() == (True, "ready")
        answer = rt.call("kill_switch", KillSwitchCmd(level=KillLevel.HALT, reason="early"), "t")
        assert answer["ok"] and answer["changed"], answer
        # Three days of history take many slices; the command did not wait for them.
        assert not rt.history_loaded.is_set()
        assert rt.history_progress < 1.0
        assert rt.snapshot()["safety"]["trading_state"] == "HALTED"
    finally:
        rt.stop()


def test_history_slices_then_bars_filled_but_not_counted_as_live_data(
    settings: VigilSettings, clock: FakeClock
) -> None:
    settings = make_settings(settings.engine.store.data_dir, VIGIL_SIM_HISTORY_S="3600")
    rt = EngineRuntime(settings.engine, clock=clock)
    rt.boot()
    try:
        slices = list(rt.parts.router.warm_up(clock.time()))
        assert len(slices) > 10 and slices[-1] == 1.0
        assert rt.parts.market.bars.bars("SPY", "1m"), "history did not reach the bars"
        # Old ticks must not look like (stale) live data to the stale-feed breaker.
        assert rt.parts.market.last_data_ts is None
    finally:
        rt.stop()


def test_risk_adding_command_after_its_caller_timed_out_then_dropped_and_audited(
    blocked: EngineRuntime,
) -> None:
    rt = blocked
    order = PlaceOrderCmd(symbol="QQQ", side="buy", qty=0.1)
    answer = rt.call("place_order", order, "tina", timeout=0.05)
    assert answer["error"]["code"] == "TIMEOUT" and "withdrawn" in answer["error"]["message"]
    reset = ResetKillSwitchCmd(reason="later", confirm="RESET", password="x")
    assert rt.call("reset_kill_switch", reset, "admin", timeout=0.05)["error"]["code"] == "TIMEOUT"
    assert rt.drain() == 2
    assert rt.parts.broker.open_orders() == [] and rt.parts.desk.is_flat()
    assert not any(a["type"] == "order_placing" for a in rt.snapshot()["activity"])
    actions = [(e["action"], e["outcome"], e["actor"]) for e in rt.parts.store.audit_log()]
    assert ("place_order_dropped", "DROPPED", "tina") in actions
    assert ("reset_kill_switch_dropped", "DROPPED", "admin") in actions
    dropped = messages(rt, "dropped_command")
    assert len(dropped) == 2 and "place_order by tina was dropped" in dropped[0]


def test_risk_reducing_command_after_its_caller_timed_out_then_runs_and_says_so(
    blocked: EngineRuntime,
) -> None:
    rt = blocked
    halt = KillSwitchCmd(level=KillLevel.HALT, reason="late halt")
    answer = rt.call("kill_switch", halt, "tina", timeout=0.05)
    assert answer["error"]["code"] == "TIMEOUT" and "will still run" in answer["error"]["message"]
    assert rt.call("pause_entries", EmptyCmd(), "tina", timeout=0.05)["error"]["code"] == "TIMEOUT"
    assert rt.snapshot()["safety"]["trading_state"] == "ACTIVE"  # nothing ran yet
    rt.drain()
    assert rt.snapshot()["safety"]["trading_state"] == "HALTED"
    assert rt.parts.safety.manual_pause
    late = messages(rt, "late_command")
    assert late == [
        "kill_switch by tina ran late, after its caller timed out: ok",
        "pause_entries by tina ran late, after its caller timed out: ok",
    ]


def test_command_answered_in_time_then_no_late_or_dropped_message(settings: VigilSettings) -> None:
    rt = EngineRuntime(settings.engine)
    rt.start(feed=False)
    try:
        assert rt.call("pause_entries", EmptyCmd(), "t") == {"ok": True}
        assert rt.wait_idle(5)
        assert not messages(rt, "late_command") and not messages(rt, "dropped_command")
    finally:
        rt.stop()


def test_wait_idle_then_everything_queued_before_it_was_handled(settings: VigilSettings) -> None:
    rt = EngineRuntime(settings.engine)
    rt.start(feed=False)
    try:
        for _ in range(20):
            for event in rt.parts.feed.step(rt.clock.time(), 0.2):
                rt.submit_market(event)
        assert rt.wait_idle(10)
        assert rt.health_payload()["queue_depth"] == 0
        assert set(rt.snapshot()["market"]["quotes"]) == set(rt.parts.market.symbols)
    finally:
        rt.stop()


def test_wait_idle_when_engine_not_running_then_false(settings: VigilSettings) -> None:
    rt = EngineRuntime(settings.engine)
    try:
        assert rt.wait_idle(0.1) is False
    finally:
        rt.stop()


def test_event_rate_then_measured_on_the_injected_clock(
    settings: VigilSettings, clock: FakeClock
) -> None:
    rt = EngineRuntime(settings.engine, clock=clock)
    rt.boot()
    try:
        clock.set(float(int(clock.time())) + 0.5)
        events = rt.parts.feed.step(clock.time(), 0.2)
        for _ in range(6):
            for event in events[:10]:
                rt.submit_market(event)
            rt.drain()
            clock.advance(1.0)
        # The five whole seconds before the current one, 10 events each.
        assert rt.health_payload()["events_per_s"] == 10.0
        clock.advance(60.0)
        assert rt.health_payload()["events_per_s"] == 0.0
    finally:
        rt.stop()


def test_feed_pump_then_steps_with_the_injected_clock(tmp_path: Any) -> None:
    settings = make_settings(tmp_path / "var", VIGIL_SIM_TICK_MS="5")
    clock = FakeClock()
    rt = EngineRuntime(settings.engine, clock=clock)
    steps: list[float] = []
    feed_step = rt.parts.feed.step

    def step(now: float, dt: float) -> list[Any]:
        steps.append(dt)
        clock.advance(2.0)  # the fake clock moves 2 s between two pumps, whatever real time does
        return feed_step(now, dt)

    rt.parts.feed.step = step  # type: ignore[method-assign]
    rt.start()
    try:
        wait_until(lambda: len(steps) >= 3, 10, "three feed steps")
        assert steps[1:3] == [2.0, 2.0]
    finally:
        rt.stop()


def test_stop_while_the_feed_is_starting_waits_then_stops_the_started_feed(
    settings: VigilSettings,
) -> None:
    """The engine thread starts the feed when the history ends; a stop from another thread at
    that moment must neither join threads not yet started nor leave the feed running."""
    rt = EngineRuntime(settings.engine)
    feed = rt.parts.feed
    assert feed is not None
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []
    real_start, real_stop = feed.start, feed.stop

    def slow_start(sink: Any) -> None:
        calls.append("start")
        entered.set()
        release.wait(10)
        real_start(sink)
        calls.append("started")

    def recorded_stop(*args: Any) -> None:
        calls.append("stop")
        real_stop(*args)

    feed.start, feed.stop = slow_start, recorded_stop  # type: ignore[method-assign]
    rt.boot()
    starter = threading.Thread(target=rt._start_feed, daemon=True)
    starter.start()
    assert entered.wait(10)
    waiting = threading.Event()
    real_lock = rt._feed._lock

    class SpyLock:
        """The feed switch's lock, telling when someone waits for it."""

        def __enter__(self) -> None:
            waiting.set()
            real_lock.acquire()

        def __exit__(self, *exc: object) -> None:
            real_lock.release()

    rt._feed._lock = SpyLock()  # type: ignore[assignment]
    stopper = threading.Thread(target=rt.stop, daemon=True)
    stopper.start()
    assert waiting.wait(10)  # the stop has reached the feed while it is half started
    assert stopper.is_alive() and calls == ["start"]
    release.set()
    stopper.join(10)
    starter.join(10)
    assert not stopper.is_alive()
    assert calls[:3] == ["start", "started", "stop"]
